//! The exact order of a scan: a pure function of (snapshot id, table, seed, epoch, rank, world
//! size), identical across machines, thread counts and batch sizes.
//!
//! Method (`docs/order.md` states it with the exact bytes hashed):
//! 1. The table's row groups, in storage order, are the *units*.
//! 2. With a seed, a key is derived from the snapshot id, table name, seed and epoch (BLAKE3
//!    `derive_key`), and the units are permuted by a Fisher–Yates shuffle driven by a
//!    BLAKE3 XOF stream keyed with it (a counter-based generator: no state is carried between
//!    windows, so any window can be produced on its own).
//! 2. The permuted units are grouped into *windows* of `window` units; the rows of each window
//!    are permuted again with a stream keyed by the window's index. `window` is the quality
//!    knob: rows mix across that many row groups (and that many are decoded together).
//! 3. The epoch's sequence is the windows' rows, window after window. Rank `r` of `w` takes the
//!    contiguous positions `floor(r·N/w) .. floor((r+1)·N/w)`, so every row appears exactly once
//!    per epoch and rank sizes differ by at most one.
//! 4. Without a seed the units stay in storage order and windows are not permuted.

use std::ops::Range;

/// One row group of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unit {
    /// Index of the segment in the table's segment list.
    pub(crate) segment: usize,
    /// Row group within the segment.
    pub(crate) row_group: usize,
    /// Rows in the row group.
    pub(crate) rows: u64,
    /// Global row number of its first row (storage order).
    pub(crate) start: u64,
}

/// A window: units decoded together, whose rows are permuted together.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// Indices into the units, in window order.
    pub(crate) units: Vec<usize>,
    /// Rows in the window.
    pub(crate) rows: u64,
    /// Position of its first row in the epoch's sequence.
    pub(crate) start: u64,
}

/// A deterministic random stream: BLAKE3 in keyed mode, extended output.
pub(crate) struct Stream(blake3::OutputReader);

impl Stream {
    pub(crate) fn new(key: &[u8; 32], label: &[u8], index: u64) -> Self {
        let mut h = blake3::Hasher::new_keyed(key);
        h.update(label);
        h.update(&index.to_le_bytes());
        Stream(h.finalize_xof())
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }

    /// Uniform in `0..n` (n > 0), by rejection: exact, no modulo bias.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }

    /// A Fisher–Yates permutation of `0..n`.
    pub(crate) fn permutation(&mut self, n: usize) -> Vec<u32> {
        let mut p: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            let j = self.below(i as u64 + 1) as usize;
            p.swap(i, j);
        }
        p
    }
}

/// The key of an epoch's order.
pub(crate) fn epoch_key(snapshot: &[u8; 32], table: &str, seed: u64, epoch: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("dstore scan order v1");
    h.update(snapshot);
    h.update(&(table.len() as u64).to_le_bytes());
    h.update(table.as_bytes());
    h.update(&seed.to_le_bytes());
    h.update(&epoch.to_le_bytes());
    *h.finalize().as_bytes()
}

/// The order of one epoch.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) units: Vec<Unit>,
    pub(crate) windows: Vec<Window>,
    pub(crate) key: Option<[u8; 32]>,
    pub(crate) total: u64,
}

impl Plan {
    pub(crate) fn new(units: Vec<Unit>, key: Option<[u8; 32]>, window: usize) -> Plan {
        let mut order: Vec<usize> = (0..units.len()).collect();
        if let Some(k) = &key {
            let perm = Stream::new(k, b"units", 0).permutation(units.len());
            order = perm.into_iter().map(|i| i as usize).collect();
        }
        let mut windows = Vec::new();
        let mut start = 0;
        for chunk in order.chunks(window.max(1)) {
            let rows = chunk.iter().map(|&u| units[u].rows).sum();
            windows.push(Window {
                units: chunk.to_vec(),
                rows,
                start,
            });
            start += rows;
        }
        Plan {
            units,
            windows,
            key,
            total: start,
        }
    }

    /// Positions of rank `rank` of `world`: `floor(r·N/w) .. floor((r+1)·N/w)`.
    pub(crate) fn rank_range(&self, rank: u32, world: u32) -> Range<u64> {
        let n = u128::from(self.total);
        let w = u128::from(world.max(1));
        let at = |r: u32| (n * u128::from(r) / w) as u64;
        at(rank)..at(rank + 1)
    }

    /// The window holding position `p` of the epoch's sequence.
    pub(crate) fn window_of(&self, p: u64) -> usize {
        self.windows.partition_point(|w| w.start + w.rows <= p)
    }

    /// Row permutation of window `w` (identity without a seed): element `i` is the row,
    /// counted through the window's units in window order, that comes `i`-th.
    pub(crate) fn window_rows(&self, w: usize) -> Vec<u32> {
        let n = self.windows[w].rows as usize;
        match &self.key {
            Some(k) => Stream::new(k, b"window", w as u64).permutation(n),
            None => (0..n as u32).collect(),
        }
    }

    /// The global (storage order) row number at each position of `range`. For tests and
    /// statistics; scans gather rows window by window instead.
    #[cfg(test)]
    #[allow(clippy::many_single_char_names)] // positions p, q, r, w, k as in docs/order.md
    pub(crate) fn rows_at(&self, range: Range<u64>) -> Vec<u64> {
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        let mut p = range.start;
        while p < range.end {
            let w = self.window_of(p);
            let win = &self.windows[w];
            let perm = self.window_rows(w);
            let mut offsets = Vec::with_capacity(win.units.len());
            let mut acc = 0u64;
            for &u in &win.units {
                offsets.push(acc);
                acc += self.units[u].rows;
            }
            let end = range.end.min(win.start + win.rows);
            for q in p..end {
                let r = u64::from(perm[(q - win.start) as usize]);
                let k = offsets.partition_point(|&o| o <= r) - 1;
                let u = &self.units[win.units[k]];
                out.push(u.start + (r - offsets[k]));
            }
            p = end;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(sizes: &[u64]) -> Vec<Unit> {
        let mut start = 0;
        sizes
            .iter()
            .enumerate()
            .map(|(i, &rows)| {
                let u = Unit {
                    segment: i / 3,
                    row_group: i % 3,
                    rows,
                    start,
                };
                start += rows;
                u
            })
            .collect()
    }

    #[test]
    fn every_row_once_and_balanced_ranks() {
        let plan = Plan::new(units(&[5, 7, 1, 9, 4, 4, 3]), Some([7; 32]), 2);
        let world = 4;
        let mut all = Vec::new();
        let mut sizes = Vec::new();
        for r in 0..world {
            let rows = plan.rows_at(plan.rank_range(r, world));
            sizes.push(rows.len());
            all.extend(rows);
        }
        all.sort_unstable();
        assert_eq!(all, (0..33).collect::<Vec<u64>>());
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
    }

    #[test]
    fn no_seed_is_storage_order_and_seeds_differ() {
        let u = units(&[3, 3, 3]);
        assert_eq!(
            Plan::new(u.clone(), None, 2).rows_at(0..9),
            (0..9).collect::<Vec<_>>()
        );
        let a = Plan::new(u.clone(), Some(epoch_key(&[0; 32], "t", 1, 0)), 2).rows_at(0..9);
        let b = Plan::new(u, Some(epoch_key(&[0; 32], "t", 1, 1)), 2).rows_at(0..9);
        assert_ne!(a, b, "epochs give different orders");
    }

    #[test]
    fn rows_mix_within_windows_and_move_across_the_table() {
        // 64 row groups of 100 rows, windows of 4.
        let plan = Plan::new(units(&[100; 64]), Some(epoch_key(&[3; 32], "t", 5, 0)), 4);
        let seq = plan.rows_at(0..6400);
        // Each run of 100 consecutive positions draws rows from every row group of its window:
        // rows are mixed, not just row groups reordered.
        for chunk in seq.chunks(100) {
            let mut groups: Vec<u64> = chunk.iter().map(|r| r / 100).collect();
            groups.sort_unstable();
            groups.dedup();
            assert_eq!(groups.len(), 4, "{groups:?}");
        }
        // Rows travel across the table: a uniform permutation moves a row N/3 on average.
        let moved = seq
            .iter()
            .enumerate()
            .map(|(p, &r)| (p as f64 - r as f64).abs())
            .sum::<f64>()
            / 6400.0
            / 6400.0;
        assert!((0.25..0.42).contains(&moved), "mean |move|/N = {moved}");
    }

    #[test]
    fn below_is_in_range() {
        let mut s = Stream::new(&[1; 32], b"x", 0);
        for n in [1, 2, 3, 10, 1 << 40] {
            for _ in 0..100 {
                assert!(s.below(n) < n);
            }
        }
    }
}
