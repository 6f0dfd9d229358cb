//! Bad input: every case exits 1 with `error: ...` naming the file (and a `hint:` where the
//! code gives one), and leaves the store exactly as it was.

use dstore_e2e::Scratch;

use crate::{
    assert_store_unchanged, assert_user_error, flights_csvs, id_name_batch, new_store, store_files,
    write_parquet,
};

const FLIGHTS_HEADER: &str =
    "flight_id,date,carrier,origin,dest,dep_delay_min,distance_km,cancelled";
const ROW: &str = "1,2026-11-05,AA,LAX,SFO,1.5,500,false";

#[test]
fn bad_inputs_are_refused_and_leave_the_store_alone() {
    let (s, store) = new_store();
    let [d1, d2] = flights_csvs();
    s.run(&["snapshot", "-t", "flights", &d1]).ok();
    s.write("ints.jsonl", "{\"a\":1}\n{\"a\":2}\n");
    s.run(&["snapshot", "-t", "ints", "ints.jsonl"]).ok();

    s.write("notes.txt", "not data\n");
    s.write("nodata/README.md", "nothing to ingest here\n");
    s.write("nodata/sub/.hidden.csv", "a\n1\n");
    s.write("nodata/_SUCCESS.csv", "a\n1\n");
    s.write(
        "ragged.csv",
        format!("{FLIGHTS_HEADER}\n{ROW}\n2,2026-11-05,AA\n{ROW}\n"),
    );
    s.write("bad-utf8.csv", b"a,b\n1,\xff\xfeoops\n".as_slice());
    s.write("empty.csv", "");
    s.write("header-only.csv", format!("{FLIGHTS_HEADER}\n"));
    s.write("fake.parquet", "this is not parquet at all, just text\n");
    s.write(
        "conflict.jsonl",
        "{\"a\":1}\n{\"a\":2}\n{\"a\":\"x\"}\n{\"a\":4}\n",
    );
    s.write("good.csv", "k,v\n1,x\n");
    s.write("empty.jsonl", "\n\n");
    write_parquet(
        &s.path().join("valid.parquet"),
        &id_name_batch(&[1, 2, 3, 4, 5, 6, 7, 8]),
    );
    let valid = std::fs::read(s.path().join("valid.parquet")).unwrap();
    s.write("truncated.parquet", &valid[..valid.len() - 10]);

    let before = store_files(&store);
    let cases: &[(&str, &[&str], &[&str], bool)] = &[
        (
            "missing file",
            &["-t", "flights", "missing.csv"],
            &["missing.csv"],
            true,
        ),
        (
            "unknown extension",
            &["-t", "flights", "notes.txt"],
            &["notes.txt"],
            true,
        ),
        (
            "directory without data files",
            &["-t", "flights", "nodata"],
            &["nodata"],
            true,
        ),
        (
            "ragged CSV",
            &["-t", "flights", "ragged.csv"],
            &["ragged.csv", "line 3"],
            true,
        ),
        (
            "invalid UTF-8 in CSV",
            &["-t", "u", "bad-utf8.csv"],
            &["bad-utf8.csv", "line 2"],
            true,
        ),
        (
            "empty file",
            &["-t", "flights", "empty.csv"],
            &["empty.csv"],
            true,
        ),
        (
            "blank JSON lines",
            &["-t", "ints", "empty.jsonl"],
            &["empty.jsonl"],
            true,
        ),
        (
            "header-only CSV",
            &["-t", "flights", "header-only.csv"],
            &["header-only.csv"],
            true,
        ),
        (
            "header-only CSV, new table",
            &["-t", "fresh", "header-only.csv"],
            &["header-only.csv"],
            true,
        ),
        (
            "truncated Parquet",
            &["-t", "pq", "truncated.parquet"],
            &["truncated.parquet"],
            true,
        ),
        (
            "not Parquet",
            &["-t", "pq", "fake.parquet"],
            &["fake.parquet"],
            true,
        ),
        (
            "JSON type conflict",
            &["-t", "ints", "conflict.jsonl"],
            &["conflict.jsonl", "line 3"],
            true,
        ),
        // A good input before the bad one is not committed either.
        (
            "good then ragged",
            &["-t", "flights", &d2, "ragged.csv"],
            &["ragged.csv"],
            true,
        ),
        (
            "good then missing",
            &["-t", "flights", &d2, "missing.csv"],
            &["missing.csv"],
            true,
        ),
        (
            "second table bad",
            &["-t", "k", "good.csv", "-t", "flights", "ragged.csv"],
            &["ragged.csv"],
            true,
        ),
        (
            "bad table name",
            &["-t", "../x", "good.csv"],
            &["../x"],
            false,
        ),
    ];
    for (what, args, needles, hint) in cases {
        let mut full = vec!["snapshot"];
        full.extend_from_slice(args);
        full.extend(["-m", "should not commit"]);
        let r = s.run(&full);
        assert_user_error(&r, needles, *hint, what);
        assert!(r.stdout.is_empty(), "{what}: printed {}", r.stdout);
        assert_store_unchanged(&store, &before, what);
    }
    // Nothing was committed.
    assert_eq!(crate::log_json(&s).len(), 2);
    s.run(&["verify", "--all"]).ok();
}

#[test]
fn log_outside_a_store_points_at_init() {
    let s = Scratch::new();
    let r = s.run(&["log"]);
    assert_user_error(&r, &["dstore init"], true, "log outside a store");
    let r = s.run(&["log", "--store", "nowhere"]);
    assert_user_error(
        &r,
        &["nowhere", "dstore init"],
        true,
        "log --store at a missing directory",
    );
    s.write("plain/file.txt", "x");
    let r = s.run(&["show", "--store", "plain"]);
    assert_user_error(&r, &["plain"], true, "show --store at a plain directory");
}

#[test]
fn init_refuses_a_non_empty_directory() {
    let s = Scratch::new();
    s.write("busy/keep.txt", "mine");
    let r = s.run(&["init", "busy"]);
    assert_user_error(&r, &["busy"], true, "init on a non-empty directory");
    assert_eq!(
        dstore_e2e::tree(&s.path().join("busy")),
        [("keep.txt".to_owned(), b"mine".to_vec())]
    );
    // Nor an existing store.
    s.run(&["init", "data.dstore"]).ok();
    let before = dstore_e2e::tree(&s.path().join("data.dstore"));
    let r = s.run(&["init", "data.dstore"]);
    assert_user_error(&r, &["data.dstore"], true, "init on an existing store");
    assert_eq!(dstore_e2e::tree(&s.path().join("data.dstore")), before);
    // An empty directory is fine.
    std::fs::create_dir(s.path().join("empty")).unwrap();
    s.run(&["init", "empty"]).ok();
    assert!(s.path().join("empty/DSTORE").is_file());
}
