//! `cargo fuzz run dpop_proof`: the harness is `dpop_proof` in crates/certbound-core/tests/fuzz_corpus.rs,
//! which CI also runs over fuzz/corpus/dpop_proof/ (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-core/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::dpop_proof(data));
