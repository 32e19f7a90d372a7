//! Provider credential formats: a fixed prefix, then a body from one alphabet with a length
//! range. Each entry is written from the provider's own documentation of its token format
//! (named in the comment above each group); where a provider documents only the prefix, the
//! length range is the one its published tokens have.
//!
//! Order matters only between prefixes where one starts another (`sk-ant-api03-` before
//! `sk-`): the first entry whose prefix, body alphabet and length all fit wins.

use super::Kind;

/// A body alphabet.
pub(crate) type Body = fn(u8) -> bool;

pub(crate) fn an(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
pub(crate) fn an_us(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
pub(crate) fn an_dash(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}
pub(crate) fn b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}
fn b64url_dot(b: u8) -> bool {
    b64url(b) || b == b'.'
}
fn b64url_eq(b: u8) -> bool {
    b64url(b) || b == b'='
}
fn b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}
fn b64_us(b: u8) -> bool {
    b64(b) || b == b'_'
}
fn hex_lower(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}
fn hex_any(b: u8) -> bool {
    b.is_ascii_hexdigit()
}
fn hex_dash(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b'-'
}
fn upper_digit(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}
fn base32_upper(b: u8) -> bool {
    b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)
}
fn lower_digit(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}
fn letters(b: u8) -> bool {
    b.is_ascii_alphabetic()
}
fn an_dot_us(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_'
}
fn an_dot_dash_us(b: u8) -> bool {
    b64url_dot(b)
}
fn an_dollar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'$'
}
fn an_pct(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'%'
}
fn pscale(b: u8) -> bool {
    b64url_dot(b) || b == b'='
}
/// Percent-encoded signed cookie body: `<value>.<signature>` with `%2B`, `%2F`, `%3D` escapes.
fn cookie(b: u8) -> bool {
    b64url_dot(b) || b == b'%' || b == b'+' || b == b'/'
}

/// One format: prefix, body alphabet, shortest and longest body, what it is.
pub(crate) struct Format {
    pub(crate) prefix: &'static [u8],
    pub(crate) body: Body,
    pub(crate) min: u16,
    pub(crate) max: u16,
    pub(crate) kind: Kind,
}

const fn f(prefix: &'static [u8], body: Body, min: u16, max: u16) -> Format {
    Format {
        prefix,
        body,
        min,
        max,
        kind: Kind::ApiKey,
    }
}

const fn k(prefix: &'static [u8], body: Body, min: u16, max: u16, kind: Kind) -> Format {
    Format {
        prefix,
        body,
        min,
        max,
        kind,
    }
}

#[rustfmt::skip]
pub(crate) const FORMATS: &[Format] = &[
    // AWS IAM User Guide, "Unique identifiers" (access key ids: AKIA long-term, ASIA temporary
    // STS, ABIA STS service bearer, ACCA context-specific; 16 characters of A-Z and 2-7).
    f(b"AKIA", base32_upper, 16, 16),
    f(b"ASIA", base32_upper, 16, 16),
    f(b"ABIA", base32_upper, 16, 16),
    f(b"ACCA", base32_upper, 16, 16),
    // Amazon Bedrock User Guide, "API keys": long-term keys ABSK + base64; short-term keys
    // start with the base64 of "bedrock.amazonaws.com".
    f(b"ABSK", b64, 100, 300),
    f(b"bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t", an_pct, 20, 4000),
    // Amazon MWS developer guide, "MWS Auth Token": amzn.mws. + UUID.
    f(b"amzn.mws.", hex_dash, 36, 36),
    // GitHub Docs, "About authentication to GitHub", token formats: ghp_ (classic personal),
    // gho_ (OAuth), ghu_ (user-to-server), ghs_ (server-to-server), ghr_ (refresh); 36 base62
    // today, documented as able to grow (255 characters at most).
    f(b"ghp_", an, 36, 251),
    f(b"gho_", an, 36, 251),
    f(b"ghu_", an, 36, 251),
    f(b"ghs_", an, 36, 251),
    f(b"ghr_", an, 36, 251),
    // GitHub Docs, "Managing your personal access tokens": fine-grained tokens github_pat_.
    f(b"github_pat_", an_us, 22, 244),
    // GitLab Docs, "GitLab token overview", token prefixes (routable tokens add `.`-parts).
    f(b"glpat-", b64url_dot, 20, 300),
    f(b"gldt-", b64url_dot, 20, 300),
    f(b"glrt-", b64url_dot, 20, 300),
    f(b"glptt-", hex_lower, 40, 40),
    f(b"GR1348941", b64url, 20, 20),
    f(b"glsoat-", b64url, 20, 300),
    f(b"glcbt-", b64url, 20, 300),
    f(b"glffct-", b64url, 20, 300),
    f(b"glft-", b64url, 20, 300),
    f(b"glimt-", b64url, 25, 300),
    f(b"glagent-", b64url, 50, 300),
    f(b"gloas-", b64url, 64, 300),
    // Slack API docs, "Token types": bot, user, workspace, refresh, legacy, app-level,
    // configuration and rotating tokens.
    f(b"xoxe.xoxp-", an_dash, 20, 250),
    f(b"xoxe.xoxb-", an_dash, 20, 250),
    f(b"xoxb-", an_dash, 10, 250),
    f(b"xoxp-", an_dash, 10, 250),
    f(b"xoxa-", an_dash, 10, 250),
    f(b"xoxr-", an_dash, 10, 250),
    f(b"xoxs-", an_dash, 10, 250),
    f(b"xoxe-", an_dash, 10, 250),
    f(b"xoxo-", an_dash, 10, 250),
    f(b"xoxc-", an_dash, 10, 250),
    f(b"xapp-", an_dash, 10, 250),
    // Stripe Docs, "API keys": secret and restricted keys, live and test; webhook signing
    // secrets (whsec_). Publishable keys (pk_) are public by design and not listed.
    f(b"sk_live_", an, 16, 247),
    f(b"rk_live_", an, 16, 247),
    f(b"sk_test_", an, 16, 247),
    f(b"rk_test_", an, 16, 247),
    f(b"whsec_", an, 24, 249),
    // Checkout.com docs, "API keys": sandbox secret keys.
    f(b"sk_sbox_", b64url, 26, 60),
    // ElevenLabs API reference, "Authentication": sk_ + 48 hex.
    f(b"sk_", hex_lower, 48, 48),
    // Anthropic API docs, "API keys" (console keys sk-ant-api03-, admin keys sk-ant-admin01-).
    f(b"sk-ant-api03-", b64url, 90, 120),
    f(b"sk-ant-admin01-", b64url, 90, 120),
    // OpenRouter docs, "API keys": sk-or-v1- + 64 hex.
    f(b"sk-or-v1-", hex_lower, 64, 64),
    // OpenAI API reference, "Authentication": project, service-account and admin keys.
    f(b"sk-proj-", b64url, 40, 250),
    f(b"sk-svcacct-", b64url, 40, 250),
    f(b"sk-admin-", b64url, 40, 250),
    // sk- + base62/base64url: OpenAI user keys (legacy), DeepSeek, Moonshot, Stability AI
    // (each documents `sk-` keys).
    f(b"sk-", b64url, 20, 252),
    // Google Cloud docs, "Manage API keys" (AIza + 35); Google Identity, "OAuth 2.0" access
    // tokens (ya29.) and refresh tokens (1//); OAuth client secrets (GOCSPX-).
    f(b"AIza", b64url, 35, 35),
    f(b"ya29.", b64url_dot, 20, 2048),
    f(b"1//0", b64url, 40, 512),
    f(b"GOCSPX-", b64url, 28, 28),
    // Firebase Cloud Messaging docs, legacy server keys (AAAA<id>:APA91b...), after the colon.
    f(b"APA91b", b64url, 100, 300),
    // Twilio docs, "API keys overview": API key SIDs SK + 32 hex (account SIDs AC... are ids).
    f(b"SK", hex_any, 32, 32),
    // Twilio SendGrid docs, "API keys": SG.<22>.<43>.
    f(b"SG.", b64url_dot, 60, 70),
    // Mailgun docs, "API keys" (legacy private keys key- + 32 hex).
    f(b"key-", hex_lower, 32, 32),
    // npm Docs, "About access tokens": npm_ + 36.
    f(b"npm_", an, 36, 36),
    // PyPI help, "API tokens": pypi- + a macaroon whose base64 starts with the issuer
    // ("pypi.org" or "test.pypi.org").
    f(b"pypi-AgEIcHlwaS5vcmc", b64url, 50, 1000),
    f(b"pypi-AgENdGVzdC5weXBpLm9yZw", b64url, 50, 1000),
    // Docker Docs, "Personal access tokens" and "Organization access tokens".
    f(b"dckr_pat_", b64url, 27, 60),
    f(b"dckr_oat_", b64url, 27, 60),
    // Hugging Face Hub docs, "User access tokens" (hf_) and organization tokens (api_org_).
    f(b"hf_", letters, 30, 40),
    f(b"api_org_", letters, 30, 40),
    // Shopify dev docs, "Access tokens": admin, custom app, private app, shared secret.
    f(b"shpat_", hex_any, 32, 32),
    f(b"shpca_", hex_any, 32, 32),
    f(b"shppa_", hex_any, 32, 32),
    f(b"shpss_", hex_any, 32, 32),
    // DigitalOcean docs, "Personal access tokens" (dop_v1_), OAuth (doo_v1_), refresh (dor_v1_).
    f(b"dop_v1_", hex_lower, 64, 64),
    f(b"doo_v1_", hex_lower, 64, 64),
    f(b"dor_v1_", hex_lower, 64, 64),
    // Linear developers docs, "Personal API keys": lin_api_ + 40.
    f(b"lin_api_", an, 40, 40),
    // Postman docs, "Postman API keys": PMAK-<24 hex>-<34 hex>.
    f(b"PMAK-", hex_dash, 59, 59),
    // Doppler docs, "Token formats": personal, service, service account, CLI, SCIM, audit.
    f(b"dp.pt.", an_dot_us, 40, 100),
    f(b"dp.st.", an_dot_us, 40, 100),
    f(b"dp.sa.", an_dot_us, 40, 100),
    f(b"dp.ct.", an_dot_us, 40, 100),
    f(b"dp.scim.", an_dot_us, 40, 100),
    f(b"dp.audit.", an_dot_us, 40, 100),
    // HashiCorp Vault docs, "Tokens" (1.10+ prefixes): service hvs., batch hvb., recovery hvr.
    f(b"hvs.", b64url, 90, 300),
    f(b"hvb.", b64url, 90, 300),
    f(b"hvr.", b64url, 20, 300),
    // Pulumi docs, "Access tokens": pul- + 40 hex.
    f(b"pul-", hex_lower, 40, 40),
    // Grafana docs, "Service account tokens" (glsa_<32>_<8 hex>) and Grafana Cloud access
    // policy tokens (glc_ + base64).
    f(b"glsa_", an_us, 41, 41),
    f(b"glc_", b64, 32, 400),
    // New Relic docs, "New Relic API keys": user (NRAK-), ingest (NRII-), browser (NRJS-),
    // admin (NRAA-).
    f(b"NRAK-", upper_digit, 27, 27),
    f(b"NRII-", an_dash, 32, 32),
    f(b"NRJS-", hex_lower, 19, 19),
    f(b"NRAA-", upper_digit, 27, 27),
    // Sentry docs, "Auth tokens": organization tokens (sntrys_) and user tokens (sntryu_).
    f(b"sntrys_", b64_us, 100, 600),
    f(b"sntryu_", hex_lower, 64, 64),
    // Databricks docs, "Personal access tokens": dapi + 32 hex.
    f(b"dapi", hex_lower, 32, 32),
    // Dynatrace docs, "Access tokens", token format dt0c01.<public 24>.<secret 64>.
    f(b"dt0c01.", an_dot_us, 89, 89),
    // Fly.io docs, "Access tokens": fo1_ and macaroon tokens fm2_.
    f(b"fo1_", b64url, 43, 43),
    f(b"fm2_", b64, 100, 4000),
    f(b"fm1a_", b64, 100, 4000),
    f(b"fm1r_", b64, 100, 4000),
    // Heroku Dev Center, "Heroku API keys" (HRKU-AA + 58).
    f(b"HRKU-AA", b64url, 58, 58),
    // Atlassian support, "Manage API tokens for your Atlassian account" (ATATT3...) and
    // Atlassian/Bitbucket access tokens (ATCTT3...).
    f(b"ATATT3", b64url_eq, 180, 220),
    f(b"ATCTT3", b64url_eq, 180, 220),
    // Bitbucket Cloud docs, "App passwords": ATBB + 32.
    f(b"ATBB", an, 32, 32),
    // 1Password developer docs, "Service accounts": ops_ + base64 JSON.
    f(b"ops_eyJ", b64, 250, 4000),
    // age specification, "Native X25519 identities": AGE-SECRET-KEY-1 + 58 Bech32.
    k(b"AGE-SECRET-KEY-1", upper_digit, 58, 58, Kind::PrivateKey),
    // Square developer docs, "Access tokens": EAAA (production and sandbox), legacy
    // sq0atp- access tokens and sq0csp- application secrets.
    f(b"EAAA", b64url, 60, 60),
    f(b"sq0atp-", b64url, 22, 22),
    f(b"sq0csp-", b64url, 43, 43),
    // Supabase docs, "Access tokens" (sbp_ + 40 hex) and "API keys" (sb_secret_).
    f(b"sbp_", hex_lower, 40, 40),
    f(b"sb_secret_", b64url, 31, 64),
    // Tailscale docs, "Keys": API, auth, OAuth client, webhook and SCIM keys.
    f(b"tskey-api-", an_dash, 20, 80),
    f(b"tskey-auth-", an_dash, 20, 80),
    f(b"tskey-client-", an_dash, 20, 80),
    f(b"tskey-webhook-", an_dash, 20, 80),
    f(b"tskey-scim-", an_dash, 20, 80),
    // GroqCloud docs, "API keys": gsk_ + 52.
    f(b"gsk_", an, 52, 52),
    // Perplexity API docs, "API key": pplx- + 48.
    f(b"pplx-", an, 48, 48),
    // Replicate docs, "API tokens": r8_ + 37.
    f(b"r8_", an, 37, 37),
    // xAI API docs, "API key": xai- + 80.
    f(b"xai-", an, 80, 80),
    // Notion developers, "Authorization": internal integration secrets ntn_ (46) and the
    // older secret_ (43).
    f(b"ntn_", an, 46, 46),
    f(b"secret_", an, 43, 43),
    // RubyGems guides, "API key scopes": rubygems_ + 48 hex.
    f(b"rubygems_", hex_lower, 48, 48),
    // Brevo (Sendinblue) developer docs, "API keys" and SMTP keys.
    f(b"xkeysib-", an_dash, 81, 81),
    f(b"xsmtpsib-", an_dash, 81, 81),
    // PlanetScale docs, "Service tokens", "Connection strings" and OAuth tokens.
    f(b"pscale_tkn_", pscale, 32, 64),
    f(b"pscale_pw_", pscale, 32, 64),
    f(b"pscale_oauth_", pscale, 32, 64),
    // Alibaba Cloud docs, "Create an AccessKey pair": LTAI + 12 to 20.
    f(b"LTAI", an, 12, 20),
    // Razorpay docs, "API keys": rzp_live_ / rzp_test_ + 14.
    f(b"rzp_live_", an, 14, 14),
    f(b"rzp_test_", an, 14, 14),
    // Mapbox docs, "Access tokens": secret tokens sk. + a base64url JWT-like body.
    f(b"sk.eyJ", b64url_dot, 60, 300),
    // Adobe Developer docs, "OAuth Server-to-Server credentials": client secrets p8e- + 32.
    f(b"p8e-", an, 32, 32),
    // JFrog docs, "API keys" (AKCp + 69) and "Reference tokens" (cmVmd + 59).
    f(b"AKCp", an, 69, 69),
    f(b"cmVmd", an, 59, 59),
    // Clojars wiki, "Deploy tokens": CLOJARS_ + 60.
    f(b"CLOJARS_", an, 60, 60),
    // Cloudflare docs, "Origin CA keys": v1.0-<24 hex>-<146 hex>.
    f(b"v1.0-", hex_dash, 171, 171),
    // Contentful docs, "Personal access tokens": CFPAT- + 43.
    f(b"CFPAT-", b64url, 43, 43),
    // Duffel docs, "Access tokens": duffel_live_ / duffel_test_ + 43.
    f(b"duffel_live_", b64url_eq, 43, 43),
    f(b"duffel_test_", b64url_eq, 43, 43),
    // EasyPost docs, "API keys": production EZAK and test EZTK + 54.
    f(b"EZAK", an, 54, 54),
    f(b"EZTK", an, 54, 54),
    // Flutterwave docs, "API keys": secret keys and encryption keys.
    f(b"FLWSECK_TEST-", an_dash, 12, 40),
    f(b"FLWSECK-", an_dash, 12, 40),
    // Frame.io developer docs, "Developer tokens": fio-u- + 64.
    f(b"fio-u-", b64url_eq, 64, 64),
    // Infracost docs, "API keys": ico- + 32.
    f(b"ico-", an, 32, 32),
    // 42 API docs, application secrets s-s4t2ud- / s-s4t2af- + 64 hex.
    f(b"s-s4t2ud-", hex_lower, 64, 64),
    f(b"s-s4t2af-", hex_lower, 64, 64),
    // Prefect docs, "Manage API keys": pnu_ + 36.
    f(b"pnu_", an, 36, 36),
    // ReadMe docs, "API keys": rdme_ + 70.
    f(b"rdme_", lower_digit, 70, 70),
    // Scalingo docs, "API tokens": tk-us- + 48.
    f(b"tk-us-", b64url, 48, 48),
    // SettleMint docs, "Access tokens": personal, application and service tokens.
    f(b"sm_pat_", an, 16, 16),
    f(b"sm_aat_", an, 16, 16),
    f(b"sm_sat_", an, 16, 16),
    // Shippo docs, "Authentication": shippo_live_ / shippo_test_ + 40 hex.
    f(b"shippo_live_", hex_any, 40, 40),
    f(b"shippo_test_", hex_any, 40, 40),
    // Sourcegraph docs, "Access tokens": sgp_ + 40 hex, or sgp_<16 hex or local>_<40 hex>.
    f(b"sgp_", an_us, 40, 62),
    // Typeform developer docs, "Personal access token": tfp_ + 59.
    f(b"tfp_", an_dot_dash_us, 59, 59),
    // Yandex Cloud docs, "API key" (AQVN), static access keys (YCAJ/YCM...), IAM tokens (t1.).
    f(b"AQVN", b64url, 35, 38),
    f(b"YC", b64url, 38, 38),
    f(b"t1.", b64url_dot, 80, 400),
    // Octopus Deploy docs, "How to create an API key": API- + 26 upper case / digits.
    f(b"API-", upper_digit, 26, 32),
    // Red Hat OpenShift docs, "OAuth access tokens": sha256~ + 43.
    f(b"sha256~", b64url, 43, 43),
    // Harness docs, "API keys": pat.<account 22>.<id 24>.<secret 20>, and service tokens sat.
    f(b"pat.", b64url_dot, 68, 68),
    f(b"sat.", b64url_dot, 68, 68),
    // HubSpot developer docs, "Private app access tokens": pat-<region>- + UUID.
    f(b"pat-na1-", hex_dash, 36, 36),
    f(b"pat-eu1-", hex_dash, 36, 36),
    // Airtable support, "Personal access tokens": pat<14>.<64 hex>.
    f(b"pat", an_dot_us, 79, 79),
    // LaunchDarkly docs, "API access tokens" (api-), "SDK keys" (sdk-), "Mobile keys" (mob-).
    f(b"api-", hex_dash, 36, 36),
    f(b"sdk-", hex_dash, 36, 36),
    f(b"mob-", hex_dash, 36, 36),
    // Plaid docs, "Tokens": access tokens per environment.
    f(b"access-production-", hex_dash, 36, 36),
    f(b"access-development-", hex_dash, 36, 36),
    f(b"access-sandbox-", hex_dash, 36, 36),
    // Braintree docs, "Access tokens": access_token$<environment>$<merchant 16>$<32>.
    f(b"access_token$production$", an_dollar, 49, 49),
    f(b"access_token$sandbox$", an_dollar, 49, 49),
    // Mercado Pago developers, "Credentials": APP_USR- access tokens.
    f(b"APP_USR-", an_dash, 60, 90),
    // Klaviyo developer docs, "Private API keys": pk_ + 34.
    f(b"pk_", hex_lower, 34, 34),
    // LangSmith docs, "API keys": personal (lsv2_pt_) and service (lsv2_sk_) keys.
    f(b"lsv2_pt_", an_us, 43, 43),
    f(b"lsv2_sk_", an_us, 43, 43),
    // Pinecone docs, "API keys": pcsk_ + key id and secret.
    f(b"pcsk_", an_us, 60, 100),
    // Render docs, "API keys": rnd_ + 32.
    f(b"rnd_", an, 32, 32),
    // Deno Deploy docs, "Access tokens": personal (ddp_) and organization (ddw_) tokens.
    f(b"ddp_", an, 36, 36),
    f(b"ddw_", an, 36, 36),
    // Figma developer docs, "Personal access tokens": figd_ + 40 and more.
    f(b"figd_", b64url, 40, 60),
    // Buildkite docs, "API access tokens": bkua_ + 40 hex.
    f(b"bkua_", hex_lower, 40, 40),
    // CircleCI docs, "Managing API tokens": CCIPAT_ personal tokens.
    f(b"CCIPAT_", an_us, 60, 70),
    // NuGet docs, "Scoped API keys": oy2 + 43 lower case / digits.
    f(b"oy2", lower_digit, 43, 43),
    // X (Twitter) developer docs, "Bearer tokens": 22 A + URL-escaped base64.
    f(b"AAAAAAAAAAAAAAAAAAAAA", an_pct, 60, 120),
    // Meta for Developers, "Access tokens": page/user tokens EAAM / EAAC + 100 and more.
    f(b"EAAM", an, 100, 400),
    f(b"EAAC", an, 100, 400),
    // ClickHouse Cloud docs, "API keys": secret keys 4b1d + 38.
    f(b"4b1d", an, 38, 38),
    // Express docs, "cookie-parser": signed session cookies `s:<value>.<signature>`,
    // percent-encoded as sent in a Cookie header (connect.sid=s%3A...).
    k(b"s%3A", cookie, 20, 512, Kind::Secret),
    // Kubernetes docs, "Secrets": data values are base64; a PEM private key there starts
    // "LS0tLS1CRUdJTi" (base64 of "-----BEGIN "), checked by decoding.
    k(b"LS0tLS1CRUdJTi", b64, 40, 20000, Kind::PrivateKey),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_ascii_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for f in FORMATS {
            assert!(f.prefix.is_ascii() && !f.prefix.is_empty());
            assert!(f.min <= f.max);
            assert!(seen.insert(f.prefix), "{:?}", std::str::from_utf8(f.prefix));
        }
        assert!(FORMATS.len() >= 150, "{}", FORMATS.len());
    }

    #[test]
    fn longer_prefixes_come_first() {
        // A prefix that starts another must come after it, or it would shadow it.
        for (i, a) in FORMATS.iter().enumerate() {
            for b in &FORMATS[i + 1..] {
                assert!(
                    !(b.prefix.starts_with(a.prefix) && b.prefix.len() > a.prefix.len()),
                    "{:?} shadows {:?}",
                    std::str::from_utf8(a.prefix),
                    std::str::from_utf8(b.prefix)
                );
            }
        }
    }
}
