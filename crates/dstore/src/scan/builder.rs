//! The scan builder: projection, filter, limit/offset, batch size, verified reads, and the
//! exact shuffled and sharded order of [`super::order`].

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};

use super::batches::{ScanBatches, ScanCursor, Shared};
use super::filter::{Expr, column_range};
use super::order::{
    DEFAULT_MEMORY_BUDGET, DEFAULT_ORDER_VERSION, ORDER_VERSIONS, OrderSpec, Plan, epoch_key,
};
use super::read::SegmentSet;
use super::selection::{SegmentRows, restrict_units};
use crate::error::{Error, Result};
use crate::snapshot::Snapshot;

/// How a `since` scan finds its rows: `(old, new, table, verify)` to the rows of `new` that
/// `old` lacks. Set by `crate::diff`, which owns the row comparison (so this file does not
/// call it: the diff reads through scans).
pub(crate) type SinceRows = fn(&Snapshot, &Snapshot, &str, bool) -> Result<Vec<SegmentRows>>;

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
    /// Order v1's window, when set (by [`ScanBuilder::window`] or a v1 cursor).
    window: Option<usize>,
    order_version: u32,
    /// Order v2's budget, when set (by [`ScanBuilder::memory_budget`] or a v2 cursor).
    memory_budget: Option<u64>,
    threads: usize,
    read_ahead: usize,
    verify: bool,
    page_index: bool,
    late: bool,
    position: u64,
    since: Option<(Snapshot, SinceRows)>,
    /// Only these segments (and rows) of the table: `since`'s rows, or the diff's own reads.
    restrict: Option<Arc<Vec<SegmentRows>>>,
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
            window: None,
            order_version: DEFAULT_ORDER_VERSION,
            memory_budget: None,
            threads: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            read_ahead: 1,
            verify: true,
            page_index: true,
            late: true,
            position: 0,
            since: None,
            restrict: None,
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
    /// Order v1 only: row groups whose rows are mixed together (v1's quality knob; memory
    /// grows with it). Default 4. An order v2 scan sizes its windows by
    /// [`ScanBuilder::memory_budget`] instead, and refuses this option.
    #[must_use]
    pub fn window(mut self, row_groups: usize) -> Self {
        self.window = Some(row_groups.max(1));
        self
    }
    /// Which order the scan follows (`docs/order.md`): 2 (the default) cuts row groups into
    /// row ranges of bounded size and mixes rows from across the table within a memory budget;
    /// 1 is the order of earlier releases (row groups as units, windows of
    /// [`ScanBuilder::window`] row groups), kept so runs made with it can be reproduced.
    #[must_use]
    pub fn order_version(mut self, version: u32) -> Self {
        self.order_version = version;
        self
    }
    /// Order v2: estimated decoded bytes a scan holds at once (default 512 MiB): windows are
    /// cut to half of it, the other half is for the window decoded ahead. Part of the order
    /// (a larger budget mixes rows of more of the table together), so cursors record it.
    #[must_use]
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.memory_budget = Some(bytes);
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
    /// Verify the bytes read against the segment ids (default on).
    ///
    /// Whole column chunks are checked against the manifest's chunk hashes. A filter prunes
    /// by segment and row-group statistics (from the manifest), and, in segments with an
    /// outboard (docs/format.md §15; every segment committed by this version has one) of more
    /// than 64 KiB, by the Parquet page index too: the footer, the index and each page fetched
    /// are then checked by 16 KiB chunk group against the outboard, so pages that cannot match
    /// are neither fetched nor decoded. Segments without an outboard (older stores) are pruned
    /// by row group only when verifying. With verification off, a filter always uses the page
    /// index.
    #[must_use]
    pub fn verify(mut self, on: bool) -> Self {
        self.verify = on;
        self
    }
    /// Whether filters use Parquet page indexes (default on; verified scans only where an
    /// outboard lets the index be checked, see [`ScanBuilder::verify`]).
    #[must_use]
    pub fn page_index(mut self, on: bool) -> Self {
        self.page_index = on;
        self
    }
    /// Whether a filtered scan decodes the filter's columns of a row group first and the other
    /// columns only for the rows that match (default on). Row groups where nothing matches
    /// then cost only their filter columns, and with an offset index (and, for verified reads,
    /// an outboard) pages of the other columns without a selected row are not fetched either.
    /// Selections that alternate in runs of under 32 rows are decoded whole and filtered in
    /// memory instead. Never changes the output.
    #[must_use]
    pub fn late_materialization(mut self, on: bool) -> Self {
        self.late = on;
        self
    }
    /// A scan of the rows `rows` finds (see `ScanBuilder::since` in `crate::diff`).
    #[must_use]
    pub(crate) fn since_with(mut self, old: &Snapshot, rows: SinceRows) -> Self {
        self.since = Some((old.clone(), rows));
        self
    }
    /// Only these segments and rows of the table (crate-internal: the row diff's reads).
    #[must_use]
    pub(crate) fn restrict(mut self, rows: Arc<Vec<SegmentRows>>) -> Self {
        self.restrict = Some(rows);
        self
    }
    /// Continue from a saved cursor (its seed, epoch and shard replace the builder's).
    pub fn resume(mut self, cursor: &ScanCursor) -> Result<Self> {
        let since = self.since.as_ref().map(|s| s.0.id().to_hex());
        if cursor.since != since {
            return Err(Error::InvalidInput {
                path: None,
                detail: format!(
                    "cursor is of a scan since {} but this scan is since {}",
                    cursor
                        .since
                        .as_deref()
                        .unwrap_or("nothing (a whole-table scan)"),
                    since.as_deref().unwrap_or("nothing (a whole-table scan)"),
                ),
                hint: Some(
                    "resume with the same `since` snapshot the cursor was saved with".into(),
                ),
            });
        }
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
        self.order_version = cursor.order;
        self.window = (cursor.order == 1).then_some(cursor.window.max(1));
        self.memory_budget = (cursor.order != 1).then_some(cursor.memory_budget);
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
        if !ORDER_VERSIONS.contains(&self.order_version) {
            return Err(invalid(
                format!(
                    "scan order version {} is not one this build knows (it knows {:?})",
                    self.order_version, ORDER_VERSIONS
                ),
                "use order version 2 (the default) or 1 (the order of earlier releases)",
            ));
        }
        let spec = if self.order_version == 1 {
            if let Some(b) = self.memory_budget {
                return Err(invalid(
                    format!(
                        "a memory budget ({b} bytes) is an option of scan order v2, but this scan uses order v1"
                    ),
                    "order v1 sizes its windows in row groups: set a window instead, or use order version 2",
                ));
            }
            OrderSpec::V1 {
                window: self.window.unwrap_or(4),
            }
        } else {
            if let Some(w) = self.window {
                return Err(invalid(
                    format!(
                        "a window of {w} row groups is an option of scan order v1, but this scan uses order v2"
                    ),
                    "order v2 sizes its windows by the memory budget: set that instead, or select order version 1 to use windows",
                ));
            }
            let memory_budget = self.memory_budget.unwrap_or(DEFAULT_MEMORY_BUDGET);
            if memory_budget == 0 {
                return Err(invalid(
                    "a memory budget of 0 bytes leaves no room to decode any rows".into(),
                    "give a budget of at least a few MiB (default 512 MiB)",
                ));
            }
            OrderSpec::V2 { memory_budget }
        };
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
        let restrict = match (&self.restrict, &self.since) {
            (Some(r), _) => Some(r.clone()),
            (None, Some((old, rows))) => {
                Some(Arc::new(rows(old, &self.snap, &self.table, self.verify)?))
            }
            (None, None) => None,
        };
        let (units, selected) = restrict_units(
            super::order::units(&entries, spec),
            &entries,
            restrict.as_deref(),
        );
        let key = self.seed.map(|seed| {
            epoch_key(
                spec,
                self.snap.id().as_bytes(),
                &self.table,
                seed,
                self.epoch,
            )
        });
        let plan = Plan::new(units, key, spec);
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
                // Judged per row group; order v2's units of one row group share the verdict.
                let mut last: Option<((usize, usize), bool)> = None;
                plan.units
                    .iter()
                    .map(|u| {
                        let at = (u.segment, u.row_group);
                        match last {
                            Some((g, p)) if g == at => p,
                            _ => {
                                let p = whole[u.segment]
                                    || stats_of(&entries[u.segment], Some(u.row_group));
                                last = Some((at, p));
                                p
                            }
                        }
                    })
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
        )
        .with_chunk_cache(match spec {
            // v1 decodes each row group whole, once per window it is in: nothing to share.
            OrderSpec::V1 { .. } => 0,
            // v2 reads a row group in parts, window after window: keep its verified chunks
            // (compressed bytes) within a quarter of the budget.
            OrderSpec::V2 { memory_budget } => memory_budget / 4,
        });
        let shared = Arc::new(Shared {
            set,
            units: plan.units.clone(),
            prunable,
            read_schema,
            table_schema,
            filter: filter.clone(),
            held: Arc::default(),
            late: self.late,
            selected,
        });
        Ok(ScanBatches {
            cursor: ScanCursor {
                snapshot: self.snap.id().to_hex(),
                table: self.table.clone(),
                seed: self.seed,
                epoch: self.epoch,
                shard: self.shard,
                window: self.window.unwrap_or(4),
                order: self.order_version,
                memory_budget: match spec {
                    OrderSpec::V1 { .. } => DEFAULT_MEMORY_BUDGET,
                    OrderSpec::V2 { memory_budget } => memory_budget,
                },
                position: self.position,
                skip: self.offset,
                left: self.limit,
                since: self.since.as_ref().map(|s| s.0.id().to_hex()),
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
            budget: match spec {
                OrderSpec::V1 { .. } => None,
                OrderSpec::V2 { memory_budget } => Some(memory_budget),
            },
            pending: VecDeque::new(),
            window: None,
        })
    }
}

impl ScanBatches {
    /// Positions in an epoch's sequence (of all ranks): the rows of the units scanned, before
    /// a filter or `since` drops any. With `since`, the rows of the segments not in the old
    /// snapshot. Rank `r` of `w` takes `floor(r·N/w) .. floor((r+1)·N/w)` of them.
    pub fn positions(&self) -> u64 {
        self.plan.total
    }
}
