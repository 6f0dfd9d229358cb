//! Files added, removed and changed between two versions of a files table, by path. Segments
//! both versions hold are skipped unread (a path in one of them is in it in both); of the
//! others only the `path`, `size` and `blake3` columns are read, never the files' bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use dstore_format::SnapshotId;

use super::{BLAKE3, PATH, SIZE, is_files_table};
use crate::error::{Error, Result};
use crate::scan::SegmentRows;
use crate::snapshot::Snapshot;

/// How a file differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Only in the new version.
    Added,
    /// Only in the old version.
    Removed,
    /// In both, with other contents.
    Changed,
}

/// One file that differs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileChange {
    /// Its path.
    pub path: String,
    /// How it differs.
    pub kind: ChangeKind,
    /// Size and BLAKE3 (hex) in the old version.
    pub old: Option<(u64, String)>,
    /// Size and BLAKE3 (hex) in the new version.
    pub new: Option<(u64, String)>,
}

/// The files of a files table that differ between two snapshots.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FilesDiff {
    /// The table.
    pub table: String,
    /// The old snapshot.
    pub old: SnapshotId,
    /// The new snapshot.
    pub new: SnapshotId,
    /// Files only in the new version.
    pub added: u64,
    /// Files only in the old version.
    pub removed: u64,
    /// Files in both with other contents.
    pub changed: u64,
    /// Files in the new version that are unchanged.
    pub unchanged: u64,
    /// Segments in both versions (not read).
    pub segments_shared: u64,
    /// Segments read from the old / new version.
    pub segments_read: (u64, u64),
    /// Bytes read from them.
    pub bytes_read: u64,
    /// Every file that differs, by path.
    pub changes: Vec<FileChange>,
}

type Listing = BTreeMap<String, (u64, String)>;

/// The files of `table` that differ from `old` to `new`. The table must be a files table in
/// each snapshot that has it (one lacking it has no files).
pub fn files_diff(old: &Snapshot, new: &Snapshot, table: &str) -> Result<FilesDiff> {
    let side = |s: &Snapshot| -> Result<Option<Vec<dstore_format::SegmentEntry>>> {
        let Ok(t) = s.table(table) else {
            return Ok(None);
        };
        if !is_files_table(&t.schema) {
            return Err(Error::invalid(format!(
                "table `{table}` in {} is not a files table",
                s.id().short(12)
            ))
            .with_hint("compare its rows instead (diff --rows)"));
        }
        Ok(Some(s.segments(table)?))
    };
    let (old_entries, new_entries) = (side(old)?, side(new)?);
    if old_entries.is_none() && new_entries.is_none() {
        return Err(Error::NotFound {
            what: format!(
                "table `{table}` (in {} or {})",
                old.id().short(12),
                new.id().short(12)
            ),
        });
    }
    let (o, n) = (
        old_entries.unwrap_or_default(),
        new_entries.unwrap_or_default(),
    );
    let (old_only, new_only, shared) = crate::diff::split_segments(&o, &n);
    let mut bytes_read = 0;
    let before = listing(old, table, &o, &old_only, &mut bytes_read)?;
    let after = listing(new, table, &n, &new_only, &mut bytes_read)?;
    let changes = compare(before, after);
    let count = |k: ChangeKind| changes.iter().filter(|c| c.kind == k).count() as u64;
    let (added, removed, changed) = (
        count(ChangeKind::Added),
        count(ChangeKind::Removed),
        count(ChangeKind::Changed),
    );
    let new_rows: u64 = n.iter().map(|e| e.rows).sum();
    Ok(FilesDiff {
        table: table.to_owned(),
        old: old.id(),
        new: new.id(),
        added,
        removed,
        changed,
        unchanged: new_rows.saturating_sub(added + changed),
        segments_shared: shared,
        segments_read: (old_only.len() as u64, new_only.len() as u64),
        bytes_read,
        changes,
    })
}

/// The files that differ between two listings, by path.
fn compare(before: Listing, after: Listing) -> Vec<FileChange> {
    let mut changes = Vec::new();
    let mut olds = before.into_iter().peekable();
    let mut news = after.into_iter().peekable();
    loop {
        let order = match (olds.peek(), news.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(was), Some(now)) => was.0.cmp(&now.0),
        };
        let (path, old, new) = match order {
            std::cmp::Ordering::Less => {
                let (path, was) = olds.next().expect("peeked");
                (path, Some(was), None)
            }
            std::cmp::Ordering::Greater => {
                let (path, now) = news.next().expect("peeked");
                (path, None, Some(now))
            }
            std::cmp::Ordering::Equal => {
                let (path, was) = olds.next().expect("peeked");
                let (_, now) = news.next().expect("peeked");
                if was == now {
                    continue;
                }
                (path, Some(was), Some(now))
            }
        };
        let kind = match (&old, &new) {
            (Some(_), Some(_)) => ChangeKind::Changed,
            (Some(_), None) => ChangeKind::Removed,
            _ => ChangeKind::Added,
        };
        changes.push(FileChange {
            path,
            kind,
            old,
            new,
        });
    }
    changes
}

/// Path → (size, BLAKE3) of the files in segments `which` of `entries`.
fn listing(
    snap: &Snapshot,
    table: &str,
    entries: &[dstore_format::SegmentEntry],
    which: &[usize],
    bytes_read: &mut u64,
) -> Result<Listing> {
    let mut out = Listing::new();
    if which.is_empty() {
        return Ok(out);
    }
    let restrict: Vec<SegmentRows> = which
        .iter()
        .map(|&i| SegmentRows {
            index: i,
            segment: entries[i].id,
            rows: None,
        })
        .collect();
    let mut scan = snap
        .scan(table)?
        .columns([PATH, SIZE, BLAKE3])
        .restrict(Arc::new(restrict))
        .batches()?;
    // Rows come in the order of `which`: the segment of the table's n-th row read is found
    // from the segments' row counts, to name it in a message.
    let mut starts = Vec::with_capacity(which.len());
    let mut at = 0u64;
    for &i in which {
        starts.push(at);
        at += entries[i].rows;
    }
    let storage = snap.store().storage();
    let damaged = |g: u64, detail: &str| {
        let k = starts.partition_point(|&x| x <= g).saturating_sub(1);
        let seg = &entries[which[k]];
        Error::Corrupted {
            path: storage.describe(&crate::layout::segment_key(&seg.id)),
            detail: format!(
                "row {} of this files table segment: {detail}",
                g - starts[k]
            ),
        }
    };
    let mut row = 0u64;
    for batch in scan.by_ref() {
        let batch = batch?;
        let (Some(p), Some(s), Some(h)) = (
            batch.column(0).as_string_opt::<i32>(),
            batch.column(1).as_primitive_opt::<Int64Type>(),
            batch.column(2).as_string_opt::<i32>(),
        ) else {
            return Err(damaged(
                row,
                "its path, size or blake3 column is not a files table's",
            ));
        };
        for i in 0..batch.num_rows() {
            let g = row + i as u64;
            if p.is_null(i) || s.is_null(i) || h.is_null(i) {
                return Err(damaged(g, "a null path, size or blake3"));
            }
            let size = u64::try_from(s.value(i)).map_err(|_| damaged(g, "a negative size"))?;
            let path = p.value(i).to_owned();
            if out.insert(path, (size, h.value(i).to_owned())).is_some() {
                return Err(damaged(
                    g,
                    &format!("the path {:?} appears twice in the table", p.value(i)),
                ));
            }
        }
        row += batch.num_rows() as u64;
    }
    *bytes_read += scan.stats().bytes_read;
    Ok(out)
}
