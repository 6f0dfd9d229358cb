//! Schemas: appends must match the table's schema (by column name), overwrite replaces.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use dstore_e2e::Scratch;
use serde_json::Value;

use crate::{
    assert_store_unchanged, assert_user_error, flights_csvs, flights_jsonl, id_name_batch,
    log_json, new_store, rows_at, store_files, write_parquet,
};

const FLIGHTS_HEADER: &str =
    "flight_id,date,carrier,origin,dest,dep_delay_min,distance_km,cancelled";

/// A store whose `flights` table holds both CSV days (3000 rows), tagged v1.
fn flights_store() -> (Scratch, PathBuf) {
    let (s, store) = new_store();
    let [d1, d2] = flights_csvs();
    s.run(&["snapshot", "-t", "flights", &d1, &d2, "--tag", "v1"])
        .ok();
    (s, store)
}

#[test]
fn csv_value_of_the_wrong_type_names_file_and_line() {
    let (s, store) = flights_store();
    // Line 1 is the header; the bad value is on line 4 of the file.
    s.write(
        "bad-type.csv",
        format!(
            "{FLIGHTS_HEADER}\n\
             1,2026-11-05,AA,LAX,SFO,1.5,500,false\n\
             2,2026-11-05,AA,LAX,SFO,,500,true\n\
             abc,2026-11-05,AA,LAX,SFO,2.0,500,false\n\
             4,2026-11-05,AA,LAX,SFO,2.0,500,false\n"
        ),
    );
    let before = store_files(&store);
    let r = s.run(&["snapshot", "-t", "flights", "bad-type.csv"]);
    assert_user_error(
        &r,
        &["bad-type.csv", "abc"],
        true,
        "CSV with a string in an Int64 column",
    );
    assert!(
        r.stderr.contains("line 4"),
        "the message should name line 4 of the file:\n{}",
        r.stderr
    );
    assert_store_unchanged(&store, &before, "CSV with a string in an Int64 column");
    assert_eq!(rows_at(&s, "HEAD", "flights"), 3000);
}

/// A store whose table `pq` (`id: Int64, name: Utf8`, 3 rows) was made from CSV, and Parquet
/// inputs: `same.parquet` (the table's schema), `extra.parquet` (one more column) and
/// `retyped.parquet` (`id` is Int32).
fn pq_store() -> (Scratch, PathBuf) {
    let (s, store) = new_store();
    s.write("base.csv", "id,name\n1,n1\n2,n2\n3,n3\n");
    s.run(&["snapshot", "-t", "pq", "base.csv"]).ok();
    write_parquet(&s.path().join("same.parquet"), &id_name_batch(&[4, 5]));
    let extra_schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("extra", DataType::Float64, true),
    ]));
    let extra = RecordBatch::try_new(
        extra_schema,
        vec![
            Arc::new(Int64Array::from(vec![6])),
            Arc::new(StringArray::from(vec!["n6"])),
            Arc::new(Float64Array::from(vec![0.5])),
        ],
    )
    .unwrap();
    write_parquet(&s.path().join("extra.parquet"), &extra);
    let retyped_schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let retyped = RecordBatch::try_new(
        retyped_schema,
        vec![
            Arc::new(Int32Array::from(vec![7])),
            Arc::new(StringArray::from(vec!["n7"])),
        ],
    )
    .unwrap();
    write_parquet(&s.path().join("retyped.parquet"), &retyped);
    (s, store)
}

#[test]
fn parquet_with_an_extra_or_retyped_column_is_refused() {
    let (s, store) = pq_store();
    let before = store_files(&store);
    let r = s.run(&["snapshot", "-t", "pq", "extra.parquet"]);
    assert_user_error(
        &r,
        &["extra.parquet", "`extra`"],
        true,
        "Parquet with an extra column",
    );
    assert!(
        !r.stderr.contains("`id`") && !r.stderr.contains("`name`"),
        "only `extra` differs:\n{}",
        r.stderr
    );
    assert_store_unchanged(&store, &before, "Parquet with an extra column");
    let r = s.run(&["snapshot", "-t", "pq", "retyped.parquet"]);
    assert_user_error(
        &r,
        &["retyped.parquet", "`id`", "Int32"],
        true,
        "Parquet with a retyped column",
    );
    assert_store_unchanged(&store, &before, "Parquet with a retyped column");
}

#[test]
fn parquet_with_the_tables_schema_appends() {
    let (s, _) = pq_store();
    s.run(&["snapshot", "-t", "pq", "same.parquet"]).ok();
    assert_eq!(rows_at(&s, "HEAD", "pq"), 5);
    s.run(&["verify"]).ok();
}

#[test]
fn rewritten_parquet_is_checked_and_cast_to_the_tables_schema() {
    let (s, store) = pq_store();
    let before = store_files(&store);
    let r = s.run(&["snapshot", "-t", "pq", "extra.parquet", "--rewrite"]);
    assert_user_error(
        &r,
        &["extra.parquet", "`extra`"],
        true,
        "rewritten Parquet with an extra column",
    );
    assert_store_unchanged(&store, &before, "rewritten Parquet with an extra column");
    // --rewrite "also casts them to the table's schema" (dstore snapshot --help).
    s.run(&["snapshot", "-t", "pq", "retyped.parquet", "--rewrite"])
        .ok();
    assert_eq!(rows_at(&s, "HEAD", "pq"), 4);
    let t = crate::table_json(&s, "HEAD", "pq");
    assert_eq!(t["schema"][0]["type"], "Int64");
}

#[test]
fn csv_columns_in_another_order_append_by_name() {
    let (s, _) = new_store();
    s.write("a.csv", "id,name,score\n1,a,1.5\n2,b,2.5\n");
    s.write("b.csv", "score,id,name\n3.5,3,c\n4.5,4,d\n");
    s.run(&["snapshot", "-t", "t", "a.csv"]).ok();
    s.run(&["snapshot", "-t", "t", "b.csv"]).ok();
    let t = crate::table_json(&s, "HEAD", "t");
    assert_eq!(t["rows"], 4);
    let cols: Vec<&str> = t["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        ["id", "name", "score"],
        "the table keeps its column order"
    );
    // The values landed in the right columns.
    s.run(&["checkout", "--format", "jsonl", "-o", "out"]).ok();
    let mut rows: Vec<Value> = Vec::new();
    for i in 0..2 {
        let text =
            std::fs::read_to_string(s.path().join(format!("out/t/part-{i:05}.jsonl"))).unwrap();
        rows.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    assert_eq!(
        rows,
        [
            serde_json::json!({"id": 1, "name": "a", "score": 1.5}),
            serde_json::json!({"id": 2, "name": "b", "score": 2.5}),
            serde_json::json!({"id": 3, "name": "c", "score": 3.5}),
            serde_json::json!({"id": 4, "name": "d", "score": 4.5}),
        ]
    );
}

#[test]
fn csv_with_a_missing_column_is_refused() {
    let (s, store) = new_store();
    s.write("a.csv", "id,name\n1,a\n");
    s.write("b.csv", "id\n2\n");
    s.run(&["snapshot", "-t", "t", "a.csv"]).ok();
    let before = store_files(&store);
    let r = s.run(&["snapshot", "-t", "t", "b.csv"]);
    assert_user_error(&r, &["b.csv", "`name`"], true, "CSV missing a column");
    assert_store_unchanged(&store, &before, "CSV missing a column");
}

#[test]
fn overwrite_replaces_rows_and_history_keeps_the_old() {
    let (s, _) = flights_store();
    let out = s
        .run(&[
            "snapshot",
            "--mode",
            "overwrite",
            "-t",
            "flights",
            &flights_jsonl(),
            "-m",
            "replace",
        ])
        .ok()
        .to_owned();
    assert!(
        out.contains("overwrite flights: 1 segment(s), 1500 rows"),
        "{out}"
    );
    let head = crate::table_json(&s, "HEAD", "flights");
    assert_eq!(head["rows"], 1500);
    assert_eq!(head["segments"], 1);
    assert_eq!(rows_at(&s, "v1", "flights"), 3000);
    let log = log_json(&s);
    assert_eq!(log[0]["changes"][0]["op"], "overwrite");
    assert_eq!(log[0]["changes"][0]["rows"], 1500);
    let out = s.run(&["diff", "v1"]).ok().to_owned();
    assert!(
        out.contains("flights: rows 3000 -> 1500 (-1500), segments +1 -2"),
        "{out}"
    );

    // Overwrite may change the schema; appends then follow the new one.
    s.write("new.csv", "q,r\n1,x\n2,y\n");
    s.run(&[
        "snapshot",
        "--mode",
        "overwrite",
        "-t",
        "flights",
        "new.csv",
    ])
    .ok();
    let t = crate::table_json(&s, "HEAD", "flights");
    assert_eq!(t["rows"], 2);
    let cols: Vec<&str> = t["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["q", "r"]);
    assert_eq!(rows_at(&s, "v1", "flights"), 3000);
    let [d1, _] = flights_csvs();
    assert_user_error(
        &s.run(&["snapshot", "-t", "flights", &d1]),
        &["2026-11-01.csv"],
        true,
        "old schema",
    );
    s.run(&["verify", "--all"]).ok();
}

/// JSON lines whose field changes type on a later line, for a new table: either the file is
/// taken (with a type that holds both values) or the error names the line that conflicts.
#[test]
fn jsonl_type_conflict_in_a_new_table_names_the_conflicting_line() {
    let (s, store) = new_store();
    s.write("mixed.jsonl", "{\"a\":1}\n{\"a\":2}\n{\"a\":\"x\"}\n");
    let before = store_files(&store);
    let r = s.run(&["snapshot", "-t", "mixed", "mixed.jsonl"]);
    if r.code == 0 {
        assert_eq!(rows_at(&s, "HEAD", "mixed"), 3);
    } else {
        assert_user_error(
            &r,
            &["mixed.jsonl", "line 3"],
            true,
            "JSON lines with a type conflict",
        );
        assert_store_unchanged(&store, &before, "JSON lines with a type conflict");
    }
}
