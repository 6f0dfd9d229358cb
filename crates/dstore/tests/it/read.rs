//! Getting data in through files and out through `read_table`: adopted Parquet keeps its
//! bytes, and reads check each segment against its id before returning its rows.

use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch};
use dstore::{CommitOptions, Error, IngestOptions, SegmentId, Snapshot, snapshot::ReadOptions};

use super::common::{self, append, fresh_store};

fn values(snap: &Snapshot, table: &str, opts: &ReadOptions) -> dstore::Result<Vec<i64>> {
    let mut out = Vec::new();
    for b in snap.read_table(table, opts)? {
        let b = b?;
        assert_eq!(b.schema(), snap.table(table).unwrap().schema.clone());
        let a = b
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("int64");
        out.extend(a.values().iter().copied());
    }
    Ok(out)
}

#[test]
fn parquet_files_are_adopted_byte_for_byte() {
    let (dir, store) = fresh_store();
    let file = dir.path().join("in.parquet");
    let batch = common::batch(42, 100);
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&file).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let input = std::fs::read(&file).unwrap();

    let mut tx = store.begin();
    let staged = tx
        .add_files("t", std::slice::from_ref(&file), &IngestOptions::default())
        .unwrap();
    assert_eq!(staged.segments, 1);
    let first = tx.commit(&CommitOptions::message("adopt")).unwrap();
    let snap = store.snapshot(&first.id).unwrap();
    let segs = snap.segments("t").unwrap();
    assert_eq!(segs.len(), 1);
    assert_eq!(
        segs[0].id,
        SegmentId::of(&input),
        "the segment is the input file"
    );
    assert_eq!(segs[0].bytes, input.len() as u64);
    assert_eq!(segs[0].rows, 100);
    assert_eq!(
        std::fs::read(common::segment_path(store.root(), &segs[0].id)).unwrap(),
        input
    );
    let want: Vec<i64> = (0..100).map(|i| 42_000_000 + i).collect();
    assert_eq!(values(&snap, "t", &ReadOptions::default()).unwrap(), want);

    // The same file again is refused, naming the commit that holds it...
    let mut tx = store.begin();
    let r = tx.add_files("t", std::slice::from_ref(&file), &IngestOptions::default());
    assert!(
        matches!(&r, Err(Error::DuplicateData(d)) if d.committed == Some((first.seq, first.id))),
        "{r:?}"
    );
    drop(tx);
    // ... and with allow_duplicates appends the same segment a second time.
    let mut tx = store.begin();
    let again = IngestOptions {
        allow_duplicates: true,
        ..IngestOptions::default()
    };
    tx.add_files("t", &[file], &again).unwrap();
    let c2 = tx.commit(&CommitOptions::message("again")).unwrap();
    let segs = store.snapshot(&c2.id).unwrap().segments("t").unwrap();
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[0].id, segs[1].id);
    let report = store
        .verify(
            &dstore::verify::VerifyOptions {
                all: true,
                ..Default::default()
            },
            &|_| {},
        )
        .unwrap();
    assert!(report.ok(), "{:?}", report.problems);
}

#[test]
fn read_table_returns_rows_in_segment_order() {
    let (_d, store) = fresh_store();
    append(&store, "t", 1, 3);
    append(&store, "t", 2, 2);
    let c = append(&store, "t", 3, 1);
    let snap = store.snapshot(&c.id).unwrap();
    let got = values(
        &snap,
        "t",
        &ReadOptions {
            verify: true,
            batch_size: 1,
        },
    )
    .unwrap();
    assert_eq!(
        got,
        [
            1_000_000, 1_000_001, 1_000_002, 2_000_000, 2_000_001, 3_000_000
        ]
    );
    assert!(matches!(
        snap.read_table("nope", &ReadOptions::default()),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn read_table_refuses_a_damaged_segment_before_returning_its_rows() {
    let (_d, store) = fresh_store();
    append(&store, "t", 1, 3);
    let c = append(&store, "t", 2, 50);
    let snap = store.snapshot(&c.id).unwrap();
    let segs = snap.segments("t").unwrap();
    let path = common::segment_path(store.root(), &segs[1].id);
    // A byte in the middle of the column data.
    let chunk = &segs[1].row_groups[0].chunks[0];
    common::flip_byte(&path, (chunk.offset + chunk.length / 2) as usize);
    let mut rows_before_error = 0;
    let mut error = None;
    for b in snap.read_table("t", &ReadOptions::default()).unwrap() {
        match b {
            Ok(b) => rows_before_error += b.num_rows(),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert_eq!(
        rows_before_error, 3,
        "the first segment's rows, none of the damaged one's"
    );
    match error {
        Some(Error::Corrupted { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected Corrupted naming the segment, got {other:?}"),
    }
    // The iterator stops after an error.
    let mut it = snap.read_table("t", &ReadOptions::default()).unwrap();
    assert!(it.next().unwrap().is_ok());
    assert!(it.next().unwrap().is_err());
    assert!(it.next().is_none());
}

#[test]
fn read_table_follows_the_table_schema_for_segments_written_in_another_order() {
    // An adopted Parquet file whose columns are in another order than the table's.
    let (d, store) = fresh_store();
    let xy = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("x", arrow::datatypes::DataType::Int64, false),
        arrow::datatypes::Field::new("y", arrow::datatypes::DataType::Int64, false),
    ]));
    let b = RecordBatch::try_new(
        xy.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(Int64Array::from(vec![10, 20])),
        ],
    )
    .unwrap();
    let mut tx = store.begin();
    tx.add_reader(
        "t",
        arrow::array::RecordBatchIterator::new([Ok(b)], xy),
        &IngestOptions::default(),
    )
    .unwrap();
    tx.commit(&CommitOptions::message("xy")).unwrap();
    let yx = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("y", arrow::datatypes::DataType::Int64, false),
        arrow::datatypes::Field::new("x", arrow::datatypes::DataType::Int64, false),
    ]));
    let b = RecordBatch::try_new(
        yx.clone(),
        vec![
            Arc::new(Int64Array::from(vec![30])),
            Arc::new(Int64Array::from(vec![3])),
        ],
    )
    .unwrap();
    let file = d.path().join("yx.parquet");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&file).unwrap(), yx, None)
            .unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    let mut tx = store.begin();
    tx.add_files("t", &[file], &IngestOptions::default())
        .unwrap();
    let c = tx.commit(&CommitOptions::message("yx")).unwrap();
    let snap = store.snapshot(&c.id).unwrap();
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for b in snap.read_table("t", &ReadOptions::default()).unwrap() {
        let b = b.unwrap();
        let names: Vec<&str> = b
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["x", "y"]);
        let col = |i: usize| {
            b.column(i)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone()
        };
        xs.extend(col(0).values().iter().copied());
        ys.extend(col(1).values().iter().copied());
        assert_eq!(b.column(0).null_count(), 0);
    }
    assert_eq!(xs, [1, 2, 3]);
    assert_eq!(ys, [10, 20, 30]);
}
