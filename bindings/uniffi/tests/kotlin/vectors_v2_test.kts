// The format v2 vectors (core/tests/vectors/format_v2.json) through the public Guard API:
// a key provider written here hands the guard the vector's data key for every key version,
// so Guard.open opens the vector values as it opens stored ones (no raw-key primitive).
// args: VECTORS_V2_JSON

import tenantguard.*
import tenantguard.test.*

fun Map<String, Any?>.s(k: String) = this[k] as String
fun Map<String, Any?>.l(k: String) = this[k] as Long

class VectorKeyProvider(private val key: ByteArray) : KeyProvider {
    override fun currentKek(): String = "vector-1"
    override fun wrap(key: ByteArray, ctx: WrapContext): WrappedKey = WrappedKey("vector-1", ByteArray(32))
    override fun unwrap(wrapped: WrappedKey, ctx: WrapContext): ByteArray = key.copyOf()
}

val doc = Json.read(args[0])
check(doc["format"] == "tg2")
@Suppress("UNCHECKED_CAST")
fun usable(v: Map<String, Any?>) = v.s("context_kind") == "caller" && v.l("key_id") <= 8
@Suppress("UNCHECKED_CAST")
val valid = (doc["valid"] as List<Map<String, Any?>>).filter(::usable)
@Suppress("UNCHECKED_CAST")
val invalid = (doc["invalid"] as List<Map<String, Any?>>).filter(::usable)
check(valid.size >= 9 && invalid.isNotEmpty())
fun <T> withGuard(v: Map<String, Any?>, block: (Guard, TenantContext) -> T): T {
    val gs = guardWithKeyProviderAndService(VectorKeyProvider(v.s("data_key_hex").unhex()), Store.memory())
    return gs.guard.use { g ->
        val ctx = TenantContext.service(v.s("tenant_id"), gs.service)
        g.createTenant(ctx)
        repeat((v.l("key_id") - 1).toInt()) { g.rotateTenantKey(ctx) }
        block(g, ctx)
    }
}

for (v in valid) {
    val name = v.s("name")
    val plain = v.s("plaintext_hex").unhex()
    withGuard(v) { g, ctx ->
        val parsed = SealedValue.parse(v.s("sealed_text"))
        check(parsed.toBytes().hex() == v.s("sealed_hex")) { name }
        check(g.open(ctx, v.s("context"), parsed).contentEquals(plain)) { name }
        val mine = g.seal(ctx, v.s("context"), plain)
        check(mine.toText().startsWith("tg2:${v.l("key_id")}:")) { name }
        check(g.open(ctx, v.s("context"), mine).contentEquals(plain)) { name }
    }
}
println("ok - ${valid.size} valid v2 vectors through Guard.open")

val kinds = mapOf<String, (Throwable) -> Boolean>(
    "integrity" to { it is TenantguardException.Integrity },
    "malformed" to { it is TenantguardException.Malformed },
    "unsupported_version" to { it is TenantguardException.UnsupportedVersion },
    "unknown_key" to { it is TenantguardException.UnknownKey },
)
for (v in invalid) {
    val name = v.s("name")
    val expected = if (name == "other_key_id") "unknown_key" else v.s("expected_error")
    withGuard(v) { g, ctx ->
        try {
            val sealed = if (v.s("form") == "text") SealedValue.parse(v.s("input")) else SealedValue.fromBytes(v.s("input").unhex())
            g.open(ctx, v.s("context"), sealed)
            throw AssertionError("$name: opened")
        } catch (e: TenantguardException) {
            check(kinds[expected]!!(e)) { "$name: expected $expected, got $e" }
        }
    }
}
println("ok - ${invalid.size} invalid v2 vectors through Guard.open")
