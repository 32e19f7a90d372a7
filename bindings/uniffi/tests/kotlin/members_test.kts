// Kotlin tests of memberships kept by the store, sessions that follow them, and SSO/MFA
// portal marks (issue 13). Run by scripts/kotlin.sh; a failed check exits non-zero.

import kotlinx.coroutines.runBlocking
import tenantguard.*
import tenantguard.test.*

test("a removed owner can neither refresh nor shred; a demoted member's refresh carries the new role") {
    val gs = guardInMemoryWithService()
    gs.guard.use { g ->
        val acme = TenantContext.service("acme", gs.service)
        g.createTenant(acme)
        check(g.setMember(acme, "otto", Role.OWNER) == null)
        check(g.setMember(acme, "olga", Role.OWNER) == null)
        check(g.memberRole(acme, "olga") == Role.OWNER)
        val olga = TenantContext.resolved(gs.service, "acme", "olga", Role.OWNER)
        val s = g.createSession(olga, "laptop")
        val cached = g.verifyAccessToken(s.accessToken()).context
        val otto = TenantContext.resolved(gs.service, "acme", "otto", Role.OWNER)
        check(g.removeMember(otto, "olga"))
        expect<TenantguardException.AuthenticationFailed> { g.refreshSession(s.refreshToken()) }
        expect<TenantguardException.PermissionDenied>("not a member") { g.shredTenant(cached) }
        check(g.keyVersions(acme).single().state == KeyState.ACTIVE)

        g.setMember(acme, "vera", Role.ADMIN)
        val vera = TenantContext.resolved(gs.service, "acme", "vera", Role.ADMIN)
        val vs = g.createSession(vera, "phone")
        check(g.setMember(otto, "vera", Role.VIEWER) == Role.ADMIN)
        val fresh = g.verifyAccessToken(g.refreshSession(vs.refreshToken()).accessToken()).context
        check(fresh.role() == Role.VIEWER) { fresh.toString() }
        expect<TenantguardException.PermissionDenied> { g.createToken(vera, TokenSpec("bot", "x")) }

        // Admins cannot take the owner role; agents never manage members.
        g.setMember(acme, "ada", Role.ADMIN)
        val ada = TenantContext.resolved(gs.service, "acme", "ada", Role.ADMIN)
        expect<TenantguardException.PermissionDenied> { g.setMember(ada, "ada", Role.OWNER) }
        val t = g.createToken(acme, TokenSpec("bot", "all", listOf(TokenScope("*", TokenAction.ADMIN)), null))
        val bot = g.authenticateToken(t.secret()).context
        expect<TenantguardException.PermissionDenied> { g.setMember(bot, "bot", Role.OWNER) }
        check(g.members(acme, null, 100).map { it.user } == listOf("ada", "otto", "vera"))
        check(g.members(acme, "ada", 1).map { it.user } == listOf("otto"))
        expect<TenantguardException.InvalidInput> { g.members(acme, null, -1) }
        runBlocking { check(g.memberRoleAsync(acme, "vera") == Role.VIEWER) }
        check(g.auditEntries(acme, 0uL, 1000u).count { it.action == "member.change" } == 6)
    }
}

test("a password for a portal marked SSO/MFA is refused") {
    val gs = guardInMemoryWithService()
    gs.guard.use { g ->
        val acme = TenantContext.service("acme", gs.service)
        g.createTenant(acme)
        g.setMember(acme, "mia", Role.MEMBER)
        val mia = TenantContext.resolved(gs.service, "acme", "mia", Role.MEMBER)
        expect<TenantguardException.PermissionDenied> { g.markPortal(mia, "sso.acme.com", true) }
        g.markPortal(acme, "SSO.Acme.com.", true)
        check(g.portalMark(mia, "login.sso.acme.com") == "sso.acme.com")
        expect<TenantguardException.PermissionDenied>("SSO/MFA") {
            g.putPortalCredential(mia, "pw", "sso.acme.com", Credential.password("primary"))
        }
        expect<TenantguardException.PermissionDenied>("put_portal_credential") {
            g.putCredential(mia, "pw", Credential.password("primary"))
        }
        expect<TenantguardException.InvalidInput> { g.putPortalCredential(mia, "pw", "ssо.acme.com", Credential.password("x")) }
        g.putPortalCredential(mia, "cookie", "sso.acme.com", Credential(CredentialKind.SESSION_COOKIE, "c".toByteArray()))
        g.markPortal(acme, "sso.acme.com", false)
        check(g.portalMark(mia, "sso.acme.com") == null)
        runBlocking { g.putPortalCredentialAsync(mia, "pw", "sso.acme.com", Credential.password("p")) }
        check(g.auditEntries(acme, 0uL, 1000u).count { it.action == "portal.mark" } == 2)
    }
}

println("members_test.kts: $passed tests passed")
