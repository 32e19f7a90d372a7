//! Vault / OpenBao Transit against a real OpenBao dev server on loopback.
//! Needs TG_KMS_VAULT_ADDR and TG_KMS_VAULT_TOKEN (set by `scripts/kms.sh start`).
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use crate::common::*;
use crate::tg_cap;
use secrecy::SecretString;
use serde_json::json;
use tenantguard::kms::{KeyProvider, KmsError, WrappedKey};
use tenantguard::{ErrorKind, Guard, MemoryStore, ServiceRole, Store, TenantContext, TenantId};
use tenantguard_kms::vault::{VaultBinding, VaultTransitConfig, VaultTransitProvider};

struct Bao {
    addr: String,
    token: String,
    http: reqwest::Client,
}

impl Bao {
    async fn connect() -> Option<Bao> {
        let addr = env_or_skip("TG_KMS_VAULT_ADDR", "Vault/OpenBao Transit")?;
        let token = std::env::var("TG_KMS_VAULT_TOKEN").unwrap_or_else(|_| "root".into());
        let bao = Bao {
            addr,
            token,
            http: reqwest::Client::new(),
        };
        // Enable Transit once (400 "path is already in use" afterwards is fine).
        bao.post("sys/mounts/transit", json!({"type": "transit"}))
            .await;
        Some(bao)
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::StatusCode {
        self.http
            .post(format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", &self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn delete(&self, path: &str) -> reqwest::StatusCode {
        self.http
            .delete(format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", &self.token)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Creates a fresh Transit key and returns its name.
    async fn new_key(&self, derived: bool) -> String {
        let name = unique("tg");
        let s = self
            .post(
                &format!("transit/keys/{name}"),
                json!({"type": "aes256-gcm96", "derived": derived}),
            )
            .await;
        assert!(s.is_success(), "create key: {s}");
        name
    }

    fn provider(&self, key: &str) -> VaultTransitProvider {
        self.provider_with(key, VaultBinding::AssociatedData, &self.addr, &self.token)
    }

    fn provider_with(
        &self,
        key: &str,
        binding: VaultBinding,
        addr: &str,
        token: &str,
    ) -> VaultTransitProvider {
        let mut cfg = VaultTransitConfig::new(addr, SecretString::from(token.to_owned()), key);
        cfg.binding = binding;
        cfg.retry = quick_retry();
        VaultTransitProvider::new(cfg).unwrap()
    }
}

#[tokio::test]
async fn wraps_and_refuses_other_contexts_and_tampering() {
    let Some(bao) = Bao::connect().await else {
        return;
    };
    for binding in [VaultBinding::AssociatedData, VaultBinding::DerivedContext] {
        let key = bao.new_key(binding == VaultBinding::DerivedContext).await;
        let p = bao.provider_with(&key, binding, &bao.addr, &bao.token);
        let dk = data_key();
        let w = p.wrap(&dk, &wctx("acme", 1)).await.unwrap();
        assert_eq!(w.kek_id, format!("transit/{key}:v1"));
        assert!(w.ciphertext.starts_with(b"vault:v1:"));
        assert!(!w.ciphertext.windows(32).any(|x| x == dk.expose()));
        assert_eq!(
            p.unwrap(&w, &wctx("acme", 1)).await.unwrap().expose(),
            dk.expose()
        );
        // Another tenant or key version: refused.
        assert_eq!(
            p.unwrap(&w, &wctx("globex", 1)).await.unwrap_err(),
            KmsError::WrongContext,
            "{binding:?}"
        );
        assert_eq!(
            p.unwrap(&w, &wctx("acme", 2)).await.unwrap_err(),
            KmsError::WrongContext,
            "{binding:?}"
        );
        // Tampered ciphertext: refused.
        let mut t = w.clone();
        let n = t.ciphertext.len();
        t.ciphertext[n - 3] = if t.ciphertext[n - 3] == b'A' {
            b'B'
        } else {
            b'A'
        };
        assert_eq!(
            p.unwrap(&t, &wctx("acme", 1)).await.unwrap_err(),
            KmsError::WrongContext
        );
        assert_eq!(p.current_kek().await.unwrap(), format!("transit/{key}:v1"));
    }
}

#[tokio::test]
async fn typed_errors() {
    let Some(bao) = Bao::connect().await else {
        return;
    };
    let key = bao.new_key(false).await;
    let w = bao
        .provider(&key)
        .wrap(&data_key(), &wctx("acme", 1))
        .await
        .unwrap();
    // Unknown key.
    let missing = WrappedKey {
        kek_id: "transit/does-not-exist:v1".into(),
        ciphertext: w.ciphertext.clone(),
    };
    assert!(matches!(
        bao.provider(&key).unwrap(&missing, &wctx("acme", 1)).await,
        Err(KmsError::KekNotFound(_))
    ));
    // Bad token.
    let denied = bao.provider_with(&key, VaultBinding::AssociatedData, &bao.addr, "not-a-token");
    let e = denied.unwrap(&w, &wctx("acme", 1)).await.unwrap_err();
    assert!(matches!(e, KmsError::AccessDenied(_)), "{e:?}");
    assert!(!e.to_string().contains("not-a-token"));
    // Nothing listening: unavailable (retryable, after the bounded retries).
    let down = bao.provider_with(
        &key,
        VaultBinding::AssociatedData,
        &dead_address(),
        &bao.token,
    );
    let e = down.unwrap(&w, &wctx("acme", 1)).await.unwrap_err();
    assert!(
        matches!(e, KmsError::Unavailable(_)) && e.is_retryable(),
        "{e:?}"
    );
    // A server that never answers: timeout.
    let (hole, _h) = black_hole().await;
    let slow = bao.provider_with(&key, VaultBinding::AssociatedData, &hole, &bao.token);
    assert_eq!(
        slow.unwrap(&w, &wctx("acme", 1)).await.unwrap_err(),
        KmsError::Timeout(500)
    );
}

fn service_ctx(service: &ServiceRole, t: &str) -> TenantContext {
    TenantContext::service(TenantId::new(t).unwrap(), service)
}

#[tokio::test]
async fn kek_rotation_rewraps_to_the_new_version_then_old_versions_retire() {
    let Some(bao) = Bao::connect().await else {
        return;
    };
    let key = bao.new_key(false).await;
    let provider = Arc::new(bao.provider(&key));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let g = Guard::builder()
        .key_provider_arc(provider.clone())
        .store_arc(store.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let service = tg_cap::cap();
    for t in ["t1", "t2", "t3"] {
        let c = service_ctx(&service, t);
        g.keys().create_tenant(&c).await.unwrap();
        g.records()
            .put(&c, &format!("{t}-r"), "note", None, t.as_bytes())
            .await
            .unwrap();
    }
    assert!(bao
        .post(&format!("transit/keys/{key}/rotate"), json!({}))
        .await
        .is_success());
    assert_eq!(
        provider.current_kek().await.unwrap(),
        format!("transit/{key}:v2")
    );
    let mut batches = 0;
    let r = g
        .keys()
        .rewrap(&service, None, 2, |_| batches += 1)
        .await
        .unwrap();
    assert_eq!((r.tenants, r.rewrapped, batches), (3, 3, 2));
    // Retire version 1 in the KMS: everything still opens (with a cold cache).
    assert!(bao
        .post(
            &format!("transit/keys/{key}/config"),
            json!({"min_decryption_version": 2})
        )
        .await
        .is_success());
    let cold = Guard::builder()
        .key_provider_arc(provider.clone())
        .store_arc(store.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    for t in ["t1", "t2", "t3"] {
        let c = service_ctx(&service, t);
        assert_eq!(
            cold.keys().versions(&c).await.unwrap()[0].kek_id,
            format!("transit/{key}:v2")
        );
        assert_eq!(
            cold.records()
                .open_record(&c, &format!("{t}-r"))
                .await
                .unwrap()
                .1
                .expose(),
            t.as_bytes()
        );
    }
    // A v1 wrap is now refused as retired.
    let old = WrappedKey {
        kek_id: format!("transit/{key}:v1"),
        ciphertext: b"vault:v1:AAAA".to_vec(),
    };
    let e = provider.unwrap(&old, &wctx("t1", 1)).await.unwrap_err();
    assert!(
        matches!(e, KmsError::AccessDenied(_) | KmsError::WrongContext),
        "{e:?}"
    );
}

#[tokio::test]
async fn byok_tenant_key_deleted_in_the_kms_locks_out_only_that_tenant() {
    let Some(bao) = Bao::connect().await else {
        return;
    };
    let deployment_key = bao.new_key(false).await;
    let acme_key = bao.new_key(false).await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let build = || {
        Guard::builder()
            .key_provider(bao.provider(&deployment_key))
            .tenant_key_provider("acme-bao", bao.provider(&acme_key))
            .allow_tenant_key_provider("acme-bao", TenantId::new("acme").unwrap())
            .store_arc(store.clone())
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap()
    };
    let g = build();
    let service = tg_cap::cap();
    let (acme, globex) = (
        service_ctx(&service, "acme"),
        service_ctx(&service, "globex"),
    );
    for c in [&acme, &globex] {
        g.keys().create_tenant(c).await.unwrap();
        g.records()
            .put(c, &format!("{}-r", c.tenant()), "note", None, b"secret")
            .await
            .unwrap();
    }
    let r = g
        .keys()
        .set_provider(&acme, Some("acme-bao"))
        .await
        .unwrap();
    assert_eq!(r.rewrapped, 1);
    assert_eq!(
        g.keys().versions(&acme).await.unwrap()[0].kek_id,
        format!("@acme-bao/transit/{acme_key}:v1")
    );
    assert_eq!(
        build()
            .records()
            .open_record(&acme, "acme-r")
            .await
            .unwrap()
            .1
            .expose(),
        b"secret"
    );

    // acme deletes its key in its KMS.
    assert!(bao
        .post(
            &format!("transit/keys/{acme_key}/config"),
            json!({"deletion_allowed": true})
        )
        .await
        .is_success());
    assert!(bao
        .delete(&format!("transit/keys/{acme_key}"))
        .await
        .is_success());
    let cold = build();
    let e = cold
        .records()
        .open_record(&acme, "acme-r")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyProvider, "{e}");
    assert!(e.to_string().contains("not found"), "{e}");
    assert_eq!(
        cold.records()
            .open_record(&globex, "globex-r")
            .await
            .unwrap()
            .1
            .expose(),
        b"secret"
    );
}

/// Per-tenant Transit keys: a database backup restored after a shred opens nothing of the
/// tenant (its Transit key was deleted), other tenants are untouched, and a tenant wrapped
/// under the shared key moves to its own key on rewrap. Both bindings.
#[tokio::test]
async fn shredding_deletes_the_tenants_own_transit_key() {
    let Some(bao) = Bao::connect().await else {
        return;
    };
    for binding in [VaultBinding::AssociatedData, VaultBinding::DerivedContext] {
        let shared = bao.new_key(binding == VaultBinding::DerivedContext).await;
        let prefix = format!("{}-", unique("tgt"));
        let make = || {
            bao.provider_with(&shared, binding, &bao.addr, &bao.token)
                .with_tenant_keys(&prefix)
                .unwrap()
        };
        let per_tenant: Arc<dyn KeyProvider> = Arc::new(make());
        let legacy = Arc::new(bao.provider_with(&shared, binding, &bao.addr, &bao.token));
        let (report, [acme, globex, old]) =
            shred_backup_restore_proof(per_tenant.clone(), legacy).await;
        assert_eq!(report.summary(), "deployment:immediate");
        // The shredded tenant's key is gone from Transit; the others are there.
        let status = |k: String| {
            let bao = &bao;
            async move {
                bao.http
                    .get(format!("{}/v1/transit/keys/{k}", bao.addr))
                    .header("X-Vault-Token", &bao.token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(status(format!("{prefix}{acme}")).await, 404);
        assert_eq!(status(format!("{prefix}{globex}")).await, 200);
        assert_eq!(status(format!("{prefix}{old}")).await, 200);
        // Shredding again, or a tenant never seen, is fine.
        let p = make();
        let again = p
            .destroy_tenant(&TenantId::new(acme.clone()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            again.destruction,
            tenantguard::kms::Destruction::NothingHeld
        );
    }
    // A shared-key provider refuses to destroy one tenant, and says so.
    let shared = bao.new_key(false).await;
    let e = bao
        .provider(&shared)
        .destroy_tenant(&TenantId::new("x").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, KmsError::Unsupported(_)), "{e}");
    assert!(bao.provider(&shared).with_tenant_keys(&shared).is_err());
    assert!(bao.provider(&shared).with_tenant_keys("a/b").is_err());
}
