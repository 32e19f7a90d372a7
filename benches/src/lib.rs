//! Benchmarks live in benches/benches/; shared data generators live here.

pub mod corpus;
pub mod eval_set;
