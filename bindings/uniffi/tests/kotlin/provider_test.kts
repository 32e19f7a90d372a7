// A key provider implemented in Kotlin (AES-GCM from the JDK, bound to the wrap context),
// used by the Rust core; Kotlin exceptions come back as typed errors.

import tenantguard.*
import kotlinx.coroutines.runBlocking
import java.security.SecureRandom
import java.util.concurrent.atomic.AtomicInteger
import javax.crypto.Cipher
import javax.crypto.spec.GCMParameterSpec
import javax.crypto.spec.SecretKeySpec

class JdkKeyProvider : KeyProvider {
    val keks = HashMap<String, ByteArray>()
    var current = "jdk-1"
    val wraps = AtomicInteger()
    val unwraps = AtomicInteger()
    @Volatile var failWith: Throwable? = null
    private val rng = SecureRandom()

    init { keks[current] = ByteArray(32).also { rng.nextBytes(it) } }

    override fun currentKek(): String { failWith?.let { throw it }; return current }

    override fun wrap(key: ByteArray, ctx: WrapContext): WrappedKey {
        failWith?.let { throw it }
        // Tenant keys only: the service keyring's wraps (contexts `_tg-service.*`) differ.
        if (!ctx.tenant.startsWith("_tg-service.")) wraps.incrementAndGet()
        val nonce = ByteArray(12).also { rng.nextBytes(it) }
        val c = Cipher.getInstance("AES/GCM/NoPadding")
        c.init(Cipher.ENCRYPT_MODE, SecretKeySpec(keks[current]!!, "AES"), GCMParameterSpec(128, nonce))
        c.updateAAD(ctx.aad)
        return WrappedKey(current, nonce + c.doFinal(key))
    }

    override fun unwrap(wrapped: WrappedKey, ctx: WrapContext): ByteArray {
        failWith?.let { throw it }
        if (!ctx.tenant.startsWith("_tg-service.")) unwraps.incrementAndGet()
        val kek = keks[wrapped.kekId] ?: throw ProviderException.Failed("unknown KEK ${wrapped.kekId}")
        val c = Cipher.getInstance("AES/GCM/NoPadding")
        c.init(Cipher.DECRYPT_MODE, SecretKeySpec(kek, "AES"), GCMParameterSpec(128, wrapped.ciphertext, 0, 12))
        c.updateAAD(ctx.aad)
        try {
            return c.doFinal(wrapped.ciphertext, 12, wrapped.ciphertext.size - 12)
        } catch (e: javax.crypto.AEADBadTagException) {
            throw ProviderException.WrongContext()
        }
    }
}

inline fun <reified T : Throwable> expect(message: String, block: () -> Unit) {
    try {
        block()
    } catch (e: Throwable) {
        check(e is T) { "expected ${T::class.simpleName}, got $e" }
        check(e.message!!.contains(message)) { "message '${e.message}' lacks '$message'" }
        return
    }
    throw AssertionError("expected ${T::class.simpleName}")
}

var service: ServiceRole = guardInMemoryWithService().service
val provider = JdkKeyProvider()
guardWithKeyProviderAndService(provider, Store.memory()).also { service = it.service }.guard.use { g ->
    val acme = TenantContext.service("acme", service)
    g.createTenant(acme)
    check(provider.wraps.get() == 1)
    val sealed = g.seal(acme, "c", "via kotlin kms".toByteArray())
    check(g.open(acme, "c", sealed).decodeToString() == "via kotlin kms")
    check(provider.unwraps.get() == 1) { "the cache should hold the key: ${provider.unwraps.get()}" }
    check(g.keyVersions(acme).single().kekId == "jdk-1")
    provider.keks["jdk-2"] = ByteArray(32).also { SecureRandom().nextBytes(it) }
    provider.current = "jdk-2"
    check(g.rewrapTenantKeys(service, null, 100u).rewrapped == 1uL)
    println("ok - Kotlin key provider used by the core, KEK rotation through it")
}

// Foreign errors come back typed: each Kotlin exception becomes the matching core error.
data class Case(val thrown: Throwable, val message: String, val isExpected: (Throwable) -> Boolean)
val cases = listOf(
    Case(ProviderException.Unavailable("kms is down"), "key provider unavailable: kms is down") { it is TenantguardException.Unavailable },
    Case(ProviderException.Config("no region"), "key provider configuration: no region") { it is TenantguardException.Config },
    Case(ProviderException.Failed("access denied"), "key provider failed: access denied") { it is TenantguardException.KeyProvider },
    Case(ProviderException.WrongContext(), "does not match its tenant/key context") { it is TenantguardException.Integrity },
    Case(IllegalStateException("boom"), "boom") { it is TenantguardException.KeyProvider },
)
for (c in cases) {
    val p = JdkKeyProvider()
    guardWithKeyProviderAndService(p, Store.memory()).also { service = it.service }.guard.use { g ->
        val t = TenantContext.service("t", service)
        g.createTenant(t)
        p.failWith = c.thrown
        try {
            g.rotateTenantKey(t)
            throw AssertionError("rotation should fail with ${c.thrown}")
        } catch (e: TenantguardException) {
            check(c.isExpected(e)) { "${c.thrown} came back as $e" }
            check(e.message!!.contains(c.message)) { "message '${e.message}' lacks '${c.message}'" }
        }
    }
}
println("ok - Kotlin provider exceptions come back typed")

// A wrong-length key from the provider is refused, not trusted.
// (Tenant keys only: the guard's own service keyring, `_tg-service.*`, unwraps normally.)
class ShortKeys(private val inner: JdkKeyProvider = JdkKeyProvider()) : KeyProvider by inner {
    override fun unwrap(wrapped: WrappedKey, ctx: WrapContext): ByteArray =
        if (ctx.tenant.startsWith("_tg-service.")) inner.unwrap(wrapped, ctx) else ByteArray(5)
}
guardWithKeyProviderAndService(ShortKeys(), Store.memory()).also { service = it.service }.guard.use { g ->
    val t = TenantContext.service("t", service)
    g.createTenant(t)
    expect<TenantguardException.KeyProvider>("unwrap returned 5 bytes") { g.seal(t, "c", byteArrayOf()) }
}
println("ok - wrong-length unwrap refused")
// Per-tenant key providers (bring your own key): one tenant's data keys move to a provider
// implemented in Kotlin; the others stay with the deployment's.
run {
    val deployment = LocalKeyProvider.ephemeral()
    val byok = JdkKeyProvider()
    val store = Store.memory()
    val opts = GuardOptions().withTenantKeyProvider("acme-kms", byok)
        .withTenantLocalKeyProvider("spare", LocalKeyProvider.ephemeral())
        .withTenantKeyProviderAllowed("acme-kms", "acme")
    check(opts.tenantKeyProviderNames() == listOf("acme-kms", "spare")) { opts.tenantKeyProviderNames().toString() }
    check(opts.toString().contains("acme-kms"))
    val first = guardWithLocalKeyProviderAndService(deployment, store, opts).also { service = it.service }
    val acme = TenantContext.service("acme", service)
    val globex = TenantContext.service("globex", service)
    val sealed = first.guard.use { g ->
        check(g.tenantKeyProviderNames() == listOf("acme-kms", "spare"))
        g.createTenant(acme)
        g.createTenant(globex)
        val sealed = g.seal(acme, "c", "byok".toByteArray())
        check(g.tenantKeyProvider(acme) == null && byok.wraps.get() == 0)
        val rep = g.setTenantKeyProvider(acme, "acme-kms")
        check(rep.tenants == 1uL && rep.rewrapped == 1uL && rep.lastTenant == "acme") { rep.toString() }
        check(byok.wraps.get() == 1)
        check(g.tenantKeyProvider(acme) == "acme-kms" && g.tenantKeyProvider(globex) == null)
        check(g.keyVersions(acme).single().kekId == "@acme-kms/jdk-1") { g.keyVersions(acme).toString() }
        check(g.keyVersions(globex).single().kekId.startsWith("@").not())
        check(g.setTenantKeyProvider(acme, "acme-kms").rewrapped == 0uL) // idempotent
        // New key versions of the tenant go to its provider.
        g.rotateTenantKey(acme)
        check(byok.wraps.get() == 2 && g.keyVersions(acme).all { it.kekId == "@acme-kms/jdk-1" })
        expect<TenantguardException.Config>("no tenant key provider named") { g.setTenantKeyProvider(globex, "nope") }
        val member = TenantContext.resolved(service, "acme", "u1", Role.ADMIN)
        expect<TenantguardException.PermissionDenied>("owner") { g.setTenantKeyProvider(member, null) }
        runBlocking { check(g.tenantKeyProviderAsync(acme) == "acme-kms") }
        sealed
    }
    // A fresh guard (empty key cache) unwraps through the Kotlin provider: its outage stops
    // only that tenant.
    guardWithLocalKeyProviderAndService(deployment, store, opts).also { service = it.service }.guard.use { g ->
        byok.failWith = ProviderException.Unavailable("customer kms down")
        expect<TenantguardException.Unavailable>("customer kms down") { g.open(acme, "c", sealed) }
        g.seal(globex, "c", byteArrayOf(1))
        byok.failWith = null
        check(g.open(acme, "c", sealed).decodeToString() == "byok")
        check(byok.unwraps.get() >= 1)
        // Back to the deployment provider.
        val back = runBlocking { g.setTenantKeyProviderAsync(acme, null) }
        check(back.rewrapped == 2uL && g.tenantKeyProvider(acme) == null) { back.toString() }
    }
    // Back on the deployment provider, a guard without tenant providers opens it.
    guardWithLocalKeyProviderAndService(deployment, store).also { service = it.service }.guard.use { g ->
        check(g.tenantKeyProviderNames().isEmpty())
        check(g.open(acme, "c", sealed).decodeToString() == "byok")
    }
    // Names are checked when the guard is built.
    expect<TenantguardException.Config>("a-z, 0-9") {
        guardWithLocalKeyProviderAndService(deployment, Store.memory(), GuardOptions().withTenantKeyProvider("Bad Name", byok)).also { service = it.service }.guard
    }
}
println("ok - per-tenant key providers implemented in Kotlin (BYOK)")
println("provider_test.kts: passed")
