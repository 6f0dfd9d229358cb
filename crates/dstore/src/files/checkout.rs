//! Checking a files table out as files: each row written at its path under the table's
//! directory, its bytes checked against the row's `size` and `blake3` (and the segment, as
//! every scan checks it, against its id). Paths are checked again ([`super::valid_path`]): a
//! store is not trusted to hold only what ingest let in.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use rayon::prelude::*;

use super::{BLAKE3, BYTES, PATH, SIZE, valid_path};
use crate::checkout::CheckoutFile;
use crate::error::{Error, Result};
use crate::snapshot::Snapshot;

/// Writes the files of `table` under `out/<table>/`; returns one checkout entry per file (its
/// path relative to `out`) and the bytes written. `progress` is called with each file's size.
pub(crate) fn write_table(
    snap: &Snapshot,
    table: &str,
    out: &Path,
    progress: &dyn Fn(u64),
) -> Result<(Vec<CheckoutFile>, u64)> {
    let root = out.join(table);
    std::fs::create_dir_all(&root).map_err(Error::io("create directory", &root))?;
    // The table's directory itself must be a directory, not a link to one (a `--force` target
    // may hold anything).
    match std::fs::symlink_metadata(&root) {
        Ok(m) if m.file_type().is_dir() => {}
        _ => {
            return Err(Error::input(
                &root,
                "is not a directory of the checkout (a link or something else is in the way)",
            )
            .with_hint("check out into an empty directory"));
        }
    }
    let mut made: HashSet<PathBuf> = HashSet::from([root.clone()]);
    let mut files = Vec::new();
    let mut total = 0u64;
    let segments = snap.segments(table)?;
    // Row number (in the table) of each segment's first row: one scan in storage order reads
    // them all, and a row's segment is found from its number.
    let mut starts = Vec::with_capacity(segments.len());
    let mut at = 0u64;
    for e in &segments {
        starts.push(at);
        at += e.rows;
    }
    let storage = snap.store().storage();
    let locate = |g: u64| {
        let s = starts.partition_point(|&x| x <= g).saturating_sub(1);
        let seg = segments.get(s);
        let path = seg.map_or_else(PathBuf::new, |e| {
            storage.describe(&crate::layout::segment_key(&e.id))
        });
        (s, path, g - starts.get(s).copied().unwrap_or(0))
    };
    // Small batches and a small budget: a row may be a file of hundreds of megabytes.
    let scan = snap
        .scan(table)?
        .columns([PATH, SIZE, BLAKE3, BYTES])
        .batch_size(16)
        .memory_budget(256 << 20);
    let mut row = 0u64;
    for batch in scan.batches()? {
        let batch = batch?;
        let first = row;
        let checked = rows(&batch, &locate, &mut row)?;
        // Directories first, in order; then the files of the batch written in parallel (on a
        // machine where `write` is the slow part, one core cannot keep up).
        for (rel, _, _) in &checked {
            make_parents(&root, &root.join(rel), &mut made)?;
        }
        checked
            .par_iter()
            .map(|(rel, bytes, _)| write_new(&root.join(rel), bytes))
            .collect::<Result<Vec<()>>>()?;
        for (i, (rel, bytes, hash)) in checked.into_iter().enumerate() {
            let (s, _, _) = locate(first + i as u64);
            progress(bytes.len() as u64);
            total += bytes.len() as u64;
            files.push(CheckoutFile {
                path: format!("{table}/{rel}"),
                segment: segments[s].id,
                blake3: hash.to_owned(),
                bytes: bytes.len() as u64,
                rows: 1,
            });
        }
    }
    Ok((files, total))
}

/// The (path, bytes, BLAKE3 hex) of each row of `batch`, checked (in parallel): a path a
/// files table may hold, bytes of the row's size and BLAKE3. `row` counts the table's rows
/// read so far; `locate` gives a row's segment (its position, path and row within it) for
/// messages.
fn rows<'b>(
    batch: &'b RecordBatch,
    locate: &(dyn Fn(u64) -> (usize, PathBuf, u64) + Sync),
    row: &mut u64,
) -> Result<Vec<(&'b str, &'b [u8], &'b str)>> {
    let first = *row;
    let at = |g: u64, detail: &str| {
        let (_, path, r) = locate(g);
        Error::Corrupted {
            path,
            detail: format!("row {r}{detail}"),
        }
    };
    let col = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| at(first, &format!(": the scan gave no column `{name}`")))
    };
    let (paths, sizes, hashes, data) = (col(PATH)?, col(SIZE)?, col(BLAKE3)?, col(BYTES)?);
    let (Some(paths), Some(sizes), Some(hashes), Some(data)) = (
        paths.as_string_opt::<i32>(),
        sizes.as_primitive_opt::<Int64Type>(),
        hashes.as_string_opt::<i32>(),
        data.as_binary_opt::<i64>(),
    ) else {
        return Err(at(first, ": its columns are not a files table's types"));
    };
    *row += batch.num_rows() as u64;
    (0..batch.num_rows())
        .into_par_iter()
        .map(|i| {
            let g = first + i as u64;
            if paths.is_null(i) || data.is_null(i) || sizes.is_null(i) || hashes.is_null(i) {
                return Err(at(g, " has a null path, size, blake3 or bytes"));
            }
            let (p, b) = (paths.value(i), data.value(i));
            valid_path(p).map_err(|why| {
                at(
                    g,
                    &format!(" holds the path {p:?}, which cannot be checked out: {why}"),
                )
            })?;
            if u64::try_from(sizes.value(i)).ok() != Some(b.len() as u64) {
                let d = format!(" ({p}) says {} bytes and holds {}", sizes.value(i), b.len());
                return Err(at(g, &d));
            }
            if blake3::hash(b).to_hex().as_str() != hashes.value(i) {
                let d = format!(
                    " ({p}): its bytes do not hash to its blake3 {}",
                    hashes.value(i)
                );
                return Err(at(g, &d));
            }
            Ok((p, b, hashes.value(i)))
        })
        .collect()
}

/// Creates the directories between `root` and `dest`, refusing any that exists as something
/// other than a directory (a link planted in a `--force` target must not be followed).
fn make_parents(root: &Path, dest: &Path, made: &mut HashSet<PathBuf>) -> Result<()> {
    let Some(parent) = dest.parent() else {
        return Ok(());
    };
    if made.contains(parent) {
        return Ok(());
    }
    let rel = parent.strip_prefix(root).unwrap_or(parent);
    let mut at = root.to_owned();
    for c in rel.components() {
        at.push(c);
        if made.contains(&at) {
            continue;
        }
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(_) => {
                return Err(Error::input(
                    &at,
                    "is in the way of a directory of the checkout (a file or link)",
                )
                .with_hint("check out into an empty directory"));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&at).map_err(Error::io("create directory", &at))?;
            }
            Err(e) => return Err(Error::io("stat", &at)(e)),
        }
        made.insert(at.clone());
    }
    Ok(())
}

/// Writes a new file (never replacing one, never through a link).
fn write_new(dest: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::input(
                    dest,
                    "exists already: the checkout would write it twice or replace it",
                )
                .with_hint("check out into an empty directory")
            } else {
                Error::io("create", dest)(e)
            }
        })?;
    f.write_all(bytes).map_err(Error::io("write", dest))
}
