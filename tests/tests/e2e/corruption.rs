//! Damage to a store: verify finds it (exit 2, naming the object); the catalog is derived and
//! rebuilt; a store written by a newer format is refused.

use dstore_e2e::{Run, Scratch};

use crate::{
    STORE, flights_csvs, flights_jsonl, flip_byte, log_json, new_store, segment_path, store_files,
};

/// A store with two commits on `flights` (tag v1 on the first).
fn two_commit_store() -> (Scratch, std::path::PathBuf) {
    let (s, store) = new_store();
    let [d1, d2] = flights_csvs();
    s.run(&["snapshot", "-t", "flights", &d1, &d2, "--tag", "v1"])
        .ok();
    s.run(&["snapshot", "-t", "flights", &flights_jsonl()]).ok();
    (s, store)
}

fn assert_corruption(r: &Run, needle: &str, what: &str) {
    assert_eq!(
        r.code, 2,
        "{what}: expected exit code 2\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    assert!(
        r.stdout.contains(needle) || r.stderr.contains(needle),
        "{what}: output does not name {needle}\nstdout:\n{}\nstderr:\n{}",
        r.stdout,
        r.stderr
    );
}

/// Segment ids of a table at a ref, from `show --segments --json`.
fn segments_at(s: &Scratch, r: &str) -> Vec<String> {
    let show = s.run(&["show", r, "--segments", "--json"]).json();
    show["tables"][0]["segment_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn flipped_segment_byte_is_found_by_verify() {
    let (s, store) = two_commit_store();
    let v1_segments = segments_at(&s, "v1");
    let head_segments = segments_at(&s, "HEAD");
    assert_eq!(v1_segments.len(), 2);
    let newest = head_segments
        .iter()
        .find(|x| !v1_segments.contains(x))
        .unwrap()
        .clone();
    let victim = segment_path(&store, &newest);
    flip_byte(&victim, None);
    let rel = format!("segments/{}/{newest}.parquet", &newest[..2]);

    let r = s.run(&["verify", "--all"]);
    assert_corruption(&r, &rel, "verify --all");
    assert!(r.stdout.contains("1 problem(s)"), "{}", r.stdout);
    let r = s.run(&["verify"]);
    assert_corruption(&r, &rel, "verify (HEAD)");
    // v1 does not reach the damaged segment.
    s.run(&["verify", "v1"]).ok();
    // Copying the damaged segment out is refused.
    let r = s.run(&["checkout", "--copy", "-o", "out"]);
    assert_corruption(&r, &rel, "checkout --copy");
}

#[test]
fn missing_segment_is_found_by_verify() {
    let (s, store) = two_commit_store();
    let id = segments_at(&s, "v1").remove(0);
    std::fs::remove_file(segment_path(&store, &id)).unwrap();
    let r = s.run(&["verify", "--all"]);
    assert_corruption(&r, &id, "verify --all with a segment missing");
}

#[test]
fn deleted_or_damaged_catalog_is_rebuilt() {
    let (s, store) = two_commit_store();
    s.run(&["tag", "release", "HEAD~1"]).ok();
    let log = s.run(&["log"]).ok().to_owned();
    let log_json_before = log_json(&s);
    let head = crate::resolve(&s, "HEAD");

    std::fs::remove_dir_all(store.join("catalog")).unwrap();
    assert_eq!(s.run(&["log"]).ok(), log, "log after deleting the catalog");
    assert!(
        store.join("catalog").is_dir(),
        "the catalog was not rebuilt"
    );
    assert_eq!(crate::resolve(&s, "release"), crate::resolve(&s, "v1"));

    std::fs::remove_dir_all(store.join("catalog")).unwrap();
    let out = s.run(&["reindex"]).ok().to_owned();
    assert!(
        out.contains("Rebuilt the catalog from 3 log records"),
        "{out}"
    );
    assert_eq!(log_json(&s), log_json_before);
    let out = s.run(&["reindex"]).ok().to_owned();
    assert!(out.contains("from 3 log records"), "{out}");

    // Garbage in place of the catalog: rebuilt too.
    std::fs::remove_dir_all(store.join("catalog")).unwrap();
    s.write(&format!("{STORE}/catalog/CURRENT"), "garbage\n");
    s.write(&format!("{STORE}/catalog/MANIFEST-000001"), "garbage\n");
    assert_eq!(s.run(&["log"]).ok(), log, "log with a garbage catalog");
    assert_eq!(crate::resolve(&s, "HEAD"), head);

    // And writing works after a rebuild.
    std::fs::remove_dir_all(store.join("catalog")).unwrap();
    s.write("more.csv", "x\n1\n");
    s.run(&["snapshot", "-t", "more", "more.csv"]).ok();
    assert_eq!(log_json(&s).len(), 4);
    s.run(&["verify", "--all"]).ok();
}

#[test]
fn flipped_log_record_byte_is_found_by_verify() {
    let (s, store) = two_commit_store();
    let rec = store.join("log/00000000000000000002.rec");
    flip_byte(&rec, Some(70));
    let r = s.run(&["verify", "--all"]);
    assert_corruption(
        &r,
        "log/00000000000000000002.rec",
        "verify --all with a damaged record",
    );
    assert!(
        !r.stdout.contains("00000000000000000001.rec"),
        "{}",
        r.stdout
    );
    // Rebuilding the catalog from a damaged log is refused as corruption, naming the record.
    let r = s.run(&["reindex"]);
    assert_corruption(
        &r,
        "log/00000000000000000002.rec",
        "reindex with a damaged record",
    );
}

#[test]
fn flipped_manifest_byte_is_found() {
    let (s, store) = two_commit_store();
    let v1 = crate::resolve(&s, "v1");
    let manifest = store.join(format!("manifests/{}/{v1}.manifest", &v1[..2]));
    flip_byte(&manifest, Some(20));
    let rel = format!("{v1}.manifest");
    let r = s.run(&["show", &v1]);
    assert_corruption(&r, &rel, "show of a damaged manifest");
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    let r = s.run(&["verify", "--all"]);
    assert_corruption(&r, &rel, "verify --all with a damaged manifest");
    // HEAD does not need the old manifest.
    s.run(&["verify", "HEAD"]).ok();
}

#[test]
fn newer_format_version_is_refused() {
    let (s, store) = two_commit_store();
    let marker = store.join("DSTORE");
    let mut b = std::fs::read(&marker).unwrap();
    assert_eq!(&b[..8], b"DSTOREFM");
    assert_eq!(b[8..12], 1u32.to_le_bytes());
    b[8..12].copy_from_slice(&99u32.to_le_bytes());
    std::fs::write(&marker, &b).unwrap();
    let before = store_files(&store);
    s.write("x.csv", "flight_id\n1\n");
    for args in [
        &["log"][..],
        &["show", "HEAD"],
        &["show", "v1"],
        &["verify", "--all"],
        &["tag"],
        &["tag", "new", "HEAD"],
        &["diff", "v1"],
        &["checkout", "-o", "out"],
        &["gc", "--grace", "0s"],
        &["reindex"],
        &["snapshot", "-t", "flights", "x.csv"],
        &["log", "--store", STORE],
    ] {
        let r = s.run(args);
        let what = args.join(" ");
        assert!(r.code > 0, "{what}: exit code {}\n{}", r.code, r.stderr);
        assert!(r.stderr.starts_with("error: "), "{what}: {}", r.stderr);
        assert!(r.stderr.contains("version 99"), "{what}: {}", r.stderr);
        assert!(
            r.stderr.contains("reads versions 1 to 1"),
            "{what}: {}",
            r.stderr
        );
        assert_eq!(
            store_files(&store),
            before,
            "{what} wrote to a store of a newer format"
        );
    }
    assert!(!s.path().join("out").exists());
}
