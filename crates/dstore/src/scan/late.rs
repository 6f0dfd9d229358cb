//! Late materialization: a filtered scan decodes the filter's columns of a unit first,
//! evaluates the filter on them, and decodes the other columns only for the rows it selects.
//!
//! The second decode goes through the same [`SegmentSet::decode`] with the selected rows as its
//! row selection, so it fetches and checks what any decode would: whole column chunks against
//! the manifest's hashes, or, where the segment has an outboard and an offset index, only the
//! pages that hold selected rows, each checked against the outboard. Without an offset index
//! arrow-rs still skips whole pages of flat columns without decompressing them (the page header
//! gives their row count) and stops at the last selected row.
//!
//! Which rows come out, and in what order, does not change: the scan order is a function of row
//! positions before filtering (docs/order.md), and a decoded unit carries a [`RowMap`] from its
//! row positions to the batch rows it kept.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use arrow::datatypes::{Schema, SchemaRef};

use super::filter::Expr;
use super::read::{Kept, SegmentSet};
use crate::error::{Error, Result};

/// The selected rows are decoded by row selection only when their runs are on average at least
/// this many rows apart (rows of the unit per run of selected rows); otherwise the other
/// columns are decoded whole and filtered in memory. arrow-rs's own choice between its selector
/// queue and a bit mask uses the same figure (`RowSelectionPolicy::Auto { threshold: 32 }`):
/// below it, skipping and reading in short alternation costs more than decoding everything.
const MIN_ROWS_PER_RUN: u64 = 32;

/// Which rows of a unit a decoded batch holds: row `r` of the unit is in the batch when bit `r`
/// is set, at index "set bits before `r`".
#[derive(Debug)]
pub(crate) struct RowMap {
    words: Vec<u64>,
    /// Set bits in the words before each word.
    ranks: Vec<u64>,
}

impl RowMap {
    /// The rows `ranges` (sorted, disjoint, within `0..rows`).
    pub(crate) fn from_ranges(rows: u64, ranges: &[Range<u64>]) -> Self {
        let mut words = vec![0u64; rows.div_ceil(64) as usize];
        for r in ranges {
            let mut at = r.start;
            while at < r.end {
                let w = (at / 64) as usize;
                let lo = at % 64;
                let hi = (r.end - (at - lo)).min(64);
                let bits = if hi - lo == 64 {
                    u64::MAX
                } else {
                    ((1u64 << (hi - lo)) - 1) << lo
                };
                words[w] |= bits;
                at = at - lo + hi;
            }
        }
        let mut ranks = Vec::with_capacity(words.len());
        let mut acc = 0;
        for w in &words {
            ranks.push(acc);
            acc += u64::from(w.count_ones());
        }
        Self { words, ranks }
    }

    /// Index in the batch of the unit's row `r`, if the batch holds it.
    pub(crate) fn index(&self, r: u64) -> Option<usize> {
        let w = (r / 64) as usize;
        let word = *self.words.get(w)?;
        let bit = 1u64 << (r % 64);
        (word & bit != 0)
            .then(|| (self.ranks[w] + u64::from((word & (bit - 1)).count_ones())) as usize)
    }
}

/// The unit rows (sorted, disjoint ranges) that `mask` selects, where the mask's rows are the
/// unit's rows `kept` (all `rows` when `None`) in order.
fn selected_rows(mask: &BooleanArray, kept: Option<&Kept>, rows: u64) -> Kept {
    #[allow(clippy::single_range_in_vec_init)] // one range of rows, not the rows
    let all = [0..rows];
    let kept: &[Range<u64>] = kept.map_or(&all, Vec::as_slice);
    let mut out: Kept = Vec::new();
    let mut push = |r: Range<u64>| match out.last_mut() {
        Some(last) if last.end == r.start => last.end = r.end,
        _ => out.push(r),
    };
    // Batch index of each kept range's first row.
    let mut k = 0;
    let mut first = 0u64;
    for (start, end) in mask.values().set_slices() {
        let (mut s, e) = (start as u64, end as u64);
        while s < e {
            while first + (kept[k].end - kept[k].start) <= s {
                first += kept[k].end - kept[k].start;
                k += 1;
            }
            let take = (e - s).min(first + (kept[k].end - kept[k].start) - s);
            let at = kept[k].start + (s - first);
            push(at..at + take);
            s += take;
        }
    }
    out
}

fn sub_schema(schema: &Schema, pick: impl Fn(&str) -> bool) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| pick(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    ))
}

fn filtered(batch: &RecordBatch, mask: &BooleanArray, all: bool) -> Result<RecordBatch> {
    if all {
        return Ok(batch.clone());
    }
    arrow::compute::filter_record_batch(batch, mask)
        .map_err(|e| Error::internal("applying the filter", e))
}

impl SegmentSet {
    /// Decodes one row group of a filtered scan, projected to `schema` (which holds the
    /// filter's columns): only the rows that match `filter` (of `kept`, the page selection, when
    /// given), and where they are in the unit. `None` when no row matches, after decoding only
    /// the filter's columns.
    pub(crate) fn decode_filtered(
        &self,
        seg: usize,
        row_group: usize,
        schema: &SchemaRef,
        filter: &Expr,
        kept: Option<&Kept>,
    ) -> Result<Option<(RecordBatch, RowMap)>> {
        let rows = self.rows(seg, row_group);
        let names = filter.columns();
        let first = sub_schema(schema, |n| names.contains(n));
        let rest = sub_schema(schema, |n| !names.contains(n));
        let pre = self.decode(seg, row_group, &first, kept)?;
        let mask = filter
            .evaluate(&pre)
            .map_err(|e| Error::internal("evaluating the filter", e))?;
        let decoded = pre.num_rows() as u64;
        let sel = selected_rows(&mask, kept, rows);
        let matched: u64 = sel.iter().map(|r| r.end - r.start).sum();
        let all = matched == decoded;
        let c = &self.counters;
        if matched == 0 {
            c.late_rows_skipped.fetch_add(decoded, Ordering::Relaxed);
            c.late_units_skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let map = RowMap::from_ranges(rows, &sel);
        let pre = filtered(&pre, &mask, all)?;
        if rest.fields().is_empty() {
            return Ok(Some((pre, map)));
        }
        let post = if all {
            self.decode(seg, row_group, &rest, kept)?
        } else if decoded >= sel.len() as u64 * MIN_ROWS_PER_RUN {
            c.late_rows_skipped
                .fetch_add(decoded - matched, Ordering::Relaxed);
            self.decode(seg, row_group, &rest, Some(&sel))?
        } else {
            filtered(&self.decode(seg, row_group, &rest, kept)?, &mask, false)?
        };
        // `decode` counts a row group per call; this is one row group read.
        c.row_groups.fetch_sub(1, Ordering::Relaxed);
        let cols = schema
            .fields()
            .iter()
            .map(|f| {
                let from = if names.contains(f.name()) {
                    &pre
                } else {
                    &post
                };
                from.column_by_name(f.name())
                    .cloned()
                    .ok_or_else(|| Error::internal("assembling a filtered unit", f.name()))
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let batch = RecordBatch::try_new(schema.clone(), cols)
            .map_err(|e| Error::internal("assembling a filtered unit", e))?;
        Ok(Some((batch, map)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges_of(map: &RowMap, rows: u64) -> Vec<(u64, usize)> {
        (0..rows)
            .filter_map(|r| map.index(r).map(|i| (r, i)))
            .collect()
    }

    #[test]
    fn row_maps_number_the_rows_they_hold_in_order() {
        let ranges = [0..3, 63..65, 70..200, 256..257];
        let map = RowMap::from_ranges(300, &ranges);
        let got = ranges_of(&map, 300);
        let want: Vec<(u64, usize)> = ranges
            .iter()
            .flat_map(Clone::clone)
            .enumerate()
            .map(|(i, r)| (r, i))
            .collect();
        assert_eq!(got, want);
        assert_eq!(map.index(300), None);
        assert_eq!(map.index(10_000), None);
        let empty = RowMap::from_ranges(0, &[]);
        assert_eq!(empty.index(0), None);
    }

    #[test]
    fn a_mask_over_kept_rows_maps_back_to_unit_rows() {
        // Kept rows 2..5 and 10..14 (7 batch rows); the mask selects batch rows 1..5 and 6.
        let kept: Kept = vec![2..5, 10..14];
        let mask = BooleanArray::from(vec![false, true, true, true, true, false, true]);
        assert_eq!(
            selected_rows(&mask, Some(&kept), 20),
            vec![3..5, 10..12, 13..14]
        );
        // Without a page selection the batch rows are the unit rows.
        let mask = BooleanArray::from(vec![true, true, false, true]);
        assert_eq!(selected_rows(&mask, None, 4), vec![0..2, 3..4]);
        let none = BooleanArray::from(vec![false; 7]);
        assert!(selected_rows(&none, Some(&kept), 20).is_empty());
        // Adjacent kept ranges fully selected merge into one.
        let mask = BooleanArray::from(vec![true; 4]);
        assert_eq!(selected_rows(&mask, Some(&vec![0..2, 2..4]), 4), vec![0..4]);
    }
}
