// Offline verification of audit exports and proofs over the shared vectors
// (core/tests/vectors/audit_export.json, the file the Rust and Python tests read). Each
// case's expected outcome comes from the file: an outcome name ("valid", or "restored" with
// the restore it names), or the tamper reason (and the entry line) the core names; every
// tampered case must fail with its own reason.
// args: AUDIT_EXPORT_JSON

import tenantguard.*
import tenantguard.test.*

fun Map<String, Any?>.s(k: String) = this[k] as String

val doc = Json.read(args[0])
val key = doc.s("public_key")
@Suppress("UNCHECKED_CAST")
fun cases(k: String) = doc[k] as List<Map<String, Any?>>

/** The reason's Kotlin case must be the core's kind name, so no reason maps to OTHER. */
fun sameReason(reason: AuditTamperReason, kind: String) =
    reason != AuditTamperReason.OTHER && reason.name.lowercase() == kind

test("the reason table comes from the core and every case has a Kotlin name") {
    val kinds = auditTamperReasons()
    check(kinds.toSet().size == kinds.size && "fork" in kinds && "truncated" in kinds) { kinds.toString() }
    for (k in kinds) check(AuditTamperReason.entries.any { sameReason(it, k) }) { "no Kotlin case for $k" }
    val expected = cases("exports").map { it.s("expect") }.toSet()
    val outcomes = auditBundleOutcomes().toSet()
    check("valid" in expected && "restored" in expected && (expected - outcomes).size >= 10) { expected.toString() }
    for (e in expected) check(e in outcomes || e in kinds) { "unknown expectation $e" }
}

test("every export vector verifies or fails with its own reason and line") {
    for (c in cases("exports")) {
        val name = c.s("name")
        val bundle = c.s("bundle").toByteArray(Charsets.UTF_8)
        val earlier = (c["earlier_checkpoint"] as String?)?.toByteArray(Charsets.UTF_8)
        val got = checkAuditBundle(bundle, listOf(key), earlier)
        if (c.s("expect") == "restored") {
            // An outcome, not a tamper reason: it names the restore covering the earlier
            // checkpoint; without that checkpoint the same bundle is plainly valid.
            check(got is AuditBundleCheck.Restored) { "$name: $got" }
            val r = (got as AuditBundleCheck.Restored).restore
            @Suppress("UNCHECKED_CAST")
            val want = c["restore"] as Map<String, Any?>
            check(r.restoreSeq == (want["restore_seq"] as Long).toULong()) { "$name: $r" }
            check(r.restoredSize == (want["restored_size"] as Long).toULong()) { "$name: $r" }
            check(r.supersededSize == (want["superseded_size"] as Long).toULong()) { "$name: $r" }
            check(checkAuditBundle(bundle, listOf(key), null) is AuditBundleCheck.Valid) { name }
        } else if (c.s("expect") == "valid") {
            check(got is AuditBundleCheck.Valid) { "$name: $got" }
            val s = (got as AuditBundleCheck.Valid).summary
            check(s.entries == s.checkpoint.size && s.entries > 0uL) { "$name: $s" }
            check(s.checkpoint.origin == key.substringBefore('+') + "/" + s.tenant) { "$name: $s" }
            check(s.checkpoint.root.size == 32) { name }
        } else {
            check(got is AuditBundleCheck.Tampered) { "$name: expected ${c.s("expect")}, got $got" }
            val t = got as AuditBundleCheck.Tampered
            check(t.kind == c.s("expect") && sameReason(t.reason, t.kind)) { "$name: $t" }
            check(t.line == (c["line"] as Long?)?.toULong()) { "$name: line ${t.line}, expected ${c["line"]}" }
        }
    }
}

test("inclusion and consistency vectors") {
    for (c in cases("inclusion")) {
        val got = checkAuditInclusionProof(c.s("proof").toByteArray(), listOf(key))
        if (c.s("expect") == "valid") {
            check(got is AuditProofCheck.Valid) { "${c.s("name")}: $got" }
            val v = got as AuditProofCheck.Valid
            val e = v.entry!!
            check(e.seq in 1uL..v.checkpoint.size) { v.toString() }
        } else {
            check(got is AuditProofCheck.Tampered && got.kind == c.s("expect") && sameReason(got.reason, got.kind)) { "${c.s("name")}: $got" }
        }
    }
    for (c in cases("consistency")) {
        val earlier = c.s("earlier_checkpoint").toByteArray()
        val got = checkAuditConsistencyProof(earlier, c.s("proof").toByteArray(), listOf(key))
        if (c.s("expect") == "valid") {
            check(got is AuditProofCheck.Valid && got.entry == null) { "${c.s("name")}: $got" }
        } else {
            check(got is AuditProofCheck.Tampered && got.kind == c.s("expect") && sameReason(got.reason, got.kind)) { "${c.s("name")}: $got" }
        }
    }
}

test("a good bundle under a key that did not sign it is unknown_key; a bad key string throws") {
    val good = cases("exports").first { it.s("expect") == "valid" }.s("bundle").toByteArray()
    // The Ed25519 base point, under the same name: a valid key that signed nothing here.
    val name = key.substringBefore('+')
    val raw = byteArrayOf(0x58) + ByteArray(31) { 0x66 }
    val md = java.security.MessageDigest.getInstance("SHA-256")
    md.update((name + "\n").toByteArray()); md.update(byteArrayOf(1)); md.update(raw)
    val kh = md.digest().take(4).joinToString("") { "%02x".format(it) }
    val other = "$name+$kh+" + java.util.Base64.getEncoder().encodeToString(byteArrayOf(1) + raw)
    val got = checkAuditBundle(good, listOf(other))
    check(got is AuditBundleCheck.Tampered && got.reason == AuditTamperReason.UNKNOWN_KEY) { got.toString() }
    check(checkAuditBundle(good, listOf(other, key)) is AuditBundleCheck.Valid)
    expect<TenantguardException.InvalidInput> { checkAuditBundle(good, listOf("not a key")) }
    expect<TenantguardException.InvalidInput> { checkAuditBundle(good, emptyList()) }
    val junk = checkAuditBundle("not a bundle".toByteArray(), listOf(key))
    check(junk is AuditBundleCheck.Tampered && junk.reason == AuditTamperReason.BUNDLE_MALFORMED) { junk.toString() }
}

println("audit export vectors: $passed tests passed")
