// Kotlin tests of the service capability (issue 13): code holding only a Guard, or only a
// user or agent context, cannot open a credential. Run by scripts/kotlin.sh; a failed
// check exits non-zero.

import tenantguard.*
import tenantguard.test.*

test("code holding only the guard or a user context cannot open a credential") {
    val gs = guardInMemoryWithService()
    gs.guard.use { g ->
        val acme = TenantContext.service("acme", gs.service)
        g.createTenant(acme)
        g.putCredential(acme, "db", Credential.password("s3cret"))
        // Anyone can build a guard of their own: its capability opens nothing in this one.
        val rogue = guardInMemoryWithService()
        val forged = TenantContext.service("acme", rogue.service)
        expect<TenantguardException.PermissionDenied>("another guard") { g.openCredential(forged, "db") }
        expect<TenantguardException.PermissionDenied> { g.shredTenant(forged) }
        // A user context, even an owner's, never reads plaintext.
        val owner = TenantContext.resolved(rogue.service, "acme", "olga", Role.OWNER)
        check(owner.kind() == PrincipalKind.USER)
        expect<TenantguardException.PermissionDenied> { g.openCredential(owner, "db") }
        // An agent with every scope neither.
        val t = g.createToken(acme, TokenSpec("bot", "all", listOf(TokenScope("*", TokenAction.READ), TokenScope("*", TokenAction.ADMIN)), null))
        val agent = g.authenticateToken(t.secret()).context
        check(agent.kind() == PrincipalKind.AGENT && agent.agent() == "bot")
        expect<TenantguardException.PermissionDenied> { g.openCredential(agent, "db") }
        // An agent cannot start a session.
        expect<TenantguardException.PermissionDenied> { g.createSession(agent, "laptop") }
        // The guard's own capability does.
        check(g.openCredential(acme, "db").expose().decodeToString() == "s3cret")
    }
}

test("scope grammar errors are typed, reserved audit actions are refused") {
    val gs = guardInMemoryWithService()
    gs.guard.use { g ->
        val acme = TenantContext.service("acme", gs.service)
        g.createTenant(acme)
        for (bad in listOf("é*", "runs/../x", "a//b", "*/x")) {
            expect<TenantguardException.InvalidInput> { g.createToken(acme, TokenSpec("bot", "x", listOf(TokenScope(bad, TokenAction.READ)), null)) }
        }
        expect<TenantguardException.PermissionDenied>("reserved") { g.recordAudit(acme, AuditEvent(AuditAction.TENANT_SHRED, "tenant:acme")) }
    }
}
