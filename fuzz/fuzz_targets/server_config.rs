//! `cargo fuzz run server_config`: the harness is `server_config` in crates/certbound-server/tests/fuzz_corpus.rs, which CI also
//! runs over fuzz/corpus/server_config/ (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-server/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::server_config(data));
