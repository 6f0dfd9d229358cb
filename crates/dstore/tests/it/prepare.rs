//! Prepare / commit: segments placed by separate transactions (standing in for workers on
//! other machines), described as JSON, committed once by another.

use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::RecordBatch;
use dstore::error::PreparedProblem;
use dstore::{
    CommitOptions, Error, IngestOptions, Prepared, PreparedCheck, Store, WriteMode, gc::GcOptions,
};

use super::common::{batch, fresh_store, segment_path, store_state, verify_all};

fn write_parquet(path: &Path, batch: &RecordBatch) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// Parquet files as a writer with its defaults leaves them, one per seed.
fn inputs(dir: &Path, seeds: &[u64]) -> Vec<PathBuf> {
    seeds
        .iter()
        .map(|&s| {
            let p = dir.join(format!("part-{s:04}.parquet"));
            write_parquet(&p, &batch(s, 1000 + s as usize));
            p
        })
        .collect()
}

/// A worker: prepares `files` for `table`, and hands over the description as JSON text.
fn prepare(store: &Store, table: &str, files: &[PathBuf]) -> String {
    let mut tx = store.begin();
    tx.add_files(table, files, &IngestOptions::default())
        .unwrap();
    tx.prepare().unwrap().to_json().unwrap()
}

fn read(json: &str, name: &str) -> Prepared {
    Prepared::from_json(json, Path::new(name)).unwrap()
}

fn commit_prepared(
    store: &Store,
    descs: &[Prepared],
    check: PreparedCheck,
) -> dstore::Result<dstore::CommitOutcome> {
    let mut tx = store.begin();
    for d in descs {
        tx.add_prepared(d, check)?;
    }
    tx.commit(&CommitOptions::message("prepared"))
}

fn all_rows(store: &Store, table: &str) -> Vec<i64> {
    let snap = store.snapshot(&store.resolve("HEAD").unwrap().id).unwrap();
    let mut out = Vec::new();
    for b in snap
        .read_table(table, &dstore::snapshot::ReadOptions::default())
        .unwrap()
    {
        let b = b.unwrap();
        let a = b
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        out.extend(a.values().iter().copied());
    }
    out
}

#[test]
fn prepared_segments_commit_once_as_the_snapshot_a_direct_commit_makes() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path(), &[1, 2, 3, 4]);
    let (_s, store) = fresh_store();
    let p1 = prepare(&store, "train", &files[..2]);
    let p2 = prepare(&store, "train", &files[2..]);
    // Placed, not committed: no record, but the segments are in the store.
    assert!(store.log(10).unwrap().is_empty());
    let d1 = read(&p1, "p1.json");
    let d2 = read(&p2, "p2.json");
    assert_eq!((d1.segments(), d1.rows()), (2, 1001 + 1002));
    for t in d1.tables.iter().chain(&d2.tables) {
        for s in &t.segments {
            assert!(segment_path(store.root(), &s.entry.id).is_file());
        }
    }
    let out = commit_prepared(&store, &[d1, d2], PreparedCheck::Footer).unwrap();
    assert_eq!(store.log(10).unwrap().len(), 1);
    // The same data committed directly, in the same order, is the same snapshot.
    let (_s2, direct) = fresh_store();
    let mut tx = direct.begin();
    tx.add_files("train", &files, &IngestOptions::default())
        .unwrap();
    let want = tx.commit(&CommitOptions::message("direct")).unwrap();
    assert_eq!(out.id, want.id);
    let rows = all_rows(&store, "train");
    assert_eq!(rows.len(), 1001 + 1002 + 1003 + 1004);
    assert_eq!(rows[0], 1_000_000);
    assert_eq!(rows[1001], 2_000_000);
    assert!(verify_all(&store).unwrap().ok());
}

#[test]
fn a_description_round_trips_through_json_and_full_checks_pass() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path(), &[7]);
    let (_s, store) = fresh_store();
    let json = prepare(&store, "t", &files);
    let d = read(&json, "p.json");
    assert_eq!(d.to_json().unwrap(), json);
    commit_prepared(&store, &[d], PreparedCheck::Full).unwrap();
    assert_eq!(all_rows(&store, "t").len(), 1007);
}

/// A description changed after `prepare`, one way each: refused with the segment and the
/// description named, and nothing written.
#[test]
fn hand_edited_descriptions_are_refused_and_the_store_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path(), &[1, 2]);
    let (_s, store) = fresh_store();
    super::common::append(&store, "other", 9, 10);
    let json = prepare(&store, "train", &files);
    let before = store_state(store.root());
    let good = read(&json, "p.json");
    let first = good.tables[0].segments[0].entry.clone();

    let refused = |d: &Prepared, check: PreparedCheck| -> Error {
        let e = commit_prepared(&store, std::slice::from_ref(d), check).unwrap_err();
        assert_eq!(store_state(store.root()), before, "{e}");
        e
    };
    let problem = |e: &Error| match e {
        Error::PreparedMismatch {
            problem,
            description,
            segment,
            ..
        } => {
            assert_eq!(description, Path::new("p.json"));
            assert!(e.to_string().contains("part-0001.parquet"), "{e}");
            assert!(e.to_string().contains(&segment.to_hex()[..16]), "{e}");
            *problem
        }
        other => panic!("unexpected error: {other}"),
    };

    // Wrong size (entry and field agree, the store does not).
    let mut d = good.clone();
    d.tables[0].segments[0].entry.bytes += 1;
    assert_eq!(
        problem(&refused(&d, PreparedCheck::Trust)),
        PreparedProblem::Size
    );
    // Wrong id: no such segment.
    let mut d = good.clone();
    d.tables[0].segments[0].entry.id.0[0] ^= 1;
    assert_eq!(
        problem(&refused(&d, PreparedCheck::Trust)),
        PreparedProblem::Missing
    );
    // Wrong rows, consistently in the entry: the footer says otherwise.
    let mut d = good.clone();
    d.tables[0].segments[0].entry.rows += 5;
    d.tables[0].segments[0].entry.row_groups[0].rows += 5;
    let e = refused(&d, PreparedCheck::Footer);
    assert_eq!(problem(&e), PreparedProblem::Footer);
    assert!(e.to_string().contains("rows"), "{e}");
    // Other statistics.
    let mut d = good.clone();
    d.tables[0].segments[0].entry.row_groups[0].chunks[0]
        .stats
        .null_count = Some(3);
    assert_eq!(
        problem(&refused(&d, PreparedCheck::Footer)),
        PreparedProblem::Footer
    );
    // Another chunk hash: only a full check reads the bytes it covers.
    let mut d = good.clone();
    d.tables[0].segments[0].entry.row_groups[0].chunks[0].hash[0] ^= 1;
    assert_eq!(
        problem(&refused(&d, PreparedCheck::Full)),
        PreparedProblem::Footer
    );
    // The segment removed from the store.
    let seg = segment_path(store.root(), &first.id);
    let saved = std::fs::read(&seg).unwrap();
    let mut perm = std::fs::metadata(&seg).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&seg, perm).unwrap();
    std::fs::remove_file(&seg).unwrap();
    let before_missing = store_state(store.root());
    let e = commit_prepared(&store, std::slice::from_ref(&good), PreparedCheck::Trust).unwrap_err();
    assert_eq!(problem(&e), PreparedProblem::Missing);
    assert!(e.hint().unwrap().contains("prepare"), "{e}");
    assert_eq!(store_state(store.root()), before_missing);
    std::fs::write(&seg, saved).unwrap();
    // Untouched, it commits.
    commit_prepared(&store, &[good], PreparedCheck::Footer).unwrap();
    assert!(verify_all(&store).unwrap().ok());
}

/// Edits to the JSON text itself: each refused when read, naming the file and the field.
#[test]
fn edited_json_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path(), &[1]);
    let (_s, store) = fresh_store();
    let json = prepare(&store, "train", &files);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = v.clone();
        f(&mut v);
        let text = serde_json::to_string(&v).unwrap();
        Prepared::from_json(&text, Path::new("p.json"))
            .unwrap_err()
            .to_string()
    };
    let e = edit(&|v| v["tables"][0]["segments"][0]["bytes"] = 12.into());
    assert!(e.starts_with("p.json: tables[0].segments[0].bytes"), "{e}");
    let e = edit(&|v| v["tables"][0]["segments"][0]["rows"] = 2.into());
    assert!(e.contains("tables[0].segments[0].rows"), "{e}");
    let e = edit(&|v| v["tables"][0]["segments"][0]["id"] = "ab".repeat(32).into());
    assert!(e.contains("tables[0].segments[0].id"), "{e}");
    let e = edit(&|v| v["tables"][0]["segments"][0]["id"] = "xyz".into());
    assert!(e.contains("not 64 hex digits"), "{e}");
    let e = edit(&|v| v["tables"][0]["segments"][0]["entry"] = "00ff".into());
    assert!(e.contains("tables[0].segments[0].entry"), "{e}");
    let e = edit(&|v| v["tables"][0]["mode"] = "merge".into());
    assert!(e.contains("tables[0].mode"), "{e}");
    let e = edit(&|v| v["tables"][0]["table"] = "../x".into());
    assert!(e.contains("tables[0].table"), "{e}");
    let e = edit(&|v| v["tables"][0]["schema"] = "zz".into());
    assert!(e.contains("tables[0].schema"), "{e}");
    let e = edit(&|v| v["surprise"] = 1.into());
    assert!(e.contains("surprise"), "{e}");
    let e = edit(&|v| v["dstore_prepare"] = 2.into());
    assert!(e.contains("format version 2"), "{e}");
    let e = Prepared::from_json("{\"tables\": [", Path::new("p.json"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("p.json: ") && e.contains("line 1"), "{e}");
}

#[test]
fn gc_keeps_prepared_segments_for_its_grace_period_then_the_commit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path(), &[1, 2]);
    let (_s, store) = fresh_store();
    let d = read(&prepare(&store, "train", &files), "p.json");
    let id = d.tables[0].segments[0].entry.id;
    // Within the grace period: kept.
    store.gc(&GcOptions::default()).unwrap();
    assert!(segment_path(store.root(), &id).is_file());
    // Past it (grace 0, as an hour later): removed, with their derived objects; the commit
    // names what is missing and commits nothing.
    store
        .gc(&GcOptions {
            grace: Duration::ZERO,
            ..GcOptions::default()
        })
        .unwrap();
    assert!(!segment_path(store.root(), &id).exists());
    let e = commit_prepared(&store, &[d], PreparedCheck::Footer).unwrap_err();
    assert!(
        matches!(
            e,
            Error::PreparedMismatch {
                problem: PreparedProblem::Missing,
                ..
            }
        ),
        "{e}"
    );
    assert!(store.log(10).unwrap().is_empty());
}

#[test]
fn a_description_committed_twice_is_refused_as_duplicate_data() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path(), &[1]);
    let (_s, store) = fresh_store();
    let d = read(&prepare(&store, "train", &files), "p.json");
    commit_prepared(&store, std::slice::from_ref(&d), PreparedCheck::Footer).unwrap();
    let e = commit_prepared(&store, std::slice::from_ref(&d), PreparedCheck::Footer).unwrap_err();
    assert!(matches!(e, Error::DuplicateData(_)), "{e}");
    // In one commit, twice: refused too.
    let (_s2, other) = fresh_store();
    let d = read(&prepare(&other, "train", &files), "p.json");
    let e = commit_prepared(&other, &[d.clone(), d], PreparedCheck::Footer).unwrap_err();
    assert!(matches!(e, Error::DuplicateData(_)), "{e}");
}

#[test]
fn schema_and_mode_conflicts_are_refused_naming_the_description() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path(), &[1]);
    let (_s, store) = fresh_store();
    let d = read(&prepare(&store, "train", &files), "p.json");
    // Meanwhile the table was created with another schema.
    let other = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("y", arrow::datatypes::DataType::Utf8, true),
    ]));
    let b = RecordBatch::try_new(
        other.clone(),
        vec![std::sync::Arc::new(arrow::array::StringArray::from(vec![
            "a",
        ]))],
    )
    .unwrap();
    let y_rows = || arrow::array::RecordBatchIterator::new([Ok(b.clone())], other.clone());
    let mut tx = store.begin();
    tx.add_reader("train", y_rows(), &IngestOptions::default())
        .unwrap();
    tx.commit(&CommitOptions::message("y")).unwrap();
    let mut tx = store.begin();
    let e = tx.add_prepared(&d, PreparedCheck::Footer).unwrap_err();
    assert!(
        matches!(&e, Error::SchemaMismatch { path, .. } if path == Path::new("p.json")),
        "{e}"
    );
    // Overwrite descriptions replace it.
    let mut tx = store.begin();
    tx.set_mode("train", WriteMode::Overwrite).unwrap();
    tx.add_files(
        "train",
        &files,
        &IngestOptions {
            allow_duplicates: true,
            ..IngestOptions::default()
        },
    )
    .unwrap();
    let ow = tx.prepare().unwrap();
    assert_eq!(ow.tables[0].mode, WriteMode::Overwrite);
    let mut tx = store.begin();
    tx.add_prepared(&d, PreparedCheck::Footer).unwrap_err();
    let mut tx2 = store.begin();
    tx2.set_mode("train", WriteMode::Append).unwrap();
    tx2.add_reader(
        "train",
        y_rows(),
        &IngestOptions {
            allow_duplicates: true,
            ..IngestOptions::default()
        },
    )
    .unwrap();
    let e = tx2.add_prepared(&ow, PreparedCheck::Footer).unwrap_err();
    assert!(e.to_string().contains("overwritten"), "{e}");
    drop(tx);
    drop(tx2);
    commit_prepared(&store, &[ow], PreparedCheck::Footer).unwrap();
    assert_eq!(all_rows(&store, "train").len(), 1001);
}

/// A worker dies after placing segments and before anyone commits: the store verifies, and
/// the orphans are only unreferenced objects that gc removes after the grace period.
#[test]
fn an_abandoned_prepare_leaves_only_what_gc_removes() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path(), &[1, 2, 3]);
    let (_s, store) = fresh_store();
    super::common::append(&store, "kept", 5, 10);
    let before = super::common::files_under(store.root(), "segments");
    let _lost = prepare(&store, "train", &files);
    assert!(verify_all(&store).unwrap().ok());
    let r = store
        .gc(&GcOptions {
            grace: Duration::ZERO,
            ..GcOptions::default()
        })
        .unwrap();
    assert!(r.removed.iter().any(|(k, _)| k.starts_with("segments/")));
    assert!(r.removed.iter().any(|(k, _)| k.starts_with("derived/")));
    assert_eq!(super::common::files_under(store.root(), "segments"), before);
    assert!(
        super::common::files_under(store.root(), "derived")
            .iter()
            .all(|k| before.iter().any(|s| k.contains(&s[12..28])))
    );
    assert!(verify_all(&store).unwrap().ok());
}

/// The duplicate check reads the log once per transaction: data another writer commits after
/// that is not seen while adding, and is refused at commit, under the lock.
#[test]
fn data_committed_meanwhile_is_refused_at_commit() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path(), &[1, 2]);
    let (_s, store) = fresh_store();
    let mut tx = store.begin();
    tx.add_files("train", &files[..1], &IngestOptions::default())
        .unwrap();
    // Another writer commits file 2 meanwhile.
    let mut other = store.begin();
    other
        .add_files("train", &files[1..], &IngestOptions::default())
        .unwrap();
    other.commit(&CommitOptions::message("other")).unwrap();
    tx.add_files("train", &files[1..], &IngestOptions::default())
        .unwrap();
    let e = tx.commit(&CommitOptions::message("late")).unwrap_err();
    assert!(matches!(e, Error::DuplicateData(_)), "{e}");
    assert_eq!(store.log(10).unwrap().len(), 1);
}

/// A description refused for its second table adds nothing of its first; a mode chosen with
/// `set_mode` is not overridden by a description of the other mode.
#[test]
fn a_refused_description_adds_nothing_and_set_mode_stands() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path(), &[1, 2]);
    let (_s, store) = fresh_store();
    let mut worker = store.begin();
    worker
        .add_files("a", &files[..1], &IngestOptions::default())
        .unwrap();
    worker
        .add_files("b", &files[1..], &IngestOptions::default())
        .unwrap();
    let mut desc = worker.prepare().unwrap();
    // Table `b`'s schema now names one column twice.
    let field = desc.tables[1].schema.field(0).clone();
    desc.tables[1].schema =
        std::sync::Arc::new(arrow::datatypes::Schema::new(vec![field.clone(), field]));
    let mut tx = store.begin();
    let e = tx.add_prepared(&desc, PreparedCheck::Trust).unwrap_err();
    assert!(e.to_string().contains("appears more than once"), "{e}");
    let e = tx.commit(&CommitOptions::message("m")).unwrap_err();
    assert!(matches!(e, Error::NothingToCommit), "{e}");

    let mut other = store.begin();
    other
        .add_files("c", &files[..1], &IngestOptions::default())
        .unwrap();
    let append = other.prepare().unwrap();
    let mut tx = store.begin();
    tx.set_mode("c", WriteMode::Overwrite).unwrap();
    let e = tx.add_prepared(&append, PreparedCheck::Trust).unwrap_err();
    assert!(e.to_string().contains("appended to"), "{e}");
}
