//! Scan order v2 (`docs/order.md`) on tables whose row groups it cuts into several units:
//! every row once per epoch across ranks, balanced ranks, exact resumption from any cursor
//! (v1 and v2, and cursors saved before v2 existed), output independent of threads, batch size
//! and read-ahead, the memory budget held (decoded rows and estimated bytes in flight), and the
//! shuffle's quality at default settings.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use dstore::scan::{ScanBuilder, ScanCursor};
use dstore::{CommitOptions, IngestOptions, Snapshot};

use super::common::{self, fresh_store};

const TABLE: &str = "t";

/// A table of `row_groups` row groups of `rows` rows, one segment per commit of `per_commit`
/// row groups; `id` is each row's storage position (so the output of a scan is its order) and
/// `x` a second column.
fn table(row_groups: usize, rows: usize, per_commit: usize) -> (tempfile::TempDir, Snapshot) {
    let (dir, store) = fresh_store();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("x", DataType::Int64, false),
    ]));
    let mut last = None;
    let mut start = 0i64;
    for c in 0..row_groups.div_ceil(per_commit) {
        let groups = per_commit.min(row_groups - c * per_commit);
        let n = (groups * rows) as i64;
        let ids: Vec<i64> = (start..start + n).collect();
        let xs: Vec<i64> = ids
            .iter()
            .map(|i| i.wrapping_mul(0x9E37_79B9) % 1000)
            .collect();
        start += n;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(Int64Array::from(xs)),
            ],
        )
        .unwrap();
        let mut tx = store.begin();
        tx.add_reader(
            TABLE,
            common::reader(vec![batch]),
            &IngestOptions {
                row_group_rows: rows,
                ..IngestOptions::default()
            },
        )
        .unwrap();
        last = Some(tx.commit(&CommitOptions::message("order test")).unwrap());
    }
    let snap = store.snapshot(&last.unwrap().id).unwrap();
    (dir, snap)
}

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name("id").expect("id");
            let c = c.as_any().downcast_ref::<Int64Array>().expect("int64");
            c.values().to_vec()
        })
        .collect()
}

fn run(b: ScanBuilder) -> Vec<RecordBatch> {
    b.batches()
        .unwrap()
        .collect::<dstore::Result<Vec<_>>>()
        .unwrap()
}

/// Estimated decoded bytes of the first row group, by the rule of docs/order.md (order v2):
/// per chunk `max(2 × length, rows × 8)` for these int64 columns, plus 4 bytes a row.
fn first_row_group_bytes(snap: &Snapshot) -> u64 {
    let segs = snap.segments(TABLE).unwrap();
    let g = &segs[0].row_groups[0];
    g.chunks
        .iter()
        .map(|c| (2 * c.length).max(8 * g.rows))
        .sum::<u64>()
        + 4 * g.rows
}

/// A budget whose half holds 2 of the 4 units (of 7,500 rows) v2 cuts a 30,000-row row group
/// into.
fn budget(snap: &Snapshot) -> u64 {
    first_row_group_bytes(snap) + 1000
}

/// 6 row groups of 30,000 rows, shuffled, with a budget of 2 units per window.
fn v2(snap: &Snapshot) -> ScanBuilder {
    snap.scan(TABLE)
        .unwrap()
        .shuffle(5)
        .epoch(1)
        .memory_budget(budget(snap))
}

#[test]
fn v2_ranks_partition_the_epoch_and_units_are_below_the_row_group() {
    let (_d, snap) = table(6, 30_000, 2);
    let n = 180_000;
    let world = 3;
    let mut all = Vec::new();
    let mut sizes = Vec::new();
    for r in 0..world {
        let got = ids(&run(v2(&snap).shard(r, world).batch_size(4096)));
        sizes.push(got.len());
        all.extend(got);
    }
    assert_eq!(sizes, vec![60_000; 3]);
    let seq = all.clone();
    all.sort_unstable();
    assert_eq!(all, (0..n).collect::<Vec<i64>>(), "every row exactly once");
    // Rows of one row group come in several runs far apart: the row group was cut.
    let group = |id: i64| id / 30_000;
    let first_window: Vec<i64> = seq[..15_000].iter().map(|&i| group(i)).collect();
    let mut distinct = first_window.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() <= 2,
        "15,000 rows from 2 units: {distinct:?}"
    );
    let v1 = ids(&run(snap
        .scan(TABLE)
        .unwrap()
        .shuffle(5)
        .epoch(1)
        .order_version(1)));
    assert_ne!(v1, seq, "v1 and v2 differ");
}

#[test]
fn v2_output_ignores_threads_batch_size_and_read_ahead() {
    let (_d, snap) = table(6, 30_000, 2);
    let want = ids(&run(v2(&snap)));
    for (threads, batch, ahead) in [(1, 1000, 0), (2, 7, 3), (4, 65_536, 1), (2, 30_000, 2)] {
        let got = ids(&run(v2(&snap)
            .threads(threads)
            .batch_size(batch)
            .read_ahead(ahead)));
        assert_eq!(
            got, want,
            "threads {threads} batch {batch} read-ahead {ahead}"
        );
    }
}

/// Stops after each of several batch counts, saves the cursor as JSON, resumes from it in a
/// fresh builder: the concatenation is the uninterrupted sequence.
fn resumes_exactly(fresh: &dyn Fn() -> ScanBuilder, legacy: bool) {
    let full = ids(&run(fresh()));
    for stop in [0usize, 1, 2, 5, 11, 17] {
        let mut it = fresh().batches().unwrap();
        let mut got = Vec::new();
        for _ in 0..stop {
            match it.next() {
                Some(b) => got.extend(ids(&[b.unwrap()])),
                None => break,
            }
        }
        let mut json = serde_json::to_value(it.cursor()).unwrap();
        if legacy {
            // A cursor saved before order v2 existed: no `order`, no `memory_budget`.
            let o = json.as_object_mut().unwrap();
            assert_eq!(o.remove("order"), Some(serde_json::json!(1)));
            o.remove("memory_budget").unwrap();
        }
        let cursor: ScanCursor = serde_json::from_value(json).unwrap();
        // The fresh builder's own defaults (v2, default budget) must not matter.
        let resumed = snap_of(fresh).resume(&cursor).unwrap();
        got.extend(ids(&run(resumed)));
        assert_eq!(got, full, "stopped after {stop} batches");
    }
}

fn snap_of(fresh: &dyn Fn() -> ScanBuilder) -> ScanBuilder {
    // A builder of the same scan with the defaults: a batch size of its own too.
    let b = fresh();
    b.order_version(2).memory_budget(1 << 30).batch_size(3333)
}

#[test]
fn cursors_resume_v1_and_v2_exactly_and_old_cursors_mean_v1() {
    let (_d, snap) = table(6, 30_000, 2);
    resumes_exactly(&|| v2(&snap).batch_size(7000).shard(1, 2), false);
    let v1 = || {
        snap.scan(TABLE)
            .unwrap()
            .shuffle(5)
            .order_version(1)
            .window(2)
            .batch_size(7000)
    };
    resumes_exactly(&v1, false);
    resumes_exactly(&v1, true);
}

#[test]
fn the_memory_budget_bounds_decoded_rows_in_flight() {
    let (_d, snap) = table(6, 30_000, 2);
    let n = 180_000u64;
    for ahead in [0usize, 1, 4] {
        let mut it = v2(&snap)
            .read_ahead(ahead)
            .batch_size(1000)
            .batches()
            .unwrap();
        let mut rows = 0;
        for b in it.by_ref() {
            rows += b.unwrap().num_rows() as u64;
        }
        assert_eq!(rows, n);
        let s = it.stats();
        eprintln!("read-ahead {ahead}, budget {}: {s:?}", budget(&snap));
        assert!(
            s.estimated_bytes_peak <= budget(&snap),
            "read-ahead {ahead}: {} estimated bytes reserved at once",
            s.estimated_bytes_peak
        );
        assert!(s.decoded_bytes_peak <= budget(&snap), "{s:?}");
        // 2 units of 7,500 rows per window, at most 2 windows held (one with no read-ahead).
        let most = if ahead == 0 { 15_000 } else { 30_000 };
        assert!(
            s.decoded_rows_peak <= most && s.decoded_rows_peak >= 7_500,
            "read-ahead {ahead}: {} decoded rows held at once",
            s.decoded_rows_peak
        );
    }
    // Order v1 with its default window of 4 row groups holds up to 8 of them.
    let mut it = snap
        .scan(TABLE)
        .unwrap()
        .order_version(1)
        .batches()
        .unwrap();
    for b in it.by_ref() {
        b.unwrap();
    }
    assert!(it.stats().decoded_rows_peak >= 120_000, "{:?}", it.stats());
}

#[test]
fn v2_refuses_a_window_and_unknown_versions() {
    let (_d, snap) = table(1, 10, 1);
    let e = snap.scan(TABLE).unwrap().window(8).batches().unwrap_err();
    assert!(e.to_string().contains("order v1"), "{e}");
    let e = snap
        .scan(TABLE)
        .unwrap()
        .order_version(3)
        .batches()
        .unwrap_err();
    assert!(e.to_string().contains("version 3"), "{e}");
    let e = snap
        .scan(TABLE)
        .unwrap()
        .memory_budget(0)
        .batches()
        .unwrap_err();
    assert!(e.to_string().contains("budget"), "{e}");
}

/// Quality figures of a sequence of storage positions: mean |move| / N, the share of storage
/// neighbours still within 256 positions, and the row groups (of `rows_per_group`) drawn on in
/// each run of 256 output rows.
fn quality(seq: &[i64], rows_per_group: i64) -> (f64, f64, f64) {
    let n = seq.len();
    let mut pos = vec![0usize; n];
    for (p, &id) in seq.iter().enumerate() {
        pos[id as usize] = p;
    }
    let nf = n as f64;
    let moved = seq
        .iter()
        .enumerate()
        .map(|(p, &id)| (p as f64 - id as f64).abs())
        .sum::<f64>()
        / nf
        / nf;
    let near = (0..n - 1)
        .filter(|&i| pos[i].abs_diff(pos[i + 1]) <= 256)
        .count() as f64
        / (nf - 1.0);
    let spread = seq
        .chunks(256)
        .map(|c| {
            let mut g: Vec<i64> = c.iter().map(|id| id / rows_per_group).collect();
            g.sort_unstable();
            g.dedup();
            g.len() as f64
        })
        .sum::<f64>()
        / n.div_ceil(256) as f64;
    (moved, near, spread)
}

/// At default settings (order v2, 512 MiB) on 64 row groups sorted by `id`, the shuffle is as
/// good as a uniform permutation. Margins: the mean move of a uniform permutation of 64 units
/// is 1/3 with a standard deviation of about 0.03 (so ±0.08 is over 2.5σ); the neighbours
/// kept within 256 positions are ~Binomial(N, 512/N), mean 512, σ ≈ 23, and the bound is 2×
/// the mean; 256 rows drawn uniformly from 64 equal row groups hit 63.0 of them on average.
#[test]
fn default_v2_mixes_the_whole_table_like_a_uniform_permutation() {
    let rows = 4096;
    let (_d, snap) = table(64, rows, 16);
    let n = 64.0 * rows as f64;
    let seq = ids(&run(snap.scan(TABLE).unwrap().shuffle(1).columns(["id"])));
    let (moved, near, spread) = quality(&seq, rows as i64);
    assert!((0.25..0.42).contains(&moved), "mean |move|/N = {moved}");
    assert!(near <= 2.0 * 512.0 / n, "neighbours within 256: {near}");
    assert!(spread >= 60.0, "row groups per 256 rows: {spread}");
    // Order v1 at its defaults mixes 4 row groups at a time.
    let seq = ids(&run(snap
        .scan(TABLE)
        .unwrap()
        .shuffle(1)
        .order_version(1)
        .columns(["id"])));
    let (_, near_v1, spread_v1) = quality(&seq, rows as i64);
    assert!(spread_v1 <= 4.0, "v1: {spread_v1}");
    assert!(near_v1 > 8.0 * near, "v1 {near_v1} vs v2 {near}");
}
