#!/usr/bin/env python3
"""Builds the secrets evaluation set (benches/eval/secrets/prompts.jsonl).

Realistic prompts as SaaS users paste them (support tickets, logs with stack traces, .env files,
YAML and JSON configs, Kubernetes Secrets, connection strings, chat exports, code snippets) with
every secret and structured personal value labelled by byte and character offsets.

The credential samples are built from each provider's *documented* token format (prefix,
length, alphabet; the documentation is named beside each entry) with a random body, or copied
from a provider's own documentation where it prints an example (AWS's `AKIAIOSFODNN7EXAMPLE`).
This file was written from those documents, not from tenantguard's recognizer table, and it
must stay that way: a set generated from the rules would only measure the rules against
themselves. Regenerate with `python3 benches/eval/secrets/make.py` (fixed seed: the output is
byte-identical; commit both).
"""

import base64
import json
import os
import random
import string

R = random.Random(20261203)
HERE = os.path.dirname(os.path.abspath(__file__))

AL = string.ascii_letters + string.digits
LO = string.ascii_lowercase + string.digits
UP = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64U = AL + "-_"
B64 = AL + "+/"


def rnd(alpha, n):
    return "".join(R.choice(alpha) for _ in range(n))


def uuid():
    return "-".join(rnd(HEX, n) for n in (8, 4, 4, 4, 12))


# Provider formats: (name, documentation it comes from, sample maker).
PROVIDERS = [
    # AWS IAM user guide, "Understanding unique ID prefixes": AKIA/ASIA + 16 of A-Z2-7.
    ("aws-access-key", lambda: "AKIA" + rnd("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
    ("aws-sts-key", lambda: "ASIA" + rnd("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
    # GitHub docs, "About authentication to GitHub" (token formats): prefix + 36 base62.
    ("github-pat", lambda: "ghp_" + rnd(AL, 36)),
    ("github-oauth", lambda: "gho_" + rnd(AL, 36)),
    ("github-app", lambda: "ghs_" + rnd(AL, 36)),
    ("github-fine", lambda: "github_pat_11" + rnd(UP, 20) + "_" + rnd(AL, 59)),
    # GitLab docs, "GitLab token overview": glpat- + 20.
    ("gitlab-pat", lambda: "glpat-" + rnd(AL + "-_", 20)),
    ("gitlab-runner", lambda: "glrt-" + rnd(AL, 20)),
    # Slack API docs, "Token types": xoxb-/xoxp- numeric ids then a secret.
    ("slack-bot", lambda: "xoxb-" + rnd("0123456789", 12) + "-" + rnd("0123456789", 13) + "-" + rnd(AL, 24)),
    ("slack-user", lambda: "xoxp-" + "-".join(rnd("0123456789", 12) for _ in range(3)) + "-" + rnd(HEX, 32)),
    # Stripe docs, "API keys": sk_live_/rk_live_ + 24..99 base62.
    ("stripe-secret", lambda: "sk_live_" + rnd(AL, 99)),
    ("stripe-restricted", lambda: "rk_live_" + rnd(AL, 24)),
    ("stripe-webhook", lambda: "whsec_" + rnd(AL, 32)),
    # OpenAI platform docs (project keys) and Anthropic console docs (sk-ant-api03-).
    ("openai-project", lambda: "sk-proj-" + rnd(B64U, 74) + "T3BlbkFJ" + rnd(B64U, 74)),
    ("anthropic", lambda: "sk-ant-api03-" + rnd(B64U, 93) + "AA"),
    # Google Cloud docs, "API keys": AIza + 35; OAuth 2.0 access tokens start ya29.
    ("google-api", lambda: "AIza" + rnd(B64U, 35)),
    ("google-oauth", lambda: "ya29." + rnd(B64U, 120)),
    ("google-client-secret", lambda: "GOCSPX-" + rnd(B64U, 28)),
    # Twilio docs, "API keys": SK + 32 hex.
    ("twilio-api-key", lambda: "SK" + rnd(HEX, 32)),
    # SendGrid docs, "API keys": SG.<22>.<43>.
    ("sendgrid", lambda: "SG." + rnd(B64U, 22) + "." + rnd(B64U, 43)),
    # npm docs, "About access tokens": npm_ + 36.
    ("npm", lambda: "npm_" + rnd(AL, 36)),
    # PyPI help, "API tokens": pypi- + macaroon starting AgEIcHlwaS5vcmc.
    ("pypi", lambda: "pypi-AgEIcHlwaS5vcmc" + rnd(B64U, 70)),
    # Docker docs, "Personal access tokens": dckr_pat_ + 27.
    ("docker", lambda: "dckr_pat_" + rnd(B64U, 27)),
    # Hugging Face docs, "User access tokens": hf_ + 34 letters.
    ("huggingface", lambda: "hf_" + rnd(string.ascii_letters, 34)),
    # Shopify docs, "Access tokens": shpat_ + 32 hex.
    ("shopify", lambda: "shpat_" + rnd(HEX, 32)),
    # DigitalOcean docs, "Personal access tokens": dop_v1_ + 64 hex.
    ("digitalocean", lambda: "dop_v1_" + rnd(HEX, 64)),
    # Linear API docs: lin_api_ + 40.
    ("linear", lambda: "lin_api_" + rnd(AL, 40)),
    # Postman docs, "Postman API keys": PMAK-<24 hex>-<34 hex>.
    ("postman", lambda: "PMAK-" + rnd(HEX, 24) + "-" + rnd(HEX, 34)),
    # Doppler docs, "Service tokens": dp.st.<env>.<40+>.
    ("doppler", lambda: "dp.st.prd." + rnd(AL, 43)),
    # HashiCorp Vault docs, "Tokens" (1.10+ formats): hvs. + 90+.
    ("vault", lambda: "hvs." + rnd(B64U, 95)),
    # Grafana docs, "Service accounts": glsa_<32>_<8 hex>.
    ("grafana-sa", lambda: "glsa_" + rnd(AL, 32) + "_" + rnd(HEX, 8)),
    # New Relic docs, "API keys": NRAK- + 27.
    ("newrelic", lambda: "NRAK-" + rnd(UP, 27)),
    # Databricks docs, "Personal access tokens": dapi + 32 hex.
    ("databricks", lambda: "dapi" + rnd(HEX, 32)),
    # Atlassian support, "Manage API tokens": ATATT3 + ~186.
    ("atlassian", lambda: "ATATT3xFfGF0" + rnd(B64U, 170) + "=" + rnd(HEX, 8).upper()),
    # Age specification: AGE-SECRET-KEY-1 + 58 Bech32 upper case.
    ("age", lambda: "AGE-SECRET-KEY-1" + rnd("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)),
    # Square developer docs, "Access tokens": EAAA + 60.
    ("square", lambda: "EAAA" + rnd(B64U, 60)),
    # Supabase docs, "Access tokens": sbp_ + 40 hex.
    ("supabase", lambda: "sbp_" + rnd(HEX, 40)),
    # Tailscale docs, "API access tokens": tskey-api-<id>-<secret>.
    ("tailscale", lambda: "tskey-api-k" + rnd(AL, 12) + "CNTRL-" + rnd(AL, 32)),
    # Sentry docs, "Auth tokens" (user tokens): sntryu_ + 64 hex.
    ("sentry-user", lambda: "sntryu_" + rnd(HEX, 64)),
    # Groq console docs: gsk_ + 52.
    ("groq", lambda: "gsk_" + rnd(AL, 52)),
    # Perplexity API docs: pplx- + 48.
    ("perplexity", lambda: "pplx-" + rnd(AL, 48)),
    # Replicate docs, "API tokens": r8_ + 37.
    ("replicate", lambda: "r8_" + rnd(AL, 37)),
    # Notion developer docs, internal integration secrets: ntn_ + 46.
    ("notion", lambda: "ntn_" + rnd("0123456789", 11) + rnd(AL, 35)),
    # Pulumi docs, "Access tokens": pul- + 40 hex.
    ("pulumi", lambda: "pul-" + rnd(HEX, 40)),
    # RubyGems guides, "API key scopes": rubygems_ + 48 hex.
    ("rubygems", lambda: "rubygems_" + rnd(HEX, 48)),
    # Dynatrace docs, "Access tokens": dt0c01.<24>.<64>.
    ("dynatrace", lambda: "dt0c01." + rnd(UP, 24) + "." + rnd(UP, 64)),
    # Brevo (Sendinblue) docs: xkeysib-<64 hex>-<16>.
    ("brevo", lambda: "xkeysib-" + rnd(HEX, 64) + "-" + rnd(AL, 16)),
    # PlanetScale docs, "Service tokens" / passwords: pscale_tkn_ / pscale_pw_ + 43.
    ("planetscale", lambda: "pscale_pw_" + rnd(B64U, 43)),
    # Alibaba Cloud docs, "AccessKey pairs": LTAI + 20.
    ("alibaba", lambda: "LTAI" + rnd(AL, 20)),
    # Razorpay docs, "API keys": rzp_live_ + 14.
    ("razorpay", lambda: "rzp_live_" + rnd(AL, 14)),
    # Mapbox docs, "Access tokens": secret tokens sk.eyJ...
    ("mapbox", lambda: "sk.eyJ1Ijoi" + rnd(AL, 40) + "." + rnd(B64U, 22)),
    # Telegram Bot API docs: <bot id>:<35>.
    ("telegram", lambda: rnd("0123456789", 10) + ":AA" + rnd(B64U, 33)),
]

# Formats that look like secrets but are identifiers (must not be flagged by default).
def commit_id():
    return rnd(HEX, 40)


def data_uri():
    raw = bytes(R.getrandbits(8) for _ in range(90))
    return "data:image/png;base64,iVBORw0KGgo" + base64.b64encode(raw).decode()


def version4():
    return f"{R.randint(1, 20)}.{R.randint(0, 30)}.{R.randint(0, 40)}.{R.randint(100, 9999)}"


PASSWORDS = [
    "correct horse battery staple", "Tr0ub4dor&3", "hunter2!", "S3cure#Passw0rd",
    "p@ssw0rd-2024", "Winter2025!", "xK9#mq2$Lp", "blue-Elephant-42", "Zq8!vR4*nM1w",
    "letmein_Prod_88", "Ab12#cd34$ef", "dr4g0n*Fly",
]
NAMES = ["jane", "omar", "li.wei", "m.schmidt", "ana", "kofi", "priya", "svc-deploy"]
HOSTS = ["db.internal.acme.io", "pg-prod-1.eu-west-1.rds.amazonaws.com", "10.20.3.14",
         "mysql.staging.local", "redis.cache.corp"]


def password():
    return R.choice(PASSWORDS)


def pem(kind):
    body = "\n".join(rnd(B64, 64) for _ in range(R.randint(4, 8))) + "\n" + rnd(B64, 20) + "=="
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


def pgp():
    body = "\n".join(rnd(B64, 64) for _ in range(6)) + "\n=" + rnd(B64, 4)
    return ("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n" + body +
            "\n-----END PGP PRIVATE KEY BLOCK-----")


def jwt():
    def seg(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    return (seg({"alg": "HS256", "typ": "JWT"}) + "." +
            seg({"sub": str(R.randint(1000, 99999)), "exp": 1767225600}) + "." + rnd(B64U, 43))


# Documented example values printed by providers themselves.
AWS_DOC_PAIR = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def sts_token():
    # AWS STS session tokens: long base64 starting IQoJb3JpZ2luX2Vj ("origin_ec").
    return "IQoJb3JpZ2luX2VjE" + rnd(B64, 300) + "/" + rnd(B64, 40) + "/" + rnd(B64, 20) + "=="


def aws_secret():
    # 40 characters of base64 with slashes, as the AWS docs' example.
    s = rnd(AL, 40)
    s = list(s)
    for i in R.sample(range(3, 37), 3):
        s[i] = "/"
    return "".join(s)


class P:
    """A prompt under construction: plain text and labelled values."""

    def __init__(self, kind):
        self.kind = kind
        self.parts = []

    def t(self, s):
        self.parts.append((None, s))
        return self

    def v(self, typ, s):
        self.parts.append((typ, s))
        return self

    def build(self):
        text, spans, pos, cpos = "", [], 0, 0
        for typ, s in self.parts:
            b = len(s.encode())
            if typ:
                spans.append({"type": typ, "start": pos, "end": pos + b,
                              "cstart": cpos, "cend": cpos + len(s)})
            text += s
            pos += b
            cpos += len(s)
        return {"kind": self.kind, "text": text, "spans": spans}


def env_file():
    p = P("config").t("Here is my .env, the app fails on boot with ECONNREFUSED:\n\n```\n")
    p.t("NODE_ENV=production\nPORT=8080\n")
    p.t("PGPASSWORD=").v("SECRET", rnd(AL + "!#%", 16)).t("\n")
    user = R.choice(NAMES)
    pw = rnd(AL, 14)
    p.t("DATABASE_URL=postgres://").v("URL_CREDENTIALS", f"{user}:{pw}").t("@")
    host = R.choice(HOSTS)
    # An IP host in a URL is personal data (issue 21) and labelled as such.
    if host[0].isdigit():
        p.v("IP", host)
    else:
        p.t(host)
    p.t(":5432/app\n")
    name, mk = R.choice(PROVIDERS)
    p.t(f"{name.upper().replace('-', '_')}_TOKEN=").v("API_KEY", mk()).t("\n")
    p.t("LOG_LEVEL=debug\n```\nWhat is wrong?")
    return p


def yaml_cfg():
    p = P("config").t("Our docker-compose override (staging):\n\nservices:\n  api:\n    environment:\n")
    p.t("      REDIS_HOST: redis\n      SMTP_PASSWORD: \"").v("SECRET", password()).t("\"\n")
    name, mk = R.choice(PROVIDERS)
    p.t("      UPSTREAM_API_KEY: ").v("API_KEY", mk()).t("\n")
    p.t(f"    image: registry.acme.io/api:{version4()}\n")
    p.t("Why does the container restart every 30 s?")
    return p


def json_cfg():
    p = P("config").t("The integration settings JSON we store per tenant:\n{\n  \"name\": \"billing-sync\",\n")
    p.t("  \"credentials\": {\n    \"username\": \"sync-bot\",\n    \"password\": \"").v("SECRET", password()).t("\",\n")
    name, mk = R.choice(PROVIDERS)
    p.t("    \"api_key\": \"").v("API_KEY", mk()).t("\"\n  },\n")
    p.t(f"  \"build\": \"{commit_id()}\",\n  \"id\": \"{uuid()}\"\n}}\nCan you convert it to TOML?")
    return p


def k8s_secret():
    kind = R.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    enc = base64.b64encode(pem(kind).encode()).decode()
    p = P("config").t("kubectl get secret tls-origin -o yaml\napiVersion: v1\nkind: Secret\ndata:\n  tls.key: ")
    p.v("PRIVATE_KEY", enc).t("\n  db-password: ")
    p.v("SECRET", base64.b64encode(rnd(AL, 18).encode()).decode())
    p.t("\ntype: Opaque\nThe ingress says the key does not match the certificate.")
    return p


def conn_string():
    pw = rnd(AL + "!$", 15)
    p = P("config").t("Connection string from appsettings.json: Server=tcp:sql-prod.database.windows.net,1433;"
                      "Initial Catalog=crm;User ID=crm_app;Password=").v("SECRET", pw)
    p.t(";Encrypt=True;\nand the storage one: DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey=")
    p.v("SECRET", base64.b64encode(bytes(R.getrandbits(8) for _ in range(64))).decode())
    p.t(";EndpointSuffix=core.windows.net\nTimeouts after 30 s, any idea?")
    return p


def log_lines():
    p = P("log").t("Pasting the log from the worker:\n")
    p.t(f"2025-11-02T10:14:03Z INFO starting worker v{version4()} commit {commit_id()}\n")
    p.t("2025-11-02T10:14:04Z DEBUG GET https://api.partner.io/v2/orders?limit=50&access_token=")
    p.v("SECRET", rnd(AL, 32)).t("&page=2 -> 401\n")
    p.t("2025-11-02T10:14:04Z DEBUG request headers: Authorization: Bearer ").v("SECRET", rnd(B64U, 40)).t("\n")
    p.t("Traceback (most recent call last):\n  File \"/srv/app/worker.py\", line 88, in run\n"
        "    resp.raise_for_status()\nrequests.exceptions.HTTPError: 401 Client Error\n")
    p.t("Client ip was ").v("IP", f"{R.randint(11, 199)}.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}")
    p.t(". Is the token expired?")
    return p


def webhook_ticket():
    p = P("ticket").t("Ticket #" + str(R.randint(10000, 99999)) + ": alerts stopped arriving in Slack. Our webhook is ")
    p.t("https://hooks.slack.com/services/").v(
        "API_KEY", "T" + rnd(UP, 8) + "/B" + rnd(UP, 10) + "/" + rnd(AL, 24))
    p.t(" and it returns 404 since Monday. Contact: ").v("EMAIL", f"{R.choice(NAMES)}@acme-corp.com").t(".")
    return p


def magic_link():
    p = P("ticket").t("The customer forwarded the login e-mail; the link was ")
    p.t("https://app.acme.io/auth/magic/").v("SECRET", rnd(B64U, 43))
    p.t("?redirect=%2Fdashboard and it says 'expired' right away. Their phone is ")
    p.v("PHONE", R.choice(["1 (212) 935-0366", "+1 415 555 2671", "0171/2345678", "+49 30 901820"]))
    p.t(".")
    return p


def url_pw_hash():
    pw = rnd(AL, 6) + "#" + rnd(AL, 5)
    p = P("chat").t("[10:02] omar: try `redis://").v("URL_CREDENTIALS", f"default:{pw}")
    p.t("@redis.cache.corp:6379/0`\n[10:03] ana: thanks, works\n")
    return p


def aws_pair():
    ak, sk = R.choice([AWS_DOC_PAIR, ("AKIA" + rnd("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16), aws_secret())])
    p = P("config").t("~/.aws/credentials\n[default]\naws_access_key_id = ").v("API_KEY", ak)
    p.t("\naws_secret_access_key = ").v("SECRET", sk).t("\nregion = eu-central-1\n")
    if R.random() < 0.5:
        p.t("aws_session_token = ").v("SECRET", sts_token()).t("\n")
    p.t("boto3 says SignatureDoesNotMatch.")
    return p


def pem_paste():
    kind = R.choice(["RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY", "OPENSSH PRIVATE KEY",
                     "ENCRYPTED PRIVATE KEY", "PRIVATE KEY"])
    p = P("ticket").t("SSH fails with 'invalid format', this is the key I use:\n").v("PRIVATE_KEY", pem(kind))
    p.t("\nThe public half is in authorized_keys.")
    return p


def pgp_paste():
    p = P("chat").t("[09:12] li.wei: exported my signing key for the release box:\n").v("PRIVATE_KEY", pgp())
    p.t("\n[09:13] kofi: please never paste that here")
    return p


def code_snippet():
    name, mk = R.choice(PROVIDERS)
    p = P("code").t("Why does this return 403?\n```python\nimport requests\n\nclient = Client(\n    api_key=\"")
    p.v("API_KEY", mk()).t("\",\n    timeout=30,\n)\n")
    p.t("session.cookies.set('connect.sid', '").v("SECRET", "s%3A" + rnd(B64U, 32) + "." + rnd(AL, 20) + "%2B" + rnd(AL, 20))
    p.t("')\n```")
    return p


def jwt_chat():
    p = P("chat").t("[14:20] priya: the SPA sends ").v("JWT", jwt()).t(" but the API rejects it\n")
    p.t("[14:21] omar: check the clock skew on ").v("IP", f"10.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}")
    p.t("\n")
    return p


def provider_mention():
    name, mk = R.choice(PROVIDERS)
    p = P("ticket").t(R.choice([
        "I rotated the key yesterday, the new one is ",
        "Our CI prints this token in the job log: ",
        "Please whitelist the integration that uses ",
        "hey can you check why ",
    ])).v("API_KEY", mk()).t(R.choice([" fails with 401.", " — is it scoped correctly?", "\nThanks!", " is rejected"]))
    return p


def pii_variants():
    p = P("ticket").t("Customer update: SSN on file ")
    p.v("SSN", R.choice(["078 05 1120", "219-09-9999", "536 22 8726"]))
    p.t(", refund to IBAN:").v("IBAN", R.choice(["DE89370400440532013000", "GB82WEST12345698765432"]))
    p.t(" (they also wrote it as ").v("IBAN", R.choice(["de89 3704 0044 0532 0130 00", "gb82 west 1234 5698 7654 32"]))
    p.t("). Reach them at ").v("EMAIL", R.choice(["jürgen.müller@beispiel.de", "zoë@example.fr", "jane%40example.com"]))
    p.t(" or ").v("PHONE", R.choice(["1 (212) 935-0366", "0171/2345678", "+44 20 7946 0958"]))
    p.t(f". Running app {version4()} on build {commit_id()[:12]}.")
    return p


def ssh_user_ip():
    p = P("log").t("sshd[811]: Accepted publickey for deploy from ").v("IP", f"203.0.113.{R.randint(1, 254)}")
    p.t(" port 51122\nthen I ran ssh root@").v("IP", f"198.51.100.{R.randint(1, 254)}")
    p.t(" and http://").v("IP", f"192.0.2.{R.randint(1, 254)}").t(":8080/health returned 502.")
    return p


def negatives():
    # Nothing here is a secret or PII; every value must stay.
    p = P("log").t(random_neg())
    return p


def random_neg():
    picks = [
        f"Upgraded to {version4()} and rebased onto {commit_id()}.",
        f"Thumbnail: <img src=\"{data_uri()}\"> renders blank in Safari.",
        f"Request id {uuid()} took 1.2 s; trace {uuid()}.",
        f"docker pull ghcr.io/acme/api@sha256:{rnd(HEX, 64)} fails.",
        f"npm ERR! integrity sha512-{base64.b64encode(bytes(R.getrandbits(8) for _ in range(64))).decode()} mismatch.",
        f"git cherry-pick {commit_id()[:7]} {commit_id()} broke the build on 2024-01-15.",
        f"The md5 of the export is {rnd(HEX, 32)}, expected something else.",
        "Use scikit-learn (sklearn) not sk-learn; set max_tokens: 256 and temperature 0.2.",
        f"Chrome/{version4()} Safari/537.36 on build 20241103.1",
    ]
    return " ".join(R.sample(picks, 3))


MAKERS = [env_file, yaml_cfg, json_cfg, k8s_secret, conn_string, log_lines, webhook_ticket,
          magic_link, url_pw_hash, aws_pair, pem_paste, pgp_paste, code_snippet, jwt_chat,
          provider_mention, provider_mention, provider_mention, pii_variants, ssh_user_ip,
          negatives]


def main():
    out = []
    for i in range(200):
        mk = MAKERS[i % len(MAKERS)]
        p = mk()
        if R.random() < 0.3:
            p.t("\n\n" + random_neg())
        d = p.build()
        d["id"] = i
        out.append(d)
    # Every provider appears at least once, in a prompt of its own.
    for name, mk in PROVIDERS:
        p = P("ticket").t(f"({name}) the key ").v("API_KEY", mk()).t(" stopped working this morning.")
        d = p.build()
        d["id"] = len(out)
        out.append(d)
    path = os.path.join(HERE, "prompts.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for d in out:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    print(f"{len(out)} prompts, {sum(len(d['spans']) for d in out)} labelled spans -> {path}")


if __name__ == "__main__":
    main()
