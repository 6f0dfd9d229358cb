//! What an append adds, through the real binary: inputs without rows (the empty part file of
//! a Spark-shaped directory) add no segment and are reported; a snapshot of only empty inputs
//! commits nothing (exit 0) unless it creates a table; data the table already holds (a re-run
//! of yesterday's command) is refused unless `--allow-duplicates`.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use dstore_e2e::Scratch;

use crate::inputs::refused;
use crate::{
    assert_store_unchanged, assert_user_error, id_name_batch, log_json, new_store, resolve,
    rows_at, store_files, table_json, write_parquet,
};

fn empty_batch() -> RecordBatch {
    RecordBatch::new_empty(Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ])))
}

fn write_ipc(s: &Scratch, rel: &str, batch: &RecordBatch) {
    let f = std::fs::File::create(s.path().join(rel)).unwrap();
    let mut w = arrow::ipc::writer::FileWriter::try_new(f, &batch.schema()).unwrap();
    if batch.num_rows() > 0 {
        w.write(batch).unwrap();
    }
    w.finish().unwrap();
}

/// A directory as Spark or pyarrow write it: part files, one of an empty partition, the
/// success marker and Hadoop's checksum files.
fn spark_dir(s: &Scratch, dir: &str) {
    std::fs::create_dir_all(s.path().join(dir)).unwrap();
    write_parquet(
        &s.path().join(format!("{dir}/part-00000.parquet")),
        &id_name_batch(&[1, 2, 3]),
    );
    write_parquet(
        &s.path().join(format!("{dir}/part-00001.parquet")),
        &empty_batch(),
    );
    write_parquet(
        &s.path().join(format!("{dir}/part-00002.parquet")),
        &id_name_batch(&[4, 5]),
    );
    s.write(&format!("{dir}/_SUCCESS"), "");
    s.write(&format!("{dir}/.part-00000.parquet.crc"), "crc");
    s.write(&format!("{dir}/.part-00001.parquet.crc"), "crc");
}

#[test]
fn an_empty_part_file_adds_no_segment_and_is_reported() {
    let (s, _store) = new_store();
    spark_dir(&s, "out");
    let r = s.run(&["snapshot", "-t", "t", "out"]);
    let out = r.ok();
    assert!(out.contains("create    t: 2 segment(s), 5 rows"), "{out}");
    assert!(
        out.contains("t: 1 empty input(s), no rows, no segment: out/part-00001.parquet"),
        "{out}"
    );
    assert_eq!(rows_at(&s, "HEAD", "t"), 5);
    // --json counts it too.
    spark_dir(&s, "day2");
    std::fs::remove_file(s.path().join("day2/part-00000.parquet")).unwrap();
    std::fs::remove_file(s.path().join("day2/part-00002.parquet")).unwrap();
    write_parquet(
        &s.path().join("day2/part-00000.parquet"),
        &id_name_batch(&[6]),
    );
    let v = s.run(&["snapshot", "-t", "t", "day2", "--json"]).json();
    assert_eq!(v["committed"], true);
    assert_eq!(v["inputs"][0]["files"], 2);
    assert_eq!(v["inputs"][0]["segments"], 1);
    assert_eq!(
        v["inputs"][0]["empty"],
        serde_json::json!(["day2/part-00001.parquet"])
    );
    assert_eq!(rows_at(&s, "HEAD", "t"), 6);
}

#[test]
fn only_empty_inputs_commit_nothing_and_say_so() {
    let (s, store) = new_store();
    s.write("t.csv", "id,name\n1,a\n");
    s.run(&["snapshot", "-t", "t", "t.csv"]).ok();
    write_parquet(&s.path().join("empty.parquet"), &empty_batch());
    write_ipc(&s, "empty.arrow", &empty_batch());
    s.write("header.csv", "id,name\n");
    s.write("name_first.csv", "name,id\n\n");
    s.write("blank.jsonl", "\n  \n");
    s.write("zero.jsonl", "");
    s.write("header.csv.gz", crate::inputs::gzip(&[b"id,name\n"]));
    let inputs = [
        "empty.parquet",
        "empty.arrow",
        "header.csv",
        "name_first.csv",
        "blank.jsonl",
        "zero.jsonl",
        "header.csv.gz",
    ];
    let before = store_files(&store);
    let commits = log_json(&s).len();
    let mut args = vec!["snapshot", "-t", "t"];
    args.extend(inputs);
    let r = s.run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("Nothing to commit: every input was empty (7 file(s), no rows)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("empty.parquet, empty.arrow"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert_eq!(log_json(&s).len(), commits);
    assert_store_unchanged(&store, &before, "only empty inputs");
    // --mode overwrite with only empty inputs keeps the table too.
    let r = s.run(&[
        "snapshot",
        "-t",
        "t",
        "empty.parquet",
        "--mode",
        "overwrite",
        "--json",
    ]);
    let v = r.json();
    assert_eq!(v["committed"], false);
    assert_eq!(v["reason"], "every input was empty");
    assert_eq!(v["snapshot"], serde_json::Value::Null);
    assert_store_unchanged(&store, &before, "only empty inputs, overwrite");
    assert_eq!(rows_at(&s, "HEAD", "t"), 1);
}

#[test]
fn an_empty_input_must_still_match_the_table() {
    let (s, store) = new_store();
    s.write("t.csv", "id,name\n1,a\n");
    s.run(&["snapshot", "-t", "t", "t.csv"]).ok();
    s.write("other.csv", "id,label\n");
    refused(
        &s,
        &store,
        &["-t", "t", "other.csv"],
        &["other.csv", "schema does not match", "label"],
        "empty CSV of other columns",
    );
    let other = RecordBatch::new_empty(Arc::new(Schema::new(vec![Field::new(
        "id",
        DataType::Utf8,
        true,
    )])));
    write_parquet(&s.path().join("other.parquet"), &other);
    refused(
        &s,
        &store,
        &["-t", "t", "other.parquet"],
        &["other.parquet", "schema does not match"],
        "empty Parquet of another schema",
    );
    // A header-only CSV ahead of data for a new table is checked against the data's columns.
    s.write("new/a.csv", "id,label\n");
    s.write("new/b.csv", "id,name\n5,e\n");
    refused(
        &s,
        &store,
        &["-t", "fresh", "new"],
        &["new/a.csv", "schema does not match", "label"],
        "empty CSV of other columns, new table",
    );
}

#[test]
fn a_new_table_of_empty_inputs_is_created_with_their_schema() {
    let (s, _store) = new_store();
    write_parquet(&s.path().join("empty.parquet"), &empty_batch());
    let out = s
        .run(&["snapshot", "-t", "t", "empty.parquet", "-m", "schema"])
        .ok()
        .to_owned();
    assert!(out.contains("create    t: 0 segment(s), 0 rows"), "{out}");
    let t = table_json(&s, "HEAD", "t");
    assert_eq!(
        (t["rows"].as_u64(), t["segments"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(t["schema"][1]["name"], "name");
    // It reads as an empty table everywhere.
    let rows = s.run(&["cat", "-t", "t", "--format", "jsonl"]);
    assert_eq!(rows.ok(), "");
    s.run(&["checkout", "-t", "t", "-o", "co"]).ok();
    s.run(&["verify", "--all"]).ok();
    // A CSV header says no types: a new table from it alone is not created.
    s.write("h.csv", "a,b\n");
    let r = s.run(&["snapshot", "-t", "u", "h.csv"]);
    assert!(r.ok().starts_with("Nothing to commit"), "{}", r.stdout);
    // Data appends to the empty table.
    write_parquet(&s.path().join("full.parquet"), &id_name_batch(&[1, 2]));
    s.run(&["snapshot", "-t", "t", "full.parquet"]).ok();
    assert_eq!(rows_at(&s, "HEAD", "t"), 2);
}

#[test]
fn a_file_of_zero_bytes_is_refused_except_json_lines() {
    let (s, store) = new_store();
    s.write("t.csv", "id,name\n1,a\n");
    s.run(&["snapshot", "-t", "t", "t.csv"]).ok();
    for name in [
        "zero.parquet",
        "zero.arrow",
        "zero.csv",
        "zero.tsv",
        "zero.jsonl.zst",
    ] {
        s.write(name, "");
        refused(
            &s,
            &store,
            &["-t", "t", name],
            &[name, "file is empty (0 bytes)"],
            name,
        );
    }
}

// ---- duplicates ----------------------------------------------------------------------------

#[test]
fn rerunning_the_same_snapshot_is_refused_and_changes_nothing() {
    let (s, store) = new_store();
    write_parquet(&s.path().join("day1.parquet"), &id_name_batch(&[1, 2, 3]));
    write_parquet(&s.path().join("day2.parquet"), &id_name_batch(&[4, 5]));
    s.run(&["snapshot", "-t", "t", "day1.parquet", "-m", "day 1"])
        .ok();
    let first = resolve(&s, "HEAD");
    s.run(&["snapshot", "-t", "t", "day2.parquet", "-m", "day 2"])
        .ok();
    let r = refused(
        &s,
        &store,
        &["-t", "t", "day1.parquet", "-m", "day 1 again"],
        &[
            "day1.parquet: table `t` already holds this data",
            "3 rows",
            &format!("first committed at @1 ({}…)", &first[..8]),
        ],
        "re-run",
    );
    assert!(r.stderr.contains("--allow-duplicates"), "{}", r.stderr);
    assert_eq!(rows_at(&s, "HEAD", "t"), 5);
    // A converted CSV gives the same segment for the same text: a re-run is caught too.
    s.write("day3.csv", "id,name\n6,\"\"\n7,\n");
    s.run(&["snapshot", "-t", "t", "day3.csv"]).ok();
    refused(
        &s,
        &store,
        &["-t", "t", "day3.csv"],
        &["day3.csv", "already holds this data", "@3"],
        "CSV re-run",
    );
    // With --allow-duplicates the rows are appended again.
    s.run(&["snapshot", "-t", "t", "day1.parquet", "--allow-duplicates"])
        .ok();
    assert_eq!(rows_at(&s, "HEAD", "t"), 10);
}

#[test]
fn the_same_data_twice_in_one_snapshot_is_refused() {
    let (s, store) = new_store();
    std::fs::create_dir(s.path().join("d")).unwrap();
    write_parquet(&s.path().join("d/a.parquet"), &id_name_batch(&[1, 2]));
    std::fs::copy(
        s.path().join("d/a.parquet"),
        s.path().join("d/copy.parquet"),
    )
    .unwrap();
    let r = refused(
        &s,
        &store,
        &["-t", "t", "d"],
        &[
            "d/copy.parquet: holds the same data as d/a.parquet",
            "table `t`",
        ],
        "a copy in the same directory",
    );
    assert!(r.stderr.contains("--allow-duplicates"), "{}", r.stderr);
    // Into two tables it is fine.
    s.run(&[
        "snapshot",
        "-t",
        "a",
        "d/a.parquet",
        "-t",
        "b",
        "d/copy.parquet",
    ])
    .ok();
}

#[test]
fn data_no_longer_in_the_table_is_not_a_duplicate() {
    let (s, _store) = new_store();
    write_parquet(&s.path().join("a.parquet"), &id_name_batch(&[1, 2]));
    write_parquet(&s.path().join("b.parquet"), &id_name_batch(&[3]));
    s.run(&["snapshot", "-t", "t", "a.parquet"]).ok();
    s.run(&["snapshot", "-t", "u", "b.parquet"]).ok();
    s.run(&["snapshot", "-t", "t", "b.parquet", "--mode", "overwrite"])
        .ok();
    // a.parquet is in history, b.parquet in another table and in `t`: only the latter is refused.
    s.run(&["snapshot", "-t", "t", "a.parquet"]).ok();
    let r = s.run(&["snapshot", "-t", "t", "b.parquet"]);
    assert_user_error(&r, &["b.parquet", "already holds"], true, "b again");
    assert_eq!(rows_at(&s, "HEAD", "t"), 3);
}

#[test]
fn overwriting_with_the_same_data_is_a_no_op() {
    let (s, _store) = new_store();
    write_parquet(&s.path().join("a.parquet"), &id_name_batch(&[1, 2]));
    s.run(&["snapshot", "-t", "t", "a.parquet"]).ok();
    let before = resolve(&s, "HEAD");
    let v = s
        .run(&[
            "snapshot",
            "-t",
            "t",
            "a.parquet",
            "--mode",
            "overwrite",
            "--json",
        ])
        .json();
    assert_eq!(v["unchanged"], true);
    assert_eq!(v["snapshot"], before.as_str());
    assert_eq!(rows_at(&s, "HEAD", "t"), 2);
}
