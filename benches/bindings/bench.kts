// Per-call cost of seal + open of 256 bytes from Kotlin (uniffi + JNA), blocking and
// suspend. Run by benches/bindings/run.sh. Prints one JSON line per variant.
import tenantguard.*
import kotlinx.coroutines.runBlocking

val iters = args.getOrNull(0)?.toInt() ?: 100_000
val g = Guard.inMemory()
val ctx = TenantContext.service("bench", ServiceRole())
g.createTenant(ctx)
val data = ByteArray(256) { it.toByte() }

val threads = java.lang.management.ManagementFactory.getThreadMXBean()
var lastCpu = 0.0

// Best of 5 wall-clock loops; also records the calling thread's CPU time per call in that
// loop (on a loaded machine the two differ a lot for the JVM).
fun best(n: Int, body: () -> Unit): Double {
    repeat(minOf(n, 20_000)) { body() }
    var best = Double.MAX_VALUE
    repeat(5) {
        val c = threads.currentThreadCpuTime
        val t = System.nanoTime()
        repeat(n) { body() }
        val wall = (System.nanoTime() - t).toDouble() / n
        if (wall < best) {
            best = wall
            lastCpu = (threads.currentThreadCpuTime - c).toDouble() / n
        }
    }
    return best
}

val blocking = best(iters) {
    val s = g.seal(ctx, "bench/row", data)
    check(g.open(ctx, "bench/row", s).size == 256)
    s.close()
}
println("{\"impl\": \"kotlin-tenantguard\", \"round_trip_ns\": ${blocking.toLong()}, \"thread_cpu_ns\": ${lastCpu.toLong()}, \"iters\": $iters}")
val suspending = best(iters / 10) {
    runBlocking {
        val s = g.sealAsync(ctx, "bench/row", data)
        check(g.openAsync(ctx, "bench/row", s).size == 256)
        s.close()
    }
}
println("{\"impl\": \"kotlin-tenantguard-suspend\", \"round_trip_ns\": ${suspending.toLong()}, \"thread_cpu_ns\": ${lastCpu.toLong()}, \"iters\": ${iters / 10}}")
g.close()
