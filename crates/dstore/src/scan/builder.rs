//! The scan builder: projection, filter, limit/offset, batch size, verified reads, and the
//! exact shuffled and sharded order of [`super::order`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::filter::{Expr, column_range};
use super::order::{Plan, Unit, epoch_key};
use super::read::{Kept, SegmentSet};
use crate::error::{Error, Result};
use crate::snapshot::Snapshot;

/// Where an interrupted scan stands; save it (serde) and [`ScanBuilder::resume`] continues the
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
    /// matches (unverified reads only: see [`ScanBuilder::verify`]).
    pub page_rows_skipped: u64,
}

/// Builds a scan of one table of a snapshot. See [`Snapshot::scan`].
#[derive(Debug, Clone)]
pub struct ScanBuilder {
    snap: Snapshot,
    table: String,
    columns: Option<Vec<String>>,
    filter: Option<Expr>,
    limit: Option<u64>,
    offset: u64,
    batch_size: usize,
    seed: Option<u64>,
    epoch: u64,
    shard: (u32, u32),
    workers: (u32, u32),
    window: usize,
    threads: usize,
    read_ahead: usize,
    verify: bool,
    page_index: bool,
    position: u64,
}

impl Snapshot {
    /// A scan of `table`: storage order, all columns, verified reads, 8192-row batches.
    pub fn scan(&self, table: &str) -> Result<ScanBuilder> {
        self.table(table)?;
        Ok(ScanBuilder {
            snap: self.clone(),
            table: table.to_owned(),
            columns: None,
            filter: None,
            limit: None,
            offset: 0,
            batch_size: 8192,
            seed: None,
            epoch: 0,
            shard: (0, 1),
            workers: (0, 1),
            window: 4,
            threads: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            read_ahead: 1,
            verify: true,
            page_index: true,
            position: 0,
        })
    }
}

impl ScanBuilder {
    /// Only these columns, in this order.
    #[must_use]
    pub fn columns<S: Into<String>>(mut self, cols: impl IntoIterator<Item = S>) -> Self {
        self.columns = Some(cols.into_iter().map(Into::into).collect());
        self
    }
    /// Only rows matching `expr` (pushed down to segment and row-group statistics).
    #[must_use]
    pub fn filter(mut self, expr: Expr) -> Self {
        self.filter = Some(expr);
        self
    }
    /// At most `n` rows (after filtering and `offset`).
    #[must_use]
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }
    /// Skip the first `n` rows (after filtering).
    #[must_use]
    pub fn offset(mut self, n: u64) -> Self {
        self.offset = n;
        self
    }
    /// Rows per batch (before filtering).
    #[must_use]
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }
    /// Shuffle rows with this seed (see `docs/order.md`).
    #[must_use]
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// The epoch: each gives a different permutation.
    #[must_use]
    pub fn epoch(mut self, e: u64) -> Self {
        self.epoch = e;
        self
    }
    /// This rank's contiguous share of the epoch's sequence.
    #[must_use]
    pub fn shard(mut self, rank: u32, world: u32) -> Self {
        self.shard = (rank, world.max(1));
        self
    }
    /// Produce only batches `w, w+n, w+2n, …` of this rank's batch sequence (for data loader
    /// workers: an in-order round-robin merge of the workers rebuilds the rank's sequence).
    #[must_use]
    pub fn workers(mut self, worker: u32, num_workers: u32) -> Self {
        self.workers = (worker, num_workers.max(1));
        self
    }
    /// Row groups whose rows are mixed together (the shuffle's quality knob; memory grows
    /// with it). Default 4.
    #[must_use]
    pub fn window(mut self, row_groups: usize) -> Self {
        self.window = row_groups.max(1);
        self
    }
    /// Threads decoding row groups. Never changes the output.
    #[must_use]
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }
    /// Windows decoded ahead of the one being consumed, in the background (default 1; 0
    /// decodes each window when it is reached). Memory holds at most `1 + n` decoded windows.
    /// Never changes the output.
    #[must_use]
    pub fn read_ahead(mut self, windows: usize) -> Self {
        self.read_ahead = windows;
        self
    }
    /// Verify the bytes read against the manifest's hashes (default on).
    ///
    /// Verification works on whole column chunks (the unit the manifest hashes), and a v1
    /// manifest does not hash Parquet page indexes, so verified scans prune by segment and
    /// row-group statistics (from the manifest) only. With verification off, a filter also
    /// uses the segments' page indexes: pages that cannot match are neither fetched nor decoded.
    #[must_use]
    pub fn verify(mut self, on: bool) -> Self {
        self.verify = on;
        self
    }
    /// Whether unverified scans use Parquet page indexes for filters (default on; verified
    /// scans never do).
    #[must_use]
    pub fn page_index(mut self, on: bool) -> Self {
        self.page_index = on;
        self
    }
    /// Continue from a saved cursor (its seed, epoch and shard replace the builder's).
    pub fn resume(mut self, cursor: &ScanCursor) -> Result<Self> {
        if cursor.snapshot != self.snap.id().to_hex() || cursor.table != self.table {
            return Err(Error::InvalidInput {
                path: None,
                detail: format!(
                    "cursor is for {}:{} but the scan is of {}:{}",
                    cursor.snapshot,
                    cursor.table,
                    self.snap.id(),
                    self.table
                ),
                hint: Some("resume with the snapshot and table the cursor was saved from".into()),
            });
        }
        self.seed = cursor.seed;
        self.epoch = cursor.epoch;
        self.shard = cursor.shard;
        self.window = cursor.window.max(1);
        self.position = cursor.position;
        self.offset = cursor.skip;
        self.limit = cursor.left;
        Ok(self)
    }

    /// Starts the scan.
    pub fn batches(self) -> Result<ScanBatches> {
        let invalid = |detail: String, hint: &str| Error::InvalidInput {
            path: None,
            detail,
            hint: Some(hint.to_owned()),
        };
        if self.shard.0 >= self.shard.1 {
            return Err(invalid(
                format!(
                    "rank {} is outside a world of {}",
                    self.shard.0, self.shard.1
                ),
                "ranks count from 0 to world size - 1",
            ));
        }
        if self.workers.0 >= self.workers.1 {
            return Err(invalid(
                format!(
                    "worker {} is outside {} workers",
                    self.workers.0, self.workers.1
                ),
                "workers count from 0 to the number of workers - 1",
            ));
        }
        if self.workers.1 > 1 && (self.offset > 0 || self.limit.is_some()) {
            return Err(invalid(
                "offset and limit apply to a rank's whole sequence, which no single worker sees"
                    .into(),
                "apply offset/limit after merging the workers' batches, or use one worker",
            ));
        }
        let t = self.snap.table(&self.table)?;
        let table_schema = t.schema.clone();
        let schema: SchemaRef = match &self.columns {
            None => table_schema.clone(),
            Some(cols) => {
                let fields =
                    cols.iter()
                        .map(|c| {
                            table_schema.field_with_name(c).cloned().map_err(|_| {
                                Error::InvalidInput {
                                    path: None,
                                    detail: format!("table `{}` has no column `{c}`", self.table),
                                    hint: Some(format!(
                                        "columns are: {}",
                                        table_schema
                                            .fields()
                                            .iter()
                                            .map(|f| f.name().as_str())
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    )),
                                }
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                Arc::new(Schema::new(fields))
            }
        };
        let filter = match &self.filter {
            Some(f) => Some(
                f.bind(&table_schema)
                    .map_err(|e| Error::invalid(e.to_string()))?,
            ),
            None => None,
        };
        // Decoded columns: the output's plus those only the filter needs.
        let mut read_fields: Vec<arrow::datatypes::FieldRef> =
            schema.fields().iter().cloned().collect();
        if let Some(f) = &filter {
            for c in f.columns() {
                if schema.field_with_name(&c).is_err() {
                    read_fields.push(Arc::new(
                        table_schema.field_with_name(&c).expect("bound").clone(),
                    ));
                }
            }
        }
        let read_schema = Arc::new(Schema::new(read_fields));
        let entries = self.snap.segments(&self.table)?;
        let mut units = Vec::new();
        let mut start = 0;
        for (s, e) in entries.iter().enumerate() {
            for (g, rg) in e.row_groups.iter().enumerate() {
                units.push(Unit {
                    segment: s,
                    row_group: g,
                    rows: rg.rows,
                    start,
                });
                start += rg.rows;
            }
        }
        let key = self
            .seed
            .map(|seed| epoch_key(self.snap.id().as_bytes(), &self.table, seed, self.epoch));
        let plan = Plan::new(units, key, self.window);
        // Units whose statistics prove the filter matches nothing are never read: first whole
        // segments (by their merged statistics), then the row groups of the rest.
        let mut segments_pruned = 0;
        let prunable: Vec<bool> = match &filter {
            None => vec![false; plan.units.len()],
            Some(f) => {
                let stats_of = |e: &dstore_format::SegmentEntry, rg: Option<usize>| {
                    !f.may_match(&|name: &str| {
                        let field = table_schema.field_with_name(name).ok()?;
                        let i = e
                            .columns
                            .iter()
                            .position(|c| c.path.len() == 1 && c.path[0] == *name)?;
                        let (stats, rows) = match rg {
                            None => (&e.columns[i].stats, e.rows),
                            Some(g) => (&e.row_groups[g].chunks[i].stats, e.row_groups[g].rows),
                        };
                        Some(column_range(
                            field.data_type(),
                            e.columns[i].physical_type,
                            stats,
                            rows,
                        ))
                    })
                };
                let whole: Vec<bool> = entries.iter().map(|e| stats_of(e, None)).collect();
                segments_pruned = whole.iter().filter(|&&p| p).count() as u64;
                plan.units
                    .iter()
                    .map(|u| whole[u.segment] || stats_of(&entries[u.segment], Some(u.row_group)))
                    .collect()
            }
        };
        let range = plan.rank_range(self.shard.0, self.shard.1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .build()
            .map_err(|e| Error::internal("starting the scan thread pool", e))?;
        let set = SegmentSet::new(
            self.snap.store().storage_arc(),
            entries,
            self.verify,
            self.page_index && filter.is_some(),
        );
        let shared = Arc::new(Shared {
            set,
            units: plan.units.clone(),
            prunable,
            read_schema,
            table_schema,
            filter: filter.clone(),
        });
        Ok(ScanBatches {
            cursor: ScanCursor {
                snapshot: self.snap.id().to_hex(),
                table: self.table.clone(),
                seed: self.seed,
                epoch: self.epoch,
                shard: self.shard,
                window: self.window,
                position: self.position,
                skip: self.offset,
                left: self.limit,
            },
            schema,
            filter,
            plan,
            range,
            batch_size: self.batch_size as u64,
            workers: self.workers,
            failed: false,
            shared,
            segments_pruned,
            pool: Arc::new(pool),
            read_ahead: self.read_ahead,
            pending: VecDeque::new(),
            window: None,
        })
    }
}

/// What decoding needs, shared with background (read-ahead) jobs.
struct Shared {
    set: SegmentSet,
    units: Vec<Unit>,
    /// Per unit: statistics prove no row matches the filter.
    prunable: Vec<bool>,
    /// Decoded columns: the output's plus those only the filter needs.
    read_schema: SchemaRef,
    table_schema: SchemaRef,
    filter: Option<Expr>,
}

/// One unit of a window, decoded: its rows, or only those a page selection kept.
struct Part {
    batch: RecordBatch,
    /// Rows of the unit the batch holds (`None`: all), and the batch index of each range's
    /// first row.
    kept: Option<(Kept, Vec<u64>)>,
}

impl Part {
    /// Index in `batch` of the unit's row `r`, if it was decoded.
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
                let batch = self.set.decode(
                    unit.segment,
                    unit.row_group,
                    &self.read_schema,
                    kept.as_ref(),
                )?;
                let kept = kept.map(|k| {
                    let mut firsts = Vec::with_capacity(k.len());
                    let mut acc = 0;
                    for r in &k {
                        firsts.push(acc);
                        acc += r.end - r.start;
                    }
                    (k, firsts)
                });
                Ok(Some(Part { batch, kept }))
            })
            .collect()
    }
}

type Decoded = Result<Vec<Option<Part>>>;

/// A window decoded: per unit (in window order) its rows, or `None` when pruned.
struct Loaded {
    index: usize,
    parts: Vec<Option<Part>>,
    /// First row (in window order) of each unit.
    offsets: Vec<u64>,
    perm: Vec<u32>,
}

/// The batches of a scan, in the exact order. See [`ScanBuilder`].
pub struct ScanBatches {
    cursor: ScanCursor,
    schema: SchemaRef,
    filter: Option<Expr>,
    plan: Plan,
    range: std::ops::Range<u64>,
    batch_size: u64,
    workers: (u32, u32),
    /// Set after an error: the scan yields nothing more (its cursor still points at the
    /// failed batch, so a resumed scan retries it).
    failed: bool,
    shared: Arc<Shared>,
    segments_pruned: u64,
    pool: Arc<rayon::ThreadPool>,
    read_ahead: usize,
    /// Windows being decoded in the background, in window order.
    pending: VecDeque<(usize, mpsc::Receiver<Decoded>)>,
    window: Option<Loaded>,
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
            // (unit in window, row) per output row, in order; rows of pruned units and pages
            // are dropped (none of them can match the filter). One interleave per column
            // gathers them.
            let mut picks: Vec<(usize, usize)> = Vec::with_capacity((stop - p) as usize);
            for q in p..stop {
                let r = u64::from(loaded.perm[(q - win.start) as usize]);
                let k = loaded.offsets.partition_point(|&o| o <= r) - 1;
                if let Some(i) = loaded.parts[k]
                    .as_ref()
                    .and_then(|part| part.index(r - loaded.offsets[k]))
                {
                    picks.push((k, i));
                }
            }
            if !picks.is_empty() {
                // Interleave wants every source: pruned units stand in as the first decoded one
                // (never picked).
                let first = &loaded
                    .parts
                    .iter()
                    .flatten()
                    .next()
                    .expect("a pick implies a decoded unit")
                    .batch;
                let cols = (0..first.num_columns())
                    .map(|c| {
                        let arrays: Vec<&dyn arrow::array::Array> = loaded
                            .parts
                            .iter()
                            .map(|part| {
                                part.as_ref().map_or(first, |p| &p.batch).column(c).as_ref()
                            })
                            .collect();
                        arrow::compute::interleave(&arrays, &picks)
                    })
                    .collect::<std::result::Result<Vec<ArrayRef>, _>>()
                    .map_err(|e| Error::internal("assembling a shuffled batch", e))?;
                pieces.push(RecordBatch::try_new(first.schema(), cols).expect("same schema"));
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

impl Snapshot {
    /// Rows of `table` by global row number (storage order, from 0), in the order given,
    /// reading (and verifying) only the row groups that hold them. `columns` projects.
    pub fn take(&self, table: &str, rows: &[u64], columns: Option<&[&str]>) -> Result<RecordBatch> {
        let mut scan = self.scan(table)?;
        if let Some(c) = columns {
            scan = scan.columns(c.iter().copied());
        }
        let batches = scan.batches()?;
        let units = &batches.shared.units;
        let total = batches.plan.total;
        let mut needed: Vec<usize> = Vec::new();
        let mut picks = Vec::with_capacity(rows.len());
        for &r in rows {
            if r >= total {
                return Err(Error::invalid(format!(
                    "row {r} is past the end of table `{table}` ({total} rows)"
                )));
            }
            let u = units.partition_point(|u| u.start + u.rows <= r);
            let slot = if let Some(s) = needed.iter().position(|&n| n == u) {
                s
            } else {
                needed.push(u);
                needed.len() - 1
            };
            picks.push((slot, (r - units[u].start) as usize));
        }
        let decoded = batches.pool.install(|| {
            use rayon::prelude::*;
            needed
                .par_iter()
                .map(|&u| {
                    batches.shared.set.decode(
                        units[u].segment,
                        units[u].row_group,
                        &batches.schema,
                        None,
                    )
                })
                .collect::<Result<Vec<_>>>()
        })?;
        let cols = (0..batches.schema.fields().len())
            .map(|c| {
                let arrays: Vec<&dyn arrow::array::Array> =
                    decoded.iter().map(|b| b.column(c).as_ref()).collect();
                arrow::compute::interleave(&arrays, &picks)
            })
            .collect::<std::result::Result<Vec<ArrayRef>, _>>()
            .map_err(|e| Error::internal("assembling a shuffled batch", e))?;
        RecordBatch::try_new(batches.schema.clone(), cols)
            .map_err(|e| Error::internal("assembling the rows taken", e))
    }
}
