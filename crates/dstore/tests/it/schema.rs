//! Schema rules for appends through `add_reader`: columns match by name (order may differ),
//! types must be equal, a nullable column cannot go into a non-nullable one.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, RecordBatchIterator};
use arrow::datatypes::{DataType, Field, Schema};
use dstore::{CommitOptions, Error, IngestOptions, Store, WriteMode};

use super::common::{self, fresh_store};

fn field(name: &str, dt: DataType, nullable: bool) -> Field {
    Field::new(name, dt, nullable)
}

/// A batch with the given columns; Int64 columns get `base + i`, Int32 ones `i`.
fn batch_of(fields: Vec<Field>, rows: i64, base: i64) -> RecordBatch {
    let cols: Vec<ArrayRef> = fields
        .iter()
        .enumerate()
        .map(|(j, f)| -> ArrayRef {
            match f.data_type() {
                DataType::Int64 => Arc::new(Int64Array::from(
                    (0..rows)
                        .map(|i| base + 100 * j as i64 + i)
                        .collect::<Vec<_>>(),
                )),
                DataType::Int32 => Arc::new(Int32Array::from((0..rows as i32).collect::<Vec<_>>())),
                other => panic!("no test data for {other}"),
            }
        })
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

fn add(store: &Store, table: &str, b: RecordBatch) -> dstore::Result<dstore::CommitOutcome> {
    let mut tx = store.begin();
    let s = b.schema();
    tx.add_reader(
        table,
        RecordBatchIterator::new([Ok(b)], s),
        &IngestOptions::default(),
    )?;
    tx.commit(&CommitOptions::message("add"))
}

/// A store whose table `t` has non-nullable Int64 columns `x` and `y`.
fn store_with_xy() -> (tempfile::TempDir, Store) {
    let (d, store) = fresh_store();
    let b = batch_of(
        vec![
            field("x", DataType::Int64, false),
            field("y", DataType::Int64, false),
        ],
        3,
        0,
    );
    add(&store, "t", b).unwrap();
    (d, store)
}

#[track_caller]
fn assert_mismatch<T: std::fmt::Debug>(r: dstore::Result<T>, column: &str, words: &[&str]) {
    match r {
        Err(Error::SchemaMismatch {
            table, differences, ..
        }) => {
            assert_eq!(table, "t");
            let line = differences
                .iter()
                .find(|d| d.contains(&format!("`{column}`")))
                .unwrap_or_else(|| panic!("no difference names `{column}`: {differences:?}"));
            for w in words {
                assert!(line.contains(w), "{line:?} should mention {w:?}");
            }
        }
        other => panic!("expected SchemaMismatch about `{column}`, got {other:?}"),
    }
}

#[test]
fn a_different_column_type_is_refused() {
    let (_d, store) = store_with_xy();
    let b = batch_of(
        vec![
            field("x", DataType::Int64, false),
            field("y", DataType::Int32, false),
        ],
        2,
        0,
    );
    assert_mismatch(add(&store, "t", b), "y", &["Int64", "Int32"]);
    assert!(common::files_under(store.root(), "tmp").is_empty());
    assert_eq!(
        store.log(usize::MAX).unwrap().len(),
        1,
        "nothing was committed"
    );
    // The message names the column too.
    let b = batch_of(
        vec![
            field("x", DataType::Int32, false),
            field("y", DataType::Int64, false),
        ],
        2,
        0,
    );
    let e = add(&store, "t", b).unwrap_err();
    assert!(e.to_string().contains("`x`"), "{e}");
    assert!(matches!(e, dstore::Error::SchemaMismatch { .. }), "{e:?}");
}

#[test]
fn a_different_type_within_one_transaction_is_refused() {
    // The table is new: the first input's schema is the one later inputs must match.
    let (_d, store) = fresh_store();
    let mut tx = store.begin();
    let first = batch_of(vec![field("x", DataType::Int64, false)], 2, 0);
    let s = first.schema();
    tx.add_reader(
        "t",
        RecordBatchIterator::new([Ok(first)], s),
        &IngestOptions::default(),
    )
    .unwrap();
    let second = batch_of(vec![field("x", DataType::Int32, false)], 2, 0);
    let s = second.schema();
    let res = tx.add_reader(
        "t",
        RecordBatchIterator::new([Ok(second)], s),
        &IngestOptions::default(),
    );
    assert_mismatch(res, "x", &["Int64", "Int32"]);
    // The first input is still staged and commits.
    let done = tx.commit(&CommitOptions::message("first only")).unwrap();
    assert_eq!(
        store.snapshot(&done.id).unwrap().table("t").unwrap().rows,
        2
    );
}

#[test]
fn a_different_column_order_is_accepted_and_stored_in_table_order() {
    let (_d, store) = store_with_xy();
    // y first, then x; y holds base+100+i, x base+i.
    let b = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            field("y", DataType::Int64, false),
            field("x", DataType::Int64, false),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![10, 11])) as ArrayRef,
            Arc::new(Int64Array::from(vec![20, 21])) as ArrayRef,
        ],
    )
    .unwrap();
    let c = add(&store, "t", b).unwrap();
    let snap = store.snapshot(&c.id).unwrap();
    let t = snap.table("t").unwrap();
    assert_eq!(t.rows, 5);
    let names: Vec<&str> = t
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["x", "y"], "the table's schema is unchanged");
    let seg = snap.segments("t").unwrap()[1].id;
    assert_eq!(common::segment_values(store.root(), &seg, "x"), [20, 21]);
    assert_eq!(common::segment_values(store.root(), &seg, "y"), [10, 11]);
    // The segment's own columns are in the table's order.
    let f = std::fs::File::open(common::segment_path(store.root(), &seg)).unwrap();
    let pq = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let cols: Vec<String> = pq
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(cols, ["x", "y"]);
}

#[test]
fn nullable_into_non_nullable_is_refused() {
    let (_d, store) = store_with_xy();
    // No nulls in the data, but the column may hold them.
    let b = batch_of(
        vec![
            field("x", DataType::Int64, true),
            field("y", DataType::Int64, false),
        ],
        2,
        0,
    );
    assert_mismatch(add(&store, "t", b), "x", &["nullable"]);
    assert_eq!(store.log(usize::MAX).unwrap().len(), 1);
}

#[test]
fn non_nullable_into_nullable_is_accepted() {
    let (_d, store) = fresh_store();
    add(
        &store,
        "t",
        batch_of(vec![field("x", DataType::Int64, true)], 2, 0),
    )
    .unwrap();
    let c = add(
        &store,
        "t",
        batch_of(vec![field("x", DataType::Int64, false)], 3, 50),
    )
    .unwrap();
    let snap = store.snapshot(&c.id).unwrap();
    assert_eq!(snap.table("t").unwrap().rows, 5);
    assert!(snap.table("t").unwrap().schema.field(0).is_nullable());
    let seg = snap.segments("t").unwrap()[1].id;
    assert_eq!(
        common::segment_values(store.root(), &seg, "x"),
        [50, 51, 52]
    );
}

#[test]
fn missing_and_extra_columns_are_refused() {
    let (_d, store) = store_with_xy();
    let b = batch_of(vec![field("x", DataType::Int64, false)], 2, 0);
    assert_mismatch(add(&store, "t", b), "y", &["missing"]);
    let b = batch_of(
        vec![
            field("x", DataType::Int64, false),
            field("y", DataType::Int64, false),
            field("z", DataType::Int64, false),
        ],
        2,
        0,
    );
    assert_mismatch(add(&store, "t", b), "z", &["not in the table"]);
}

#[test]
fn overwrite_may_change_the_schema() {
    let (_d, store) = store_with_xy();
    let old = store.resolve("HEAD").unwrap().id;
    let mut tx = store.begin();
    tx.set_mode("t", WriteMode::Overwrite).unwrap();
    let b = batch_of(vec![field("x", DataType::Int32, false)], 4, 0);
    let s = b.schema();
    tx.add_reader(
        "t",
        RecordBatchIterator::new([Ok(b)], s),
        &IngestOptions::default(),
    )
    .unwrap();
    let c = tx.commit(&CommitOptions::message("new schema")).unwrap();
    let t = store.snapshot(&c.id).unwrap().table("t").unwrap().clone();
    assert_eq!(t.rows, 4);
    assert_eq!(t.schema.fields().len(), 1);
    assert_eq!(t.schema.field(0).data_type(), &DataType::Int32);
    // Appends now follow the new schema.
    let b = batch_of(
        vec![
            field("x", DataType::Int64, false),
            field("y", DataType::Int64, false),
        ],
        1,
        0,
    );
    assert_mismatch(add(&store, "t", b), "x", &["Int32", "Int64"]);
    add(
        &store,
        "t",
        batch_of(vec![field("x", DataType::Int32, false)], 1, 0),
    )
    .unwrap();
    // The old snapshot keeps the old schema.
    let old_t = store.snapshot(&old).unwrap().table("t").unwrap().clone();
    assert_eq!(old_t.schema.fields().len(), 2);
    assert_eq!(old_t.schema.field(0).data_type(), &DataType::Int64);
}

#[test]
fn the_schema_is_checked_again_at_commit() {
    // A transaction stages a new table; meanwhile another commit creates it with another type.
    let (_d, store) = fresh_store();
    let mut tx = store.begin();
    let b = batch_of(vec![field("x", DataType::Int64, false)], 2, 0);
    let s = b.schema();
    tx.add_reader(
        "t",
        RecordBatchIterator::new([Ok(b)], s),
        &IngestOptions::default(),
    )
    .unwrap();
    let other = add(
        &store,
        "t",
        batch_of(vec![field("x", DataType::Int32, false)], 2, 0),
    )
    .unwrap();
    let r = tx.commit(&CommitOptions::message("late"));
    assert_mismatch(r, "x", &["Int32", "Int64"]);
    assert_eq!(store.resolve("HEAD").unwrap().id, other.id);
    assert_eq!(store.log(usize::MAX).unwrap().len(), 1);
}
