//! Row-level diff of one table between two snapshots (`docs/diff.md`).
//!
//! Segments are content-addressed, so a segment in both versions holds the same rows in both
//! and is never read. Only the segments in one version alone are: their rows are hashed
//! ([`hashing`]), partitioned by hash and spilled when they exceed a memory budget ([`spill`]),
//! and matched as multisets (or by key). When the old version has no segment of its own (an
//! append) nothing is hashed at all: the added rows are the new segments.
//!
//! [`RowDiff::added_rows`] (segments and row ranges of the new version) is what
//! [`ScanBuilder::since`](crate::ScanBuilder::since) scans.

pub(crate) mod hashing;
mod output;
pub(crate) mod spill;

use std::collections::HashMap;
use std::sync::Arc;

use dstore_format::{SegmentEntry, SegmentId, SnapshotId};

use self::spill::{Partitioner, Rec};
use crate::error::{Error, Result};
use crate::snapshot::Snapshot;

pub use crate::scan::SegmentRows;
pub use output::OutputFiles;

/// Options of [`row_diff`].
#[derive(Debug, Clone)]
pub struct RowDiffOptions {
    /// Key columns: rows with the same key are the same row, "changed" when other values
    /// differ. Empty: rows are compared whole, as multisets.
    pub key: Vec<String>,
    /// Memory for row records before they spill to `tmp/` (40 bytes a row). Default 256 MiB.
    pub memory_budget: usize,
    /// Verify bytes read against segment ids (default on).
    pub verify: bool,
    /// Stops the diff (and its output) from another thread: it then returns
    /// [`Error::Interrupted`], its spill files and partial output removed.
    pub cancel: crate::ingest::Cancel,
}

impl Default for RowDiffOptions {
    fn default() -> Self {
        Self {
            key: Vec::new(),
            memory_budget: 256 << 20,
            verify: true,
            cancel: crate::ingest::Cancel::default(),
        }
    }
}

/// The row-level difference of a table between two snapshots.
#[derive(Debug, Clone)]
pub struct RowDiff {
    /// The table.
    pub table: String,
    /// The old snapshot.
    pub old: SnapshotId,
    /// The new snapshot.
    pub new: SnapshotId,
    /// Key columns (empty: rows compared whole).
    pub key: Vec<String>,
    /// Columns compared (those in both versions, in the new version's order).
    pub columns: Vec<String>,
    /// Columns only the old version has (not compared).
    pub columns_only_old: Vec<String>,
    /// Columns only the new version has (not compared).
    pub columns_only_new: Vec<String>,
    /// Whether the table is in the old / new snapshot (absent: an empty table).
    pub in_old: bool,
    /// See `in_old`.
    pub in_new: bool,
    /// Segments in both versions (skipped unread).
    pub segments_shared: u64,
    /// Segments only in the old version.
    pub segments_old_only: u64,
    /// Segments only in the new version.
    pub segments_new_only: u64,
    /// Rows of the new version not in the old (with a key: keys not in the old).
    pub added: u64,
    /// Rows of the old version not in the new.
    pub removed: u64,
    /// With a key: keys in both whose other values differ.
    pub changed: u64,
    /// Rows hashed: those of the segments not in both versions (none for an append without a
    /// key); with a key, also the keys of the shared segments.
    pub rows_hashed: u64,
    /// Bytes read from the old / new version's segments.
    pub bytes_read_old: u64,
    /// See `bytes_read_old`.
    pub bytes_read_new: u64,
    /// Partition files the row records spilled to (0: they fit the memory budget).
    pub spilled_partitions: usize,
    added_rows: Vec<SegmentRows>,
    removed_rows: Vec<SegmentRows>,
    /// Changed rows: (old location, new location), sorted by new location.
    changed_pairs: Vec<(u64, u64)>,
    cancel: crate::ingest::Cancel,
}

impl RowDiff {
    /// The added rows, as segments of the new version and rows within them (storage order).
    pub fn added_rows(&self) -> &[SegmentRows] {
        &self.added_rows
    }
    /// The removed rows, as segments of the old version and rows within them.
    pub fn removed_rows(&self) -> &[SegmentRows] {
        &self.removed_rows
    }
}

/// Locations: bit 63 the side (0 old, 1 new), bit 62 set for a key read from a segment both
/// versions share (with `--key` only; side new), bits 40..62 the segment's position in its
/// table's list, bits 0..40 the row in the segment.
const NEW_SIDE: u64 = 1 << 63;
const SHARED: u64 = 1 << 62;
const ROW_BITS: u32 = 40;
const SEG_LIMIT: usize = 1 << 22;

fn loc(side_new: bool, seg: usize, row: u64) -> u64 {
    (if side_new { NEW_SIDE } else { 0 }) | ((seg as u64) << ROW_BITS) | row
}

fn unloc(l: u64) -> (usize, u64) {
    (
        ((l & !(NEW_SIDE | SHARED)) >> ROW_BITS) as usize,
        l & ((1 << ROW_BITS) - 1),
    )
}

/// Segments of `old` and `new` matched as multisets by id: (positions only in old, positions
/// only in new, shared count). Earlier occurrences are matched first.
pub(crate) fn split_segments(
    old: &[SegmentEntry],
    new: &[SegmentEntry],
) -> (Vec<usize>, Vec<usize>, u64) {
    let mut in_old: HashMap<SegmentId, u64> = HashMap::new();
    for e in old {
        *in_old.entry(e.id).or_default() += 1;
    }
    let mut new_only = Vec::new();
    let mut shared: HashMap<SegmentId, u64> = HashMap::new();
    for (i, e) in new.iter().enumerate() {
        match in_old.get_mut(&e.id) {
            Some(c) if *c > 0 => {
                *c -= 1;
                *shared.entry(e.id).or_default() += 1;
            }
            _ => new_only.push(i),
        }
    }
    let mut old_only = Vec::new();
    let mut n_shared = 0;
    for (i, e) in old.iter().enumerate() {
        match shared.get_mut(&e.id) {
            Some(c) if *c > 0 => {
                *c -= 1;
                n_shared += 1;
            }
            _ => old_only.push(i),
        }
    }
    (old_only, new_only, n_shared)
}

/// Sorted locations of one side to per-segment row ranges.
fn to_segment_rows(locs: &[u64], entries: &[SegmentEntry]) -> Vec<SegmentRows> {
    let mut out: Vec<SegmentRows> = Vec::new();
    for &l in locs {
        let (seg, row) = unloc(l);
        if out.last().is_none_or(|s| s.index != seg) {
            out.push(SegmentRows {
                index: seg,
                segment: entries[seg].id,
                rows: Some(Vec::new()),
            });
        }
        let ranges = out
            .last_mut()
            .and_then(|s| s.rows.as_mut())
            .expect("just pushed");
        match ranges.last_mut() {
            Some(r) if r.end == row => r.end += 1,
            _ => ranges.push(row..row + 1),
        }
    }
    // A segment selected whole is said so.
    for s in &mut out {
        if s.count(entries[s.index].rows) == entries[s.index].rows {
            s.rows = None;
        }
    }
    out
}

fn whole(positions: &[usize], entries: &[SegmentEntry]) -> Vec<SegmentRows> {
    positions
        .iter()
        .filter(|&&i| entries[i].rows > 0)
        .map(|&i| SegmentRows {
            index: i,
            segment: entries[i].id,
            rows: None,
        })
        .collect()
}

/// One side of the comparison.
struct Side<'a> {
    snap: &'a Snapshot,
    present: bool,
    entries: Vec<SegmentEntry>,
    schema: arrow::datatypes::SchemaRef,
}

impl<'a> Side<'a> {
    fn new(snap: &'a Snapshot, table: &str) -> Result<Option<Side<'a>>> {
        let Some(t) = snap.manifest().table(table) else {
            return Ok(None);
        };
        Ok(Some(Side {
            snap,
            present: true,
            entries: snap.segments(table)?,
            schema: t.schema.clone(),
        }))
    }
}

fn column_names(s: &arrow::datatypes::Schema) -> Vec<String> {
    s.fields().iter().map(|f| f.name().clone()).collect()
}

/// The row-level diff of `table` from `old` to `new` (see the module docs). A table absent
/// from one snapshot is an empty table there; absent from both, an error.
#[allow(clippy::many_single_char_names)] // o, n: the two sides; d: the diff; i, j: a group
pub fn row_diff(
    old: &Snapshot,
    new: &Snapshot,
    table: &str,
    opts: &RowDiffOptions,
) -> Result<RowDiff> {
    let (o, n) = (Side::new(old, table)?, Side::new(new, table)?);
    let (o, n) = match (o, n) {
        (None, None) => {
            return Err(Error::NotFound {
                what: format!(
                    "table `{table}` (in {} or {})",
                    old.id().short(12),
                    new.id().short(12)
                ),
            });
        }
        (Some(o), None) => {
            let n = Side {
                snap: new,
                present: false,
                entries: Vec::new(),
                schema: o.schema.clone(),
            };
            (o, n)
        }
        (None, Some(n)) => {
            let o = Side {
                snap: old,
                present: false,
                entries: Vec::new(),
                schema: n.schema.clone(),
            };
            (o, n)
        }
        (Some(o), Some(n)) => (o, n),
    };
    // Columns compared: those in both, in the new order, of the same logical type.
    let mut columns = Vec::new();
    let mut only_new = Vec::new();
    for f in n.schema.fields() {
        match o.schema.field_with_name(f.name()) {
            Ok(of) => {
                let (a, b) = (
                    hashing::logical_type(of.data_type())?,
                    hashing::logical_type(f.data_type())?,
                );
                if a != b {
                    return Err(Error::InvalidInput {
                        path: None,
                        detail: format!(
                            "table `{table}`: column `{}` is {a} in {} and {b} in {}, so rows cannot be compared",
                            f.name(),
                            old.id().short(12),
                            new.id().short(12)
                        ),
                        hint: Some(
                            "compare snapshots whose common columns have the same types".into(),
                        ),
                    });
                }
                columns.push(f.name().clone());
            }
            Err(_) => only_new.push(f.name().clone()),
        }
    }
    let only_old: Vec<String> = column_names(&o.schema)
        .into_iter()
        .filter(|c| n.schema.field_with_name(c).is_err())
        .collect();
    for k in &opts.key {
        if !columns.contains(k) {
            let detail =
                if column_names(&n.schema).contains(k) || column_names(&o.schema).contains(k) {
                    format!("key column `{k}` of table `{table}` is not in both snapshots")
                } else {
                    format!("table `{table}` has no column `{k}` (given as --key)")
                };
            return Err(Error::InvalidInput {
                path: None,
                detail,
                hint: Some(format!("columns in both snapshots: {}", columns.join(", "))),
            });
        }
    }
    let (old_only, new_only, shared) = split_segments(&o.entries, &n.entries);
    let mut d = RowDiff {
        table: table.to_owned(),
        old: old.id(),
        new: new.id(),
        key: opts.key.clone(),
        columns: columns.clone(),
        columns_only_old: only_old,
        columns_only_new: only_new,
        in_old: o.present,
        in_new: n.present,
        segments_shared: shared,
        segments_old_only: old_only.len() as u64,
        segments_new_only: new_only.len() as u64,
        added: 0,
        removed: 0,
        changed: 0,
        rows_hashed: 0,
        bytes_read_old: 0,
        bytes_read_new: 0,
        spilled_partitions: 0,
        added_rows: Vec::new(),
        removed_rows: Vec::new(),
        changed_pairs: Vec::new(),
        cancel: opts.cancel.clone(),
    };
    let rows_of =
        |s: &Side<'_>, pos: &[usize]| -> u64 { pos.iter().map(|&i| s.entries[i].rows).sum() };
    // An append (or a pure removal) without a key: nothing to hash.
    if opts.key.is_empty() && (old_only.is_empty() || new_only.is_empty()) {
        d.added_rows = whole(&new_only, &n.entries);
        d.removed_rows = whole(&old_only, &o.entries);
        d.added = rows_of(&n, &new_only);
        d.removed = rows_of(&o, &old_only);
        return Ok(d);
    }
    let mut expected = rows_of(&o, &old_only) + rows_of(&n, &new_only);
    if !opts.key.is_empty() {
        expected = o.entries.iter().map(|e| e.rows).sum::<u64>() + rows_of(&n, &new_only);
    }
    let tmp = old.store().root().join(crate::layout::TMP_DIR);
    let mut parts = Partitioner::new(&tmp, opts.memory_budget, expected);
    let key_cols: Vec<usize> = opts
        .key
        .iter()
        .map(|k| columns.iter().position(|c| c == k).expect("checked"))
        .collect();
    d.bytes_read_old = hash_side(
        &o,
        table,
        &old_only,
        &columns,
        &key_cols,
        Role::Old,
        opts,
        &mut parts,
    )?;
    d.bytes_read_new = hash_side(
        &n,
        table,
        &new_only,
        &columns,
        &key_cols,
        Role::New,
        opts,
        &mut parts,
    )?;
    if !opts.key.is_empty() {
        // A key of a changed row may also be on a row of a shared segment: read the key
        // columns of those too, so that duplicates are found across the whole table.
        let shared_pos: Vec<usize> = (0..n.entries.len())
            .filter(|i| !new_only.contains(i))
            .collect();
        d.bytes_read_new += hash_side(
            &n,
            table,
            &shared_pos,
            &opts.key,
            &[],
            Role::SharedKeys,
            opts,
            &mut parts,
        )?;
    }
    d.rows_hashed = expected;
    d.spilled_partitions = parts.spilled();
    let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    let keyed = !opts.key.is_empty();
    let mut dup: Option<u64> = None;
    parts
        .finish(|recs| {
            opts.cancel.check()?;
            let mut i = 0;
            while i < recs.len() {
                let mut j = i;
                while j < recs.len() && recs[j].part == recs[i].part {
                    j += 1;
                }
                let group = &recs[i..j];
                let m = group.partition_point(|r| r.loc & NEW_SIDE == 0);
                let (olds, rest) = group.split_at(m);
                let m = rest.partition_point(|r| r.loc & SHARED == 0);
                let (news, shared) = rest.split_at(m);
                if keyed {
                    let found = if olds.len() > 1 {
                        Some(olds[1].loc)
                    } else if news.len() > 1 {
                        Some(news[1].loc)
                    } else if shared.len() > 1
                        || (!shared.is_empty() && (!olds.is_empty() || !news.is_empty()))
                    {
                        // In a shared segment twice (so in both versions), or in a shared segment
                        // and a changed row.
                        Some(shared[0].loc)
                    } else {
                        None
                    };
                    if found.is_some() {
                        dup = found;
                        return Err(Error::invalid("duplicate key"));
                    }
                    match (olds.first(), news.first()) {
                        (Some(a), Some(b)) if a.val != b.val => changed.push((a.loc, b.loc)),
                        (Some(_), Some(_)) | (None, None) => {}
                        (Some(a), None) => removed.push(a.loc),
                        (None, Some(b)) => added.push(b.loc),
                    }
                } else {
                    let k = olds.len().min(news.len());
                    removed.extend(olds[k..].iter().map(|r| r.loc));
                    added.extend(news[k..].iter().map(|r| r.loc));
                }
                i = j;
            }
            Ok(())
        })
        .map_err(|e| match dup {
            Some(l) => duplicate_key(if l & NEW_SIDE == 0 { &o } else { &n }, table, &opts.key, l),
            None => e,
        })?;
    added.sort_unstable();
    removed.sort_unstable();
    changed.sort_unstable_by_key(|p| p.1);
    d.added = added.len() as u64;
    d.removed = removed.len() as u64;
    d.changed = changed.len() as u64;
    d.added_rows = to_segment_rows(&added, &n.entries);
    d.removed_rows = to_segment_rows(&removed, &o.entries);
    d.changed_pairs = changed;
    Ok(d)
}

/// What a side's records are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Old,
    New,
    /// Keys only (`columns` are the key columns), of segments both versions share.
    SharedKeys,
}

/// Hashes the rows of `positions` (segments of one side), pushing a record per row; returns
/// the bytes read.
#[allow(clippy::too_many_arguments)]
fn hash_side(
    side: &Side<'_>,
    table: &str,
    positions: &[usize],
    columns: &[String],
    key_cols: &[usize],
    role: Role,
    opts: &RowDiffOptions,
    parts: &mut Partitioner,
) -> Result<u64> {
    if positions.is_empty() || !side.present {
        return Ok(0);
    }
    let sel = whole(positions, &side.entries);
    let mut scan = side
        .snap
        .scan(table)?
        .columns(columns.iter().cloned())
        .verify(opts.verify)
        .restrict(Arc::new(sel.clone()))
        .batches()?;
    let all: Vec<usize> = (0..columns.len()).collect();
    // Rows come in storage order of the selected segments.
    let mut at = 0usize;
    let mut row = 0u64;
    for b in scan.by_ref() {
        opts.cancel.check()?;
        let b = b?;
        let hashes = hashing::hash_rows(&b, &all)?;
        let keys = if key_cols.is_empty() {
            None
        } else {
            Some(hashing::hash_rows(&b, key_cols)?)
        };
        for (i, h) in hashes.into_iter().enumerate() {
            while row >= side.entries[sel[at].index].rows {
                at += 1;
                row = 0;
            }
            let seg = sel[at].index;
            if seg >= SEG_LIMIT || row >= 1 << ROW_BITS {
                return Err(Error::invalid(format!(
                    "table `{table}` is too large to diff row by row (segment {seg}, row {row})"
                )));
            }
            let l = loc(role != Role::Old, seg, row);
            parts.push(match &keys {
                None if role == Role::SharedKeys => Rec {
                    part: h,
                    loc: l | SHARED,
                    val: [0; hashing::HASH_LEN],
                },
                None => Rec {
                    part: h,
                    loc: l,
                    val: [0; hashing::HASH_LEN],
                },
                Some(k) => Rec {
                    part: k[i],
                    loc: l,
                    val: h,
                },
            })?;
            row += 1;
        }
    }
    Ok(scan.stats().bytes_read)
}

/// The error for a key found twice, naming the key's value (read back from the row).
fn duplicate_key(side: &Side<'_>, table: &str, key: &[String], l: u64) -> Error {
    let (seg, row) = unloc(l);
    let global: u64 = side.entries[..seg].iter().map(|e| e.rows).sum::<u64>() + row;
    let cols: Vec<&str> = key.iter().map(String::as_str).collect();
    let value = side
        .snap
        .take(table, &[global], Some(&cols))
        .ok()
        .map_or_else(
            || "?".into(),
            |b| {
                key.iter()
                    .enumerate()
                    .map(|(i, k)| {
                        let v = arrow::util::display::array_value_to_string(b.column(i), 0)
                            .unwrap_or_else(|_| "?".into());
                        let v = if b.column(i).is_null(0) {
                            "null".into()
                        } else {
                            v
                        };
                        format!("{k}={v}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
    Error::DuplicateKey {
        table: table.to_owned(),
        snapshot: side.snap.id().to_hex(),
        key: value,
        row: global,
    }
}

impl crate::ScanBuilder {
    /// Only the rows of this snapshot that `old` lacks: the added rows of [`row_diff`] without
    /// a key (segments not in `old`, and of rewritten segments the rows whose hash `old`
    /// lacks). The order is the scan's exact order over the table made of the segments not in
    /// `old`, with the other rows dropped like filtered rows (`docs/order.md`, "Scans since
    /// another snapshot"); seed, epoch, shard, workers, filter, offset, limit and cursors
    /// apply as to any scan. The rows are found when the scan starts.
    #[must_use]
    pub fn since(self, old: &Snapshot) -> Self {
        self.since_with(old, since_rows)
    }
}

/// The rows of `new`'s `table` that `old` lacks (what [`crate::ScanBuilder::since`] scans):
/// the added rows of the row diff without a key.
fn since_rows(
    old: &Snapshot,
    new: &Snapshot,
    table: &str,
    verify: bool,
) -> Result<Vec<SegmentRows>> {
    let opts = RowDiffOptions {
        verify,
        ..RowDiffOptions::default()
    };
    Ok(row_diff(old, new, table, &opts)?.added_rows)
}

impl RowDiff {
    /// Writes `added.parquet`, `removed.parquet` and, with a key, `changed.parquet` into
    /// `dir` (created if missing; refused unless empty). See [`OutputFiles`].
    pub fn write_output(
        &self,
        old: &Snapshot,
        new: &Snapshot,
        dir: &std::path::Path,
    ) -> Result<OutputFiles> {
        output::write(self, old, new, dir)
    }
}

pub use output::check_output_dir;
