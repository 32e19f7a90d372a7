//! Crypto-shredding across key providers: before a tenant's key rows are destroyed, every
//! provider that wraps (or wrapped) its keys destroys the tenant's own key material, so a
//! database backup taken before the shred cannot bring the tenant back.

use std::collections::BTreeSet;

use super::{split_kek_id, KeyState, KmsError, TenantDestruction, WrappedKey};
use crate::crypto::KeyId;
use crate::error::Result;
use crate::guard::Guard;
use crate::tenant::TenantContext;

/// What one key provider did when a tenant was shredded.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderShred {
    /// The provider destroyed (or held no) per-tenant material.
    Destroyed {
        /// The provider: `deployment` or the name of a tenant key provider.
        provider: String,
        /// What the provider did and when it takes effect.
        destruction: TenantDestruction,
    },
    /// The provider cannot destroy one tenant's material (it wraps every tenant under a
    /// shared key, or is not configured in this guard): copies of the tenant's wrapped keys
    /// made before the shred (database backups) can still be unwrapped by it.
    Unsupported {
        /// The provider: `deployment` or the name of a tenant key provider.
        provider: String,
        /// Why, from the provider.
        reason: String,
    },
}

/// What shredding a tenant destroyed at the key providers, and what it could not guarantee.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShredReport {
    /// One entry per provider asked: the deployment provider always, and each tenant key
    /// provider that wrapped one of the tenant's live key versions.
    pub providers: Vec<ProviderShred>,
    /// Key versions that were wrapped without per-tenant material when the tenant was
    /// shredded (wrapped before per-tenant material existed and never re-wrapped by the
    /// KEK-rotation job): a backup holding them opens as long as their KEK exists.
    pub shared_kek_keys: Vec<KeyId>,
}

impl ShredReport {
    /// True when a database backup taken before the shred can no longer open anything of
    /// the tenant: every provider destroyed its material (or held none) and no key version
    /// was wrapped under a shared KEK alone.
    pub fn backups_unreadable(&self) -> bool {
        self.shared_kek_keys.is_empty()
            && self
                .providers
                .iter()
                .all(|p| matches!(p, ProviderShred::Destroyed { .. }))
    }

    /// One line per provider for the audit log: `name:immediate`, `name:scheduled:30d`,
    /// `name:nothing_held`, `name:unsupported`.
    pub fn summary(&self) -> String {
        self.providers
            .iter()
            .map(|p| match p {
                ProviderShred::Destroyed {
                    provider,
                    destruction,
                } => match destruction.destruction {
                    super::Destruction::Scheduled { days } => {
                        format!("{provider}:scheduled:{days}d")
                    }
                    d => format!("{provider}:{}", d.as_str()),
                },
                ProviderShred::Unsupported { provider, .. } => format!("{provider}:unsupported"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Guard {
    /// Asks every provider of the tenant to destroy its per-tenant material. A provider
    /// failure (unreachable, denied) stops here, before anything is destroyed in the store,
    /// so the shred can simply be run again; "unsupported" is reported, not an error.
    pub(crate) async fn destroy_tenant_material(&self, ctx: &TenantContext) -> Result<ShredReport> {
        let keys = self.store().tenant_keys(ctx).await?;
        // Besides the providers its live keys name, every named provider this tenant may
        // use: it may have moved back to the deployment provider since one wrapped its keys,
        // or a database writer may have edited the KEK ids so that no row names it; either
        // way a database backup from then names it, and its material must go too.
        let mut names: BTreeSet<Option<String>> = BTreeSet::from([None]);
        names.extend(self.providers_allowed_for(ctx.tenant()).map(Some));
        let mut report = ShredReport::default();
        for k in keys.iter().filter(|k| k.state != KeyState::Destroyed) {
            let (name, kek) = split_kek_id(&k.kek_id);
            names.insert(name.map(str::to_owned));
            let bound = self.provider_named(name).is_ok_and(|p| {
                p.tenant_bound(&WrappedKey {
                    kek_id: kek.to_owned(),
                    ciphertext: k.wrapped.clone(),
                })
            });
            if !bound {
                report.shared_kek_keys.push(k.key_id);
            }
        }
        for name in names {
            let label = name.clone().unwrap_or_else(|| "deployment".to_owned());
            let provider = match self.provider_named(name.as_deref()) {
                Ok(p) => p,
                Err(e) => {
                    report.providers.push(ProviderShred::Unsupported {
                        provider: label,
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            match provider.destroy_tenant(ctx.tenant()).await {
                Ok(destruction) => report.providers.push(ProviderShred::Destroyed {
                    provider: label,
                    destruction,
                }),
                Err(KmsError::Unsupported(reason)) => {
                    report.providers.push(ProviderShred::Unsupported {
                        provider: label,
                        reason,
                    })
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }
}
