//! `cargo fuzz run cookies`: the harness is `cookies` in crates/certbound-server/tests/fuzz_corpus.rs, which CI also
//! runs over fuzz/corpus/cookies/ (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-server/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::cookies(data));
