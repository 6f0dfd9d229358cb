//! A KLL quantile sketch (Karnin, Lang, Liberty 2016) over `f64`, with its coin flips drawn from
//! a SplitMix64 generator whose seed and state are part of the sketch: the same values in the
//! same order give the same sketch, bit for bit, on any machine (docs/format.md §16.3).
//!
//! Why not `datasketches::kll`: datasketches 0.6.0's `KllSketch` draws its compaction coins from
//! `common::random::random_bit`, a thread-local generator seeded from `RandomState` and the
//! thread id, with no way to seed it. Two profiles of one segment would then differ in their
//! bytes (and in their quantiles), which content-addressed derived objects cannot allow. The
//! algorithm here is that crate's (and the Java/C++ libraries'): level capacities
//! `max(m, ⌈k·(2/3)^depth⌉)`, compaction of the lowest full level by keeping the odd or even
//! items of its sorted run (one coin per compaction), an odd leftover staying behind.
//!
//! Error: with `k = 200` the DataSketches a-priori bound on the normalized rank error is
//! `2.296 / k^0.9723 = 1.33%` (99% confidence, single-sided); [`RANK_ERROR`] states it and the
//! tests check it against exact ranks.

use dstore_format::codec::{Decoder, Encoder};

/// The sketch's `k`: 200, DataSketches' default.
pub const K: u16 = 200;
const M: usize = 8;
/// Level 0 holds at least this many items before a compaction is considered. DataSketches
/// compacts as soon as level 0 reaches its capacity, which is `M` = 8 once a sketch has more
/// than 8 levels: a sort and a merge into level 1 every few values, a third of profiling's time.
/// Letting level 0 fill to 256 first compacts it 32 times less often; each compaction still
/// halves a sorted run, so the error bound is unchanged (fewer compactions can only lower it),
/// and a sketch retains at most 256 items (2 KiB) more. (At 128 profiling took about 1.3× as long
/// as at 256; 1024 took about 10% less, for 6 KiB more per column.)
const STAGE: usize = 256;
/// The generator's seed in every new sketch.
const SEED: u64 = 0x6473_746f_7265_4b4c; // "dstoreKL"
/// Normalized rank error of a sketch with [`K`] = 200 (99% confidence).
pub const RANK_ERROR: f64 = 0.0133;

/// A KLL sketch. Levels hold items of weight `2^level`; level 0 is unsorted, the others sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct Kll {
    n: u64,
    rng: u64,
    levels: Vec<Vec<f64>>,
}

impl Default for Kll {
    fn default() -> Self {
        Self::new()
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Depths with a capacity above `M` (below `(2/3)^depth · K ≤ M` from depth 8 on); deeper
/// levels all have capacity `M`.
const DEPTHS: usize = 16;

/// Capacity of a level at `depth` below the top: `max(M, ⌈K·(2/3)^depth⌉)`.
fn capacity_at(depth: usize) -> usize {
    ((f64::from(K) * (2.0f64 / 3.0).powi(depth as i32)).ceil() as usize).max(M)
}

/// Capacities by depth, and their running sums (`TOTALS[d]`: the total of depths `0..d`),
/// computed once by the same formula: every update asks, and `powi` per value was a fifth of
/// profiling's time.
struct Capacities {
    by_depth: [usize; DEPTHS],
    totals: [usize; DEPTHS + 1],
}

fn capacities() -> &'static Capacities {
    static CAPS: std::sync::OnceLock<Capacities> = std::sync::OnceLock::new();
    CAPS.get_or_init(|| {
        let mut c = Capacities {
            by_depth: [M; DEPTHS],
            totals: [0; DEPTHS + 1],
        };
        for d in 0..DEPTHS {
            c.by_depth[d] = capacity_at(d);
            c.totals[d + 1] = c.totals[d] + c.by_depth[d];
        }
        c
    })
}

fn level_capacity(levels: usize, level: usize) -> usize {
    let depth = levels - level - 1;
    if depth < DEPTHS {
        capacities().by_depth[depth]
    } else {
        M
    }
}

/// Total capacity of a sketch of `levels` levels.
fn total_capacity(levels: usize) -> usize {
    let c = capacities();
    if levels <= DEPTHS {
        c.totals[levels]
    } else {
        c.totals[DEPTHS] + (levels - DEPTHS) * M
    }
}

/// Sorts by `f64::total_cmp`, as integers: the same order (`total_cmp`'s own key), but the
/// sort compares `i64`s, about twice as fast on level 0's runs.
fn sort_total(xs: &mut [f64]) {
    let key = |x: f64| {
        let b = x.to_bits() as i64;
        b ^ (((b >> 63) as u64) >> 1) as i64
    };
    let unkey = |k: i64| f64::from_bits((k ^ (((k >> 63) as u64) >> 1) as i64) as u64);
    let mut keys: Vec<i64> = xs.iter().map(|&x| key(x)).collect();
    keys.sort_unstable();
    for (x, k) in xs.iter_mut().zip(keys) {
        *x = unkey(k);
    }
}

fn merge_sorted(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].total_cmp(&b[j]).is_le() {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

impl Kll {
    /// An empty sketch.
    pub fn new() -> Self {
        Kll {
            n: 0,
            rng: SEED,
            levels: vec![Vec::new()],
        }
    }

    /// Values seen.
    pub fn n(&self) -> u64 {
        self.n
    }

    fn retained(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    fn total_capacity(&self) -> usize {
        total_capacity(self.levels.len())
    }

    /// Adds a value; NaN is the caller's to count and leave out.
    pub fn update(&mut self, x: f64) {
        debug_assert!(!x.is_nan());
        self.n += 1;
        self.levels[0].push(x);
        if self.levels[0].len() >= level_capacity(self.levels.len(), 0).max(STAGE) {
            self.compress();
        }
    }

    /// Compacts the lowest levels at or over capacity until the sketch fits.
    fn compress(&mut self) {
        while self.retained() >= self.total_capacity() {
            let n_levels = self.levels.len();
            let Some(level) =
                (0..n_levels).find(|&l| self.levels[l].len() >= level_capacity(n_levels, l))
            else {
                return;
            };
            self.compact(level);
        }
    }

    fn compact(&mut self, level: usize) {
        if level + 1 == self.levels.len() {
            self.levels.push(Vec::new());
        }
        let mut run = std::mem::take(&mut self.levels[level]);
        if level == 0 {
            sort_total(&mut run);
        }
        // An odd item stays behind (the smallest, so the rest pairs up).
        let leftover = (run.len() % 2 == 1).then(|| run[0]);
        let start = usize::from(leftover.is_some());
        let offset = (splitmix(&mut self.rng) & 1) as usize;
        let up: Vec<f64> = run[start..]
            .iter()
            .skip(offset)
            .step_by(2)
            .copied()
            .collect();
        self.levels[level] = leftover.into_iter().collect();
        let above = std::mem::take(&mut self.levels[level + 1]);
        self.levels[level + 1] = merge_sorted(&above, &up);
    }

    /// Merges `other` into this sketch (level by level, then compacted to fit).
    pub fn merge(&mut self, other: &Kll) {
        if other.n == 0 {
            return;
        }
        self.n = self.n.saturating_add(other.n);
        while self.levels.len() < other.levels.len() {
            self.levels.push(Vec::new());
        }
        self.levels[0].extend_from_slice(&other.levels[0]);
        for (l, items) in other.levels.iter().enumerate().skip(1) {
            let mine = std::mem::take(&mut self.levels[l]);
            self.levels[l] = merge_sorted(&mine, items);
        }
        self.compress();
    }

    /// Items with their weights, sorted by value.
    fn weighted(&self) -> Vec<(f64, u64)> {
        let mut out: Vec<(f64, u64)> = self
            .levels
            .iter()
            .enumerate()
            .flat_map(|(l, items)| items.iter().map(move |&x| (x, 1u64 << l)))
            .collect();
        out.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        out
    }

    /// The value at normalized rank `q` (0 to 1): the smallest retained item whose cumulative
    /// weight reaches `q·n`. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles(&[q]).pop().flatten()
    }

    /// [`Kll::quantile`] of each rank, with one sort.
    pub fn quantiles(&self, qs: &[f64]) -> Vec<Option<f64>> {
        let w = self.weighted();
        let total: u128 = w.iter().map(|p| u128::from(p.1)).sum();
        qs.iter()
            .map(|&q| {
                if w.is_empty() {
                    return None;
                }
                let target = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u128;
                let mut acc = 0u128;
                for &(x, wt) in &w {
                    acc += u128::from(wt);
                    if acc >= target {
                        return Some(x);
                    }
                }
                w.last().map(|p| p.0)
            })
            .collect()
    }

    /// The normalized rank of `x`: the weight of items `<= x` over the total weight.
    pub fn rank(&self, x: f64) -> f64 {
        self.cdf(&[x]).pop().unwrap_or(0.0)
    }

    /// [`Kll::rank`] of each point, with one sort; 0 for an empty sketch.
    pub fn cdf(&self, points: &[f64]) -> Vec<f64> {
        let w = self.weighted();
        let mut cum = Vec::with_capacity(w.len());
        let mut acc = 0u128;
        for p in &w {
            acc += u128::from(p.1);
            cum.push(acc);
        }
        if acc == 0 {
            return vec![0.0; points.len()];
        }
        points
            .iter()
            .map(|&x| {
                let upto = w.partition_point(|p| p.0.total_cmp(&x).is_le());
                let below = if upto == 0 { 0 } else { cum[upto - 1] };
                below as f64 / acc as f64
            })
            .collect()
    }

    /// Encoding (docs/format.md §16.3): `u64 n`, `u64 rng`, `seq<seq<f64 bits>>` levels.
    pub(crate) fn encode(&self, e: &mut Encoder) {
        e.u64(self.n);
        e.u64(self.rng);
        e.len(self.levels.len());
        for l in &self.levels {
            e.len(l.len());
            for x in l {
                e.u64(x.to_bits());
            }
        }
    }

    pub(crate) fn decode(d: &mut Decoder<'_>) -> dstore_format::Result<Kll> {
        let n = d.u64()?;
        let rng = d.u64()?;
        let levels_n = d.len(4)?;
        if levels_n == 0 || levels_n > 64 {
            return Err(d.error(format!("{levels_n} KLL levels (1 to 64 allowed)")));
        }
        let mut levels = Vec::with_capacity(levels_n);
        let mut weight = 0u128;
        for l in 0..levels_n {
            let c = d.len(8)?;
            let mut items = Vec::with_capacity(c);
            for _ in 0..c {
                let x = f64::from_bits(d.u64()?);
                if x.is_nan() {
                    return Err(d.error("NaN in a KLL level"));
                }
                items.push(x);
            }
            if l > 0 && items.windows(2).any(|w| w[0].total_cmp(&w[1]).is_gt()) {
                return Err(d.error(format!("KLL level {l} is not sorted")));
            }
            weight += (c as u128) << l;
            levels.push(items);
        }
        // Compaction keeps weight exactly except for leftovers: retained weight can only be
        // lower than n by less than 2^levels, never higher.
        if weight > u128::from(n) {
            return Err(d.error(format!("KLL items weigh {weight}, more than n = {n}")));
        }
        Ok(Kll { n, rng, levels })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_rank(sorted: &[f64], x: f64) -> f64 {
        sorted.partition_point(|&v| v <= x) as f64 / sorted.len() as f64
    }

    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| (splitmix(&mut s) % 1_000_000) as f64 / 7.0)
            .collect()
    }

    #[test]
    fn ranks_within_stated_error_single_and_merged() {
        let xs = values(300_000, 1);
        let mut one = Kll::new();
        for &x in &xs {
            one.update(x);
        }
        let mut merged = Kll::new();
        for part in xs.chunks(37_000) {
            let mut s = Kll::new();
            for &x in part {
                s.update(x);
            }
            merged.merge(&s);
        }
        let mut sorted = xs.clone();
        sorted.sort_by(f64::total_cmp);
        for sk in [&one, &merged] {
            assert_eq!(sk.n(), xs.len() as u64);
            for q in [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99] {
                let v = sk.quantile(q).unwrap();
                let err = (exact_rank(&sorted, v) - q).abs();
                assert!(err <= RANK_ERROR, "q {q}: value {v} has rank error {err}");
            }
            assert!(sk.retained() < 2_000, "retained {}", sk.retained());
        }
    }

    #[test]
    fn integer_sort_is_total_cmp_order() {
        let mut xs = values(5000, 11);
        xs.extend([
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1e-300,
            1e-300,
            -5.0,
            5.0,
        ]);
        let mut want = xs.clone();
        want.sort_by(f64::total_cmp);
        sort_total(&mut xs);
        assert_eq!(
            xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn same_input_same_sketch() {
        let xs = values(50_000, 7);
        let mut a = Kll::new();
        let mut b = Kll::new();
        for &x in &xs {
            a.update(x);
        }
        // On another thread: no thread-local state.
        let b = std::thread::spawn(move || {
            for &x in &xs {
                b.update(x);
            }
            b
        })
        .join()
        .unwrap();
        let enc = |k: &Kll| {
            let mut e = Encoder::new();
            k.encode(&mut e);
            e.into_bytes()
        };
        assert_eq!(enc(&a), enc(&b));
        let bytes = enc(&a);
        let mut d = Decoder::new(&bytes, dstore_format::ObjectKind::Profile);
        assert_eq!(Kll::decode(&mut d).unwrap(), a);
    }

    #[test]
    fn cached_capacities_are_the_formula() {
        for levels in 1..64 {
            let mut total = 0;
            for level in 0..levels {
                let want = capacity_at(levels - level - 1);
                assert_eq!(
                    level_capacity(levels, level),
                    want,
                    "{levels} levels, {level}"
                );
                total += want;
            }
            assert_eq!(total_capacity(levels), total, "{levels} levels");
        }
    }

    #[test]
    fn small_sketches_are_exact() {
        let mut s = Kll::new();
        for x in [5.0, 1.0, 3.0, 2.0, 4.0] {
            s.update(x);
        }
        assert_eq!(s.quantile(0.0), Some(1.0));
        assert_eq!(s.quantile(0.5), Some(3.0));
        assert_eq!(s.quantile(1.0), Some(5.0));
        assert!((s.rank(2.0) - 0.4).abs() < 1e-12);
        assert_eq!(Kll::new().quantile(0.5), None);
    }
}
