//! Row-level diff and `since` scans against a naive full comparison of the rows.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use dstore::diff::{RowDiffOptions, row_diff};
use dstore::{CommitOptions, IngestOptions, Snapshot, Store, WriteMode};
use proptest::prelude::*;

use super::common::{files_under, fresh_store};

const T: &str = "t";

/// A row as the naive model sees it: floats by bits with NaN canonical.
type Row = (Option<i64>, Option<String>, Option<u64>);

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("f", DataType::Float64, true),
    ]))
}

fn canon(f: f64) -> u64 {
    if f.is_nan() {
        f64::NAN.to_bits()
    } else {
        f.to_bits()
    }
}

fn to_batch(rows: &[(Option<i64>, Option<String>, Option<f64>)]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()),
            Arc::new(rows.iter().map(|r| r.1.clone()).collect::<StringArray>()),
            Arc::new(rows.iter().map(|r| r.2).collect::<Float64Array>()),
        ],
    )
    .unwrap()
}

fn rows_of(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let id = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        let s = b.column_by_name("s").unwrap().as_string::<i32>();
        let f = b.column_by_name("f").unwrap().as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            out.push((
                id.is_valid(i).then(|| id.value(i)),
                s.is_valid(i).then(|| s.value(i).to_owned()),
                f.is_valid(i).then(|| canon(f.value(i))),
            ));
        }
    }
    out
}

type InRow = (Option<i64>, Option<String>, Option<f64>);

/// Replaces the table with these segments (one per element; empty ones skipped).
fn commit(store: &Store, segments: &[Vec<InRow>]) -> Snapshot {
    let mut tx = store.begin();
    tx.set_mode(T, WriteMode::Overwrite).unwrap();
    let opts = IngestOptions {
        allow_duplicates: true,
        row_group_rows: 4,
        ..IngestOptions::default()
    };
    for seg in segments.iter().filter(|s| !s.is_empty()) {
        tx.add_reader(T, super::common::reader(vec![to_batch(seg)]), &opts)
            .unwrap();
    }
    let c = tx.commit(&CommitOptions::message("rowdiff test")).unwrap();
    store.snapshot(&c.id).unwrap()
}

fn canon_rows(rows: &[InRow]) -> Vec<Row> {
    rows.iter()
        .map(|r| (r.0, r.1.clone(), r.2.map(canon)))
        .collect()
}

/// `a - b` as multisets, keeping `a`'s order (the first occurrences of a row are matched).
fn minus(a: &[Row], b: &[Row]) -> Vec<Row> {
    let mut budget: HashMap<&Row, usize> = HashMap::new();
    for r in b {
        *budget.entry(r).or_default() += 1;
    }
    a.iter()
        .filter(|r| match budget.get_mut(r) {
            Some(c) if *c > 0 => {
                *c -= 1;
                false
            }
            _ => true,
        })
        .cloned()
        .collect()
}

fn sorted(mut v: Vec<Row>) -> Vec<Row> {
    v.sort();
    v
}

fn in_row() -> impl Strategy<Value = InRow> {
    (
        prop::option::weighted(0.9, 0i64..5),
        prop::option::weighted(0.8, prop::sample::select(vec!["", "a", "bb"])),
        prop::option::weighted(
            0.8,
            prop::sample::select(vec![
                0.0,
                -0.0,
                1.5,
                f64::NAN,
                f64::from_bits(0x7ff8_0000_dead_0001),
            ]),
        ),
    )
        .prop_map(|(a, b, c)| (a, b.map(str::to_owned), c))
}

#[derive(Debug, Clone)]
enum Edit {
    Keep,
    Drop,
    /// Delete the rows whose mask bit is set, then insert these rows at the front.
    Rewrite(Vec<bool>, Vec<InRow>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => Just(Edit::Keep),
        1 => Just(Edit::Drop),
        3 => (prop::collection::vec(any::<bool>(), 12), prop::collection::vec(in_row(), 0..4))
            .prop_map(|(m, r)| Edit::Rewrite(m, r)),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    old: Vec<Vec<InRow>>,
    edits: Vec<Edit>,
    appended: Vec<Vec<InRow>>,
    /// Re-split every row of the old version into segments of this size instead of editing.
    resplit: Option<usize>,
    tiny_budget: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(prop::collection::vec(in_row(), 1..12), 1..5),
        prop::collection::vec(edit(), 5),
        prop::collection::vec(prop::collection::vec(in_row(), 1..8), 0..3),
        prop::option::weighted(0.2, 1usize..7),
        any::<bool>(),
    )
        .prop_map(|(old, edits, appended, resplit, tiny_budget)| Case {
            old,
            edits,
            appended,
            resplit,
            tiny_budget,
        })
}

/// NEW's segments, and which of them are OLD's segments unchanged.
fn new_segments(c: &Case) -> (Vec<Vec<InRow>>, Vec<bool>) {
    if let Some(n) = c.resplit {
        let all: Vec<InRow> = c.old.iter().flatten().cloned().collect();
        let segs: Vec<Vec<InRow>> = all.chunks(n).map(<[InRow]>::to_vec).collect();
        let k = segs.len();
        return (segs, vec![false; k]);
    }
    let mut segs = Vec::new();
    let mut kept = Vec::new();
    for (seg, e) in c.old.iter().zip(&c.edits) {
        match e {
            Edit::Keep => {
                segs.push(seg.clone());
                kept.push(true);
            }
            Edit::Drop => {}
            Edit::Rewrite(mask, ins) => {
                let mut s = ins.clone();
                s.extend(
                    seg.iter()
                        .enumerate()
                        .filter(|(i, _)| !mask[*i])
                        .map(|(_, r)| r.clone()),
                );
                let same = s == *seg;
                segs.push(s);
                kept.push(same);
            }
        }
    }
    for a in &c.appended {
        segs.push(a.clone());
        kept.push(false);
    }
    (segs, kept)
}

fn scan_rows(b: dstore::ScanBuilder) -> Vec<Row> {
    let batches: Vec<RecordBatch> = b.batches().unwrap().collect::<dstore::Result<_>>().unwrap();
    rows_of(&batches)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn row_diff_equals_a_naive_comparison_and_since_its_added_rows(c in case()) {
        let (dir, store) = fresh_store();
        let old = commit(&store, &c.old);
        let (segs, _) = new_segments(&c);
        // A transaction cannot empty a table (inputs without rows leave it as it is).
        prop_assume!(segs.iter().any(|s| !s.is_empty()));
        let new = commit(&store, &segs);
        let old_rows: Vec<Row> = canon_rows(&c.old.concat());
        let new_rows: Vec<Row> = canon_rows(&segs.concat());
        let opts = RowDiffOptions {
            memory_budget: if c.tiny_budget { 200 } else { 256 << 20 },
            ..RowDiffOptions::default()
        };
        let d = row_diff(&old, &new, T, &opts).unwrap();
        let want_added = minus(&new_rows, &old_rows);
        let want_removed = minus(&old_rows, &new_rows);
        prop_assert_eq!(d.added, want_added.len() as u64);
        prop_assert_eq!(d.removed, want_removed.len() as u64);
        prop_assert_eq!(d.changed, 0);
        if c.tiny_budget && d.rows_hashed > 5 {
            prop_assert!(d.spilled_partitions > 0, "a tiny budget spills");
        }
        // The spill files are gone.
        let tmp = store.root().join("tmp");
        let left: Vec<_> = std::fs::read_dir(&tmp).map(|r| r.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
        prop_assert!(left.iter().all(|n| !n.to_string_lossy().starts_with("rowdiff-")), "{:?}", left);

        // The rows themselves: the output files hold exactly the added and removed rows.
        let out = dir.path().join("out");
        let files = d.write_output(&old, &new, &out).unwrap();
        prop_assert_eq!(files.files.len(), 2);
        let read = |name: &str| -> Vec<Row> {
            let f = std::fs::File::open(out.join(name)).unwrap();
            let r = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(f, 1024).unwrap();
            rows_of(&r.collect::<Result<Vec<_>, _>>().unwrap())
        };
        prop_assert_eq!(sorted(read("added.parquet")), sorted(want_added.clone()));
        prop_assert_eq!(sorted(read("removed.parquet")), sorted(want_removed));

        // `since`: the added rows, in the order documented (storage order of the segments not
        // in OLD, rows of rewritten segments that OLD has dropped, first occurrences first).
        let since = scan_rows(new.scan(T).unwrap().since(&old));
        prop_assert_eq!(sorted(since.clone()), sorted(want_added.clone()));
        // Segments are shared when their content is (same rows, same options: same id).
        let seg_rows = |v: &[Vec<InRow>]| -> Vec<Vec<Row>> {
            v.iter().filter(|s| !s.is_empty()).map(|s| canon_rows(s)).collect()
        };
        let (old_segs, new_segs) = (seg_rows(&c.old), seg_rows(&segs));
        let raw = |v: &[Vec<InRow>]| -> Vec<Vec<InRow>> { v.iter().filter(|s| !s.is_empty()).cloned().collect() };
        let (old_raw, new_raw) = (raw(&c.old), raw(&segs));
        let mut pool: Vec<Option<&Vec<InRow>>> = old_raw.iter().map(Some).collect();
        let mut new_only = Vec::new();
        for (i, s) in new_raw.iter().enumerate() {
            match pool.iter_mut().find(|p| p.is_some_and(|p| format!("{p:?}") == format!("{s:?}"))) {
                Some(p) => *p = None,
                None => new_only.extend(new_segs[i].clone()),
            }
        }
        let old_only: Vec<Row> = pool.iter().enumerate().filter(|(_, p)| p.is_some()).flat_map(|(i, _)| old_segs[i].clone()).collect();
        prop_assert_eq!(since.clone(), minus(&new_only, &old_only), "the exact order of a since scan");
        // Shuffled and sharded, every rank together still gives the added rows once each.
        let mut all = Vec::new();
        for rank in 0..3 {
            all.extend(scan_rows(new.scan(T).unwrap().since(&old).shuffle(7).epoch(1).shard(rank, 3).batch_size(3)));
        }
        prop_assert_eq!(sorted(all), sorted(want_added));
    }
}

#[test]
fn since_without_a_shuffle_is_storage_order_of_the_new_rows() {
    let (_dir, store) = fresh_store();
    let r = |i: i64| (Some(i), Some(format!("v{i}")), Some(i as f64));
    let first: Vec<InRow> = (0..10).map(r).collect();
    let b: Vec<InRow> = (10..20).map(r).collect();
    let old = commit(&store, &[first.clone(), b.clone()]);
    // b rewritten: rows 12 and 15 gone, 100 and 101 in the middle; a new segment after.
    let mut b2: Vec<InRow> = b
        .iter()
        .filter(|x| x.0 != Some(12) && x.0 != Some(15))
        .cloned()
        .collect();
    b2.insert(4, r(100));
    b2.insert(7, r(101));
    let appended: Vec<InRow> = (200..205).map(r).collect();
    let new = commit(&store, &[first, b2, appended]);
    let ids: Vec<i64> = scan_rows(new.scan(T).unwrap().since(&old))
        .into_iter()
        .map(|x| x.0.unwrap())
        .collect();
    assert_eq!(ids, vec![100, 101, 200, 201, 202, 203, 204]);
    let d = row_diff(&old, &new, T, &RowDiffOptions::default()).unwrap();
    assert_eq!((d.added, d.removed, d.segments_shared), (7, 2, 1));
    // A cursor of a `since` scan does not resume a whole-table scan, nor the reverse.
    let mut s = new
        .scan(T)
        .unwrap()
        .since(&old)
        .batch_size(2)
        .batches()
        .unwrap();
    // Positions count before rows not new are dropped (as with a filter): the first batch of
    // two positions covers rows 10 and 11 of the rewritten segment, neither new; the third
    // holds 100.
    let first: Vec<usize> = (0..3)
        .map(|_| s.next().unwrap().unwrap().num_rows())
        .collect();
    assert_eq!(first, vec![0, 0, 1]);
    let cursor = s.cursor();
    assert!(new.scan(T).unwrap().resume(&cursor).is_err());
    let rest: Vec<i64> = scan_rows(
        new.scan(T)
            .unwrap()
            .since(&old)
            .batch_size(2)
            .resume(&cursor)
            .unwrap(),
    )
    .into_iter()
    .map(|x| x.0.unwrap())
    .collect();
    assert_eq!(rest, vec![101, 200, 201, 202, 203, 204]);
}

#[test]
fn an_append_reads_no_byte_of_the_old_segments() {
    let (_dir, store) = fresh_store();
    let r = |i: i64| (Some(i), None, Some(0.5));
    let old = commit(
        &store,
        &[(0..50).map(r).collect(), (50..100).map(r).collect()],
    );
    let mut tx = store.begin();
    tx.add_reader(
        T,
        super::common::reader(vec![to_batch(&(100..130).map(r).collect::<Vec<_>>())]),
        &IngestOptions::default(),
    )
    .unwrap();
    let new = store
        .snapshot(&tx.commit(&CommitOptions::message("append")).unwrap().id)
        .unwrap();
    let d = row_diff(&old, &new, T, &RowDiffOptions::default()).unwrap();
    assert_eq!((d.added, d.removed, d.rows_hashed), (30, 0, 0));
    assert_eq!((d.bytes_read_old, d.bytes_read_new), (0, 0));
    let mut scan = new.scan(T).unwrap().since(&old).batches().unwrap();
    let rows: usize = scan.by_ref().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 30);
    let appended = new.segments(T).unwrap().last().unwrap().bytes;
    let read = scan.stats().bytes_read;
    assert!(
        read > 0 && read <= appended,
        "read {read} bytes; the appended segment has {appended}"
    );
}

fn keyed(store: &Store, rows: &[(i64, &str)]) -> Snapshot {
    let segs: Vec<Vec<InRow>> = rows
        .chunks(5)
        .map(|c| {
            c.iter()
                .map(|(k, v)| (Some(*k), Some((*v).to_owned()), None))
                .collect()
        })
        .collect();
    commit(store, &segs)
}

#[test]
fn a_key_pairs_rows_and_reports_changes() {
    let (dir, store) = fresh_store();
    let old_rows: Vec<(i64, &str)> = (0..20).map(|i| (i, "x")).collect();
    let old = keyed(&store, &old_rows);
    let mut new_rows = old_rows.clone();
    new_rows[6].1 = "changed";
    new_rows[7].1 = "also";
    new_rows.remove(8);
    new_rows.push((99, "new"));
    let new = keyed(&store, &new_rows);
    let opts = RowDiffOptions {
        key: vec!["id".into()],
        ..RowDiffOptions::default()
    };
    let d = row_diff(&old, &new, T, &opts).unwrap();
    assert_eq!((d.added, d.removed, d.changed), (1, 1, 2));
    let out = dir.path().join("out");
    let files = d.write_output(&old, &new, &out).unwrap();
    assert_eq!(
        files.files,
        vec![
            ("added.parquet".into(), 1),
            ("removed.parquet".into(), 1),
            ("changed.parquet".into(), 2)
        ]
    );
    let f = std::fs::File::open(out.join("changed.parquet")).unwrap();
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(f, 1024)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let old_s = b.column_by_name("old").unwrap().as_struct();
    let new_s = b.column_by_name("new").unwrap().as_struct();
    let vals = |s: &arrow::array::StructArray| -> Vec<String> {
        let c = s.column_by_name("s").unwrap().as_string::<i32>();
        (0..c.len()).map(|i| c.value(i).to_owned()).collect()
    };
    assert_eq!(vals(old_s), vec!["x", "x"]);
    assert_eq!(vals(new_s), vec!["changed", "also"]);
    let ids = new_s
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(ids.values().to_vec(), vec![6, 7]);

    // Without a key the same edit is 3 rows removed and 3 added.
    let d = row_diff(&old, &new, T, &RowDiffOptions::default()).unwrap();
    assert_eq!((d.added, d.removed, d.changed), (3, 3, 0));
}

#[test]
fn a_duplicate_key_is_an_error_naming_its_value() {
    let (_dir, store) = fresh_store();
    let old = keyed(&store, &[(1, "a"), (2, "b")]);
    let new = keyed(&store, &[(1, "a"), (2, "b"), (2, "c")]);
    let opts = RowDiffOptions {
        key: vec!["id".into()],
        ..RowDiffOptions::default()
    };
    let e = row_diff(&old, &new, T, &opts).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, dstore::Error::DuplicateKey { .. }), "{msg}");
    assert!(msg.contains("id=2"), "{msg}");
    // A key appended that a shared segment already holds is a duplicate too.
    let (_dir, store) = fresh_store();
    let old = keyed(&store, &[(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]);
    let new = keyed(
        &store,
        &[
            (1, "a"),
            (2, "b"),
            (3, "c"),
            (4, "d"),
            (5, "e"),
            (4, "again"),
        ],
    );
    let d = row_diff(&old, &new, T, &RowDiffOptions::default()).unwrap();
    assert_eq!((d.added, d.rows_hashed), (1, 0), "without a key: an append");
    let e = row_diff(&old, &new, T, &opts).unwrap_err();
    assert!(e.to_string().contains("id=4"), "{e}");
}

#[test]
fn bad_requests_are_refused_and_leave_the_store_as_it_was() {
    let (dir, store) = fresh_store();
    let old = keyed(&store, &[(1, "a"), (2, "b")]);
    let new = keyed(&store, &[(1, "a"), (3, "b")]);
    let before = files_under(store.root(), "");
    let e = row_diff(&old, &new, "nope", &RowDiffOptions::default()).unwrap_err();
    assert!(matches!(e, dstore::Error::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("`nope`"), "{e}");
    let opts = RowDiffOptions {
        key: vec!["missing".into()],
        ..RowDiffOptions::default()
    };
    let e = row_diff(&old, &new, T, &opts).unwrap_err();
    assert!(e.to_string().contains("no column `missing`"), "{e}");
    let d = row_diff(&old, &new, T, &RowDiffOptions::default()).unwrap();
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep.txt"), "mine").unwrap();
    let e = d.write_output(&old, &new, &full).unwrap_err();
    assert!(matches!(e, dstore::Error::OutputNotEmpty { .. }), "{e}");
    assert!(e.to_string().contains("keep.txt"), "{e}");
    assert_eq!(std::fs::read_dir(&full).unwrap().count(), 1);
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let e = d.write_output(&old, &new, &file).unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");
    assert_eq!(files_under(store.root(), ""), before);
}

#[test]
fn a_changed_column_type_is_refused_naming_it_and_new_columns_are_noted() {
    let (_dir, store) = fresh_store();
    let old = keyed(&store, &[(1, "a")]);
    let mut tx = store.begin();
    tx.set_mode(T, WriteMode::Overwrite).unwrap();
    let s2 = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let b = RecordBatch::try_new(
        s2,
        vec![
            Arc::new(StringArray::from(vec!["1"])),
            Arc::new(StringArray::from(vec!["a"])),
        ],
    )
    .unwrap();
    tx.add_reader(T, super::common::reader(vec![b]), &IngestOptions::default())
        .unwrap();
    let new = store
        .snapshot(&tx.commit(&CommitOptions::message("retype")).unwrap().id)
        .unwrap();
    let e = row_diff(&old, &new, T, &RowDiffOptions::default()).unwrap_err();
    assert!(e.to_string().contains("column `id` is Int64"), "{e}");

    // A column added: compared on the common ones, the new column named.
    let mut tx = store.begin();
    tx.set_mode(T, WriteMode::Overwrite).unwrap();
    let s3 = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("f", DataType::Float64, true),
        Field::new("extra", DataType::Int64, true),
    ]));
    let b = RecordBatch::try_new(
        s3,
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["a", "b"])),
            Arc::new(Float64Array::from(vec![None, None])),
            Arc::new(Int64Array::from(vec![7, 8])),
        ],
    )
    .unwrap();
    tx.add_reader(T, super::common::reader(vec![b]), &IngestOptions::default())
        .unwrap();
    let newer = store
        .snapshot(&tx.commit(&CommitOptions::message("extra")).unwrap().id)
        .unwrap();
    let d = row_diff(&old, &newer, T, &RowDiffOptions::default()).unwrap();
    assert_eq!(d.columns_only_new, vec!["extra".to_owned()]);
    assert_eq!((d.added, d.removed), (1, 0));
}

#[test]
fn a_cancelled_diff_stops_and_leaves_no_spill_files() {
    let (_dir, store) = fresh_store();
    let r = |i: i64| (Some(i), None, None);
    let old = commit(&store, &[(0..40).map(r).collect()]);
    let new = commit(&store, &[(5..45).map(r).collect()]);
    let opts = RowDiffOptions {
        memory_budget: 100,
        ..RowDiffOptions::default()
    };
    opts.cancel.cancel();
    let e = row_diff(&old, &new, T, &opts).unwrap_err();
    assert!(matches!(e, dstore::Error::Interrupted), "{e}");
    let tmp = store.root().join("tmp");
    let left = std::fs::read_dir(&tmp).map_or(0, |r| {
        r.flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("rowdiff-"))
            .count()
    });
    assert_eq!(left, 0);
}

/// Keyed rows: unique keys with a value; split into segments of the given sizes.
fn keyed_segments(rows: &[(i64, Option<String>)], sizes: &[usize]) -> Vec<Vec<InRow>> {
    let mut out = Vec::new();
    let mut rest = rows;
    for &n in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(n.min(rest.len()));
        out.push(a.iter().map(|(k, v)| (Some(*k), v.clone(), None)).collect());
        rest = b;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn keyed_diff_equals_a_naive_comparison_by_key(
        old in prop::collection::btree_map(0i64..40, prop::option::of(prop::sample::select(vec!["a", "b", ""])), 1..30),
        edits in prop::collection::vec((0i64..50, prop::option::of(prop::option::of(prop::sample::select(vec!["a", "c"])))), 0..12),
        sizes_old in prop::collection::vec(1usize..9, 1..4),
        sizes_new in prop::collection::vec(1usize..9, 1..4),
        tiny in any::<bool>(),
    ) {
        let old: std::collections::BTreeMap<i64, Option<String>> =
            old.into_iter().map(|(k, v)| (k, v.map(str::to_owned))).collect();
        let mut new = old.clone();
        // (key, None): delete; (key, Some(v)): set.
        for (k, e) in edits {
            match e {
                None => { new.remove(&k); }
                Some(v) => { new.insert(k, v.map(str::to_owned)); }
            }
        }
        let (_dir, store) = fresh_store();
        let o: Vec<_> = old.clone().into_iter().collect();
        let n: Vec<_> = new.clone().into_iter().collect();
        let so = commit(&store, &keyed_segments(&o, &sizes_old));
        let sn = commit(&store, &keyed_segments(&n, &sizes_new));
        let opts = RowDiffOptions {
            key: vec!["id".into()],
            memory_budget: if tiny { 120 } else { 1 << 20 },
            ..RowDiffOptions::default()
        };
        let d = row_diff(&so, &sn, T, &opts).unwrap();
        let added = new.keys().filter(|k| !old.contains_key(k)).count() as u64;
        let removed = old.keys().filter(|k| !new.contains_key(k)).count() as u64;
        let changed = new.iter().filter(|(k, v)| old.get(k).is_some_and(|ov| ov != *v)).count() as u64;
        prop_assert_eq!((d.added, d.removed, d.changed), (added, removed, changed));
    }
}
