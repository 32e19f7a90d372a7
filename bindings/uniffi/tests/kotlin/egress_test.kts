// Kotlin tests of the AI egress bindings (redaction, pseudonymization and restore,
// per-organization policies): run by scripts/kotlin.sh. A failed check exits non-zero.

import tenantguard.*
import tenantguard.test.*
import kotlinx.coroutines.runBlocking

var service: ServiceRole = guardInMemoryWithService().service
val text = "Mail jane@example.com or call +1 415 555 2671, card 4111 1111 1111 1111."

test("redactor: one pass finds values by byte range; mask, tag, hash") {
    Redactor().use { r ->
        val found = r.find(text)
        check(found.map { it.tag } == listOf("EMAIL", "PHONE", "CARD")) { found.toString() }
        check(found.all { it.category == RedactCategory.PII })
        val bytes = text.toByteArray()
        check(bytes.decodeToString(found[0].start.toInt(), found[0].end.toInt()) == "jane@example.com")
        check(bytes.decodeToString(found[2].start.toInt(), found[2].end.toInt()) == "4111 1111 1111 1111")
        // Offsets are UTF-8 bytes: a non-ASCII prefix shifts them past the UTF-16 index.
        val e = r.find("Grüße jane@example.com").single()
        check(e.start == 8uL && e.end == 24uL) { e.toString() }

        val tagged = r.tag(text)
        check(tagged.text == "Mail [EMAIL] or call [PHONE], card [CARD].") { tagged.text }
        check(tagged.summary == mapOf("EMAIL" to 1uL, "PHONE" to 1uL, "CARD" to 1uL))
        val masked = r.mask(text).text
        check(!masked.contains("jane") && masked.contains("1111.") && !masked.contains("4111")) { masked }
        val key = ByteArray(32) { 7 }
        val h1 = r.hash("jane@example.com", key).text
        check(h1.matches(Regex("\\[EMAIL:[0-9a-f]{12}]")) && h1 == r.hash("jane@example.com", key).text) { h1 }
        check(h1 != r.hash("jane@example.com", ByteArray(32) { 8 }).text)
        expect<TenantguardException.InvalidInput>("32 bytes") { r.hash("x", ByteArray(3)) }
        expect<TenantguardException.TooLarge>("over the redaction limit") { r.find("a".repeat(4 * 1024 * 1024 + 1)) }
    }
    // Secrets and the organization's own terms and patterns.
    Redactor(terms = listOf("Project Falcon"), patterns = listOf(OrgPattern("TICKET", "TCK-[0-9]{4}"))).use { r ->
        val out = r.tag("Project Falcon key AKIAIOSFODNN7EXAMPLE for TCK-1234").text
        check(out == "[TERM] key [API_KEY] for [TICKET]") { out }
    }
    Redactor(categories = listOf(RedactCategory.SECRET)).use { r ->
        check(r.tag("jane@example.com AKIAIOSFODNN7EXAMPLE").text == "jane@example.com [API_KEY]")
    }
    expect<TenantguardException.InvalidInput> { Redactor(patterns = listOf(OrgPattern("bad tag", "x"))) }
    expect<TenantguardException.InvalidInput> { Redactor(patterns = listOf(OrgPattern("T", "("))) }
}

test("personal data: names, addresses, dates of birth, ids; the organization's names and exempt words") {
    Redactor().use { r ->
        val out = r.tag("Dear Ms Novak, Anna Kovačič lives at Slovenska cesta 50, 1000 Ljubljana, born 12. 3. 1985, EMŠO 0101006500006.").text
        check(out == "Dear Ms [NAME], [NAME] lives at [ADDRESS], born [DOB], EMŠO [NATIONAL_ID].") { out }
        // Without the organization's lists, a lone unknown word mid-sentence is not a name.
        check(r.tag("ask Zorblax about Hope").text == "ask Zorblax about Hope")
    }
    Redactor(names = listOf("Zorblax"), exempt = listOf("Dana")).use { r ->
        check(r.tag("ask Zorblax about it").text == "ask [NAME] about it")
        check(r.tag("the Dana plan for Emily Brown").text == "the Dana plan for [NAME]")
    }
    expect<TenantguardException.InvalidInput> { Redactor(names = listOf(" ")) }
}

test("pseudonymize and restore round trip; fakes too; expired sessions refuse") {
    val r = Redactor()
    PseudonymSession("acme").use { s ->
        val out = r.pseudonymize(text, s)
        check(out.text == "Mail <EMAIL_1> or call <PHONE_1>, card <CARD_1>.") { out.text }
        check(s.size() == 3uL && s.tenant() == "acme" && !s.isExpired())
        check(!s.toString().contains("jane") && !out.findings.toString().contains("jane")) { s.toString() }
        // The same value keeps its placeholder within the session.
        check(r.pseudonymize("again: jane@example.com", s).text == "again: <EMAIL_1>")
        val answer = "I wrote to <EMAIL_1> and called <PHONE_1>; <EMAIL_9> stays."
        check(s.restore(answer) == "I wrote to jane@example.com and called +1 415 555 2671; <EMAIL_9> stays.")
        check(s.restore(out.text) == text)
        s.expire()
        check(s.isExpired())
        expect<TenantguardException.NotFound>("expired") { s.restore("<EMAIL_1>") }
    }
    PseudonymSession("acme", 60uL).use { s ->
        val fake = r.fake(text, s)
        check(!fake.text.contains("jane@example.com") && !fake.text.contains("4111 1111 1111 1111")) { fake.text }
        check(s.restore(fake.text) == text)
    }
    expect<TenantguardException.InvalidInput>("24 hours") { PseudonymSession("acme", 100_000uL) }
    expect<TenantguardException.InvalidInput>("invalid tenant id") { PseudonymSession("a:b") }
}

test("egress: permissive default, redaction by policy, restore, multi-turn, refusals, audit") {
    val store = Store.memory()
    guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), store).also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        Egress(g, store, exampleRegistry()).use { e ->
            check(e.registry().map { it.id } == listOf("llm-chat", "llm-agents", "reranker", "observability"))
            check(e.policy(acme) == egressPolicyDefault())

            // The default policy is permissive: the text goes out unchanged.
            val d0 = e.prepare(acme, "llm-chat", "Mail jane@example.com")
            check(d0 is EgressDecision.Allowed && d0.prepared.text() == "Mail jane@example.com" && d0.prepared.session() == null)

            // The organization opts into redaction by policy alone.
            check(e.setPolicy(acme, egressPolicyDefault().copy(redaction = RedactionLevel.PII)) == 1uL)
            val d1 = e.prepare(acme, "llm-chat", "Mail jane@example.com")
            check(d1 is EgressDecision.Allowed) { d1.toString() }
            val p = (d1 as EgressDecision.Allowed).prepared
            check(p.text() == "Mail <EMAIL_1>" && p.provider() == "llm-chat" && p.summary() == mapOf("EMAIL" to 1uL))
            check(p.restore("Done: wrote to <EMAIL_1>") == "Done: wrote to jane@example.com")
            check(!p.toString().contains("jane")) { p.toString() }
            // Next turn: the same session keeps placeholders stable.
            val d2 = e.prepare(acme, "llm-chat", "and bob@example.com, cc jane@example.com", session = p.session())
            check((d2 as EgressDecision.Allowed).prepared.text() == "and <EMAIL_2>, cc <EMAIL_1>") { d2.toString() }
            check(p.session()!!.restore("<EMAIL_2>") == "bob@example.com")

            // A policy refusing a provider, and the strict posture's hints.
            e.setPolicy(acme, egressPolicyStrict().copy(allowedProviders = listOf("llm-agents"), optedOut = listOf("reranker")))
            val refused = e.prepare(acme, "llm-chat", "hello")
            check(refused is EgressDecision.Denied && refused.reason == DenyReason.ProviderNotAllowed) { refused.toString() }
            check((refused as EgressDecision.Denied).message.contains("does not allow this provider"))
            val unknown = e.prepare(acme, "pastebin", "hello") as EgressDecision.Denied
            check(unknown.reason == DenyReason.UnknownProvider)
            val allowed = e.prepare(acme, "llm-agents", "key AKIAIOSFODNN7EXAMPLE") as EgressDecision.Allowed
            check(allowed.prepared.text() == "key <API_KEY_1>") { allowed.prepared.text() }
            check(allowed.prepared.retention() == RetentionHints(true, false, 0u))

            // Categories per provider.
            val cats = egressPolicyDefault().copy(categories = mapOf("llm-agents" to listOf("prompts")))
            e.setPolicy(acme, cats)
            val doc = e.prepare(acme, "llm-agents", "report", category = "documents") as EgressDecision.Denied
            check(doc.reason == DenyReason.CategoryNotAllowed("documents")) { doc.toString() }
            val pii = e.prepare(acme, "llm-agents", "jane@example.com") as EgressDecision.Denied
            check(pii.reason == DenyReason.CategoryNotAllowed("pii")) { pii.toString() }
            check(e.policy(acme) == cats)

            // Invalid policies are refused; only admins change them; anyone may prepare.
            expect<TenantguardException.InvalidInput>("not optional") { e.setPolicy(acme, egressPolicyDefault().copy(optedOut = listOf("llm-chat"))) }
            expect<TenantguardException.InvalidInput>("not in the sub-processor registry") {
                e.setPolicy(acme, egressPolicyDefault().copy(allowedProviders = listOf("nobody")))
            }
            val viewer = TenantContext.resolved(service, "acme", "vic", Role.VIEWER)
            g.setMember(acme, "vic", Role.VIEWER) // policy changes check the stored role
            expect<TenantguardException.PermissionDenied>("needs role admin") { e.setPolicy(viewer, egressPolicyDefault()) }
            check(e.prepare(viewer, "llm-chat", "hi") is EgressDecision.Allowed)

            // Every decision is in the audit log, counts only.
            val decisions = g.auditEntries(acme, 0uL, 1000u).filter { it.action == "egress.decision" }
            check(decisions.size == 9) { "decisions: ${decisions.size}" }
            check(decisions.none { it.toString().contains("jane") || it.toString().contains("AKIA") })
            check(decisions.any { it.details["allowed"] == "false" && it.target == "llm-chat" })

            runBlocking {
                e.setPolicyAsync(acme, egressPolicyStrict())
                val d = e.prepareAsync(acme, "llm-chat", "jane@example.com")
                check((d as EgressDecision.Allowed).prepared.text() == "<EMAIL_1>")
                check(e.policyAsync(acme).redaction == RedactionLevel.STRICT)
            }
        }
        expect<TenantguardException.InvalidInput> {
            Egress(g, store, listOf(SubProcessor("Bad Id", "n", "p", listOf(), false, "")))
        }
    }
}

/** An egress observer implemented in Kotlin; throws `fail` (if set) after recording. */
class Recorder : EgressObserver {
    val events: MutableList<EgressEvent> = java.util.Collections.synchronizedList(mutableListOf())
    @Volatile var fail: Throwable? = null
    override fun onEgress(event: EgressEvent) {
        events.add(event)
        fail?.let { throw it }
    }
}

test("egress observers implemented in Kotlin see every decision; what they throw is dropped") {
    val store = Store.memory()
    guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), store).also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val rec = Recorder()
        val rec2 = Recorder()
        Egress.forGuard(g, exampleRegistry(), listOf(rec, rec2)).use { e ->
            e.setPolicy(acme, egressPolicyDefault().copy(redaction = RedactionLevel.PII))
            val prompt = "Mail jane@example.com"
            val d = e.prepare(acme, "llm-chat", prompt) as EgressDecision.Allowed
            check(rec.events.size == 1 && rec2.events == rec.events) { rec.events.toString() }
            val ev = rec.events[0]
            check(ev.tenant == "acme" && ev.actor == "service" && ev.provider == "llm-chat" && ev.category == "prompts") { ev.toString() }
            check(ev.allowed && ev.reason == null && ev.level == RedactionLevel.PII && ev.policyVersion == 1uL) { ev.toString() }
            check(ev.redacted == mapOf("EMAIL" to 1uL)) { ev.toString() }
            check(ev.bytesIn == prompt.length.toULong() && ev.bytesOut == d.prepared.text().length.toULong()) { ev.toString() }
            check(ev.at > 1_600_000_000L && !ev.toString().contains("jane")) { ev.toString() }

            val denied = e.prepare(acme, "nobody", "x", "documents")
            check(denied is EgressDecision.Denied && denied.reason == DenyReason.UnknownProvider)
            val dv = rec.events[1]
            check(!dv.allowed && dv.reason == DenyReason.UnknownProvider && dv.provider == "nobody" && dv.category == "documents" && dv.bytesOut == 0uL) { dv.toString() }

            // A throwing observer (typed or not) does not panic the core nor change the decision.
            rec.fail = HostException.Failed("metrics down")
            check(e.prepare(acme, "llm-chat", "hi") is EgressDecision.Allowed)
            rec.fail = IllegalStateException("boom")
            check(e.prepare(acme, "llm-chat", "hi") is EgressDecision.Allowed)
            check(rec.events.size == 4 && rec2.events.size == 4) { "${rec.events.size} ${rec2.events.size}" }
            // The suspending path reports too, from the runtime's thread.
            runBlocking { e.prepareAsync(acme, "llm-chat", "hi") }
            check(rec.events.size == 5 && rec.events[4].allowed)
        }
        // The store-taking constructor accepts observers too.
        val rec3 = Recorder()
        Egress(g, store, exampleRegistry(), listOf(rec3)).use { e ->
            e.prepare(acme, "llm-chat", "hi")
            check(rec3.events.single().policyVersion == 1uL && rec.events.size == 5)
        }
    }
}

test("Egress.forGuard keeps policies in the guard's own store (embedded SQLite)") {
    val dir = java.nio.file.Files.createTempDirectory("tg-egress").toString()
    var acme = TenantContext.service("acme", service)
    guardEmbeddedWithService(dir).also { service = it.service }.guard.use { g ->
        acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        Egress.forGuard(g, exampleRegistry()).use { e ->
            check(e.setPolicy(acme, egressPolicyStrict()) == 1uL)
            val d = e.prepare(acme, "llm-chat", "jane@example.com") as EgressDecision.Allowed
            check(d.prepared.text() == "<EMAIL_1>") { d.prepared.text() }
        }
    }
    // Reopened from disk: the policy was written to tenantguard.db, not to memory.
    guardEmbeddedWithService(dir).also { service = it.service }.guard.use { g ->
        acme = TenantContext.service("acme", service) // a restart: its own capability
        Egress.forGuard(g, exampleRegistry()).use { e ->
            check(e.policy(acme) == egressPolicyStrict())
        }
        // The same database through an explicit SQLite store sees it as well.
        Egress(g, Store.sqlite("$dir/tenantguard.db"), exampleRegistry()).use { e ->
            check(e.policy(acme).redaction == RedactionLevel.STRICT)
        }
    }
    // A guard built from a Store uses that store's policies.
    val store = Store.memory()
    guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), store).also { service = it.service }.guard.use { g ->
        acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        Egress.forGuard(g, exampleRegistry()).use { e -> e.setPolicy(acme, egressPolicyStrict()) }
        Egress(g, store, exampleRegistry()).use { e -> check(e.policy(acme) == egressPolicyStrict()) }
    }
}

test("stream restorer: chunks split inside placeholders restore like the whole answer") {
    PseudonymSession("acme").use { s ->
        Redactor().use { r -> r.pseudonymize(text, s) }
        val answer = "Sure: <EMAIL_1>, <PHONE_1> and <CARD_1> (not <EMAIL_9>) <EMAIL_1"
        val whole = s.restore(answer)
        check(whole.contains("jane@example.com") && whole.contains("4111 1111 1111 1111") && !whole.contains("<PHONE_1>")) { whole }
        for (size in 1..12) {
            s.stream().use { st ->
                val out = StringBuilder()
                answer.chunked(size).forEach { out.append(st.push(it)) }
                out.append(st.finish())
                check(out.toString() == whole) { "chunk size $size: $out" }
                expect<TenantguardException.InvalidInput>("finished") { st.finish() }
                expect<TenantguardException.InvalidInput>("finished") { st.push("x") }
            }
        }
        // At most one placeholder is held back; text is emitted as soon as it is final.
        val st = s.stream()
        check(st.push("Dear <EM") == "Dear ")
        check(st.push("AIL_1> ok") == "jane@example.com ok")
        check(st.finish() == "")
        expect<TenantguardException.TooLarge> { s.stream().push("a".repeat(4 * 1024 * 1024 + 1)) }
        // Restorers outlive the caller's handle to the session, and see its expiry.
        val late = s.stream()
        s.expire()
        expect<TenantguardException.NotFound>("expired") { late.push("<EMAIL_1>") }
    }
    // From an egress decision, across threads.
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        Egress.forGuard(g, exampleRegistry()).use { e ->
            e.setPolicy(acme, egressPolicyDefault().copy(redaction = RedactionLevel.PII))
            val d = e.prepare(acme, "llm-chat", text) as EgressDecision.Allowed
            val st = d.prepared.session()!!.stream()
            val parts = d.prepared.text().chunked(3)
            val out = StringBuffer()
            val t = Thread { parts.take(parts.size / 2).forEach { out.append(st.push(it)) } }
            t.start(); t.join()
            parts.drop(parts.size / 2).forEach { out.append(st.push(it)) }
            out.append(st.finish())
            check(out.toString() == text) { out.toString() }
        }
    }
}

test("identifiers count as secrets only when the organization switches it on") {
    val text = "commit 3f9a2b7c1d4e5f60718293a4b5c6d7e8f9a0b1c2 with PGPASSWORD=s3cr3t-Pg"
    Redactor().use { r ->
        check(r.tag(text).text == "commit 3f9a2b7c1d4e5f60718293a4b5c6d7e8f9a0b1c2 with PGPASSWORD=[SECRET]") { r.tag(text).text }
    }
    Redactor(identifiersAsSecrets = true).use { r ->
        check(r.tag(text).text == "commit [SECRET] with PGPASSWORD=[SECRET]") { r.tag(text).text }
    }
    val strict = egressPolicyStrict().copy(identifiersAsSecrets = true)
    check(strict.identifiersAsSecrets)
    check(!egressPolicyDefault().identifiersAsSecrets)
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        Egress.forGuard(g, exampleRegistry()).use { e ->
            e.setPolicy(acme, strict.copy(operator = RedactOperator.TAG))
            val d = e.prepare(acme, "llm-chat", text) as EgressDecision.Allowed
            check(!d.prepared.text().contains("3f9a2b7c")) { d.prepared.text() }
        }
    }
}

test("an organization sets its own names and exempt words by policy") {
    val text = "Please ask Zorblax whether Aurora shipped."
    check(egressPolicyDefault().names.isEmpty() && egressPolicyDefault().exempt.isEmpty())
    val mine = egressPolicyDefault().copy(
        redaction = RedactionLevel.PII, operator = RedactOperator.TAG,
        names = listOf("Zorblax Quennick"), exempt = listOf("aurora"),
    )
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        Egress.forGuard(g, exampleRegistry()).use { e ->
            e.setPolicy(acme, mine.copy(names = listOf(), exempt = listOf()))
            val before = e.prepare(acme, "llm-chat", text) as EgressDecision.Allowed
            check(before.prepared.text() == "Please ask Zorblax whether [NAME] shipped.") { before.prepared.text() }
            e.setPolicy(acme, mine)
            check(e.policy(acme) == mine)
            val d = e.prepare(acme, "llm-chat", text) as EgressDecision.Allowed
            check(d.prepared.text() == "Please ask [NAME] whether Aurora shipped.") { d.prepared.text() }
            expect<TenantguardException.InvalidInput> { e.setPolicy(acme, mine.copy(names = listOf("x".repeat(129)))) }
            check(e.policy(acme) == mine)
        }
    }
}

println("egress_test.kts: $passed tests passed")
