// Kotlin tests of the isolation bindings (organizations, memberships, four roles, a
// directory implemented in Kotlin, write-only credentials, TOTP from a sealed seed): run by
// scripts/kotlin.sh. A failed check exits non-zero.

import tenantguard.*
import tenantguard.test.*
import kotlinx.coroutines.runBlocking

var service: ServiceRole = guardInMemoryWithService().service

test("organizations and memberships: roles come from the directory; a viewer is refused a write") {
    // User contexts are bound to the capability that vouched for them: the directory
    // resolves with the capability of the guard the contexts are used with.
    val gs = guardInMemoryWithService().also { service = it.service }
    val dir = MemoryDirectory()
    dir.create(service, "acme", "olga")
    dir.create(service, "alice", "alice") // a personal tenant
    expect<TenantguardException.PermissionDenied> { dir.create(service, "acme", "mallory") }
    val res = DirectoryResolver.memory(dir, service)
    val olga = res.resolve("olga", "acme")
    check(olga.role() == Role.OWNER && olga.user() == "olga" && !olga.isService())
    dir.setMember(olga, "adam", Role.ADMIN)
    val adam = res.resolve("adam", "acme")
    dir.setMember(adam, "mia", Role.MEMBER)
    dir.setMember(adam, "vic", Role.VIEWER)
    dir.setMember(adam, "alice", Role.VIEWER)
    expect<TenantguardException.PermissionDenied>("manage owners") { dir.setMember(adam, "mia", Role.OWNER) }
    expect<TenantguardException.PermissionDenied>("manage owners") { dir.removeMember(adam, "olga") }
    expect<TenantguardException.PermissionDenied>("last owner") { dir.removeMember(olga, "olga") }
    expect<TenantguardException.PermissionDenied>("not a member") { res.resolve("mallory", "acme") }
    val mia = res.resolve("mia", "acme")
    val vic = res.resolve("vic", "acme")
    expect<TenantguardException.PermissionDenied>("manage members") { dir.setMember(mia, "eve", Role.VIEWER) }

    // Additive access: a personal tenant plus each organization.
    val scopes = res.visibleScopes("alice")
    check(scopes.map { it.tenant() to it.role() } == listOf("acme" to Role.VIEWER, "alice" to Role.OWNER)) { scopes.toString() }

    gs.guard.use { g ->
        g.createTenant(TenantContext.service("acme", service))
        g.createTenant(TenantContext.service("alice", service))
        // Sensitive operations (keys here) read the role from the store's memberships, not
        // from the directory the contexts came from: mirror it into the store.
        for ((u, r) in listOf("olga" to Role.OWNER, "adam" to Role.ADMIN)) g.setMember(TenantContext.service("acme", service), u, r)
        // Viewer reads metadata only; member writes; owner manages keys.
        check(g.keyVersions(vic).size == 1)
        expect<TenantguardException.PermissionDenied>("needs role member") { g.putCredential(vic, "pw", Credential.password("x")) }
        expect<TenantguardException.PermissionDenied>("needs role member") { g.seal(vic, "c", byteArrayOf(1)) }
        expect<TenantguardException.PermissionDenied>("needs role member") { g.deleteRecord(vic, "pw") }
        g.putCredential(mia, "pw", Credential.password("hunter2"))
        // Write-only: members store and replace credentials, never read them back.
        expect<TenantguardException.PermissionDenied> { g.openCredential(mia, "pw") }
        expect<TenantguardException.PermissionDenied> { g.openCredential(olga, "pw") }
        g.putCredential(mia, "pw", Credential.password("hunter3"))
        expect<TenantguardException.PermissionDenied>("needs role owner") { g.rotateTenantKey(adam) }
        check(g.rotateTenantKey(olga) == 2u)
        // Record ids are per tenant: another tenant's id is not found, and the same id in
        // another tenant is that tenant's own record.
        val aliceHome = res.resolve("alice", "alice")
        expect<TenantguardException.NotFound> { g.openRecord(TenantContext.service("alice", service), "pw") }
        g.putCredential(aliceHome, "pw", Credential.password("y"))
        check(g.openCredential(TenantContext.service("alice", service), "pw").expose().decodeToString() == "y")
        check(g.openCredential(TenantContext.service("acme", service), "pw").expose().decodeToString() == "hunter3")
    }
    check(dir.removeMember(adam, "vic") && !dir.removeMember(adam, "vic"))
    expect<TenantguardException.PermissionDenied> { res.resolve("vic", "acme") }
    runBlocking {
        check(res.resolveAsync("mia", "acme").role() == Role.MEMBER)
        check(res.visibleScopesAsync("olga").single().tenant() == "acme")
    }
}

/** Memberships kept by the application (here a map), answered through the Directory callback. */
class MapDirectory(private val roles: Map<Pair<String, String>, Role>) : Directory {
    var down = false
    override fun roleOf(user: String, tenant: String): Role? {
        if (down) throw HostException.Failed("directory database unreachable")
        return roles[user to tenant]
    }

    override fun membershipsOf(user: String): List<Membership> =
        roles.filterKeys { it.first == user }.map { (k, r) -> Membership(k.second, user, r) }.sortedBy { it.tenant }
}

test("a Directory implemented in Kotlin resolves scopes; its failures surface typed") {
    val mine = MapDirectory(mapOf(("ann" to "acme") to Role.ADMIN, ("ann" to "beta") to Role.VIEWER))
    val res = DirectoryResolver.foreign(mine, service)
    val ann = res.resolve("ann", "acme")
    check(ann.role() == Role.ADMIN && ann.tenant() == "acme")
    check(res.visibleScopes("ann").map { it.tenant() to it.role() } == listOf("acme" to Role.ADMIN, "beta" to Role.VIEWER))
    expect<TenantguardException.PermissionDenied>("not a member") { res.resolve("bob", "acme") }
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        g.createTenant(TenantContext.service("beta", service))
        expect<TenantguardException.PermissionDenied> { g.seal(res.resolve("ann", "beta"), "c", byteArrayOf()) }
    }
    mine.down = true
    expect<TenantguardException.Store>("directory database unreachable") { res.resolve("ann", "acme") }
    val bad = MapDirectory(mapOf(("ann" to "no:colons") to Role.OWNER))
    expect<TenantguardException.InvalidInput>("invalid tenant id") { DirectoryResolver.foreign(bad, service).visibleScopes("ann") }
    expect<TenantguardException.Config>("no memberships") { DirectoryResolver.fromStore(Store.memory(), service) }
    // Membership editing is PostgreSQL's (see postgres_test.kts); other stores refuse it.
    val acmeSvc = TenantContext.service("acme", service)
    expect<TenantguardException.Config>("PostgreSQL") { Store.memory().setMember(acmeSvc, "ann", Role.VIEWER) }
    expect<TenantguardException.Config>("PostgreSQL") { Store.sqliteInMemory().members(acmeSvc) }
}

test("write-only credentials: reveal for the service role, recorded with a purpose first") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val mia = TenantContext.resolved(service, "acme", "mia", Role.MEMBER)
        g.putCredential(mia, "pw", Credential.password("hunter2"))
        val events = mutableListOf<OpenEvent>()
        val rev = Revealer(g, object : OpenObserver {
            override fun record(event: OpenEvent) { events.add(event) }
        })
        expect<TenantguardException.PermissionDenied> { rev.openCredential(mia, "pw", "debugging") }
        check(events.isEmpty())
        val c = rev.openCredential(acme, "pw", "run 8812 launch")
        check(c.expose().decodeToString() == "hunter2" && c.kind() == CredentialKind.PASSWORD)
        val ev = events.single()
        check(ev.kind == OpenKind.REVEAL && ev.user == null && ev.role == null && ev.record == "pw" && ev.purpose == "run 8812 launch" && ev.tenant == "acme")
        expect<TenantguardException.InvalidInput>("purpose") { rev.openCredential(acme, "pw", "") }
        // An observer that cannot record stops the open: no unrecorded plaintext.
        val refusing = Revealer(g, object : OpenObserver {
            override fun record(event: OpenEvent) { throw HostException.Failed("audit log down") }
        })
        expect<TenantguardException.Unavailable>("audit log down") { refusing.openCredential(acme, "pw", "x") }
        // The guard's own audited open, with a reason.
        check(g.openCredentialWithReason(acme, "pw", "support ticket 12").expose().decodeToString() == "hunter2")
        val opens = g.auditEntries(acme, 0uL, 100u).filter { it.action == "credential.open" }
        check(opens.any { it.reason == "support ticket 12" && it.target == "record:pw" }) { opens.toString() }
        check(opens.none { it.toString().contains("hunter2") })
        runBlocking { check(rev.openCredentialAsync(acme, "pw", "async").expose().decodeToString() == "hunter2") }
    }
}

class SetClock(@Volatile var t: Long) : Clock {
    override fun nowUnix(): Long = t
}

test("TOTP codes from a sealed seed match RFC 6238; the seed is never revealed") {
    // Codes only for the guard's clock (plus or minus one step): the vectors set the clock.
    val clock = SetClock(59)
    guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), Store.memory(), GuardOptions(clock = clock)).also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val mia = TenantContext.resolved(service, "acme", "mia", Role.MEMBER)
        val vic = TenantContext.resolved(service, "acme", "vic", Role.VIEWER)
        // RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890", base32-encoded.
        g.putCredential(mia, "github-2fa", Credential(CredentialKind.TOTP_SEED, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".toByteArray()))
        g.putCredential(mia, "pw", Credential.password("hunter2"))
        val events = mutableListOf<OpenEvent>()
        val rev = Revealer(g, object : OpenObserver {
            override fun record(event: OpenEvent) { events.add(event) }
        })
        val p8 = totpParamsDefault().copy(digits = 8u)
        val vectors = mapOf(59uL to "94287082", 1111111109uL to "07081804", 1111111111uL to "14050471",
            1234567890uL to "89005924", 2000000000uL to "69279037", 20000000000uL to "65353130")
        for ((t, want) in vectors) {
            clock.t = t.toLong()
            val code = rev.totpCode(mia, "github-2fa", p8, t, "login step")
            check(code.code() == want) { "t=$t: ${code.code()} != $want" }
            check(!code.toString().contains(want)) { code.toString() }
        }
        clock.t = 59
        check(rev.totpCode(acme, "github-2fa", totpParamsDefault(), 59uL, "run 1").code() == "287082")
        expect<TenantguardException.PermissionDenied>("time step") { rev.totpCode(mia, "github-2fa", p8, 59uL + 30uL * 86_400uL, "harvest") }
        val raw = Credential(CredentialKind.TOTP_SEED, "12345678901234567890123456789012".toByteArray())
        g.putCredential(mia, "sha256", raw)
        val p256 = TotpParams(TotpAlgorithm.SHA256, 8u, 30uL, SeedEncoding.RAW)
        check(rev.totpCode(mia, "sha256", p256, 59uL, "x").code() == "46119246")
        check(events.size == vectors.size + 2 && events.first().kind == OpenKind.TOTP_CODE && events.first().user == "mia")

        expect<TenantguardException.PermissionDenied>("TOTP code") { rev.totpCode(vic, "github-2fa", p8, 59uL, "x") }
        expect<TenantguardException.InvalidInput>("not a TOTP seed") { rev.totpCode(mia, "pw", p8, 59uL, "x") }
        expect<TenantguardException.NotFound> { rev.totpCode(mia, "absent", p8, 59uL, "x") }
        expect<TenantguardException.InvalidInput>("digits") { rev.totpCode(mia, "github-2fa", p8.copy(digits = 9u), 59uL, "x") }
        // The seed itself stays write-only for members.
        expect<TenantguardException.PermissionDenied> { g.openCredential(mia, "github-2fa") }
        runBlocking { check(rev.totpCodeAsync(mia, "github-2fa", p8, 59uL, "async").code() == "94287082") }
    }
}

println("isolation_test.kts: $passed tests passed")
