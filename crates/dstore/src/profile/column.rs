//! One column's profile: exact counts and moments, and three mergeable sketches (KLL quantiles,
//! HyperLogLog distinct count, frequent items). Built by a sequential fold over the column's
//! values in row order, so the same values give the same bytes however they arrive in batches.

// Statistics read best with their textbook names (a, b, p, q, x, ...).
#![allow(clippy::many_single_char_names)]

use datasketches::frequencies::{ErrorType, FrequentItemsSketch};
use datasketches::hll::{HllSketch, HllType, HllUnion};

use super::kll::Kll;

/// `lg k` of every HyperLogLog sketch: 4096 registers, relative standard error 1.6%.
pub const HLL_LG_K: u8 = 12;
/// Relative standard error of the distinct count (`1.04 / sqrt(2^12)`).
pub const HLL_RSE: f64 = 0.0163;
/// Map size of every frequent-items sketch; counts are exact below 192 distinct values, else
/// within `3.5 / 256` (1.4%) of the column's non-null count.
pub const FREQ_MAP: usize = 256;
/// An integer column keeps frequent items only while it has at most this many distinct values
/// (checked value by value); above it the column is numeric only.
pub const SMALL_INT_DISTINCT: usize = 128;

/// What a column's values are, for the statistics and tests that apply to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum ValueKind {
    /// Integers, floats, decimals (as `f64`).
    Numeric = 1,
    /// Dates, times, timestamps, durations (their integer, as `f64`).
    Temporal = 2,
    /// Booleans (moments over 0/1).
    Boolean = 3,
    /// UTF-8 strings.
    String = 4,
    /// Binary values.
    Binary = 5,
    /// Lists and maps (lengths; their values are the column `path[]`).
    List = 6,
    /// Structs (their fields are the columns `path.field`).
    Struct = 7,
    /// Anything else: counts and nulls only.
    Other = 8,
}

impl ValueKind {
    pub(crate) fn from_u8(b: u8) -> Option<ValueKind> {
        Some(match b {
            1 => ValueKind::Numeric,
            2 => ValueKind::Temporal,
            3 => ValueKind::Boolean,
            4 => ValueKind::String,
            5 => ValueKind::Binary,
            6 => ValueKind::List,
            7 => ValueKind::Struct,
            8 => ValueKind::Other,
            _ => return None,
        })
    }
}

/// Exact moments of the finite values: per block by two passes, merged by Chan's formula.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Moments {
    /// Finite values counted.
    pub n: u64,
    /// Their sum.
    pub sum: f64,
    /// Their mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Moments {
    pub(crate) fn merge(&mut self, o: &Moments) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *o;
            return;
        }
        let n = self.n.saturating_add(o.n);
        let d = o.mean - self.mean;
        self.mean += d * o.n as f64 / n as f64;
        self.m2 += o.m2 + d * d * self.n as f64 * o.n as f64 / n as f64;
        self.sum += o.sum;
        self.n = n;
    }

    /// Population variance (`m2 / n`), `None` without values.
    pub fn variance(&self) -> Option<f64> {
        (self.n > 0).then(|| self.m2 / self.n as f64)
    }
}

/// Lengths of strings and binaries (bytes) and lists (elements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lengths {
    /// Shortest.
    pub min: u64,
    /// Longest.
    pub max: u64,
    /// Total.
    pub sum: u64,
    /// Values measured.
    pub n: u64,
}

impl Lengths {
    #[inline]
    pub(crate) fn update(&mut self, len: u64) {
        if self.n == 0 {
            self.min = len;
            self.max = len;
        } else {
            self.min = self.min.min(len);
            self.max = self.max.max(len);
        }
        self.sum += len;
        self.n += 1;
    }

    pub(crate) fn merge(&mut self, o: &Lengths) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *o;
            return;
        }
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum = self.sum.saturating_add(o.sum);
        self.n = self.n.saturating_add(o.n);
    }
}

/// The profile of one column (a leaf or inner node of the schema, named by its path).
#[derive(Clone)]
pub struct ColumnProfile {
    /// `name`, `struct.field`, `list[]` (the list's values).
    pub path: String,
    /// What its values are.
    pub kind: ValueKind,
    /// Values, nulls included (rows for a top-level column).
    pub count: u64,
    /// Nulls.
    pub nulls: u64,
    /// NaNs (floats), not in the moments, quantiles or range.
    pub nans: u64,
    /// Smallest and largest non-NaN value (numerics, temporals, booleans).
    pub range: Option<(f64, f64)>,
    /// Moments of the finite values.
    pub moments: Option<Moments>,
    /// Value lengths.
    pub lengths: Option<Lengths>,
    /// Quantiles of the non-NaN values (numerics, temporals).
    pub quantiles: Option<Kll>,
    pub(crate) hll: Option<HllSketch>,
    pub(crate) freq: Option<FrequentItemsSketch<String>>,
}

impl std::fmt::Debug for ColumnProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnProfile")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("count", &self.count)
            .field("nulls", &self.nulls)
            .field("nans", &self.nans)
            .field("range", &self.range)
            .field("moments", &self.moments)
            .field("lengths", &self.lengths)
            .field("distinct", &self.distinct())
            .finish_non_exhaustive()
    }
}

/// A frequent value with its estimated count and the bounds its true count lies within.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FrequentValue {
    /// The value as text (`true`/`false` for booleans, decimal for integers).
    pub value: String,
    /// Estimated count.
    pub count: u64,
    /// The true count is at least this.
    pub lower: u64,
    /// And at most this.
    pub upper: u64,
}

pub(crate) fn new_hll() -> HllSketch {
    HllSketch::new(HLL_LG_K, HllType::Hll8).expect("lg k 12 is valid")
}

pub(crate) fn new_freq() -> FrequentItemsSketch<String> {
    FrequentItemsSketch::new(FREQ_MAP).expect("256 is a valid map size")
}

impl ColumnProfile {
    /// An empty profile of a column of this kind; `small_ints` for integer columns (frequent
    /// items kept while they have few distinct values).
    pub(crate) fn empty(path: String, kind: ValueKind, small_ints: bool) -> ColumnProfile {
        let numeric = matches!(kind, ValueKind::Numeric | ValueKind::Temporal);
        ColumnProfile {
            path,
            kind,
            count: 0,
            nulls: 0,
            nans: 0,
            range: None,
            moments: (numeric || kind == ValueKind::Boolean).then(Moments::default),
            lengths: matches!(
                kind,
                ValueKind::String | ValueKind::Binary | ValueKind::List
            )
            .then_some(Lengths {
                min: 0,
                max: 0,
                sum: 0,
                n: 0,
            }),
            quantiles: numeric.then(Kll::new),
            hll: matches!(
                kind,
                ValueKind::Numeric
                    | ValueKind::Temporal
                    | ValueKind::Boolean
                    | ValueKind::String
                    | ValueKind::Binary
            )
            .then(new_hll),
            freq: (matches!(kind, ValueKind::String | ValueKind::Boolean)
                || (kind == ValueKind::Numeric && small_ints))
                .then(new_freq),
        }
    }

    /// Non-null values.
    pub fn present(&self) -> u64 {
        self.count - self.nulls
    }

    /// Share of nulls (0 for an empty column).
    pub fn null_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.nulls as f64 / self.count as f64
        }
    }

    /// Estimated distinct non-null values (HyperLogLog, relative standard error [`HLL_RSE`]).
    pub fn distinct(&self) -> Option<f64> {
        self.hll.as_ref().map(HllSketch::estimate)
    }

    /// Standard deviation (population) of the finite values.
    pub fn std(&self) -> Option<f64> {
        self.moments.and_then(|m| m.variance()).map(f64::sqrt)
    }

    /// Frequent values, most frequent first (ties by value), at most `limit`.
    pub fn frequent(&self, limit: usize) -> Vec<FrequentValue> {
        let Some(f) = &self.freq else {
            return Vec::new();
        };
        let mut rows: Vec<FrequentValue> = f
            .frequent_items(ErrorType::NoFalseNegatives)
            .into_iter()
            .map(|r| FrequentValue {
                value: r.item().clone(),
                count: r.estimate(),
                lower: r.lower_bound(),
                upper: r.upper_bound(),
            })
            .collect();
        rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        rows.truncate(limit);
        rows
    }

    /// Whether frequent items were kept (strings, booleans, integers with few values).
    pub fn has_frequent(&self) -> bool {
        self.freq.is_some()
    }

    /// Largest error of any frequent-item count (0 when all counts are exact).
    pub fn frequent_error(&self) -> u64 {
        self.freq
            .as_ref()
            .map_or(0, FrequentItemsSketch::maximum_error)
    }

    /// A string value, on its own (the fold counts a block's values first: block.rs).
    #[cfg(test)]
    pub(crate) fn add_str(&mut self, s: &str) {
        if let Some(l) = &mut self.lengths {
            l.update(s.len() as u64);
        }
        if let Some(h) = &mut self.hll {
            h.update(datasketches::hash::value::raw_bytes::from_str(s));
        }
        if let Some(f) = &mut self.freq {
            f.update_ref(s);
        }
    }

    /// Merges `other` (the same column, of rows after this one's) into this profile.
    pub(crate) fn merge(&mut self, o: &ColumnProfile) {
        // Saturating: a forged profile (its checksum recomputed) must not make a merge panic.
        self.count = self.count.saturating_add(o.count);
        self.nulls = self.nulls.saturating_add(o.nulls);
        self.nans = self.nans.saturating_add(o.nans);
        self.range = match (self.range, o.range) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (x, None) | (None, x) => x,
        };
        match (&mut self.moments, &o.moments) {
            (Some(a), Some(b)) => a.merge(b),
            (None, Some(b)) => self.moments = Some(*b),
            _ => {}
        }
        match (&mut self.lengths, &o.lengths) {
            (Some(a), Some(b)) => a.merge(b),
            (None, Some(b)) => self.lengths = Some(*b),
            _ => {}
        }
        match (&mut self.quantiles, &o.quantiles) {
            (Some(a), Some(b)) => a.merge(b),
            (None, Some(b)) => self.quantiles = Some(b.clone()),
            _ => {}
        }
        match (&self.hll, &o.hll) {
            (Some(a), Some(b)) => {
                let mut u = HllUnion::new(HLL_LG_K).expect("lg k 12 is valid");
                u.update(a);
                u.update(b);
                self.hll = Some(u.to_sketch(HllType::Hll8));
            }
            (None, Some(b)) => self.hll = Some(b.clone()),
            _ => {}
        }
        // Frequent items survive only where both sides kept them (an integer column that
        // outgrew them on either side has none).
        match (&mut self.freq, &o.freq) {
            (Some(a), Some(b)) if a.total_weight().checked_add(b.total_weight()).is_none() => {
                self.freq = None;
            }
            (Some(a), Some(b)) => {
                a.merge(b);
                // An integer column together over the limit has none, as if profiled whole.
                if self.kind == ValueKind::Numeric
                    && (a.num_active_items() > SMALL_INT_DISTINCT || a.maximum_error() > 0)
                {
                    self.freq = None;
                }
            }
            (Some(_), None) => self.freq = None,
            _ => {}
        }
    }
}
