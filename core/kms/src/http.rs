//! Shared HTTP plumbing of the REST providers (Vault/OpenBao Transit, Google Cloud KMS).

use std::time::Duration;

use tenantguard::kms::KmsError;

/// Largest response body a REST provider reads (64 KiB); wrapped keys are a few hundred bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Longest provider error message kept in an error (characters).
const MAX_MESSAGE_CHARS: usize = 200;

/// A client that never follows redirects (a token must not be sent elsewhere).
pub(crate) fn client(connect_timeout: Duration) -> Result<reqwest::Client, KmsError> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| KmsError::Config(format!("cannot build the HTTP client: {e}")))
}

/// Maps a transport failure.
pub(crate) fn transport(provider: &str, e: &reqwest::Error, timeout_ms: u64) -> KmsError {
    if e.is_timeout() {
        KmsError::Timeout(timeout_ms)
    } else {
        // Connection refused/reset, DNS, TLS: the provider is unreachable for now.
        KmsError::Unavailable(format!(
            "{provider}: request failed: {}",
            short(&e.to_string())
        ))
    }
}

/// Reads at most [`MAX_RESPONSE_BYTES`] of a response body.
pub(crate) async fn body(
    provider: &str,
    mut resp: reqwest::Response,
    timeout_ms: u64,
) -> Result<Vec<u8>, KmsError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| transport(provider, &e, timeout_ms))?
    {
        if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(KmsError::Unavailable(format!(
                "{provider}: response larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Truncates a provider message for an error (they hold no key material, but may be long).
pub(crate) fn short(s: &str) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if s.chars().count() > MAX_MESSAGE_CHARS {
        out.push('…');
    }
    out
}

/// The usual classification of an HTTP error status; `None` for the ones each provider
/// reads itself (400, 404, 412).
pub(crate) fn classify_status(provider: &str, status: u16, message: &str) -> Option<KmsError> {
    match status {
        401 | 403 => Some(KmsError::AccessDenied(format!(
            "{provider}: {}",
            short(message)
        ))),
        408 | 429 | 500 | 502 | 503 | 504 => Some(KmsError::Unavailable(format!(
            "{provider}: HTTP {status}: {}",
            short(message)
        ))),
        400 | 404 | 412 => None,
        _ => Some(KmsError::Config(format!(
            "{provider}: unexpected HTTP {status}: {}",
            short(message)
        ))),
    }
}
