//! pyarrow reads back exactly what went in: schema and values, for Parquet, Arrow IPC (file
//! and stream, uncompressed, LZ4 and ZSTD, pandas' `to_feather`), CSV and JSON lines inputs,
//! and for `--format csv` / `--format jsonl` checkouts. Every Arrow type either comes back
//! exactly or is refused naming the column, its type and the `--cast` that stores it
//! (`tests/python/arrow_types.py`, the rows of `docs/inputs.md`).
//!
//! The inputs and the comparison live in `tests/python/roundtrip.py` (pyarrow only): `make`
//! writes deterministic inputs covering ints, floats with NaN and infinities, decimals, dates,
//! timestamps with time zones, strings (unicode, empty, null), dictionaries, lists, structs,
//! booleans, binary and nulls; `check` reads a checkout with pyarrow and compares it with the
//! input, printing every mismatch.
//!
//! Documented limitations of the formats and libraries, asserted exactly (the comparison
//! changes the expected table in that one way for the named columns, and still compares
//! everything else exactly; see `roundtrip.py`'s doc for `--reads-as` and
//! `--empty-string-is-null`):
//!
//! - CSV cannot tell null from the empty string: `dstore checkout --format csv` writes both as
//!   an empty field, and pyarrow reads it back as null. In string-like columns exactly the rows
//!   that held `''` come back null.
//! - arrow's CSV reader (CSV inputs) parses timestamps written with `Z` or an offset into
//!   `timestamp[us]` without a time zone, holding the UTC instant. (Empty fields of string
//!   columns are read by dstore's rule: a quoted `""` is the empty string, an unquoted empty
//!   field null; `--csv-empty null` reads both as null, asserted with `--empty-string-is-null`.)
//! - JSON cannot represent NaN or infinity: `dstore checkout --format jsonl` refuses a table
//!   whose float columns hold them (exit code 1, an error naming the first such column, a
//!   hint). The same table without them (NaN made null, infinities the largest finite value)
//!   round-trips through `--format jsonl` exactly.
//!
//! Python: `$DSTORE_PYTHON` if set (it must have pyarrow), else `python3` if it imports
//! pyarrow. Without pyarrow the tests print a note and pass, unless `DSTORE_REQUIRE_PYARROW=1`,
//! which makes them fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use dstore_e2e::{Run, Scratch, repo_root, tree};

/// The table every case snapshots into.
const TABLE: &str = "t";

/// A Python with pyarrow, found once per test process (`dstore_e2e::pyarrow_python`: the
/// `DSTORE_PYTHON` / `DSTORE_REQUIRE_PYARROW` convention), with a note when there is none.
fn find_python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let p = dstore_e2e::pyarrow_python();
            if p.is_none() {
                eprintln!("{SKIP_NOTE}");
            }
            p
        })
        .as_deref()
}

const SKIP_NOTE: &str = "
*************************************************************************
NOTE: pyarrow round-trip tests SKIPPED: no Python with pyarrow.
Set DSTORE_PYTHON to a python that has pyarrow, e.g.
  python3 -m venv /tmp/pa-venv && /tmp/pa-venv/bin/pip install pyarrow
  DSTORE_PYTHON=/tmp/pa-venv/bin/python cargo test -p dstore-e2e --test pyarrow
(DSTORE_REQUIRE_PYARROW=1 makes a missing pyarrow an error.)
*************************************************************************";

fn script() -> PathBuf {
    repo_root()
        .join("tests")
        .join("python")
        .join("roundtrip.py")
}

fn types_script() -> PathBuf {
    repo_root()
        .join("tests")
        .join("python")
        .join("arrow_types.py")
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
    python_script(py, &script(), args, cwd)
}

fn python_script(py: &Path, script: &Path, args: &[&str], cwd: &Path) -> Output {
    Command::new(py)
        .arg(script)
        .args(args)
        .current_dir(cwd)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()))
}

/// A scratch directory with the inputs made and an empty store, `store`, to snapshot them into.
struct Case {
    py: &'static Path,
    s: Scratch,
}

impl Case {
    /// `None` (the test passes with a note) if there is no Python with pyarrow.
    fn new() -> Option<Self> {
        let py = find_python()?;
        let s = Scratch::new();
        let made = python(py, &["make", "inputs"], s.path());
        assert!(
            made.status.success(),
            "roundtrip.py make failed:\n{}",
            show(&made)
        );
        s.run(&["init", "store"]).ok();
        Some(Self { py, s })
    }

    /// Snapshots `inputs/{input}` into the table (appending, unless `snapshot_args` say
    /// `--mode overwrite`).
    fn snapshot(&self, input: &str, snapshot_args: &[&str]) {
        print!("{}", self.try_snapshot(input, snapshot_args).ok());
    }

    /// [`Case::snapshot`], returning what it did.
    fn try_snapshot(&self, input: &str, snapshot_args: &[&str]) -> Run {
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
        self.s.run(&snap)
    }

    /// Checks the table at HEAD out into `out` as `format`.
    fn checkout(&self, out: &str, format: &str) -> Run {
        self.s.run(&[
            "--store", "store", "checkout", "HEAD", "-t", TABLE, "-o", out, "--format", format,
        ])
    }

    /// Has pyarrow compare the checkout in `out` with `inputs/{input}`.
    fn check(&self, out: &str, input: &str, format: &str, check_args: &[&str]) {
        let input_path = format!("inputs/{input}");
        let mut check = vec!["check", out, TABLE, &input_path, "--format", format];
        check.extend_from_slice(check_args);
        let checked = python(self.py, &check, self.s.path());
        assert!(
            checked.status.success(),
            "pyarrow does not read back what went in ({input}, checkout --format {format}, check \
             {check_args:?}):\n{}",
            show(&checked)
        );
        print!("{}", String::from_utf8_lossy(&checked.stdout));
    }
}

/// One round trip: make the inputs, snapshot `input` (with `snapshot_args`) into a new store,
/// check it out as `format`, and have pyarrow compare the checkout with the input.
fn roundtrip(input: &str, snapshot_args: &[&str], format: &str, check_args: &[&str]) {
    let Some(case) = Case::new() else {
        return;
    };
    case.snapshot(input, snapshot_args);
    print!("{}", case.checkout("out", format).ok());
    case.check("out", input, format, check_args);
}

/// JSON cannot represent NaN or infinity: a `--format jsonl` checkout of `input` (whose `f32`
/// and `f64` columns hold them) is refused with exit code 1, an error naming `f32` (the first
/// such column in table order) and a hint, and writes no checkout manifest. The same table
/// without them, `finite` (NaN made null, infinities the largest finite value of their sign),
/// snapshotted over it, checks out as JSON lines that pyarrow parses back to exactly the input.
fn jsonl_roundtrip(input: &str, finite: &str) {
    let Some(case) = Case::new() else {
        return;
    };
    case.snapshot(input, &[]);
    let refused = case.checkout("refused", "jsonl");
    let lines: Vec<&str> = refused.stderr.lines().collect();
    assert!(
        refused.code == 1
            && refused.stdout.is_empty()
            && lines.len() == 2
            && lines[0].starts_with("error: ")
            && lines[0]
                .ends_with(": column `f32` holds NaN or infinity, which JSON cannot represent")
            && lines[1].starts_with("hint: "),
        "a jsonl checkout of {input} (NaN and infinities in `f32` and `f64`) must be refused \
         with exit code 1, an error naming `f32` and a hint; got {refused:?}"
    );
    assert!(
        !case
            .s
            .path()
            .join("refused")
            .join("dstore-checkout.json")
            .exists(),
        "a refused jsonl checkout wrote a checkout manifest"
    );

    case.snapshot(finite, &["--mode", "overwrite"]);
    print!("{}", case.checkout("out", "jsonl").ok());
    case.check("out", finite, "jsonl", &[]);
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

/// Compressed Arrow IPC, as pyarrow writes it with `IpcWriteOptions(compression=...)`.
#[test]
fn lz4_arrow_ipc_file_reads_back_identical() {
    roundtrip("typed_lz4.arrow", &[], "parquet", &[]);
}

#[test]
fn zstd_arrow_ipc_file_reads_back_identical() {
    roundtrip("typed_zstd.arrow", &[], "parquet", &[]);
}

#[test]
fn zstd_arrow_ipc_stream_reads_back_identical() {
    roundtrip("typed_zstd.arrows", &[], "parquet", &[]);
}

/// The store's files but its RocksDB catalog (which writes its own LOG files on any open): what
/// a refused command must leave byte for byte as it was.
fn store_files(store: &Path) -> Vec<(String, Vec<u8>)> {
    tree(store)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("catalog"))
        .collect()
}

/// Every value of `needles` is on stderr, the run failed with exit code 1 and a `hint:` line,
/// and the store is byte for byte what it was.
fn assert_refused(
    case: &Case,
    run: &Run,
    before: &[(String, Vec<u8>)],
    needles: &[&str],
    what: &str,
) {
    assert!(
        run.code == 1
            && run.stderr.starts_with("error: ")
            && run.stderr.lines().any(|l| l.starts_with("hint: ")),
        "{what}: expected a refusal (exit 1, error and hint), got {run:?}"
    );
    for n in needles {
        assert!(
            run.stderr.contains(n),
            "{what}: stderr does not say `{n}`:\n{}",
            run.stderr
        );
    }
    assert!(
        store_files(&case.s.path().join("store")) == before,
        "{what}: the refused snapshot changed the store"
    );
}

/// Parquet has no type a reader gives back as timestamp[s] (with or without a zone), date64 or
/// time32[s]: the snapshot is refused, naming the four columns, their types and the four
/// `--cast`s, and changes nothing; with those casts the checkout holds exactly the input
/// converted (pyarrow's own cast), and every other temporal type exactly as it went in.
#[test]
fn arrow_ipc_temporal_types_read_back_exactly_or_are_refused_with_their_casts() {
    let Some(case) = Case::new() else {
        return;
    };
    let casts = [
        "ts_s_ny=timestamp[ms, tz=America/New_York]",
        "ts_s=timestamp[ms]",
        "date64=date32[day]",
        "time32_s=time32[ms]",
    ];
    let before = store_files(&case.s.path().join("store"));
    let refused = case.try_snapshot("temporal.arrow", &[]);
    let mut needles = vec![
        "4 columns have types that Parquet readers would not give back as they are",
        "column `ts_s_ny` is timestamp[s, tz=America/New_York]",
        "column `ts_s` is timestamp[s]",
        "column `date64` is date64[ms]",
        "column `time32_s` is time32[s]",
    ];
    let hints: Vec<String> = casts.iter().map(|c| format!("--cast '{c}'")).collect();
    needles.extend(hints.iter().map(String::as_str));
    assert_refused(
        &case,
        &refused,
        &before,
        &needles,
        "temporal.arrow without casts",
    );
    let mut args = Vec::new();
    for c in casts {
        args.extend(["--cast", c]);
    }
    case.snapshot("temporal.arrow", &args);
    print!("{}", case.checkout("out", "parquet").ok());
    let mut check = Vec::new();
    for c in casts {
        check.extend(["--cast", c]);
    }
    case.check("out", "temporal.arrow", "parquet", &check);
}

/// pandas' `DataFrame.to_feather` (LZ4-compressed Arrow IPC). pandas writes a categorical of
/// strings as `dictionary<values=large_string, indices=int8>`, which readers give back with
/// `string` values: refused with its cast; with it, pyarrow reads back the frame's table with
/// that one column converted, and pandas reads back the same DataFrame.
#[test]
fn pandas_to_feather_reads_back_identical() {
    let Some(case) = Case::new() else {
        return;
    };
    if !case.s.path().join("inputs/pandas.feather").exists() {
        let required = std::env::var("DSTORE_REQUIRE_PYARROW").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "DSTORE_REQUIRE_PYARROW=1 but the Python has no pandas"
        );
        eprintln!("NOTE: pandas is not installed: pandas_to_feather_reads_back_identical skipped");
        return;
    }
    let cast = "c=dictionary<values=string, indices=int8>";
    let before = store_files(&case.s.path().join("store"));
    let refused = case.try_snapshot("pandas.feather", &[]);
    assert_refused(
        &case,
        &refused,
        &before,
        &[
            "column `c` is dictionary<values=large_string, indices=int8>",
            &format!("--cast '{cast}'"),
        ],
        "pandas.feather without a cast",
    );
    case.snapshot("pandas.feather", &["--cast", cast]);
    print!("{}", case.checkout("out", "parquet").ok());
    case.check("out", "pandas.feather", "parquet", &["--cast", cast]);
}

/// Every Arrow type (the rows of docs/inputs.md, from `arrow_types.py`): each case goes into
/// its own table. An "exact" case must be taken; a "refused" one must be refused (exit 1)
/// naming the column and its type, with the `--cast` to pass when there is one, leaving the
/// store as it was, and be taken with that cast. Then pyarrow reads the checkout of every
/// table back: the input exactly, or the input converted to the cast's type.
#[test]
fn every_arrow_type_reads_back_exactly_or_is_refused_with_its_cast() {
    let Some(py) = find_python() else {
        return;
    };
    let s = Scratch::new();
    let made = python_script(py, &types_script(), &["make", "types"], s.path());
    assert!(
        made.status.success(),
        "arrow_types.py make failed:\n{}",
        show(&made)
    );
    s.run(&["init", "store"]).ok();
    let cases: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.path().join("types/cases.json")).expect("cases.json"),
    )
    .expect("cases.json is JSON");
    let cases = cases.as_array().expect("a list of cases");
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let (mut exact, mut refused, mut cast) = (0, 0, 0);
    for c in cases {
        let name = c["name"].as_str().expect("name");
        let file = format!("types/{}", c["file"].as_str().expect("file"));
        let ty = c["type"].as_str().expect("type");
        let snap = [
            "--store", "store", "snapshot", "-t", name, &file, "-m", name,
        ];
        let before = store_files(&s.path().join("store"));
        let run = s.run(&snap);
        if c["expect"] == "exact" {
            assert_eq!(run.code, 0, "{name} ({ty}) must be taken: {run:?}");
            exact += 1;
            continue;
        }
        refused += 1;
        let column = format!("column `{name}` is {ty}");
        assert!(
            run.code == 1 && run.stderr.starts_with("error: ") && run.stderr.contains(&column),
            "{name} ({ty}) must be refused naming `{column}`: {run:?}"
        );
        assert!(
            store_files(&s.path().join("store")) == before,
            "refusing {name} changed the store"
        );
        let Some(to) = c["cast"].as_str() else {
            assert!(
                !run.stderr.contains("--cast"),
                "{name} has no cast, but the hint offers one: {}",
                run.stderr
            );
            continue;
        };
        let hint = format!("--cast '{to}'");
        assert!(
            run.stderr.contains(&hint),
            "{name}: the hint does not say {hint}: {}",
            run.stderr
        );
        let mut with_cast = snap.to_vec();
        with_cast.extend(["--cast", to]);
        let run = s.run(&with_cast);
        assert_eq!(run.code, 0, "{name} with {hint} must be taken: {run:?}");
        cast += 1;
    }
    println!(
        "{exact} types taken as they are, {refused} refused ({cast} of them taken with --cast)"
    );
    s.run(&["--store", "store", "checkout", "HEAD", "-o", "out"])
        .ok();
    let checked = python_script(py, &types_script(), &["check", "out", "types"], s.path());
    assert!(
        checked.status.success(),
        "pyarrow does not read back what went in:\n{}",
        show(&checked)
    );
    print!("{}", String::from_utf8_lossy(&checked.stdout));
}

// Text inputs: the checkout must hold what the text says, with sensibly inferred types.

/// A documented limitation of arrow's CSV reader: `ts_tz` (timestamps written with `Z` or an
/// offset) is `timestamp[us]` without a time zone, holding the UTC instants. In `s`, a quoted
/// `""` reads back as the empty string and an empty field as null (`--csv-empty quoted`, the
/// default).
#[test]
fn csv_input_reads_back_as_the_text_says() {
    roundtrip(
        "typed.csv",
        &[],
        "parquet",
        &["--reads-as", "ts_tz=timestamp[us]"],
    );
}

/// `--csv-empty null` reads the quoted `""` in `s` as null too, as pandas does.
#[test]
fn csv_input_with_csv_empty_null_reads_every_empty_field_as_null() {
    roundtrip(
        "typed.csv",
        &["--csv-empty", "null"],
        "parquet",
        &[
            "--reads-as",
            "ts_tz=timestamp[us]",
            "--empty-string-is-null",
        ],
    );
}

#[test]
fn jsonl_input_reads_back_as_the_text_says() {
    roundtrip("typed.jsonl", &[], "parquet", &[]);
}

// Text checkouts of a flat-typed table: parsed back by pyarrow with the table's schema, the
// values must be the input's.

/// CSV cannot tell null from the empty string (a documented limitation): in the string-like
/// columns (`s`, `ls`, `dict`) exactly the rows that held `''` read back as null.
#[test]
fn csv_checkout_parses_back_to_the_input_values() {
    roundtrip("flat.arrow", &[], "csv", &["--empty-string-is-null"]);
}

/// See [`jsonl_roundtrip`]: refused with NaN and infinities, exact without them.
#[test]
fn jsonl_checkout_parses_back_to_the_input_values() {
    jsonl_roundtrip("flat.arrow", "flat_finite.arrow");
}

/// As above, with fixed-offset time zones (`+01:00`) instead of named ones (`Europe/Paris`).
#[test]
fn csv_checkout_with_offset_time_zones_parses_back_to_the_input_values() {
    roundtrip("flat_offset.arrow", &[], "csv", &["--empty-string-is-null"]);
}

/// As above, with fixed-offset time zones (`+01:00`) instead of named ones (`Europe/Paris`).
#[test]
fn jsonl_checkout_with_offset_time_zones_parses_back_to_the_input_values() {
    jsonl_roundtrip("flat_offset.arrow", "flat_offset_finite.arrow");
}

/// Files as pyarrow writes them by default (`pq.write_table(t, path)`: one row group of all the
/// rows, snappy, no page index), with pyarrow as the oracle: a filtered read (late
/// materialization on the filter's columns) returns exactly the rows pyarrow's own filter
/// returns, and `cat --since` after an append of a second pyarrow file returns exactly that
/// file's rows.
#[test]
fn filtered_and_since_reads_of_pyarrow_default_files_match_pyarrow() {
    let Some(py) = find_python() else {
        return;
    };
    let s = Scratch::new();
    let make = r#"
import json, sys
import pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
def table(lo, n):
    ids = pa.array(range(lo, lo + n), pa.int64())
    label = pa.array([(i * 7) % 10 for i in range(lo, lo + n)], pa.int8())
    text = pa.array([None if i % 13 == 0 else "t" * (i % 50) for i in range(lo, lo + n)])
    return pa.table({"id": ids, "label": label, "text": text})
a, b = table(0, 120_000), table(120_000, 3_000)
pq.write_table(a, "a.parquet")
pq.write_table(b, "b.parquet")
f = (pc.field("label") == 3) & (pc.field("id") < 90_000) & ~pc.field("text").is_null()
want = pq.read_table("a.parquet", filters=f).column("id").to_pylist()
json.dump({"filtered": want, "since": pq.read_table("b.parquet").column("id").to_pylist()},
          open("want.json", "w"))
"#;
    let made = Command::new(py)
        .args(["-c", make])
        .current_dir(s.path())
        .output()
        .expect("run python");
    assert!(made.status.success(), "making the files:\n{}", show(&made));
    let want: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path().join("want.json")).expect("want.json"))
            .expect("json");
    let ids = |run: Run| -> Vec<i64> {
        run.ok()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a jsonl row");
                v["id"].as_i64().expect("id")
            })
            .collect()
    };
    let as_ids = |v: &serde_json::Value| -> Vec<i64> {
        v.as_array()
            .expect("ids")
            .iter()
            .map(|x| x.as_i64().expect("id"))
            .collect()
    };
    s.run(&["init", "store"]).ok();
    s.run(&[
        "--store",
        "store",
        "snapshot",
        "-t",
        TABLE,
        "a.parquet",
        "-m",
        "a",
    ])
    .ok();
    let filtered = ids(s.run(&[
        "--store",
        "store",
        "cat",
        "-t",
        TABLE,
        "--columns",
        "id",
        "--where",
        "label = 3 and id < 90000 and text is not null",
        "--format",
        "jsonl",
    ]));
    let expect = as_ids(&want["filtered"]);
    assert!(!expect.is_empty());
    assert_eq!(
        filtered, expect,
        "dstore's filtered read differs from pyarrow's"
    );
    s.run(&[
        "--store",
        "store",
        "snapshot",
        "-t",
        TABLE,
        "b.parquet",
        "-m",
        "b",
    ])
    .ok();
    let since = ids(s.run(&[
        "--store",
        "store",
        "cat",
        "-t",
        TABLE,
        "--columns",
        "id",
        "--since",
        "HEAD~1",
        "--format",
        "jsonl",
    ]));
    assert_eq!(
        since,
        as_ids(&want["since"]),
        "cat --since is not the appended file's rows"
    );
}
