//! `--output DIR`: the added, removed and changed rows as Parquet files, written durably.
//!
//! Each file is written to a hidden temporary file in `DIR`, synced, renamed to its name, and
//! the directory is synced once all are in place: a crash leaves either no file of that name
//! or the whole file. On an error every file this call wrote (and `DIR`, if it made it) is
//! removed again.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StructArray, UInt32Array};
use arrow::datatypes::{Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;

use super::{RowDiff, SegmentRows, to_segment_rows};
use crate::error::{Error, Result};
use crate::snapshot::Snapshot;

/// What [`RowDiff::write_output`] wrote: file names in `dir` and their row counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFiles {
    /// The directory.
    pub dir: PathBuf,
    /// `(file name, rows)`, in the order written.
    pub files: Vec<(String, u64)>,
}

/// Refuses an output directory that exists and is not an empty directory.
/// Called by [`RowDiff::write_output`]; front ends call it first to fail before any work.
pub fn check_output_dir(dir: &Path) -> Result<()> {
    let bad = |detail: String| Error::OutputNotEmpty {
        dir: dir.to_owned(),
        detail,
    };
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(bad("exists and is not a directory".into())),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir).map_err(Error::io("read", dir))?;
            match entries.next() {
                None => Ok(()),
                Some(e) => {
                    let name = e
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .unwrap_or_default();
                    Err(bad(format!("is not empty (it holds `{name}`)")))
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("read", dir)(e)),
    }
}

/// Files written so far; removed on drop unless kept.
struct Written {
    dir: PathBuf,
    made_dir: bool,
    paths: Vec<PathBuf>,
    keep: bool,
}

impl Drop for Written {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
        if self.made_dir {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

fn write_file(
    w: &mut Written,
    cancel: &crate::ingest::Cancel,
    name: &str,
    schema: SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch>>,
) -> Result<u64> {
    let tmp = w.dir.join(format!(".{name}.tmp"));
    let path = w.dir.join(name);
    w.paths.push(tmp.clone());
    let file = File::create(&tmp).map_err(Error::io("create", &tmp))?;
    let werr = |e: parquet::errors::ParquetError| Error::Io {
        op: "write",
        path: tmp.clone(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut writer = ArrowWriter::try_new(file, schema, None).map_err(werr)?;
    let mut rows = 0;
    for b in batches {
        cancel.check()?;
        let b = b?;
        rows += b.num_rows() as u64;
        writer.write(&b).map_err(werr)?;
    }
    let file = writer.into_inner().map_err(werr)?;
    file.sync_all().map_err(Error::io("sync", &tmp))?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(Error::io("rename", &tmp))?;
    w.paths.pop();
    w.paths.push(path);
    Ok(rows)
}

/// Batches of `sel`'s rows of `snap`'s `table` (storage order), or none.
fn rows_of(
    snap: &Snapshot,
    table: &str,
    sel: Vec<SegmentRows>,
) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>>>> {
    if sel.is_empty() || snap.manifest().table(table).is_none() {
        return Ok(Box::new(std::iter::empty()));
    }
    Ok(Box::new(
        snap.scan(table)?.restrict(Arc::new(sel)).batches()?,
    ))
}

fn schema_of(snap: &Snapshot, other: &Snapshot, table: &str) -> Result<SchemaRef> {
    Ok(match snap.manifest().table(table) {
        Some(t) => t.schema.clone(),
        None => other.table(table)?.schema.clone(),
    })
}

pub(super) fn write(
    d: &RowDiff,
    old: &Snapshot,
    new: &Snapshot,
    dir: &Path,
) -> Result<OutputFiles> {
    check_output_dir(dir)?;
    let made_dir = !dir.exists();
    if made_dir {
        std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    }
    let mut w = Written {
        dir: dir.to_owned(),
        made_dir,
        paths: Vec::new(),
        keep: false,
    };
    let mut files = Vec::new();
    let t = &d.table;
    let n_schema = schema_of(new, old, t)?;
    let o_schema = schema_of(old, new, t)?;
    let rows = write_file(
        &mut w,
        &d.cancel,
        "added.parquet",
        n_schema.clone(),
        rows_of(new, t, d.added_rows.clone())?,
    )?;
    files.push(("added.parquet".to_owned(), rows));
    let rows = write_file(
        &mut w,
        &d.cancel,
        "removed.parquet",
        o_schema.clone(),
        rows_of(old, t, d.removed_rows.clone())?,
    )?;
    files.push(("removed.parquet".to_owned(), rows));
    if !d.key.is_empty() {
        let schema = Arc::new(Schema::new(vec![
            Field::new_struct("old", o_schema.fields().clone(), false),
            Field::new_struct("new", n_schema.fields().clone(), false),
        ]));
        let batch = changed_batch(d, old, new, &o_schema, &n_schema, &schema)?;
        let rows = write_file(
            &mut w,
            &d.cancel,
            "changed.parquet",
            schema,
            batch.into_iter().map(Ok),
        )?;
        files.push(("changed.parquet".to_owned(), rows));
    }
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(Error::io("sync", dir))?;
    w.keep = true;
    Ok(OutputFiles {
        dir: dir.to_owned(),
        files,
    })
}

/// The changed rows: one row per pair, `old` and `new` structs, in the new version's order.
/// Held in memory (the changed rows only).
fn changed_batch(
    d: &RowDiff,
    old: &Snapshot,
    new: &Snapshot,
    o_schema: &SchemaRef,
    n_schema: &SchemaRef,
    schema: &SchemaRef,
) -> Result<Option<RecordBatch>> {
    if d.changed_pairs.is_empty() {
        return Ok(None);
    }
    let t = &d.table;
    let collect = |snap: &Snapshot, locs: &[u64], s: &SchemaRef| -> Result<RecordBatch> {
        let entries = snap.segments(t)?;
        let batches: Vec<RecordBatch> =
            rows_of(snap, t, to_segment_rows(locs, &entries))?.collect::<Result<_>>()?;
        arrow::compute::concat_batches(s, &batches)
            .map_err(|e| Error::internal("assembling changed rows", e))
    };
    let new_locs: Vec<u64> = d.changed_pairs.iter().map(|p| p.1).collect();
    let mut old_locs: Vec<u64> = d.changed_pairs.iter().map(|p| p.0).collect();
    old_locs.sort_unstable();
    let new_rows = collect(new, &new_locs, n_schema)?;
    let old_sorted = collect(old, &old_locs, o_schema)?;
    let idx: UInt32Array = d
        .changed_pairs
        .iter()
        .map(|p| old_locs.binary_search(&p.0).expect("present") as u32)
        .collect();
    let old_cols = old_sorted
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c, &idx, None))
        .collect::<std::result::Result<Vec<ArrayRef>, _>>()
        .map_err(|e| Error::internal("aligning changed rows", e))?;
    let old_rows = RecordBatch::try_new(o_schema.clone(), old_cols)
        .map_err(|e| Error::internal("aligning changed rows", e))?;
    RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StructArray::from(old_rows)),
            Arc::new(StructArray::from(new_rows)),
        ],
    )
    .map(Some)
    .map_err(|e| Error::internal("assembling changed rows", e))
}
