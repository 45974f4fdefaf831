//! `cargo fuzz run forwarded`: the harness is `forwarded` in crates/certbound-net/tests/fuzz_corpus.rs, which CI also
//! runs over fuzz/corpus/forwarded/ (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-net/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::forwarded(data));
