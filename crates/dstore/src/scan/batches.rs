//! [`ScanBatches`]: the batches of a scan in the exact order, decoded window by window on a
//! rayon pool with read-ahead, and the [`ScanCursor`] that resumes them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};

use super::filter::Expr;
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
    /// Row groups per shuffle window (part of the order).
    #[serde(default = "default_window")]
    pub window: usize,
    /// Rows of this rank's sequence already delivered (counted before filtering).
    pub position: u64,
    /// Rows of `offset` still to skip.
    #[serde(default)]
    pub skip: u64,
    /// Rows of `limit` still to deliver, if limited.
    #[serde(default)]
    pub left: Option<u64>,
}

fn default_window() -> usize {
    4
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
    /// matches (unverified reads only: see [`ScanBuilder::verify`](super::ScanBuilder::verify)).
    pub page_rows_skipped: u64,
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
}

/// One unit of a window, decoded: its rows, or only those a page selection kept.
pub(super) struct Part {
    /// The decoded rows, in batches as the decoder made them (never concatenated).
    pub(super) batches: Vec<RecordBatch>,
    /// Index (in the decoded rows) of each batch's first row.
    pub(super) starts: Vec<usize>,
    /// Rows of the unit the batches hold (`None`: all), and the decoded index of each range's
    /// first row.
    pub(super) kept: Option<(Kept, Vec<u64>)>,
}

impl Part {
    /// The batch and the row in it of decoded row `i`.
    fn locate(&self, i: usize) -> (usize, usize) {
        let j = self.starts.partition_point(|&s| s <= i) - 1;
        (j, i - self.starts[j])
    }

    /// Index in the decoded rows of the unit's row `r`, if it was decoded.
    fn index(&self, r: u64) -> Option<usize> {
        match &self.kept {
            None => Some(r as usize),
            Some((kept, firsts)) => {
                let j = kept.partition_point(|k| k.end <= r);
                (j < kept.len() && kept[j].start <= r)
                    .then(|| (firsts[j] + r - kept[j].start) as usize)
            }
        }
    }
}

impl Shared {
    /// Decodes the units of a window (in parallel on the current pool); `None` for pruned
    /// units.
    fn decode_window(&self, units: &[usize]) -> Result<Vec<Option<Part>>> {
        use rayon::prelude::*;
        units
            .par_iter()
            .map(|&u| {
                if self.prunable[u] {
                    self.set.counters.pruned.fetch_add(1, Ordering::Relaxed);
                    return Ok(None);
                }
                let unit = self.units[u];
                let kept = match &self.filter {
                    Some(f) => self.set.page_selection(
                        unit.segment,
                        unit.row_group,
                        f,
                        &self.table_schema,
                    )?,
                    None => None,
                };
                if kept.as_ref().is_some_and(Vec::is_empty) {
                    return Ok(None);
                }
                let batches = self.set.decode_batches(
                    unit.segment,
                    unit.row_group,
                    &self.read_schema,
                    kept.as_ref(),
                    DECODE_BATCH_ROWS,
                )?;
                let mut starts = Vec::with_capacity(batches.len());
                let mut at = 0;
                for b in &batches {
                    starts.push(at);
                    at += b.num_rows();
                }
                let kept = kept.map(|k| {
                    let mut firsts = Vec::with_capacity(k.len());
                    let mut acc = 0;
                    for r in &k {
                        firsts.push(acc);
                        acc += r.end - r.start;
                    }
                    (k, firsts)
                });
                Ok(Some(Part {
                    batches,
                    starts,
                    kept,
                }))
            })
            .collect()
    }
}

type Decoded = Result<Vec<Option<Part>>>;

/// A window decoded: per unit (in window order) its rows, or `None` when pruned.
pub(super) struct Loaded {
    pub(super) index: usize,
    pub(super) parts: Vec<Option<Part>>,
    /// First row (in window order) of each unit.
    pub(super) offsets: Vec<u64>,
    pub(super) perm: Vec<u32>,
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
    /// Windows being decoded in the background, in window order.
    pub(super) pending: VecDeque<(usize, mpsc::Receiver<Decoded>)>,
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
        }
    }

    /// Starts decoding windows after `w` that this rank will reach, up to `read_ahead` of them.
    fn read_ahead_from(&mut self, w: usize) {
        if self.range.is_empty() {
            return;
        }
        let last = self.plan.window_of(self.range.end - 1);
        for next in w + 1..=(w + self.read_ahead).min(last) {
            if self.pending.iter().any(|(i, _)| *i == next) {
                continue;
            }
            let (tx, rx) = mpsc::channel();
            let shared = self.shared.clone();
            let units = self.plan.windows[next].units.clone();
            self.pool.spawn(move || {
                // The receiver may be gone (scan dropped): nothing to do then.
                let _ = tx.send(shared.decode_window(&units));
            });
            self.pending.push_back((next, rx));
        }
    }

    fn load(&mut self, w: usize) -> Result<()> {
        if self.window.as_ref().is_some_and(|l| l.index == w) {
            return Ok(());
        }
        self.window = None;
        while self.pending.front().is_some_and(|(i, _)| *i < w) {
            self.pending.pop_front();
        }
        let ahead = match self.pending.front() {
            Some((i, _)) if *i == w => self.pending.pop_front().map(|(_, rx)| rx),
            _ => None,
        };
        let parts = if let Some(decoded) = ahead.and_then(|rx| rx.recv().ok()) {
            decoded
        } else {
            let (shared, units) = (&self.shared, &self.plan.windows[w].units);
            self.pool.install(|| shared.decode_window(units))
        };
        let parts = match parts {
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
            parts,
            offsets,
            perm: self.plan.window_rows(w),
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
            // Every decoded batch of the window is a source; `base[k]` is the first of unit k's.
            let mut sources: Vec<&RecordBatch> = Vec::new();
            let mut base = Vec::with_capacity(loaded.parts.len());
            for part in &loaded.parts {
                base.push(sources.len());
                if let Some(part) = part {
                    sources.extend(&part.batches);
                }
            }
            // (source, row) per output row, in order; rows of pruned units and pages are
            // dropped (none of them can match the filter).
            let mut picks: Vec<(usize, usize)> = Vec::with_capacity((stop - p) as usize);
            for q in p..stop {
                let r = u64::from(loaded.perm[(q - win.start) as usize]);
                let k = loaded.offsets.partition_point(|&o| o <= r) - 1;
                if let Some(part) = loaded.parts[k].as_ref()
                    && let Some(i) = part.index(r - loaded.offsets[k])
                {
                    // Consecutive rows mostly share a batch: try the last one first.
                    let (j, row) = match picks.last() {
                        Some(&(src, _)) if src >= base[k] => {
                            let j = src - base[k];
                            match part.starts.get(j) {
                                Some(&s) if s <= i && i - s < part.batches[j].num_rows() => {
                                    (j, i - s)
                                }
                                _ => part.locate(i),
                            }
                        }
                        _ => part.locate(i),
                    };
                    picks.push((base[k] + j, row));
                }
            }
            if !picks.is_empty() {
                pieces.push(assemble(&sources, &picks)?);
            }
            p = stop;
        }
        if pieces.is_empty() {
            return Ok(None);
        }
        let read_schema = self.shared.read_schema.clone();
        let mut batch = arrow::compute::concat_batches(&read_schema, &pieces)
            .map_err(|e| Error::internal("assembling a batch", e))?;
        if let Some(f) = &self.filter {
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
            if batch.num_rows() == 0 && self.filter.is_none() {
                // Only offset emptied it; without a filter batches are never empty.
                continue;
            }
            return Some(Ok(batch));
        }
    }
}
