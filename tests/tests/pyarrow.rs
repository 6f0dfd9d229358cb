//! pyarrow reads back exactly what went in: schema and values, for Parquet, Arrow IPC (file
//! and stream), CSV and JSON lines inputs, and for `--format csv` / `--format jsonl` checkouts.
//!
//! The inputs and the comparison live in `tests/python/roundtrip.py` (pyarrow only): `make`
//! writes deterministic inputs covering ints, floats with NaN and infinities, decimals, dates,
//! timestamps with time zones, strings (unicode, empty, null), dictionaries, lists, structs,
//! booleans, binary and nulls; `check` reads a checkout with pyarrow and compares it with the
//! input, printing every mismatch.
//!
//! Python: `$DSTORE_PYTHON` if set (it must have pyarrow), else `python3` if it imports
//! pyarrow. Without pyarrow the tests print a note and pass, unless `DSTORE_REQUIRE_PYARROW=1`,
//! which makes them fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use dstore_e2e::{Scratch, repo_root};

/// The table every case snapshots into.
const TABLE: &str = "t";

fn has_pyarrow(python: &Path) -> Result<(), String> {
    match Command::new(python).args(["-c", "import pyarrow"]).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{} cannot import pyarrow: {}",
            python.display(),
            String::from_utf8_lossy(&o.stderr)
                .trim()
                .lines()
                .last()
                .unwrap_or("")
        )),
        Err(e) => Err(format!("cannot run {}: {e}", python.display())),
    }
}

/// A Python with pyarrow, found once per test process.
fn find_python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON.get_or_init(locate_python).as_deref()
}

const SKIP_NOTE: &str = "
*************************************************************************
NOTE: pyarrow round-trip tests SKIPPED: no Python with pyarrow.
Set DSTORE_PYTHON to a python that has pyarrow, e.g.
  python3 -m venv /tmp/pa-venv && /tmp/pa-venv/bin/pip install pyarrow
  DSTORE_PYTHON=/tmp/pa-venv/bin/python cargo test -p dstore-e2e --test pyarrow
(DSTORE_REQUIRE_PYARROW=1 makes a missing pyarrow an error.)
*************************************************************************";

fn locate_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DSTORE_PYTHON") {
        let p = PathBuf::from(p);
        if let Err(e) = has_pyarrow(&p) {
            panic!("DSTORE_PYTHON is set but unusable: {e}");
        }
        return Some(p);
    }
    let p = PathBuf::from("python3");
    match has_pyarrow(&p) {
        Ok(()) => Some(p),
        Err(e) => {
            let required = std::env::var("DSTORE_REQUIRE_PYARROW").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "DSTORE_REQUIRE_PYARROW=1, but DSTORE_PYTHON is unset and {e}{SKIP_NOTE}"
            );
            eprintln!("{SKIP_NOTE}\n(DSTORE_PYTHON is unset and {e})\n");
            None
        }
    }
}

fn script() -> PathBuf {
    repo_root()
        .join("tests")
        .join("python")
        .join("roundtrip.py")
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn python(py: &Path, args: &[&str], cwd: &Path) -> Output {
    Command::new(py)
        .arg(script())
        .args(args)
        .current_dir(cwd)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()))
}

/// One round trip: make the inputs, snapshot `input` (with `snapshot_args`) into a new store,
/// check it out as `format`, and have pyarrow compare the checkout with the input.
fn roundtrip(input: &str, snapshot_args: &[&str], format: &str, check_args: &[&str]) {
    let Some(py) = find_python() else {
        return;
    };
    let s = Scratch::new();
    let made = python(py, &["make", "inputs"], s.path());
    assert!(
        made.status.success(),
        "roundtrip.py make failed:\n{}",
        show(&made)
    );

    s.run(&["init", "store"]).ok();
    let input_path = format!("inputs/{input}");
    let mut snap = vec![
        "--store",
        "store",
        "snapshot",
        "-t",
        TABLE,
        &input_path,
        "-m",
        input,
    ];
    snap.extend_from_slice(snapshot_args);
    print!("{}", s.run(&snap).ok());
    print!(
        "{}",
        s.run(&[
            "--store", "store", "checkout", "HEAD", "-t", TABLE, "-o", "out", "--format", format,
        ])
        .ok()
    );

    let mut check = vec!["check", "out", TABLE, &input_path, "--format", format];
    check.extend_from_slice(check_args);
    let checked = python(py, &check, s.path());
    assert!(
        checked.status.success(),
        "pyarrow does not read back what went in ({input}, snapshot {snapshot_args:?}, checkout \
         --format {format}):\n{}",
        show(&checked)
    );
    print!("{}", String::from_utf8_lossy(&checked.stdout));
}

/// The comparison itself: it must notice a single changed cell (a NaN turned null, -0.0 turned
/// 0.0, a nanosecond, an empty list turned null, ...) and any schema change, or the round trips
/// below would prove nothing.
#[test]
fn the_pyarrow_comparison_notices_single_changes() {
    let Some(py) = find_python() else {
        return;
    };
    let s = Scratch::new();
    let out = python(py, &["selftest"], s.path());
    assert!(
        out.status.success(),
        "roundtrip.py selftest failed:\n{}",
        show(&out)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

// Binary inputs: the checkout must have the input's exact schema (types, nullability,
// metadata) and values.

#[test]
fn parquet_input_is_adopted_byte_for_byte_and_reads_back_identical() {
    roundtrip("typed.parquet", &[], "parquet", &[]);
}

#[test]
fn parquet_input_rewritten_reads_back_identical() {
    roundtrip("typed.parquet", &["--rewrite"], "parquet", &["--rewrite"]);
}

#[test]
fn arrow_ipc_file_reads_back_identical() {
    roundtrip("typed.arrow", &[], "parquet", &[]);
}

#[test]
fn arrow_ipc_stream_reads_back_identical() {
    roundtrip("typed.arrows", &[], "parquet", &[]);
}

/// Timestamps in seconds and milliseconds, date64, time32/time64 and durations: pyarrow itself
/// cannot keep all of these exact through Parquet, so each must come back as the same kind of
/// type (a timestamp with the same zone, a date, a time, a duration) with equal values.
#[test]
fn arrow_ipc_temporal_types_read_back_as_temporal_types() {
    roundtrip("temporal.arrow", &[], "parquet", &["--same-kind"]);
}

// Text inputs: the checkout must hold what the text says, with sensibly inferred types.

#[test]
fn csv_input_reads_back_as_the_text_says() {
    roundtrip("typed.csv", &[], "parquet", &[]);
}

#[test]
fn jsonl_input_reads_back_as_the_text_says() {
    roundtrip("typed.jsonl", &[], "parquet", &[]);
}

// Text checkouts of a flat-typed table: parsed back by pyarrow with the table's schema, the
// values must be the input's.

#[test]
fn csv_checkout_parses_back_to_the_input_values() {
    roundtrip("flat.arrow", &[], "csv", &[]);
}

#[test]
fn jsonl_checkout_parses_back_to_the_input_values() {
    roundtrip("flat.arrow", &[], "jsonl", &[]);
}

/// As above, with fixed-offset time zones (`+01:00`) instead of named ones (`Europe/Paris`).
#[test]
fn csv_checkout_with_offset_time_zones_parses_back_to_the_input_values() {
    roundtrip("flat_offset.arrow", &[], "csv", &[]);
}

/// As above, with fixed-offset time zones (`+01:00`) instead of named ones (`Europe/Paris`).
#[test]
fn jsonl_checkout_with_offset_time_zones_parses_back_to_the_input_values() {
    roundtrip("flat_offset.arrow", &[], "jsonl", &[]);
}
