// Kotlin tests of the uniffi bindings: run by scripts/kotlin.sh on the JVM.
// A failed check/assert throws, and kotlinc -script exits non-zero.

import tenantguard.*
import tenantguard.test.*
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.Dispatchers

var service: ServiceRole = guardInMemoryWithService().service

test("seal and open, text and binary forms") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        check(g.createTenant(acme) == 1u)
        val sealed = g.seal(acme, "credentials/password/row-42", "hunter2".toByteArray())
        check(sealed.toString().startsWith("tg2:1:")) { sealed.toString() }
        check(sealed.toText() == sealed.toString())
        check(sealed.keyId() == 1u && sealed.version() == 2.toUByte() && sealed.plaintextLen() == 7uL)
        check(g.open(acme, "credentials/password/row-42", sealed).contentEquals("hunter2".toByteArray()))
        val parsed = SealedValue.parse(sealed.toText())
        check(parsed == sealed)
        check(SealedValue.fromBytes(sealed.toBytes()) == sealed)
        check(g.open(acme, "credentials/password/row-42", parsed).decodeToString() == "hunter2")
    }
}

test("errors are typed with the core's message") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val sealed = g.seal(acme, "row-1", byteArrayOf(1, 2, 3))
        // The message is the core's, unchanged; the reason is the core's, typed.
        val tampered = expect<TenantguardException.Integrity>("authentication failed") { g.open(acme, "row-2", sealed) }
        check(tampered.message == "authentication failed: the value was altered or is opened with the wrong tenant or context") { tampered.message!! }
        check(tampered.reason == ErrorReason.TAMPERED) { "${tampered.reason}" }
        val other = TenantContext.service("other", service)
        g.createTenant(other)
        val elsewhere = expect<TenantguardException.Integrity> { g.open(other, "row-1", sealed) }
        check(elsewhere.reason == ErrorReason.TAMPERED) { "${elsewhere.reason}: ${elsewhere.message}" }
        // The core's tables: integrity failures and refusals are different kinds.
        check(errorKinds().containsAll(listOf("integrity", "authentication_failed")))
        check(errorReasons().containsAll(listOf("tampered", "broken_chain", "wrong_password", "expired")))
        // ErrorReason mirrors the core's reasons one to one, in the core's order, plus OTHER.
        check(ErrorReason.entries.last() == ErrorReason.OTHER && errorReasonName(ErrorReason.OTHER) == null)
        check(ErrorReason.entries.dropLast(1).map { errorReasonName(it) } == errorReasons()) { errorReasons().toString() }
        check(roleNames() == listOf("viewer", "member", "admin", "owner"))
        check(auditActionNames().contains("token.create"))
        expect<TenantguardException.Malformed>("must start with") { SealedValue.parse("hello") }
        expect<TenantguardException.UnsupportedVersion>("version 9") { SealedValue.parse("tg9:1:AAAA") }
        check(expect<TenantguardException.NotFound>("record not found") { g.openRecord(acme, "missing") }.reason == null)
        g.putRecord(other, "theirs", "note", null, byteArrayOf(9))
        // Record ids are per tenant: another tenant's id is simply not found.
        expect<TenantguardException.NotFound>("record not found") { g.openRecord(acme, "theirs") }
        val e: TenantguardException = expect<TenantguardException.InvalidInput>("invalid tenant id") { TenantContext.service("a:b", service) }
        check(e is Exception)
    }
}

test("credentials never show their secret") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val cred = Credential.password("hunter2")
        check(!cred.toString().contains("hunter2")) { cred.toString() }
        check(cred.toString().contains("[REDACTED]"))
        g.putCredential(acme, "row-42", cred)
        val opened = g.openCredential(acme, "row-42")
        check(opened.kind() == CredentialKind.PASSWORD)
        check(opened.expose().decodeToString() == "hunter2")
        check(!opened.toString().contains("hunter2"))
        g.putCredential(acme, "row-43", Credential(CredentialKind.API_TOKEN, byteArrayOf(0, -1)))
        check(g.openCredential(acme, "row-43").expose().contentEquals(byteArrayOf(0, -1)))
    }
}

test("records, roles, rotation, re-encryption, retirement, shredding") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val old = g.seal(acme, "c", "old".toByteArray())
        for (i in 0 until 5) g.putRecord(acme, "r$i", "note", "user-$i", "v$i".toByteArray())
        val rec = g.openRecord(acme, "r3")
        check(rec.dataClass == "note" && rec.plaintext.decodeToString() == "v3")
        val viewer = TenantContext.resolved(service, "acme", "u1", Role.VIEWER)
        val member = TenantContext.resolved(service, "acme", "u2", Role.MEMBER)
        expect<TenantguardException.PermissionDenied>("needs role member") { g.seal(viewer, "c", byteArrayOf()) }
        expect<TenantguardException.PermissionDenied> { g.open(member, "c", old) }
        check(g.keyVersions(viewer).single().state == KeyState.ACTIVE)
        check(g.rotateTenantKey(acme) == 2u)
        check(g.keyVersions(acme).map { it.state } == listOf(KeyState.DECRYPT_ONLY, KeyState.ACTIVE))
        expect<TenantguardException.Conflict>("still seals 5 records") { g.retireKey(acme, 1u) }
        val report = g.reencrypt(acme, 1u, 2u)
        check(report.moved == 5uL && report.remaining == 0uL && report.failed.isEmpty()) { report.toString() }
        val resealed = g.reseal(acme, "c", old)
        check(resealed.keyId() == 2u)
        g.retireKey(acme, 1u)
        expect<TenantguardException.KeyDestroyed> { g.open(acme, "c", old) }
        check(g.open(acme, "c", resealed).decodeToString() == "old")
        check(g.deleteRecord(acme, "r0") && !g.deleteRecord(acme, "r0"))
        val shred = g.shredTenant(acme)
        // The in-memory key provider destroys the tenant's own secret: backups open nothing.
        check(shred.backupsUnreadable && shred.summary == "deployment:immediate" && shred.sharedKekKeys.isEmpty()) { shred.toString() }
        expect<TenantguardException.KeyDestroyed>("can never be opened again") { g.open(acme, "c", resealed) }
    }
}

test("embedded guard persists; local key provider and KEK rotation") {
    val dir = java.nio.file.Files.createTempDirectory("tg-kotlin").toString()
    var acme = TenantContext.service("acme", service)
    val sealed = guardEmbeddedWithService(dir).also { service = it.service }.guard.use { g ->
        acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        g.seal(acme, "c", "persisted".toByteArray())
    }
    guardEmbeddedWithService(dir).also { service = it.service }.guard.use { g -> check(g.open(TenantContext.service("acme", service), "c", sealed).decodeToString() == "persisted") }
    val provider = LocalKeyProvider.openOrCreate("$dir/other-keys.json")
    guardWithLocalKeyProviderAndService(provider, Store.sqlite("$dir/other.db")).also { service = it.service }.guard.use { g ->
        acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val v = g.seal(acme, "c", byteArrayOf(7))
        check(provider.rotateKek() == "kek-2")
        val r = g.rewrapTenantKeys(service, null, 10u)
        check(r.rewrapped == 1uL && r.lastTenant == "acme") { r.toString() }
        provider.removeKek("kek-1")
        check(provider.kekIds() == listOf("kek-2"))
        check(g.open(acme, "c", v).contentEquals(byteArrayOf(7)))
        check(g.cacheStats().loads >= 1uL)
    }
    expect<TenantguardException.Config>("cannot remove the current KEK") { provider.removeKek("kek-2") }
    guardWithLocalKeyProviderAndService(LocalKeyProvider.tryEphemeral(), Store.sqliteInMemory()).also { service = it.service }.guard.use { g ->
        acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        check(g.open(acme, "c", g.seal(acme, "c", byteArrayOf(1))).contentEquals(byteArrayOf(1)))
    }
}

test("bad input: huge, invalid UTF-16, out-of-range ids") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        g.createTenant(acme)
        val max = 16 * 1024 * 1024
        expect<TenantguardException.TooLarge>("plaintext is ${max + 1} bytes, over the limit of $max") {
            g.seal(acme, "c", ByteArray(max + 1))
        }
        expect<TenantguardException.TooLarge>("context is 1025 bytes") { g.seal(acme, "x".repeat(1025), byteArrayOf()) }
        check(g.open(acme, "c", g.seal(acme, "c", ByteArray(max))).size == max)
        expect<java.nio.charset.CharacterCodingException> { g.seal(acme, "\uD800", byteArrayOf()) }
        expect<TenantguardException.InvalidInput>("invalid key id") { g.retireKey(acme, 0u) }
        expect<TenantguardException.InvalidInput>("batch size") { g.reencrypt(acme, 1u, 0u) }
        expect<TenantguardException.Malformed>("empty input") { SealedValue.fromBytes(byteArrayOf()) }
        expect<TenantguardException.InvalidInput>("key must be 32 bytes, got 3") {
            sealWithSalt(byteArrayOf(1, 2, 3), 1u, "t", byteArrayOf(), byteArrayOf(), ByteArray(16))
        }
        expect<TenantguardException.InvalidInput>("salt must be 16 bytes") {
            sealWithSalt(ByteArray(32), 1u, "t", byteArrayOf(), byteArrayOf(), ByteArray(3))
        }
        // Kotlin's type system rejects null for non-null parameters at compile time; through
        // reflection (as Java callers could) a null is refused before reaching Rust.
        val seal = Guard::class.java.getMethod("seal", TenantContext::class.java, String::class.java, ByteArray::class.java)
        val err = expect<java.lang.reflect.InvocationTargetException> { seal.invoke(g, acme, null, byteArrayOf()) }
        check(err.cause is NullPointerException) { "cause: ${err.cause}" }
    }
}

test("suspend functions") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val acme = TenantContext.service("acme", service)
        runBlocking {
            check(g.createTenantAsync(acme) == 1u)
            val all = (0 until 50).map { i ->
                async(Dispatchers.Default) {
                    val s = g.sealAsync(acme, "c$i", "v$i".toByteArray())
                    g.openAsync(acme, "c$i", s).decodeToString() == "v$i"
                }
            }.awaitAll()
            check(all.all { it })
            try {
                g.openRecordAsync(acme, "missing")
                throw AssertionError("no exception")
            } catch (e: TenantguardException.NotFound) {
                check(e.message!!.contains("record not found"))
            }
        }
    }
}

test("threads share one guard") {
    guardInMemoryWithService().also { service = it.service }.guard.use { g ->
        val tenants = (0 until 8).map { TenantContext.service("t$it", service).also { t -> g.createTenant(t) } }
        val pool = Executors.newFixedThreadPool(8)
        val futures = (0 until 32).map { n ->
            pool.submit<Int> {
                val t = tenants[n % 8]
                for (i in 0 until 200) {
                    val data = "$n-$i".toByteArray()
                    check(g.open(t, "row-$i", g.seal(t, "row-$i", data)).contentEquals(data))
                }
                200
            }
        }
        check(futures.sumOf { it.get(120, TimeUnit.SECONDS) } == 32 * 200)
        pool.shutdown()
    }
}

println("guard_test.kts: $passed tests passed")
