//! `cargo fuzz run authorize_request`: the harness is `authorize_request` in
//! crates/certbound-core/tests/fuzz_corpus.rs, which CI also runs over fuzz/corpus/authorize_request/
//! (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-core/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::authorize_request(data));
