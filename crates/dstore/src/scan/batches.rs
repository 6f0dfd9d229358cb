//! [`ScanBatches`]: the batches of a scan in the exact order, decoded window by window on a
//! rayon pool with read-ahead, and the [`ScanCursor`] that resumes them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};

use super::filter::Expr;
use super::late::RowMap;
use super::order::{Plan, Unit};
use super::read::{DECODE_BATCH_ROWS, Kept, SegmentSet};
use crate::error::{Error, Result};

/// Where an interrupted scan stands; save it (serde) and [`ScanBuilder::resume`](super::ScanBuilder::resume) continues the
/// uninterrupted sequence exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCursor {
    /// Snapshot scanned.
    pub snapshot: String,
    /// Table scanned.
    pub table: String,
    /// Shuffle seed, if any.
    pub seed: Option<u64>,
    /// Epoch.
    pub epoch: u64,
    /// Rank and world size.
    pub shard: (u32, u32),
    /// Order v1: row groups per shuffle window (part of that order).
    #[serde(default = "default_window")]
    pub window: usize,
    /// The order version (`docs/order.md`); cursors saved before order v2 existed have none
    /// and mean 1.
    #[serde(default = "default_order")]
    pub order: u32,
    /// Order v2: the memory budget in bytes (part of that order).
    #[serde(default = "default_memory_budget")]
    pub memory_budget: u64,
    /// Rows of this rank's sequence already delivered (counted before filtering).
    pub position: u64,
    /// Rows of `offset` still to skip.
    #[serde(default)]
    pub skip: u64,
    /// Rows of `limit` still to deliver, if limited.
    #[serde(default)]
    pub left: Option<u64>,
    /// The snapshot of a scan [`since`](super::ScanBuilder::since) another (full id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

fn default_window() -> usize {
    4
}

fn default_order() -> u32 {
    1
}

fn default_memory_budget() -> u64 {
    super::order::DEFAULT_MEMORY_BUDGET
}

/// Statistics of a scan so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Bytes fetched from storage.
    pub bytes_read: u64,
    /// Row groups decoded.
    pub row_groups_read: u64,
    /// Row groups skipped because statistics prove no row matches the filter.
    pub row_groups_pruned: u64,
    /// Segments of the table whose statistics rule out every row (so none of their row groups
    /// is looked at one by one, nor read).
    pub segments_pruned: u64,
    /// Rows of decoded row groups skipped because the page index proves no row of their pages
    /// matches (verified reads only in segments with an outboard: see
    /// [`ScanBuilder::verify`](super::ScanBuilder::verify)).
    pub page_rows_skipped: u64,
    /// Most decoded rows held at once (windows being consumed, decoded ahead or decoding).
    pub decoded_rows_peak: u64,
    /// Most bytes of decoded Arrow arrays held at once.
    pub decoded_bytes_peak: u64,
    /// Most estimated decoded bytes (order v2's estimate, `docs/order.md`) reserved at once:
    /// at most the memory budget, unless a single window exceeds half of it.
    pub estimated_bytes_peak: u64,
    /// Rows the filter rejected before the scan's other columns were decoded (late
    /// materialization, [`ScanBuilder::late_materialization`](super::ScanBuilder::late_materialization)):
    /// those columns were not decoded for them, nor fetched where an offset index let whole
    /// pages be skipped.
    pub late_rows_skipped: u64,
    /// Row groups read of which only the filter's columns were decoded, because no row matched
    /// (counted in `row_groups_read` too).
    pub late_row_groups_skipped: u64,
}

/// Decoded data held by a scan, for its memory budget and statistics.
#[derive(Debug, Default)]
pub(super) struct Held {
    rows: AtomicU64,
    bytes: AtomicU64,
    estimated: AtomicU64,
    rows_peak: AtomicU64,
    bytes_peak: AtomicU64,
    estimated_peak: AtomicU64,
    /// Decoded bytes, and their estimate, of every window decoded so far: how far off the
    /// estimate is for this table and projection.
    decoded_total: AtomicU64,
    estimated_total: AtomicU64,
}

impl Held {
    /// `estimated` scaled by what decoding has shown so far (decoded / estimated bytes).
    fn projected(&self, estimated: u64) -> u64 {
        let est = self.estimated_total.load(Ordering::Relaxed);
        if est == 0 {
            return estimated;
        }
        let got = self.decoded_total.load(Ordering::Relaxed);
        (u128::from(estimated) * u128::from(got) / u128::from(est)) as u64
    }

    fn hold(self: &Arc<Self>, rows: u64, bytes: u64, estimated: u64) -> Hold {
        let add = |now: &AtomicU64, peak: &AtomicU64, n: u64| {
            let v = now.fetch_add(n, Ordering::Relaxed) + n;
            peak.fetch_max(v, Ordering::Relaxed);
        };
        add(&self.rows, &self.rows_peak, rows);
        add(&self.bytes, &self.bytes_peak, bytes);
        add(&self.estimated, &self.estimated_peak, estimated);
        Hold {
            held: self.clone(),
            rows,
            bytes,
            estimated,
        }
    }
}

/// A share of [`Held`], given back when dropped (with the decoded window it accounts for).
pub(super) struct Hold {
    held: Arc<Held>,
    rows: u64,
    bytes: u64,
    estimated: u64,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.held.rows.fetch_sub(self.rows, Ordering::Relaxed);
        self.held.bytes.fetch_sub(self.bytes, Ordering::Relaxed);
        self.held
            .estimated
            .fetch_sub(self.estimated, Ordering::Relaxed);
    }
}

/// What decoding needs, shared with background (read-ahead) jobs.
pub(super) struct Shared {
    pub(super) set: SegmentSet,
    pub(super) units: Vec<Unit>,
    /// Per unit: statistics prove no row matches the filter.
    pub(super) prunable: Vec<bool>,
    /// Decoded columns: the output's plus those only the filter needs.
    pub(super) read_schema: SchemaRef,
    pub(super) table_schema: SchemaRef,
    pub(super) filter: Option<Expr>,
    pub(super) held: Arc<Held>,
    /// Filter each unit as it is decoded, the filter's columns first (`super::late`); the
    /// parts then hold only matching rows.
    pub(super) late: bool,
    /// Per unit, the rows a `since` scan keeps, as row numbers within the unit's row group
    /// inside the unit's rows (`None`: all of them); empty when the scan keeps every row.
    pub(super) selected: Vec<Option<Kept>>,
}

/// The rows of one row group decoded for a window, in batches as the decoder made them
/// (never concatenated: arrow-rs decodes faster in small batches, and a copy is saved),
/// shared by the window's units of that row group.
pub(super) struct Group {
    pub(super) batches: Vec<RecordBatch>,
    /// Index (in the decoded rows) of each batch's first row.
    pub(super) starts: Vec<usize>,
}

impl Group {
    fn new(batches: Vec<RecordBatch>) -> Self {
        let mut starts = Vec::with_capacity(batches.len());
        let mut at = 0;
        for b in &batches {
            starts.push(at);
            at += b.num_rows();
        }
        Group { batches, starts }
    }

    fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    fn bytes(&self) -> usize {
        self.batches
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum()
    }

    /// The batch and the row in it of decoded row `i`.
    fn locate(&self, i: usize) -> (usize, usize) {
        let j = self.starts.partition_point(|&s| s <= i) - 1;
        (j, i - self.starts[j])
    }
}

/// One unit of a window, decoded: where its rows are among its row group's decoded rows.
pub(super) struct Part {
    /// Its row group's decoded rows: an index into the window's groups.
    pub(super) group: usize,
    /// Decoded index of the unit's first decoded row (for a map, of the map's row 0).
    pub(super) base: usize,
    /// Rows decoded and where (`None`: the unit's rows, all, in order, from `base`). The map
    /// may cover the whole row group (late materialization decodes a row group's units
    /// together into rows they share): the unit's row `r` is the map's row `offset + r`.
    pub(super) kept: Option<Arc<RowMap>>,
    pub(super) offset: u64,
}

impl Part {
    /// Index in the group's decoded rows of the unit's row `r`, if it was decoded.
    fn index(&self, r: u64) -> Option<usize> {
        match &self.kept {
            None => Some(self.base + r as usize),
            Some(map) => map.index(self.offset + r).map(|i| self.base + i),
        }
    }
}

impl Shared {
    /// Decodes the units of a window (in parallel on the current pool); `None` for pruned
    /// units. Each row group the window touches is decoded once, only the rows of its units
    /// in this window (order v2 cuts row groups into several units).
    fn decode_window(&self, units: &[usize]) -> Decoded {
        use rayon::prelude::*;
        let mut groups: Vec<((usize, usize), Vec<usize>)> = Vec::new();
        for (i, &u) in units.iter().enumerate() {
            let unit = self.units[u];
            if self.prunable[u] {
                // Counted once per row group: with the unit holding its first row.
                if unit.first == 0 {
                    self.set.counters.pruned.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            let at = (unit.segment, unit.row_group);
            match groups.iter_mut().find(|g| g.0 == at) {
                Some(g) => g.1.push(i),
                None => groups.push((at, vec![i])),
            }
        }
        let decoded = groups
            .par_iter()
            .map(|((seg, rg), idx)| self.decode_group(*seg, *rg, idx, units))
            .collect::<Result<Vec<_>>>()?;
        let mut parts: Vec<Option<Part>> = (0..units.len()).map(|_| None).collect();
        let mut out = Vec::new();
        let (mut rows, mut bytes) = (0, 0);
        for (decoded, (_, idx)) in decoded.into_iter().zip(&groups) {
            let Some((group, mine)) = decoded else {
                continue;
            };
            rows += group.rows() as u64;
            bytes += group.bytes() as u64;
            for (&i, part) in idx.iter().zip(mine) {
                parts[i] = part.map(|p| Part {
                    group: out.len(),
                    ..p
                });
            }
            out.push(group);
        }
        let estimated: u64 = units.iter().map(|&u| self.units[u].bytes).sum();
        self.held.decoded_total.fetch_add(bytes, Ordering::Relaxed);
        self.held
            .estimated_total
            .fetch_add(estimated, Ordering::Relaxed);
        Ok((out, parts, self.held.hold(rows, bytes, 0)))
    }

    /// Decodes the rows of units `idx` (indices into `units`, all of one row group) that a
    /// page selection keeps: the batch decoded and each unit's part of it.
    fn decode_group(
        &self,
        seg: usize,
        rg: usize,
        idx: &[usize],
        units: &[usize],
    ) -> Result<Option<(Group, Vec<Option<Part>>)>> {
        let rg_rows = self.set.rows(seg, rg);
        // The units' rows, or only those a `since` scan selects (within the unit's rows).
        let mut wanted: Kept = idx
            .iter()
            .flat_map(|&i| {
                let u = &self.units[units[i]];
                match self.selected.get(units[i]).and_then(Option::as_ref) {
                    Some(sel) => sel.clone(),
                    None => std::iter::once(u.first..u.first + u.rows).collect(),
                }
            })
            .collect();
        wanted.sort_unstable_by_key(|r| r.start);
        let wanted = merge(wanted);
        let whole = wanted.len() == 1 && wanted[0] == (0..rg_rows);
        let selection = match &self.filter {
            Some(f) => self.set.page_selection(seg, rg, f, &self.table_schema)?,
            None => None,
        };
        let kept = match (whole, selection) {
            (true, sel) => sel,
            (false, None) => Some(wanted),
            (false, Some(sel)) => Some(intersect(&wanted, &sel)),
        };
        if kept.as_ref().is_some_and(Vec::is_empty) {
            return Ok(None);
        }
        if let Some(f) = self.filter.as_ref().filter(|_| self.late) {
            // Late materialization: one batch of the matching rows, shared by the units.
            let Some((batch, map)) =
                self.set
                    .decode_filtered(seg, rg, &self.read_schema, f, kept.as_ref())?
            else {
                return Ok(None);
            };
            let map = Arc::new(map);
            let parts = idx
                .iter()
                .map(|&i| {
                    let u = &self.units[units[i]];
                    Some(Part {
                        group: 0,
                        base: 0,
                        kept: Some(map.clone()),
                        offset: u.first,
                    })
                })
                .collect();
            return Ok(Some((Group::new(vec![batch]), parts)));
        }
        let group = Group::new(self.set.decode_batches(
            seg,
            rg,
            &self.read_schema,
            kept.as_ref(),
            DECODE_BATCH_ROWS,
        )?);
        let parts = idx
            .iter()
            .map(|&i| {
                let u = &self.units[units[i]];
                let range = u.first..u.first + u.rows;
                let Some(kept) = &kept else {
                    // The whole row group was decoded: the unit's rows are consecutive.
                    return Some(Part {
                        group: 0,
                        base: range.start as usize,
                        kept: None,
                        offset: 0,
                    });
                };
                // Rows decoded before the unit's, and the unit's own kept rows.
                let before: u64 = kept
                    .iter()
                    .map(|k| k.end.min(range.start).saturating_sub(k.start))
                    .sum();
                let mine: Kept = intersect(kept, std::slice::from_ref(&range))
                    .into_iter()
                    .map(|k| k.start - range.start..k.end - range.start)
                    .collect();
                let len: u64 = mine.iter().map(|k| k.end - k.start).sum();
                if len == 0 {
                    return None;
                }
                Some(Part {
                    group: 0,
                    base: before as usize,
                    kept: (len < u.rows).then(|| Arc::new(RowMap::from_ranges(u.rows, &mine))),
                    offset: 0,
                })
            })
            .collect();
        Ok(Some((group, parts)))
    }
}

/// Sorted ranges with touching ones joined.
fn merge(sorted: Kept) -> Kept {
    let mut out: Kept = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The rows in both of two sorted, disjoint range lists.
fn intersect(a: &[std::ops::Range<u64>], b: &[std::ops::Range<u64>]) -> Kept {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (lo, hi) = (a[i].start.max(b[j].start), a[i].end.min(b[j].end));
        if lo < hi {
            out.push(lo..hi);
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// A window decoded: its row groups' rows, each unit's part of them, what they hold.
type Decoded = Result<(Vec<Group>, Vec<Option<Part>>, Hold)>;

/// A window decoded: per unit (in window order) its rows, or `None` when pruned.
pub(super) struct Loaded {
    pub(super) index: usize,
    /// The rows of the row groups decoded.
    pub(super) groups: Vec<Group>,
    pub(super) parts: Vec<Option<Part>>,
    /// First row (in window order) of each unit.
    pub(super) offsets: Vec<u64>,
    /// Window position → window row; `None` without a seed (the identity: storage order).
    pub(super) perm: Option<Vec<u32>>,
    /// The window's share of what the scan holds (given back when it is dropped).
    _holds: [Hold; 2],
}

/// The batches of a scan, in the exact order. See [`ScanBuilder`](super::ScanBuilder).
pub struct ScanBatches {
    pub(super) cursor: ScanCursor,
    pub(super) schema: SchemaRef,
    pub(super) filter: Option<Expr>,
    pub(super) plan: Plan,
    pub(super) range: std::ops::Range<u64>,
    pub(super) batch_size: u64,
    pub(super) workers: (u32, u32),
    /// Set after an error: the scan yields nothing more (its cursor still points at the
    /// failed batch, so a resumed scan retries it).
    pub(super) failed: bool,
    pub(super) shared: Arc<Shared>,
    pub(super) segments_pruned: u64,
    pub(super) pool: Arc<rayon::ThreadPool>,
    pub(super) read_ahead: usize,
    /// Order v2's memory budget: windows are decoded ahead only while the estimated bytes
    /// reserved stay within it.
    pub(super) budget: Option<u64>,
    /// Windows being decoded in the background, in window order, with their reservations.
    pub(super) pending: VecDeque<(usize, mpsc::Receiver<Decoded>, Hold)>,
    pub(super) window: Option<Loaded>,
}

impl std::fmt::Debug for ScanBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanBatches")
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl ScanBatches {
    /// The output schema.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    /// Where the scan stands: resuming from it yields exactly what this scan would yield next.
    pub fn cursor(&self) -> ScanCursor {
        self.cursor.clone()
    }
    /// The scan as an Arrow `RecordBatchReader` (errors become `ArrowError::ExternalError`
    /// holding the [`Error`]), for code that takes any Arrow stream.
    pub fn into_reader(self) -> impl arrow::array::RecordBatchReader + Send {
        let schema = self.schema.clone();
        arrow::array::RecordBatchIterator::new(
            self.map(|b| b.map_err(|e| arrow::error::ArrowError::ExternalError(Box::new(e)))),
            schema,
        )
    }

    /// Bytes and row groups read so far (including windows read ahead).
    pub fn stats(&self) -> ScanStats {
        let c = &self.shared.set.counters;
        ScanStats {
            bytes_read: c.bytes.load(Ordering::Relaxed),
            row_groups_read: c.row_groups.load(Ordering::Relaxed),
            row_groups_pruned: c.pruned.load(Ordering::Relaxed),
            segments_pruned: self.segments_pruned,
            page_rows_skipped: c.page_rows_skipped.load(Ordering::Relaxed),
            decoded_rows_peak: self.shared.held.rows_peak.load(Ordering::Relaxed),
            decoded_bytes_peak: self.shared.held.bytes_peak.load(Ordering::Relaxed),
            estimated_bytes_peak: self.shared.held.estimated_peak.load(Ordering::Relaxed),
            late_rows_skipped: c.late_rows_skipped.load(Ordering::Relaxed),
            late_row_groups_skipped: c.late_units_skipped.load(Ordering::Relaxed),
        }
    }

    /// Starts decoding windows after `w` that this rank will reach, up to `read_ahead` of them.
    fn read_ahead_from(&mut self, w: usize) {
        if self.range.is_empty() {
            return;
        }
        let last = self.plan.window_of(self.range.end - 1);
        for next in w + 1..=(w + self.read_ahead).min(last) {
            if self.pending.iter().any(|(i, _, _)| *i == next) {
                continue;
            }
            let estimated = self.plan.windows[next].bytes;
            if let Some(budget) = self.budget {
                // The estimate comes from compressed sizes: scale it by how far off it was for
                // the windows decoded so far, and count what is measured to be held.
                let held = &self.shared.held;
                let reserved = held
                    .projected(held.estimated.load(Ordering::Relaxed))
                    .max(held.bytes.load(Ordering::Relaxed));
                if reserved.saturating_add(held.projected(estimated)) > budget {
                    // Not now: the next load() tries again, once this window is given back.
                    break;
                }
            }
            let reservation = self.shared.held.hold(0, 0, estimated);
            let (tx, rx) = mpsc::channel();
            let shared = self.shared.clone();
            let units = self.plan.windows[next].units.clone();
            self.pool.spawn(move || {
                // The receiver may be gone (scan dropped): nothing to do then.
                let _ = tx.send(shared.decode_window(&units));
            });
            self.pending.push_back((next, rx, reservation));
        }
    }

    fn load(&mut self, w: usize) -> Result<()> {
        if self.window.as_ref().is_some_and(|l| l.index == w) {
            return Ok(());
        }
        self.window = None;
        while self.pending.front().is_some_and(|(i, _, _)| *i < w) {
            self.pending.pop_front();
        }
        let ahead = match self.pending.front() {
            Some((i, _, _)) if *i == w => self.pending.pop_front().map(|(_, rx, r)| (rx, r)),
            _ => None,
        };
        let (decoded, reservation) = match ahead {
            Some((rx, r)) => (rx.recv().ok(), r),
            None => (
                None,
                self.shared.held.hold(0, 0, self.plan.windows[w].bytes),
            ),
        };
        let parts = if let Some(decoded) = decoded {
            decoded
        } else {
            let (shared, units) = (&self.shared, &self.plan.windows[w].units);
            self.pool.install(|| shared.decode_window(units))
        };
        let (groups, parts, hold) = match parts {
            Ok(p) => p,
            Err(e) => {
                self.pending.clear();
                return Err(e);
            }
        };
        self.read_ahead_from(w);
        let win = &self.plan.windows[w];
        let mut offsets = Vec::with_capacity(win.units.len());
        let mut acc = 0;
        for &u in &win.units {
            offsets.push(acc);
            acc += self.plan.units[u].rows;
        }
        self.window = Some(Loaded {
            index: w,
            groups,
            parts,
            offsets,
            perm: self.plan.key.map(|_| self.plan.window_rows(w)),
            _holds: [reservation, hold],
        });
        Ok(())
    }

    /// The rows at rank positions `a..b`, in order, filtered.
    #[allow(clippy::many_single_char_names)] // positions a, b, p, q, r, w, k as in docs/order.md
    fn gather(&mut self, a: u64, b: u64) -> Result<Option<RecordBatch>> {
        let mut pieces: Vec<RecordBatch> = Vec::new();
        let mut p = self.range.start + a;
        let end = self.range.start + b;
        while p < end {
            let w = self.plan.window_of(p);
            self.load(w)?;
            let win = &self.plan.windows[w];
            let stop = end.min(win.start + win.rows);
            let loaded = self.window.as_ref().expect("loaded");
            // Every decoded batch of the window is a source; `base[g]` is the first of group g's.
            let mut sources: Vec<&RecordBatch> = Vec::new();
            let mut base = Vec::with_capacity(loaded.groups.len());
            for g in &loaded.groups {
                base.push(sources.len());
                sources.extend(&g.batches);
            }
            let (from, to) = (p - win.start, stop - win.start);
            match &loaded.perm {
                // Storage order: whole runs of a unit's rows are slices of its decoded batches.
                None => storage_order(loaded, &sources, &base, from, to, &mut pieces)?,
                Some(perm) => {
                    let rows = (from..to).map(|q| u64::from(perm[q as usize]));
                    if let Some(b) = pick(loaded, &sources, &base, rows)? {
                        pieces.push(b);
                    }
                }
            }
            p = stop;
        }
        if pieces.is_empty() {
            return Ok(None);
        }
        let read_schema = self.shared.read_schema.clone();
        let mut batch = arrow::compute::concat_batches(&read_schema, &pieces)
            .map_err(|e| Error::internal("assembling a batch", e))?;
        // Late-materialized parts hold only matching rows already.
        if let Some(f) = self.filter.as_ref().filter(|_| !self.shared.late) {
            let mask = f
                .evaluate(&batch)
                .map_err(|e| Error::internal("evaluating the filter", e))?;
            batch = arrow::compute::filter_record_batch(&batch, &mask)
                .map_err(|e| Error::internal("applying the filter", e))?;
        }
        let idx: Vec<usize> = self
            .schema
            .fields()
            .iter()
            .map(|f| {
                read_schema
                    .index_of(f.name())
                    .expect("read schema holds the output")
            })
            .collect();
        let batch = batch
            .project(&idx)
            .map_err(|e| Error::internal("projecting a batch", e))?;
        Ok(Some(batch))
    }
}

/// The rows `from..to` of a window in storage order: per unit, its decoded rows as slices of
/// the batches they were decoded in (no copy); a unit that kept only some rows (a filter, a
/// `since`) goes row by row through [`pick`].
#[allow(clippy::many_single_char_names)] // positions r, k, i, j, n as in `gather`
fn storage_order(
    loaded: &Loaded,
    sources: &[&RecordBatch],
    base: &[usize],
    from: u64,
    to: u64,
    pieces: &mut Vec<RecordBatch>,
) -> Result<()> {
    let mut r = from;
    while r < to {
        let k = loaded.offsets.partition_point(|&o| o <= r) - 1;
        let unit_end = loaded
            .offsets
            .get(k + 1)
            .copied()
            .unwrap_or(u64::MAX)
            .min(to);
        match loaded.parts[k].as_ref() {
            None => {} // pruned: none of its rows can match the filter
            Some(part) if part.kept.is_none() => {
                let g = &loaded.groups[part.group];
                let mut i = part.base + (r - loaded.offsets[k]) as usize;
                let mut left = (unit_end - r) as usize;
                while left > 0 {
                    let (j, row) = g.locate(i);
                    let n = left.min(g.batches[j].num_rows() - row);
                    pieces.push(sources[base[part.group] + j].slice(row, n));
                    i += n;
                    left -= n;
                }
            }
            Some(_) => {
                if let Some(b) = pick(loaded, sources, base, r..unit_end)? {
                    pieces.push(b);
                }
            }
        }
        r = unit_end;
    }
    Ok(())
}

/// The window rows `rows` (in output order) as one batch, `None` when none of them was kept;
/// rows of pruned units and pages are dropped (none of them can match the filter).
fn pick(
    loaded: &Loaded,
    sources: &[&RecordBatch],
    base: &[usize],
    rows: impl Iterator<Item = u64>,
) -> Result<Option<RecordBatch>> {
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(rows.size_hint().0);
    for r in rows {
        let k = loaded.offsets.partition_point(|&o| o <= r) - 1;
        if let Some(part) = loaded.parts[k].as_ref()
            && let Some(i) = part.index(r - loaded.offsets[k])
        {
            let (g, first) = (&loaded.groups[part.group], base[part.group]);
            // Consecutive rows mostly share a batch: try the last one first.
            let (j, row) = match picks.last() {
                Some(&(src, _)) if src >= first && src - first < g.batches.len() => {
                    let j = src - first;
                    let s = g.starts[j];
                    if s <= i && i - s < g.batches[j].num_rows() {
                        (j, i - s)
                    } else {
                        g.locate(i)
                    }
                }
                _ => g.locate(i),
            };
            picks.push((first + j, row));
        }
    }
    if picks.is_empty() {
        return Ok(None);
    }
    assemble(sources, &picks).map(Some)
}

/// The picked rows as one batch: a slice (no copy) when they are consecutive rows of one
/// source, as in storage order; otherwise one interleave per column gathers them.
fn assemble(sources: &[&RecordBatch], picks: &[(usize, usize)]) -> Result<RecordBatch> {
    let (s0, r0) = picks[0];
    if picks
        .iter()
        .enumerate()
        .all(|(n, &(s, r))| s == s0 && r == r0 + n)
    {
        return Ok(sources[s0].slice(r0, picks.len()));
    }
    let cols = (0..sources[0].num_columns())
        .map(|c| {
            let arrays: Vec<&dyn arrow::array::Array> =
                sources.iter().map(|b| b.column(c).as_ref()).collect();
            arrow::compute::interleave(&arrays, picks)
        })
        .collect::<std::result::Result<Vec<ArrayRef>, _>>()
        .map_err(|e| Error::internal("assembling a shuffled batch", e))?;
    Ok(RecordBatch::try_new(sources[0].schema(), cols).expect("same schema"))
}

impl Iterator for ScanBatches {
    type Item = Result<RecordBatch>;

    /// Yields batch after batch of the rank's sequence (for a worker: its batches only). With a
    /// filter a batch may hold fewer rows than `batch_size`, even none: empty batches are
    /// yielded too, so that merging workers round-robin rebuilds the rank's batches exactly.
    fn next(&mut self) -> Option<Self::Item> {
        let len = self.range.end - self.range.start;
        loop {
            if self.failed || self.cursor.left == Some(0) {
                return None;
            }
            let a = self.cursor.position;
            if a >= len {
                return None;
            }
            let b = (a + self.batch_size).min(len);
            // Batch numbers count from the start of the rank's sequence, so worker
            // assignment does not depend on where a resumed scan starts.
            let batch_no = a / self.batch_size;
            if batch_no % u64::from(self.workers.1) != u64::from(self.workers.0) {
                self.cursor.position = b;
                continue;
            }
            let mut batch = match self.gather(a, b) {
                Ok(Some(b)) => b,
                Ok(None) => RecordBatch::new_empty(self.schema.clone()),
                // The cursor stays before the failed batch: resuming retries it.
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            };
            self.cursor.position = b;
            if self.cursor.skip > 0 {
                let n = (batch.num_rows() as u64).min(self.cursor.skip);
                self.cursor.skip -= n;
                batch = batch.slice(n as usize, batch.num_rows() - n as usize);
            }
            if let Some(left) = &mut self.cursor.left {
                let n = (batch.num_rows() as u64).min(*left);
                *left -= n;
                batch = batch.slice(0, n as usize);
            }
            if batch.num_rows() == 0 && self.filter.is_none() && self.shared.selected.is_empty() {
                // Only offset emptied it; without a filter or `since` batches are never empty.
                continue;
            }
            return Some(Ok(batch));
        }
    }
}
