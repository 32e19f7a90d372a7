"""AI egress from Python: per-organization policies, prepare(), redaction with every
operator, and reversible pseudonymization with restore."""

import pickle
from collections.abc import Iterator

import pytest

import tenantguard as tg

TEXT = (
    "Hi, I'm jane@example.com, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, "
    "cc bob@example.org and jane@example.com again."
)


@pytest.fixture
def world() -> Iterator[tuple[tg.Guard, tg.Egress, tg.TenantContext, tg.ServiceRole]]:
    store = tg.MemoryStore()
    guard, service = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), store)
    with guard:
        acme = tg.TenantContext.service("acme", service)
        guard.create_tenant(acme)
        yield guard, tg.Egress(guard, store, registry=tg.Registry.example()), acme, service


@pytest.fixture
def setup(
    world: tuple[tg.Guard, tg.Egress, tg.TenantContext, tg.ServiceRole],
) -> tuple[tg.Guard, tg.Egress, tg.TenantContext]:
    return world[0], world[1], world[2]


def test_default_policy_is_permissive(setup: tuple[tg.Guard, tg.Egress, tg.TenantContext]) -> None:
    _, egress, acme = setup
    assert egress.policy(acme) == tg.EgressPolicy()
    d = egress.prepare(acme, "llm-chat", "Mail jane@example.com")
    assert d.allowed and d and d.reason is None
    assert d.prepared is not None
    assert d.prepared.text == "Mail jane@example.com"
    assert d.prepared.restore("ok") == "ok"
    assert "jane" not in repr(d.prepared) and "jane" not in repr(d)


def test_policy_redacts_and_restores(setup: tuple[tg.Guard, tg.Egress, tg.TenantContext]) -> None:
    guard, egress, acme = setup
    version = egress.set_policy(acme, tg.EgressPolicy(redaction="pii"))
    assert version >= 1
    assert egress.policy(acme).redaction == "pii"
    d = egress.prepare(acme, "llm-chat", "Mail jane@example.com")
    p = d.prepared
    assert p is not None
    assert p.text == "Mail <EMAIL_1>"
    assert p.summary == {"EMAIL": 1}
    restored = p.restore("Done: wrote to <EMAIL_1>")
    assert restored == "Done: wrote to jane@example.com"
    assert "jane" not in repr(p)
    # The policy change was audited.
    assert any(e.action == "policy.change" for e in guard.audit_entries(acme))


def test_policy_refuses_providers(world: tuple[tg.Guard, tg.Egress, tg.TenantContext, tg.ServiceRole]) -> None:
    # User contexts are vouched with the capability of the guard they are used with.
    _, egress, acme, service = world
    egress.set_policy(
        acme,
        tg.EgressPolicy(
            allowed_providers={"llm-chat", "reranker"},
            opted_out={"reranker"},
            categories={"llm-chat": {"prompts"}},
        ),
    )
    no = egress.prepare(acme, "llm-agents", "hello")
    assert not no.allowed and not no and no.prepared is None
    assert no.reason == "provider_not_allowed"
    assert no.message is not None and "policy" in no.message
    assert egress.prepare(acme, "reranker", "hello").reason == "opted_out"
    assert egress.prepare(acme, "nobody", "hello").reason == "unknown_provider"
    cat = egress.prepare(acme, "llm-chat", "hello", category="documents")
    assert (cat.reason, cat.category) == ("category_not_allowed", "documents")
    assert egress.prepare(acme, "llm-chat", "hello").allowed
    # Unknown providers in a policy are refused when it is set.
    with pytest.raises(tg.InvalidInputError):
        egress.set_policy(acme, tg.EgressPolicy(allowed_providers={"not-registered"}))
    # Only admins change it; viewers may use it.
    viewer = tg.TenantContext.resolved(service, "acme", "vic", "viewer")
    with pytest.raises(tg.PermissionDeniedError):
        egress.set_policy(viewer, tg.EgressPolicy())
    assert egress.prepare(viewer, "llm-chat", "hi").allowed


def test_strict_policy_json_round_trip(setup: tuple[tg.Guard, tg.Egress, tg.TenantContext]) -> None:
    _, egress, acme = setup
    strict = tg.EgressPolicy.strict()
    assert (strict.redaction, strict.zero_data_retention, strict.prompt_cache) == ("strict", True, False)
    assert tg.EgressPolicy.from_json(strict.to_json()) == strict
    with pytest.raises(tg.InvalidInputError):
        tg.EgressPolicy.from_json('{"no_such_field": 1}')
    with pytest.raises(tg.InvalidInputError):
        tg.EgressPolicy(redaction="loud")  # type: ignore[arg-type]
    policy = tg.EgressPolicy(
        redaction="strict", terms=["Project Falcon"], patterns={"TICKET": r"TCK-[0-9]{4}"}
    )
    egress.set_policy(acme, policy)
    p = egress.prepare(acme, "llm-chat", "Project Falcon: see TCK-1234, mail jane@example.com").prepared
    assert p is not None
    assert "Falcon" not in p.text and "TCK-1234" not in p.text and "jane" not in p.text
    assert p.restore(p.text) == "Project Falcon: see TCK-1234, mail jane@example.com"
    assert egress.policy(acme).patterns == {"TICKET": r"TCK-[0-9]{4}"}


def test_redactor_operators() -> None:
    r = tg.Redactor()
    tagged = r.redact(TEXT, "tag")
    assert tagged.text == "Hi, I'm [EMAIL], card [CARD], IBAN [IBAN], cc [EMAIL] and [EMAIL] again."
    assert tagged.summary == {"EMAIL": 3, "CARD": 1, "IBAN": 1}
    assert [f.tag for f in tagged.findings] == ["EMAIL", "CARD", "IBAN", "EMAIL", "EMAIL"]
    first = tagged.findings[0]
    assert TEXT.encode()[first.start : first.end] == b"jane@example.com"
    assert first.category == "pii"
    assert "jane" not in repr(tagged)

    masked = r.redact(TEXT, "mask").text
    assert "**** **** **** 1111" in masked and "jane" not in masked

    key = bytes(range(32))
    h1 = r.redact("jane@example.com", "hash", hash_key=key).text
    assert h1 == r.redact("jane@example.com", "hash", hash_key=key).text
    assert h1 != r.redact("jane@example.com", "hash", hash_key=bytes(32)).text
    assert h1.startswith("[EMAIL:") and "jane" not in h1
    with pytest.raises(tg.InvalidInputError):
        r.redact(TEXT, "hash")
    with pytest.raises(tg.InvalidInputError):
        r.redact(TEXT, "pseudonymize")
    with pytest.raises(tg.InvalidInputError):
        r.redact(TEXT, "shout")  # type: ignore[arg-type]
    assert [f.tag for f in r.find("call +1 415 555 2671")] == ["PHONE"]


def test_identifiers_as_secrets_is_a_per_organization_switch(
    setup: tuple[tg.Guard, tg.Egress, tg.TenantContext],
) -> None:
    _, egress, acme = setup
    text = "commit 3f9a2b7c1d4e5f60718293a4b5c6d7e8f9a0b1c2 with PGPASSWORD=s3cr3t-Pg"
    assert tg.Redactor().redact(text).text == (
        "commit 3f9a2b7c1d4e5f60718293a4b5c6d7e8f9a0b1c2 with PGPASSWORD=[SECRET]"
    )
    assert tg.Redactor(identifiers_as_secrets=True).redact(text).text == (
        "commit [SECRET] with PGPASSWORD=[SECRET]"
    )
    policy = tg.EgressPolicy(redaction="strict", operator="tag", identifiers_as_secrets=True)
    assert policy.identifiers_as_secrets and not tg.EgressPolicy().identifiers_as_secrets
    assert tg.EgressPolicy.from_json(policy.to_json()) == policy
    egress.set_policy(acme, policy)
    prepared = egress.prepare(acme, "llm-chat", text).prepared
    assert prepared is not None and "3f9a2b7c" not in prepared.text
    egress.set_policy(acme, tg.EgressPolicy(redaction="strict", operator="tag"))
    prepared = egress.prepare(acme, "llm-chat", text).prepared
    assert prepared is not None and "3f9a2b7c" in prepared.text and "s3cr3t" not in prepared.text


def test_personal_data_names_and_exempt_words() -> None:
    r = tg.Redactor()
    text = "Sehr geehrte Frau Müller, Jonas Weber wohnt in der Hauptstraße 12, 10115 Berlin, geboren am 12.03.1985, Steuer-ID 86095742719."
    out = r.redact(text, "tag").text
    assert out == (
        "Sehr geehrte Frau [NAME], [NAME] wohnt in der [ADDRESS], geboren am [DOB], Steuer-ID [NATIONAL_ID]."
    ), out
    assert r.redact("ask Zorblax about it", "tag").text == "ask Zorblax about it"
    own = tg.Redactor(names=["Zorblax"], exempt=["Dana"])
    assert own.redact("ask Zorblax about it", "tag").text == "ask [NAME] about it"
    assert own.redact("the Dana plan for Emily Brown", "tag").text == "the Dana plan for [NAME]"
    with tg.PseudonymSession("acme") as s:
        p = own.redact("Hi Zorblax, Jonas Weber called", "pseudonymize", session=s)
        assert p.text == "Hi <NAME_1>, <NAME_2> called"
        assert s.restore("<NAME_2> and <NAME_1>") == "Jonas Weber and Zorblax"
    with pytest.raises(tg.InvalidInputError):
        tg.Redactor(names=[" "])


def test_names_and_exempt_words_by_policy(setup: tuple[tg.Guard, tg.Egress, tg.TenantContext]) -> None:
    _, egress, acme = setup
    text = "Please ask Zorblax whether Aurora shipped."
    policy = tg.EgressPolicy(redaction="pii", operator="tag", names=["Zorblax Quennick"], exempt=["aurora"])
    assert policy.names == ["Zorblax Quennick"] and policy.exempt == ["aurora"]
    assert tg.EgressPolicy().names == [] and tg.EgressPolicy().exempt == []
    assert tg.EgressPolicy.from_json(policy.to_json()) == policy
    egress.set_policy(acme, tg.EgressPolicy(redaction="pii", operator="tag"))
    prepared = egress.prepare(acme, "llm-chat", text).prepared
    assert prepared is not None and prepared.text == "Please ask Zorblax whether [NAME] shipped."
    egress.set_policy(acme, policy)
    assert egress.policy(acme) == policy
    prepared = egress.prepare(acme, "llm-chat", text).prepared
    assert prepared is not None and prepared.text == "Please ask [NAME] whether Aurora shipped."
    with pytest.raises(tg.InvalidInputError):
        egress.set_policy(acme, tg.EgressPolicy(names=["x" * 129]))
    with pytest.raises(tg.InvalidTypeError):
        tg.EgressPolicy(names="Zorblax")  # type: ignore[arg-type]
    assert egress.policy(acme) == policy


def test_pseudonymize_restore_round_trip() -> None:
    r = tg.Redactor()
    with tg.PseudonymSession("acme") as s:
        out = r.redact(TEXT, "pseudonymize", session=s)
        assert out.text == (
            "Hi, I'm <EMAIL_1>, card <CARD_1>, IBAN <IBAN_1>, cc <EMAIL_2> and <EMAIL_1> again."
        )
        assert len(s) == 4 and s.tenant == "acme"
        assert s.restore(out.text) == TEXT
        assert s.restore("<EMAIL_2> wrote to <EMAIL_1>") == "bob@example.org wrote to jane@example.com"
        assert "jane" not in repr(s)
        with pytest.raises(TypeError):
            pickle.dumps(s)
        fake = r.redact("card 4111 1111 1111 1111", "fake", session=s).text
        assert "4111 1111 1111 1111" not in fake
        assert s.restore(fake) == "card 4111 1111 1111 1111"
    # Leaving the block wiped the mapping.
    assert s.expired
    with pytest.raises(tg.NotFoundError):
        s.restore(out.text)


def test_prepare_uses_a_given_session(setup: tuple[tg.Guard, tg.Egress, tg.TenantContext]) -> None:
    _, egress, acme = setup
    egress.set_policy(acme, tg.EgressPolicy(redaction="pii"))
    s = tg.PseudonymSession("acme", ttl_seconds=60)
    a = egress.prepare(acme, "llm-chat", "jane@example.com", session=s).prepared
    b = egress.prepare(acme, "llm-chat", "bob@example.org and jane@example.com", session=s).prepared
    assert a is not None and b is not None
    assert (a.text, b.text) == ("<EMAIL_1>", "<EMAIL_2> and <EMAIL_1>")
    assert s.restore("<EMAIL_2>") == "bob@example.org"
    with pytest.raises(tg.InvalidInputError):
        tg.PseudonymSession("acme", ttl_seconds=2 * 86_400)


def test_registry() -> None:
    reg = tg.Registry()
    reg.register(tg.SubProcessor("my-llm", "My LLM", "Chat", ["prompts"], location="EU"))
    with pytest.raises(tg.InvalidInputError):
        reg.register(tg.SubProcessor("my-llm", "Again", "Chat", ["prompts"]))
    got = reg.get("my-llm")
    assert got is not None and got.location == "EU" and len(reg) == 1
    assert reg.get("other") is None
    assert "My LLM" in reg.to_markdown()
    assert [p.id for p in tg.Registry.example().providers()][:2] == ["llm-chat", "llm-agents"]


def test_decisions_are_audited_and_observed_without_values() -> None:
    store = tg.MemoryStore()
    events: list[tg.EgressEvent] = []
    guard, _service = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), store)
    with guard:
        acme = tg.TenantContext.service("acme", _service)
        guard.create_tenant(acme)
        egress = tg.Egress(guard, store, registry=tg.Registry.example(), observer=events.append)
        egress.set_policy(acme, tg.EgressPolicy(redaction="pii"))
        assert egress.prepare(acme, "llm-chat", "Mail jane@example.com now").allowed
        assert egress.prepare(acme, "no-such-provider", "Mail jane@example.com now").reason == "unknown_provider"
        ok, no = events
        assert (ok.tenant, ok.actor, ok.provider, ok.allowed, ok.level) == ("acme", "service", "llm-chat", True, "pii")
        assert ok.redacted == {"EMAIL": 1} and ok.bytes_in == len("Mail jane@example.com now")
        assert (no.allowed, no.reason) == (False, "unknown_provider")
        assert "jane" not in repr(ok)
        audited = [e for e in guard.audit_entries(acme) if e.action == "egress.decision"]
        assert len(audited) == 2
        assert all("jane" not in e.to_json_line() for e in audited)


def test_egress_uses_the_guards_own_store_by_default(tmp_path: object) -> None:
    # Embedded guard: the policy lands in its SQLite file and survives a reopen.
    guard, _service = tg.Guard.embedded_with_service(str(tmp_path))
    with guard:
        acme = tg.TenantContext.service("acme", _service)
        guard.create_tenant(acme)
        with tg.Egress(guard, registry=tg.Registry.example()) as egress:
            egress.set_policy(acme, tg.EgressPolicy(redaction="pii", allowed_providers={"llm-chat"}))
    guard, _service = tg.Guard.embedded_with_service(str(tmp_path))
    with guard:
        acme = tg.TenantContext.service("acme", _service)
        with tg.Egress(guard, registry=tg.Registry.example()) as egress:
            d = egress.prepare(acme, "llm-chat", "Mail jane@example.com")
            assert d.allowed and d.prepared is not None and "jane@" not in d.prepared.text
            assert not egress.prepare(acme, "llm-agents", "x").allowed
    # A Guard over a store shares that store's policies with an Egress built without one.
    store = tg.MemoryStore()
    guard, _service = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), store)
    with guard:
        acme = tg.TenantContext.service("acme", _service)
        guard.create_tenant(acme)
        tg.Egress(guard, registry=tg.Registry.example()).set_policy(
            acme, tg.EgressPolicy(allowed_providers={"llm-chat"})
        )
        assert not tg.Egress(guard, store, registry=tg.Registry.example()).prepare(acme, "llm-agents", "x").allowed
