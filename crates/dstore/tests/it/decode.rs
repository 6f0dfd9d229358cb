//! Parallel decode inside a row group (issue 14): the columns of one row group are decoded
//! by several readers at once, yet every thread count, with and without verification, gives
//! the same batches — for every column type, filter, shuffle and projection.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, Int8Array, Int64Array,
    ListArray, RecordBatch, StringArray, StructArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Fields, Int32Type, Schema, SchemaRef};
use dstore::scan::filter::Expr;
use dstore::{CommitOptions, IngestOptions, ScanBuilder, Snapshot, Store};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::common::fresh_store;

fn schema() -> SchemaRef {
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("label", DataType::Int8, true),
        Field::new("text", DataType::Utf8, true),
        Field::new("embedding", DataType::FixedSizeList(item, 4), true),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
            true,
        ),
        Field::new(
            "point",
            DataType::Struct(Fields::from(vec![
                Field::new("x", DataType::Float64, true),
                Field::new("ok", DataType::Boolean, true),
            ])),
            true,
        ),
    ]))
}

/// Rows `start..start + n`, every column a function of the row number, with nulls.
fn rows(start: i64, n: usize) -> RecordBatch {
    let ids: Vec<i64> = (start..start + n as i64).collect();
    let h = |i: i64, k: i64| (i.wrapping_mul(0x9E37_79B9) ^ k).rem_euclid(1000);
    let label: Int8Array = ids
        .iter()
        .map(|&i| (h(i, 1) % 7 != 0).then_some((h(i, 2) % 10) as i8))
        .collect();
    let text: StringArray = ids
        .iter()
        .map(|&i| {
            (h(i, 3) % 11 != 0).then(|| "abc".repeat(1 + (h(i, 4) % 40) as usize) + &i.to_string())
        })
        .collect();
    let values: Float32Array = ids
        .iter()
        .flat_map(|&i| {
            (0..4).map(move |k| (h(i, k + 5) % 13 != 0).then_some(i as f32 + k as f32 / 4.0))
        })
        .collect();
    let list_nulls = NullBuffer::from(ids.iter().map(|&i| h(i, 9) % 17 != 0).collect::<Vec<_>>());
    let embedding = FixedSizeListArray::new(
        Arc::new(Field::new("item", DataType::Float32, true)),
        4,
        Arc::new(values),
        Some(list_nulls),
    );
    let tags = ListArray::from_iter_primitive::<Int32Type, _, _>(ids.iter().map(|&i| {
        (h(i, 10) % 9 != 0).then(|| {
            (0..h(i, 11) % 5)
                .map(|k| Some((i + k) as i32))
                .collect::<Vec<_>>()
        })
    }));
    let x: Float64Array = ids
        .iter()
        .map(|&i| (h(i, 12) % 5 != 0).then_some(i as f64 / 3.0))
        .collect();
    let ok: BooleanArray = ids
        .iter()
        .map(|&i| (h(i, 13) % 6 != 0).then_some(i % 2 == 0))
        .collect();
    let point = StructArray::new(
        Fields::from(vec![
            Field::new("x", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, true),
        ]),
        vec![Arc::new(x) as ArrayRef, Arc::new(ok)],
        Some(NullBuffer::from(
            ids.iter().map(|&i| h(i, 14) % 19 != 0).collect::<Vec<_>>(),
        )),
    );
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(label),
            Arc::new(text),
            Arc::new(embedding),
            Arc::new(tags),
            Arc::new(point),
        ],
    )
    .expect("batch")
}

/// A Parquet file of `rows` rows from `start`, row groups of `rg` rows, small pages, with or
/// without a page index.
fn parquet(path: &std::path::Path, start: i64, n: usize, rg: usize, page_index: bool) {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(rg))
        .set_data_page_row_count_limit(97)
        .set_write_batch_size(97)
        .set_statistics_enabled(if page_index {
            EnabledStatistics::Page
        } else {
            EnabledStatistics::Chunk
        })
        .set_offset_index_disabled(!page_index)
        .build();
    let file = std::fs::File::create(path).expect("create parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema(), Some(props)).expect("writer");
    w.write(&rows(start, n)).expect("write");
    w.close().expect("close");
}

/// Two segments (one with a page index and an outboard-sized body, one without), row groups
/// of varied sizes.
fn table() -> (tempfile::TempDir, Store, Snapshot) {
    let (dir, store) = fresh_store();
    let a = dir.path().join("a.parquet");
    let b = dir.path().join("b.parquet");
    parquet(&a, 0, 5000, 1700, true);
    parquet(&b, 5000, 2300, 1000, false);
    let mut tx = store.begin();
    tx.add_files("t", &[a, b], &IngestOptions::default())
        .expect("adopt");
    let out = tx
        .commit(&CommitOptions::message("decode test"))
        .expect("commit");
    let snap = store.snapshot(&out.id).expect("snapshot");
    (dir, store, snap)
}

fn scan(b: ScanBuilder) -> Vec<RecordBatch> {
    b.batches()
        .expect("scan")
        .collect::<dstore::Result<Vec<_>>>()
        .expect("batches")
}

#[test]
fn any_thread_count_with_or_without_verification_gives_identical_batches() {
    type Shape = fn(ScanBuilder) -> ScanBuilder;
    let (_dir, _store, snap) = table();
    let shapes: [(&str, Shape); 6] = [
        ("storage order", |b| b),
        ("shuffled", |b| {
            b.shuffle(7).epoch(2).order_version(1).window(2)
        }),
        ("shuffled, order v2", |b| {
            b.shuffle(7).epoch(2).memory_budget(1 << 20)
        }),
        ("projection", |b| b.columns(["point", "text", "id"])),
        ("filter", |b| {
            b.filter(Expr::parse("id >= 1200 and id < 1450 or label = 3").expect("filter"))
        }),
        ("shuffled shard", |b| {
            b.shuffle(3).shard(1, 3).batch_size(333)
        }),
    ];
    for (name, shape) in shapes {
        let reference = scan(shape(snap.scan("t").expect("scan").threads(1)));
        let n: usize = reference.iter().map(RecordBatch::num_rows).sum();
        assert!(n > 0, "{name}: the reference scan yields rows");
        if name == "storage order" {
            // The decoded values are the rows written, not merely the same across runs.
            let all = arrow::compute::concat_batches(&schema(), &reference).expect("concat");
            let want =
                arrow::compute::concat_batches(&schema(), &[rows(0, 5000), rows(5000, 2300)])
                    .expect("concat");
            assert_eq!(all, want, "storage order scan returns the rows written");
        }
        for threads in [1, 2, 4] {
            for verify in [true, false] {
                let got = scan(shape(
                    snap.scan("t")
                        .expect("scan")
                        .threads(threads)
                        .verify(verify),
                ));
                assert_eq!(
                    got, reference,
                    "{name}: {threads} threads, verify {verify} differs from 1 thread verified"
                );
            }
        }
    }
}

#[test]
fn a_damaged_chunk_fails_the_parallel_decode_naming_the_segment() {
    let (_dir, store, snap) = table();
    let seg = &snap.segments("t").expect("segments")[1];
    let chunk = &seg.row_groups[1].chunks[3];
    let path = super::common::segment_path(store.root(), &seg.id);
    super::common::flip_byte(&path, (chunk.offset + chunk.length / 2) as usize);
    let name = seg.id.to_hex();
    for threads in [1, 2, 4] {
        let err = snap
            .scan("t")
            .expect("scan")
            .threads(threads)
            .batches()
            .expect("scan")
            .collect::<dstore::Result<Vec<_>>>()
            .expect_err("damaged chunk");
        assert!(
            matches!(err, dstore::Error::Corrupted { .. }),
            "{threads} threads: {err}"
        );
        assert!(err.to_string().contains(&name), "{threads} threads: {err}");
    }
}
