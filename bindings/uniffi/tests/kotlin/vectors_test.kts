// The shared format vectors and the cross-language files, from Kotlin.
// args: VECTORS_JSON XLANG_DIR

import tenantguard.*
import tenantguard.test.*
import java.io.File

val vectorsPath = args[0]
val xlang = args[1]

fun Map<String, Any?>.s(k: String) = this[k] as String
fun Map<String, Any?>.u(k: String) = (this[k] as Long).toUInt()

// Accepts both vector schemas: the bindings' and the one in core/tests/vectors.
val aliases = mapOf("data_key_hex" to "key_hex", "tenant_id" to "tenant", "sealed_hex" to "binary_hex",
    "sealed_text" to "text", "expected_error" to "error_kind")
fun normalize(v: Map<String, Any?>): Map<String, Any?> {
    val m = LinkedHashMap(v)
    for ((landed, ours) in aliases) if (landed in m && ours !in m) m[ours] = m[landed]
    val form = m["form"]
    if (form != null && "input" in m) m[if (form == "text") "text" else "binary_hex"] = m["input"]
    return m
}
val doc = Json.read(vectorsPath)
@Suppress("UNCHECKED_CAST")
val valid = (doc["valid"] as List<Map<String, Any?>>).map(::normalize)
@Suppress("UNCHECKED_CAST")
val invalid = (doc["invalid"] as List<Map<String, Any?>>).map(::normalize)
check(valid.isNotEmpty() && invalid.isNotEmpty())
for (v in valid) {
    val key = v.s("key_hex").unhex()
    val ctx = v.s("context_hex").unhex()
    val plain = v.s("plaintext_hex").unhex()
    val sealed = sealWithSalt(key, v.u("key_id"), v.s("tenant"), ctx, plain, v.s("salt_hex").unhex())
    check(sealed.toBytes().hex() == v.s("binary_hex")) { v.s("name") }
    check(sealed.toText() == v.s("text")) { v.s("name") }
    val parsed = SealedValue.parse(v.s("text"))
    check(openWithKey(key, v.u("key_id"), v.s("tenant"), ctx, parsed).contentEquals(plain)) { v.s("name") }
}
println("ok - ${valid.size} valid vectors")

val kinds = mapOf<String, (Throwable) -> Boolean>(
    "integrity" to { it is TenantguardException.Integrity },
    "malformed" to { it is TenantguardException.Malformed },
    "unsupported_version" to { it is TenantguardException.UnsupportedVersion },
    "too_large" to { it is TenantguardException.TooLarge },
    "invalid_input" to { it is TenantguardException.InvalidInput },
    "unknown_key" to { it is TenantguardException.UnknownKey },
)
for (v in invalid) {
    val name = v.s("name")
    try {
        val sealed = if (v.containsKey("text")) SealedValue.parse(v.s("text")) else SealedValue.fromBytes(v.s("binary_hex").unhex())
        openWithKey(v.s("key_hex").unhex(), v.u("key_id"), v.s("tenant"), v.s("context_hex").unhex(), sealed)
        throw AssertionError("$name: opened")
    } catch (e: TenantguardException) {
        val ok = kinds[v.s("error_kind")] ?: throw AssertionError("$name: unknown kind ${v.s("error_kind")}")
        check(ok(e)) { "$name: expected ${v.s("error_kind")}, got $e" }
    }
}
println("ok - ${invalid.size} invalid vectors")

// Cross-language: open what Rust and Python wrote, then write kotlin.json.
var service: ServiceRole = guardInMemoryWithService().service
for (writer in listOf("rust", "python")) {
    val f = File("$xlang/$writer.json")
    check(f.exists()) { "${f.path} is missing: run scripts/python.sh first (it writes rust.json and python.json)" }
    val v = Json.read(f.path)
    check(v.s("writer") == writer)
    val plain = v.s("plaintext_hex").unhex()
    val sealed = SealedValue.parse(v.s("text"))
    check(sealed.toBytes().hex() == v.s("binary_hex"))
    check(openWithKey(v.s("key_hex").unhex(), v.u("key_id"), v.s("tenant"), v.s("context_hex").unhex(), sealed).contentEquals(plain))
    guardEmbeddedWithService("$xlang/embedded").also { service = it.service }.guard.use { g ->
        val ctx = TenantContext.service(v.s("tenant"), service)
        check(g.open(ctx, v.s("embedded_context"), SealedValue.parse(v.s("embedded_text"))).contentEquals(plain)) { writer }
        TenantSealer(g, ctx).use { s ->   // and through the JNI fast path, both forms
            check(s.openText(v.s("embedded_context"), v.s("embedded_text")).contentEquals(plain)) { writer }
            check(s.open(v.s("embedded_context"), SealedValue.parse(v.s("embedded_text")).toBytes()).contentEquals(plain)) { writer }
        }
    }
    println("ok - opened the values $writer sealed")
}

val key = ByteArray(32).also { java.security.SecureRandom().nextBytes(it) }
val salt = ByteArray(16).also { java.security.SecureRandom().nextBytes(it) }
val plain = "sealed in Kotlin \u2615".toByteArray()
val ctxBytes = "xlang/kotlin".toByteArray()
// A tenant of this run: the embedded store outlives a run of this script alone (only the
// Python stage starts it afresh), and tenant ids are never reused.
val xTenant = "xlang-kotlin-" + ByteArray(4).also { java.security.SecureRandom().nextBytes(it) }.hex()
val sealed = sealWithSalt(key, 9u, xTenant, ctxBytes, plain, salt)
val eg = guardEmbeddedWithService("$xlang/embedded").also { service = it.service }
val tctx = TenantContext.service(xTenant, service)
val embedded = eg.guard.use { g ->
    g.createTenant(tctx)
    // Sealed through the JNI fast path: Python and Rust open it with their own APIs.
    SealedValue.parse(TenantSealer(g, tctx).use { it.sealText("xlang/kotlin/embedded", plain) })
}
File("$xlang/kotlin.json").writeText(Json.write(mapOf(
    "writer" to "kotlin", "key_hex" to key.hex(), "key_id" to 9, "tenant" to xTenant,
    "context_hex" to ctxBytes.hex(), "plaintext_hex" to plain.hex(), "text" to sealed.toText(),
    "binary_hex" to sealed.toBytes().hex(), "embedded_context" to "xlang/kotlin/embedded",
    "embedded_text" to embedded.toText(),
)))
println("vectors_test.kts: passed, wrote $xlang/kotlin.json")
