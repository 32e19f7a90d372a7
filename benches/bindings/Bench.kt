// Per-call cost of seal + open of 256 bytes from Kotlin (uniffi + JNA), blocking and suspend,
// and where that cost goes. Compiled to a jar and run with `java -cp` by
// benches/bindings/run.sh (not as a .kts script, so the measured JVM holds only this program,
// not the Kotlin compiler that hosts scripts). Prints one JSON line per measurement.
//
// Besides wall clock, every line gives the calling thread's CPU time and the whole process's
// CPU time per operation: with JNA most of the work of a call happens off the calling thread
// (the garbage collector copying JNA's per-allocation bookkeeping, and the "JNA Cleaner" thread
// freeing native memory), which a loaded 2-core machine then serialises behind the caller.
import com.sun.jna.Memory
import com.sun.jna.Native
import com.sun.jna.Pointer
import com.sun.jna.Structure
import java.lang.management.ManagementFactory
import kotlinx.coroutines.runBlocking
import tenantguard.guardInMemoryWithService
import tenantguard.TenantContext
import tenantguard.TenantSealer

// Same layout and shape as the generated `RustBuffer` and `UniffiRustCallStatus` (internal to the
// bindings), so their construction cost can be measured on its own.
@Structure.FieldOrder("capacity", "len", "data")
open class BenchBuffer : Structure() {
    @JvmField var capacity: Long = 0
    @JvmField var len: Long = 0
    @JvmField var data: Pointer? = null

    class ByValue : BenchBuffer(), Structure.ByValue
}

@Structure.FieldOrder("code", "error_buf")
open class BenchCallStatus : Structure() {
    @JvmField var code: Byte = 0
    @JvmField var error_buf: BenchBuffer.ByValue = BenchBuffer.ByValue()
}

private val threads = ManagementFactory.getThreadMXBean()
private val os = ManagementFactory.getOperatingSystemMXBean() as com.sun.management.OperatingSystemMXBean
private val gcs = ManagementFactory.getGarbageCollectorMXBeans()

private class Result(val wallNs: Double, val threadCpuNs: Double, val processCpuNs: Double, val gcMsPerKiloOp: Double)

// Warm-up, then `loops` timed loops of `n` calls; keeps the loop with the best wall clock (and
// its CPU figures). Per operation: wall, calling-thread CPU, whole-process CPU (all threads:
// GC, JIT, JNA Cleaner), and GC time in ms per 1000 operations.
private fun best(n: Int, loops: Int = 5, body: () -> Unit): Result {
    repeat(maxOf(n, 20_000)) { body() }
    var best: Result? = null
    repeat(loops) {
        val g = gcs.sumOf { it.collectionTime }
        val p = os.processCpuTime
        val c = threads.currentThreadCpuTime
        val t = System.nanoTime()
        repeat(n) { body() }
        val wall = (System.nanoTime() - t).toDouble() / n
        val r = Result(
            wall,
            (threads.currentThreadCpuTime - c).toDouble() / n,
            (os.processCpuTime - p).toDouble() / n,
            (gcs.sumOf { it.collectionTime } - g).toDouble() * 1000 / n,
        )
        if (r.wallNs < (best?.wallNs ?: Double.MAX_VALUE)) best = r
    }
    return best!!
}

private fun report(impl: String, r: Result, iters: Int, extra: String = "") {
    println(
        "{\"impl\": \"$impl\", \"round_trip_ns\": ${r.wallNs.toLong()}, \"thread_cpu_ns\": ${r.threadCpuNs.toLong()}, " +
            "\"process_cpu_ns\": ${r.processCpuNs.toLong()}, \"gc_ms_per_1000\": ${"%.1f".format(r.gcMsPerKiloOp)}, " +
            "\"iters\": $iters$extra}",
    )
}

private fun q(s: String?) = "\"" + (s ?: "").replace("\\", "\\\\").replace("\"", "\\\"") + "\""

fun main(args: Array<String>) {
    val iters = args.getOrNull(0)?.toInt() ?: 100_000
    val gs = guardInMemoryWithService()
    val g = gs.guard
    val ctx = TenantContext.service("bench", gs.service)
    g.createTenant(ctx)
    val data = ByteArray(256) { it.toByte() }

    // The set-up that decides JNA's speed: which native dispatch library was loaded, whether
    // JNA's slow "protected" mode is on, the JVM and its flags, the JIT.
    println(
        "{\"impl\": \"kotlin-environment\", \"jna\": ${q(Native.VERSION)}, \"jnidispatch\": ${q(System.getProperty("jnidispatch.path"))}, " +
            "\"jna_protected\": ${Native.isProtected()}, \"vm\": ${q(System.getProperty("java.vm.version"))}, " +
            "\"jit\": ${q(ManagementFactory.getCompilationMXBean()?.name)}, " +
            "\"jvm_args\": ${q(ManagementFactory.getRuntimeMXBean().inputArguments.joinToString(" "))}, " +
            "\"gc\": ${q(gcs.joinToString(", ") { it.name })}, \"cpus\": ${Runtime.getRuntime().availableProcessors()}, " +
            "\"load_average\": ${"%.1f".format(os.systemLoadAverage)}}",
    )

    // `sealer` as the second argument: only the JNI fast path (benches/bindings/overhead.sh).
    if (args.getOrNull(1) == "sealer") {
        TenantSealer(g, ctx).use { sealer ->
            val jni = best(iters) {
                val s = sealer.seal("bench/row", data)
                check(sealer.open("bench/row", s).size == 256)
            }
            report("kotlin-tenantguard-jni", jni, iters, ", \"ffi_calls\": 2")
        }
        g.close()
        return
    }
    val blocking = best(iters) {
        val s = g.seal(ctx, "bench/row", data)
        check(g.open(ctx, "bench/row", s).size == 256)
        s.close()
    }
    // 12 FFI calls per round trip, each with its own call-status Structure: seal (clone guard,
    // clone ctx, alloc RustBuffer for the context string, alloc one for the plaintext, seal),
    // open (clone guard, clone ctx, alloc for the string, clone sealed, open, free the returned
    // buffer) and close (free the sealed value).
    report("kotlin-tenantguard", blocking, iters, ", \"ffi_calls\": 12")
    // The JNI fast path on the same guard and scope: 2 native calls per round trip.
    val sealer = TenantSealer(g, ctx)
    val jni = best(iters) {
        val s = sealer.seal("bench/row", data)
        check(sealer.open("bench/row", s).size == 256)
    }
    report("kotlin-tenantguard-jni", jni, iters, ", \"ffi_calls\": 2")
    val jniText = best(iters) {
        val s = sealer.sealText("bench/row", data)
        check(sealer.openText("bench/row", s).size == 256)
    }
    report("kotlin-tenantguard-jni-text", jniText, iters, ", \"ffi_calls\": 2")
    sealer.close()
    val suspending = best(iters / 10) {
        runBlocking {
            val s = g.sealAsync(ctx, "bench/row", data)
            check(g.openAsync(ctx, "bench/row", s).size == 256)
            s.close()
        }
    }
    report("kotlin-tenantguard-suspend", suspending, iters / 10)

    // Where a call's time goes. SealedValue.keyId() does almost nothing in Rust: 2 FFI calls
    // (clone the handle, call), each allocating a call status; per FFI call figures below.
    val s0 = g.seal(ctx, "bench/row", data)
    var sink = 0L
    val calls = iters * 5
    val keyId = best(calls) { sink += s0.keyId().toLong() }
    report("kotlin-ffi-call", Result(keyId.wallNs / 2, keyId.threadCpuNs / 2, keyId.processCpuNs / 2, keyId.gcMsPerKiloOp / 2), calls * 2,
        ", \"what\": \"one uniffi FFI call (SealedValue.keyId = 2 calls)\"")
    // The call status the generated code allocates per call: a Structure embedding a
    // RustBuffer.ByValue, for which JNA 5.13 mallocs 4 Memory blocks.
    report("kotlin-jna-call-status", best(calls) { sink += BenchCallStatus().size() }, calls,
        ", \"what\": \"new UniffiRustCallStatus-shaped JNA Structure\"")
    // One JNA Memory: malloc, an entry in JNA's global map of live blocks and a Cleaner
    // registration (freed later by the JNA Cleaner thread after a GC finds it unreachable).
    report("kotlin-jna-memory", best(calls) { sink += Memory(32).size() }, calls,
        ", \"what\": \"new com.sun.jna.Memory(32)\"")
    s0.close()
    g.close()
    if (sink == 42L) println("")
}
