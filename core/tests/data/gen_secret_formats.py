#!/usr/bin/env python3
"""Writes core/tests/data/secret_formats.tsv: one documented sample and one near miss per
provider credential format, for core/tests/redact/secret_formats.rs.

Each line of SPEC below was written from the provider's documentation of its token format
(named in the first column) — prefix, alphabet, body length — and not from tenantguard's
recognizer table. Samples get a random body from that alphabet (fixed seed). AWS's own
documented example key id is used verbatim. The near miss is the same body behind a prefix
one character off (`ghp-` for `ghp_`, `AKIa` for `AKIA`), or, for formats without a prefix, a
body a third of the documented length; it must not be reported as this provider's key.
"""
import os
import random
import string

R = random.Random(21)
A = {
    "an": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "HEX": "0123456789ABCDEF",
    "b64u": string.ascii_letters + string.digits + "-_",
    "b64": string.ascii_letters + string.digits + "+/",
    "up": string.ascii_uppercase + string.digits,
    "b32": string.ascii_uppercase + "234567",
    "lo": string.ascii_lowercase + string.digits,
    "let": string.ascii_letters,
    "bech": "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
    "dig": string.digits,
}

# doc | prefix | alphabet | body length | kind
SPEC = """
AWS IAM User Guide, unique identifiers|AKIA|b32|16|API_KEY
AWS IAM User Guide, unique identifiers|ASIA|b32|16|API_KEY
AWS IAM User Guide, unique identifiers|ABIA|b32|16|API_KEY
AWS IAM User Guide, unique identifiers|ACCA|b32|16|API_KEY
Amazon Bedrock User Guide, API keys|ABSK|b64|132|API_KEY
Amazon MWS developer guide, MWS Auth Token|amzn.mws.|uuid|36|API_KEY
GitHub Docs, token formats|ghp_|an|36|API_KEY
GitHub Docs, token formats|gho_|an|36|API_KEY
GitHub Docs, token formats|ghu_|an|36|API_KEY
GitHub Docs, token formats|ghs_|an|36|API_KEY
GitHub Docs, token formats|ghr_|an|36|API_KEY
GitHub Docs, fine-grained personal access tokens|github_pat_|an|82|API_KEY
GitLab Docs, token overview|glpat-|b64u|20|API_KEY
GitLab Docs, token overview|gldt-|b64u|20|API_KEY
GitLab Docs, token overview|glrt-|b64u|20|API_KEY
GitLab Docs, token overview|glptt-|hex|40|API_KEY
GitLab Docs, token overview|GR1348941|b64u|20|API_KEY
GitLab Docs, token overview|glsoat-|b64u|20|API_KEY
GitLab Docs, token overview|glcbt-|b64u|24|API_KEY
GitLab Docs, token overview|glffct-|b64u|20|API_KEY
GitLab Docs, token overview|glft-|b64u|20|API_KEY
GitLab Docs, token overview|glimt-|b64u|25|API_KEY
GitLab Docs, token overview|glagent-|b64u|50|API_KEY
GitLab Docs, token overview|gloas-|b64u|64|API_KEY
Slack API docs, token types|xoxb-|slack|0|API_KEY
Slack API docs, token types|xoxp-|slack|0|API_KEY
Slack API docs, token types|xoxa-|slack|0|API_KEY
Slack API docs, token types|xoxr-|slack|0|API_KEY
Slack API docs, token types|xoxs-|slack|0|API_KEY
Slack API docs, token types|xoxe-|slack|0|API_KEY
Slack API docs, token types|xoxe.xoxp-|slack|0|API_KEY
Slack API docs, token types|xoxe.xoxb-|slack|0|API_KEY
Slack API docs, token types|xoxc-|slack|0|API_KEY
Slack API docs, token types|xoxo-|slack|0|API_KEY
Slack API docs, app-level tokens|xapp-|slack|0|API_KEY
Stripe Docs, API keys|sk_live_|an|99|API_KEY
Stripe Docs, API keys|rk_live_|an|99|API_KEY
Stripe Docs, API keys|sk_test_|an|24|API_KEY
Stripe Docs, API keys|rk_test_|an|24|API_KEY
Stripe Docs, webhook signing secrets|whsec_|an|32|API_KEY
Checkout.com docs, API keys|sk_sbox_|b64u|30|API_KEY
ElevenLabs API reference, authentication|sk_|hex|48|API_KEY
Anthropic API docs, API keys|sk-ant-api03-|b64u|95|API_KEY
Anthropic API docs, admin keys|sk-ant-admin01-|b64u|95|API_KEY
OpenRouter docs, API keys|sk-or-v1-|hex|64|API_KEY
OpenAI API reference, project keys|sk-proj-|b64u|156|API_KEY
OpenAI API reference, service account keys|sk-svcacct-|b64u|156|API_KEY
OpenAI API reference, admin keys|sk-admin-|b64u|156|API_KEY
OpenAI API reference, user keys|sk-|an|48|API_KEY
Google Cloud docs, API keys|AIza|b64u|35|API_KEY
Google Identity, OAuth 2.0 access tokens|ya29.|b64u|150|API_KEY
Google Identity, OAuth 2.0 refresh tokens|1//0|b64u|100|API_KEY
Google Cloud docs, OAuth client secrets|GOCSPX-|b64u|28|API_KEY
Firebase Cloud Messaging docs, server keys|APA91b|b64u|134|API_KEY
Twilio docs, API keys|SK|hex|32|API_KEY
Twilio SendGrid docs, API keys|SG.|sendgrid|0|API_KEY
Mailgun docs, API keys|key-|hex|32|API_KEY
npm Docs, access tokens|npm_|an|36|API_KEY
PyPI help, API tokens|pypi-AgEIcHlwaS5vcmc|b64u|150|API_KEY
PyPI help, API tokens (TestPyPI)|pypi-AgENdGVzdC5weXBpLm9yZw|b64u|150|API_KEY
Docker Docs, personal access tokens|dckr_pat_|b64u|27|API_KEY
Docker Docs, organization access tokens|dckr_oat_|b64u|32|API_KEY
Hugging Face Hub docs, user access tokens|hf_|let|34|API_KEY
Hugging Face Hub docs, organization tokens|api_org_|let|34|API_KEY
Shopify dev docs, access tokens|shpat_|hex|32|API_KEY
Shopify dev docs, access tokens|shpca_|hex|32|API_KEY
Shopify dev docs, access tokens|shppa_|hex|32|API_KEY
Shopify dev docs, app shared secrets|shpss_|hex|32|API_KEY
DigitalOcean docs, personal access tokens|dop_v1_|hex|64|API_KEY
DigitalOcean docs, OAuth tokens|doo_v1_|hex|64|API_KEY
DigitalOcean docs, refresh tokens|dor_v1_|hex|64|API_KEY
Linear developers docs, personal API keys|lin_api_|an|40|API_KEY
Postman docs, API keys|PMAK-|postman|0|API_KEY
Doppler docs, token formats|dp.pt.|an|43|API_KEY
Doppler docs, token formats|dp.st.|an|44|API_KEY
Doppler docs, token formats|dp.sa.|an|43|API_KEY
Doppler docs, token formats|dp.ct.|an|43|API_KEY
Doppler docs, token formats|dp.scim.|an|43|API_KEY
Doppler docs, token formats|dp.audit.|an|43|API_KEY
HashiCorp Vault docs, tokens|hvs.|b64u|95|API_KEY
HashiCorp Vault docs, tokens|hvb.|b64u|140|API_KEY
HashiCorp Vault docs, recovery tokens|hvr.|b64u|30|API_KEY
Pulumi docs, access tokens|pul-|hex|40|API_KEY
Grafana docs, service account tokens|glsa_|grafana|0|API_KEY
Grafana Cloud docs, access policy tokens|glc_|b64|60|API_KEY
New Relic docs, API keys|NRAK-|up|27|API_KEY
New Relic docs, API keys|NRII-|an|32|API_KEY
New Relic docs, API keys|NRJS-|hex|19|API_KEY
New Relic docs, API keys|NRAA-|up|27|API_KEY
Sentry docs, organization auth tokens|sntrys_|b64|180|API_KEY
Sentry docs, user auth tokens|sntryu_|hex|64|API_KEY
Databricks docs, personal access tokens|dapi|hex|32|API_KEY
Dynatrace docs, access tokens|dt0c01.|dynatrace|0|API_KEY
Fly.io docs, access tokens|fo1_|b64u|43|API_KEY
Fly.io docs, macaroon tokens|fm2_|b64|200|API_KEY
Heroku Dev Center, API keys|HRKU-AA|b64u|58|API_KEY
Atlassian support, API tokens|ATATT3|atlassian|0|API_KEY
Bitbucket Cloud docs, app passwords|ATBB|an|32|API_KEY
1Password developer docs, service accounts|ops_eyJ|b64|300|API_KEY
age specification, X25519 identities|AGE-SECRET-KEY-1|bech|58|PRIVATE_KEY
Square developer docs, access tokens|EAAA|b64u|60|API_KEY
Square developer docs, legacy access tokens|sq0atp-|b64u|22|API_KEY
Square developer docs, application secrets|sq0csp-|b64u|43|API_KEY
Supabase docs, access tokens|sbp_|hex|40|API_KEY
Supabase docs, secret API keys|sb_secret_|b64u|40|API_KEY
Tailscale docs, keys|tskey-api-|tailscale|0|API_KEY
Tailscale docs, keys|tskey-auth-|tailscale|0|API_KEY
Tailscale docs, keys|tskey-client-|tailscale|0|API_KEY
Tailscale docs, keys|tskey-webhook-|tailscale|0|API_KEY
Tailscale docs, keys|tskey-scim-|tailscale|0|API_KEY
GroqCloud docs, API keys|gsk_|an|52|API_KEY
Perplexity API docs, API key|pplx-|an|48|API_KEY
Replicate docs, API tokens|r8_|an|37|API_KEY
xAI API docs, API key|xai-|an|80|API_KEY
Notion developers, integration secrets|ntn_|an|46|API_KEY
Notion developers, legacy integration secrets|secret_|an|43|API_KEY
RubyGems guides, API keys|rubygems_|hex|48|API_KEY
Brevo developer docs, API keys|xkeysib-|brevo|0|API_KEY
Brevo developer docs, SMTP keys|xsmtpsib-|brevo|0|API_KEY
PlanetScale docs, service tokens|pscale_tkn_|b64u|43|API_KEY
PlanetScale docs, passwords|pscale_pw_|b64u|43|API_KEY
PlanetScale docs, OAuth tokens|pscale_oauth_|b64u|43|API_KEY
Alibaba Cloud docs, AccessKey pairs|LTAI|an|20|API_KEY
Razorpay docs, API keys|rzp_live_|an|14|API_KEY
Razorpay docs, API keys|rzp_test_|an|14|API_KEY
Mapbox docs, secret access tokens|sk.eyJ|mapbox|0|API_KEY
Adobe Developer docs, client secrets|p8e-|an|32|API_KEY
JFrog docs, API keys|AKCp|an|69|API_KEY
JFrog docs, reference tokens|cmVmd|an|59|API_KEY
Clojars wiki, deploy tokens|CLOJARS_|an|60|API_KEY
Cloudflare docs, Origin CA keys|v1.0-|cforigin|0|API_KEY
Contentful docs, personal access tokens|CFPAT-|b64u|43|API_KEY
Duffel docs, access tokens|duffel_live_|b64u|43|API_KEY
Duffel docs, access tokens|duffel_test_|b64u|43|API_KEY
EasyPost docs, API keys|EZAK|an|54|API_KEY
EasyPost docs, API keys|EZTK|an|54|API_KEY
Flutterwave docs, secret keys|FLWSECK_TEST-|flw|0|API_KEY
Flutterwave docs, secret keys|FLWSECK-|flw|0|API_KEY
Frame.io developer docs, developer tokens|fio-u-|b64u|64|API_KEY
Infracost docs, API keys|ico-|an|32|API_KEY
42 API docs, application secrets|s-s4t2ud-|hex|64|API_KEY
42 API docs, application secrets|s-s4t2af-|hex|64|API_KEY
Prefect docs, API keys|pnu_|an|36|API_KEY
ReadMe docs, API keys|rdme_|lo|70|API_KEY
Scalingo docs, API tokens|tk-us-|b64u|48|API_KEY
SettleMint docs, access tokens|sm_pat_|an|16|API_KEY
SettleMint docs, access tokens|sm_aat_|an|16|API_KEY
SettleMint docs, access tokens|sm_sat_|an|16|API_KEY
Shippo docs, authentication|shippo_live_|hex|40|API_KEY
Shippo docs, authentication|shippo_test_|hex|40|API_KEY
Sourcegraph docs, access tokens|sgp_|hex|40|API_KEY
Typeform developer docs, personal access tokens|tfp_|b64u|59|API_KEY
Yandex Cloud docs, API keys|AQVN|b64u|36|API_KEY
Yandex Cloud docs, static access keys|YC|b64u|38|API_KEY
Yandex Cloud docs, IAM tokens|t1.|b64u|150|API_KEY
Octopus Deploy docs, API keys|API-|up|26|API_KEY
Red Hat OpenShift docs, OAuth access tokens|sha256~|b64u|43|API_KEY
Harness docs, API keys|pat.|harness|0|API_KEY
Harness docs, service account tokens|sat.|harness|0|API_KEY
Airtable support, personal access tokens|pat|airtable|0|API_KEY
LaunchDarkly docs, API access tokens|api-|uuid|36|API_KEY
LaunchDarkly docs, SDK keys|sdk-|uuid|36|API_KEY
LaunchDarkly docs, mobile keys|mob-|uuid|36|API_KEY
Plaid docs, access tokens|access-production-|uuid|36|API_KEY
Plaid docs, access tokens|access-development-|uuid|36|API_KEY
Plaid docs, access tokens|access-sandbox-|uuid|36|API_KEY
HubSpot developer docs, private app tokens|pat-na1-|uuid|36|API_KEY
HubSpot developer docs, private app tokens|pat-eu1-|uuid|36|API_KEY
Braintree docs, access tokens|access_token$production$|braintree|0|API_KEY
Braintree docs, access tokens|access_token$sandbox$|braintree|0|API_KEY
Mercado Pago developers, credentials|APP_USR-|mercadopago|0|API_KEY
Klaviyo developer docs, private API keys|pk_|hex|34|API_KEY
LangSmith docs, API keys|lsv2_pt_|langsmith|0|API_KEY
LangSmith docs, API keys|lsv2_sk_|langsmith|0|API_KEY
Pinecone docs, API keys|pcsk_|pinecone|0|API_KEY
Render docs, API keys|rnd_|an|32|API_KEY
Deno Deploy docs, access tokens|ddp_|an|36|API_KEY
Deno Deploy docs, organization tokens|ddw_|an|36|API_KEY
Figma developer docs, personal access tokens|figd_|b64u|40|API_KEY
Buildkite docs, API access tokens|bkua_|hex|40|API_KEY
CircleCI docs, personal API tokens|CCIPAT_|circleci|0|API_KEY
NuGet docs, API keys|oy2|lo|43|API_KEY
X developer docs, bearer tokens|AAAAAAAAAAAAAAAAAAAAA|an|90|API_KEY
Meta for Developers, access tokens|EAAM|an|180|API_KEY
Meta for Developers, access tokens|EAAC|an|180|API_KEY
ClickHouse Cloud docs, API keys|4b1d|an|38|API_KEY
Mailchimp Marketing API docs, API keys||mailchimp|0|API_KEY
Telegram Bot API docs, bot tokens||telegram|0|API_KEY
Express docs, cookie-parser signed cookies|s%3A|cookie|0|SECRET
Kubernetes docs, Secrets (base64 PEM)|LS0tLS1CRUdJTi|b64pem|0|PRIVATE_KEY
"""


def rnd(a, n):
    return "".join(R.choice(A[a]) for _ in range(n))


def uuid():
    return "-".join(rnd("hex", n) for n in (8, 4, 4, 4, 12))


def body(kind, n):
    """Returns (sample body, near-miss body)."""
    if kind == "uuid":
        u = uuid()
        return u, u[:-1]
    special = {
        "slack": lambda: rnd("dig", 12) + "-" + rnd("dig", 13) + "-" + rnd("an", 24),
        "sendgrid": lambda: rnd("b64u", 22) + "." + rnd("b64u", 43),
        "postman": lambda: rnd("hex", 24) + "-" + rnd("hex", 34),
        "grafana": lambda: rnd("an", 32) + "_" + rnd("hex", 8),
        "dynatrace": lambda: rnd("up", 24) + "." + rnd("up", 64),
        "atlassian": lambda: "xFfGF0" + rnd("b64u", 176) + "=" + rnd("HEX", 8),
        "tailscale": lambda: "k" + rnd("an", 12) + "CNTRL-" + rnd("an", 33),
        "brevo": lambda: rnd("hex", 64) + "-" + rnd("an", 16),
        "mapbox": lambda: "1Ijoi" + rnd("an", 60) + "." + rnd("b64u", 22),
        "cforigin": lambda: rnd("hex", 24) + "-" + rnd("hex", 146),
        "flw": lambda: rnd("hex", 32) + "-X",
        "harness": lambda: rnd("b64u", 22) + "." + rnd("an", 24) + "." + rnd("an", 20),
        "airtable": lambda: rnd("an", 14) + "." + rnd("hex", 64),
        "braintree": lambda: rnd("lo", 16) + "$" + rnd("hex", 32),
        "mercadopago": lambda: rnd("dig", 16) + "-" + rnd("hex", 6) + "-" + rnd("hex", 32) + "-" + rnd("dig", 9),
        "langsmith": lambda: rnd("hex", 32) + "_" + rnd("hex", 10),
        "pinecone": lambda: rnd("an", 5) + "_" + rnd("an", 63),
        "circleci": lambda: rnd("an", 22) + "_" + rnd("hex", 40),
        "mailchimp": lambda: rnd("hex", 32) + "-us" + str(R.randint(1, 21)),
        "telegram": lambda: rnd("dig", 10) + ":AA" + rnd("b64u", 33),
        "cookie": lambda: rnd("b64u", 32) + "." + rnd("an", 20) + "%2B" + rnd("an", 20),
        "b64pem": lambda: __import__("base64").b64encode(
            b"-----BEGIN RSA PRIVATE KEY-----\n" + rnd("b64", 128).encode() + b"\n-----END RSA PRIVATE KEY-----\n").decode().rstrip("="),
    }
    if kind in special:
        v = special[kind]()
        # Near miss: cut to a third (too short for any documented length).
        return v, v[: max(1, len(v) // 3)]
    v = rnd(kind, n)
    return v, v[:-1]


def mutate(prefix):
    c = prefix[-1]
    swap = {"_": "-", "-": "_", ".": "-", "$": "_", "~": "-"}
    if c in swap:
        d = swap[c]
    elif c.isdigit():
        d = str((int(c) + 1) % 10)
    else:
        d = c.swapcase()
    return prefix[:-1] + d


def main():
    rows = []
    for line in SPEC.strip().splitlines():
        doc, prefix, alpha, n, kind = line.split("|")
        sample, near = body(alpha, int(n))
        if alpha == "b64pem":
            sample, near = sample, "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0K" + rnd("b64", 40)
            rows.append((doc, sample, near, kind))
            continue
        if prefix:
            # Near miss: the documented body behind a prefix one character off.
            near = mutate(prefix) + sample
        else:
            near = near
        rows.append((doc, prefix + sample, near, kind))
    # The example key id printed in the AWS documentation itself.
    rows.insert(0, ("AWS IAM User Guide, example access key id", "AKIAIOSFODNN7EXAMPLE",
                    "AKIAIOSFODNN7EXAMPL", "API_KEY"))
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "secret_formats.tsv"), "w") as f:
        f.write("# documentation\tdocumented sample\tnear miss\tkind (generated by gen_secret_formats.py)\n")
        for r in rows:
            assert "\t" not in "".join(r)
            f.write("\t".join(r) + "\n")
    print(len(rows), "formats")


if __name__ == "__main__":
    main()
