// Kotlin tests of the governance bindings (agent tokens, audit log, retention, passwords,
// sessions): run by scripts/kotlin.sh on the JVM. A failed check throws and kotlinc exits non-zero.

import tenantguard.*
import tenantguard.test.*
import kotlinx.coroutines.runBlocking

/** A clock the test moves by hand. */
class TestClock(@Volatile var t: Long) : Clock {
    override fun nowUnix(): Long = t
}

var service: ServiceRole = guardInMemoryWithService().service
val T0 = 1_700_000_000L

fun guardWith(clock: TestClock, store: Store = Store.memory(), key: ByteArray? = null, keys: LocalKeyProvider = LocalKeyProvider.ephemeral()): Guard =
    guardWithLocalKeyProviderAndService(keys, store, GuardOptions(clock = clock, sessionSigningKey = key)).also { service = it.service }.guard

test("agent tokens: shown once, verified, scoped, expiring, revoked, kill switch") {
    val clock = TestClock(T0)
    guardWith(clock).use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val issued = g.createToken(acme, TokenSpec(agent = "bot-1", name = "ci"))
        val secret = issued.secret()
        check(secret.startsWith("tg_")) { "token prefix" }
        check(!issued.toString().contains(secret) && issued.toString().contains("[REDACTED]")) { issued.toString() }
        check(issued.expiresAt() == null)

        // Read-only on everything by default: an agent principal with scopes, never a role.
        val v = g.verifyToken(secret, "runs/1", TokenAction.READ)
        check(v.tokenId == issued.id() && v.agent == "bot-1" && v.scopes == listOf(TokenScope("*", TokenAction.READ)))
        check(v.context.tenant() == "acme" && v.context.kind() == PrincipalKind.AGENT && v.context.agent() == "bot-1")
        check(v.context.user() == null && v.context.role() == null)
        // Every token error carries the core's reason (`reason`), typed.
        check(expect<TenantguardException.PermissionDenied>("does not allow write") { g.verifyToken(secret, "runs/1", TokenAction.WRITE) }.reason == ErrorReason.OUT_OF_SCOPE)
        expect<TenantguardException.PermissionDenied>("does not allow") { g.seal(v.context, "c", byteArrayOf(1)) }

        // Typos and junk are refused before any lookup; a well-formed stranger after it.
        val typo = secret.dropLast(1) + (if (secret.last() == 'A') 'B' else 'A')
        check(expect<TenantguardException.Malformed>("checksum") { g.authenticateToken(typo) }.reason == ErrorReason.BAD_CHECKSUM)
        check(expect<TenantguardException.Malformed>("malformed token") { g.authenticateToken("hello") }.reason == ErrorReason.MALFORMED)

        // A scoped, expiring writer.
        val w = g.createToken(acme, TokenSpec("bot-2", "deploy", listOf(TokenScope("runs/*", TokenAction.WRITE), TokenScope("values/*", TokenAction.WRITE)), 60L))
        check(w.expiresAt() == T0 + 60)
        val wv = g.verifyToken(w.secret(), "runs/7", TokenAction.WRITE)
        check(wv.context.role() == null)
        g.seal(wv.context, "c", byteArrayOf(1)) // scope values/* allows sealing under context "c"
        // Its write on runs/* is not a role: it cannot store a credential.
        expect<TenantguardException.PermissionDenied> { g.putCredential(wv.context, "db", Credential.password("x")) }
        expect<TenantguardException.PermissionDenied> { g.verifyToken(w.secret(), "keys/1", TokenAction.WRITE) }
        clock.t = T0 + 59
        g.verifyToken(w.secret(), "runs/7", TokenAction.WRITE)
        clock.t = T0 + 60
        val expired = expect<TenantguardException.AuthenticationFailed>("token expired") { g.verifyToken(w.secret(), "runs/7", TokenAction.WRITE) }
        check(expired.reason == ErrorReason.EXPIRED && expired.message == "token expired") { "${expired.reason} ${expired.message}" }

        // Listing shows metadata, never the plaintext.
        val listed = g.listTokens(acme, null, null, 100u)
        check(listed.map { it.id }.toSet() == setOf(issued.id(), w.id()))
        check(listed.none { it.toString().contains(secret) || it.toString().contains(w.secret()) })
        check(g.listTokens(acme, "bot-2", null, 100u).single().expiresAt == T0 + 60)

        // Revocation is immediate through the same guard.
        check(g.revokeToken(acme, issued.id()))
        check(!g.revokeToken(acme, issued.id()))
        check(expect<TenantguardException.AuthenticationFailed>("token revoked") { g.authenticateToken(secret) }.reason == ErrorReason.REVOKED)
        check(g.listTokens(acme, "bot-1", null, 10u).single().revokedAt == T0 + 60)

        // Kill switch: every token of one agent at once.
        val k1 = g.createToken(acme, TokenSpec("bot-3", "a")).secret()
        val k2 = g.createToken(acme, TokenSpec("bot-3", "b")).secret()
        g.authenticateToken(k1)
        check(g.killAgent(acme, "bot-3") == 2uL)
        expect<TenantguardException.AuthenticationFailed>("revoked") { g.authenticateToken(k1) }
        expect<TenantguardException.AuthenticationFailed>("revoked") { g.authenticateToken(k2) }

        // Only admins manage tokens; bad specs are refused.
        val member = TenantContext.resolved(service, "acme", "mia", Role.MEMBER)
        // Token management reads the role from the store's memberships, not the context.
        expect<TenantguardException.PermissionDenied>("not a member") { g.createToken(member, TokenSpec("x", "y")) }
        check(g.setMember(acme, "mia", Role.MEMBER) == null)
        expect<TenantguardException.PermissionDenied>("needs role admin") { g.createToken(member, TokenSpec("x", "y")) }
        expect<TenantguardException.InvalidInput>("1 to 32 scopes") { g.createToken(acme, TokenSpec("x", "y", listOf())) }
        expect<TenantguardException.InvalidInput>("lifetime") { g.createToken(acme, TokenSpec("x", "y", null, 0L)) }

        runBlocking {
            val t = g.createTokenAsync(acme, TokenSpec("bot-4", "z"))
            check(g.authenticateTokenAsync(t.secret()).agent == "bot-4")
            check(g.revokeTokenAsync(acme, t.id()))
        }
    }
}

test("audit log: chained entries, JSONL export verified offline, tampering detected") {
    val clock = TestClock(T0)
    guardWith(clock).use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val t = g.createToken(acme, TokenSpec("bot-1", "ci"))
        g.revokeToken(acme, t.id())
        val admin = TenantContext.resolved(service, "acme", "adam", Role.ADMIN)
        val ev = g.recordAudit(admin, AuditEvent(AuditAction.MEMBERSHIP_CHANGE, "user:bob", "joined", mapOf("role" to "member")))
        check(ev.actor == "user:adam" && ev.action == "membership.change" && ev.details == mapOf("role" to "member") && ev.time == T0)
        val viewer = TenantContext.resolved(service, "acme", "vic", Role.VIEWER)
        g.recordAudit(viewer, AuditEvent(action = AuditAction.POLICY_CHANGE, target = "ui:theme"))

        val entries = g.auditEntries(acme, 0uL, 1000u)
        check(entries.map { it.action }.containsAll(listOf("token.create", "token.revoke", "membership.change", "policy.change")))
        check(entries.first().seq == 1uL && entries.first().prev == "0".repeat(64))
        check(entries.zipWithNext().all { (a, b) -> b.seq == a.seq + 1uL && b.prev == a.hash })
        check(entries.none { it.toString().contains(t.secret()) })

        val export = g.exportAudit(acme)
        val lines = export.jsonl.trimEnd('\n').split('\n')
        check(lines.size == entries.size && export.report.entries == entries.size.toULong())
        check(export.report.head == entries.last().hash && export.report.tenant == "acme")
        val head = AuditHead(export.report.lastSeq, export.report.head)
        check(verifyAuditJsonl(export.jsonl, expectedHead = head) == export.report)
        check(g.verifyAudit(acme) == export.report)
        // Resume mid-chain from a checkpoint.
        val tail = lines.drop(2).joinToString("\n", postfix = "\n")
        check(verifyAuditJsonl(tail, AuditHead(entries[1].seq, entries[1].hash), head).entries == (entries.size - 2).toULong())

        // An altered entry, a deleted one, a duplicated one and a cut-off end are all caught.
        val altered = lines.toMutableList()
        altered[1] = altered[1].replace("\"target\":\"", "\"target\":\"x")
        check(altered[1] != lines[1])
        check(expect<TenantguardException.Integrity>("line 2") { verifyAuditJsonl(altered.joinToString("\n", postfix = "\n")) }.reason == ErrorReason.BROKEN_CHAIN)
        expect<TenantguardException.Integrity>("missing entries") {
            verifyAuditJsonl((lines.take(1) + lines.drop(2)).joinToString("\n", postfix = "\n"))
        }
        expect<TenantguardException.Integrity>("out of order") {
            verifyAuditJsonl((lines.take(2) + lines[1] + lines.drop(2)).joinToString("\n", postfix = "\n"))
        }
        expect<TenantguardException.Integrity>("expected head") {
            verifyAuditJsonl(lines.dropLast(1).joinToString("\n", postfix = "\n"), expectedHead = head)
        }
        expect<TenantguardException.Integrity>("malformed") { verifyAuditJsonl("{\"seq\":1}\n") }

        expect<TenantguardException.PermissionDenied>("needs role admin") { g.exportAudit(viewer) }
        expect<TenantguardException.PermissionDenied> { g.auditEntries(viewer, 0uL, 10u) }
        // An error the core gives no reason has none.
        check(expect<TenantguardException.InvalidInput>("target") { g.recordAudit(acme, AuditEvent(AuditAction.POLICY_CHANGE, "")) }.reason == null)
        runBlocking { check(g.exportAuditAsync(acme).report == export.report) }
    }
}

test("retention: windows, sweep hard-deletes past the window only, subject and tenant erasure") {
    val clock = TestClock(T0)
    val dir = java.nio.file.Files.createTempDirectory("tg-kotlin-retention").toString()
    val store = Store.sqlite("$dir/tg.db")
    guardWith(clock, store).use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val policy = g.retentionPolicy(acme)
        check(policy["run_log"] == RetentionWindow.Secs(90L * 86_400) && policy["captured_session"] == RetentionWindow.Secs(7L * 86_400))
        check(policy["password"] == null)
        g.setRetention(acme, "screenshot", RetentionWindow.Secs(3600))
        g.setRetention(acme, "chat_transcript", RetentionWindow.Forever)
        check(g.retentionPolicy(acme)["screenshot"] == RetentionWindow.Secs(3600))
        expect<TenantguardException.InvalidInput>("retention window") { g.setRetention(acme, "x", RetentionWindow.Secs(0)) }

        g.putRecord(acme, "shot-1", "screenshot", null, "png".toByteArray())
        g.putRecord(acme, "log-1", "run_log", "alice", "log".toByteArray())
        g.putRecord(acme, "chat-1", "chat_transcript", "bob", "hi".toByteArray())
        g.putCredential(acme, "pw-1", Credential.password("hunter2"))

        clock.t = T0 + 3600 // exactly the window: kept
        var r = g.sweep(acme, 100u)
        check(r.deleted.isEmpty() && r.auditSeq == null && r.now == T0 + 3600) { r.toString() }
        clock.t = T0 + 3601
        r = g.sweep(acme, 100u)
        check(r.deleted == mapOf("screenshot" to 1uL) && r.auditSeq != null && r.tenant == "acme") { r.toString() }
        expect<TenantguardException.NotFound>("record not found") { g.openRecord(acme, "shot-1") }
        check(g.openRecord(acme, "log-1").dataClass == "run_log")
        check(g.sweep(acme, 100u).deleted.isEmpty()) // idempotent
        val receipt = g.auditEntries(acme, 0uL, 1000u).single { it.action == "retention.sweep" }
        check(receipt.seq == r.auditSeq && receipt.details["deleted.screenshot"] == "1")

        clock.t = T0 + 90L * 86_400 + 1 // the default run_log window has passed; chat is kept forever
        val all = g.sweepAll(service, null, 100u)
        check(all.tenants == 1uL && all.deleted == 1uL && all.lastTenant == "acme") { all.toString() }
        expect<TenantguardException.NotFound> { g.openRecord(acme, "log-1") }
        check(g.openRecord(acme, "chat-1").plaintext.decodeToString() == "hi")
        check(g.openCredential(acme, "pw-1").expose().decodeToString() == "hunter2")

        // Data-subject erasure, whatever the window; the receipt holds a digest only.
        g.putRecord(acme, "note-1", "note", "bob", "x".toByteArray())
        g.recordAudit(acme, AuditEvent(AuditAction.PERMISSION_CHANGE, "user:bob", "bob asked", mapOf()))
        val e = g.eraseSubject(acme, "bob", 10u)
        check(e.deleted == 2uL && e.receipt.action == "retention.erase_subject" && e.subjectDigest.length == 64)
        // The membership entry that named bob keeps only its commitment; the log still verifies.
        check(e.auditErased == 1uL && g.auditEntries(acme, 0uL, 1000u).none { it.target == "user:bob" }) { e.toString() }
        check(g.verifyAudit(acme).erasedEntries == e.auditErased)
        check(!e.receipt.toString().contains("bob") && e.receipt.target.contains(e.subjectDigest))
        // Keyed receipt (docs/FORMAT.md 4.7): the secret is shown only on request, never by toString().
        val secretHex = e.receiptSecret.toHex()
        check(secretHex.length == 64 && !e.toString().contains(secretHex))
        val mac = javax.crypto.Mac.getInstance("HmacSHA256")
        mac.init(javax.crypto.spec.SecretKeySpec(secretHex.chunked(2).map { it.toInt(16).toByte() }.toByteArray(), "HmacSHA256"))
        val expected = mac.doFinal("tenantguard/erasure-receipt/v1\nacme\u0000bob".toByteArray()).joinToString("") { "%02x".format(it) }
        check(expected == e.subjectDigest) { "receipt digest does not recompute in Kotlin" }
        expect<TenantguardException.NotFound> { g.openRecord(acme, "chat-1") }
        check(g.eraseSubject(acme, "bob", 10u).deleted == 0uL)

        // Roles: admins sweep and erase subjects, only owners erase a tenant.
        val admin = TenantContext.resolved(service, "acme", "adam", Role.ADMIN)
        val member = TenantContext.resolved(service, "acme", "mia", Role.MEMBER)
        for ((u, r) in listOf("adam" to Role.ADMIN, "mia" to Role.MEMBER, "alice" to Role.MEMBER)) g.setMember(acme, u, r)
        expect<TenantguardException.PermissionDenied> { g.sweep(member, 10u) }
        expect<TenantguardException.PermissionDenied> { g.setRetention(member, "note", RetentionWindow.Forever) }
        g.sweep(admin, 10u)
        expect<TenantguardException.PermissionDenied>("needs role owner") { g.eraseTenant(admin, 10u) }
        expect<TenantguardException.InvalidInput>("batch size") { g.sweep(acme, 0u) }

        // Erasing the tenant: keys shredded, tokens and sessions revoked, records deleted.
        val sealed = g.seal(acme, "c", byteArrayOf(1))
        val token = g.createToken(acme, TokenSpec("bot", "n")).secret()
        g.createSession(TenantContext.resolved(service, "acme", "alice", Role.MEMBER), "laptop")
        val te = g.eraseTenant(acme, 100u)
        check(te.tokensRevoked == 1uL && te.sessionsRevoked == 1uL && te.recordsDeleted == 1uL) { te.toString() }
        check(te.receipt.action == "retention.erase_tenant")
        expect<TenantguardException.KeyDestroyed> { g.open(acme, "c", sealed) }
        expect<TenantguardException.AuthenticationFailed>("revoked") { g.authenticateToken(token) }
        check(g.verifyAudit(acme).lastSeq == te.receipt.seq) // the log itself is kept
    }
    runBlocking {
        guardWith(TestClock(T0)).use { g ->
            val t = TenantContext.service("t", service)
            g.createTenantAsync(t)
            g.setRetentionAsync(t, "screenshot", RetentionWindow.Secs(1))
            check(g.sweepAsync(t, 10u).deleted.isEmpty())
        }
    }
}

test("progress callbacks see each step and can stop a job") {
    val clock = TestClock(T0)
    guardWith(clock, Store.memory()).use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        for (i in 0 until 5) g.putRecord(acme, "shot-$i", "screenshot", null, "png".toByteArray())
        clock.t = T0 + 31L * 86_400
        val seen = mutableListOf<ULong>()
        val stop = object : JobProgress {
            override fun onStep(step: JobStep): Boolean {
                if (step is JobStep.Sweep) seen.add(step.report.deleted["screenshot"] ?: 0uL)
                return false
            }
        }
        val first = g.sweepWithProgress(acme, 2u, stop)
        check(first.stopped && first.deleted == mapOf("screenshot" to 2uL) && first.auditSeq != null) { first.toString() }
        check(seen == listOf(2uL)) { seen.toString() }
        val go = object : JobProgress { override fun onStep(step: JobStep) = true }
        val rest = g.sweepWithProgress(acme, 2u, go)
        check(!rest.stopped && rest.deleted == mapOf("screenshot" to 3uL)) { rest.toString() }
        val all = g.sweepAllWithProgress(service, null, 10u, stop)
        check(all.stopped && all.tenants == 1uL) { all.toString() }
    }
}

test("passwords: argon2id hashes, wrong password refused, rehash on stronger parameters") {
    val h = PasswordHasher()
    check(h.params() == PasswordParams(19_456u, 2u, 1u))
    val phc = h.hash("correct horse battery staple")
    check(phc.startsWith("\$argon2id\$v=19\$m=19456,t=2,p=1\$")) { phc }
    check(h.hash("correct horse battery staple") != phc) // fresh salt
    check(!h.verify("correct horse battery staple", phc).needsRehash)
    val wrong = expect<TenantguardException.AuthenticationFailed>("wrong password") { h.verify("correct horse battery stapler", phc) }
    check(wrong.reason == ErrorReason.WRONG_PASSWORD && wrong.message == "wrong password") { "${wrong.reason} ${wrong.message}" }
    check(errorReasonName(wrong.reason!!) == "wrong_password")
    check(expect<TenantguardException.Malformed>("malformed") { h.verify("x", "not a hash") }.reason == ErrorReason.MALFORMED_HASH)
    expect<TenantguardException.InvalidInput>("password must be") { h.hash("") }
    expect<TenantguardException.InvalidInput>("OWASP") { PasswordHasher(PasswordParams(1024u, 1u, 1u)) }
    val stronger = PasswordHasher(PasswordParams(19_456u, 3u, 1u))
    check(stronger.needsRehash(phc) && stronger.verify("correct horse battery staple", phc).needsRehash)
    check(!h.toString().contains("correct"))
}

test("sessions: access and refresh tokens, rotation, reuse detection, revocation, expiry") {
    val clock = TestClock(T0)
    val key = ByteArray(32) { (it * 7).toByte() }
    val options = GuardOptions(clock = clock, sessionSigningKey = key, accessTtlSecs = 600L)
    check(options.toString().contains("[REDACTED]")) { options.toString() }
    guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), Store.memory(), options).also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val alice = TenantContext.resolved(service, "acme", "alice", Role.MEMBER)
        g.setMember(acme, "alice", Role.MEMBER)
        g.setMember(acme, "adam", Role.ADMIN)
        val s = g.createSession(alice, "laptop")
        check(!s.toString().contains(s.accessToken()) && !s.toString().contains(s.refreshToken())) { s.toString() }
        check(s.accessExpiresAt() == T0 + 600)
        val v = g.verifyAccessToken(s.accessToken())
        check(v.sessionId == s.sessionId() && v.context.user() == "alice" && v.context.role() == Role.MEMBER && v.context.tenant() == "acme")
        val parts = s.accessToken().split('.')
        val forged = parts[0] + "." + parts[1] + "." + parts[2].reversed()
        expect<TenantguardException> { g.verifyAccessToken(forged) }

        // Another guard with the same signing key accepts the access token.
        guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), Store.memory(), GuardOptions(clock = clock, sessionSigningKey = key)).guard.use { other ->
            check(other.verifyAccessToken(s.accessToken()).sessionId == s.sessionId())
        }

        // Refresh rotates; presenting an old refresh token revokes the session.
        val s2 = g.refreshSession(s.refreshToken())
        check(s2.sessionId() == s.sessionId() && s2.refreshToken() != s.refreshToken())
        check(expect<TenantguardException.AuthenticationFailed>("reuse") { g.refreshSession(s.refreshToken()) }.reason == ErrorReason.REFRESH_REUSE)
        expect<TenantguardException.AuthenticationFailed> { g.refreshSession(s2.refreshToken()) }

        val s3 = g.createSession(alice, "phone")
        check(g.listSessions(alice, null, 10u).any { it.id == s3.sessionId() && it.label == "phone" && it.revokedAt == null })
        val bob = TenantContext.resolved(service, "acme", "bob", Role.MEMBER)
        expect<TenantguardException.PermissionDenied> { g.revokeSession(bob, s3.sessionId()) }
        expect<TenantguardException.PermissionDenied> { g.listSessions(bob, "alice", 10u) }
        check(g.revokeSession(alice, s3.sessionId()))
        val revoked = expect<TenantguardException.AuthenticationFailed>("revoked") { g.refreshSession(s3.refreshToken()) }
        check(revoked.reason == ErrorReason.REVOKED) { "${revoked.reason}" }
        g.createSession(alice, "tablet")
        check(g.revokeUserSessions(TenantContext.resolved(service, "acme", "adam", Role.ADMIN), "alice") == 1uL)

        val s4 = g.createSession(alice, "desk")
        clock.t = T0 + 600
        check(expect<TenantguardException.AuthenticationFailed>("expired") { g.verifyAccessToken(s4.accessToken()) }.reason == ErrorReason.EXPIRED)
        runBlocking {
            val s5 = g.createSessionAsync(alice, "async")
            check(g.refreshSessionAsync(s5.refreshToken()).sessionId() == s5.sessionId())
        }
    }
    expect<TenantguardException.InvalidInput>("signing key") {
        guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), Store.memory(), GuardOptions(sessionSigningKey = ByteArray(8))).also { service = it.service }.guard
    }
    expect<TenantguardException.InvalidInput> {
        guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), Store.memory(), GuardOptions(tokenPrefix = "no spaces")).also { service = it.service }.guard
    }
}

test("agent token refusals carry a typed reason (TokenCheck.Refused)") {
    val clock = TestClock(T0)
    guardWith(clock).use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        fun refused(c: TokenCheck): TokenRefusal {
            check(c is TokenCheck.Refused) { "expected a refusal, got $c" }
            return c.reason
        }
        val w = g.createToken(acme, TokenSpec("bot-1", "deploy", listOf(TokenScope("runs/*", TokenAction.WRITE)), 60L))
        val secret = w.secret()
        val ok = g.checkToken(secret)
        check(ok is TokenCheck.Verified && ok.token.agent == "bot-1" && ok.token.context.tenant() == "acme") { ok.toString() }
        val okFor = g.checkTokenFor(secret, "runs/7", TokenAction.WRITE)
        check(okFor is TokenCheck.Verified && okFor.token.tokenId == w.id()) { okFor.toString() }

        check(refused(g.checkToken("hello")) == TokenRefusal.MALFORMED)
        val typo = secret.dropLast(1) + (if (secret.last() == 'A') 'B' else 'A')
        check(refused(g.checkToken(typo)) == TokenRefusal.BAD_CHECKSUM)
        val stranger = g.createToken(acme, TokenSpec("bot-9", "x")).secret()
        check(refused(g.checkTokenFor(secret, "keys/1", TokenAction.WRITE)) == TokenRefusal.OUT_OF_SCOPE)
        val r = g.checkTokenFor(secret, "runs/7", TokenAction.DELETE) as TokenCheck.Refused
        check(r.reason == TokenRefusal.OUT_OF_SCOPE && r.message.contains("does not allow delete") && !r.message.contains(secret)) { r.message }

        // A well-formed token of this deployment that no store knows.
        guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), Store.memory(), GuardOptions(clock = TestClock(T0))).let { o -> o.guard.use { other ->
            other.createTenant(TenantContext.service("acme", o.service))
            check(refused(other.checkToken(stranger)) == TokenRefusal.UNKNOWN)
        } }
        clock.t = T0 + 60
        check(refused(g.checkTokenFor(secret, "runs/7", TokenAction.WRITE)) == TokenRefusal.EXPIRED)
        clock.t = T0
        g.revokeToken(acme, w.id())
        val rv = g.checkToken(secret) as TokenCheck.Refused
        check(rv.reason == TokenRefusal.REVOKED && rv.message == "token revoked") { rv.message }
        runBlocking {
            check(g.checkTokenAsync(stranger) is TokenCheck.Verified)
            check((g.checkTokenForAsync(secret, "runs/7", TokenAction.WRITE) as TokenCheck.Refused).reason == TokenRefusal.REVOKED)
        }
        // The throwing forms are unchanged.
        expect<TenantguardException.AuthenticationFailed>("token revoked") { g.authenticateToken(secret) }
    }
}

test("session refusals carry a typed reason (AccessCheck / RefreshCheck.Refused)") {
    val clock = TestClock(T0)
    val key = ByteArray(32) { (it * 5 + 1).toByte() }
    val options = GuardOptions(clock = clock, sessionSigningKey = key, accessTtlSecs = 600L, refreshTtlSecs = 3600L)
    guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), Store.memory(), options).also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val alice = TenantContext.resolved(service, "acme", "alice", Role.MEMBER)
        g.setMember(acme, "alice", Role.MEMBER)
        fun refused(c: AccessCheck): SessionRefusal {
            check(c is AccessCheck.Refused) { "expected a refusal, got $c" }
            return c.reason
        }
        fun refused(c: RefreshCheck): SessionRefusal {
            check(c is RefreshCheck.Refused) { "expected a refusal, got $c" }
            return c.reason
        }
        val s = g.createSession(alice, "laptop")
        val ok = g.checkAccessToken(s.accessToken())
        check(ok is AccessCheck.Verified && ok.access.sessionId == s.sessionId() && ok.access.context.user() == "alice" &&
            ok.access.expiresAt == T0 + 600) { ok.toString() }

        // Access tokens: junk, another deployment's signing key, expiry.
        val junk = g.checkAccessToken("hello") as AccessCheck.Refused
        check(junk.reason == SessionRefusal.MALFORMED && junk.message.contains("not three dot-separated parts")) { junk.message }
        guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), Store.memory(), GuardOptions(clock = clock, sessionSigningKey = ByteArray(32) { 9 })).let { o -> o.guard.use { other ->
            val bad = other.checkAccessToken(s.accessToken()) as AccessCheck.Refused
            check(bad.reason == SessionRefusal.BAD_SIGNATURE && !bad.message.contains(s.accessToken())) { bad.message }
            // A well-formed refresh token that this store does not know.
            other.createTenant(TenantContext.service("acme", o.service))
            other.setMember(TenantContext.service("acme", o.service), "alice", Role.MEMBER)
            // User contexts are bound to the capability that vouched for them: other's here.
            val stranger = other.createSession(TenantContext.resolved(o.service, "acme", "alice", Role.MEMBER), "elsewhere")
            check(refused(g.checkRefreshSession(stranger.refreshToken())) == SessionRefusal.UNKNOWN)
        } }
        // Correctly signed with a tenant id the core rejects: not a refusal, still thrown.
        val b64 = java.util.Base64.getUrlEncoder().withoutPadding()
        val claims = "{\"iss\":\"tenantguard\",\"sub\":\"alice\",\"tid\":\"not a tenant\",\"role\":\"member\",\"sid\":\"x\",\"iat\":$T0,\"exp\":${T0 + 600}}"
        val signed = s.accessToken().substringBefore('.') + "." + b64.encodeToString(claims.toByteArray())
        val mac = javax.crypto.Mac.getInstance("HmacSHA256").apply { init(javax.crypto.spec.SecretKeySpec(key, "HmacSHA256")) }
        expect<TenantguardException.InvalidInput>("tenant") {
            g.checkAccessToken(signed + "." + b64.encodeToString(mac.doFinal(signed.toByteArray())))
        }

        // Refresh tokens: junk, rotation, reuse (which revokes the session), revocation.
        val rjunk = g.checkRefreshSession("hello") as RefreshCheck.Refused
        check(rjunk.reason == SessionRefusal.MALFORMED && rjunk.message.contains("not a refresh token")) { rjunk.message }
        val r1 = g.checkRefreshSession(s.refreshToken())
        check(r1 is RefreshCheck.Refreshed && r1.tokens.sessionId() == s.sessionId() && r1.tokens.refreshToken() != s.refreshToken()) { r1.toString() }
        val reuse = g.checkRefreshSession(s.refreshToken()) as RefreshCheck.Refused
        check(reuse.reason == SessionRefusal.REFRESH_REUSE && reuse.message.contains("reuse") && !reuse.message.contains(s.refreshToken())) { reuse.message }
        check(refused(g.checkRefreshSession((r1 as RefreshCheck.Refreshed).tokens.refreshToken())) == SessionRefusal.REVOKED)
        val s2 = g.createSession(alice, "phone")
        check(g.revokeSession(alice, s2.sessionId()))
        val rv = g.checkRefreshSession(s2.refreshToken()) as RefreshCheck.Refused
        check(rv.reason == SessionRefusal.REVOKED && rv.message == "session revoked") { rv.message }

        // Expiry: the access token after its TTL, the refresh token after its own.
        val s3 = g.createSession(alice, "desk")
        clock.t = T0 + 600
        check(refused(g.checkAccessToken(s3.accessToken())) == SessionRefusal.EXPIRED)
        val s4 = g.createSession(alice, "tablet")
        clock.t = T0 + 600 + 3600
        val ex = g.checkRefreshSession(s4.refreshToken()) as RefreshCheck.Refused
        check(ex.reason == SessionRefusal.EXPIRED && ex.message == "session expired") { ex.message }
        check(g.checkAccessToken(g.createSession(alice, "new").accessToken()) is AccessCheck.Verified)
        runBlocking {
            val s5 = g.createSessionAsync(alice, "async")
            val r5 = g.checkRefreshSessionAsync(s5.refreshToken())
            check(r5 is RefreshCheck.Refreshed && r5.tokens.sessionId() == s5.sessionId()) { r5.toString() }
            check(refused(g.checkRefreshSessionAsync(s5.refreshToken())) == SessionRefusal.REFRESH_REUSE)
        }
        // The throwing forms are unchanged.
        expect<TenantguardException.AuthenticationFailed>("session revoked") { g.refreshSession(s2.refreshToken()) }
        expect<TenantguardException.AuthenticationFailed>("session expired") { g.verifyAccessToken(s3.accessToken()) }
    }
}

test("a broken audit chain carries its reason, line and seq (AuditCheck.Broken)") {
    val clock = TestClock(T0)
    fun broken(c: AuditCheck): AuditCheck.Broken {
        check(c is AuditCheck.Broken) { "expected a broken chain, got $c" }
        return c
    }
    fun jsonl(lines: List<String>) = lines.joinToString("\n", postfix = "\n")
    val dir = java.nio.file.Files.createTempDirectory("tg-kotlin-audit").toString()
    val db = java.io.File("$dir/tg.db")
    val store = Store.sqlite(db.path)
    // One KEK for both guards on this file: the audit-MAC key is stored wrapped by it.
    val kek = LocalKeyProvider.ephemeral()
    val first = guardWith(clock, store, keys = kek)
    var acme = TenantContext.service("acme", service)
    val admin = TenantContext.resolved(service, "acme", "adam", Role.ADMIN)
    val (export, stored) = first.use { g ->
        g.createTenant(acme)
        for (i in 1..4) g.recordAudit(admin, AuditEvent(AuditAction.POLICY_CHANGE, "policy:$i"))
        g.recordAudit(admin, AuditEvent(AuditAction.MEMBERSHIP_CHANGE, "user:tamper-me"))
        g.recordAudit(admin, AuditEvent(AuditAction.POLICY_CHANGE, "policy:last"))
        val export = g.exportAudit(acme)
        check(g.checkAudit(acme) == AuditCheck.Valid(export.report))
        runBlocking { check(g.checkAuditAsync(acme) == AuditCheck.Valid(export.report)) }
        // Not a broken chain: still thrown.
        expect<TenantguardException.PermissionDenied>("needs role admin") { g.checkAudit(TenantContext.resolved(service, "acme", "vic", Role.VIEWER)) }
        export to g.auditEntries(admin, 0uL, 1000u)
    }
    store.close()
    val lines = export.jsonl.trimEnd('\n').split('\n')
    val seqs = stored.map { it.seq }
    check(lines.size == stored.size && lines.size >= 6 && seqs == (1..lines.size).map { it.toULong() }) { seqs.toString() }
    val head = AuditHead(export.report.lastSeq, export.report.head)
    check(checkAuditJsonl(export.jsonl, expectedHead = head) == AuditCheck.Valid(export.report))
    check(checkAuditJsonl(jsonl(lines.drop(2)), AuditHead(seqs[1], stored[1].hash), head) is AuditCheck.Valid)

    // Altered content: line 3 (seq 3).
    val altered = lines.toMutableList().also { it[2] = it[2].replace("\"action\":\"", "\"action\":\"x") }
    check(altered[2] != lines[2])
    val h = broken(checkAuditJsonl(jsonl(altered)))
    check(h.reason == AuditProblem.HASH_MISMATCH && h.line == 3uL && h.seq == 3uL && h.expectedSeq == null && h.foundSeq == null) { h.toString() }
    check(h.message.contains("line 3") && h.message.contains("content does not match its hash")) { h.message }
    // An altered personal field (target): outside the hash, bound by the entry's commitment.
    val pm = broken(checkAuditJsonl(jsonl(lines.toMutableList().also { it[2] = it[2].replace("\"target\":\"", "\"target\":\"x") })))
    check(pm.reason == AuditProblem.PERSONAL_MISMATCH && pm.line == 3uL && pm.seq == 3uL) { pm.toString() }
    // Deleted (line 2 now holds seq 3), duplicated (line 3 repeats seq 2), reordered.
    val m = broken(checkAuditJsonl(jsonl(lines.take(1) + lines.drop(2))))
    check(m.reason == AuditProblem.MISSING && m.line == 2uL && m.seq == 3uL && m.expectedSeq == 2uL && m.foundSeq == 3uL) { m.toString() }
    val d = broken(checkAuditJsonl(jsonl(lines.take(2) + lines[1] + lines.drop(2))))
    check(d.reason == AuditProblem.OUT_OF_ORDER && d.line == 3uL && d.seq == 2uL && d.expectedSeq == 3uL && d.foundSeq == 2uL) { d.toString() }
    // Cut off the end, or ending at another head.
    val t = broken(checkAuditJsonl(jsonl(lines.dropLast(2)), expectedHead = head))
    check(t.reason == AuditProblem.TRUNCATED && t.line == (lines.size - 2).toULong() && t.seq == seqs[lines.size - 3] &&
        t.expectedSeq == head.seq && t.foundSeq == seqs[lines.size - 3]) { t.toString() }
    val hm = broken(checkAuditJsonl(export.jsonl, expectedHead = AuditHead(head.seq, stored[0].hash)))
    check(hm.reason == AuditProblem.HEAD_MISMATCH && hm.line == lines.size.toULong() && hm.seq == head.seq) { hm.toString() }
    // Junk lines: no seq could be read.
    val mf = broken(checkAuditJsonl(jsonl(lines.take(1) + "{\"seq\":2}")))
    check(mf.reason == AuditProblem.MALFORMED && mf.line == 2uL && mf.seq == null && mf.message.contains("malformed")) { mf.toString() }
    val tl = broken(checkAuditJsonl(jsonl(lines.take(3) + "x".repeat(70_000))))
    check(tl.reason == AuditProblem.TOO_LONG && tl.line == 4uL && tl.seq == null) { tl.toString() }

    // Entries of another chain: another tenant's (tenant changed), the same tenant's on
    // another deployment (its prev links elsewhere).
    guardWith(TestClock(T0 + 1)).use { g2 ->
        acme = TenantContext.service("acme", service) // another deployment's capability
        g2.createTenant(acme)
        val globex = TenantContext.service("globex", service)
        g2.createTenant(globex)
        for (i in 1..2) {
            // User contexts are bound to the capability that vouched for them: g2's here.
            g2.recordAudit(TenantContext.resolved(service, "acme", "adam", Role.ADMIN), AuditEvent(AuditAction.POLICY_CHANGE, "other:$i"))
            g2.recordAudit(TenantContext.resolved(service, "globex", "gus", Role.ADMIN), AuditEvent(AuditAction.POLICY_CHANGE, "other:$i"))
        }
        val foreign = g2.exportAudit(globex).jsonl.trimEnd('\n').split('\n')
        val tc = broken(checkAuditJsonl(jsonl(lines.take(1) + foreign[1])))
        check(tc.reason == AuditProblem.TENANT_CHANGED && tc.line == 2uL && tc.seq == 2uL) { tc.toString() }
        val spliced = g2.exportAudit(acme).jsonl.trimEnd('\n').split('\n')
        val bl = broken(checkAuditJsonl(jsonl(lines.take(1) + spliced[1] + lines.drop(2))))
        check(bl.reason == AuditProblem.BROKEN_LINK && bl.line == 2uL && bl.seq == 2uL) { bl.toString() }
    }
    // The throwing form is unchanged.
    expect<TenantguardException.Integrity>("line 3") { verifyAuditJsonl(jsonl(altered)) }

    // The stored target, altered on disk (same length, so SQLite still reads it): the guard
    // names the altered entry's position and seq (the target is a personal field, checked
    // against the entry's commitment).
    check(!java.io.File("${db.path}-wal").exists() || java.io.File("${db.path}-wal").length() == 0L) { "WAL not checkpointed" }
    val bytes = db.readBytes()
    val from = "user:tamper-me".toByteArray()
    val to = "user:tamper-ME".toByteArray()
    var patched = 0
    var i = 0
    while (i <= bytes.size - from.size) {
        if ((from.indices).all { bytes[i + it] == from[it] }) { to.copyInto(bytes, i); patched++; i += from.size } else i++
    }
    check(patched >= 1) { "the audit entry was not found in the database file" }
    db.writeBytes(bytes)
    val tamperedSeq = stored.single { it.target == "user:tamper-me" }.seq
    Store.sqlite(db.path).use { st ->
        guardWith(clock, st, keys = kek).use { g ->
            // This guard has its own capability: contexts are made per guard.
            val acme = TenantContext.service("acme", service)
            val b = broken(g.checkAudit(acme))
            check(b.reason == AuditProblem.PERSONAL_MISMATCH && b.seq == tamperedSeq && b.line == tamperedSeq) { b.toString() }
            runBlocking { check(broken(g.checkAuditAsync(acme)) == b) }
            expect<TenantguardException.Integrity>("(seq $tamperedSeq)") { g.verifyAudit(acme) }
        }
    }
}

println("governance_test.kts: $passed tests passed")

test("rate limits: password guessing refused with a Duration, other hosts go on, the host's own routes") {
    guardWith(TestClock(T0)).use { g ->
        val hasher = PasswordHasher()
        val phc = hasher.hash("correct horse")
        var wrong = 0
        var refused: TenantguardException.RateLimited? = null
        for (i in 0 until 20) {
            try {
                g.verifyPassword(hasher, "acme", "alice", "guess-$i", phc, "203.0.113.7")
            } catch (e: TenantguardException.AuthenticationFailed) {
                wrong++
            } catch (e: TenantguardException.RateLimited) {
                refused = e
                break
            }
        }
        // The default login limit: 10 units per (user, host key), a failure costs 3.
        check(wrong == 4) { "wrong = $wrong" }
        val wait: java.time.Duration = refused!!.retryAfter!!
        check(wait == rateLimitedRetryAfter(refused.message!!))
        check(!wait.isNegative && !wait.isZero && wait <= java.time.Duration.ofSeconds(60)) { "$wait" }
        check(!g.verifyPassword(hasher, "acme", "alice", "correct horse", phc, "198.51.100.2").needsRehash)

        val key = RateLimitKey(tenant = "acme", subject = "u:bob", hostKey = "10.0.0.1")
        repeat(10) { check(g.rateLimitCheck(RateLimitClass.LOGIN, key).admitted) }
        val d = g.rateLimitCheck(RateLimitClass.LOGIN, key)
        check(!d.admitted && d.retryAfter!! > java.time.Duration.ZERO) { "$d" }
        check(g.rateLimitCheck(RateLimitClass.LOGIN, key.copy(hostKey = "10.0.0.2")).admitted)
        check(g.rateLimitFailure(RateLimitClass.WRITE, RateLimitKey(tenant = "acme", subject = "u:bob")) == null)
        check(rateLimitedRetryAfter("unknown token") == null)
    }
}

test("rate limits: a tenant owner tightens her tenant's writes and cannot loosen the host's limits") {
    guardWith(TestClock(T0)).use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        g.setMember(acme, "olga", Role.OWNER)
        g.setMember(acme, "mia", Role.MEMBER)
        val olga = TenantContext.resolved(service, "acme", "olga", Role.OWNER)
        val mia = TenantContext.resolved(service, "acme", "mia", Role.MEMBER)
        check(g.rateLimitOverridesJson(mia) == "{\"classes\":{}}") { g.rateLimitOverridesJson(mia) }
        val tighter = "{\"classes\":{\"write\":{\"subject\":{\"burst\":3,\"period_us\":1200000000}}}}"
        check(g.setRateLimitOverridesJson(olga, tighter) >= 1L)
        check(g.rateLimitOverridesJson(mia) == tighter)
        repeat(3) { g.putRecord(mia, "r$it", "note", null, "x".toByteArray()) }
        expect<TenantguardException.RateLimited> { g.putRecord(mia, "r3", "note", null, "x".toByteArray()) }
        for (bad in listOf(
            "{\"classes\":{\"login\":{\"subject\":{\"burst\":1000000,\"period_us\":1}}}}",
            "{\"classes\":{\"service\":{\"tenant\":{\"burst\":1,\"period_us\":1000000}}}}",
            "{\"classes\":{\"login\":{\"fail_closed\":false}}}",
        )) expect<TenantguardException.InvalidInput> { g.setRateLimitOverridesJson(olga, bad) }
        expect<TenantguardException.PermissionDenied> { g.setRateLimitOverridesJson(mia, "{\"classes\":{}}") }
        check(g.rateLimitOverridesJson(mia) == tighter)
    }
}
