//! The corpus replay shared by the crates' `tests/fuzz_corpus.rs` (included there with `#[path]`):
//! CI runs every committed fuzz input through its harness without cargo-fuzz. See docs/fuzzing.md.

/// Runs `harness` on every file of `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/`,
/// reporting every input that panics (with its path) before failing.
pub fn replay(target: &str, harness: fn(&[u8])) {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let fuzz = crate_dir
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .join("fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "artifacts"] {
        if let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) {
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    let corpus = files
        .iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "corpus"))
        .count();
    assert!(
        corpus > 0,
        "no corpus for {target} under {}",
        fuzz.display()
    );
    let mut failures = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap();
        if std::panic::catch_unwind(|| harness(&data)).is_err() {
            failures.push(format!(
                "fuzz/{}",
                path.strip_prefix(&fuzz).unwrap_or(path).display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    eprintln!("{target}: {} inputs replayed", files.len());
}
