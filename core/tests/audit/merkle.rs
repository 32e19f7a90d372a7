//! RFC 6962 Merkle hashing and proofs against the transparency-dev/merkle vectors
//! (`vectors/merkle_rfc6962.json`: every inclusion and consistency case, valid and
//! mutated, plus the roots of the reference 8-leaf tree).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use base64::Engine;
use tenantguard::audit::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion,
    Frontier, Hash,
};

fn vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("../vectors/merkle_rfc6962.json")).unwrap()
}

fn b64(v: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or(""))
        .unwrap()
}

/// A vector's root or proof hash. Our API takes 32-byte hashes only; a few cases carry
/// placeholder roots of another length ("don't care"): they become their SHA-256,
/// which keeps equal placeholders equal and differs from every real hash of the tree.
fn h(v: &serde_json::Value) -> Option<Hash> {
    if v.is_null() {
        return None;
    }
    let b = b64(v);
    Some(b.clone().try_into().unwrap_or_else(|_| {
        use sha2::Digest;
        sha2::Sha256::digest(&b).into()
    }))
}

fn proof(v: &serde_json::Value) -> Option<Vec<Hash>> {
    match v.as_array() {
        None => Some(Vec::new()),
        Some(a) => a.iter().map(h).collect(),
    }
}

#[test]
fn reference_tree_roots_and_proofs_round_trip() {
    let v = vectors();
    let leaves: Vec<Hash> = v["leaf_inputs_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| leaf_hash(&hex::decode(x.as_str().unwrap()).unwrap()))
        .collect();
    let roots = v["root_hashes_hex"].as_array().unwrap();
    let mut f = Frontier::new();
    assert_eq!(hex::encode(root(&[])), roots[0].as_str().unwrap());
    for n in 1..=leaves.len() {
        f.push(leaves[n - 1]);
        let want = roots[n].as_str().unwrap();
        assert_eq!(hex::encode(root(&leaves[..n])), want, "size {n}");
        assert_eq!(hex::encode(f.root()), want, "frontier size {n}");
    }
    // Every happy-path case was generated from this tree: our generator must produce the
    // same proofs byte for byte.
    let mut checked = 0;
    for c in v["inclusion"].as_array().unwrap() {
        if c["wantErr"].as_bool().unwrap() {
            continue;
        }
        let (i, n) = (
            c["leafIdx"].as_u64().unwrap(),
            c["treeSize"].as_u64().unwrap(),
        );
        if n as usize > leaves.len() || h(&c["leafHash"]) != Some(leaves[i as usize]) {
            continue;
        }
        let got = inclusion_proof(&leaves[..n as usize], i).unwrap();
        assert_eq!(Some(got), proof(&c["proof"]), "{}", c["file"]);
        checked += 1;
    }
    for c in v["consistency"].as_array().unwrap() {
        if c["wantErr"].as_bool().unwrap() {
            continue;
        }
        let (m, n) = (c["size1"].as_u64().unwrap(), c["size2"].as_u64().unwrap());
        if n as usize > leaves.len()
            || m == 0
            || h(&c["root2"]).unwrap() != root(&leaves[..n as usize])
        {
            continue;
        }
        let got = consistency_proof(&leaves[..n as usize], m).unwrap();
        assert_eq!(Some(got), proof(&c["proof"]), "{}", c["file"]);
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} generated proofs compared");
}

#[test]
fn every_inclusion_vector_verifies_or_fails_as_expected() {
    let v = vectors();
    let cases = v["inclusion"].as_array().unwrap();
    assert!(cases.len() >= 90);
    for c in cases {
        let want_err = c["wantErr"].as_bool().unwrap();
        // A leaf hash of another length is refused before verification (as upstream does).
        let leaf = b64(&c["leafHash"]).try_into().ok();
        let got = match (leaf, h(&c["root"]), proof(&c["proof"])) {
            (Some(leaf), Some(r), Some(p)) => verify_inclusion(
                c["leafIdx"].as_u64().unwrap(),
                c["treeSize"].as_u64().unwrap(),
                &leaf,
                &p,
                &r,
            )
            .is_ok(),
            // A hash of another length cannot be a SHA-256 hash: refused at parsing.
            _ => false,
        };
        assert_eq!(got, !want_err, "{} ({})", c["file"], c["desc"]);
    }
}

#[test]
fn every_consistency_vector_verifies_or_fails_as_expected() {
    let v = vectors();
    let cases = v["consistency"].as_array().unwrap();
    assert!(cases.len() >= 90);
    for c in cases {
        let want_err = c["wantErr"].as_bool().unwrap();
        let got = match (h(&c["root1"]), h(&c["root2"]), proof(&c["proof"])) {
            (Some(r1), Some(r2), Some(p)) => verify_consistency(
                c["size1"].as_u64().unwrap(),
                c["size2"].as_u64().unwrap(),
                &p,
                &r1,
                &r2,
            )
            .is_ok(),
            _ => false,
        };
        assert_eq!(got, !want_err, "{} ({})", c["file"], c["desc"]);
    }
}
