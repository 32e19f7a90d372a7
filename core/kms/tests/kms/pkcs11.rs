//! PKCS#11 against a SoftHSM2 token. Needs TG_KMS_PKCS11_MODULE, TG_KMS_PKCS11_TOKEN,
//! TG_KMS_PKCS11_PIN and SOFTHSM2_CONF (set by `scripts/kms.sh start`).
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use crate::common::*;
use crate::tg_cap;
use secrecy::SecretString;
use tenantguard::kms::{KeyProvider, KmsError, WrappedKey};
use tenantguard::{ErrorKind, Guard, MemoryStore, Store, TenantContext, TenantId};
use tenantguard_kms::pkcs11::{Pkcs11Config, Pkcs11Provider, WRAPPED_LEN};

/// PKCS#11 login state is per application and token: tests run one at a time, so that the
/// wrong-PIN test does not find the token already logged in by another test.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Hsm {
    module: String,
    token: String,
    pin: String,
}

fn hsm() -> Option<Hsm> {
    let module = env_or_skip("TG_KMS_PKCS11_MODULE", "PKCS#11 (SoftHSM2)")?;
    Some(Hsm {
        module,
        token: std::env::var("TG_KMS_PKCS11_TOKEN").unwrap_or_else(|_| "tenantguard-test".into()),
        pin: std::env::var("TG_KMS_PKCS11_PIN").unwrap_or_else(|_| "12345678".into()),
    })
}

impl Hsm {
    fn provider(&self, key_label: &str) -> Result<Pkcs11Provider, KmsError> {
        self.provider_with(key_label, &self.pin)
    }
    fn provider_with(&self, key_label: &str, pin: &str) -> Result<Pkcs11Provider, KmsError> {
        Pkcs11Provider::new(Pkcs11Config {
            module: self.module.clone().into(),
            token_label: self.token.clone(),
            pin: SecretString::from(pin.to_owned()),
            key_label: key_label.to_owned(),
            retry: quick_retry(),
        })
    }
    async fn new_key(&self) -> (Pkcs11Provider, String) {
        let label = unique("kek");
        let p = self.provider(&label).unwrap();
        p.generate_kek(&label).await.unwrap();
        (p, label)
    }
}

#[tokio::test]
async fn wraps_with_aes_gcm_and_refuses_other_contexts() {
    let Some(h) = hsm() else { return };
    let _serial = SERIAL.lock().await;
    let (p, label) = h.new_key().await;
    let dk = data_key();
    let w = p.wrap(&dk, &wctx("acme", 1)).await.unwrap();
    assert_eq!(w.kek_id, format!("pkcs11:token={};object={label}", h.token));
    assert_eq!(w.ciphertext.len(), WRAPPED_LEN);
    assert!(!w.ciphertext.windows(32).any(|x| x == dk.expose()));
    assert_eq!(
        p.unwrap(&w, &wctx("acme", 1)).await.unwrap().expose(),
        dk.expose()
    );
    // SoftHSM 2.6 reports the failed tag as CKR_GENERAL_ERROR; the session stays healthy, so
    // it is honestly a wrong context / tampered value.
    assert_eq!(
        p.unwrap(&w, &wctx("globex", 1)).await.unwrap_err(),
        KmsError::WrongContext
    );
    assert_eq!(
        p.unwrap(&w, &wctx("acme", 2)).await.unwrap_err(),
        KmsError::WrongContext
    );
    let mut t = w.clone();
    t.ciphertext[20] ^= 1;
    assert_eq!(
        p.unwrap(&t, &wctx("acme", 1)).await.unwrap_err(),
        KmsError::WrongContext
    );
    // And the provider still works afterwards.
    assert_eq!(
        p.unwrap(&w, &wctx("acme", 1)).await.unwrap().expose(),
        dk.expose()
    );
}

#[tokio::test]
async fn typed_errors() {
    let Some(h) = hsm() else { return };
    let _serial = SERIAL.lock().await;
    // First, while no session of this process is logged in to the token: a wrong PIN.
    let e = h.provider_with("x", "00000000").unwrap_err();
    assert!(matches!(e, KmsError::AccessDenied(_)), "{e:?}");
    assert!(!format!("{e}").contains("00000000"));
    let (p, _) = h.new_key().await;
    let w = p.wrap(&data_key(), &wctx("acme", 1)).await.unwrap();
    let e = h
        .provider("no-such-key")
        .unwrap()
        .wrap(&data_key(), &wctx("acme", 1))
        .await
        .unwrap_err();
    assert!(matches!(e, KmsError::KekNotFound(_)), "{e:?}");
    let other_token = WrappedKey {
        kek_id: "pkcs11:token=elsewhere;object=x".into(),
        ..w.clone()
    };
    assert!(matches!(
        p.unwrap(&other_token, &wctx("acme", 1)).await,
        Err(KmsError::KekNotFound(_))
    ));
    let e = Pkcs11Provider::new(Pkcs11Config {
        module: h.module.clone().into(),
        token_label: "no-such-token".into(),
        pin: SecretString::from(h.pin.clone()),
        key_label: "x".into(),
        retry: quick_retry(),
    })
    .unwrap_err();
    assert!(matches!(e, KmsError::Config(_)), "{e:?}");
    assert!(!format!("{p:?}").contains(&h.pin));
}

#[tokio::test]
async fn byok_key_destroyed_on_the_token_locks_out_only_that_tenant() {
    let Some(h) = hsm() else { return };
    let _serial = SERIAL.lock().await;
    let (deployment, _) = h.new_key().await;
    let (acme_hsm, acme_label) = h.new_key().await;
    let (deployment, acme_hsm) = (Arc::new(deployment), Arc::new(acme_hsm));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let build = || {
        Guard::builder()
            .key_provider_arc(deployment.clone())
            .tenant_key_provider_arc("acme-hsm", acme_hsm.clone())
            .allow_tenant_key_provider("acme-hsm", TenantId::new("acme").unwrap())
            .store_arc(store.clone())
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap()
    };
    let g = build();
    let service = tg_cap::cap();
    let acme = TenantContext::service(TenantId::new("acme").unwrap(), &service);
    let globex = TenantContext::service(TenantId::new("globex").unwrap(), &service);
    for c in [&acme, &globex] {
        g.keys().create_tenant(c).await.unwrap();
        g.records()
            .put(c, c.tenant().as_str(), "note", None, b"secret")
            .await
            .unwrap();
    }
    g.keys()
        .set_provider(&acme, Some("acme-hsm"))
        .await
        .unwrap();
    assert_eq!(
        build()
            .records()
            .open_record(&acme, "acme")
            .await
            .unwrap()
            .1
            .expose(),
        b"secret"
    );
    acme_hsm.destroy_kek(&acme_label).await.unwrap();
    let cold = build();
    let e = cold.records().open_record(&acme, "acme").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyProvider, "{e}");
    assert!(e.to_string().contains("not found"), "{e}");
    assert_eq!(
        cold.records()
            .open_record(&globex, "globex")
            .await
            .unwrap()
            .1
            .expose(),
        b"secret"
    );
}

/// Per-tenant token keys: a database backup restored after a shred opens nothing of the
/// tenant (its token object was destroyed), other tenants are untouched, and a tenant
/// wrapped under the shared key moves to its own key on rewrap.
#[tokio::test]
async fn shredding_destroys_the_tenants_own_token_key() {
    let Some(h) = hsm() else { return };
    let _serial = SERIAL.lock().await;
    let (shared, label) = h.new_key().await;
    let prefix = format!("{}-", unique("t"));
    let per_tenant: Arc<dyn KeyProvider> = Arc::new(
        h.provider(&label)
            .unwrap()
            .with_tenant_keys(&prefix)
            .unwrap(),
    );
    let (report, [acme, _globex, _old]) =
        shred_backup_restore_proof(per_tenant.clone(), Arc::new(shared)).await;
    assert_eq!(report.summary(), "deployment:immediate");
    let again = per_tenant
        .destroy_tenant(&TenantId::new(acme).unwrap())
        .await
        .unwrap();
    assert_eq!(
        again.destruction,
        tenantguard::kms::Destruction::NothingHeld
    );
    // A shared-key provider refuses to destroy one tenant, and says so.
    let e = h
        .provider(&label)
        .unwrap()
        .destroy_tenant(&TenantId::new("x").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, KmsError::Unsupported(_)), "{e}");
    assert!(h.provider(&label).unwrap().with_tenant_keys("a;b").is_err());
}
