"""Type stubs of the native module (checked against it by mypy stubtest)."""

import os
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, ClassVar, Literal, NoReturn, Protocol, final

from typing_extensions import Self, TypeAlias

__all__ = [
    "AUDIT_ACTIONS",
    "AUDIT_BUNDLE_OUTCOMES",
    "AUDIT_TAMPER_REASONS",
    "AuditBundleReport",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditInclusion",
    "AuditReport",
    "AuditRestore",
    "CacheStats",
    "Credential",
    "DirectoryResolver",
    "ERROR_KINDS",
    "ERROR_REASONS",
    "Egress",
    "EgressDecision",
    "EgressEvent",
    "EgressPolicy",
    "ErasureReport",
    "Finding",
    "GovernanceConfig",
    "Guard",
    "IssuedToken",
    "KeyInfo",
    "LocalKeyProvider",
    "MAX_PROVIDER_NAME_LEN",
    "MAX_TENANT_PROVIDERS",
    "Membership",
    "MemoryDirectory",
    "MemoryStore",
    "OpenEvent",
    "PasswordCheck",
    "PasswordHasher",
    "PostgresStore",
    "Prepared",
    "PseudonymSession",
    "ROLES",
    "Redacted",
    "Redactor",
    "ReencryptReport",
    "Registry",
    "Revealer",
    "RewrapReport",
    "Scope",
    "SealedValue",
    "ServiceRole",
    "SessionInfo",
    "SessionTokens",
    "ShredReport",
    "SqliteStore",
    "StreamRestorer",
    "SubProcessor",
    "SweepAllReport",
    "SweepReport",
    "TenantContext",
    "TenantErasureReport",
    "TokenInfo",
    "TotpCode",
    "VerifiedAccess",
    "VerifiedToken",
    "WrapContext",
    "__version__",
    "split_kek_id",
    "tagged_kek_id",
    "validate_provider_name",
    "verify_audit_bundle",
    "verify_audit_consistency",
    "verify_audit_export",
    "verify_audit_inclusion",
]

__version__: str

_CredentialKind: TypeAlias = Literal["password", "api_token", "totp_seed", "session_cookie", "generic"]
_RoleName: TypeAlias = Literal["viewer", "member", "admin", "owner"]
_KeyStateName: TypeAlias = Literal["active", "decrypt_only", "destroyed"]
_StrPath: TypeAlias = str | os.PathLike[str]
_ActionName: TypeAlias = Literal["read", "write", "delete", "admin"]
_RateLimitClass: TypeAlias = Literal[
    "login",
    "token_failure",
    "session_refresh",
    "totp",
    "reveal",
    "write",
    "egress_prepare",
    "token_create",
    "service",
]
_Level: TypeAlias = Literal["off", "pii", "strict"]
_Operator: TypeAlias = Literal["mask", "tag", "hash", "fake", "pseudonymize"]
_Category: TypeAlias = Literal["pii", "secret", "organization"]

class _Writer(Protocol):
    def write(self, data: bytes, /) -> object: ...

class _Directory(Protocol):
    def role_of(self, user: str, tenant: str, /) -> str | None: ...
    def memberships_of(self, user: str, /) -> Iterable[tuple[str, str]]: ...

AUDIT_ACTIONS: list[str]
"""Every audit action name, from the core's table."""
AUDIT_TAMPER_REASONS: list[str]
"""Every reason an audit export or proof fails offline verification (``AuditTamperedError.reason``), from the core's table."""
AUDIT_BUNDLE_OUTCOMES: list[str]
"""Every outcome of ``verify_audit_bundle`` (``AuditBundleReport.outcome``, or ``tampered`` raised), from the core's table."""
ERROR_KINDS: list[str]
"""Every error kind name (an exception's ``kind``), from the core's table."""
ERROR_REASONS: list[str]
"""Every error reason name (an exception's ``reason``), from the core's table."""
ROLES: list[str]
"""Every role name, least privileged first."""
MAX_PROVIDER_NAME_LEN: int
MAX_TENANT_PROVIDERS: int


@final
class ServiceRole:
    """The capability of trusted server-side code to act for any tenant and read plaintext.

    No constructor: ``Guard.with_service``, ``Guard.embedded_with_service`` and
    ``Guard.in_memory_with_service`` hand it out once, bound to that guard's store.
    """

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

@final
class TenantContext:
    """A verified scope: one tenant and the principal acting in it."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @classmethod
    def service(cls, tenant: str, service: ServiceRole) -> TenantContext: ...
    @classmethod
    def resolved(
        cls, service: ServiceRole, tenant: str, user: str, role_name: _RoleName
    ) -> TenantContext: ...
    @property
    def tenant(self) -> str: ...
    @property
    def is_service(self) -> bool: ...
    @property
    def user(self) -> str | None: ...
    @property
    def role(self) -> _RoleName | None: ...
    @property
    def kind(self) -> Literal["user", "agent", "service"]: ...
    @property
    def agent(self) -> str | None: ...

@final
class SealedValue:
    """A sealed value: ``bytes(v)`` is the binary form, ``str(v)`` the text form."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @classmethod
    def parse(cls, text: str) -> SealedValue: ...
    @classmethod
    def from_bytes(cls, data: bytes) -> SealedValue: ...
    def to_text(self) -> str: ...
    def to_bytes(self) -> bytes: ...
    @property
    def version(self) -> int: ...
    @property
    def key_id(self) -> int: ...
    @property
    def plaintext_len(self) -> int: ...
    def __bytes__(self) -> bytes: ...
    def __len__(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...

_SealedLike: TypeAlias = SealedValue | str | bytes

@final
class Credential:
    """A customer credential; its ``repr`` never shows the secret. Not picklable."""

    def __new__(cls, kind: _CredentialKind, secret: bytes | str) -> Self: ...
    @classmethod
    def password(cls, secret: bytes | str) -> Credential: ...
    @classmethod
    def api_token(cls, secret: bytes | str) -> Credential: ...
    @classmethod
    def totp_seed(cls, secret: bytes | str) -> Credential: ...
    @classmethod
    def session_cookie(cls, secret: bytes | str) -> Credential: ...
    @classmethod
    def generic(cls, secret: bytes | str) -> Credential: ...
    @property
    def kind(self) -> _CredentialKind: ...
    def expose(self) -> bytes: ...
    def __len__(self) -> int: ...
    def __reduce__(self) -> NoReturn: ...

@final
class KeyInfo:
    """Metadata of one key version (no key material)."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def key_id(self) -> int: ...
    @property
    def state(self) -> _KeyStateName: ...
    @property
    def kek_id(self) -> str: ...
    @property
    def created_at(self) -> int: ...

@final
class ReencryptReport:
    """Progress and outcome of a re-encryption run."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def moved(self) -> int: ...
    @property
    def raced(self) -> int: ...
    @property
    def failed(self) -> list[str]: ...
    @property
    def remaining(self) -> int: ...
    @property
    def stopped(self) -> bool:
        """The progress callback returned ``False``: the job stopped early (run it again to go on)."""

@final
class ShredReport:
    """What crypto-shredding a tenant destroyed, provider by provider."""

    @property
    def backups_unreadable(self) -> bool: ...
    @property
    def summary(self) -> str: ...
    @property
    def shared_kek_keys(self) -> list[int]: ...

@final
class RewrapReport:
    """Progress and outcome of a KEK-rotation (re-wrap) run."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def tenants(self) -> int: ...
    @property
    def rewrapped(self) -> int: ...
    @property
    def current(self) -> int: ...
    @property
    def last_tenant(self) -> str | None: ...
    @property
    def stopped(self) -> bool:
        """The progress callback returned ``False``: the job stopped early (run it again to go on)."""

@final
class CacheStats:
    """Key-cache counters."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def hits(self) -> int: ...
    @property
    def loads(self) -> int: ...
    @property
    def evictions(self) -> int: ...

@final
class WrapContext:
    """What a wrapped data key is bound to; handed to Python key providers."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def tenant(self) -> str: ...
    @property
    def key_id(self) -> int: ...
    @property
    def aad(self) -> bytes: ...
    @property
    def pairs(self) -> list[tuple[str, str]]: ...

@final
class LocalKeyProvider:
    """Key-encryption keys in a local key file (mode 0600), or only in memory."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @classmethod
    def open_or_create(cls, path: _StrPath) -> LocalKeyProvider: ...
    @classmethod
    def open(cls, path: _StrPath) -> LocalKeyProvider: ...
    @classmethod
    def ephemeral(cls) -> LocalKeyProvider: ...
    @classmethod
    def try_ephemeral(cls) -> LocalKeyProvider: ...
    def rotate_kek(self) -> str: ...
    def remove_kek(self, kek_id: str) -> None: ...
    def kek_ids(self) -> list[str]: ...

@final
class MemoryStore:
    """A store kept in process memory."""

    def __new__(cls) -> Self: ...

_Store: TypeAlias = MemoryStore | SqliteStore | PostgresStore

@final
class SqliteStore:
    """A SQLite store (the embedded default)."""

    def __new__(cls, path: _StrPath) -> Self: ...
    @classmethod
    def in_memory(cls) -> SqliteStore: ...

@final
class Guard:
    """Seal and open values and credentials per tenant; rotate and shred keys."""

    def __new__(
        cls,
        key_provider: Any,
        store: _Store,
        *,
        cache_max_tenants: int | None = None,
        cache_max_age_seconds: float | None = None,
        governance: GovernanceConfig | None = None,
        clock: Callable[[], float] | None = None,
        tenant_key_providers: dict[str, Any] | None = None,
        tenant_key_provider_tenants: dict[str, list[str]] | None = None,
        rate_limit_url: str | None = None,
    ) -> Self: ...
    @classmethod
    def with_service(
        cls,
        key_provider: Any,
        store: _Store,
        *,
        cache_max_tenants: int | None = None,
        cache_max_age_seconds: float | None = None,
        governance: GovernanceConfig | None = None,
        clock: Callable[[], float] | None = None,
        tenant_key_providers: dict[str, Any] | None = None,
        tenant_key_provider_tenants: dict[str, list[str]] | None = None,
        rate_limit_url: str | None = None,
    ) -> tuple[Guard, ServiceRole]: ...
    @classmethod
    def embedded(cls, directory: _StrPath) -> Guard: ...
    @classmethod
    def embedded_with_service(cls, directory: _StrPath) -> tuple[Guard, ServiceRole]: ...
    @classmethod
    def in_memory(cls) -> Guard: ...
    @classmethod
    def in_memory_with_service(cls) -> tuple[Guard, ServiceRole]: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self, *_args: type[BaseException] | BaseException | TracebackType | None
    ) -> bool: ...
    def create_tenant(self, ctx: TenantContext) -> int: ...
    def seal(self, ctx: TenantContext, context: str, plaintext: bytes) -> SealedValue: ...
    def open(self, ctx: TenantContext, context: str, sealed: _SealedLike) -> bytes: ...
    def reseal(self, ctx: TenantContext, context: str, sealed: _SealedLike) -> SealedValue: ...
    def put_credential(self, ctx: TenantContext, record_id: str, credential: Credential) -> None: ...
    def open_credential(self, ctx: TenantContext, record_id: str, *, reason: str | None = None) -> Credential: ...
    def put_record(
        self,
        ctx: TenantContext,
        record_id: str,
        data_class: str,
        plaintext: bytes,
        *,
        subject: str | None = None,
    ) -> None: ...
    def open_record(
        self, ctx: TenantContext, record_id: str, *, reason: str | None = None
    ) -> tuple[str, bytes]: ...
    def delete_record(self, ctx: TenantContext, record_id: str) -> bool: ...
    def key_versions(self, ctx: TenantContext) -> list[KeyInfo]: ...
    def set_member(self, ctx: TenantContext, user: str, role: _RoleName) -> _RoleName | None: ...
    def remove_member(self, ctx: TenantContext, user: str) -> bool: ...
    def member_role(self, ctx: TenantContext, user: str) -> _RoleName | None: ...
    def members(
        self, ctx: TenantContext, *, after: str | None = None, limit: int = 1000
    ) -> list[Membership]: ...
    def mark_portal(self, ctx: TenantContext, portal: str, sso_mfa: bool) -> None: ...
    def portal_mark(self, ctx: TenantContext, portal: str) -> str | None: ...
    def put_portal_credential(
        self, ctx: TenantContext, record_id: str, portal: str, credential: Credential
    ) -> None: ...
    def rotate_tenant_key(self, ctx: TenantContext) -> int: ...
    def reencrypt(
        self,
        ctx: TenantContext,
        from_key_id: int,
        *,
        batch_size: int = 500,
        progress: Callable[[ReencryptReport], object] | None = None,
    ) -> ReencryptReport: ...
    def retire_key(self, ctx: TenantContext, key_id: int) -> None: ...
    def rewrap_tenant_keys(
        self,
        service: ServiceRole,
        *,
        start_after: str | None = None,
        batch_size: int = 500,
        progress: Callable[[RewrapReport], object] | None = None,
    ) -> RewrapReport: ...
    def shred_tenant(self, ctx: TenantContext) -> ShredReport: ...
    def cache_stats(self) -> CacheStats: ...
    # ---- per-tenant key providers (bring your own key) ----
    def tenant_key_provider_names(self) -> list[str]: ...
    def set_tenant_key_provider(self, ctx: TenantContext, name: str | None) -> RewrapReport: ...
    def tenant_key_provider(self, ctx: TenantContext) -> str | None: ...
    # ---- agent tokens ----
    def create_token(
        self,
        ctx: TenantContext,
        agent: str,
        name: str,
        *,
        scopes: list[Scope] | None = None,
        expires_in: int | None = None,
    ) -> IssuedToken: ...
    def list_tokens(
        self, ctx: TenantContext, *, agent: str | None = None, after: str | None = None, limit: int = 1000
    ) -> list[TokenInfo]: ...
    def revoke_token(self, ctx: TenantContext, token_id: str) -> bool: ...
    def kill_agent(self, ctx: TenantContext, agent: str) -> int: ...
    def authenticate_token(self, token: str, *, host_key: str | None = None) -> VerifiedToken: ...
    def verify_password(
        self,
        hasher: PasswordHasher,
        tenant: str,
        user: str,
        password: str,
        phc: str,
        *,
        host_key: str | None = None,
    ) -> PasswordCheck: ...
    def rate_limit_check(
        self,
        action_class: _RateLimitClass,
        *,
        tenant: str | None = None,
        subject: str | None = None,
        object: str | None = None,
        host_key: str | None = None,
    ) -> None: ...
    def rate_limit_failure(
        self,
        action_class: _RateLimitClass,
        *,
        tenant: str | None = None,
        subject: str | None = None,
        object: str | None = None,
        host_key: str | None = None,
    ) -> float | None: ...
    def rate_limit_overrides(self, ctx: TenantContext) -> dict[str, Any]: ...
    def set_rate_limit_overrides(
        self, ctx: TenantContext, overrides: Mapping[str, Any] | str
    ) -> int: ...
    def verify_token(self, token: str, resource: str, action: _ActionName) -> VerifiedToken: ...
    # ---- audit log ----
    def record_audit(
        self,
        ctx: TenantContext,
        action: str,
        target: str,
        *,
        reason: str | None = None,
        details: Mapping[str, str] | None = None,
    ) -> AuditEntry: ...
    def audit_entries(self, ctx: TenantContext, *, after: int = 0, limit: int = 1000) -> list[AuditEntry]: ...
    def export_audit(self, ctx: TenantContext, dest: _StrPath | _Writer) -> AuditReport: ...
    def verify_audit(self, ctx: TenantContext) -> AuditReport: ...
    # ---- retention ----
    def retention_policy(self, ctx: TenantContext) -> dict[str, int | None]: ...
    def set_retention(self, ctx: TenantContext, data_class: str, seconds: int | None) -> None: ...
    def clear_retention(self, ctx: TenantContext, data_class: str) -> bool: ...
    def sweep(
        self,
        ctx: TenantContext,
        *,
        batch_size: int = 500,
        progress: Callable[[SweepReport], object] | None = None,
    ) -> SweepReport: ...
    def sweep_all(
        self,
        service: ServiceRole,
        *,
        start_after: str | None = None,
        batch_size: int = 500,
        progress: Callable[[SweepAllReport], object] | None = None,
    ) -> SweepAllReport: ...
    def erase_subject(self, ctx: TenantContext, subject: str, *, batch_size: int = 500) -> ErasureReport: ...
    def erase_tenant(self, ctx: TenantContext, *, batch_size: int = 500) -> TenantErasureReport: ...
    # ---- sessions ----
    def create_session(self, ctx: TenantContext, label: str = "") -> SessionTokens: ...
    def verify_access_token(self, token: str) -> VerifiedAccess: ...
    def refresh_session(self, refresh_token: str, *, host_key: str | None = None) -> SessionTokens: ...
    def list_sessions(self, ctx: TenantContext, *, user: str | None = None, limit: int = 100) -> list[SessionInfo]: ...
    def revoke_session(self, ctx: TenantContext, session_id: str) -> bool: ...
    def revoke_user_sessions(self, ctx: TenantContext, user: str) -> int: ...

def validate_provider_name(name: str) -> None:
    """Checks a tenant key provider name; raises ``ConfigError`` otherwise."""

def tagged_kek_id(provider: str, kek: str) -> str:
    """The stored KEK id of a key wrapped by named provider ``provider`` under ``kek``."""

def split_kek_id(kek_id: str) -> tuple[str | None, str]:
    """``(provider name or None for the deployment provider, its own KEK id)``."""

def verify_audit_export(
    source: bytes | _StrPath,
    *,
    start_after: tuple[int, str] | None = None,
    expected_head: tuple[int, str] | None = None,
) -> AuditReport:
    """Verifies an exported audit log (JSON Lines) offline."""

# ---- governance ----

@final
class GovernanceConfig:
    """Token and session settings of a ``Guard``; ``repr`` never shows the signing key."""

    def __new__(
        cls,
        *,
        token_prefix: str = "tg",
        token_cache_ttl_seconds: float = 10.0,
        token_cache_capacity: int = 10_000,
        session_signing_key: bytes | str | None = None,
        access_ttl_seconds: int = 900,
        refresh_ttl_seconds: int = 1_209_600,
        max_session_lifetime_seconds: int = 2_592_000,
        refresh_prefix: str = "tgr",
    ) -> Self: ...

@final
class Scope:
    """One permission of an agent token: an action on a resource pattern."""

    def __new__(cls, resource: str, action: _ActionName = "read") -> Self: ...
    @property
    def resource(self) -> str: ...
    @property
    def action(self) -> _ActionName: ...
    def allows(self, resource: str, action: _ActionName) -> bool: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, tuple[str, str]]: ...

@final
class IssuedToken:
    """A new agent token; ``expose()`` gives the token, ``repr`` never does. Not picklable."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def id(self) -> str: ...
    @property
    def expires_at(self) -> int | None: ...
    def expose(self) -> str: ...
    def __reduce__(self) -> NoReturn: ...

@final
class TokenInfo:
    """A token's stored metadata (never the token)."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def id(self) -> str: ...
    @property
    def agent(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def scopes(self) -> list[Scope]: ...
    @property
    def created_at(self) -> int: ...
    @property
    def expires_at(self) -> int | None: ...
    @property
    def revoked_at(self) -> int | None: ...

@final
class VerifiedToken:
    """A verified agent token: the agent, its scopes and the context to act in."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def token_id(self) -> str: ...
    @property
    def agent(self) -> str: ...
    @property
    def scopes(self) -> list[Scope]: ...
    @property
    def expires_at(self) -> int | None: ...
    @property
    def context(self) -> TenantContext: ...
    def allows(self, resource: str, action: _ActionName) -> bool: ...

@final
class AuditEntry:
    """One entry of a tenant's hash-chained audit log."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def tenant(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def time(self) -> int: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def details(self) -> dict[str, str]: ...
    @property
    def prev(self) -> str: ...
    @property
    def hash(self) -> str: ...
    def to_json_line(self) -> str: ...

@final
class AuditReport:
    """What a successful audit-chain verification saw."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def entries(self) -> int: ...
    @property
    def tenant(self) -> str | None: ...
    @property
    def last_seq(self) -> int: ...
    @property
    def head(self) -> str: ...
    @property
    def erased_entries(self) -> int: ...

@final
class AuditCheckpoint:
    """A signed audit checkpoint: the log ``origin`` had ``size`` entries with RFC 6962
    root ``root`` at ``time`` (Unix seconds)."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def origin(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def root(self) -> bytes: ...
    @property
    def time(self) -> int: ...

@final
class AuditBundleReport:
    """What a verified audit export bundle holds."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def tenant(self) -> str | None: ...
    @property
    def entries(self) -> int: ...
    @property
    def legacy_entries(self) -> int: ...
    @property
    def erased_entries(self) -> int: ...
    @property
    def checkpoint(self) -> AuditCheckpoint: ...
    @property
    def outcome(self) -> str:
        """``valid``, or ``restored``: the earlier checkpoint is of the lost window of a
        database restore the log records (see ``restore``). One of ``AUDIT_BUNDLE_OUTCOMES``."""
    @property
    def restore(self) -> AuditRestore | None: ...

@final
class AuditRestore:
    """A recorded database restore: entries ``restored_size + 1 ..= superseded_size`` of the
    superseded history (which the earlier checkpoint is of) were lost."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def restore_seq(self) -> int: ...
    @property
    def restore_time(self) -> int: ...
    @property
    def restored_size(self) -> int: ...
    @property
    def superseded_size(self) -> int: ...
    @property
    def superseded_root(self) -> bytes: ...
    @property
    def earlier(self) -> AuditCheckpoint: ...

@final
class AuditInclusion:
    """A verified inclusion proof: the entry and the checkpoint it is included in."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def entry(self) -> AuditEntry: ...
    @property
    def checkpoint(self) -> AuditCheckpoint: ...

def verify_audit_bundle(
    bundle: bytes | str,
    public_keys: str | Iterable[str],
    *,
    earlier_checkpoint: bytes | str | None = None,
) -> AuditBundleReport: ...
def verify_audit_inclusion(proof: bytes | str, public_keys: str | Iterable[str]) -> AuditInclusion: ...
def verify_audit_consistency(
    earlier_checkpoint: bytes | str, proof: bytes | str, public_keys: str | Iterable[str]
) -> AuditCheckpoint: ...

@final
class SweepReport:
    """Outcome of a retention sweep of one tenant."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def tenant(self) -> str | None: ...
    @property
    def now(self) -> int: ...
    @property
    def deleted(self) -> dict[str, int]: ...
    @property
    def batches(self) -> int: ...
    @property
    def audit_seq(self) -> int | None: ...
    @property
    def total(self) -> int: ...
    @property
    def stopped(self) -> bool:
        """The progress callback returned ``False``: the job stopped early (run it again to go on)."""

@final
class SweepAllReport:
    """Outcome of a sweep of every tenant."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def tenants(self) -> int: ...
    @property
    def deleted(self) -> int: ...
    @property
    def last_tenant(self) -> str | None: ...
    @property
    def stopped(self) -> bool:
        """The progress callback returned ``False``: the job stopped early (run it again to go on)."""

@final
class ErasureReport:
    """Outcome of a data-subject erasure."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def subject_digest(self) -> str: ...
    @property
    def receipt_secret(self) -> str: ...
    @property
    def deleted(self) -> int: ...
    @property
    def audit_erased(self) -> int: ...
    @property
    def batches(self) -> int: ...
    @property
    def receipt(self) -> AuditEntry: ...

@final
class TenantErasureReport:
    """Outcome of erasing a whole tenant."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def tokens_revoked(self) -> int: ...
    @property
    def sessions_revoked(self) -> int: ...
    @property
    def records_deleted(self) -> int: ...
    @property
    def receipt(self) -> AuditEntry: ...

@final
class SessionTokens:
    """A session's access and refresh tokens; ``repr`` shows neither. Not picklable."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def session_id(self) -> str: ...
    @property
    def access_expires_at(self) -> int: ...
    @property
    def refresh_expires_at(self) -> int: ...
    def expose_access_token(self) -> str: ...
    def expose_refresh_token(self) -> str: ...
    def __reduce__(self) -> NoReturn: ...

@final
class VerifiedAccess:
    """A verified access token: its session and the context to act in."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def session_id(self) -> str: ...
    @property
    def expires_at(self) -> int: ...
    @property
    def context(self) -> TenantContext: ...

@final
class SessionInfo:
    """A session's metadata (never a token)."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def id(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def created_at(self) -> int: ...
    @property
    def refreshed_at(self) -> int: ...
    @property
    def expires_at(self) -> int: ...
    @property
    def revoked_at(self) -> int | None: ...

@final
class PasswordCheck:
    """The outcome of a successful password check."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def needs_rehash(self) -> bool: ...
    def __bool__(self) -> bool: ...

@final
class PasswordHasher:
    """argon2id password hashing (PHC strings), at least OWASP's parameters."""

    def __new__(cls, *, m_cost_kib: int = 19_456, t_cost: int = 2, p_cost: int = 1) -> Self: ...
    def hash(self, password: str) -> str: ...
    def verify(self, password: str, phc: str) -> PasswordCheck: ...
    def needs_rehash(self, phc: str) -> bool: ...

# ---- AI egress and redaction ----

@final
class EgressPolicy:
    """One organization's egress policy (permissive by default)."""

    def __new__(
        cls,
        *,
        allowed_providers: Iterable[str] | None = None,
        opted_out: Iterable[str] | None = None,
        categories: Mapping[str, Iterable[str]] | None = None,
        redaction: _Level = "off",
        operator: _Operator = "pseudonymize",
        terms: list[str] | None = None,
        patterns: Mapping[str, str] | None = None,
        agent_prefix: str | None = None,
        zero_data_retention: bool = False,
        prompt_cache: bool = True,
        max_retention_days: int | None = None,
        identifiers_as_secrets: bool = False,
        names: list[str] | None = None,
        exempt: list[str] | None = None,
    ) -> Self: ...
    @classmethod
    def strict(cls) -> EgressPolicy: ...
    @classmethod
    def from_json(cls, text: str) -> EgressPolicy: ...
    def to_json(self) -> str: ...
    @property
    def allowed_providers(self) -> set[str] | None: ...
    @property
    def opted_out(self) -> set[str]: ...
    @property
    def categories(self) -> dict[str, set[str]]: ...
    @property
    def redaction(self) -> _Level: ...
    @property
    def operator(self) -> _Operator: ...
    @property
    def terms(self) -> list[str]: ...
    @property
    def patterns(self) -> dict[str, str]: ...
    @property
    def agent_prefix(self) -> str | None: ...
    @property
    def identifiers_as_secrets(self) -> bool: ...
    @property
    def names(self) -> list[str]: ...
    @property
    def exempt(self) -> list[str]: ...
    @property
    def zero_data_retention(self) -> bool: ...
    @property
    def prompt_cache(self) -> bool: ...
    @property
    def max_retention_days(self) -> int | None: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class SubProcessor:
    """One sub-processor (a provider data may be sent to)."""

    def __new__(
        cls,
        id: str,
        name: str,
        purpose: str,
        data_categories: list[str],
        *,
        optional: bool = False,
        location: str = "",
    ) -> Self: ...
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def purpose(self) -> str: ...
    @property
    def data_categories(self) -> list[str]: ...
    @property
    def optional(self) -> bool: ...
    @property
    def location(self) -> str: ...

@final
class Registry:
    """The sub-processor registry."""

    def __new__(cls) -> Self: ...
    @classmethod
    def example(cls) -> Registry: ...
    def register(self, p: SubProcessor) -> None: ...
    def get(self, id: str) -> SubProcessor | None: ...
    def providers(self) -> list[SubProcessor]: ...
    def to_markdown(self) -> str: ...
    def __len__(self) -> int: ...

@final
class PseudonymSession:
    """A reversible pseudonymization mapping, wiped on expiry, ``expire()`` or ``with`` exit."""

    def __new__(cls, tenant: str, *, ttl_seconds: float = 900.0) -> Self: ...
    @property
    def tenant(self) -> str: ...
    @property
    def expired(self) -> bool: ...
    def restore(self, answer: str) -> str: ...
    def stream_restorer(self) -> StreamRestorer: ...
    def expire(self) -> None: ...
    def __len__(self) -> int: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self, *_args: type[BaseException] | BaseException | TracebackType | None
    ) -> bool: ...
    def __reduce__(self) -> NoReturn: ...

@final
class StreamRestorer:
    """Restores pseudonyms in an answer arriving in chunks; ``repr`` never shows text."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    def push(self, chunk: str) -> str: ...
    def finish(self) -> str: ...
    @property
    def held_back(self) -> int: ...
    @property
    def finished(self) -> bool: ...
    def __reduce__(self) -> NoReturn: ...

@final
class Finding:
    """One recognized value: its tag, category and UTF-8 byte range."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def tag(self) -> str: ...
    @property
    def category(self) -> _Category: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...

@final
class Redacted:
    """A redacted text, its findings and the count per tag."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def text(self) -> str: ...
    @property
    def findings(self) -> list[Finding]: ...
    @property
    def summary(self) -> dict[str, int]: ...

@final
class Redactor:
    """One-pass recognizer of personal data and secrets, with replacement operators."""

    def __new__(
        cls,
        *,
        categories: list[_Category] | None = None,
        terms: list[str] | None = None,
        patterns: Mapping[str, str] | None = None,
        agent_prefix: str | None = None,
        identifiers_as_secrets: bool = False,
        names: list[str] | None = None,
        exempt: list[str] | None = None,
    ) -> Self: ...
    def find(self, text: str) -> list[Finding]: ...
    def redact(
        self,
        text: str,
        operator: _Operator = "tag",
        *,
        session: PseudonymSession | None = None,
        hash_key: bytes | None = None,
    ) -> Redacted: ...

@final
class Prepared:
    """Text ready to send to a provider, redacted per policy; ``repr`` never shows it."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def provider(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def summary(self) -> dict[str, int]: ...
    @property
    def zero_data_retention(self) -> bool: ...
    @property
    def prompt_cache(self) -> bool: ...
    @property
    def max_retention_days(self) -> int | None: ...
    @property
    def session(self) -> PseudonymSession | None: ...
    def restore(self, answer: str) -> str: ...
    def stream_restorer(self) -> StreamRestorer: ...

@final
class EgressDecision:
    """Allowed (with ``prepared``) or denied (with ``reason`` and ``message``)."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def allowed(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...
    @property
    def category(self) -> str | None: ...
    @property
    def prepared(self) -> Prepared | None: ...
    def __bool__(self) -> bool: ...

@final
class EgressEvent:
    """One egress decision as reported to an observer: counts and sizes, never text."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def tenant(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def allowed(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def level(self) -> _Level: ...
    @property
    def policy_version(self) -> int: ...
    @property
    def redacted(self) -> dict[str, int]: ...
    @property
    def bytes_in(self) -> int: ...
    @property
    def bytes_out(self) -> int: ...
    @property
    def at(self) -> int: ...

@final
class Egress:
    """AI egress control over a ``Guard``: per-organization policies and ``prepare()``."""

    def __new__(
        cls,
        guard: Guard,
        store: _Store | None = None,
        *,
        registry: Registry | None = None,
        observer: Callable[[EgressEvent], object] | None = None,
    ) -> Self: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self, *_args: type[BaseException] | BaseException | TracebackType | None
    ) -> bool: ...
    def providers(self) -> list[SubProcessor]: ...
    def policy(self, ctx: TenantContext) -> EgressPolicy: ...
    def set_policy(self, ctx: TenantContext, policy: EgressPolicy) -> int: ...
    def prepare(
        self,
        ctx: TenantContext,
        provider: str,
        text: str,
        *,
        category: str = "prompts",
        session: PseudonymSession | None = None,
    ) -> EgressDecision: ...

# ---- isolation ----

@final
class PostgresStore:
    """A store in PostgreSQL, isolated per tenant by Row Level Security."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @classmethod
    def connect(
        cls,
        app_url: str,
        service_url: str | None = None,
        *,
        pool_size: int = 16,
        require_rls: bool = True,
        notifications: bool = True,
        poll_interval_ms: int = 1000,
    ) -> PostgresStore: ...
    @staticmethod
    def migrate(admin_url: str) -> int: ...
    def set_member(self, ctx: TenantContext, user: str, role: _RoleName) -> None: ...
    def remove_member(self, ctx: TenantContext, user: str) -> bool: ...
    def members(self, ctx: TenantContext) -> list[Membership]: ...

@final
class Membership:
    """One user's role in one tenant."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def tenant(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def role(self) -> _RoleName: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class MemoryDirectory:
    """An in-memory membership directory with role-checked changes."""

    def __new__(cls) -> Self: ...
    def create(self, service: ServiceRole, tenant: str, owner: str) -> None: ...
    def set_member(self, ctx: TenantContext, user: str, role: _RoleName) -> None: ...
    def remove_member(self, ctx: TenantContext, user: str) -> bool: ...
    def role_of(self, user: str, tenant: str) -> _RoleName | None: ...
    def memberships_of(self, user: str) -> list[Membership]: ...

@final
class DirectoryResolver:
    """Resolves an authenticated user id to a context, the role taken from a directory."""

    def __new__(
        cls, directory: MemoryDirectory | PostgresStore | _Directory, service: ServiceRole
    ) -> Self: ...
    def resolve(self, user: str, tenant: str) -> TenantContext: ...
    def visible_scopes(self, user: str) -> list[TenantContext]: ...

@final
class OpenEvent:
    """One open of a credential: who, what, why, when. Holds no secret."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    @property
    def tenant(self) -> str: ...
    @property
    def principal(self) -> str: ...
    @property
    def record(self) -> str: ...
    @property
    def kind(self) -> Literal["reveal", "totp_code"]: ...
    @property
    def purpose(self) -> str: ...
    @property
    def at(self) -> int: ...

@final
class TotpCode:
    """A one-time code; ``repr`` never shows it, ``expose()`` does. Not picklable."""

    def __new__(cls, _no_public_constructor: NoReturn, /) -> Self: ...  # made by tenantguard calls only

    def expose(self) -> str: ...
    def __len__(self) -> int: ...
    def __reduce__(self) -> NoReturn: ...

@final
class Revealer:
    """Opens write-only credentials and derives TOTP codes, calling ``observer`` first."""

    def __new__(cls, guard: Guard, observer: Callable[[OpenEvent], object]) -> Self: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self, *_args: type[BaseException] | BaseException | TracebackType | None
    ) -> bool: ...
    def open_credential(self, ctx: TenantContext, record_id: str, purpose: str) -> Credential: ...
    def totp_code(
        self,
        ctx: TenantContext,
        record_id: str,
        purpose: str,
        *,
        unix_time: int | None = None,
        digits: int = 6,
        period: int = 30,
        algorithm: Literal["sha1", "sha256", "sha512"] = "sha1",
        encoding: Literal["base32", "raw"] = "base32",
    ) -> TotpCode: ...
