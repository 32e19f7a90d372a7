// Per-call cost of seal + open of 256 bytes from Kotlin (uniffi + JNA), blocking and
// suspend. Run by benches/bindings/run.sh. Prints one JSON line per variant.
import tenantguard.*
import kotlinx.coroutines.runBlocking

val iters = args.getOrNull(0)?.toInt() ?: 100_000
val g = Guard.inMemory()
val ctx = TenantContext.service("bench", ServiceRole())
g.createTenant(ctx)
val data = ByteArray(256) { it.toByte() }

fun best(n: Int, body: () -> Unit): Double {
    repeat(minOf(n, 20_000)) { body() }
    var best = Double.MAX_VALUE
    repeat(5) {
        val t = System.nanoTime()
        repeat(n) { body() }
        best = minOf(best, (System.nanoTime() - t).toDouble() / n)
    }
    return best
}

val blocking = best(iters) {
    val s = g.seal(ctx, "bench/row", data)
    check(g.open(ctx, "bench/row", s).size == 256)
    s.close()
}
println("{\"impl\": \"kotlin-tenantguard\", \"round_trip_ns\": ${blocking.toLong()}, \"iters\": $iters}")
val suspending = best(iters / 10) {
    runBlocking {
        val s = g.sealAsync(ctx, "bench/row", data)
        check(g.openAsync(ctx, "bench/row", s).size == 256)
        s.close()
    }
}
println("{\"impl\": \"kotlin-tenantguard-suspend\", \"round_trip_ns\": ${suspending.toLong()}, \"iters\": ${iters / 10}}")
g.close()
