//! What `add_files` and `add_reader` take: data a table already holds is refused unless
//! `allow_duplicates`; inputs without rows add no segment, create a new table with their
//! schema, and leave nothing to commit otherwise.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use dstore::{CommitOptions, Error, IngestOptions, Store, WriteMode};

use super::common::{self, append, batch, fresh_store, reader, store_state};

fn allow() -> IngestOptions {
    IngestOptions {
        allow_duplicates: true,
        ..IngestOptions::default()
    }
}

fn add(
    store: &Store,
    table: &str,
    seed: u64,
    rows: usize,
) -> dstore::Result<dstore::CommitOutcome> {
    let mut tx = store.begin();
    tx.add_reader(
        table,
        reader(vec![batch(seed, rows)]),
        &IngestOptions::default(),
    )?;
    tx.commit(&CommitOptions::message("add"))
}

fn rows(store: &Store, table: &str) -> u64 {
    let head = store.resolve("HEAD").unwrap();
    store.snapshot(&head.id).unwrap().table(table).unwrap().rows
}

#[test]
fn the_same_batch_again_is_refused_naming_the_first_commit() {
    let (_d, store) = fresh_store();
    let first = add(&store, "t", 1, 5).unwrap();
    add(&store, "t", 2, 3).unwrap();
    let before = store_state(store.root());
    let r = add(&store, "t", 1, 5);
    match &r {
        Err(e @ Error::DuplicateData(d)) => {
            assert_eq!(
                (d.table.as_str(), d.rows, d.committed, d.earlier.as_ref()),
                ("t", 5, Some((first.seq, first.id)), None)
            );
            let msg = e.to_string();
            assert!(msg.contains(&format!("@{}", first.seq)), "{msg}");
            assert!(msg.contains(&first.id.to_hex()[..8]), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store_state(store.root()),
        before,
        "a refusal wrote something"
    );
    assert_eq!(rows(&store, "t"), 8);
}

#[test]
fn the_same_data_twice_in_one_transaction_is_refused() {
    let (_d, store) = fresh_store();
    let mut tx = store.begin();
    tx.add_reader("t", reader(vec![batch(1, 2)]), &IngestOptions::default())
        .unwrap();
    let r = tx.add_reader("t", reader(vec![batch(1, 2)]), &IngestOptions::default());
    assert!(
        matches!(&r, Err(Error::DuplicateData(d)) if d.earlier.is_some() && d.committed.is_none()),
        "{r:?}"
    );
    // Another table may hold the same data.
    tx.add_reader("u", reader(vec![batch(1, 2)]), &IngestOptions::default())
        .unwrap();
    // With allow_duplicates the table holds it twice.
    tx.add_reader("t", reader(vec![batch(1, 2)]), &allow())
        .unwrap();
    tx.commit(&CommitOptions::message("x")).unwrap();
    assert_eq!((rows(&store, "t"), rows(&store, "u")), (4, 2));
}

#[test]
fn allow_duplicates_appends_it_again() {
    let (_d, store) = fresh_store();
    add(&store, "t", 1, 5).unwrap();
    let mut tx = store.begin();
    tx.add_reader("t", reader(vec![batch(1, 5)]), &allow())
        .unwrap();
    let c = tx.commit(&CommitOptions::message("again")).unwrap();
    assert_eq!(rows(&store, "t"), 10);
    assert_eq!(
        store.snapshot(&c.id).unwrap().segments("t").unwrap().len(),
        2
    );
}

#[test]
fn data_that_left_the_table_or_is_in_another_table_is_not_a_duplicate() {
    let (_d, store) = fresh_store();
    add(&store, "t", 1, 5).unwrap();
    add(&store, "u", 7, 2).unwrap();
    common::commit_batch(
        &store,
        "t",
        WriteMode::Overwrite,
        2,
        3,
        &CommitOptions::message("replace"),
    )
    .unwrap();
    // Segment 1 is in history (the catalog knows it) but not in `t` at HEAD.
    add(&store, "t", 1, 5).unwrap();
    // Segment 7 is in `u` only.
    add(&store, "t", 7, 2).unwrap();
    assert_eq!(rows(&store, "t"), 10);
}

#[test]
fn overwriting_with_the_same_data_changes_nothing() {
    let (_d, store) = fresh_store();
    let first = add(&store, "t", 1, 5).unwrap();
    let mut tx = store.begin();
    tx.set_mode("t", WriteMode::Overwrite).unwrap();
    tx.add_reader("t", reader(vec![batch(1, 5)]), &IngestOptions::default())
        .unwrap();
    let c = tx.commit(&CommitOptions::message("same")).unwrap();
    assert!(c.unchanged);
    assert_eq!(c.id, first.id);
}

/// Two transactions staged on the same HEAD add the same data; the second to commit is
/// refused against the HEAD the first made, before it places anything.
#[test]
fn a_duplicate_committed_meanwhile_is_refused_at_commit() {
    let (_d, store) = fresh_store();
    append(&store, "t", 9, 1);
    let mut a = store.begin();
    let mut b = store.begin();
    a.add_reader("t", reader(vec![batch(1, 5)]), &IngestOptions::default())
        .unwrap();
    b.add_reader("t", reader(vec![batch(1, 5)]), &IngestOptions::default())
        .unwrap();
    let won = a.commit(&CommitOptions::message("a")).unwrap();
    let before: Vec<_> = store_state(store.root())
        .into_iter()
        .filter(|(p, _)| !p.starts_with("tmp"))
        .collect();
    let r = b.commit(&CommitOptions::message("b"));
    assert!(
        matches!(&r, Err(Error::DuplicateData(d)) if d.committed.map(|c| c.0) == Some(won.seq)),
        "{r:?}"
    );
    let after: Vec<_> = store_state(store.root())
        .into_iter()
        .filter(|(p, _)| !p.starts_with("tmp"))
        .collect();
    assert_eq!(after, before);
    assert_eq!(rows(&store, "t"), 6);
}

fn id_name(ids: &[i64]) -> RecordBatch {
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
    .unwrap()
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_new_table_of_empty_inputs_is_created_with_their_schema() {
    let (dir, store) = fresh_store();
    let empty = dir.path().join("empty.parquet");
    write_parquet(&empty, &id_name(&[]));
    let mut tx = store.begin();
    let added = tx
        .add_files("t", std::slice::from_ref(&empty), &IngestOptions::default())
        .unwrap();
    assert_eq!((added.segments, added.files, added.rows), (0, 1, 0));
    assert_eq!(added.empty, vec![empty.clone()]);
    let commit = tx.commit(&CommitOptions::message("schema only")).unwrap();
    let snap = store.snapshot(&commit.id).unwrap();
    let table = snap.table("t").unwrap();
    assert_eq!((table.rows, table.segments, table.bytes), (0, 0, 0));
    assert_eq!(table.schema.fields().len(), 2);
    assert_eq!(commit.changes[0].op, dstore::format::TableOp::Create);
    // Now that it exists, empty inputs leave nothing to commit.
    let mut tx = store.begin();
    tx.add_files("t", &[empty], &IngestOptions::default())
        .unwrap();
    let r = tx.commit(&CommitOptions::message("again"));
    assert!(matches!(r, Err(Error::NothingToCommit)), "{r:?}");
    // And data appends to it.
    let full = dir.path().join("full.parquet");
    write_parquet(&full, &id_name(&[1, 2]));
    let mut tx = store.begin();
    tx.add_files("t", &[full], &IngestOptions::default())
        .unwrap();
    tx.commit(&CommitOptions::message("data")).unwrap();
    assert_eq!(rows(&store, "t"), 2);
}

#[test]
fn empty_text_inputs_add_no_segment_and_create_no_table() {
    let (d, store) = fresh_store();
    let header = write(d.path(), "header.csv", "id,name\n");
    let blank = write(d.path(), "blank.jsonl", "\n \n");
    let none = write(d.path(), "none.jsonl", "");
    let mut tx = store.begin();
    let a = tx
        .add_files(
            "t",
            &[header.clone(), blank, none],
            &IngestOptions::default(),
        )
        .unwrap();
    assert_eq!((a.segments, a.files, a.empty.len()), (0, 3, 3));
    // A header says no column types: the table is not created.
    let r = tx.commit(&CommitOptions::message("x"));
    assert!(matches!(r, Err(Error::NothingToCommit)), "{r:?}");
    // Beside data, the header's columns must be the table's.
    let data = write(d.path(), "data.csv", "id,name\n1,a\n");
    let other = write(d.path(), "other.csv", "id,label\n");
    let mut tx = store.begin();
    tx.add_files("t", &[other.clone(), header], &IngestOptions::default())
        .unwrap();
    let r = tx.add_files("t", &[data], &IngestOptions::default());
    match r {
        Err(Error::SchemaMismatch {
            path, differences, ..
        }) => {
            assert_eq!(path, other);
            assert!(
                differences.iter().any(|d| d.contains("label")),
                "{differences:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_reader_without_rows_creates_a_new_table() {
    let (_d, store) = fresh_store();
    let mut tx = store.begin();
    assert_eq!(
        tx.add_reader("t", reader(vec![]), &IngestOptions::default())
            .unwrap(),
        0
    );
    let c = tx.commit(&CommitOptions::message("empty")).unwrap();
    assert_eq!(store.snapshot(&c.id).unwrap().table("t").unwrap().rows, 0);
    // Into an existing table, an empty reader of another schema is refused.
    let other = Arc::new(Schema::new(vec![Field::new("y", DataType::Utf8, true)]));
    let empty = arrow::array::RecordBatchIterator::new(Vec::new(), other);
    let r = store
        .begin()
        .add_reader("t", empty, &IngestOptions::default());
    assert!(matches!(r, Err(Error::SchemaMismatch { .. })), "{r:?}");
}

#[test]
fn a_reingested_csv_is_a_duplicate() {
    let (d, store) = fresh_store();
    let csv = write(d.path(), "day1.csv", "id,name\n1,a\n2,\n3,\"\"\n");
    let mut tx = store.begin();
    tx.add_files("t", std::slice::from_ref(&csv), &IngestOptions::default())
        .unwrap();
    tx.commit(&CommitOptions::message("day 1")).unwrap();
    // The same text, compressed: the same rows converted the same way, the same segment.
    let gz = d.path().join("day1.csv.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, &std::fs::read(&csv).unwrap()).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();
    for input in [csv, gz] {
        let r = store
            .begin()
            .add_files("t", &[input], &IngestOptions::default());
        assert!(matches!(r, Err(Error::DuplicateData(_))), "{r:?}");
    }
}

/// Copies every file under `from/dir` that `to/dir` lacks.
fn copy_missing(from: &Path, to: &Path, dir: &str) {
    for rel in common::files_under(from, dir) {
        let dest = to.join(&rel);
        if !dest.exists() {
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(from.join(&rel), &dest).unwrap();
        }
    }
}

/// The concurrent-writer path: this commit loses the race for its sequence number to a writer
/// that appended the same data (simulated by a copy of the store that commits it, whose record
/// is put in place just before this one would be). The change is re-applied on the winner's
/// HEAD, which holds the segment now: refused, and the winner's commit stands.
#[test]
fn a_duplicate_from_the_writer_that_won_the_race_is_refused_on_reapply() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (d, store) = fresh_store();
    append(&store, "t", 9, 1);
    let root = store.root().to_owned();
    drop(store);
    // The other writer: a copy of the store committing the same data first.
    let other = d.path().join("other.dstore");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(root.join("DSTORE"), other.join("DSTORE")).unwrap();
    for dir in ["log", "segments", "manifests"] {
        copy_missing(&root, &other, dir);
    }
    let won = add(&Store::open(&other).unwrap(), "t", 1, 5).unwrap();
    let fired = Arc::new(AtomicBool::new(false));
    let (hook_root, hook_other, hook_fired) = (root.clone(), other.clone(), fired.clone());
    let storage = dstore::storage::LocalStorage::with_hook(&root, move |step, path| {
        let ours = path == common::record_path(&hook_root, won.seq);
        if step == "link" && ours && !hook_fired.swap(true, Ordering::SeqCst) {
            for dir in ["segments", "manifests", "log"] {
                copy_missing(&hook_other, &hook_root, dir);
            }
        }
        Ok(())
    });
    let store = Store::open_with_storage(&root, Arc::new(storage)).unwrap();
    let mut tx = store.begin();
    tx.add_reader("t", reader(vec![batch(1, 5)]), &IngestOptions::default())
        .unwrap();
    let r = tx.commit(&CommitOptions::message("lost the race"));
    assert!(fired.load(Ordering::SeqCst), "the race was not staged");
    assert!(
        matches!(&r, Err(Error::DuplicateData(d)) if d.committed.map(|c| c.0) == Some(won.seq)),
        "{r:?}"
    );
    assert_eq!(store.log(usize::MAX).unwrap().len() as u64, won.seq);
    assert_eq!(rows(&store, "t"), 6);
}
