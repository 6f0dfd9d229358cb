//! Profiles: determinism (ingest vs first use, twice, other threads), merge laws (proptest),
//! sketch accuracy against exact values, the codec, and drift verdicts on generated data.

#![allow(clippy::many_single_char_names, clippy::float_cmp)]

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, ListArray, RecordBatch, RecordBatchIterator,
    StringArray, StructArray,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use proptest::prelude::*;

use super::build::RowGroupProfiler;
use super::drift::{ColumnRule, DriftRules, TestKind, column_drift};
use super::kll::RANK_ERROR;
use super::*;
use crate::{CommitOptions, IngestOptions, Store};

/// A deterministic generator (SplitMix64) so the data are the same on every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let (u, v) = (self.unit().max(1e-300), self.unit());
        mean + sd * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    fn pick(&mut self, cats: &[(&str, f64)]) -> String {
        let mut u = self.unit();
        for (c, p) in cats {
            if u < *p {
                return (*c).to_owned();
            }
            u -= p;
        }
        cats.last().unwrap().0.to_owned()
    }
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("n", DataType::Int64, true),
        Field::new("c", DataType::Utf8, true),
        Field::new("b", DataType::Boolean, true),
        Field::new(
            "s",
            DataType::Struct(vec![Field::new("k", DataType::Int64, true)].into()),
            true,
        ),
        Field::new(
            "l",
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
            true,
        ),
    ]))
}

struct Spec<'a> {
    mean: f64,
    cats: &'a [(&'a str, f64)],
    null_rate: f64,
}

const CATS: &[(&str, f64)] = &[("red", 0.5), ("green", 0.3), ("blue", 0.2)];
const BASE: Spec<'static> = Spec {
    mean: 10.0,
    cats: CATS,
    null_rate: 0.02,
};

fn batch(g: &mut Gen, rows: usize, spec: &Spec<'_>) -> RecordBatch {
    let x: Float64Array = (0..rows)
        .map(|i| {
            if g.unit() < spec.null_rate {
                None
            } else if i % 997 == 5 {
                Some(f64::NAN)
            } else {
                Some(g.normal(spec.mean, 2.0))
            }
        })
        .collect();
    let n: Int64Array = (0..rows).map(|_| Some((g.next() % 7) as i64)).collect();
    let c: StringArray = (0..rows)
        .map(|_| (g.unit() >= spec.null_rate).then(|| g.pick(spec.cats)))
        .collect();
    let b: BooleanArray = (0..rows).map(|_| Some(g.unit() < 0.3)).collect();
    let k: ArrayRef = Arc::new((0..rows).map(|i| Some(i as i64)).collect::<Int64Array>());
    let s = StructArray::new(
        vec![Field::new("k", DataType::Int64, true)].into(),
        vec![k],
        Some((0..rows).map(|i| i % 10 != 3).collect::<Vec<_>>().into()),
    );
    let l = ListArray::from_iter_primitive::<Int32Type, _, _>(
        (0..rows).map(|i| (i % 5 != 0).then(|| (0..(i % 4) as i32).map(Some).collect::<Vec<_>>())),
    );
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(x),
            Arc::new(n),
            Arc::new(c),
            Arc::new(b),
            Arc::new(s),
            Arc::new(l),
        ],
    )
    .unwrap()
}

fn profile_of(batches: &[RecordBatch]) -> Vec<ColumnProfile> {
    let mut p = RowGroupProfiler::new(&schema());
    for b in batches {
        p.update(b.columns());
    }
    p.finish()
}

fn table_of(batches: &[RecordBatch]) -> TableProfile {
    TableProfile::from_segments(
        "t",
        &[SegmentProfile {
            segment: dstore_format::SegmentId([0; 32]),
            len: 0,
            rows: batches.iter().map(|b| b.num_rows() as u64).sum(),
            columns: profile_of(batches),
        }],
    )
}

fn store_with(batches: Vec<RecordBatch>, opts: &IngestOptions) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path().join("s")).unwrap();
    let mut tx = store.begin();
    let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema());
    tx.add_reader("t", reader, opts).unwrap();
    tx.commit(&CommitOptions::message("m")).unwrap();
    (dir, store)
}

fn profile_files(store: &Store) -> BTreeMap<String, Vec<u8>> {
    store
        .storage()
        .list("derived/")
        .unwrap()
        .into_iter()
        .filter(|o| o.key.ends_with(".profile"))
        .map(|o| (o.key.clone(), store.storage().get(&o.key).unwrap()))
        .collect()
}

#[test]
fn ingest_profiles_equal_profiles_computed_from_the_segment() {
    let mut g = Gen(1);
    // Batches of odd sizes, row groups of 3000 rows: cuts fall inside batches.
    let batches: Vec<RecordBatch> = [1234, 5000, 77, 2689]
        .iter()
        .map(|&n| batch(&mut g, n, &BASE))
        .collect();
    let opts = IngestOptions {
        row_group_rows: 3000,
        target_segment_bytes: 60_000,
        ..IngestOptions::default()
    };
    let (_d, store) = store_with(batches.clone(), &opts);
    let at_ingest = profile_files(&store);
    let snap = store.snapshot(&store.resolve("HEAD").unwrap().id).unwrap();
    let segments = snap.segments("t").unwrap();
    assert!(segments.len() > 1, "several segments");
    assert_eq!(at_ingest.len(), segments.len(), "one profile per segment");
    for e in &segments {
        let bytes = store
            .storage()
            .get(&crate::layout::segment_key(&e.id))
            .unwrap();
        let computed = SegmentProfile::compute(e.id, &bytes.clone().into()).unwrap();
        let key = crate::derived::DerivedKind::Profile.key(&e.id);
        assert_eq!(
            computed.encode(),
            at_ingest[&key],
            "segment {}",
            e.id.short(8)
        );
        // Twice, and on another thread: the same bytes.
        let id = e.id;
        let again = std::thread::spawn(move || {
            SegmentProfile::compute(id, &bytes.into()).unwrap().encode()
        });
        assert_eq!(again.join().unwrap(), at_ingest[&key]);
    }
    // The same data in a second store: the same profile bytes.
    let (_d2, store2) = store_with(batches, &opts);
    assert_eq!(profile_files(&store2), at_ingest);
    // Without validation no profile is written at commit; the first use computes the same.
    let (_d3, store3) = store_with(
        {
            let mut g = Gen(1);
            [1234, 5000, 77, 2689]
                .iter()
                .map(|&n| batch(&mut g, n, &BASE))
                .collect()
        },
        &opts,
    );
    for o in store3.storage().list("derived/").unwrap() {
        if o.key.ends_with(".profile") {
            store3.storage().delete(&o.key).unwrap();
        }
    }
    let snap3 = store3
        .snapshot(&store3.resolve("HEAD").unwrap().id)
        .unwrap();
    let p = snap3.profile("t").unwrap();
    assert_eq!(p.computed, segments.len() as u64);
    assert_eq!(profile_files(&store3), at_ingest);
    assert_eq!(snap3.profile("t").unwrap().computed, 0, "cached");
}

#[test]
fn adopted_parquet_gets_the_profile_first_use_computes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.parquet");
    let mut g = Gen(9);
    let f = std::fs::File::create(&path).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(1500))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema(), Some(props)).unwrap();
    w.write(&batch(&mut g, 4000, &BASE)).unwrap();
    w.close().unwrap();
    let store = Store::init(dir.path().join("s")).unwrap();
    let mut tx = store.begin();
    tx.add_files("t", &[path], &IngestOptions::default())
        .unwrap();
    tx.commit(&CommitOptions::message("m")).unwrap();
    let stored = profile_files(&store);
    assert_eq!(stored.len(), 1);
    let snap = store.snapshot(&store.resolve("HEAD").unwrap().id).unwrap();
    let e = &snap.segments("t").unwrap()[0];
    let bytes = store
        .storage()
        .get(&crate::layout::segment_key(&e.id))
        .unwrap();
    let computed = SegmentProfile::compute(e.id, &bytes.into()).unwrap();
    assert_eq!(stored.values().next().unwrap(), &computed.encode());
    assert_eq!(computed.rows, 4000);
}

#[test]
fn sketches_within_their_stated_error() {
    let mut g = Gen(3);
    let batches: Vec<RecordBatch> = (0..20).map(|_| batch(&mut g, 10_000, &BASE)).collect();
    let t = table_of(&batches);
    // Exact values, computed here.
    let xs: Vec<f64> = batches
        .iter()
        .flat_map(|b| {
            let a = b.column(0).as_any().downcast_ref::<Float64Array>().unwrap();
            a.iter()
                .flatten()
                .filter(|x| !x.is_nan())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut sorted = xs.clone();
    sorted.sort_by(f64::total_cmp);
    let x = t.column("x").unwrap();
    assert_eq!(x.count, 200_000);
    let nulls: usize = batches.iter().map(|b| b.column(0).null_count()).sum();
    assert_eq!(x.nulls, nulls as u64);
    assert_eq!(x.present() - x.nans, sorted.len() as u64);
    assert_eq!(x.range, Some((sorted[0], *sorted.last().unwrap())));
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / xs.len() as f64;
    let m = x.moments.unwrap();
    assert!((m.mean - mean).abs() < 1e-9 * mean.abs().max(1.0));
    assert!((m.variance().unwrap() - var).abs() < 1e-9 * var);
    let k = x.quantiles.as_ref().unwrap();
    for q in [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99] {
        let v = k.quantile(q).unwrap();
        let rank = sorted.partition_point(|&s| s <= v) as f64 / sorted.len() as f64;
        assert!((rank - q).abs() <= RANK_ERROR, "q {q}: rank {rank}");
    }
    // Distinct: x is continuous (all distinct), the struct field k repeats per batch.
    let exact: HashSet<u64> = xs.iter().map(|v| v.to_bits()).collect();
    let d = x.distinct().unwrap();
    let rel = (d - exact.len() as f64).abs() / exact.len() as f64;
    assert!(rel <= 3.0 * HLL_RSE, "distinct {d} vs {}", exact.len());
    let sk = t.column("s.k").unwrap();
    let dk = sk.distinct().unwrap();
    assert!(
        (dk - 9_000.0).abs() / 9_000.0 <= 3.0 * HLL_RSE,
        "s.k distinct {dk}"
    );
    // Values under a null struct are null, as a Parquet reader sees them.
    assert_eq!(sk.nulls, 20_000);
    // Frequent items: exact counts for few categories.
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for b in &batches {
        let a = b.column(2).as_any().downcast_ref::<StringArray>().unwrap();
        for v in a.iter().flatten() {
            *counts.entry(v.to_owned()).or_default() += 1;
        }
    }
    let c = t.column("c").unwrap();
    assert_eq!(c.frequent_error(), 0);
    let got: BTreeMap<String, u64> = c
        .frequent(10)
        .into_iter()
        .map(|v| (v.value, v.count))
        .collect();
    assert_eq!(got, counts);
    // Small integers keep frequent items; the list's lengths and values are profiled.
    assert_eq!(t.column("n").unwrap().frequent(10).len(), 7);
    assert!(!t.column("s.k").unwrap().has_frequent(), "9000 distinct");
    let l = t.column("l").unwrap();
    assert_eq!(l.nulls, 40_000);
    let lens = l.lengths.unwrap();
    assert_eq!((lens.min, lens.max), (0, 3));
    assert_eq!(t.column("l[]").unwrap().count, lens.sum);
}

#[test]
fn frequent_item_bounds_hold_for_many_values() {
    let mut p = ColumnProfile::empty("c".into(), ValueKind::String, false);
    let mut g = Gen(5);
    let mut exact: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..100_000 {
        // Skewed: a few heavy values and a long tail.
        let v = if g.unit() < 0.5 {
            format!("hot{}", g.next() % 5)
        } else {
            format!("tail{}", g.next() % 20_000)
        };
        *exact.entry(v.clone()).or_default() += 1;
        p.add_str(&v);
    }
    assert!(p.frequent_error() > 0, "approximate");
    for f in p.frequent(10) {
        let e = exact[&f.value];
        assert!(f.lower <= e && e <= f.upper, "{f:?} vs {e}");
    }
    let top: Vec<String> = p.frequent(5).into_iter().map(|f| f.value).collect();
    assert!(top.iter().all(|v| v.starts_with("hot")), "{top:?}");
}

#[test]
fn codec_round_trips_and_refuses_damage() {
    let mut g = Gen(4);
    let cols = profile_of(&[batch(&mut g, 3000, &BASE)]);
    let p = SegmentProfile {
        segment: dstore_format::SegmentId([7; 32]),
        len: 1234,
        rows: 3000,
        columns: cols,
    };
    let bytes = p.encode();
    let back = SegmentProfile::decode(&bytes).unwrap();
    assert_eq!(back.encode(), bytes);
    assert_eq!(back.columns.len(), p.columns.len());
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    let e = SegmentProfile::decode(&bad).unwrap_err().to_string();
    assert!(e.contains("checksum"), "{e}");
    let e = SegmentProfile::decode(&bytes[..bytes.len() - 40]).unwrap_err();
    assert!(
        matches!(e, dstore_format::Error::ChecksumMismatch { .. }),
        "{e}"
    );
    let mut v2 = bytes.clone();
    v2[8] = 2;
    let e = SegmentProfile::decode(&v2).unwrap_err().to_string();
    assert!(e.contains("format version 2"), "{e}");
    assert!(SegmentProfile::decode(b"DSTPROFL").is_err());
}

#[test]
fn golden_profile_still_decodes() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/golden/profile-v1/segment.profile"
    );
    let bytes = std::fs::read(path).unwrap();
    let p = SegmentProfile::decode(&bytes).unwrap();
    assert_eq!(p.encode(), bytes, "re-encodes to the same bytes");
    assert_eq!(p.rows, 1000);
    let x = p.columns.iter().find(|c| c.path == "x").unwrap();
    assert_eq!(x.count, 1000);
    let expect = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/golden/profile-v1/expect.json"
    ))
    .unwrap();
    let t = TableProfile::from_segments("t", &[p]);
    let got = serde_json::to_string_pretty(&t.summary(&[]).unwrap()).unwrap() + "\n";
    assert_eq!(got, expect);
}

/// The rows of the block-fold golden fixture: 10,000 rows, so three blocks (4096, 4096, 1808).
fn golden_block_profile() -> SegmentProfile {
    let mut g = Gen(2026);
    let b = batch(&mut g, 10_000, &BASE);
    SegmentProfile {
        segment: dstore_format::SegmentId(*blake3::hash(b"golden block").as_bytes()),
        len: 65536,
        rows: 10_000,
        columns: profile_of(&[b]),
    }
}

const GOLDEN_BLOCK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/golden/profile-v1-block"
);

/// `profile-v1` was written by the value-by-value fold of the first profiles; `profile-v1-block`
/// by the block fold (docs/format.md §16.2). Both decode; today's fold must reproduce the
/// second byte for byte, so that a change to the fold cannot go unnoticed.
#[test]
fn block_fold_reproduces_its_golden_profile() {
    let want = std::fs::read(format!("{GOLDEN_BLOCK}/segment.profile")).unwrap();
    let got = golden_block_profile();
    assert_eq!(
        got.encode(),
        want,
        "the fold changed: docs/format.md §16.2 says what it is"
    );
    let expect = std::fs::read_to_string(format!("{GOLDEN_BLOCK}/expect.json")).unwrap();
    let t = TableProfile::from_segments("t", &[SegmentProfile::decode(&want).unwrap()]);
    let summary = serde_json::to_string_pretty(&t.summary(&[]).unwrap()).unwrap() + "\n";
    assert_eq!(summary, expect);
}

/// Writes the block-fold golden fixture (run with `--ignored`; only ever to add a fixture for a
/// new fold, in a new directory: `profile-v1` and `profile-v1-block` stay as they are).
#[test]
#[ignore = "writes fixtures/golden/profile-v1-block"]
fn write_golden_profile() {
    let p = golden_block_profile();
    std::fs::create_dir_all(GOLDEN_BLOCK).unwrap();
    std::fs::write(format!("{GOLDEN_BLOCK}/segment.profile"), p.encode()).unwrap();
    let t = TableProfile::from_segments("t", &[p]);
    let v = serde_json::to_string_pretty(&t.summary(&[]).unwrap()).unwrap();
    std::fs::write(format!("{GOLDEN_BLOCK}/expect.json"), v + "\n").unwrap();
}

fn check_same(a: &ColumnProfile, b: &ColumnProfile) {
    assert_eq!(a.path, b.path);
    assert_eq!((a.count, a.nulls, a.nans), (b.count, b.nulls, b.nans));
    assert_eq!(a.range, b.range);
    assert_eq!(a.lengths, b.lengths);
    match (a.moments, b.moments) {
        (Some(x), Some(y)) => {
            assert_eq!(x.n, y.n);
            assert!((x.mean - y.mean).abs() <= 1e-9 * x.mean.abs().max(1.0));
            assert!((x.m2 - y.m2).abs() <= 1e-7 * x.m2.abs().max(1.0));
        }
        (x, y) => assert_eq!(x.is_some(), y.is_some()),
    }
    match (&a.quantiles, &b.quantiles) {
        (Some(x), Some(y)) => {
            assert_eq!(x.n(), y.n());
            // Each rank is within the rank error of the exact one, so of each other twice.
            let points: Vec<f64> = x
                .quantiles(&[0.05, 0.25, 0.5, 0.75, 0.95])
                .into_iter()
                .chain(y.quantiles(&[0.1, 0.5, 0.9]))
                .flatten()
                .collect();
            for (p, (rx, ry)) in points
                .iter()
                .zip(x.cdf(&points).into_iter().zip(y.cdf(&points)))
            {
                assert!(
                    (rx - ry).abs() <= 2.0 * RANK_ERROR,
                    "{}: rank of {p}: {rx} vs {ry}",
                    a.path
                );
            }
        }
        (x, y) => assert_eq!(x.is_some(), y.is_some()),
    }
    match (a.distinct(), b.distinct()) {
        // The registers merge exactly, but a single sketch estimates with its HIP counter and
        // a union without it: each is within 3 standard errors of the truth, so of each other
        // within 6.
        (Some(x), Some(y)) => {
            assert!(
                (x - y).abs() <= 6.0 * HLL_RSE * x.max(1.0),
                "{}: {x} vs {y}",
                a.path
            );
        }
        (x, y) => assert_eq!(x.is_some(), y.is_some()),
    }
    assert_eq!(a.has_frequent(), b.has_frequent());
    if a.frequent_error() == 0 && b.frequent_error() == 0 {
        assert_eq!(a.frequent(usize::MAX), b.frequent(usize::MAX));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// However the rows are cut into segments, the merged profile is the profile of all rows;
    /// and merging is associative.
    #[test]
    fn merge_is_independent_of_the_split(
        seed in any::<u64>(),
        rows in 1usize..4000,
        cuts in proptest::collection::vec(0.0f64..1.0, 0..6),
    ) {
        let mut g = Gen(seed);
        let all = batch(&mut g, rows, &BASE);
        let whole = profile_of(std::slice::from_ref(&all));
        let mut at: Vec<usize> = cuts.iter().map(|c| (c * rows as f64) as usize).collect();
        at.push(0);
        at.push(rows);
        at.sort_unstable();
        at.dedup();
        let parts: Vec<Vec<ColumnProfile>> = at
            .windows(2)
            .map(|w| profile_of(&[all.slice(w[0], w[1] - w[0])]))
            .collect();
        let mut merged = parts[0].clone();
        for p in &parts[1..] {
            build::merge_columns(&mut merged, p);
        }
        for (a, b) in whole.iter().zip(&merged) {
            check_same(a, b);
        }
        if parts.len() >= 3 {
            // (a + b) + rest  vs  a + (b + rest)
            let mut left = parts[0].clone();
            build::merge_columns(&mut left, &parts[1]);
            let mut rest = parts[2].clone();
            for p in &parts[3..] {
                build::merge_columns(&mut rest, p);
            }
            build::merge_columns(&mut left, &rest);
            let mut right = parts[1].clone();
            build::merge_columns(&mut right, &rest);
            let mut a2 = parts[0].clone();
            build::merge_columns(&mut a2, &right);
            for (x, y) in left.iter().zip(&a2) {
                check_same(x, y);
            }
        }
    }
}

fn drift_of(old: &TableProfile, new: &TableProfile, col: &str) -> drift::ColumnDrift {
    column_drift(
        old.column(col).unwrap(),
        new.column(col).unwrap(),
        &ColumnRule::default(),
        &DriftRules::default(),
    )
}

fn gen_table(seed: u64, rows: usize, spec: &Spec<'_>) -> TableProfile {
    let mut g = Gen(seed);
    let batches: Vec<RecordBatch> = (0..rows.div_ceil(20_000))
        .map(|i| batch(&mut g, 20_000.min(rows - i * 20_000), spec))
        .collect();
    table_of(&batches)
}

#[test]
fn no_drift_between_two_halves_of_one_distribution() {
    for rows in [800, 200_000] {
        let a = gen_table(11, rows, &BASE);
        let b = gen_table(12, rows, &BASE);
        for col in ["x", "n", "c", "b", "s.k"] {
            let d = drift_of(&a, &b, col);
            assert!(!d.drifted, "{rows} rows, column {col}: {d:?}");
            assert!(d.test.is_some());
        }
        let r = drift::table_drift(&a, &b, &schema(), &schema(), &DriftRules::default());
        assert!(!r.dataset_drift);
        assert_eq!(r.drifted_columns, 0);
    }
    // Evidently's choice: K-S for few numeric values, Wasserstein for many; chi-square and
    // Jensen-Shannon for categories, Z for two.
    let (small_a, small_b) = (gen_table(1, 800, &BASE), gen_table(2, 800, &BASE));
    assert_eq!(drift_of(&small_a, &small_b, "x").test, Some(TestKind::Ks));
    assert_eq!(
        drift_of(&small_a, &small_b, "c").test,
        Some(TestKind::Chisquare)
    );
    assert_eq!(drift_of(&small_a, &small_b, "b").test, Some(TestKind::Z));
    let (big_a, big_b) = (gen_table(1, 50_000, &BASE), gen_table(2, 50_000, &BASE));
    assert_eq!(
        drift_of(&big_a, &big_b, "x").test,
        Some(TestKind::Wasserstein)
    );
    assert_eq!(
        drift_of(&big_a, &big_b, "c").test,
        Some(TestKind::Jensenshannon)
    );
}

#[test]
fn drift_found_for_shifted_mean_category_mix_new_category_and_nulls() {
    for rows in [800, 100_000] {
        let base = gen_table(21, rows, &BASE);
        let shifted = gen_table(22, rows, &Spec { mean: 11.0, ..BASE });
        assert!(
            drift_of(&base, &shifted, "x").drifted,
            "{rows}: shifted mean"
        );
        assert!(!drift_of(&base, &shifted, "c").drifted);

        let mix = gen_table(
            23,
            rows,
            &Spec {
                cats: &[("red", 0.25), ("green", 0.35), ("blue", 0.4)],
                ..BASE
            },
        );
        let d = drift_of(&base, &mix, "c");
        assert!(d.drifted, "{rows}: category mix {d:?}");
        assert!(d.new_categories.is_empty());

        let newcat = gen_table(
            24,
            rows,
            &Spec {
                cats: &[
                    ("red", 0.45),
                    ("green", 0.3),
                    ("blue", 0.2),
                    ("violet", 0.05),
                ],
                ..BASE
            },
        );
        let d = drift_of(&base, &newcat, "c");
        assert!(d.drifted, "{rows}: new category {d:?}");
        assert_eq!(d.new_categories, vec!["violet".to_owned()]);

        let nulls = gen_table(
            25,
            rows,
            &Spec {
                null_rate: 0.2,
                ..BASE
            },
        );
        let d = drift_of(&base, &nulls, "x");
        assert!(d.drifted, "{rows}: null rate {d:?}");
        assert!(d.reasons.iter().any(|r| r.contains("null rate")));
    }
}

#[test]
fn rules_override_tests_and_thresholds_and_name_bad_lines() {
    let path = std::path::Path::new("drift.toml");
    let r = DriftRules::parse(
        "drift_share = 0.3\n[columns.x]\ntest = \"psi\"\nthreshold = 0.5\n[columns.c]\nskip = true\n",
        path,
    )
    .unwrap();
    assert!((r.drift_share - 0.3).abs() < 1e-12);
    let base = gen_table(31, 50_000, &BASE);
    let shifted = gen_table(32, 50_000, &Spec { mean: 10.6, ..BASE });
    let d = column_drift(
        base.column("x").unwrap(),
        shifted.column("x").unwrap(),
        &r.columns["x"],
        &r,
    );
    assert_eq!(d.test, Some(TestKind::Psi));
    assert_eq!(d.threshold, Some(0.5));
    let t = drift::table_drift(&base, &shifted, &schema(), &schema(), &r);
    assert!(t.columns.iter().all(|c| c.column != "c"), "skipped");
    let e = DriftRules::parse("[columns.x]\ntest = \"nope\"\n", path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("drift.toml") && e.contains("line 2"), "{e}");
    let e = DriftRules::parse("drift_share = 2\n", path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("drift_share"), "{e}");
}

/// Damage behind a valid checksum (a hostile or buggy writer): every decode either refuses the
/// bytes or gives a profile that merges, summarizes, compares and renders without panicking.
#[test]
fn forged_profiles_never_panic() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/golden/profile-v1/segment.profile"
    );
    let good = std::fs::read(path).unwrap();
    let body = good.len() - 32;
    let mut g = Gen(77);
    let mut decoded = 0;
    for round in 0..3000 {
        let mut b = good.clone();
        let flips = 1 + round % 4;
        for _ in 0..flips {
            let at = 72 + (g.next() as usize) % (body - 72);
            b[at] = match g.next() % 3 {
                0 => b[at] ^ (1 << (g.next() % 8)),
                1 => 0xff,
                _ => 0,
            };
        }
        let sum = blake3::hash(&b[..body]);
        b[body..].copy_from_slice(sum.as_bytes());
        let Ok(p) = SegmentProfile::decode(&b) else {
            continue;
        };
        decoded += 1;
        let t = TableProfile::from_segments("t", &[p.clone(), p]);
        let _ = t.summary(&[]);
        let _ = t.to_record_batch(&[]);
        let d = drift::table_drift(&t, &t, &schema(), &schema(), &DriftRules::default());
        let report = drift::DriftReport {
            old: "0".repeat(64),
            new: "1".repeat(64),
            drift_share_threshold: 0.5,
            tables: vec![d],
            drifted: false,
        };
        let _ = to_html(&report);
    }
    assert!(decoded > 0, "some forgeries decode (and were exercised)");
}

/// Columns that cross the fold's thresholds in later blocks: unique strings (past the block's
/// distinct-value map), strings with 1,500 values (past it in some blocks only), an integer
/// whose 200 values arrive slowly (its frequent items dropped in a later block), booleans with
/// nulls, floats with NaNs and infinities.
fn wide_batch(rows: usize) -> RecordBatch {
    let mut g = Gen(17);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("mid", DataType::Utf8, true),
        Field::new("slow", DataType::Int64, false),
        Field::new("b", DataType::Boolean, true),
        Field::new("f", DataType::Float64, true),
    ]));
    let id: StringArray = (0..rows).map(|i| Some(format!("id-{i}"))).collect();
    let mid: StringArray = (0..rows)
        .map(|_| (g.unit() > 0.1).then(|| format!("m{}", g.next() % 1500)))
        .collect();
    let slow: Int64Array = (0..rows).map(|i| Some((i / 60) as i64 % 200)).collect();
    let b: BooleanArray = (0..rows)
        .map(|_| (g.unit() > 0.2).then(|| g.unit() < 0.6))
        .collect();
    let f: Float64Array = (0..rows)
        .map(|i| match i % 1000 {
            7 => Some(f64::NAN),
            8 => Some(f64::INFINITY),
            9 => None,
            _ => Some(g.normal(3.0, 1.0)),
        })
        .collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(id),
            Arc::new(mid),
            Arc::new(slow),
            Arc::new(b),
            Arc::new(f),
        ],
    )
    .unwrap()
}

fn profile_bytes(batch: &RecordBatch, cuts: &[usize]) -> Vec<u8> {
    let mut p = RowGroupProfiler::new(&batch.schema());
    let mut at = 0;
    for &c in cuts.iter().chain(std::iter::once(&batch.num_rows())) {
        if c > at {
            p.update(batch.slice(at, c - at).columns());
            at = c;
        }
    }
    SegmentProfile {
        segment: dstore_format::SegmentId([0; 32]),
        len: 0,
        rows: batch.num_rows() as u64,
        columns: p.finish(),
    }
    .encode()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Blocks are counted from the row group's first row, so how its rows arrive in batches
    /// never changes a profile's bytes.
    #[test]
    fn batch_boundaries_do_not_change_the_profile_bytes(
        cuts in proptest::collection::vec(0usize..20_000, 1..8),
    ) {
        let all = wide_batch(20_000);
        let whole = profile_bytes(&all, &[]);
        let mut cuts = cuts;
        cuts.sort_unstable();
        prop_assert_eq!(profile_bytes(&all, &cuts), whole);
    }
}

#[test]
fn block_fold_counts_match_exact_values() {
    let rows = 20_000;
    let all = wide_batch(rows);
    let mut p = RowGroupProfiler::new(&all.schema());
    p.update(all.columns());
    let cols = p.finish();
    let col = |name: &str| cols.iter().find(|c| c.path == name).unwrap();
    // Unique strings: no frequent item counts more than once; the distinct count is near 20,000.
    let id = col("id");
    assert_eq!(id.lengths.unwrap().n, rows as u64);
    let d = id.distinct().unwrap();
    assert!(
        (d - rows as f64).abs() <= 3.0 * HLL_RSE * rows as f64,
        "{d}"
    );
    // 1,500 values with nulls: exact lengths; distinct near 1,500.
    let mid = all
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let present: Vec<&str> = mid.iter().flatten().collect();
    let mid_p = col("mid");
    assert_eq!(mid_p.nulls, (rows - present.len()) as u64);
    let l = mid_p.lengths.unwrap();
    assert_eq!(l.sum, present.iter().map(|s| s.len() as u64).sum::<u64>());
    assert_eq!(l.n, present.len() as u64);
    let exact: HashSet<&str> = present.iter().copied().collect();
    let d = mid_p.distinct().unwrap();
    assert!((d - exact.len() as f64).abs() <= 3.0 * HLL_RSE * exact.len() as f64);
    // The heaviest frequent values are within the sketch's bounds of their true counts.
    for fv in mid_p.frequent(5) {
        let truth = present.iter().filter(|s| **s == fv.value).count() as u64;
        assert!(fv.lower <= truth && truth <= fv.upper, "{fv:?} vs {truth}");
    }
    // 200 slowly arriving values: past 128 the frequent items are gone, as value by value.
    assert!(!col("slow").has_frequent());
    let first: Vec<RecordBatch> = vec![all.slice(0, 60 * 100)];
    let mut p = RowGroupProfiler::new(&all.schema());
    p.update(first[0].columns());
    let early = p.finish();
    let slow = early.iter().find(|c| c.path == "slow").unwrap();
    let f = slow.frequent(usize::MAX);
    assert_eq!(f.len(), 100);
    assert!(
        f.iter()
            .all(|v| v.count == 60 && v.lower == 60 && v.upper == 60)
    );
    // Booleans with nulls: exact counts and moments.
    let b = all
        .column(3)
        .as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap();
    let t = b.iter().flatten().filter(|x| *x).count() as u64;
    let n = b.iter().flatten().count() as u64;
    let bp = col("b");
    let m = bp.moments.unwrap();
    assert_eq!((m.n, m.sum), (n, t as f64));
    let mean = t as f64 / n as f64;
    assert!((m.variance().unwrap() - mean * (1.0 - mean)).abs() < 1e-12);
    let freq = bp.frequent(2);
    assert_eq!(
        freq.iter()
            .map(|v| (v.value.as_str(), v.count))
            .collect::<Vec<_>>(),
        if t > n - t {
            vec![("true", t), ("false", n - t)]
        } else {
            vec![("false", n - t), ("true", t)]
        }
    );
    // Floats: NaNs apart, infinities in the range but not the moments.
    let fp = col("f");
    let fa = all
        .column(4)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let finite: Vec<f64> = fa.iter().flatten().filter(|x| x.is_finite()).collect();
    assert_eq!(
        fp.nans,
        fa.iter().flatten().filter(|x| x.is_nan()).count() as u64
    );
    assert_eq!(fp.range.unwrap().1, f64::INFINITY);
    let m = fp.moments.unwrap();
    assert_eq!(m.n, finite.len() as u64);
    let mean = finite.iter().sum::<f64>() / finite.len() as f64;
    assert!((m.mean - mean).abs() < 1e-12 * mean.abs());
    let var = finite.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / finite.len() as f64;
    assert!((m.variance().unwrap() - var).abs() < 1e-9 * var);
}
