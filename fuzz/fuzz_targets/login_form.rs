//! `cargo fuzz run login_form`: the harness is `login_form` in crates/certbound-server/tests/fuzz_corpus.rs, which CI also
//! runs over fuzz/corpus/login_form/ (see docs/fuzzing.md).
#![no_main]

#[path = "../../crates/certbound-server/tests/fuzz_corpus.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::login_form(data));
