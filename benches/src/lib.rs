//! Benchmarks live in benches/benches/; shared data generators live here.
// Benchmark and build tooling, not library code: a failed step stops it with the reason.
#![allow(clippy::expect_used)]

pub mod corpus;
pub mod eval_set;
#[cfg(feature = "postgres")]
pub mod pg;
