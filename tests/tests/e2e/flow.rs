//! The whole user flow, command by command, as the README tells it.

use std::os::unix::fs::MetadataExt;

use dstore_e2e::Scratch;
use serde_json::{Value, json};

use crate::{
    STORE, flights_csvs, flights_jsonl, log_json, resolve, rows_at, segment_path, store_files,
};

#[test]
fn whole_user_flow() {
    let s = Scratch::new();
    let out = s.run(&["init", STORE]).ok().to_owned();
    assert!(
        out.starts_with("Initialized empty dstore store in"),
        "{out}"
    );
    let store = s.path().join(STORE);
    assert!(store.join("DSTORE").is_file());
    assert_eq!(
        s.run(&["log", "--store", STORE]).ok().trim(),
        "No commits yet"
    );

    // First import, store named explicitly.
    let [d1, d2] = flights_csvs();
    let args = [
        "snapshot",
        "--store",
        STORE,
        "-t",
        "flights",
        &d1,
        &d2,
        "-m",
        "first import",
        "--tag",
        "v1",
    ];
    let out = s.run(&args).ok().to_owned();
    assert!(out.starts_with("Committed @1 snapshot "), "{out}");
    assert!(
        out.contains("create    flights: 2 segment(s), 3000 rows"),
        "{out}"
    );
    assert!(out.contains("tagged v1"), "{out}");

    // Second import: the store is discovered from the current directory.
    let out = s
        .run(&["snapshot", "-t", "flights", &flights_jsonl(), "-m", "day 2"])
        .ok()
        .to_owned();
    assert!(out.starts_with("Committed @2 snapshot "), "{out}");
    assert!(
        out.contains("append    flights: 1 segment(s), 1500 rows"),
        "{out}"
    );

    // Several tables in one snapshot.
    s.write("train.csv", "x,label\n1,a\n2,b\n3,a\n");
    s.write("eval.csv", "x,label\n4,b\n5,a\n");
    let commit = s
        .run(&[
            "snapshot",
            "-t",
            "train",
            "train.csv",
            "-t",
            "eval",
            "eval.csv",
            "-m",
            "split",
            "--json",
        ])
        .json();
    assert_eq!(commit["seq"], 3, "{commit}");
    assert_eq!(commit["unchanged"], false, "{commit}");
    let changes: Vec<(String, String, u64)> = commit["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["table"].as_str().unwrap().to_owned(),
                c["op"].as_str().unwrap().to_owned(),
                c["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("eval".to_owned(), "create".to_owned(), 2),
            ("train".to_owned(), "create".to_owned(), 3)
        ]
    );

    // log, text.
    let log = s.run(&["log"]).ok().to_owned();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[0].starts_with("@3 ") && lines[0].contains("split"),
        "{log}"
    );
    assert!(
        lines[0].contains("create eval +2 rows; create train +3 rows"),
        "{log}"
    );
    assert!(
        lines[1].starts_with("@2 ") && lines[1].contains("day 2  (append flights +1500 rows)"),
        "{log}"
    );
    assert!(
        lines[2].starts_with("@1 ")
            && lines[2].contains("first import [v1]  (create flights +3000 rows)"),
        "{log}"
    );
    assert!(lines.iter().all(|l| l.contains(" tester ")), "{log}");

    // log, JSON.
    let log = log_json(&s);
    let seqs: Vec<u64> = log.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [3, 2, 1]);
    assert!(log.iter().all(|r| r["kind"] == "commit"), "{log:?}");
    assert_eq!(log[2]["tags"], json!(["v1"]));
    assert_eq!(log[1]["tags"], json!([]));
    assert_eq!(log[0]["tags"], json!([]));
    assert_eq!(log[2]["parent_commit"], Value::Null);
    assert_eq!(log[1]["parent_commit"], 1);
    assert_eq!(log[0]["parent_commit"], 2);
    assert_eq!(log[2]["prev_record_hash"], "0".repeat(64));
    assert_eq!(log[2]["message"], "first import");
    assert_eq!(log[1]["author"], "tester");
    let v1 = log[2]["snapshot"].as_str().unwrap().to_owned();
    let head = log[0]["snapshot"].as_str().unwrap().to_owned();
    assert_eq!(resolve(&s, "HEAD"), head);

    // show v1, JSON: tables, rows, schema.
    let show = s.run(&["show", "v1", "--json"]).json();
    assert_eq!(show["snapshot"], v1.as_str());
    assert_eq!(show["tags"], json!(["v1"]));
    assert_eq!(show["commit"]["seq"], 1);
    let tables = show["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1, "{show}");
    assert_eq!(tables[0]["name"], "flights");
    assert_eq!(tables[0]["rows"], 3000);
    assert_eq!(tables[0]["segments"], 2);
    let schema: Vec<(&str, &str)> = tables[0]["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        schema,
        [
            ("flight_id", "Int64"),
            ("date", "Date32"),
            ("carrier", "Utf8"),
            ("origin", "Utf8"),
            ("dest", "Utf8"),
            ("dep_delay_min", "Float64"),
            ("distance_km", "Int64"),
            ("cancelled", "Boolean"),
        ]
    );
    // show v1, text.
    let text = s.run(&["show", "v1"]).ok().to_owned();
    assert!(text.starts_with(&format!("snapshot {v1}\n")), "{text}");
    assert!(text.contains("message  first import"), "{text}");
    assert!(
        text.contains("table flights: 3000 rows, 2 segment(s)"),
        "{text}"
    );
    // HEAD has all three tables, sorted by name.
    let show = s.run(&["show", "HEAD", "--json"]).json();
    let names: Vec<&str> = show["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["eval", "flights", "train"]);
    assert_eq!(rows_at(&s, "HEAD", "flights"), 4500);
    assert_eq!(rows_at(&s, "HEAD", "train"), 3);
    assert_eq!(rows_at(&s, "HEAD", "eval"), 2);

    // tag release-3 HEAD: a tag record in the log.
    let out = s.run(&["tag", "release-3", "HEAD"]).ok().to_owned();
    assert!(out.contains("as release-3"), "{out}");
    let log = log_json(&s);
    assert_eq!(log.len(), 4);
    assert_eq!(log[0]["seq"], 4);
    assert_eq!(log[0]["kind"], "tag");
    assert_eq!(log[0]["tag"], "release-3");
    assert_eq!(log[0]["target"], head.as_str());
    assert_eq!(log[0]["previous"], Value::Null);
    assert_eq!(resolve(&s, "release-3"), head);
    let tags = s.run(&["tag", "--json"]).json();
    assert_eq!(
        tags,
        json!([
            {"tag": "release-3", "snapshot": head, "seq": 3},
            {"tag": "v1", "snapshot": v1, "seq": 1},
        ])
    );

    // checkout v1: hard links to the store's segments, and a manifest naming the snapshot.
    let out = s
        .run(&["checkout", "v1", "-t", "flights", "-o", "./v1/"])
        .ok()
        .to_owned();
    assert!(
        out.contains("2 file(s) (2 hard-linked), 3000 rows"),
        "{out}"
    );
    let co = s.path().join("v1");
    let mut entries: Vec<String> = std::fs::read_dir(&co)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["dstore-checkout.json", "flights"]);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(co.join("dstore-checkout.json")).unwrap()).unwrap();
    assert_eq!(manifest["snapshot"], v1.as_str(), "{manifest}");
    assert_eq!(manifest["format"], "parquet");
    let table = &manifest["tables"]["flights"];
    assert_eq!(table["rows"], 3000);
    let files = table["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    for entry in files {
        let file = co.join(entry["path"].as_str().unwrap());
        assert!(file.is_file(), "{} missing", file.display());
        let seg = segment_path(&store, entry["segment"].as_str().unwrap());
        assert_eq!(
            std::fs::metadata(&file).unwrap().ino(),
            std::fs::metadata(&seg).unwrap().ino(),
            "{} is not a hard link of {}",
            file.display(),
            seg.display()
        );
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            entry["bytes"].as_u64().unwrap()
        );
        assert_eq!(entry["blake3"], entry["segment"]);
    }
    assert!(co.join("flights/part-00000.parquet").is_file());
    assert!(co.join("flights/part-00001.parquet").is_file());

    // verify the store and the checkout.
    let out = s.run(&["verify", "--all"]).ok().to_owned();
    assert!(
        out.contains("Checked 4 log record(s), 3 snapshot(s)"),
        "{out}"
    );
    assert!(out.trim_end().ends_with(": ok"), "{out}");
    let out = s.run(&["verify", "--checkout", "./v1"]).ok().to_owned();
    assert!(
        out.contains("2 file(s)") && out.trim_end().ends_with(": ok"),
        "{out}"
    );

    // diff v1 HEAD.
    let out = s.run(&["diff", "v1", "HEAD"]).ok().to_owned();
    for line in [
        "changed  flights: rows 3000 -> 4500 (+1500), segments +1 -0",
        "added    train: rows 0 -> 3 (+3), segments +1 -0",
        "added    eval: rows 0 -> 2 (+2), segments +1 -0",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "`{line}` missing from:\n{out}"
        );
    }
    assert_eq!(out.lines().count(), 3, "{out}");
    let diff = s.run(&["diff", "HEAD", "v1", "--json"]).json();
    let status: Vec<(&str, &str)> = diff["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["table"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        status,
        [
            ("eval", "removed"),
            ("flights", "changed"),
            ("train", "removed")
        ]
    );
    let out = s.run(&["diff", "v1", &v1]).ok().to_owned();
    assert!(out.starts_with("No differences"), "{out}");

    // gc on a clean store: nothing to remove, and nothing removed.
    let before = store_files(&store);
    let out = s.run(&["gc", "--dry-run", "--grace", "0s"]).ok().to_owned();
    assert!(
        out.starts_with("Would remove 0 object(s), 0 B freed"),
        "{out}"
    );
    assert!(!out.contains("would remove "), "{out}");
    let gc = s
        .run(&["gc", "--dry-run", "--grace", "0s", "--json"])
        .json();
    assert_eq!(gc["removed"], json!([]), "{gc}");
    let out = s.run(&["gc", "--grace", "0s"]).ok().to_owned();
    assert!(out.starts_with("Removed 0 object(s)"), "{out}");
    assert_eq!(
        store_files(&store),
        before,
        "gc on a clean store changed it"
    );
    s.run(&["verify", "--all"]).ok();
}

#[test]
fn checkout_copy_convert_and_damage() {
    let (s, store) = crate::new_store();
    let [d1, d2] = flights_csvs();
    s.run(&["snapshot", "-t", "flights", &d1, &d2, "--tag", "v1"])
        .ok();

    // --copy: same bytes, own inodes.
    let out = s
        .run(&["checkout", "v1", "--copy", "-o", "copied"])
        .ok()
        .to_owned();
    assert!(out.contains("(0 hard-linked)"), "{out}");
    let m: Value = serde_json::from_slice(
        &std::fs::read(s.path().join("copied/dstore-checkout.json")).unwrap(),
    )
    .unwrap();
    for f in m["tables"]["flights"]["files"].as_array().unwrap() {
        let p = s.path().join("copied").join(f["path"].as_str().unwrap());
        let seg = segment_path(&store, f["segment"].as_str().unwrap());
        assert_ne!(
            std::fs::metadata(&p).unwrap().ino(),
            std::fs::metadata(&seg).unwrap().ino()
        );
        assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(&seg).unwrap());
    }

    // --format csv: a header and one line per row.
    s.run(&["checkout", "v1", "--format", "csv", "-o", "csv"])
        .ok();
    let mut lines = 0;
    for i in 0..2 {
        let text =
            std::fs::read_to_string(s.path().join(format!("csv/flights/part-{i:05}.csv"))).unwrap();
        assert!(
            text.starts_with(
                "flight_id,date,carrier,origin,dest,dep_delay_min,distance_km,cancelled\n"
            ),
            "{text:.200}"
        );
        lines += text.lines().count() - 1;
    }
    assert_eq!(lines, 3000);
    s.run(&["verify", "--checkout", "csv"]).ok();

    // A non-empty target needs --force.
    let r = s.run(&["checkout", "v1", "-o", "copied"]);
    crate::assert_user_error(&r, &["copied"], true, "checkout into a non-empty directory");
    s.run(&["checkout", "v1", "-o", "copied", "--force"]).ok();

    // A damaged checkout file is found by verify --checkout (exit 2, naming it).
    s.run(&["checkout", "v1", "--copy", "-o", "damaged"]).ok();
    let victim = s.path().join("damaged/flights/part-00001.parquet");
    crate::flip_byte(&victim, None);
    let r = s.run(&["verify", "--checkout", "damaged"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("flights/part-00001.parquet"), "{r:?}");
    assert!(!r.stdout.contains("part-00000"), "{r:?}");
}
