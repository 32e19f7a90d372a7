// The JVM fast path for the hot operations: seal and open through JNI, two native calls per
// round trip instead of uniffi's twelve JNA calls (see bindings/uniffi/src/jvm.rs and
// benches/BENCHMARKS.md). Compiled into the same jar as the generated bindings. Conversion
// only: every decision is the core's, reached through the same Guard and TenantContext.
package tenantguard

import com.sun.jna.NativeLibrary
import java.lang.ref.Cleaner
import java.lang.ref.Reference

/**
 * Seals and opens values for one tenant scope, fast: the same operations as [Guard.seal] and
 * [Guard.open] on the same guard, through JNI instead of JNA.
 *
 * Values are interchangeable with the [Guard] API: [seal] returns the binary form
 * ([SealedValue.toBytes]), [sealText] the text form ([SealedValue.toText]).
 * Thread-safe; [close] it (or `use {}`) when done. Calls block: microseconds while the tenant
 * key is cached, a key-provider round trip on a miss; from coroutines on a KMS-backed guard,
 * call it inside `withContext(Dispatchers.IO)` or use [Guard.sealAsync].
 * Errors are the [TenantguardException] subclasses the [Guard] API throws; any use after
 * [close] throws [IllegalStateException].
 */
class TenantSealer(guard: Guard, ctx: TenantContext) : AutoCloseable {
    private val scope: Long = guard.jvmScope(ctx).toLong()
    private val cleanable: Cleaner.Cleanable = CLEANER.register(this, Release(scope))

    /** Seals [plaintext] for the scope's tenant, bound to [context]: the binary form. */
    fun seal(context: String, plaintext: ByteArray): ByteArray =
        try { TenantSealerJni.seal(scope, context, plaintext) } finally { Reference.reachabilityFence(this) }

    /** Seals [plaintext] for the scope's tenant, bound to [context]: the text form `tg2:...`. */
    fun sealText(context: String, plaintext: ByteArray): String =
        try { TenantSealerJni.sealText(scope, context, plaintext) } finally { Reference.reachabilityFence(this) }

    /** Opens the binary form [sealed] with the same [context]. Service role only. */
    fun open(context: String, sealed: ByteArray): ByteArray =
        try { TenantSealerJni.open(scope, context, sealed) } finally { Reference.reachabilityFence(this) }

    /** Opens the text form [sealed] with the same [context]. Service role only. */
    fun openText(context: String, sealed: String): ByteArray =
        try { TenantSealerJni.openText(scope, context, sealed) } finally { Reference.reachabilityFence(this) }

    /** Releases the scope (the guard itself stays open). Idempotent. */
    override fun close() = cleanable.clean()

    // A static class, so the cleaner's action does not keep the sealer reachable.
    private class Release(private val scope: Long) : Runnable {
        override fun run() {
            TenantSealerJni.release(scope)
        }
    }

    private companion object {
        val CLEANER: Cleaner = Cleaner.create()
    }
}

/** The native methods, in the library the generated bindings load through JNA. */
internal object TenantSealerJni {
    init {
        // JNI resolves native methods only in libraries loaded by the JVM itself, so load the
        // very file JNA found for the generated bindings (same name and override property).
        val name = System.getProperty("uniffi.component.tenantguard.libraryOverride") ?: "tenantguard_ffi"
        System.load(NativeLibrary.getInstance(name).file.absolutePath)
    }

    @JvmStatic external fun seal(scope: Long, context: String, plaintext: ByteArray): ByteArray

    @JvmStatic external fun sealText(scope: Long, context: String, plaintext: ByteArray): String

    @JvmStatic external fun open(scope: Long, context: String, sealed: ByteArray): ByteArray

    @JvmStatic external fun openText(scope: Long, context: String, sealed: String): ByteArray

    @JvmStatic external fun release(scope: Long): Boolean
}
