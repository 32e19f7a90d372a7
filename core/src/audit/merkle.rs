//! RFC 6962 (and RFC 9162 §2.1) Merkle tree hashing over a tenant's audit log: leaf
//! hashes `SHA-256(0x00 || data)`, node hashes `SHA-256(0x01 || left || right)`, the
//! empty tree's root `SHA-256("")`; audit paths (inclusion proofs) and consistency
//! proofs, generated from the leaf hashes and verified in O(log n) hash operations.
//!
//! Hand-written rather than taken from a crate: the published Rust crates either pull a
//! different `sha2` major version, or verify only (no generation, no compact range); the
//! algorithms are short and are checked here against the transparency-dev/merkle vectors
//! (`core/tests/vectors/merkle_rfc6962.json`) and by property tests.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: `SHA-256("")`.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Most hashes a proof may hold (a tree of 2^64 leaves needs at most 64; a consistency
/// proof at most about twice the height).
pub const MAX_PROOF_LEN: usize = 130;

/// Why a proof did not verify (or could not be generated).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MerkleError {
    /// The leaf index is not below the tree size, or the old size above the new one.
    #[error("index or size out of range")]
    OutOfRange,
    /// The proof has the wrong number of hashes for the sizes given.
    #[error("proof has the wrong length")]
    WrongLength,
    /// The proof does not lead to the expected root.
    #[error("proof does not match the root")]
    RootMismatch,
    /// A consistency proof from the empty tree means nothing.
    #[error("a consistency proof from the empty tree is meaningless")]
    EmptyOldTree,
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Largest power of two strictly below `n` (n >= 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root (MTH) of the tree whose leaf hashes are `leaves`. O(n).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path (RFC 6962 `PATH(m, D[n])`) of leaf `index` in the tree of `leaves`,
/// leaf to root. O(n) hashing, O(log n) hashes.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, MerkleError> {
    let m = usize::try_from(index).map_err(|_| MerkleError::OutOfRange)?;
    if m >= leaves.len() {
        return Err(MerkleError::OutOfRange);
    }
    let mut out = Vec::new();
    path(m, leaves, &mut out);
    Ok(out)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    if d.len() <= 1 {
        return;
    }
    let k = split(d.len());
    if m < k {
        path(m, &d[..k], out);
        out.push(root(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(root(&d[..k]));
    }
}

/// The consistency proof (RFC 6962 `PROOF(m, D[n])`) from the tree of the first
/// `old_size` leaves to the tree of all `leaves`. Empty when the sizes are equal.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, MerkleError> {
    let m = usize::try_from(old_size).map_err(|_| MerkleError::OutOfRange)?;
    if m > leaves.len() {
        return Err(MerkleError::OutOfRange);
    }
    if m == 0 {
        return Err(MerkleError::EmptyOldTree);
    }
    let mut out = Vec::new();
    subproof(m, leaves, true, &mut out);
    Ok(out)
}

fn subproof(m: usize, d: &[Hash], whole: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !whole {
            out.push(root(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], whole, out);
        out.push(root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root(&d[..k]));
    }
}

/// Verifies that `leaf` is leaf `index` of the tree of `size` leaves whose root is
/// `root` (RFC 9162 §2.1.3.2). O(log n).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::OutOfRange);
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(MerkleError::WrongLength);
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(MerkleError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::WrongLength);
    }
    if !bool::from(subtle::ConstantTimeEq::ct_eq(&r[..], &root[..])) {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `size1` leaves with root `root1` is a prefix of the tree of
/// `size2` leaves with root `root2` (RFC 9162 §2.1.4.2). O(log n).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), MerkleError> {
    if size2 < size1 {
        return Err(MerkleError::OutOfRange);
    }
    if size1 == 0 {
        return Err(MerkleError::EmptyOldTree);
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(MerkleError::WrongLength);
    }
    let eq = |a: &Hash, b: &Hash| bool::from(subtle::ConstantTimeEq::ct_eq(&a[..], &b[..]));
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(MerkleError::WrongLength);
        }
        return if eq(root1, root2) {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    if proof.is_empty() {
        return Err(MerkleError::WrongLength);
    }
    // When size1 is a power of two, the old root is itself a node of the new tree and
    // the proof omits it: start from it.
    let (first, rest) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        (&proof[0], &proof[1..])
    };
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return Err(MerkleError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::WrongLength);
    }
    if !eq(&fr, root1) || !eq(&sr, root2) {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a growing tree (one hash per set bit of its size): appends and the
/// current root in O(log n) memory, so the log's root is kept without holding every leaf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    // Roots of the perfect subtrees, left to right, largest first.
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        // Each trailing one bit of the old size is a perfect subtree the new leaf completes.
        while s & 1 == 1 {
            if let Some(left) = self.nodes.pop() {
                h = node_hash(&left, &h);
            }
            s >>= 1;
        }
        self.nodes.push(h);
        self.size += 1;
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some(last) = it.next() else {
            return EMPTY_ROOT;
        };
        it.fold(*last, |r, left| node_hash(left, &r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n as u32).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn frontier_matches_root() {
        let l = leaves(70);
        let mut f = Frontier::new();
        assert_eq!(f.root(), EMPTY_ROOT);
        for (i, h) in l.iter().enumerate() {
            f.push(*h);
            assert_eq!(f.root(), root(&l[..=i]), "size {}", i + 1);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn every_inclusion_proof_verifies_and_flips_fail(n in 1usize..300, i in 0usize..300, bit in 0usize..256) {
            let l = leaves(n);
            let i = i % n;
            let r = root(&l);
            let p = inclusion_proof(&l, i as u64).unwrap();
            prop_assert!(p.len() <= 64);
            prop_assert_eq!(verify_inclusion(i as u64, n as u64, &l[i], &p, &r), Ok(()));
            // One bit flipped anywhere (leaf, root, or any proof hash) fails.
            let mut leaf = l[i];
            leaf[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify_inclusion(i as u64, n as u64, &leaf, &p, &r).is_err());
            let mut rr = r;
            rr[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify_inclusion(i as u64, n as u64, &l[i], &p, &rr).is_err());
            for j in 0..p.len() {
                let mut q = p.clone();
                q[j][bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_inclusion(i as u64, n as u64, &l[i], &q, &r).is_err());
            }
            // Another index or size does not verify with this proof.
            if n > 1 {
                let other = (i + 1) % n;
                prop_assert!(verify_inclusion(other as u64, n as u64, &l[i], &p, &r).is_err());
            }
        }

        #[test]
        fn every_consistency_proof_verifies_and_flips_fail(n in 1usize..300, m in 1usize..300, bit in 0usize..256) {
            let l = leaves(n);
            let m = 1 + (m - 1) % n;
            let (r1, r2) = (root(&l[..m]), root(&l));
            let p = consistency_proof(&l, m as u64).unwrap();
            prop_assert!(p.len() <= 2 * 64);
            prop_assert_eq!(verify_consistency(m as u64, n as u64, &p, &r1, &r2), Ok(()));
            let mut a = r1;
            a[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify_consistency(m as u64, n as u64, &p, &a, &r2).is_err());
            let mut b = r2;
            b[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify_consistency(m as u64, n as u64, &p, &r1, &b).is_err());
            for j in 0..p.len() {
                let mut q = p.clone();
                q[j][bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_consistency(m as u64, n as u64, &q, &r1, &r2).is_err());
            }
            // A rewritten old leaf gives a root the new tree is not consistent with.
            let mut forked = l.clone();
            forked[0][0] ^= 1;
            prop_assert!(verify_consistency(m as u64, n as u64, &p, &root(&forked[..m]), &r2).is_err());
        }
    }
}
