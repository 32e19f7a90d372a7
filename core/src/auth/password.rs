//! Password hashing with argon2id (PHC strings), per-user random salts, constant-time
//! verification and `needs_rehash` when the parameters rise.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, Version};
use subtle::ConstantTimeEq;

use super::AuthError;

/// Longest password accepted, in bytes (bounds the work an attacker can make us do).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Salt length, bytes (from the OS generator).
pub const SALT_LEN: usize = 16;
/// Hash output length, bytes.
pub const OUTPUT_LEN: usize = 32;
/// Largest memory cost a stored hash may ask for at verification (1 GiB, in KiB).
pub const MAX_M_COST_KIB: u32 = 1024 * 1024;
/// Largest time or parallelism cost a stored hash may ask for at verification.
pub const MAX_T_OR_P_COST: u32 = 64;

/// OWASP's argon2id configurations (Password Storage Cheat Sheet), as (m KiB, t, p).
/// Parameters are accepted if they are at least as strong as one of them in both m and t.
pub const OWASP_ARGON2ID: [(u32, u32, u32); 5] = [
    (47_104, 1, 1),
    (19_456, 2, 1),
    (12_288, 3, 1),
    (9_216, 4, 1),
    (7_168, 5, 1),
];

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory, KiB.
    pub m_cost_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for PasswordParams {
    /// m = 19 MiB, t = 2, p = 1 (OWASP's recommendation).
    fn default() -> Self {
        PasswordParams {
            m_cost_kib: 19_456,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl PasswordParams {
    /// Whether these meet at least one OWASP configuration.
    pub fn meets_owasp(&self) -> bool {
        self.p_cost >= 1
            && OWASP_ARGON2ID
                .iter()
                .any(|&(m, t, _)| self.m_cost_kib >= m && self.t_cost >= t)
    }
}

/// Hashes and verifies passwords. Plaintext passwords are only borrowed, never stored,
/// logged or put in errors.
#[derive(Debug, Clone, Default)]
pub struct PasswordHasher {
    params: PasswordParams,
}

/// The outcome of a successful verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasswordCheck {
    /// The stored hash uses weaker parameters (or another variant) than the current ones:
    /// hash the password again now that it is known, and store the new hash.
    pub needs_rehash: bool,
}

fn argon(p: &PasswordParams) -> Result<Argon2<'static>, AuthError> {
    let params = Params::new(p.m_cost_kib, p.t_cost, p.p_cost, Some(OUTPUT_LEN))
        .map_err(|_| AuthError::WeakParams)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn check_len(password: &str) -> Result<(), AuthError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return Err(AuthError::InvalidInput(format!(
            "password must be 1 to {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

struct Parsed {
    params: Params,
    version: Version,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse(phc: &str) -> Result<Parsed, AuthError> {
    if phc.len() > 512 {
        return Err(AuthError::MalformedHash);
    }
    let h = PasswordHash::new(phc).map_err(|_| AuthError::MalformedHash)?;
    if h.algorithm.as_str() != "argon2id" {
        return Err(AuthError::MalformedHash);
    }
    let version = match h.version {
        None | Some(0x13) => Version::V0x13,
        Some(0x10) => Version::V0x10,
        Some(_) => return Err(AuthError::MalformedHash),
    };
    let params = Params::try_from(&h).map_err(|_| AuthError::MalformedHash)?;
    if params.m_cost() > MAX_M_COST_KIB
        || params.t_cost() > MAX_T_OR_P_COST
        || params.p_cost() > MAX_T_OR_P_COST
    {
        return Err(AuthError::MalformedHash);
    }
    let salt = h
        .salt
        .as_ref()
        .map(|s| s.as_ref().to_vec())
        .ok_or(AuthError::MalformedHash)?;
    let hash = h
        .hash
        .as_ref()
        .map(|o| o.as_bytes().to_vec())
        .ok_or(AuthError::MalformedHash)?;
    Ok(Parsed {
        params,
        version,
        salt,
        hash,
    })
}

impl PasswordHasher {
    /// A hasher with `params`; `WeakParams` if they are below every OWASP configuration.
    pub fn new(params: PasswordParams) -> Result<Self, AuthError> {
        if !params.meets_owasp()
            || params.m_cost_kib > MAX_M_COST_KIB
            || params.t_cost > MAX_T_OR_P_COST
            || params.p_cost > MAX_T_OR_P_COST
        {
            return Err(AuthError::WeakParams);
        }
        argon(&params)?;
        Ok(PasswordHasher { params })
    }

    /// The current parameters.
    pub fn params(&self) -> PasswordParams {
        self.params
    }

    /// Hashes `password` (1 to 1024 bytes) with a fresh 16-byte salt from the OS
    /// generator; returns a PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
    pub fn hash(&self, password: &str) -> Result<String, AuthError> {
        check_len(password)?;
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|_| AuthError::Rng)?;
        let h = argon(&self.params)?
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map_err(|_| AuthError::WeakParams)?;
        Ok(h.to_string())
    }

    /// Verifies `password` against a stored PHC string, comparing in constant time.
    /// `WrongPassword` on mismatch; `MalformedHash` if the string is not an argon2id hash
    /// within the verification limits.
    pub fn verify(&self, password: &str, phc: &str) -> Result<PasswordCheck, AuthError> {
        check_len(password)?;
        let p = parse(phc)?;
        if p.hash.len() < 16 || p.hash.len() > 64 || p.salt.len() < 8 {
            return Err(AuthError::MalformedHash);
        }
        let mut out = vec![0u8; p.hash.len()];
        let a = Argon2::new(Algorithm::Argon2id, p.version, p.params.clone());
        a.hash_password_into(password.as_bytes(), &p.salt, &mut out)
            .map_err(|_| AuthError::MalformedHash)?;
        let ok: bool = out.ct_eq(&p.hash).into();
        zeroize::Zeroize::zeroize(&mut out);
        if !ok {
            return Err(AuthError::WrongPassword);
        }
        Ok(PasswordCheck {
            needs_rehash: self.weaker(&p),
        })
    }

    /// Whether a stored hash should be replaced: another variant or version, or any cost,
    /// salt or output length below the current parameters. Unparseable hashes need it too.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        parse(phc).map(|p| self.weaker(&p)).unwrap_or(true)
    }

    fn weaker(&self, p: &Parsed) -> bool {
        p.version != Version::V0x13
            || p.params.m_cost() < self.params.m_cost_kib
            || p.params.t_cost() < self.params.t_cost
            || p.params.p_cost() < self.params.p_cost
            || p.salt.len() < SALT_LEN
            || p.hash.len() < OUTPUT_LEN
    }
}
