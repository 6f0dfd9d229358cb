//! End-to-end tests: drive the real `dstore` binary the way a user would, in scratch
//! directories, and check what it prints, what it returns and what it leaves on disk.
//!
//! Build the binary first: `cargo build -p dstore-cli && cargo test -p dstore-e2e --test e2e`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use dstore_e2e::{Run, Scratch, repo_root, tree};
use serde_json::Value;

#[path = "e2e/appends.rs"]
mod appends;
#[path = "e2e/bad_input.rs"]
mod bad_input;
#[path = "e2e/concurrency.rs"]
mod concurrency;
#[path = "e2e/corruption.rs"]
mod corruption;
#[path = "e2e/determinism.rs"]
mod determinism;
#[path = "e2e/files.rs"]
mod files;
#[path = "e2e/flow.rs"]
mod flow;
#[path = "e2e/hostile.rs"]
mod hostile;
#[path = "e2e/inputs.rs"]
mod inputs;
#[path = "e2e/kill.rs"]
mod kill;
#[path = "e2e/load.rs"]
mod load;
#[path = "e2e/output.rs"]
mod output;
#[path = "e2e/pin_lock.rs"]
mod pin_lock;
#[path = "e2e/pipes.rs"]
mod pipes;
#[path = "e2e/prepare.rs"]
mod prepare;
#[path = "e2e/profiles.rs"]
mod profiles;
#[path = "e2e/refs.rs"]
mod refs;
#[path = "e2e/rowdiff.rs"]
mod rowdiff;
#[path = "e2e/schema.rs"]
mod schema;
#[path = "e2e/security.rs"]
mod security;
#[path = "e2e/signals.rs"]
mod signals;
#[path = "e2e/tags.rs"]
mod tags;
#[path = "e2e/uses.rs"]
mod uses;

/// Name of the store directory every test creates inside its scratch directory.
const STORE: &str = "data.dstore";

/// `fixtures/REL` as a command-line argument.
fn fixture(rel: &str) -> String {
    let p = repo_root().join("fixtures").join(rel);
    assert!(p.is_file(), "fixture {} is missing", p.display());
    p.to_str().expect("UTF-8 fixture path").to_owned()
}

/// The two daily flights CSVs (1500 rows each).
fn flights_csvs() -> [String; 2] {
    [
        fixture("flights/2026-11-01.csv"),
        fixture("flights/2026-11-02.csv"),
    ]
}

/// The third day of flights, as JSON lines (1500 rows).
fn flights_jsonl() -> String {
    fixture("flights-day3.jsonl")
}

/// A scratch directory with an empty store `data.dstore` in it; returns the store's path too.
fn new_store() -> (Scratch, PathBuf) {
    let s = Scratch::new();
    s.run(&["init", STORE]).ok();
    let store = s.path().join(STORE);
    (s, store)
}

/// Every file of the store except the RocksDB catalog (which writes its own LOG files): to
/// prove that a failed command left the store exactly as it was.
fn store_files(store: &Path) -> Vec<(String, Vec<u8>)> {
    tree(store)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("catalog"))
        .collect()
}

/// Asserts that the store is byte for byte what `before` recorded, naming what changed.
fn assert_store_unchanged(store: &Path, before: &[(String, Vec<u8>)], what: &str) {
    let after = store_files(store);
    if after != before {
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        let (b, a) = (names(before), names(&after));
        let added: Vec<_> = a.iter().filter(|p| !b.contains(p)).collect();
        let removed: Vec<_> = b.iter().filter(|p| !a.contains(p)).collect();
        let changed: Vec<_> = after
            .iter()
            .filter(|(p, bytes)| before.iter().any(|(q, old)| q == p && old != bytes))
            .map(|(p, _)| p)
            .collect();
        panic!(
            "{what} changed the store: added {added:?}, removed {removed:?}, changed {changed:?}"
        );
    }
}

/// Asserts a user error: exit code 1, stderr starting with `error:` and naming each of
/// `needles`, and a `hint:` line when `hint` is set.
fn assert_user_error(r: &Run, needles: &[&str], hint: bool, what: &str) {
    assert_eq!(
        r.code, 1,
        "{what}: expected exit code 1\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    assert!(
        r.stderr.starts_with("error: "),
        "{what}: stderr does not start with `error: `:\n{}",
        r.stderr
    );
    for n in needles {
        assert!(
            r.stderr.contains(n),
            "{what}: stderr does not mention `{n}`:\n{}",
            r.stderr
        );
    }
    if hint {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.starts_with("hint: ") && l.len() > "hint: ".len()),
            "{what}: no `hint:` line on stderr:\n{}",
            r.stderr
        );
    }
}

/// `dstore log --json` (every record), newest first.
fn log_json(s: &Scratch) -> Vec<Value> {
    match s.run(&["log", "-n", "100000", "--json"]).json() {
        Value::Array(v) => v,
        other => panic!("log --json is not an array: {other}"),
    }
}

/// The snapshot id a ref resolves to, through `dstore show REF --json`.
fn resolve(s: &Scratch, r: &str) -> String {
    let run = s.run(&["show", r, "--json"]);
    assert_eq!(run.code, 0, "`show {r}` failed:\n{}", run.stderr);
    run.json()["snapshot"]
        .as_str()
        .expect("snapshot id")
        .to_owned()
}

/// One table of `dstore show REF --json`.
fn table_json(s: &Scratch, r: &str, table: &str) -> Value {
    let show = s.run(&["show", r, "--json"]).json();
    show["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"] == table)
        .unwrap_or_else(|| panic!("no table `{table}` at {r}: {show}"))
        .clone()
}

/// Rows of a table at a ref.
fn rows_at(s: &Scratch, r: &str, table: &str) -> u64 {
    table_json(s, r, table)["rows"].as_u64().expect("rows")
}

/// Where a segment lives in a store.
fn segment_path(store: &Path, id: &str) -> PathBuf {
    store
        .join("segments")
        .join(&id[..2])
        .join(format!("{id}.parquet"))
}

/// Writes `batch` as a Parquet file with the parquet crate's default settings.
fn write_parquet(path: &Path, batch: &RecordBatch) {
    let f = File::create(path).expect("create parquet file");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).expect("parquet writer");
    w.write(batch).expect("write batch");
    w.close().expect("close parquet writer");
}

/// A batch with nullable columns `id: Int64` and `name: Utf8`.
fn id_name_batch(ids: &[i64]) -> RecordBatch {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(names)),
        ],
    )
    .expect("batch")
}

/// Flips every bit of one byte of a file (in the middle unless `offset` is given), making it
/// writable first (segments are read-only).
fn flip_byte(path: &Path, offset: Option<usize>) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut b = std::fs::read(path).expect("read");
    let at = offset.unwrap_or(b.len() / 2);
    b[at] ^= 0xff;
    std::fs::write(path, b).expect("write");
}

/// UTC microseconds since the epoch as RFC 3339 with microseconds, like
/// `2026-11-24T10:00:00.123456Z`; `offset_minutes` writes the same instant in another zone.
fn rfc3339_micros(micros: i64, offset_minutes: i64) -> String {
    let local = micros + offset_minutes * 60 * 1_000_000;
    let secs = local.div_euclid(1_000_000);
    let us = local.rem_euclid(1_000_000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let zone = if offset_minutes == 0 {
        "Z".to_owned()
    } else {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let m = offset_minutes.abs();
        format!("{sign}{:02}:{:02}", m / 60, m % 60)
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{us:06}{zone}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}
