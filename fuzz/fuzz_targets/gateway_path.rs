//! `cargo fuzz run gateway_path`: the harness is `gateway_path` in crates/certbound-gateway/tests/fuzz_corpus.rs, which CI also
//! runs over fuzz/corpus/gateway_path/ (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-gateway/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::gateway_path(data));
