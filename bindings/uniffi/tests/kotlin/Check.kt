// Assertion helpers shared by the Kotlin test scripts (compiled into the test jar with Json.kt).
package tenantguard.test

/** Runs [block], which must throw a [T] whose message contains [message] (if given). */
inline fun <reified T : Throwable> expect(message: String? = null, block: () -> Unit): T {
    try {
        block()
    } catch (e: Throwable) {
        check(e is T) { "expected ${T::class.simpleName}, got $e" }
        if (message != null) check(e.message!!.contains(message)) { "message '${e.message}' lacks '$message'" }
        return e
    }
    throw AssertionError("expected ${T::class.simpleName}, nothing thrown")
}

/** How many [test]s passed in this run. */
var passed = 0
    private set

/** Runs one named test; a failed check throws and ends the script non-zero. */
fun test(name: String, body: () -> Unit) {
    body()
    passed++
    println("ok - $name")
}
