"""Streaming restore: an LLM answer arriving in chunks gets its pseudonyms restored even when
a placeholder is split across chunks, from a session or from a prepared egress request."""

import gc
import pickle

import pytest

import tenantguard as tg

TEXT = (
    "Hi, I'm jane@example.com, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, "
    "cc bob@example.org and jane@example.com again."
)


def pseudonymized() -> tuple[tg.PseudonymSession, str]:
    session = tg.PseudonymSession("acme")
    text = tg.Redactor().redact(TEXT, "pseudonymize", session=session).text
    return session, text


def stream(restorer: tg.StreamRestorer, answer: str, size: int) -> str:
    out = [restorer.push(answer[i : i + size]) for i in range(0, len(answer), size)]
    return "".join(out) + restorer.finish()


def test_chunked_restore_equals_whole_restore_for_every_chunk_size() -> None:
    session, text = pseudonymized()
    answer = f"Sure: {text} <EMAIL_3> <EMAIL_1"
    whole = session.restore(answer)
    assert "jane@example.com" in whole and "<EMAIL_3>" in whole
    for size in range(1, 13):
        assert stream(session.stream_restorer(), answer, size) == whole, size


def test_split_placeholder_is_held_back_until_complete() -> None:
    session = tg.PseudonymSession("acme")
    tg.Redactor().redact("a@example.com", "pseudonymize", session=session)
    st = session.stream_restorer()
    assert st.push("Dear <EM") == "Dear "
    assert st.held_back == 3
    assert "EM" not in repr(st) and repr(st) == "StreamRestorer(held_back=3)"
    assert st.push("AIL_1> and <b>bold</b>") == "a@example.com and <b>bold</b>"
    assert not st.finished
    assert st.finish() == ""
    assert st.finished and st.held_back == 0
    with pytest.raises(ValueError, match="finished StreamRestorer"):
        st.push("more")
    with pytest.raises(ValueError, match="finished StreamRestorer"):
        st.finish()


def test_restorer_keeps_its_session_alive_and_stops_when_it_expires() -> None:
    session, text = pseudonymized()
    st = session.stream_restorer()
    del session
    gc.collect()
    assert "jane@example.com" in stream(st, text, 7)

    session, text = pseudonymized()
    st = session.stream_restorer()
    assert text.startswith("Hi, I'm <EMAIL_1>")
    assert st.push(text[:10]) == "Hi, I'm "
    session.expire()
    with pytest.raises(tg.NotFoundError):
        st.push(text[10:])
    with pytest.raises(tg.NotFoundError):
        st.finish()


def test_restorer_limits_and_pickling() -> None:
    session, _ = pseudonymized()
    st = session.stream_restorer()
    with pytest.raises(tg.TooLargeError):
        st.push("x" * (4 * 1024 * 1024 + 1))
    with pytest.raises(TypeError):
        pickle.dumps(st)


def test_prepared_stream_restorer() -> None:
    store = tg.MemoryStore()
    guard, _service = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), store)
    acme = tg.TenantContext.service("acme", _service)
    with guard:
        guard.create_tenant(acme)
        egress = tg.Egress(guard, store, registry=tg.Registry.example())
        # Nothing pseudonymized: text passes through unchanged, nothing held back.
        plain = egress.prepare(acme, "llm-chat", "Mail jane@example.com").prepared
        assert plain is not None and plain.session is None
        st = plain.stream_restorer()
        assert st.push("<EMAIL_") == "<EMAIL_" and st.finish() == ""

        egress.set_policy(acme, tg.EgressPolicy.strict())
        prepared = egress.prepare(acme, "llm-chat", "Mail jane@example.com").prepared
        assert prepared is not None and "<EMAIL_1>" in prepared.text
        answer = "I wrote to <EMAIL_1> as asked."
        for size in (1, 3, 5):
            assert stream(prepared.stream_restorer(), answer, size) == prepared.restore(answer)
        assert prepared.restore(answer) == "I wrote to jane@example.com as asked."
