//! Replays the committed inputs of the `ipc` and `parquet` fuzz targets (the seed corpus in
//! `fuzz/corpus/` and the Arrow and Parquet projects' fuzz regressions in `fuzz/regressions/`,
//! see their READMEs) through the checks the fuzz targets make, so the stable test suite runs
//! them without cargo-fuzz.

use std::path::{Path, PathBuf};

// `pub` there for the fuzz crate; here a private module.
#[allow(unreachable_pub)]
#[path = "../../../../fuzz/src/ingest_checks.rs"]
mod ingest_checks;

/// The committed inputs of one target (READMEs aside), with their paths.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.file_name().is_some_and(|n| n == "README.md") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            out.push((path, bytes));
        }
    }
    out.sort();
    out
}

/// Runs every committed input of `target` through `check`; returns how many of the seed
/// corpus and of the regressions were taken.
fn replay(
    target: &str,
    check: fn(&[u8]) -> ingest_checks::Outcome,
) -> (usize, usize, usize, usize) {
    let (mut seeds, mut seeds_taken, mut regressions, mut regressions_taken) = (0, 0, 0, 0);
    for (path, bytes) in inputs(target) {
        let outcome = match std::panic::catch_unwind(|| check(&bytes)) {
            Ok(o) => o,
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                panic!("{}: {msg}", path.display());
            }
        };
        let taken = usize::from(outcome == ingest_checks::Outcome::Taken);
        if path.components().any(|c| c.as_os_str() == "corpus") {
            seeds += 1;
            seeds_taken += taken;
        } else {
            regressions += 1;
            regressions_taken += taken;
        }
    }
    println!(
        "{target}: {seeds_taken} of {seeds} seeds taken, {regressions_taken} of {regressions} regressions taken"
    );
    (seeds, seeds_taken, regressions, regressions_taken)
}

/// Most seeds are valid data (the empty ones, the big-endian ones and the types dstore refuses
/// are not taken); almost every regression is damaged and refused.
#[test]
fn ipc_fuzz_inputs() {
    let (seeds, taken, regressions, reg_taken) = replay("ipc", ingest_checks::ipc);
    assert!(
        seeds >= 60 && regressions >= 120,
        "{seeds} seeds, {regressions} regressions"
    );
    assert!(taken >= 30, "only {taken} of {seeds} seeds taken");
    assert!(
        reg_taken <= 5,
        "{reg_taken} of {regressions} regressions taken"
    );
}

#[test]
fn parquet_fuzz_inputs() {
    let (seeds, taken, regressions, reg_taken) = replay("parquet", ingest_checks::parquet);
    assert!(
        seeds >= 30 && regressions >= 100,
        "{seeds} seeds, {regressions} regressions"
    );
    assert!(taken >= 25, "only {taken} of {seeds} seeds taken");
    assert!(
        reg_taken <= 5,
        "{reg_taken} of {regressions} regressions taken"
    );
}
