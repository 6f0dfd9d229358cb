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

/// The units (row groups) of a scan, in storage order: every row group of the table, or of
/// the restricted segments only; with the rows each unit keeps when the restriction selects
/// rows within a segment (empty: no unit selects rows).
pub(super) fn units_of(
    entries: &[SegmentEntry],
    restrict: Option<&Vec<SegmentRows>>,
) -> (Vec<Unit>, Vec<Option<Kept>>) {
    let mut units = Vec::new();
    let mut selected = Vec::new();
    let mut start = 0;
    let chosen: Vec<(usize, Option<&Vec<Range<u64>>>)> = match restrict {
        None => (0..entries.len()).map(|s| (s, None)).collect(),
        Some(r) => r.iter().map(|s| (s.index, s.rows.as_ref())).collect(),
    };
    for (s, rows) in chosen {
        let mut first = 0;
        for (g, rg) in entries[s].row_groups.iter().enumerate() {
            units.push(Unit {
                segment: s,
                row_group: g,
                rows: rg.rows,
                start,
            });
            start += rg.rows;
            selected.push(rows.map(|ranges| {
                let (a, b) = (first, first + rg.rows);
                ranges
                    .iter()
                    .filter(|r| r.end > a && r.start < b)
                    .map(|r| r.start.max(a) - a..r.end.min(b) - a)
                    .collect::<Kept>()
            }));
            first += rg.rows;
        }
    }
    if selected.iter().all(Option::is_none) {
        selected.clear();
    }
    (units, selected)
}

/// Rows kept by both selections (`None`: all).
#[allow(clippy::many_single_char_names)] // a, b: the selections; i, j: their ranges; s, e: bounds
pub(super) fn intersect(a: Option<Kept>, b: Option<&Kept>) -> Option<Kept> {
    match (a, b) {
        (None, None) => None,
        (Some(a), None) => Some(a),
        (None, Some(b)) => Some(b.clone()),
        (Some(a), Some(b)) => {
            let mut out = Vec::new();
            let (mut i, mut j) = (0, 0);
            while i < a.len() && j < b.len() {
                let (s, e) = (a[i].start.max(b[j].start), a[i].end.min(b[j].end));
                if s < e {
                    out.push(s..e);
                }
                if a[i].end < b[j].end {
                    i += 1;
                } else {
                    j += 1;
                }
            }
            Some(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::intersect;

    #[test]
    fn intersection_of_row_selections() {
        assert_eq!(intersect(None, None), None);
        assert_eq!(
            intersect(Some(vec![0..5, 8..12]), Some(&vec![3..9, 11..20])),
            Some(vec![3..5, 8..9, 11..12])
        );
        assert_eq!(
            intersect(Some(vec![0..2, 5..6]), Some(&vec![2..4, 6..7])),
            Some(vec![])
        );
    }
}
