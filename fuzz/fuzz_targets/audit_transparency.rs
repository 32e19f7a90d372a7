//! Checkpoint notes, verifier keys, export bundles, inclusion and consistency proofs:
//! arbitrary bytes never panic, and whatever verifies is internally consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenantguard::audit::export::{
    parse_canonical_line, verify_consistency_proof, verify_export, verify_inclusion_proof,
    ExportVerdict,
};
use tenantguard::audit::{open_checkpoint, AuditPublicKey};

// The shared vectors' key: their good bundles and proofs (the seeds) verify under it.
const VKEY: &str = include_str!("../seeds/audit_transparency.vkey");

fuzz_target!(|data: &[u8]| {
    let key = AuditPublicKey::parse(VKEY.trim_end()).expect("seed key parses");
    let keys = [key];
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(k) = AuditPublicKey::parse(s) {
            assert_eq!(AuditPublicKey::parse(&k.to_vkey()).as_ref(), Ok(&k));
        }
    }
    if let Ok(cp) = open_checkpoint(data, &keys) {
        assert!(cp.body().len() <= data.len());
    }
    if let Ok(e) = parse_canonical_line(data) {
        assert_eq!(e.canonical_line().as_bytes(), data);
    }
    if let ExportVerdict::Valid(s) = verify_export(data, &keys, None) {
        assert_eq!(s.entries, s.checkpoint.size);
    }
    if let Ok((e, cp)) = verify_inclusion_proof(data, &keys) {
        assert!(e.seq >= 1 && e.seq <= cp.size);
    }
    // The input split in two at its first NUL: an earlier checkpoint and a proof.
    if let Some(i) = data.iter().position(|&b| b == 0) {
        let (old, proof) = (&data[..i], &data[i + 1..]);
        if let Ok(new) = verify_consistency_proof(old, proof, &keys) {
            let old = open_checkpoint(old, &keys).expect("verified earlier checkpoint opens");
            assert!(old.size <= new.size);
        }
    }
});
