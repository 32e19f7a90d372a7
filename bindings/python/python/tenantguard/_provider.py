"""The interface a key provider implemented in Python satisfies (structural typing)."""

from typing import Protocol, runtime_checkable

from ._native import WrapContext


@runtime_checkable
class KeyProvider(Protocol):
    """A key-encryption-key holder implemented in Python (e.g. calling your own KMS client).

    The core calls these methods with the GIL held, from the thread that made the
    tenantguard call. Raise a :class:`tenantguard.TenantguardError` subclass to give the
    failure a kind (``UnavailableError`` for retryable outages, ``ConfigError``,
    ``IntegrityError`` when the context does not match; ``AuthenticationFailedError``, what
    earlier releases asked for, is still understood); any other exception
    comes back to the caller as ``KeyProviderError`` with its type name and message.
    A ``KeyboardInterrupt`` or ``SystemExit`` comes back as itself.
    Never put key material in an exception message. A provider must not call back into
    the same ``Guard`` (or an ``Egress``/``Revealer`` built from it): such a call raises
    ``ConflictError`` instead of waiting forever for the key the provider is loading.
    """

    def current_kek(self) -> str:
        """The id of the key-encryption key new wraps use."""
        ...

    def wrap(self, key: bytes, ctx: WrapContext) -> tuple[str, bytes]:
        """Wraps the 32-byte data key bound to ``ctx``; returns ``(kek_id, ciphertext)``."""
        ...

    def unwrap(self, kek_id: str, ciphertext: bytes, ctx: WrapContext) -> bytes:
        """Unwraps; must refuse (``IntegrityError``) if ``ctx`` differs."""
        ...
