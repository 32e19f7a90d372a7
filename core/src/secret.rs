//! Secret values and typed customer credentials that never print.

use secrecy::{ExposeSecret, SecretBox};
use zeroize::Zeroize;

/// Bytes that are secret: zeroized on drop, printed as `[REDACTED]`.
pub struct SecretBytes(SecretBox<WipedVec>);

/// A byte vector that `secrecy` zeroizes with one `memset` and a barrier (see
/// [`wipe_bytes`]); the secret is `buf[start..]` (a value opened in place keeps its header
/// in front, which is wiped with the rest).
struct WipedVec {
    buf: Vec<u8>,
    start: usize,
}

impl Zeroize for WipedVec {
    fn zeroize(&mut self) {
        zeroize_vec(&mut self.buf);
        self.start = 0;
    }
}

impl SecretBytes {
    /// Takes ownership of `bytes` (the vector is moved, not copied).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self::from_vec_at(bytes, 0)
    }

    /// The secret `buf[start..]` of a buffer it takes whole (`start` is clamped to its
    /// length): a value decrypted in place, after its header.
    pub(crate) fn from_vec_at(buf: Vec<u8>, start: usize) -> Self {
        let start = start.min(buf.len());
        SecretBytes(SecretBox::new(Box::new(WipedVec { buf, start })))
    }

    /// Copies `bytes` into a new secret.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// Borrows the secret bytes. Keep the borrow short and never log it.
    pub fn expose(&self) -> &[u8] {
        let v = self.0.expose_secret();
        v.buf.get(v.start..).unwrap_or_default()
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.expose().len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Clone for SecretBytes {
    fn clone(&self) -> Self {
        Self::from_slice(self.expose())
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        Self::new(v)
    }
}

impl From<String> for SecretBytes {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

impl From<&str> for SecretBytes {
    fn from(s: &str) -> Self {
        Self::from_slice(s.as_bytes())
    }
}

/// What a customer credential is; bound into the sealed value's context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A site password.
    Password,
    /// An API token for a third-party service.
    ApiToken,
    /// A TOTP seed (the shared secret behind one-time codes).
    TotpSeed,
    /// A captured session cookie.
    SessionCookie,
    /// Any other secret.
    Generic,
}

impl CredentialKind {
    /// Every kind, in a stable order.
    pub const ALL: [CredentialKind; 5] = [
        CredentialKind::Password,
        CredentialKind::ApiToken,
        CredentialKind::TotpSeed,
        CredentialKind::SessionCookie,
        CredentialKind::Generic,
    ];

    /// The stable name stored with records and bound into their context.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Password => "password",
            CredentialKind::ApiToken => "api_token",
            CredentialKind::TotpSeed => "totp_seed",
            CredentialKind::SessionCookie => "session_cookie",
            CredentialKind::Generic => "generic",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A customer credential: its kind and its secret. Debug never shows the secret.
#[derive(Clone)]
pub struct Credential {
    kind: CredentialKind,
    secret: SecretBytes,
}

impl Credential {
    /// A credential of `kind`.
    pub fn new(kind: CredentialKind, secret: impl Into<SecretBytes>) -> Self {
        Credential {
            kind,
            secret: secret.into(),
        }
    }

    /// A site password.
    pub fn password(secret: impl Into<SecretBytes>) -> Self {
        Self::new(CredentialKind::Password, secret)
    }

    /// An API token.
    pub fn api_token(secret: impl Into<SecretBytes>) -> Self {
        Self::new(CredentialKind::ApiToken, secret)
    }

    /// A TOTP seed (raw bytes, not base32).
    pub fn totp_seed(secret: impl Into<SecretBytes>) -> Self {
        Self::new(CredentialKind::TotpSeed, secret)
    }

    /// A session cookie.
    pub fn session_cookie(secret: impl Into<SecretBytes>) -> Self {
        Self::new(CredentialKind::SessionCookie, secret)
    }

    /// Any other secret.
    pub fn generic(secret: impl Into<SecretBytes>) -> Self {
        Self::new(CredentialKind::Generic, secret)
    }

    /// The kind.
    pub fn kind(&self) -> CredentialKind {
        self.kind
    }

    /// The secret.
    pub fn secret(&self) -> &SecretBytes {
        &self.secret
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("kind", &self.kind)
            .field("secret", &self.secret)
            .finish()
    }
}

/// Zeroizes a vector's whole capacity before it is dropped.
pub(crate) fn wipe(mut v: Vec<u8>) {
    zeroize_vec(&mut v);
}

/// Zeroizes a vector's whole capacity (spare capacity too) and empties it.
fn zeroize_vec(v: &mut Vec<u8>) {
    // Within capacity, so no reallocation: the bytes being cleared stay where they are.
    v.resize(v.capacity(), 0);
    wipe_bytes(v);
    v.clear();
}

/// Zeroizes `bytes`: one `memset` (the C library's widest stores), then `zeroize`'s
/// optimization barrier, an empty `asm!` block that reads the buffer, so the compiler may not
/// drop the writes as dead even when the memory is freed next. This is `zeroize`'s own
/// recipe for bulk erasure (its `optimization_barrier`); its per-element volatile writes made
/// dropping an opened 1 MiB value cost a sixth of the AES-GCM work (benches/BENCHMARKS.md).
pub(crate) fn wipe_bytes(bytes: &mut [u8]) {
    bytes.fill(0);
    zeroize::optimization_barrier(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipe_bytes_clears_every_byte_at_any_alignment() {
        let mut buf = vec![0xa5u8; 4096 + 64];
        for start in 0..17 {
            for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 4096] {
                buf.fill(0xa5);
                wipe_bytes(&mut buf[start..start + len]);
                assert!(buf[start..start + len].iter().all(|&b| b == 0));
                assert!(
                    buf[..start].iter().all(|&b| b == 0xa5),
                    "before {start}+{len}"
                );
                assert!(
                    buf[start + len..].iter().all(|&b| b == 0xa5),
                    "after {start}+{len}"
                );
            }
        }
    }

    #[test]
    fn zeroize_vec_empties_in_place() {
        let mut v = Vec::with_capacity(100);
        v.extend_from_slice(&[0x5au8; 100]);
        v.truncate(10);
        let (ptr, cap) = (v.as_ptr(), v.capacity());
        zeroize_vec(&mut v);
        assert!(v.is_empty());
        assert_eq!((v.as_ptr(), v.capacity()), (ptr, cap));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credential::password("hunter2");
        let s = format!("{c:?} {:?}", c.secret());
        assert!(!s.contains("hunter2"));
        assert!(s.contains("[REDACTED]"));
        assert_eq!(c.secret().expose(), b"hunter2");
    }

    #[test]
    fn kinds_round_trip() {
        for k in CredentialKind::ALL {
            assert_eq!(CredentialKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(CredentialKind::parse("nope"), None);
    }
}
