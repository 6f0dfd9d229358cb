//! Folding one block of a row group (at most [`super::build::BLOCK_ROWS`] rows) into its
//! columns' profiles (docs/format.md §16.2, "Fold").
//!
//! A value-by-value fold spent most of profiling's time in hashing: every value went through
//! MurmurHash3 for the HyperLogLog and through the frequent-items map, and an integer column
//! formatted every value as text while it still kept frequent items. Here a block's repeated
//! values are counted first (a `foldhash` map, first occurrence order), and each distinct value
//! reaches the sketches once, with its count; moments are taken over the block (two passes) and
//! merged by Chan's formula. The KLL still sees every value, in row order.
//!
//! Everything is a function of the block's values in row order, so batch boundaries inside a
//! block do not change the profile's bytes.

// Statistics read best with their textbook names (t, f, n, ...).
#![allow(clippy::many_single_char_names)]

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datasketches::hash::value::{canonical_float, raw_bytes};

use super::column::{ColumnProfile, Lengths, Moments, SMALL_INT_DISTINCT};

/// A string column stops counting a block's values once the block has more distinct values than
/// this: a column of (nearly) unique values gains nothing from the map, so the rest of the
/// block goes to the sketches value by value.
const STRING_DISTINCT: usize = 1024;

type Fixed = foldhash::fast::FixedState;

/// A leaf's values, cast for the fold.
pub(crate) enum Values {
    /// An integer column's values as `Int64`.
    Int(ArrayRef),
    /// Other numerics and temporals as `Float64`.
    Float(ArrayRef),
    /// Booleans.
    Bool(ArrayRef),
    /// Utf8, LargeUtf8 or Utf8View.
    Str(ArrayRef),
    /// Binary, LargeBinary, BinaryView or FixedSizeBinary.
    Bin(ArrayRef),
}

/// The values of one column (depth-first index `col`) in one piece of a block, with their
/// validity as a reader of the file sees it.
pub(crate) struct Leaf {
    pub(crate) col: usize,
    pub(crate) values: Values,
    pub(crate) nulls: Option<NullBuffer>,
}

/// Folds a block's leaves (in row order) into `cols`.
pub(crate) fn fold(cols: &mut [ColumnProfile], leaves: &[Leaf]) {
    for (c, col) in cols.iter_mut().enumerate() {
        let mine: Vec<&Leaf> = leaves.iter().filter(|l| l.col == c).collect();
        let Some(first) = mine.first() else {
            continue;
        };
        match first.values {
            Values::Int(_) | Values::Float(_) => numbers(col, &mine),
            Values::Bool(_) => booleans(col, &mine),
            Values::Str(_) => strings(col, &mine),
            Values::Bin(_) => binaries(col, &mine),
        }
    }
}

fn valid(nulls: Option<&NullBuffer>, j: usize) -> bool {
    nulls.is_none_or(|n| n.is_valid(j))
}

/// Range, moments, KLL and HLL of numbers; an integer column's frequent items while it has
/// few distinct values.
fn numbers(col: &mut ColumnProfile, leaves: &[&Leaf]) {
    let mut finite: Vec<f64> = Vec::new();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut seen = false;
    let mut nans = 0u64;
    // An integer column with frequent items counts its values; the HLL then takes each
    // distinct value once. Without frequent items (or for floats) the HLL takes every value.
    let mut counts: Option<Counter<i64>> = col.freq.as_ref().map(|_| Counter::default());
    for leaf in leaves {
        let nulls = leaf.nulls.as_ref();
        match &leaf.values {
            Values::Int(a) => {
                let a = a.as_primitive::<Int64Type>();
                for (j, &v) in a.values().iter().enumerate() {
                    if !valid(nulls, j) {
                        continue;
                    }
                    let x = v as f64;
                    seen = true;
                    lo = lo.min(x);
                    hi = hi.max(x);
                    finite.push(x);
                    if let Some(q) = &mut col.quantiles {
                        q.update(x);
                    }
                    match &mut counts {
                        Some(c) => {
                            c.add(v, 1);
                            if c.distinct() > SMALL_INT_DISTINCT {
                                // Too many values for frequent items: they go, and the values
                                // counted so far reach the HLL now.
                                col.freq = None;
                                if let Some(h) = &mut col.hll {
                                    for (v, _) in &c.items {
                                        h.update(canonical_float::from_f64(*v as f64));
                                    }
                                }
                                counts = None;
                            }
                        }
                        None => {
                            if let Some(h) = &mut col.hll {
                                h.update(canonical_float::from_f64(x));
                            }
                        }
                    }
                }
            }
            Values::Float(a) => {
                let a = a.as_primitive::<Float64Type>();
                for (j, &x) in a.values().iter().enumerate() {
                    if !valid(nulls, j) {
                        continue;
                    }
                    if x.is_nan() {
                        nans += 1;
                        continue;
                    }
                    seen = true;
                    lo = lo.min(x);
                    hi = hi.max(x);
                    if x.is_finite() {
                        finite.push(x);
                    }
                    if let Some(q) = &mut col.quantiles {
                        q.update(x);
                    }
                    if let Some(h) = &mut col.hll {
                        h.update(canonical_float::from_f64(x));
                    }
                }
            }
            _ => {}
        }
    }
    col.nans += nans;
    if seen {
        col.range = Some(match col.range {
            None => (lo, hi),
            Some((a, b)) => (a.min(lo), b.max(hi)),
        });
    }
    if let Some(m) = &mut col.moments {
        m.merge(&block_moments(&finite));
    }
    if let Some(c) = counts {
        let mut text = String::new();
        for (v, n) in &c.items {
            if let Some(h) = &mut col.hll {
                h.update(canonical_float::from_f64(*v as f64));
            }
            if let Some(f) = &mut col.freq {
                use std::fmt::Write;
                text.clear();
                let _ = write!(text, "{v}");
                f.update_with_count_ref(text.as_str(), *n);
            }
        }
        if col
            .freq
            .as_ref()
            .is_some_and(|f| f.num_active_items() > SMALL_INT_DISTINCT)
        {
            col.freq = None;
        }
    }
}

/// Moments of a block's finite values: the mean by one pass, the squared deviations from it by
/// a second (`n = 0` for none).
fn block_moments(xs: &[f64]) -> Moments {
    if xs.is_empty() {
        return Moments::default();
    }
    let sum: f64 = xs.iter().sum();
    let mean = sum / xs.len() as f64;
    let m2: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
    Moments {
        n: xs.len() as u64,
        sum,
        mean,
        m2,
    }
}

fn booleans(col: &mut ColumnProfile, leaves: &[&Leaf]) {
    let (mut t, mut f) = (0u64, 0u64);
    for leaf in leaves {
        let Values::Bool(a) = &leaf.values else {
            continue;
        };
        let a = a.as_boolean();
        match &leaf.nulls {
            None => {
                let ones = a.values().count_set_bits() as u64;
                t += ones;
                f += a.len() as u64 - ones;
            }
            Some(n) => {
                for j in 0..a.len() {
                    if n.is_valid(j) {
                        if a.value(j) {
                            t += 1;
                        } else {
                            f += 1;
                        }
                    }
                }
            }
        }
    }
    let n = t + f;
    if n == 0 {
        return;
    }
    let (lo, hi) = (if f > 0 { 0.0 } else { 1.0 }, if t > 0 { 1.0 } else { 0.0 });
    col.range = Some(match col.range {
        None => (lo, hi),
        Some((a, b)) => (a.min(lo), b.max(hi)),
    });
    if let Some(m) = &mut col.moments {
        let mean = t as f64 / n as f64;
        m.merge(&Moments {
            n,
            sum: t as f64,
            mean,
            m2: t as f64 * (1.0 - mean) * (1.0 - mean) + f as f64 * mean * mean,
        });
    }
    for (b, count) in [(false, f), (true, t)] {
        if count == 0 {
            continue;
        }
        if let Some(h) = &mut col.hll {
            h.update(raw_bytes::from_slice(&[u8::from(b)]));
        }
        if let Some(fr) = &mut col.freq {
            fr.update_with_count_ref(if b { "true" } else { "false" }, count);
        }
    }
}

/// Values in first-occurrence order with their counts.
struct Counter<K> {
    index: HashMap<K, usize, Fixed>,
    items: Vec<(K, u64)>,
}

impl<K> Default for Counter<K> {
    fn default() -> Self {
        Counter {
            index: HashMap::with_hasher(Fixed::with_seed(0)),
            items: Vec::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Copy> Counter<K> {
    #[inline]
    fn add(&mut self, k: K, n: u64) {
        if let Some(&i) = self.index.get(&k) {
            self.items[i].1 += n;
        } else {
            self.index.insert(k, self.items.len());
            self.items.push((k, n));
        }
    }

    fn distinct(&self) -> usize {
        self.items.len()
    }
}

fn each_str<'a>(values: &'a ArrayRef, f: &mut impl FnMut(Option<&'a str>)) {
    match values.data_type() {
        DataType::Utf8 => values.as_string::<i32>().iter().for_each(f),
        DataType::LargeUtf8 => values.as_string::<i64>().iter().for_each(f),
        DataType::Utf8View => values.as_string_view().iter().for_each(f),
        _ => {}
    }
}

fn each_bytes<'a>(values: &'a ArrayRef, f: &mut impl FnMut(Option<&'a [u8]>)) {
    match values.data_type() {
        DataType::Binary => values.as_binary::<i32>().iter().for_each(f),
        DataType::LargeBinary => values.as_binary::<i64>().iter().for_each(f),
        DataType::BinaryView => values.as_binary_view().iter().for_each(f),
        DataType::FixedSizeBinary(_) => values.as_fixed_size_binary().iter().for_each(f),
        _ => {}
    }
}

/// Lengths of one block, merged into the column's at the end.
fn lengths_of(len: &mut Option<Lengths>, block: &Lengths) {
    if let Some(l) = len {
        l.merge(block);
    }
}

fn strings(col: &mut ColumnProfile, leaves: &[&Leaf]) {
    let mut lens = Lengths {
        min: 0,
        max: 0,
        sum: 0,
        n: 0,
    };
    let mut counts: Option<Counter<&str>> = Some(Counter::default());
    let (hll, freq) = (&mut col.hll, &mut col.freq);
    for leaf in leaves {
        let Values::Str(a) = &leaf.values else {
            continue;
        };
        let nulls = leaf.nulls.as_ref();
        let mut j = 0;
        each_str(a, &mut |v| {
            let ok = valid(nulls, j);
            j += 1;
            let Some(s) = v.filter(|_| ok) else {
                return;
            };
            lens.update(s.len() as u64);
            match &mut counts {
                Some(c) => {
                    c.add(s, 1);
                    if c.distinct() > STRING_DISTINCT {
                        for (s, n) in &c.items {
                            to_sketches(hll, freq, s, *n);
                        }
                        counts = None;
                    }
                }
                None => to_sketches(hll, freq, s, 1),
            }
        });
    }
    if let Some(c) = counts {
        for (s, n) in &c.items {
            to_sketches(hll, freq, s, *n);
        }
    }
    lengths_of(&mut col.lengths, &lens);
}

fn to_sketches(
    hll: &mut Option<datasketches::hll::HllSketch>,
    freq: &mut Option<datasketches::frequencies::FrequentItemsSketch<String>>,
    s: &str,
    n: u64,
) {
    if let Some(h) = hll {
        h.update(raw_bytes::from_str(s));
    }
    if let Some(f) = freq {
        f.update_with_count_ref(s, n);
    }
}

fn binaries(col: &mut ColumnProfile, leaves: &[&Leaf]) {
    let mut lens = Lengths {
        min: 0,
        max: 0,
        sum: 0,
        n: 0,
    };
    let hll = &mut col.hll;
    for leaf in leaves {
        let Values::Bin(a) = &leaf.values else {
            continue;
        };
        let nulls = leaf.nulls.as_ref();
        let mut j = 0;
        each_bytes(a, &mut |v| {
            let ok = valid(nulls, j);
            j += 1;
            if let Some(b) = v.filter(|_| ok) {
                lens.update(b.len() as u64);
                if let Some(h) = hll {
                    h.update(raw_bytes::from_slice(b));
                }
            }
        });
    }
    lengths_of(&mut col.lengths, &lens);
}
