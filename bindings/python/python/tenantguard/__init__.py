"""tenantguard: per-tenant envelope encryption and tenant isolation for multi-tenant SaaS.

A thin binding of the Rust core: every call converts its arguments, releases the GIL, runs
the core and converts the result; every core error is raised as the subclass of
:class:`TenantguardError` for its kind.

    import tenantguard as tg

    with tg.Guard.embedded("/var/lib/myapp/tenantguard") as guard:
        acme = tg.TenantContext.service("acme", tg.ServiceRole())
        guard.create_tenant(acme)
        sealed = guard.seal(acme, "credentials/password/row-42", b"hunter2")
        assert guard.open(acme, "credentials/password/row-42", sealed) == b"hunter2"
"""

from ._native import (
    AuthenticationFailedError as AuthenticationFailedError,
    CacheStats as CacheStats,
    ConfigError as ConfigError,
    ConflictError as ConflictError,
    Credential as Credential,
    CrossTenantError as CrossTenantError,
    Guard as Guard,
    InvalidInputError as InvalidInputError,
    KeyDestroyedError as KeyDestroyedError,
    KeyInfo as KeyInfo,
    KeyProviderError as KeyProviderError,
    LocalKeyProvider as LocalKeyProvider,
    MalformedError as MalformedError,
    MemoryStore as MemoryStore,
    NotFoundError as NotFoundError,
    PermissionDeniedError as PermissionDeniedError,
    ReencryptReport as ReencryptReport,
    RewrapReport as RewrapReport,
    SealedValue as SealedValue,
    ServiceRole as ServiceRole,
    SqliteStore as SqliteStore,
    StoreError as StoreError,
    TenantContext as TenantContext,
    TenantguardError as TenantguardError,
    TooLargeError as TooLargeError,
    UnavailableError as UnavailableError,
    UnknownKeyError as UnknownKeyError,
    UnsupportedVersionError as UnsupportedVersionError,
    WrapContext as WrapContext,
    __version__ as __version__,
    open_with_key as open_with_key,
    seal_with_salt as seal_with_salt,
)
from ._provider import KeyProvider as KeyProvider

__all__ = [
    "AuthenticationFailedError",
    "CacheStats",
    "ConfigError",
    "ConflictError",
    "Credential",
    "CrossTenantError",
    "Guard",
    "InvalidInputError",
    "KeyDestroyedError",
    "KeyInfo",
    "KeyProvider",
    "KeyProviderError",
    "LocalKeyProvider",
    "MalformedError",
    "MemoryStore",
    "NotFoundError",
    "PermissionDeniedError",
    "ReencryptReport",
    "RewrapReport",
    "SealedValue",
    "ServiceRole",
    "SqliteStore",
    "StoreError",
    "TenantContext",
    "TenantguardError",
    "TooLargeError",
    "UnavailableError",
    "UnknownKeyError",
    "UnsupportedVersionError",
    "WrapContext",
    "open_with_key",
    "seal_with_salt",
]
