//! Filters below the row group: late materialization (the filter's columns decoded first, the
//! others only for matching rows) and page-index pruning, verified and unverified.
//!
//! Tables are Parquet files written by the test with random layouts (row group sizes, page row
//! limits, page index full / offset index only / none, dictionary or plain pages) and adopted as
//! they are; their outboards are kept or removed. Every filtered scan is compared batch by batch
//! with the same scan unfiltered, filtered in the test: the same rows, in the same batches, with
//! every column equal.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, BooleanArray, FixedSizeListBuilder, Float32Builder, Int32Array, Int32Builder,
    Int64Array, ListBuilder, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use dstore::scan::ScanStats;
use dstore::scan::filter::Expr;
use dstore::{CommitOptions, Error, IngestOptions, Snapshot, Store};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::common::{self, fresh_store};

const TABLE: &str = "t";

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("key", DataType::Int32, true),
        Field::new("text", DataType::Utf8, false),
        Field::new(
            "emb",
            DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, true)), 3),
            true,
        ),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
            true,
        ),
    ]))
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Row `id`'s `key`: NULL for about 1 in 7 rows, otherwise an even number in 0..100 (so an odd
/// key is within every statistic's bounds and matches nothing).
fn key_of(id: i64) -> Option<i32> {
    let h = mix(id as u64);
    (!h.is_multiple_of(7)).then(|| ((h >> 8) % 50) as i32 * 2)
}

fn text_of(id: i64) -> String {
    let pad = (mix(id as u64 ^ 0xabc) % 120) as usize;
    format!("r{id:06}{}", "x".repeat(pad))
}

/// Rows `ids` of the table.
fn rows(ids: std::ops::Range<i64>) -> RecordBatch {
    let mut emb = FixedSizeListBuilder::new(Float32Builder::new(), 3);
    let mut tags = ListBuilder::new(Int32Builder::new());
    for id in ids.clone() {
        let h = mix(id as u64 ^ 0x55);
        if h.is_multiple_of(11) {
            emb.values().append_nulls(3);
            emb.append(false);
        } else {
            for j in 0..3 {
                emb.values().append_value(id as f32 + j as f32 / 4.0);
            }
            emb.append(true);
        }
        if h.is_multiple_of(13) {
            tags.append(false);
        } else {
            for j in 0..(h >> 8) % 4 {
                tags.values().append_value((id % 1000) as i32 + j as i32);
            }
            tags.append(true);
        }
    }
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())),
            Arc::new(ids.clone().map(key_of).collect::<Int32Array>()),
            Arc::new(StringArray::from_iter_values(ids.map(text_of))),
            Arc::new(emb.finish()),
            Arc::new(tags.finish()),
        ],
    )
    .expect("batch")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageIndex {
    /// Column and offset index (page statistics).
    Full,
    /// Offset index only: page locations, no page statistics.
    OffsetOnly,
    /// Neither (pyarrow's default).
    None,
}

/// One adopted Parquet file.
#[derive(Debug, Clone)]
struct File {
    rows: usize,
    row_group_rows: usize,
    page_rows: usize,
    page_index: PageIndex,
    dictionary: bool,
    /// Remove the segment's outboard after the commit (a store from before outboards).
    outboard: bool,
}

fn write_parquet(path: &Path, batch: &RecordBatch, f: &File) {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(f.row_group_rows))
        .set_data_page_row_count_limit(f.page_rows)
        .set_write_batch_size(f.page_rows)
        .set_statistics_enabled(if f.page_index == PageIndex::Full {
            EnabledStatistics::Page
        } else {
            EnabledStatistics::Chunk
        })
        .set_offset_index_disabled(f.page_index == PageIndex::None)
        .set_dictionary_enabled(f.dictionary)
        .build();
    let file = std::fs::File::create(path).expect("create parquet");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).expect("writer");
    w.write(batch).expect("write");
    w.close().expect("close");
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    snap: Snapshot,
}

fn outboard_path(root: &Path, id: &dstore::SegmentId) -> PathBuf {
    let hex = id.to_hex();
    root.join("derived")
        .join(&hex[..2])
        .join(format!("{hex}.outboard"))
}

fn build(files: &[File]) -> Fixture {
    let (dir, store) = fresh_store();
    let mut start = 0i64;
    let mut last = None;
    for (i, f) in files.iter().enumerate() {
        let path = dir.path().join(format!("in-{i}.parquet"));
        write_parquet(&path, &rows(start..start + f.rows as i64), f);
        start += f.rows as i64;
        let mut tx = store.begin();
        tx.add_files(TABLE, &[path], &IngestOptions::default())
            .expect("adopt");
        last = Some(tx.commit(&CommitOptions::message("late")).expect("commit"));
    }
    let snap = store.snapshot(&last.expect("a file").id).expect("snapshot");
    let segs = snap.segments(TABLE).expect("segments");
    assert_eq!(segs.len(), files.len());
    for (seg, f) in segs.iter().zip(files) {
        let ob = outboard_path(store.root(), &seg.id);
        assert!(ob.is_file(), "the commit wrote an outboard");
        if !f.outboard {
            std::fs::remove_file(ob).expect("remove outboard");
        }
    }
    Fixture {
        _dir: dir,
        store,
        snap,
    }
}

/// A filter as text, and the same predicate on a row id, evaluated by the test.
#[derive(Debug, Clone)]
enum F {
    IdLt(i64),
    IdIn(i64, i64),
    KeyEq(i32),
    KeyIsNull,
    TextEq(i64),
    And(Box<F>, Box<F>),
    Or(Box<F>, Box<F>),
}

impl F {
    fn text(&self) -> String {
        match self {
            F::IdLt(a) => format!("id < {a}"),
            F::IdIn(a, b) => format!("id >= {a} AND id < {b}"),
            F::KeyEq(k) => format!("key = {k}"),
            F::KeyIsNull => "key IS NULL".into(),
            F::TextEq(id) => format!("text = '{}'", text_of(*id)),
            F::And(a, b) => format!("({}) AND ({})", a.text(), b.text()),
            F::Or(a, b) => format!("({}) OR ({})", a.text(), b.text()),
        }
    }

    /// SQL's three-valued result on row `id` (`None`: NULL).
    fn eval(&self, id: i64) -> Option<bool> {
        match self {
            F::IdLt(a) => Some(id < *a),
            F::IdIn(a, b) => Some(*a <= id && id < *b),
            F::KeyEq(k) => key_of(id).map(|v| v == *k),
            F::KeyIsNull => Some(key_of(id).is_none()),
            F::TextEq(t) => Some(id == *t),
            F::And(a, b) => match (a.eval(id), b.eval(id)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            F::Or(a, b) => match (a.eval(id), b.eval(id)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
        }
    }
}

fn leaf(rows: i64) -> impl Strategy<Value = F> {
    prop_oneof![
        (0..=rows).prop_map(F::IdLt),
        (0..rows, 1..rows / 4 + 2).prop_map(|(a, n)| F::IdIn(a, a + n)),
        (0i32..100).prop_map(F::KeyEq),
        Just(F::KeyIsNull),
        (0..rows.max(1)).prop_map(F::TextEq),
    ]
}

fn filter_strategy(rows: i64) -> impl Strategy<Value = F> {
    leaf(rows).prop_recursive(2, 4, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| F::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| F::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn file_strategy() -> impl Strategy<Value = File> {
    (
        1usize..=2500,
        prop_oneof![Just(64usize), 1usize..=300, 300usize..=3000],
        prop_oneof![Just(1usize), 2usize..=40, 40usize..=400],
        prop_oneof![
            Just(PageIndex::Full),
            Just(PageIndex::OffsetOnly),
            Just(PageIndex::None)
        ],
        any::<bool>(),
        prop_oneof![3 => Just(true), 1 => Just(false)],
    )
        .prop_map(
            |(rows, row_group_rows, page_rows, page_index, dictionary, outboard)| File {
                rows,
                row_group_rows,
                page_rows,
                page_index,
                dictionary,
                outboard,
            },
        )
}

/// How a scan is run (none of it may change the rows).
#[derive(Debug, Clone)]
struct How {
    verify: bool,
    threads: usize,
    late: bool,
    page_index: bool,
    seed: Option<u64>,
    batch: usize,
    /// `Some(n)`: scan order v1 with a window of n row groups; `None`: order v2 (the default).
    window: Option<usize>,
    columns: Option<Vec<&'static str>>,
}

fn how_strategy() -> impl Strategy<Value = How> {
    (
        any::<bool>(),
        prop_oneof![Just(1usize), Just(2), Just(4)],
        prop_oneof![3 => Just(true), 1 => Just(false)],
        prop_oneof![3 => Just(true), 1 => Just(false)],
        prop::option::of(any::<u64>()),
        prop_oneof![Just(8192usize), 1usize..600],
        prop::option::of(1usize..=3),
        prop_oneof![
            Just(None),
            Just(Some(vec!["text", "emb"])),
            Just(Some(vec!["tags", "id"])),
            Just(Some(vec!["key"])),
        ],
    )
        .prop_map(
            |(verify, threads, late, page_index, seed, batch, window, columns)| How {
                verify,
                threads,
                late,
                page_index,
                seed,
                batch,
                window,
                columns,
            },
        )
}

fn scan(
    snap: &Snapshot,
    how: &How,
    filter: Option<&F>,
) -> dstore::Result<(Vec<RecordBatch>, ScanStats)> {
    let mut b = snap.scan(TABLE)?;
    if let Some(c) = &how.columns {
        b = b.columns(c.iter().copied());
    }
    let mut b = b
        .verify(how.verify)
        .threads(how.threads)
        .late_materialization(how.late)
        .page_index(how.page_index)
        .batch_size(how.batch);
    if let Some(w) = how.window {
        b = b.order_version(1).window(w);
    }
    if let Some(s) = how.seed {
        b = b.shuffle(s);
    }
    if let Some(f) = filter {
        b = b.filter(Expr::parse(&f.text()).expect("filter parses"));
    }
    let mut it = b.batches()?;
    let mut out = Vec::new();
    for batch in &mut it {
        out.push(batch?);
    }
    Ok((out, it.stats()))
}

fn ids(b: &RecordBatch) -> Vec<i64> {
    let a = b.column_by_name("id").expect("id");
    a.as_any()
        .downcast_ref::<Int64Array>()
        .expect("int64")
        .values()
        .to_vec()
}

fn project(b: &RecordBatch, cols: Option<&Vec<&'static str>>) -> RecordBatch {
    match cols {
        None => b.clone(),
        Some(cols) => {
            let idx: Vec<usize> = cols
                .iter()
                .map(|c| b.schema().index_of(c).expect("column"))
                .collect();
            b.project(&idx).expect("project")
        }
    }
}

/// Checks `got` (a filtered scan) against the unfiltered scan `all` (with every column, so the
/// test can see each row's id), filtered row by row: batch for batch, column for column.
fn same_as_naive(
    got: &[RecordBatch],
    all: &[RecordBatch],
    f: &F,
    cols: Option<&Vec<&'static str>>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), all.len(), "one batch per unfiltered batch");
    for (i, (g, a)) in got.iter().zip(all).enumerate() {
        let mask: BooleanArray = ids(a)
            .iter()
            .map(|&id| Some(f.eval(id) == Some(true)))
            .collect();
        let want = arrow::compute::filter_record_batch(a, &mask).expect("filter");
        let want = project(&want, cols);
        prop_assert_eq!(g, &want, "batch {} of filter {}", i, f.text());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Filtered reads over random layouts equal a naive full scan filtered by the test, with
    /// and without verification, late materialization and page indexes, on any thread count.
    #[test]
    fn filtered_reads_equal_a_full_scan_filtered(
        files in prop::collection::vec(file_strategy(), 1..=3),
        how in how_strategy(),
        filter in filter_strategy(3000),
    ) {
        let fx = build(&files);
        let full = How { columns: None, ..how.clone() };
        let (all, _) = scan(&fx.snap, &full, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (got, stats) = scan(&fx.snap, &how, Some(&filter))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        same_as_naive(&got, &all, &filter, how.columns.as_ref())?;
        if !how.late {
            prop_assert_eq!(stats.late_rows_skipped, 0);
            prop_assert_eq!(stats.late_row_groups_skipped, 0);
        }
        prop_assert!(stats.late_row_groups_skipped <= stats.row_groups_read, "{:?}", stats);
    }
}

/// A table where late materialization has something to skip: one segment of 3 row groups of
/// 6,000 rows, pages of 250 rows, with the page index and the outboard as `page_index` and
/// `outboard` say.
fn wide(page_index: PageIndex, outboard: bool) -> Fixture {
    build(&[File {
        rows: 18_000,
        row_group_rows: 6_000,
        page_rows: 250,
        page_index,
        dictionary: false,
        outboard,
    }])
}

fn default_how() -> How {
    How {
        verify: true,
        threads: 2,
        late: true,
        page_index: true,
        seed: None,
        batch: 8192,
        window: Some(4),
        columns: None,
    }
}

#[test]
fn row_groups_without_a_match_cost_only_the_filter_columns() {
    let fx = wide(PageIndex::None, true);
    // No key is odd, but statistics cannot tell (keys 0..98): every row group is read.
    let f = F::KeyEq(51);
    let (late, s_late) = scan(&fx.snap, &default_how(), Some(&f)).unwrap();
    let eager_how = How {
        late: false,
        ..default_how()
    };
    let (eager, s_eager) = scan(&fx.snap, &eager_how, Some(&f)).unwrap();
    assert_eq!(late, eager);
    assert!(late.iter().all(|b| b.num_rows() == 0));
    assert_eq!(s_late.row_groups_read, 3, "{s_late:?}");
    assert_eq!(s_late.late_row_groups_skipped, 3, "{s_late:?}");
    assert_eq!(s_late.late_rows_skipped, 18_000, "{s_late:?}");
    assert_eq!(s_eager.row_groups_read, 3, "{s_eager:?}");
    assert_eq!(s_eager.late_rows_skipped, 0);
    // Only the `key` chunks (and the footer) were fetched.
    assert!(
        s_late.bytes_read * 10 < s_eager.bytes_read,
        "late {s_late:?}, eager {s_eager:?}"
    );
}

#[test]
fn with_an_offset_index_only_the_selected_rows_pages_are_fetched() {
    for (page_index, outboard, verify, skips_pages) in [
        (PageIndex::Full, true, true, true),
        (PageIndex::OffsetOnly, true, true, true),
        (PageIndex::OffsetOnly, false, false, true),
        // Verified without an outboard: whole chunks, checked against the manifest.
        (PageIndex::OffsetOnly, false, true, false),
        (PageIndex::None, true, true, false),
    ] {
        let fx = wide(page_index, outboard);
        // 1% of the rows, in the middle of row group 1: `id` statistics prune row groups 0
        // and 2; `text`, `emb`, `tags` are fetched only for pages 8..10 of row group 1.
        let f = F::IdIn(8_000, 8_180);
        let how = How {
            verify,
            ..default_how()
        };
        let (got, late) = scan(&fx.snap, &how, Some(&f)).unwrap();
        let (eager_rows, eager) = scan(
            &fx.snap,
            &How {
                late: false,
                page_index: false,
                ..how.clone()
            },
            Some(&f),
        )
        .unwrap();
        assert_eq!(got, eager_rows);
        let got_ids: Vec<i64> = got.iter().flat_map(ids).collect();
        assert_eq!(got_ids, (8_000..8_180).collect::<Vec<_>>());
        assert_eq!(late.row_groups_read, 1, "{late:?}");
        assert_eq!(late.row_groups_pruned, 2, "{late:?}");
        let case = format!("{page_index:?} outboard {outboard} verify {verify}");
        println!(
            "{case}: bytes read {} late, {} eager",
            late.bytes_read, eager.bytes_read
        );
        if skips_pages {
            // Pages are checked by 16 KiB chunk group: each costs a group or two.
            assert!(
                late.bytes_read * 3 < eager.bytes_read,
                "{case}: late {late:?}, eager {eager:?}"
            );
        } else {
            assert!(
                late.bytes_read * 10 > eager.bytes_read * 9,
                "{case}: late {late:?}, eager {eager:?}"
            );
        }
        assert!(late.late_rows_skipped > 0, "{case}: {late:?}");
    }
}

/// Collects a filtered scan's ids (sorted when shuffled), or its first error.
fn try_ids(snap: &Snapshot, how: &How, f: &F) -> dstore::Result<Vec<i64>> {
    let mut out: Vec<i64> = scan(snap, how, Some(f))?.0.iter().flat_map(ids).collect();
    if how.seed.is_some() {
        out.sort_unstable();
    }
    Ok(out)
}

/// The byte ranges of every page of the leaf column `leaf` in row group `rg`, with their first
/// rows, from the file's offset index.
fn pages(path: &Path, rg: usize, leaf: usize) -> Vec<(std::ops::Range<u64>, i64)> {
    let file = std::fs::File::open(path).unwrap();
    let meta = parquet::file::metadata::ParquetMetaDataReader::new()
        .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required)
        .parse_and_finish(&file)
        .unwrap();
    meta.page_index_for_row_group(rg)
        .page_locations(leaf)
        .expect("offset index")
        .iter()
        .map(|p| {
            let at = p.offset as u64;
            (at..at + p.compressed_page_size as u64, p.first_row_index)
        })
        .collect()
}

fn set_bytes(path: &Path, bytes: &[u8]) {
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(path, perms).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn assert_names_segment(r: &dstore::Result<Vec<i64>>, path: &Path, what: &str) {
    match r {
        Err(Error::Corrupted { path: p, .. }) => assert_eq!(p, path, "{what}"),
        other => panic!(
            "{what}: expected Corrupted naming {}, got {other:?}",
            path.display()
        ),
    }
}

#[test]
fn a_damaged_byte_in_a_page_a_late_read_decodes_is_found_naming_the_segment() {
    // 1% of the rows, in row group 1 (rows 6,000..12,000); row groups 0 and 2 are pruned.
    let f = F::IdIn(8_000, 8_180);
    let want: Vec<i64> = (8_000..8_180).collect();
    let (lo, hi) = (8_000 - 6_000, 8_180 - 6_000);
    let seeded = How {
        threads: 1,
        seed: Some(5),
        ..default_how()
    };
    for (page_index, outboard, how) in [
        (PageIndex::Full, true, default_how()),
        (PageIndex::OffsetOnly, true, seeded.clone()),
        (PageIndex::OffsetOnly, false, seeded),
    ] {
        let fx = wide(page_index, outboard);
        let seg = fx.snap.segments(TABLE).unwrap()[0].clone();
        let path = common::segment_path(fx.store.root(), &seg.id);
        let clean = std::fs::read(&path).unwrap();
        assert_eq!(try_ids(&fx.snap, &how, &f).unwrap(), want);
        let mut found = 0;
        // Every page of every leaf of row group 1: id (0), key (1), text (2), emb (3), tags (4).
        for leaf in 0..5 {
            let ps = pages(&path, 1, leaf);
            assert!(ps.len() >= 20, "{} pages", ps.len());
            for (i, (range, first)) in ps.iter().enumerate() {
                let end = ps.get(i + 1).map_or(i64::MAX, |p| p.1);
                // The pages a read must decode: those holding selected rows; all of `id`'s
                // unless its column index prunes them; all of them when whole chunks are
                // checked (no outboard).
                let overlaps = *first < hi && end > lo;
                let decoded = overlaps || (leaf == 0 && page_index != PageIndex::Full) || !outboard;
                let mut bad = clean.clone();
                bad[usize::try_from(u64::midpoint(range.start, range.end)).unwrap()] ^= 0x5a;
                set_bytes(&path, &bad);
                let r = try_ids(&fx.snap, &how, &f);
                let what = format!(
                    "{page_index:?} outboard {outboard}: leaf {leaf} page {i} (rows {first}..)"
                );
                match &r {
                    Ok(got) if !decoded => assert_eq!(got, &want, "{what}"),
                    // A page not decoded may share a 16 KiB chunk group with one that is.
                    _ => {
                        assert_names_segment(&r, &path, &what);
                        found += 1;
                    }
                }
            }
        }
        set_bytes(&path, &clean);
        if outboard {
            // Pages skipped by late materialization or the page index are never fetched.
            assert!(
                found < 5 * 20,
                "{page_index:?}: {found} damaged pages found"
            );
            // A damaged outboard is found too, and named.
            let ob = outboard_path(fx.store.root(), &seg.id);
            let good = std::fs::read(&ob).unwrap();
            let mut bad = good.clone();
            let mid = bad.len() / 2;
            bad[mid] ^= 1;
            set_bytes(&ob, &bad);
            let e = try_ids(&fx.snap, &how, &f).unwrap_err();
            assert!(
                e.is_corruption() && e.to_string().contains(".outboard"),
                "{page_index:?}: {e}"
            );
            set_bytes(&ob, &good);
        }
    }
}

#[test]
fn late_reads_of_segments_without_an_offset_index_still_check_whole_chunks() {
    // pyarrow's default layout: no page index. A damaged byte in a `text` page far past the
    // selected rows is never decoded, but the chunk is hashed whole, so the read fails.
    let fx = wide(PageIndex::None, true);
    let seg = fx.snap.segments(TABLE).unwrap()[0].clone();
    let path = common::segment_path(fx.store.root(), &seg.id);
    let f = F::IdLt(100);
    assert_eq!(
        try_ids(&fx.snap, &default_how(), &f).unwrap(),
        (0..100).collect::<Vec<_>>()
    );
    let text = &seg.row_groups[0].chunks[2];
    common::flip_byte(&path, (text.offset + text.length - 100) as usize);
    for late in [true, false] {
        let how = How {
            late,
            ..default_how()
        };
        assert_names_segment(&try_ids(&fx.snap, &how, &f), &path, "text chunk");
    }
    // Unverified, the damaged page is past the last selected row: not decoded, rows right.
    let how = How {
        verify: false,
        ..default_how()
    };
    assert_eq!(
        try_ids(&fx.snap, &how, &f).unwrap(),
        (0..100).collect::<Vec<_>>()
    );
}

#[test]
fn verified_unverified_and_any_thread_count_give_identical_batches() {
    let fx = build(&[
        File {
            rows: 5_000,
            row_group_rows: 1_200,
            page_rows: 100,
            page_index: PageIndex::Full,
            dictionary: true,
            outboard: true,
        },
        File {
            rows: 3_000,
            row_group_rows: 3_000,
            page_rows: 333,
            page_index: PageIndex::None,
            dictionary: false,
            outboard: true,
        },
        File {
            rows: 2_000,
            row_group_rows: 500,
            page_rows: 50,
            page_index: PageIndex::OffsetOnly,
            dictionary: false,
            outboard: false,
        },
    ]);
    let filters = [
        F::IdIn(4_900, 5_300),
        F::KeyEq(10),
        F::Or(Box::new(F::KeyIsNull), Box::new(F::IdLt(700))),
        F::TextEq(7_777),
    ];
    for f in &filters {
        let base = scan(&fx.snap, &default_how(), Some(f)).unwrap().0;
        assert!(base.iter().any(|b| b.num_rows() > 0), "{}", f.text());
        for verify in [true, false] {
            for threads in [1, 2, 3, 4] {
                for late in [true, false] {
                    let how = How {
                        verify,
                        threads,
                        late,
                        ..default_how()
                    };
                    let got = scan(&fx.snap, &how, Some(f)).unwrap().0;
                    assert_eq!(got, base, "{} {how:?}", f.text());
                }
            }
        }
    }
}
