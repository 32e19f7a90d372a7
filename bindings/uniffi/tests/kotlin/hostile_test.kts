// Kotlin tests of the bindings against hostile or careless callers: callbacks that throw or
// call back into their own Guard, secrets in toString(), the JNI fast path misused,
// cancelled suspend calls. Run by scripts/kotlin.sh; a failed check throws.

import tenantguard.*
import tenantguard.test.*
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference

var service: ServiceRole = guardInMemoryWithService().service

/** Runs [body] on a daemon thread; fails (instead of hanging the script) if it never returns. */
fun <T> noHang(what: String, body: () -> T): T {
    val result = AtomicReference<Result<T>?>(null)
    val t = Thread { result.set(runCatching(body)) }.apply { isDaemon = true; start() }
    t.join(60_000)
    val r = result.get() ?: throw AssertionError("$what never returned (deadlock)")
    return r.getOrThrow()
}

/** A key provider delegating to a local one, whose `unwrap` can run [hook] first. */
class HookedProvider : KeyProvider {
    private val keys = HashMap<String, ByteArray>()
    @Volatile var hook: ((WrapContext) -> Unit)? = null
    override fun currentKek(): String = "k1"
    override fun wrap(key: ByteArray, ctx: WrapContext): WrappedKey = WrappedKey("k1", key.reversedArray())
    override fun unwrap(wrapped: WrappedKey, ctx: WrapContext): ByteArray {
        if (!ctx.tenant.startsWith("_tg-service.")) hook?.invoke(ctx)
        return wrapped.ciphertext.reversedArray()
    }
}

test("a key provider calling back into its own Guard gets a typed error, no deadlock") {
    val p = HookedProvider()
    val store = Store.memory()
    val acme = guardWithKeyProviderAndService(p, store).let { gs ->
        service = gs.service
        TenantContext.service("acme", gs.service).also { gs.guard.use { g -> g.createTenant(it) } }
    }
    // A fresh guard over the same store: its first use of acme's key unwraps through `p`.
    val gs = guardWithKeyProviderAndService(p, store)
    val ctx = TenantContext.service("acme", gs.service)
    gs.guard.use { g ->
        val inner = AtomicReference<Throwable?>(null)
        p.hook = { _ ->
            p.hook = null
            inner.set(runCatching { g.seal(ctx, "inner", byteArrayOf(1)) }.exceptionOrNull())
        }
        val outer = noHang("seal through a re-entrant provider") { runCatching { g.seal(ctx, "outer", byteArrayOf(2)) } }
        check(inner.get() is TenantguardException.Conflict) { "the re-entrant call: ${inner.get()}" }
        check(outer.isSuccess) { "the outer call: ${outer.exceptionOrNull()}" }
        // The same through the JNI fast path, and from a suspend function.
        val g2 = guardWithKeyProviderAndService(p, store)
        val ctx2 = TenantContext.service("acme", g2.service)
        g2.guard.use { h ->
            TenantSealer(h, ctx2).use { s ->
                p.hook = { _ ->
                    p.hook = null
                    inner.set(runCatching { s.seal("inner", byteArrayOf(1)) }.exceptionOrNull())
                }
                noHang("TenantSealer through a re-entrant provider") { s.seal("outer", byteArrayOf(3)) }
                check(inner.get() is TenantguardException.Conflict) { "the re-entrant sealer call: ${inner.get()}" }
            }
        }
        val g3 = guardWithKeyProviderAndService(p, store)
        val ctx3 = TenantContext.service("acme", g3.service)
        g3.guard.use { h ->
            p.hook = { _ ->
                p.hook = null
                inner.set(runCatching { h.seal(ctx3, "inner", byteArrayOf(1)) }.exceptionOrNull())
            }
            noHang("sealAsync through a re-entrant provider") { runBlocking { h.sealAsync(ctx3, "outer", byteArrayOf(4)) } }
            check(inner.get() is TenantguardException.Conflict) { "the re-entrant call from sealAsync: ${inner.get()}" }
        }
        // Another guard can still be used from a provider.
        val other = guardInMemoryWithService()
        val o = TenantContext.service("o", other.service)
        other.guard.createTenant(o)
        val g4 = guardWithKeyProviderAndService(p, store)
        g4.guard.use { h ->
            p.hook = { _ -> p.hook = null; other.guard.seal(o, "x", byteArrayOf(1)) }
            noHang("a provider using another guard") { h.seal(TenantContext.service("acme", g4.service), "y", byteArrayOf(1)) }
        }
        other.guard.close()
    }
    check(acme.tenant() == "acme")
}

test("a clock or progress callback that throws never surfaces as InternalException") {
    val clock = object : Clock {
        @Volatile var fail = false
        @Volatile var t = 1_700_000_000L
        override fun nowUnix(): Long = if (fail) throw IllegalStateException("clock broke") else t
    }
    guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), Store.memory(), GuardOptions(clock = clock)).also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        g.setMember(acme, "alice", Role.MEMBER)
        val alice = TenantContext.resolved(service, "acme", "alice", Role.MEMBER)
        // A clock that throws: the system clock answers instead (as in Python).
        clock.fail = true
        val s = g.createSession(alice, "laptop")
        val now = System.currentTimeMillis() / 1000
        check(s.accessExpiresAt() in now..now + 3600) { "access expires at ${s.accessExpiresAt()}, now $now" }
        clock.fail = false
        check(g.createSession(alice, "phone").accessExpiresAt() == clock.t + 900)

        for (i in 0 until 3) g.putRecord(acme, "shot-$i", "screenshot", null, "png".toByteArray())
        g.setRetention(acme, "screenshot", RetentionWindow.Secs(1))
        clock.t += 10
        // A progress callback that throws: the job runs to its end, then a typed error.
        var calls = 0
        val boom = object : JobProgress { override fun onStep(step: JobStep): Boolean { calls++; throw IllegalStateException("progress broke") } }
        expect<TenantguardException.Other>("progress broke") { g.sweepWithProgress(acme, 1u, boom) }
        check(calls == 1) { "called $calls times after it threw" }
        for (i in 0 until 3) expect<TenantguardException.NotFound> { g.openRecord(acme, "shot-$i") }
        check(g.open(acme, "c", g.seal(acme, "c", byteArrayOf(1))).contentEquals(byteArrayOf(1)))
    }
}

test("toString() of values holding secrets shows none") {
    val key = ByteArray(32) { 0x41 }
    guardWithLocalKeyProviderAndService(LocalKeyProvider.ephemeral(), Store.memory(), GuardOptions(sessionSigningKey = key)).also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        g.setMember(acme, "alice", Role.MEMBER)
        val secret = "hunter2-plaintext"
        g.putRecord(acme, "r1", "note", null, secret.toByteArray())
        val rec = g.openRecord(acme, "r1")
        check(rec.plaintext.decodeToString() == secret && rec.dataClass == "note")
        val bytes = secret.toByteArray().joinToString(", ")
        check(!rec.toString().contains(bytes) && !rec.toString().contains(secret)) { "OpenedRecord.toString(): $rec" }
        check(rec.toString().contains("note")) { rec.toString() }
        val viaAsync = runBlocking { g.openRecordAsync(acme, "r1") }
        check(!viaAsync.toString().contains(bytes)) { viaAsync.toString() }
        check(rec == viaAsync && rec.hashCode() == viaAsync.hashCode() || rec != viaAsync) // equality is whatever it is; no crash
        val alice = TenantContext.resolved(service, "acme", "alice", Role.MEMBER)
        val tokens = g.createSession(alice, "laptop")
        check(!tokens.toString().contains(tokens.accessToken()) && !tokens.toString().contains(tokens.refreshToken())) { tokens.toString() }
        val issued = g.createToken(acme, TokenSpec(agent = "bot", name = "ci"))
        check(!issued.toString().contains(issued.secret())) { issued.toString() }
        val opts = GuardOptions(sessionSigningKey = key).toString()
        check(!opts.contains("65, 65, 65") && !opts.contains("AAAA") && !opts.contains("4141")) { opts }
    }
}

test("TenantSealer misuse: forged and stale ids, nulls through reflection, close racing calls") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val jni = Class.forName("tenantguard.TenantSealerJni")
        val seal = jni.getDeclaredMethod("seal", Long::class.javaPrimitiveType, String::class.java, ByteArray::class.java)
        val openText = jni.getDeclaredMethod("openText", Long::class.javaPrimitiveType, String::class.java, String::class.java)
        val release = jni.getDeclaredMethod("release", Long::class.javaPrimitiveType)
        listOf(seal, openText, release).forEach { it.isAccessible = true }
        fun cause(block: () -> Any?): Throwable? =
            try { block(); null } catch (e: java.lang.reflect.InvocationTargetException) { e.targetException }
        for (id in listOf(0L, -1L, Long.MIN_VALUE, Long.MAX_VALUE)) {
            check(cause { seal.invoke(null, id, "c", byteArrayOf(1)) } is IllegalStateException) { "forged id $id" }
            check(release.invoke(null, id) == false)
        }
        val s = TenantSealer(g, acme)
        val f = TenantSealer::class.java.getDeclaredField("scope").apply { isAccessible = true }
        val id = f.getLong(s)
        // Nulls where Kotlin cannot pass them: typed errors, never a crash or a pending exception.
        check(cause { seal.invoke(null, id, null, byteArrayOf(1)) } is TenantguardException.InvalidInput) { "null context" }
        check(cause { seal.invoke(null, id, "c", null) } is TenantguardException.InvalidInput) { "null plaintext" }
        check(cause { openText.invoke(null, id, "c", null) } is TenantguardException.InvalidInput) { "null sealed" }
        s.close()
        check(cause { seal.invoke(null, id, "c", byteArrayOf(1)) } is IllegalStateException) { "stale id" }
        s.close()

        // close() racing calls on other threads: each call succeeds or throws IllegalStateException.
        val pool = Executors.newFixedThreadPool(4)
        repeat(20) {
            val t = TenantSealer(g, acme)
            val start = CountDownLatch(1)
            val futures = (0 until 3).map {
                pool.submit<Int> {
                    start.await()
                    var ok = 0
                    for (i in 0 until 50) {
                        try {
                            check(t.open("r", t.seal("r", byteArrayOf(i.toByte()))).single() == i.toByte()); ok++
                        } catch (e: IllegalStateException) {
                            check(e.message!!.contains("closed")) { e.toString() }
                        }
                    }
                    ok
                }
            }
            start.countDown()
            t.close()
            futures.forEach { it.get(60, TimeUnit.SECONDS) }
        }
        pool.shutdown()
        // Empty and large inputs on a live sealer.
        TenantSealer(g, acme).use { t ->
            expect<TenantguardException.Malformed> { t.open("r", ByteArray(0)) }
            expect<TenantguardException.Malformed> { t.openText("r", "") }
            val big = ByteArray(4 * 1024 * 1024) { it.toByte() }
            check(t.open("", t.seal("", big)).contentEquals(big))
        }
    }
}

test("a cancelled suspend call neither crashes nor breaks the guard") {
    val p = HookedProvider()
    val store = Store.memory()
    guardWithKeyProviderAndService(p, store).let { gs -> gs.guard.use { it.createTenant(TenantContext.service("acme", gs.service)) } }
    val gs = guardWithKeyProviderAndService(p, store)
    val acme = TenantContext.service("acme", gs.service)
    gs.guard.use { g ->
        val entered = CountDownLatch(1)
        val release = CountDownLatch(1)
        p.hook = { _ -> p.hook = null; entered.countDown(); release.await(60, TimeUnit.SECONDS) }
        runBlocking {
            val job = async(Dispatchers.IO) { g.sealAsync(acme, "c", byteArrayOf(1)) }
            entered.await(60, TimeUnit.SECONDS)
            job.cancel()
            release.countDown()
            val r = runCatching { job.await() }
            check(r.isSuccess || r.exceptionOrNull() is CancellationException) { "${r.exceptionOrNull()}" }
        }
        // Cancelled before it runs, many times over.
        runBlocking {
            repeat(200) { async(Dispatchers.IO) { g.sealAsync(acme, "c", byteArrayOf(1)) }.cancel() }
        }
        check(runBlocking { g.openAsync(acme, "c", g.sealAsync(acme, "c", byteArrayOf(9))) }.contentEquals(byteArrayOf(9)))
    }
}

println("hostile_test.kts: $passed tests passed")
