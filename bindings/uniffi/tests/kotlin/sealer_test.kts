// Kotlin tests of TenantSealer, the JNI fast path (bindings/uniffi/kotlin/TenantSealer.kt):
// run by scripts/kotlin.sh on the JVM. A failed check throws and the script exits non-zero.

import tenantguard.*
import tenantguard.test.*
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

var service: ServiceRole = guardInMemoryWithService().service

test("values sealed by the sealer open through the Guard API, and the other way round") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        TenantSealer(g, acme).use { s ->
            val bin = s.seal("row-1", "hunter2".toByteArray())
            check(bin[0] == 2.toByte() && bin.size == 7 + 77) { "binary v2 form, 77 bytes overhead" }
            check(s.open("row-1", bin).decodeToString() == "hunter2")
            check(g.open(acme, "row-1", SealedValue.fromBytes(bin)).decodeToString() == "hunter2")

            val text = s.sealText("row-2", byteArrayOf(0, 1, 2, -1))
            check(text.startsWith("tg2:1:")) { text }
            check(g.open(acme, "row-2", SealedValue.parse(text)).contentEquals(byteArrayOf(0, 1, 2, -1)))
            check(s.openText("row-2", text).contentEquals(byteArrayOf(0, 1, 2, -1)))

            val viaGuard = g.seal(acme, "row-3", "from uniffi".toByteArray())
            check(s.open("row-3", viaGuard.toBytes()).decodeToString() == "from uniffi")
            check(s.openText("row-3", viaGuard.toText()).decodeToString() == "from uniffi")
            check(s.open("empty", s.seal("empty", ByteArray(0))).isEmpty())
        }
    }
}

test("refusals are the Guard API's typed exceptions, with the core's message") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        val other = TenantContext.service("other", service)
        g.createTenant(acme)
        g.createTenant(other)
        val s = TenantSealer(g, acme)
        val o = TenantSealer(g, other)
        val bin = s.seal("row-1", byteArrayOf(1, 2, 3))
        // The same exception, message and reason as the Guard API for the same refusal.
        fun same(fast: TenantguardException, api: TenantguardException) =
            check(fast.javaClass == api.javaClass && fast.message == api.message && fast.reason == api.reason) {
                "sealer: ${fast.javaClass.simpleName} ${fast.reason} '${fast.message}', guard: ${api.javaClass.simpleName} ${api.reason} '${api.message}'"
            }
        val tampered = expect<TenantguardException.Integrity>("authentication failed") { s.open("row-2", bin) }
        check(tampered.reason == ErrorReason.TAMPERED) { "${tampered.reason}" }
        same(tampered, expect<TenantguardException.Integrity> { g.open(acme, "row-2", SealedValue.fromBytes(bin)) })
        val elsewhere = expect<TenantguardException.Integrity> { o.open("row-1", bin) }
        check(elsewhere.reason == ErrorReason.TAMPERED) { "${elsewhere.reason}" }
        same(elsewhere, expect<TenantguardException.Integrity> { g.open(other, "row-1", SealedValue.fromBytes(bin)) })
        val flipped = bin.copyOf().also { it[it.size - 1] = (it[it.size - 1].toInt() xor 1).toByte() }
        check(expect<TenantguardException.Integrity> { s.open("row-1", flipped) }.reason == ErrorReason.TAMPERED)
        expect<TenantguardException.Malformed> { s.open("row-1", byteArrayOf(1, 2)) }
        expect<TenantguardException.UnsupportedVersion> { s.open("row-1", byteArrayOf(9) + bin.copyOfRange(1, bin.size)) }
        expect<TenantguardException.Malformed>("must start with") { s.openText("row-1", "hello") }
        check(expect<TenantguardException.TooLarge>("context") { s.seal("x".repeat(1025), byteArrayOf(1)) }.reason == null)
        expect<TenantguardException.TooLarge> { s.seal("row", ByteArray(16 * 1024 * 1024 + 1)) }
        // An unpaired surrogate is not text: a typed error, not a crash.
        expect<TenantguardException.InvalidInput>("unpaired surrogate") { s.seal("row-\uD800", byteArrayOf(1)) }
        expect<TenantguardException.InvalidInput>("unpaired surrogate") { s.openText("row", "tg1:1:\uDC00") }
        check(s.open("row-\uD83D\uDE00", s.seal("row-\uD83D\uDE00", byteArrayOf(1))).size == 1) { "a surrogate pair is fine" }
        // A tenant with no key, and a scope whose role may not open.
        val ghost = TenantSealer(g, TenantContext.service("ghost", service))
        expect<TenantguardException.NotFound> { ghost.seal("row", byteArrayOf(1)) }
        val member = TenantSealer(g, TenantContext.resolved(service, "acme", "u2", Role.MEMBER))
        val byMember = member.seal("row-m", byteArrayOf(7))
        expect<TenantguardException.PermissionDenied> { member.open("row-m", byMember) }
        check(s.open("row-m", byMember).contentEquals(byteArrayOf(7)))
        // Crypto-shredding reaches the sealer: the same guard, the same keys.
        g.shredTenant(TenantContext.service("other", service))
        val sealedBefore = runCatching { o.seal("row", byteArrayOf(1)) }
        check(sealedBefore.exceptionOrNull() is TenantguardException) { "sealing after shred: $sealedBefore" }
        listOf(s, o, ghost, member).forEach { it.close() }
    }
}

test("a closed sealer throws IllegalStateException, close is idempotent, the guard stays open") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val s = TenantSealer(g, acme)
        val bin = s.seal("row", byteArrayOf(5))
        s.close()
        s.close()
        expect<IllegalStateException>("closed") { s.seal("row", byteArrayOf(1)) }
        expect<IllegalStateException>("closed") { s.open("row", bin) }
        check(g.open(acme, "row", SealedValue.fromBytes(bin)).contentEquals(byteArrayOf(5)))
        // A sealer keeps working after the Kotlin Guard object is closed: it holds its own reference.
        val t = TenantSealer(g, acme)
        g.close()
        check(t.open("row", bin).contentEquals(byteArrayOf(5)))
        t.close()
    }
}

test("threads share one sealer") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val tenants = (0 until 4).map { TenantContext.service("t$it", service).also { c -> g.createTenant(c) } }
        val sealers = tenants.map { TenantSealer(g, it) }
        val pool = Executors.newFixedThreadPool(8)
        val futures = (0 until 16).map { n ->
            pool.submit<Int> {
                val s = sealers[n % 4]
                for (i in 0 until 500) {
                    val data = "$n-$i".toByteArray()
                    check(s.open("row-$i", s.seal("row-$i", data)).contentEquals(data))
                }
                500
            }
        }
        check(futures.sumOf { it.get(120, TimeUnit.SECONDS) } == 16 * 500)
        pool.shutdown()
        sealers.forEach { it.close() }
    }
}

test("at most 65,536 sealers are open at once: a typed error past that, and closing frees room") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val open = ArrayList<TenantSealer>()
        val e = runCatching { while (open.size <= 70_000) open.add(TenantSealer(g, acme)) }.exceptionOrNull()
        check(e is TenantguardException.TooLarge && e.message!!.contains("close()")) { "got $e after ${open.size}" }
        check(open.size == 65_536) { "${open.size} sealers opened" }
        open.removeAt(0).close()
        TenantSealer(g, acme).use { check(it.open("r", it.seal("r", byteArrayOf(3))).contentEquals(byteArrayOf(3))) }
        open.forEach { it.close() }
    }
}

println("sealer_test.kts: $passed tests passed")
