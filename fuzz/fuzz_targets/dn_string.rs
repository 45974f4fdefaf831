//! `cargo fuzz run dn_string`: the harness is `dn_string` in crates/certbound-core/tests/fuzz_corpus.rs, which CI also
//! runs over fuzz/corpus/dn_string/ (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-core/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::dn_string(data));
