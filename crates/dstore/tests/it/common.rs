//! Helpers shared by the integration tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, RecordBatchIterator};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use dstore::{CommitOptions, CommitOutcome, IngestOptions, Result, SegmentId, Store, WriteMode};

/// The schema every test table has unless a test says otherwise: one non-nullable Int64.
pub(crate) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]))
}

/// `rows` rows derived from `seed`: equal arguments give equal batches (and equal segments),
/// different arguments give different ones.
pub(crate) fn batch(seed: u64, rows: usize) -> RecordBatch {
    let base = seed as i64 * 1_000_000;
    let values: Vec<i64> = (0..rows as i64).map(|i| base + i).collect();
    RecordBatch::try_new(schema(), vec![Arc::new(Int64Array::from(values))]).expect("batch")
}

/// A reader over batches of [`schema`].
pub(crate) fn reader(
    batches: Vec<RecordBatch>,
) -> RecordBatchIterator<std::vec::IntoIter<std::result::Result<RecordBatch, ArrowError>>> {
    let s = batches.first().map_or_else(schema, RecordBatch::schema);
    RecordBatchIterator::new(
        batches.into_iter().map(Ok).collect::<Vec<_>>().into_iter(),
        s,
    )
}

/// Commits one batch to `table` with `mode`.
pub(crate) fn commit_batch(
    store: &Store,
    table: &str,
    mode: WriteMode,
    seed: u64,
    rows: usize,
    opts: &CommitOptions,
) -> Result<CommitOutcome> {
    let mut tx = store.begin();
    tx.set_mode(table, mode)?;
    // The same seed and rows give the same segment: tests that repeat a batch mean to.
    let ingest = IngestOptions {
        allow_duplicates: true,
        ..IngestOptions::default()
    };
    tx.add_reader(table, reader(vec![batch(seed, rows)]), &ingest)?;
    tx.commit(opts)
}

/// Appends one batch to `table` in its own commit.
pub(crate) fn append(store: &Store, table: &str, seed: u64, rows: usize) -> CommitOutcome {
    commit_batch(
        store,
        table,
        WriteMode::Append,
        seed,
        rows,
        &CommitOptions::message("append"),
    )
    .expect("append")
}

/// A fresh store in a temporary directory (kept alive by the returned guard).
pub(crate) fn fresh_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::init(dir.path().join("s.dstore")).expect("init");
    (dir, store)
}

/// Where a segment lives in a local store.
pub(crate) fn segment_path(root: &Path, id: &SegmentId) -> PathBuf {
    let h = id.to_hex();
    root.join("segments")
        .join(&h[..2])
        .join(format!("{h}.parquet"))
}

/// Where a snapshot manifest lives.
pub(crate) fn manifest_path(root: &Path, id: &dstore::SnapshotId) -> PathBuf {
    let h = id.to_hex();
    root.join("manifests")
        .join(&h[..2])
        .join(format!("{h}.manifest"))
}

/// Where a segment list page lives.
pub(crate) fn page_path(root: &Path, id: &dstore::format::PageId) -> PathBuf {
    let h = id.to_hex();
    root.join("manifests")
        .join(&h[..2])
        .join(format!("{h}.seglist"))
}

/// Where log record `seq` lives.
pub(crate) fn record_path(root: &Path, seq: u64) -> PathBuf {
    root.join("log").join(format!("{seq:020}.rec"))
}

/// Every regular file under `dir`, as paths relative to `root` with `/` separators.
pub(crate) fn files_under(root: &Path, dir: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let e = e.expect("dir entry");
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                let rel = e.path().strip_prefix(root).expect("under root").to_owned();
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out
}

/// Flips one byte of a file in place (making it writable first: segments are read-only).
pub(crate) fn flip_byte(path: &Path, at: usize) {
    let meta = std::fs::metadata(path).expect("metadata");
    let mut perm = meta.permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(path, perm).expect("make writable");
    let mut bytes = std::fs::read(path).expect("read");
    let at = at.min(bytes.len() - 1);
    bytes[at] ^= 0x5a;
    std::fs::write(path, bytes).expect("write");
}

/// The Int64 values of column `x` of a segment, read back from its Parquet file.
pub(crate) fn segment_values(root: &Path, id: &SegmentId, column: &str) -> Vec<i64> {
    let f = std::fs::File::open(segment_path(root, id)).expect("open segment");
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .expect("parquet")
        .build()
        .expect("reader");
    let mut out = Vec::new();
    for b in r {
        let b = b.expect("batch");
        let col = b.column_by_name(column).expect("column");
        let a = col.as_any().downcast_ref::<Int64Array>().expect("int64");
        out.extend(a.values().iter().copied());
    }
    out
}

/// Every file of the store but the catalog, with its bytes: to prove a refusal wrote nothing.
pub(crate) fn store_state(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![(
        "DSTORE".to_owned(),
        std::fs::read(root.join("DSTORE")).unwrap(),
    )];
    for d in ["log", "segments", "manifests", "tmp"] {
        for f in files_under(root, d) {
            let b = std::fs::read(root.join(&f)).unwrap();
            out.push((f, b));
        }
    }
    out
}

/// `verify --all` of `store`: every record, snapshot, object and use record.
pub(crate) fn verify_all(store: &Store) -> dstore::Result<dstore::verify::VerifyReport> {
    store.verify(
        &dstore::verify::VerifyOptions {
            all: true,
            ..dstore::verify::VerifyOptions::default()
        },
        &|_| {},
    )
}
