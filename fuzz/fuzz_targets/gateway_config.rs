//! `cargo fuzz run gateway_config`: the harness is `gateway_config` in crates/certbound-gateway/tests/fuzz_corpus.rs, which CI also
//! runs over fuzz/corpus/gateway_config/ (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-gateway/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::gateway_config(data));
