//! `cargo fuzz run dn_der`: the harness is `dn_der` in crates/certbound-core/tests/fuzz_corpus.rs, which CI also
//! runs over fuzz/corpus/dn_der/ (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-core/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::dn_der(data));
