//! `cargo fuzz run jwt`: the harness is `jwt` in crates/certbound-gateway/tests/fuzz_corpus.rs, which CI also
//! runs over fuzz/corpus/jwt/ (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-gateway/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::jwt(data));
