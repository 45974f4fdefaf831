//! `cargo fuzz run client_assertion`: the harness is `client_assertion` in crates/certbound-core/tests/fuzz_corpus.rs,
//! which CI also runs over fuzz/corpus/client_assertion/ (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-core/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::client_assertion(data));
