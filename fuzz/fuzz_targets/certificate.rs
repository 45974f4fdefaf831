//! `cargo fuzz run certificate`: the harness is `certificate` in crates/certbound-core/tests/fuzz_corpus.rs, which CI also
//! runs over fuzz/corpus/certificate/ (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-core/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::certificate(data));
