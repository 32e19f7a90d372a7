// Kotlin test of the PostgreSQL store through the bindings: run by scripts/kotlin.sh.
// Needs a server from `eval "$(scripts/pg.sh start)"` (TENANTGUARD_PG_URL, _SERVICE_URL,
// _ADMIN_URL); without one it prints SKIPPED and passes, unless TENANTGUARD_PG_REQUIRED=1.

import tenantguard.*
import tenantguard.test.*
import kotlinx.coroutines.runBlocking

fun env(name: String): String? = System.getenv(name)?.takeIf { it.isNotEmpty() }

val app = env("TENANTGUARD_PG_URL")
val svc = env("TENANTGUARD_PG_SERVICE_URL")
val admin = env("TENANTGUARD_PG_ADMIN_URL")

if (app == null || svc == null || admin == null) {
    check(env("TENANTGUARD_PG_REQUIRED") != "1") {
        "TENANTGUARD_PG_REQUIRED=1 but TENANTGUARD_PG_URL / _SERVICE_URL / _ADMIN_URL are not set: run scripts/pg.sh start"
    }
    println("SKIPPED postgres_test.kts: TENANTGUARD_PG_URL not set (run `eval \"\$(scripts/pg.sh start)\"` first)")
} else {
    postgresMigrate(admin)
    check(postgresMigrate(admin) == 0u) // idempotent
    var service: ServiceRole = guardInMemoryWithService().service
    val suffix = java.util.UUID.randomUUID().toString().replace("-", "").take(12)
    val tenant = "kt-$suffix"
    val other = "kt-other-$suffix"
    val store = Store.postgres(app, svc)
    // Every guard on one database shares its KEK (the service keyring is stored wrapped by
    // it): the same key file as the Python PostgreSQL tests.
    val keys = LocalKeyProvider.openOrCreate(java.io.File(env("TENANTGUARD_PG_DIR")!!, "keys.json").path)
    guardWithLocalKeyProviderAndService(keys, store).also { service = it.service }.guard.use { g ->
        val t = TenantContext.service(tenant, service)
        val o = TenantContext.service(other, service)
        check(g.createTenant(t) == 1u)
        g.createTenant(o)
        val sealed = g.seal(t, "c", "pg".toByteArray())
        check(g.open(t, "c", sealed).decodeToString() == "pg")
        g.putCredential(t, "pw-$suffix", Credential.password("hunter2"))
        check(g.openCredential(t, "pw-$suffix").expose().decodeToString() == "hunter2")
        // Ids are per tenant: another tenant's record is not found, and the same id is
        // the other tenant's own record.
        expect<TenantguardException.NotFound> { g.openRecord(o, "pw-$suffix") }
        g.putCredential(o, "pw-$suffix", Credential.password("x"))
        check(g.openCredential(o, "pw-$suffix").expose().decodeToString() == "x")
        check(g.openCredential(t, "pw-$suffix").expose().decodeToString() == "hunter2")

        // Tokens, audit, retention and egress on PostgreSQL.
        val tok = g.createToken(t, TokenSpec("bot-1", "ci"))
        check(g.verifyToken(tok.secret(), "runs/1", TokenAction.READ).context.tenant() == tenant)
        check(g.revokeToken(t, tok.id()))
        expect<TenantguardException.AuthenticationFailed>("revoked") { g.authenticateToken(tok.secret()) }
        val export = g.exportAudit(t)
        check(verifyAuditJsonl(export.jsonl, expectedHead = AuditHead(export.report.lastSeq, export.report.head)).entries >= 2uL)
        g.setRetention(t, "screenshot", RetentionWindow.Secs(1))
        check(g.retentionPolicy(t)["screenshot"] == RetentionWindow.Secs(1))
        Egress(g, store, exampleRegistry()).use { e ->
            e.setPolicy(t, egressPolicyDefault().copy(redaction = RedactionLevel.PII))
            val d = e.prepare(t, "llm-chat", "Mail jane@example.com") as EgressDecision.Allowed
            check(d.prepared.text() == "Mail <EMAIL_1>")
            check(e.policy(o) == egressPolicyDefault())
        }
        // Memberships live in tg_memberships: nobody has been added, so nobody resolves.
        val res = DirectoryResolver.fromStore(store, service)
        expect<TenantguardException.PermissionDenied> { res.resolve("mallory", tenant) }
        // Membership editing through the store: the service role adds the first owner, then
        // the core's role rules apply, with the actor's role re-read from the database.
        store.setMember(t, "olive", Role.OWNER)
        store.setMember(t, "adam", Role.ADMIN)
        check(store.members(t) == listOf(Membership(tenant, "adam", Role.ADMIN), Membership(tenant, "olive", Role.OWNER))) { store.members(t).toString() }
        check(store.members(o).isEmpty())
        val olive = res.resolve("olive", tenant)
        val adam = res.resolve("adam", tenant)
        check(olive.role() == Role.OWNER && adam.role() == Role.ADMIN)
        store.setMember(adam, "mia", Role.MEMBER)
        check(res.resolve("mia", tenant).role() == Role.MEMBER)
        expect<TenantguardException.PermissionDenied>("owner") { store.setMember(adam, "eve", Role.OWNER) }
        expect<TenantguardException.PermissionDenied>("last owner") { store.removeMember(olive, "olive") }
        // A stale claim is not trusted: adam's context still says admin after his demotion.
        store.setMember(olive, "adam", Role.VIEWER)
        expect<TenantguardException.PermissionDenied> { store.setMember(adam, "mia", Role.VIEWER) }
        expect<TenantguardException.PermissionDenied> { store.setMember(TenantContext.resolved(service, tenant, "mallory", Role.OWNER), "x", Role.VIEWER) }
        check(store.removeMember(olive, "mia"))
        check(!store.removeMember(olive, "mia"))
        expect<TenantguardException.PermissionDenied> { res.resolve("mia", tenant) }
        runBlocking {
            store.setMemberAsync(olive, "zoe", Role.VIEWER)
            check(store.removeMemberAsync(olive, "zoe"))
            check(store.membersAsync(t).map { it.user to it.role } == listOf("adam" to Role.VIEWER, "olive" to Role.OWNER))
        }
        runBlocking { check(g.openAsync(t, "c", sealed).decodeToString() == "pg") }
        g.eraseTenant(t, 100u)
        g.eraseTenant(o, 100u)
    }
    // Rate limits shared through PostgreSQL: two guards with their own limiter objects
    // (as two service instances would have) share the login class's 10 per (user, host key).
    // The Python suite proves the same with two processes.
    val shared = GuardOptions().withRateLimitUrl(svc)
    val a = guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), Store.memory(), shared).guard
    val b = guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), Store.memory(), shared).guard
    val key = RateLimitKey(tenant = tenant, subject = "u:kt-$suffix", hostKey = "198.51.100.7")
    val admitted = (0 until 8).count { a.rateLimitCheck(RateLimitClass.LOGIN, key).admitted } +
        (0 until 8).count { b.rateLimitCheck(RateLimitClass.LOGIN, key).admitted }
    check(admitted in 10..11) { "admitted $admitted of 16: the limit is not shared" }
    a.close()
    b.close()
    expect<TenantguardException.Config> { GuardOptions().withRateLimitUrl("postgres://u:s3cretpw@[bad") }
    println("postgres_test.kts: PostgreSQL store passed (tenant $tenant)")
}
