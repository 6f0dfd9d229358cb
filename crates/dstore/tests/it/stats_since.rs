//! `Snapshot::profile_since` (`dstore stats --since`): the profile of just the rows a snapshot
//! has and an older one lacks equals the profile of a table made of exactly those rows, for an
//! append (segments added whole, stored profiles) and for a rewrite of a segment with 1% of its
//! rows changed (profiled from those rows); sketches within their stated bounds of the exact
//! values computed here.

#![allow(clippy::many_single_char_names, clippy::float_cmp)]

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::{BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use dstore::profile::kll::RANK_ERROR;
use dstore::profile::{ColumnProfile, HLL_RSE, TableProfile};
use dstore::{CommitOptions, IngestOptions, Snapshot, Store, WriteMode};

use super::common::{fresh_store, reader};

const T: &str = "t";

/// One row: id, a category (or null), a float (multiples of 1/4, so sums are exact in any
/// order; or null, or NaN), a flag.
type Row = (i64, Option<String>, Option<f64>, bool);

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("s", DataType::Utf8, true),
        Field::new("f", DataType::Float64, true),
        Field::new("b", DataType::Boolean, false),
    ]))
}

fn to_batch(rows: &[Row]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()),
            Arc::new(rows.iter().map(|r| r.1.clone()).collect::<StringArray>()),
            Arc::new(rows.iter().map(|r| r.2).collect::<Float64Array>()),
            Arc::new(rows.iter().map(|r| Some(r.3)).collect::<BooleanArray>()),
        ],
    )
    .unwrap()
}

/// `n` rows from `seed`, ids from `first`.
fn rows(seed: u64, first: i64, n: usize) -> Vec<Row> {
    let mut s = seed;
    let mut next = move || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        s >> 33
    };
    (0..n as i64)
        .map(|i| {
            let cat = match next() % 10 {
                0 => None,
                k => Some(format!(
                    "cat{}",
                    "abcdefg".as_bytes()[(k % 7) as usize] as char
                )),
            };
            let f = match next() % 50 {
                0 => None,
                1 => Some(f64::NAN),
                _ => Some((next() % 40_000) as f64 / 4.0 - 5000.0),
            };
            (first + i, cat, f, next() % 3 == 0)
        })
        .collect()
}

/// Replaces the table with these segments (one per element), row groups of `rg` rows.
fn commit(store: &Store, segments: &[&[Row]], rg: usize) -> Snapshot {
    let mut tx = store.begin();
    tx.set_mode(T, WriteMode::Overwrite).unwrap();
    let opts = IngestOptions {
        row_group_rows: rg,
        ..IngestOptions::default()
    };
    for seg in segments {
        tx.add_reader(T, reader(vec![to_batch(seg)]), &opts)
            .unwrap();
    }
    let c = tx.commit(&CommitOptions::message("stats since")).unwrap();
    store.snapshot(&c.id).unwrap()
}

fn col<'a>(p: &'a TableProfile, path: &str) -> &'a ColumnProfile {
    p.column(path)
        .unwrap_or_else(|| panic!("no column {path} in {p:?}"))
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

/// `got` against `want` (the profile of a table made only of the new rows) and against the
/// exact statistics of `rows` (those rows) computed here.
fn check(got: &TableProfile, want: &TableProfile, rows: &[Row]) {
    assert_eq!(got.rows, rows.len() as u64);
    assert_eq!(got.rows, want.rows);
    let paths: Vec<&str> = got.columns.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        want.columns
            .iter()
            .map(|c| c.path.as_str())
            .collect::<Vec<_>>()
    );
    for (g, w) in got.columns.iter().zip(&want.columns) {
        let p = &g.path;
        // Exact parts: equal.
        assert_eq!(g.kind, w.kind, "{p}");
        assert_eq!(g.count, w.count, "{p} count");
        assert_eq!(g.nulls, w.nulls, "{p} nulls");
        assert_eq!(g.nans, w.nans, "{p} NaNs");
        assert_eq!(g.range, w.range, "{p} min/max");
        assert_eq!(g.lengths, w.lengths, "{p} lengths");
        match (g.moments, w.moments) {
            (Some(a), Some(b)) => {
                assert_eq!(a.n, b.n, "{p} moments n");
                assert_eq!(a.sum, b.sum, "{p} sum (exact: multiples of 1/4)");
                // Mean and squared deviations are merged in a different grouping: rounding only.
                assert!(close(a.mean, b.mean, 1e-12), "{p} mean {a:?} {b:?}");
                assert!(close(a.m2, b.m2, 1e-9), "{p} m2 {a:?} {b:?}");
            }
            (a, b) => assert_eq!(a, b, "{p} moments"),
        }
        assert_eq!(
            g.quantiles.as_ref().map(dstore::profile::kll::Kll::n),
            w.quantiles.as_ref().map(dstore::profile::kll::Kll::n),
            "{p} quantile sketch size"
        );
    }
    // Against the exact values.
    let n = rows.len() as u64;
    let id = col(got, "id");
    assert_eq!(id.count, n);
    if n > 0 {
        let lo = rows.iter().map(|r| r.0).min().unwrap() as f64;
        let hi = rows.iter().map(|r| r.0).max().unwrap() as f64;
        assert_eq!(id.range, Some((lo, hi)));
    }
    let s = col(got, "s");
    assert_eq!(
        s.nulls,
        rows.iter().filter(|r| r.1.is_none()).count() as u64
    );
    let mut cats: BTreeMap<&str, u64> = BTreeMap::new();
    for r in rows {
        if let Some(c) = &r.1 {
            *cats.entry(c).or_default() += 1;
        }
    }
    // Few categories: frequent-item counts are exact.
    let top: BTreeMap<String, u64> = s
        .frequent(100)
        .into_iter()
        .map(|v| (v.value, v.count))
        .collect();
    let want_top: BTreeMap<String, u64> = cats.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    assert_eq!(top, want_top, "s top values");
    let f = col(got, "f");
    let mut vals: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.2)
        .filter(|x| !x.is_nan())
        .collect();
    vals.sort_by(f64::total_cmp);
    assert_eq!(
        f.nans,
        rows.iter().filter(|r| r.2.is_some_and(f64::is_nan)).count() as u64
    );
    assert_eq!(
        f.nulls,
        rows.iter().filter(|r| r.2.is_none()).count() as u64
    );
    assert_eq!(f.moments.unwrap().sum, vals.iter().sum::<f64>());
    if !vals.is_empty() {
        let m = vals.len() as f64;
        // Quantiles: the rank of each returned value within the stated rank error.
        for q in [0.05, 0.25, 0.5, 0.75, 0.95] {
            let v = f.quantiles.as_ref().unwrap().quantile(q).unwrap();
            let below = vals.partition_point(|x| *x < v) as f64 / m;
            let upto = vals.partition_point(|x| *x <= v) as f64 / m;
            assert!(
                below - RANK_ERROR <= q && q <= upto + RANK_ERROR,
                "f p{q}: {v} has ranks {below}..{upto}"
            );
        }
        // Distinct count within 3 standard errors.
        let distinct = vals
            .iter()
            .map(|x| x.to_bits())
            .collect::<HashSet<_>>()
            .len() as f64;
        let est = f.distinct().unwrap();
        assert!(
            (est - distinct).abs() <= 3.0 * HLL_RSE * distinct + 1.0,
            "f distinct {est} vs {distinct}"
        );
    }
    let b = col(got, "b");
    let trues = rows.iter().filter(|r| r.3).count() as u64;
    let freq: BTreeMap<String, u64> = b
        .frequent(2)
        .into_iter()
        .map(|v| (v.value, v.count))
        .collect();
    assert_eq!(freq.get("true").copied().unwrap_or(0), trues);
}

#[test]
fn since_an_append_is_the_profile_of_the_appended_rows() {
    let (_d, store) = fresh_store();
    let a = rows(1, 0, 20_000);
    let b = rows(2, 20_000, 30_000);
    let v1 = commit(&store, &[&a], 4096);
    let v2 = commit(&store, &[&a, &b], 4096);
    let got = v2.profile_since(T, &v1).unwrap();
    assert_eq!((got.segments, got.partial), (1, 0), "the new segment whole");
    assert_eq!(got.computed, 0, "its stored profile");
    // A table of only the appended rows, cut differently into segments and row groups.
    let (_d2, other) = fresh_store();
    let alone = commit(&other, &[&b[..7_000], &b[7_000..]], 1000);
    check(&got, &alone.profile(T).unwrap(), &b);
    // The whole table is not what `since` gives.
    assert_eq!(v2.profile(T).unwrap().rows, 50_000);
}

#[test]
fn since_a_rewrite_profiles_only_the_changed_rows() {
    let (_d, store) = fresh_store();
    let a = rows(3, 0, 20_000);
    let c = rows(4, 20_000, 5_000);
    let v1 = commit(&store, &[&a, &c], 4096);
    // Rewrite segment a with 1% of its rows changed (every 100th: new values, a new category).
    let mut a2 = a.clone();
    let mut changed = Vec::new();
    for (i, r) in a2.iter_mut().enumerate().filter(|(i, _)| i % 100 == 7) {
        r.1 = Some(if i % 200 == 7 {
            "new".into()
        } else {
            "cata".into()
        });
        r.2 = Some(r.2.filter(|x| !x.is_nan()).unwrap_or(0.0) + 1000.25);
        r.3 = !r.3;
        changed.push(r.clone());
    }
    let v2 = commit(&store, &[&a2, &c], 4096);
    let got = v2.profile_since(T, &v1).unwrap();
    assert_eq!(got.partial, 1, "the rewritten segment, by its new rows");
    assert_eq!(got.rows, 200);
    let (_d2, other) = fresh_store();
    let alone = commit(&other, &[&changed], 64);
    check(&got, &alone.profile(T).unwrap(), &changed);
    // The rows are those of a `since` scan.
    let scanned: u64 = v2
        .scan(T)
        .unwrap()
        .since(&v1)
        .batches()
        .unwrap()
        .map(|b| b.unwrap().num_rows() as u64)
        .sum();
    assert_eq!(scanned, got.rows);
    // Both at once: a rewrite and an append.
    let d = rows(5, 30_000, 3_000);
    let v3 = commit(&store, &[&a2, &c, &d], 4096);
    let both = v3.profile_since(T, &v1).unwrap();
    assert_eq!((both.segments, both.partial), (2, 1));
    let mut want_rows = changed.clone();
    want_rows.extend(d.iter().cloned());
    let (_d3, other) = fresh_store();
    let alone = commit(&other, &[&want_rows], 500);
    check(&both, &alone.profile(T).unwrap(), &want_rows);
}

#[test]
fn since_the_same_version_is_no_rows_and_since_a_table_it_lacked_is_all() {
    let (_d, store) = fresh_store();
    let a = rows(6, 0, 5_000);
    // v0 has another table only; v1 adds `t`.
    let mut tx = store.begin();
    tx.add_reader(
        "other",
        reader(vec![to_batch(&a[..10])]),
        &IngestOptions::default(),
    )
    .unwrap();
    let c = tx.commit(&CommitOptions::message("no t")).unwrap();
    let v0 = store.snapshot(&c.id).unwrap();
    let v1 = commit(&store, &[&a], 1024);
    let none = v1.profile_since(T, &v1).unwrap();
    assert_eq!((none.rows, none.segments, none.partial), (0, 0, 0));
    assert_eq!(none.columns.len(), 4, "the table's columns, empty");
    assert!(none.columns.iter().all(|c| c.count == 0));
    let all = v1.profile_since(T, &v0).unwrap();
    check(&all, &v1.profile(T).unwrap(), &a);
    // A table the new snapshot lacks is an error naming it.
    let err = v0.profile_since(T, &v1).unwrap_err();
    assert!(err.to_string().contains("`t`"), "{err}");
}
