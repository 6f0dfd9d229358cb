//! Restricting a scan to some segments of its table and some rows of them: what a scan
//! [`since`](super::ScanBuilder::since) another snapshot reads (`docs/order.md`, "Scans since
//! another snapshot"). The rows are found by `crate::diff`; this file only applies them.

use std::ops::Range;

use dstore_format::{SegmentEntry, SegmentId};

use super::order::Unit;
use super::read::Kept;

/// Rows of one segment of a table: the segment's position in the table's segment list, its
/// id, and the rows (sorted, disjoint ranges of row numbers within the segment; `None`: all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRows {
    /// Position in the table's segment list (storage order).
    pub index: usize,
    /// The segment.
    pub segment: SegmentId,
    /// Row ranges within the segment; `None`: every row.
    pub rows: Option<Vec<Range<u64>>>,
}

impl SegmentRows {
    /// Rows selected, given the segment's row count.
    pub fn count(&self, segment_rows: u64) -> u64 {
        self.rows
            .as_ref()
            .map_or(segment_rows, |r| r.iter().map(|r| r.end - r.start).sum())
    }
}

/// The units of a scan restricted to some segments and rows: the units of the chosen
/// segments (in the order `restrict` lists them, renumbered so their rows stay consecutive),
/// with the rows each unit keeps when the restriction selects rows within a segment, as row
/// numbers within the unit's row group clipped to the unit (empty: no unit selects rows).
/// `units` are all the table's units in storage order ([`super::order::units`]).
pub(super) fn restrict_units(
    units: Vec<Unit>,
    entries: &[SegmentEntry],
    restrict: Option<&Vec<SegmentRows>>,
) -> (Vec<Unit>, Vec<Option<Kept>>) {
    let Some(restrict) = restrict else {
        return (units, Vec::new());
    };
    // Units of segment s: by_segment[s] (storage order keeps a segment's units together).
    let mut by_segment: Vec<Vec<Unit>> = vec![Vec::new(); entries.len()];
    for u in units {
        by_segment[u.segment].push(u);
    }
    let mut out = Vec::new();
    let mut selected = Vec::new();
    let mut start = 0;
    for s in restrict {
        // Row number of each row group's first row within the segment.
        let mut firsts = Vec::with_capacity(entries[s.index].row_groups.len());
        let mut at = 0;
        for rg in &entries[s.index].row_groups {
            firsts.push(at);
            at += rg.rows;
        }
        for u in &by_segment[s.index] {
            selected.push(s.rows.as_ref().map(|ranges| {
                // The unit's rows as segment row numbers, then back to row group ones.
                let base = firsts[u.row_group];
                let (a, b) = (base + u.first, base + u.first + u.rows);
                ranges
                    .iter()
                    .filter(|r| r.end > a && r.start < b)
                    .map(|r| r.start.max(a) - base..r.end.min(b) - base)
                    .collect::<Kept>()
            }));
            out.push(Unit { start, ..*u });
            start += u.rows;
        }
    }
    if selected.iter().all(Option::is_none) {
        selected.clear();
    }
    (out, selected)
}
