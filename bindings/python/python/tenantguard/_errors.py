"""The exception hierarchy: :class:`TenantguardError` and one subclass per stable kind.

Defined in Python so each class can also have the builtin base a Python caller expects
(``except ValueError`` still catches bad input, ``except TypeError`` a wrong type,
``except LookupError`` a missing record). The native module raises these classes.
Every class has the class attribute ``kind`` (the core's ``ErrorKind`` name, or
``closed`` / ``invalid_type`` for the two binding-only kinds); it pickles by reference
to ``tenantguard.<Name>``.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuditTamperedError",
    "AuthenticationFailedError",
    "ClosedError",
    "ConfigError",
    "ConflictError",
    "CrossTenantError",
    "IntegrityError",
    "InvalidInputError",
    "InvalidTypeError",
    "KeyDestroyedError",
    "KeyProviderError",
    "MalformedError",
    "NotFoundError",
    "PermissionDeniedError",
    "StoreError",
    "TenantguardError",
    "TooLargeError",
    "UnavailableError",
    "UnknownKeyError",
    "UnsupportedVersionError",
]


class TenantguardError(Exception):
    """Base class of every error tenantguard raises."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "error"
    reason: str | None = None
    """Why, for every integrity failure and authentication refusal and every token and
    session error (``tampered``, ``broken_chain``, ``revoked``, ``expired``, ...): one of
    ``tenantguard.ERROR_REASONS``."""
    line: int | None = None
    """For a broken audit chain: the 1-based line (or position) of the first bad entry."""
    seq: int | None = None
    """For a broken audit chain: that entry's ``seq``, when it could be read."""


class InvalidInputError(TenantguardError, ValueError):
    """An argument is out of range or badly formed (also a ``ValueError``): numbers out
    of range, strings with lone surrogates, bad identifiers."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "invalid_input"


class InvalidTypeError(TenantguardError, TypeError):
    """An argument has the wrong type, or a call has the wrong arguments (also a
    ``TypeError``)."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "invalid_type"


class ClosedError(TenantguardError, ValueError):
    """The object (a ``Guard``, or an ``Egress``/``Revealer``/``StreamRestorer`` built from
    one) was closed; also a ``ValueError``, like I/O on a closed file."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "closed"


class MalformedError(TenantguardError, ValueError):
    """A sealed value could not be parsed (also a ``ValueError``)."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "malformed"


class UnsupportedVersionError(TenantguardError, ValueError):
    """A sealed value uses a format version this release does not know (also a ``ValueError``)."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "unsupported_version"


class TooLargeError(TenantguardError, ValueError):
    """An input exceeds a documented size limit (also a ``ValueError``)."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "too_large"


class AuthenticationFailedError(TenantguardError):
    """An authentication was refused: wrong password; unknown, expired, revoked, badly
    signed or reused token or session. ``reason`` says which. Tampered data raises
    :class:`IntegrityError` instead."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "authentication_failed"


class UnknownKeyError(TenantguardError):
    """The key id named by a value is not known for this tenant."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "unknown_key"


class KeyDestroyedError(TenantguardError):
    """The key was destroyed (crypto-shredded or retired)."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "key_destroyed"


class CrossTenantError(TenantguardError):
    """A tenant context was used on data of another tenant."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "cross_tenant"


class NotFoundError(TenantguardError, LookupError):
    """The tenant or record does not exist (also a ``LookupError``)."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "not_found"


class PermissionDeniedError(TenantguardError):
    """The principal's role does not allow this operation."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "permission_denied"


class ConflictError(TenantguardError):
    """The operation conflicts with the current state."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "conflict"


class KeyProviderError(TenantguardError):
    """The key provider (KMS, HSM, key file) refused or failed."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "key_provider"


class UnavailableError(TenantguardError):
    """The key provider is unreachable or timed out; retrying may succeed."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "unavailable"


class StoreError(TenantguardError):
    """The store (database) failed."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "store"


class ConfigError(TenantguardError):
    """Configuration is missing, unreadable or unsafe."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "config"


class IntegrityError(TenantguardError):
    """Data failed an integrity check: a sealed value altered or opened under another
    tenant, key or context (``reason`` ``tampered`` / ``wrong_key``), a wrapped key the
    key provider rejects (``wrapped_key_rejected``), an authorization row edited or
    planted outside the SDK (``tampered_row``), a broken audit chain (``broken_chain``,
    with ``line`` and ``seq``). Not an authentication refusal: alert, do not retry."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "integrity"


class AuditTamperedError(IntegrityError):
    """An audit export bundle, inclusion proof or consistency proof does not verify
    offline (``verify_audit_bundle``, ``verify_audit_inclusion``,
    ``verify_audit_consistency``). ``reason`` is the tamper class, one of
    ``tenantguard.AUDIT_TAMPER_REASONS`` (``truncated``, ``root_mismatch``, ``fork``,
    ``bad_signature``, ...); ``line`` the 1-based entry line to blame, when one is."""

    __module__ = "tenantguard"


class RateLimitedError(TenantguardError):
    """Over a rate limit (login, token or refresh failures, TOTP codes, reveals, writes,
    egress prepares, token creation). Retry after ``retry_after`` seconds (a float), not
    sooner."""

    __module__ = "tenantguard"
    kind: ClassVar[str] = "rate_limited"
    retry_after: float = 0.0
