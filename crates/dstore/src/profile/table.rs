//! A table's profile: its segments' profiles (loaded from `derived/`, or computed from the
//! segment and cached there) merged in segment order; and the summary `dstore stats` prints.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use dstore_format::SegmentEntry;
use rayon::prelude::*;

use super::column::{ColumnProfile, FrequentValue, ValueKind};
use super::kll::RANK_ERROR;
use super::segment::SegmentProfile;
use crate::error::{Error, Result};
use crate::snapshot::Snapshot;
use crate::store::Store;

/// The merged profile of a table in one snapshot.
#[derive(Debug, Clone)]
pub struct TableProfile {
    /// The table.
    pub table: String,
    /// Rows.
    pub rows: u64,
    /// Segments merged.
    pub segments: u64,
    /// Segments whose profile was computed now (none was stored, or it was damaged).
    pub computed: u64,
    /// Segments of which only some rows are counted ([`Snapshot::profile_since`]): profiled
    /// now from exactly those rows (never stored: such a profile is of no segment).
    pub partial: u64,
    /// Columns, depth first in schema order.
    pub columns: Vec<ColumnProfile>,
}

/// How a segment's profile was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Stored,
    Computed,
}

/// The profile of segment `e`: the stored one if it is there and sound, else computed from the
/// segment (checked against its id first) and stored, durably, for next time. A store that
/// cannot be written (read-only, a reader without permission) still gets the profile.
fn segment_profile(store: &Store, e: &SegmentEntry) -> Result<(SegmentProfile, Source)> {
    match crate::derived::load_profile(store.storage(), &e.id, e.bytes) {
        Ok(Some(p)) => return Ok((p, Source::Stored)),
        Ok(None) => {}
        Err(err) if err.is_corruption() => {
            tracing::warn!("{err}; recomputing it from its segment");
        }
        Err(err) => return Err(err),
    }
    let key = crate::layout::segment_key(&e.id);
    let path = store.storage().describe(&key);
    let bytes = store.storage().get(&key)?;
    crate::objects::check_segment(&path, &e.id, &dstore_format::SegmentId::of(&bytes))?;
    let p = SegmentProfile::compute(e.id, &bytes::Bytes::from(bytes))
        .map_err(|detail| Error::Corrupted { path, detail })?;
    if let Err(err) = crate::derived::put_profile(store.storage(), &p) {
        tracing::warn!(
            "could not store the profile of segment {}: {err}",
            e.id.short(16)
        );
    }
    Ok((p, Source::Computed))
}

/// Merges column profiles by path, in the order of the first; columns `b` lacks keep theirs.
fn merge_by_path(a: &mut Vec<ColumnProfile>, b: &[ColumnProfile]) {
    let same = a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.path == y.path);
    if same {
        for (x, y) in a.iter_mut().zip(b) {
            if x.kind == y.kind {
                x.merge(y);
            }
        }
        return;
    }
    let at: HashMap<String, usize> = a
        .iter()
        .enumerate()
        .map(|(i, c)| (c.path.clone(), i))
        .collect();
    for y in b {
        match at.get(&y.path) {
            Some(&i) if a[i].kind == y.kind => a[i].merge(y),
            Some(_) => {}
            None => a.push(y.clone()),
        }
    }
}

impl TableProfile {
    /// Merges segment profiles, in order.
    pub fn from_segments(table: &str, profiles: &[SegmentProfile]) -> TableProfile {
        let mut columns: Vec<ColumnProfile> = Vec::new();
        let mut rows = 0;
        for (i, p) in profiles.iter().enumerate() {
            rows += p.rows;
            if i == 0 {
                columns.clone_from(&p.columns);
            } else {
                merge_by_path(&mut columns, &p.columns);
            }
        }
        TableProfile {
            table: table.to_owned(),
            rows,
            segments: profiles.len() as u64,
            computed: 0,
            partial: 0,
            columns,
        }
    }

    /// The column at `path`.
    pub fn column(&self, path: &str) -> Option<&ColumnProfile> {
        self.columns.iter().find(|c| c.path == path)
    }

    /// The summary of each column (all when `columns` is empty; else those named and their
    /// nested fields). A name that is no column is [`Error::NotFound`].
    pub fn summary(&self, columns: &[String]) -> Result<Vec<ColumnSummary>> {
        for want in columns {
            if self.column(want).is_none() {
                return Err(Error::NotFound {
                    what: format!(
                        "column `{want}` in table `{}` (columns: {})",
                        self.table,
                        self.columns
                            .iter()
                            .map(|c| c.path.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        Ok(self
            .columns
            .iter()
            .filter(|c| {
                columns.is_empty()
                    || columns.iter().any(|w| {
                        c.path == *w
                            || (c.path.starts_with(w.as_str())
                                && matches!(c.path.as_bytes().get(w.len()), Some(b'.' | b'[')))
                    })
            })
            .map(ColumnSummary::of)
            .collect())
    }

    /// The summary as an Arrow batch, one row per column (Python's `snap.stats`).
    pub fn to_record_batch(&self, columns: &[String]) -> Result<RecordBatch> {
        let s = self.summary(columns)?;
        let f = |g: &dyn Fn(&ColumnSummary) -> Option<f64>| -> ArrayRef {
            Arc::new(s.iter().map(g).collect::<Float64Array>())
        };
        let u = |g: &dyn Fn(&ColumnSummary) -> u64| -> ArrayRef {
            Arc::new(s.iter().map(g).collect::<UInt64Array>())
        };
        let q = |i: usize| f(&move |c: &ColumnSummary| c.quantiles.get(i).copied().flatten());
        let top: ArrayRef = Arc::new(
            s.iter()
                .map(|c| {
                    (!c.top.is_empty()).then(|| serde_json::to_string(&c.top).unwrap_or_default())
                })
                .collect::<StringArray>(),
        );
        let fields = [
            ("column", DataType::Utf8),
            ("kind", DataType::Utf8),
            ("count", DataType::UInt64),
            ("nulls", DataType::UInt64),
            ("nans", DataType::UInt64),
            ("min", DataType::Float64),
            ("max", DataType::Float64),
            ("mean", DataType::Float64),
            ("std", DataType::Float64),
            ("p05", DataType::Float64),
            ("p25", DataType::Float64),
            ("p50", DataType::Float64),
            ("p75", DataType::Float64),
            ("p95", DataType::Float64),
            ("distinct", DataType::Float64),
            ("len_min", DataType::UInt64),
            ("len_max", DataType::UInt64),
            ("len_mean", DataType::Float64),
            ("top", DataType::Utf8),
        ];
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(
                s.iter()
                    .map(|c| Some(c.column.as_str()))
                    .collect::<StringArray>(),
            ),
            Arc::new(
                s.iter()
                    .map(|c| Some(kind_name(c.kind)))
                    .collect::<StringArray>(),
            ),
            u(&|c| c.count),
            u(&|c| c.nulls),
            u(&|c| c.nans),
            f(&|c| c.min),
            f(&|c| c.max),
            f(&|c| c.mean),
            f(&|c| c.std),
            q(0),
            q(1),
            q(2),
            q(3),
            q(4),
            f(&|c| c.distinct),
            Arc::new(s.iter().map(|c| c.len_min).collect::<UInt64Array>()),
            Arc::new(s.iter().map(|c| c.len_max).collect::<UInt64Array>()),
            f(&|c| c.len_mean),
            top,
        ];
        let schema = Schema::new(
            fields
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(Arc::new(schema), arrays)
            .map_err(|e| Error::internal("building the stats table", e))
    }
}

/// The name of a kind, as `stats` prints it.
pub fn kind_name(k: ValueKind) -> &'static str {
    match k {
        ValueKind::Numeric => "numeric",
        ValueKind::Temporal => "temporal",
        ValueKind::Boolean => "boolean",
        ValueKind::String => "string",
        ValueKind::Binary => "binary",
        ValueKind::List => "list",
        ValueKind::Struct => "struct",
        ValueKind::Other => "other",
    }
}

/// The ranks [`ColumnSummary::quantiles`] holds.
pub const SUMMARY_RANKS: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];

/// What `dstore stats` shows of one column (`--json` prints these).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ColumnSummary {
    /// Path.
    pub column: String,
    /// Kind.
    pub kind: ValueKind,
    /// Values, nulls included.
    pub count: u64,
    /// Nulls.
    pub nulls: u64,
    /// NaNs.
    pub nans: u64,
    /// Smallest non-NaN value.
    pub min: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
    /// Mean of the finite values.
    pub mean: Option<f64>,
    /// Their population standard deviation.
    pub std: Option<f64>,
    /// Quantiles at [`SUMMARY_RANKS`] (KLL, rank error ± `rank_error`).
    pub quantiles: Vec<Option<f64>>,
    /// Normalized rank error of the quantiles.
    pub rank_error: Option<f64>,
    /// Estimated distinct values (HyperLogLog, ±1.6% standard error).
    pub distinct: Option<f64>,
    /// Most frequent values (at most 10).
    pub top: Vec<FrequentValue>,
    /// Largest error of a `top` count (0: exact).
    pub top_error: u64,
    /// Shortest value (bytes, or list elements).
    pub len_min: Option<u64>,
    /// Longest.
    pub len_max: Option<u64>,
    /// Mean length.
    pub len_mean: Option<f64>,
}

impl ColumnSummary {
    fn of(c: &ColumnProfile) -> ColumnSummary {
        let l = c.lengths.filter(|l| l.n > 0);
        ColumnSummary {
            column: c.path.clone(),
            kind: c.kind,
            count: c.count,
            nulls: c.nulls,
            nans: c.nans,
            min: c.range.map(|r| r.0),
            max: c.range.map(|r| r.1),
            mean: c.moments.filter(|m| m.n > 0).map(|m| m.mean),
            std: c.std(),
            quantiles: c
                .quantiles
                .as_ref()
                .map(|k| k.quantiles(&SUMMARY_RANKS))
                .unwrap_or_default(),
            rank_error: c.quantiles.as_ref().map(|_| RANK_ERROR),
            distinct: c.distinct(),
            top: c.frequent(10),
            top_error: c.frequent_error(),
            len_min: l.map(|l| l.min),
            len_max: l.map(|l| l.max),
            len_mean: l.map(|l| l.sum as f64 / l.n as f64),
        }
    }
}

impl Snapshot {
    /// The merged profile of `table`: stored segment profiles, and for segments without one
    /// (older stores, `--no-validate` ingests) or with a damaged one, profiles computed from the
    /// segment now and stored for next time. Segments in parallel, merged in segment order.
    pub fn profile(&self, table: &str) -> Result<TableProfile> {
        let segments = self.segments(table)?;
        let got = segments
            .par_iter()
            .map(|e| segment_profile(self.store(), e))
            .collect::<Result<Vec<_>>>()?;
        let computed = got.iter().filter(|g| g.1 == Source::Computed).count() as u64;
        let profiles: Vec<SegmentProfile> = got.into_iter().map(|g| g.0).collect();
        let mut t = self.merged(table, &profiles)?;
        t.computed = computed;
        Ok(t)
    }

    /// `profiles` merged in order; without any, the table's columns, empty.
    fn merged(&self, table: &str, profiles: &[SegmentProfile]) -> Result<TableProfile> {
        let mut t = TableProfile::from_segments(table, profiles);
        if profiles.is_empty() {
            let schema = &self.table(table)?.schema;
            t.columns = super::build::empty_columns(schema)
                .into_iter()
                .flatten()
                .collect();
        }
        Ok(t)
    }

    /// The profile of just the rows of `table` this snapshot has and `old` lacks: the rows a
    /// scan [`since`](crate::ScanBuilder::since) `old` gives (`dstore stats --since`). Segments
    /// `old` lacks whole contribute their stored profiles (or ones computed and stored now, as
    /// [`Snapshot::profile`] does); a segment of which only some rows are new (a rewrite) is
    /// scanned for exactly those rows, which go through the same profiler as a segment's, so
    /// the result is the profile of a table made of those rows alone: counts, nulls, NaNs,
    /// ranges, sums and lengths equal, sketches within their bounds. A table `old` lacks is
    /// new whole; one this snapshot lacks is [`Error::NotFound`].
    pub fn profile_since(&self, table: &str, old: &Snapshot) -> Result<TableProfile> {
        let entries = self.segments(table)?;
        let diff =
            crate::diff::row_diff(old, self, table, &crate::diff::RowDiffOptions::default())?;
        let added = diff.added_rows();
        // Whole segments in parallel (stored profiles); the others scanned one by one (a scan
        // decodes on its own threads).
        let whole = added
            .par_iter()
            .filter(|s| s.rows.is_none())
            .map(|s| segment_profile(self.store(), &entries[s.index]))
            .collect::<Result<Vec<_>>>()?;
        let computed = whole.iter().filter(|g| g.1 == Source::Computed).count() as u64;
        let mut whole = whole.into_iter().map(|g| g.0);
        let schema = self.table(table)?.schema.clone();
        let mut profiles = Vec::with_capacity(added.len());
        let mut partial = 0;
        for s in added {
            if s.rows.is_none() {
                profiles.push(whole.next().expect("one profile per whole segment"));
                continue;
            }
            partial += 1;
            let mut p = super::build::RowGroupProfiler::new(&schema);
            let mut rows = 0u64;
            let scan = self
                .scan(table)?
                .restrict(std::sync::Arc::new(vec![s.clone()]))
                .batch_size(64 * 1024)
                .batches()?;
            for b in scan {
                let b = b?;
                rows += b.num_rows() as u64;
                p.update(b.columns());
            }
            profiles.push(SegmentProfile {
                segment: s.segment,
                len: entries[s.index].bytes,
                rows,
                columns: p.finish(),
            });
        }
        let mut t = self.merged(table, &profiles)?;
        t.computed = computed;
        t.partial = partial;
        Ok(t)
    }
}
