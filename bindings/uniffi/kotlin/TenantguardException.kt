// TenantguardException, written by hand instead of generated: uniffi.toml excludes the Rust
// enum `TenantguardError` from the generated Kotlin because uniffi 0.32's Kotlin for an error
// with fields replaces the exception's message with `message=..., reason=...`. Compiled into
// the same jar as the generated bindings, whose calls throw it. The wire format is uniffi's
// for that enum (an Int32 variant index from 1, then the fields `message` and `reason` in
// declaration order); bindings/uniffi/src/error.rs must list the same variants in the same
// order, and the Kotlin tests check every kind and reason comes through.
package tenantguard

import java.nio.ByteBuffer

/**
 * Every error tenantguard raises: one subclass per stable kind (the core's `ErrorKind`,
 * [errorKinds]), whose [message] is the core's message.
 *
 * [reason] says why, where the kind has several causes (the core's `Reason`): set on every
 * [Integrity] error (an integrity failure, e.g. [ErrorReason.TAMPERED],
 * [ErrorReason.BROKEN_CHAIN]) and every [AuthenticationFailed] error (a refusal, e.g.
 * [ErrorReason.WRONG_PASSWORD], [ErrorReason.EXPIRED], [ErrorReason.REVOKED]), and on every
 * token and session error; null otherwise. [ErrorReason.OTHER] is a reason added to the core
 * after these bindings were built.
 */
sealed class TenantguardException(
    message: String,
    /** Why, where the core gives a reason; null otherwise. */
    val reason: ErrorReason?,
) : kotlin.Exception(message) {
    /** An argument is out of range or badly formed. */
    class InvalidInput(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** A sealed value could not be parsed. */
    class Malformed(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** A sealed value uses an unknown format version. */
    class UnsupportedVersion(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** An input exceeds a documented size limit. */
    class TooLarge(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /**
     * An authentication was refused (wrong password; unknown, expired, revoked or reused
     * token or session...); `reason` says which. Nothing stored is damaged.
     */
    class AuthenticationFailed(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** The key id named by a value is not known for this tenant. */
    class UnknownKey(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** The key was destroyed (crypto-shredded or retired). */
    class KeyDestroyed(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** A tenant context was used on data of another tenant. */
    class CrossTenant(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** The tenant or record does not exist. */
    class NotFound(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** The principal's role does not allow this operation. */
    class PermissionDenied(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** The operation conflicts with the current state. */
    class Conflict(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** The key provider refused or failed. */
    class KeyProvider(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** The key provider is unreachable or timed out; retrying may succeed. */
    class Unavailable(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** The store (database) failed. */
    class Store(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** Configuration is missing, unreadable or unsafe. */
    class Config(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /**
     * Data failed an integrity check (a sealed value altered or opened under another
     * tenant, key or context; a rejected wrapped key; a tampered authorization row; a broken
     * audit chain); `reason` says which.
     */
    class Integrity(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /**
     * Over a rate limit; the message ends `retry after <seconds> s` ([retryAfter] gives it as
     * a `Duration`).
     */
    class RateLimited(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** A kind added to the core after this binding was built. */
    class Other(message: String, reason: ErrorReason? = null) :
        TenantguardException(message, reason)

    /** @suppress */
    companion object ErrorHandler : UniffiRustCallStatusErrorHandler<TenantguardException> {
        override fun lift(error_buf: RustBuffer.ByValue): TenantguardException =
            FfiConverterTypeTenantguardError.lift(error_buf)
    }
}

/** @suppress */
public object FfiConverterTypeTenantguardError : FfiConverterRustBuffer<TenantguardException> {
    override fun read(buf: ByteBuffer): TenantguardException {
        val variant = buf.getInt()
        val message = FfiConverterString.read(buf)
        val reason = FfiConverterOptionalTypeErrorReason.read(buf)
        return when (variant) {
            1 -> TenantguardException.InvalidInput(message, reason)
            2 -> TenantguardException.Malformed(message, reason)
            3 -> TenantguardException.UnsupportedVersion(message, reason)
            4 -> TenantguardException.TooLarge(message, reason)
            5 -> TenantguardException.AuthenticationFailed(message, reason)
            6 -> TenantguardException.UnknownKey(message, reason)
            7 -> TenantguardException.KeyDestroyed(message, reason)
            8 -> TenantguardException.CrossTenant(message, reason)
            9 -> TenantguardException.NotFound(message, reason)
            10 -> TenantguardException.PermissionDenied(message, reason)
            11 -> TenantguardException.Conflict(message, reason)
            12 -> TenantguardException.KeyProvider(message, reason)
            13 -> TenantguardException.Unavailable(message, reason)
            14 -> TenantguardException.Store(message, reason)
            15 -> TenantguardException.Config(message, reason)
            16 -> TenantguardException.Integrity(message, reason)
            17 -> TenantguardException.RateLimited(message, reason)
            18 -> TenantguardException.Other(message, reason)
            else -> throw RuntimeException("invalid error enum value, something is very wrong!!")
        }
    }

    override fun allocationSize(value: TenantguardException): ULong =
        4UL + FfiConverterString.allocationSize(value.message!!) +
            FfiConverterOptionalTypeErrorReason.allocationSize(value.reason)

    override fun write(value: TenantguardException, buf: ByteBuffer) {
        buf.putInt(
            when (value) {
                is TenantguardException.InvalidInput -> 1
                is TenantguardException.Malformed -> 2
                is TenantguardException.UnsupportedVersion -> 3
                is TenantguardException.TooLarge -> 4
                is TenantguardException.AuthenticationFailed -> 5
                is TenantguardException.UnknownKey -> 6
                is TenantguardException.KeyDestroyed -> 7
                is TenantguardException.CrossTenant -> 8
                is TenantguardException.NotFound -> 9
                is TenantguardException.PermissionDenied -> 10
                is TenantguardException.Conflict -> 11
                is TenantguardException.KeyProvider -> 12
                is TenantguardException.Unavailable -> 13
                is TenantguardException.Store -> 14
                is TenantguardException.Config -> 15
                is TenantguardException.Integrity -> 16
                is TenantguardException.RateLimited -> 17
                is TenantguardException.Other -> 18
            },
        )
        FfiConverterString.write(value.message!!, buf)
        FfiConverterOptionalTypeErrorReason.write(value.reason, buf)
    }
}
