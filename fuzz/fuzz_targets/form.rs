//! `cargo fuzz run form`: the harness is `form` in crates/certbound-core/tests/fuzz_corpus.rs, which CI also
//! runs over fuzz/corpus/form/ (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-core/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::form(data));
