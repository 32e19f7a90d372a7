//! Per-tenant bring-your-own-key: a [`crate::Guard`] holds, besides its deployment key
//! provider, any number of *named* providers (`GuardBuilder::tenant_key_provider`). A data
//! key wrapped by a named provider is stored with the KEK id `@<name>/<provider's KEK id>`;
//! any other KEK id belongs to the deployment provider. So each tenant's key record names
//! the provider and key that wrap it, new key versions of a tenant go to the provider of
//! its active key, and KEK rotation re-wraps each key under its own provider.

use std::collections::HashMap;
use std::sync::Arc;

use super::{KeyProvider, KeyState, KmsError, TenantKeyRecord, WrapContext, WrappedKey};
use crate::crypto::DataKey;
use crate::error::Result;
use crate::guard::Guard;
use crate::storage::StoreError;
use crate::tenant::TenantContext;

/// Longest name of a tenant key provider.
pub const MAX_PROVIDER_NAME_LEN: usize = 64;
/// Most named tenant key providers one guard holds.
pub const MAX_TENANT_PROVIDERS: usize = 10_000;

/// Checks a provider name: 1 to 64 characters of `a-z`, `0-9`, `-`, `_`, `.`.
pub fn validate_provider_name(name: &str) -> Result<(), KmsError> {
    if name.is_empty()
        || name.len() > MAX_PROVIDER_NAME_LEN
        || !name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
    {
        return Err(KmsError::Config(format!(
            "tenant key provider names must be 1 to {MAX_PROVIDER_NAME_LEN} characters of a-z, 0-9, '-', '_', '.'"
        )));
    }
    Ok(())
}

/// The stored KEK id of a key wrapped by named provider `provider` under its KEK `kek`.
pub fn tagged_kek_id(provider: &str, kek: &str) -> String {
    format!("@{provider}/{kek}")
}

/// Splits a stored KEK id into the named provider (None: the deployment provider) and
/// that provider's own KEK id.
pub fn split_kek_id(kek_id: &str) -> (Option<&str>, &str) {
    match kek_id
        .strip_prefix('@')
        .and_then(|rest| rest.split_once('/'))
    {
        Some((name, kek)) => (Some(name), kek),
        None => (None, kek_id),
    }
}

impl Guard {
    /// The provider for `name` (None: the deployment provider).
    pub(crate) fn provider_named(
        &self,
        name: Option<&str>,
    ) -> Result<Arc<dyn KeyProvider>, KmsError> {
        match name {
            None => Ok(self.default_provider()),
            Some(n) => self.tenant_providers().get(n).cloned().ok_or_else(|| {
                KmsError::Config(format!(
                    "no tenant key provider named {n:?} is configured in this guard"
                ))
            }),
        }
    }

    /// The named provider that wraps the tenant's new keys (None: the deployment one).
    pub(crate) fn provider_of(keys: &[TenantKeyRecord]) -> Option<String> {
        keys.iter()
            .find(|k| k.state == KeyState::Active)
            .and_then(|k| split_kek_id(&k.kek_id).0.map(str::to_owned))
    }

    /// Wraps `key` with provider `name`, returning the KEK id to store.
    pub(crate) async fn wrap_with(
        &self,
        name: Option<&str>,
        key: &DataKey,
        ctx: &WrapContext,
    ) -> Result<WrappedKey, KmsError> {
        let provider = self.provider_named(name)?;
        let w = provider.wrap(key, ctx).await?;
        match name {
            Some(n) => Ok(WrappedKey {
                kek_id: tagged_kek_id(n, &w.kek_id),
                ciphertext: w.ciphertext,
            }),
            None if w.kek_id.starts_with('@') => Err(KmsError::Config(
                "the deployment key provider returned a KEK id starting with '@' (reserved)".into(),
            )),
            None => Ok(w),
        }
    }

    /// Unwraps a stored key with the provider its KEK id names.
    pub(crate) async fn unwrap_stored(
        &self,
        kek_id: &str,
        ciphertext: Vec<u8>,
        ctx: &WrapContext,
    ) -> Result<DataKey, KmsError> {
        let (name, kek) = split_kek_id(kek_id);
        let provider = self.provider_named(name)?;
        provider
            .unwrap(
                &WrappedKey {
                    kek_id: kek.to_owned(),
                    ciphertext,
                },
                ctx,
            )
            .await
    }

    /// Re-wraps `k` under the current KEK of provider `target` unless it already is.
    /// `currents` caches each provider's current KEK.
    pub(crate) async fn rewrap_record(
        &self,
        ctx: &TenantContext,
        k: &TenantKeyRecord,
        target: Option<&str>,
        currents: &mut HashMap<Option<String>, String>,
    ) -> Result<Rewrap> {
        let current = match currents.get(&target.map(str::to_owned)) {
            Some(c) => c.clone(),
            None => {
                let c = self.provider_named(target)?.current_kek().await?;
                currents.insert(target.map(str::to_owned), c.clone());
                c
            }
        };
        let (name, kek) = split_kek_id(&k.kek_id);
        if name == target
            && self.provider_named(target)?.is_current(
                &WrappedKey {
                    kek_id: kek.to_owned(),
                    ciphertext: k.wrapped.clone(),
                },
                &current,
            )
        {
            return Ok(Rewrap::Current);
        }
        let wctx = WrapContext {
            tenant: ctx.tenant().clone(),
            key_id: k.key_id,
        };
        let data_key = self
            .unwrap_stored(&k.kek_id, k.wrapped.clone(), &wctx)
            .await?;
        let new = self.wrap_with(target, &data_key, &wctx).await?;
        Ok(
            match self
                .store()
                .rewrap_key(ctx, k.key_id, &k.kek_id, &new.kek_id, &new.ciphertext)
                .await?
            {
                true => Rewrap::Rewrapped,
                false => Rewrap::Raced,
            },
        )
    }
}

/// The stored form of provider `target`'s current KEK, from a `rewrap_record` cache.
pub(crate) fn current_tagged(
    currents: &HashMap<Option<String>, String>,
    target: Option<&str>,
) -> String {
    match (currents.get(&target.map(str::to_owned)), target) {
        (Some(c), Some(n)) => tagged_kek_id(n, c),
        (Some(c), None) => c.clone(),
        (None, _) => String::new(),
    }
}

/// What [`Guard::rewrap_record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rewrap {
    /// Already under the target's current KEK.
    Current,
    /// Re-wrapped.
    Rewrapped,
    /// Changed concurrently by another job (nothing written).
    Raced,
}

/// Errors that mean "the tenant does not exist yet" when looking up its provider.
pub(crate) fn is_missing_tenant(e: &StoreError) -> bool {
    matches!(e, StoreError::TenantNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kek_ids_split_and_tag() {
        assert_eq!(split_kek_id("kek-1"), (None, "kek-1"));
        assert_eq!(
            split_kek_id("arn:aws:kms:us-east-1:1:key/x"),
            (None, "arn:aws:kms:us-east-1:1:key/x")
        );
        let t = tagged_kek_id("acme-aws", "arn:aws:kms:us-east-1:1:key/x");
        assert_eq!(t, "@acme-aws/arn:aws:kms:us-east-1:1:key/x");
        assert_eq!(
            split_kek_id(&t),
            (Some("acme-aws"), "arn:aws:kms:us-east-1:1:key/x")
        );
        assert!(validate_provider_name("acme-aws").is_ok());
        for bad in ["", "Acme", "a/b", "a@b", &"x".repeat(65)] {
            assert!(validate_provider_name(bad).is_err(), "{bad}");
        }
    }
}
