//! Write-only credentials: users store and replace credentials but never read them back;
//! the service role opens them through a Revealer that records who, what and why first;
//! a TOTP seed is used without being revealed. Runs on MemoryStore (no server needed).
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use std::sync::{Arc, Mutex};

use tenantguard::reveal::{OpenEvent, OpenKind, OpenObserver, Revealer};
use tenantguard::tenant::Resolved;
use tenantguard::totp::{TotpAlgorithm, TotpParams};
use tenantguard::{
    Credential, ErrorKind, Guard, LocalKeyProvider, MemoryStore, Principal, Role, TenantContext,
    TenantId, UserId,
};

#[derive(Default)]
struct Log {
    events: Mutex<Vec<OpenEvent>>,
    fail: Mutex<bool>,
}

impl OpenObserver for Log {
    fn record(&self, event: &OpenEvent) -> Result<(), String> {
        if *self.fail.lock().unwrap() {
            return Err("audit log unavailable".into());
        }
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}

fn user(role: Role, name: &str) -> TenantContext {
    TenantContext::resolved(Resolved::vouch(
        &tg_cap::cap(),
        TenantId::new("acme").unwrap(),
        UserId::new(name).unwrap(),
        role,
    ))
}

async fn setup() -> (Guard, Revealer, Arc<Log>, TenantContext) {
    let guard = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store(MemoryStore::new())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let service = TenantContext::service(TenantId::new("acme").unwrap(), &tg_cap::cap());
    guard.keys().create_tenant(&service).await.unwrap();
    let log = Arc::new(Log::default());
    let revealer = Revealer::new(guard.clone(), log.clone());
    (guard, revealer, log, service)
}

#[tokio::test]
async fn users_write_but_never_read_and_every_open_is_recorded() {
    let (guard, revealer, log, service) = setup().await;
    let mia = user(Role::Member, "mia");
    guard
        .records()
        .put_credential(&mia, "site-pw", &Credential::password("first"))
        .await
        .unwrap();
    guard
        .records()
        .put_credential(&mia, "site-pw", &Credential::password("second"))
        .await
        .unwrap();
    for role in Role::ALL {
        let ctx = user(role, "someone");
        assert_eq!(
            revealer
                .open_credential(&ctx, "site-pw", "curious")
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            guard
                .records()
                .open_credential(&ctx, "site-pw")
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::PermissionDenied
        );
    }
    assert!(
        log.events.lock().unwrap().is_empty(),
        "refused opens record nothing and reveal nothing"
    );
    let cred = revealer
        .open_credential(&service, "site-pw", "run 8812 launch")
        .await
        .unwrap();
    assert_eq!(cred.secret().expose(), b"second");
    let events = log.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].tenant.as_str(), "acme");
    assert_eq!(events[0].principal, Principal::Service);
    assert_eq!(events[0].record, "site-pw");
    assert_eq!(events[0].kind, OpenKind::Reveal);
    assert_eq!(events[0].purpose, "run 8812 launch");
    assert!(
        !format!("{events:?}").contains("second"),
        "events hold no secret"
    );
    // No purpose, or an observer that cannot record: no plaintext.
    assert_eq!(
        revealer
            .open_credential(&service, "site-pw", "")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        revealer
            .open_credential(&service, "site-pw", "a\nb")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    *log.fail.lock().unwrap() = true;
    assert_eq!(
        revealer
            .open_credential(&service, "site-pw", "run 8813")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Unavailable
    );
}

#[tokio::test]
async fn totp_code_without_revealing_the_seed() {
    let (guard, revealer, log, service) = setup().await;
    let mia = user(Role::Member, "mia");
    // RFC 6238's SHA-1 seed "12345678901234567890", as base32 like an authenticator shows it.
    guard
        .records()
        .put_credential(
            &mia,
            "github-2fa",
            &Credential::totp_seed("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        )
        .await
        .unwrap();
    let p8 = TotpParams {
        digits: 8,
        ..TotpParams::default()
    };
    // Codes only for the guard's clock (this guard: the system clock), plus or minus one step.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let seed = tenantguard::SecretBytes::from("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    let code = revealer
        .totp_code(&mia, "github-2fa", &p8, now, "login step")
        .await
        .unwrap();
    assert_eq!(
        code.as_str(),
        tenantguard::totp::totp(&seed, &p8, now).unwrap().as_str()
    );
    assert_eq!(format!("{code:?}"), "TotpCode([REDACTED])");
    let code = revealer
        .totp_code(
            &service,
            "github-2fa",
            &TotpParams::default(),
            now - 30,
            "run 1",
        )
        .await
        .unwrap();
    assert_eq!(
        code.as_str(),
        tenantguard::totp::totp(&seed, &TotpParams::default(), now - 30)
            .unwrap()
            .as_str()
    );
    for far in [1111111109, now + 3600, now - 61] {
        assert_eq!(
            revealer
                .totp_code(&mia, "github-2fa", &p8, far, "harvest")
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::PermissionDenied,
            "{far}"
        );
    }
    let events = log.events.lock().unwrap().clone();
    assert_eq!(
        events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [OpenKind::TotpCode, OpenKind::TotpCode]
    );
    assert_eq!(
        events[0].principal,
        Principal::User {
            user: UserId::new("mia").unwrap(),
            role: Role::Member
        }
    );
    // Viewers may not use it; other credential kinds are not TOTP seeds; the seed itself stays sealed.
    let vic = user(Role::Viewer, "vic");
    assert_eq!(
        revealer
            .totp_code(&vic, "github-2fa", &p8, now, "x")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    guard
        .records()
        .put_credential(&mia, "pw", &Credential::password("hunter2"))
        .await
        .unwrap();
    assert_eq!(
        revealer
            .totp_code(&mia, "pw", &p8, now, "x")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        revealer
            .totp_code(&mia, "absent", &p8, now, "x")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        guard
            .records()
            .open_credential(&mia, "github-2fa")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    // SHA-256 parameters work through the same path.
    guard
        .records()
        .put_credential(
            &mia,
            "sha256",
            &Credential::totp_seed("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA"),
        )
        .await
        .unwrap();
    let p = TotpParams {
        algorithm: TotpAlgorithm::Sha256,
        digits: 8,
        ..TotpParams::default()
    };
    let sha256_seed =
        tenantguard::SecretBytes::from("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA");
    assert_eq!(
        revealer
            .totp_code(&mia, "sha256", &p, now, "x")
            .await
            .unwrap()
            .as_str(),
        tenantguard::totp::totp(&sha256_seed, &p, now)
            .unwrap()
            .as_str()
    );
}
