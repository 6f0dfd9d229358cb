//! Content addressing: equal data gives equal ids in any store, and every object file is
//! named by the BLAKE3 of its bytes.

use std::path::Path;

use dstore_e2e::{Scratch, tree};

use crate::{flights_csvs, flights_jsonl, new_store};

/// Builds a store from the flights fixtures (copied into the scratch directory under
/// `prefix`-named files, so the inputs' paths differ between stores) and returns the
/// snapshot id of each commit.
fn build(prefix: &str, author: &str, message: &str, tag: &str) -> (Scratch, Vec<String>) {
    let (s, _) = new_store();
    let [d1, d2] = flights_csvs();
    let day1 = s.path().join(format!("{prefix}-1.csv"));
    let day2 = s.path().join(format!("{prefix}-2.csv"));
    let day3 = s.path().join(format!("in/{prefix}.jsonl"));
    std::fs::create_dir_all(day3.parent().unwrap()).unwrap();
    std::fs::copy(&d1, &day1).unwrap();
    std::fs::copy(&d2, &day2).unwrap();
    std::fs::copy(flights_jsonl(), &day3).unwrap();
    s.write(&format!("{prefix}-small.csv"), "k,v\n1,x\n2,y\n");
    let arg = |x: &Path| x.to_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for args in [
        vec![
            "snapshot",
            "-t",
            "flights",
            &arg(&day1),
            &arg(&day2),
            "-m",
            message,
            "--author",
            author,
            "--tag",
            tag,
        ],
        vec![
            "snapshot",
            "-t",
            "flights",
            "in",
            "-t",
            "small",
            &format!("{prefix}-small.csv"),
            "-m",
            message,
        ],
    ] {
        let mut args = args;
        args.push("--json");
        ids.push(s.run(&args).json()["snapshot"].as_str().unwrap().to_owned());
    }
    (s, ids)
}

#[test]
fn same_data_same_snapshot_ids_in_two_stores() {
    let (_a, ids_a) = build("first", "ann", "one message", "v1");
    let (_b, ids_b) = build("second", "bob", "another message", "release");
    assert_eq!(
        ids_a, ids_b,
        "the same data ingested the same way got different snapshot ids"
    );
    assert_ne!(ids_a[0], ids_a[1]);
}

#[test]
fn object_file_names_are_blake3_of_their_bytes() {
    let (s, ids) = build("x", "ann", "m", "v1");
    let store = s.path().join(crate::STORE);
    let (mut segments, mut manifests, mut pages) = (0, 0, 0);
    for (rel, bytes) in tree(&store) {
        let path = Path::new(&rel);
        let top = path
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .to_owned();
        if top != "segments" && top != "manifests" {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            !name.starts_with(".tmp-"),
            "temporary file left behind: {rel}"
        );
        let (stem, ext) = name.rsplit_once('.').unwrap();
        let hash = blake3::hash(&bytes).to_hex().to_string();
        assert_eq!(stem, hash, "{rel}: name is not the BLAKE3 of its bytes");
        let dir = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(dir, &hash[..2], "{rel}: wrong fan-out directory");
        match (top.as_str(), ext) {
            ("segments", "parquet") => {
                segments += 1;
                assert_eq!(&bytes[..4], b"PAR1", "{rel}");
                assert_eq!(&bytes[bytes.len() - 4..], b"PAR1", "{rel}");
            }
            ("manifests", "manifest") => {
                manifests += 1;
                assert_eq!(&bytes[..8], b"DSTMANIF", "{rel}");
            }
            ("manifests", "seglist") => {
                pages += 1;
                assert_eq!(&bytes[..8], b"DSTSEGLS", "{rel}");
            }
            _ => panic!("unexpected object {rel}"),
        }
    }
    // 2 + 1 flights segments, 1 small segment; one manifest per commit; a page per table
    // version.
    assert_eq!(segments, 4);
    assert_eq!(manifests, 2);
    assert_eq!(pages, 3);
    for id in ids {
        assert!(
            store
                .join(format!("manifests/{}/{id}.manifest", &id[..2]))
                .is_file()
        );
    }
}

#[test]
fn adopted_parquet_is_stored_byte_for_byte() {
    let (s, store) = new_store();
    let input = s.path().join("in.parquet");
    crate::write_parquet(&input, &crate::id_name_batch(&[1, 2, 3]));
    let bytes = std::fs::read(&input).unwrap();
    let j = s
        .run(&["snapshot", "-t", "pq", "in.parquet", "--json"])
        .json();
    assert_eq!(j["changes"][0]["rows"], 3);
    let seg = crate::segment_path(&store, blake3::hash(&bytes).to_hex().as_str());
    assert_eq!(
        std::fs::read(&seg).expect("segment named by the input's hash"),
        bytes
    );
}

/// `dstore cat` prints the same rows, in the same order, whatever the decode threads, the
/// read-ahead and whether chunks are verified (unverified filtered scans use page indexes).
#[test]
fn cat_output_ignores_threads_read_ahead_and_verification() {
    let (s, _) = new_store();
    let [d1, d2] = flights_csvs();
    s.run(&[
        "snapshot",
        "-t",
        "flights",
        &d1,
        &d2,
        "-m",
        "two days",
        "--row-group-rows",
        "97",
    ])
    .ok();
    let cat = |extra: &[&str]| {
        let mut args = vec![
            "cat",
            "-t",
            "flights",
            "--shuffle",
            "7",
            "--epoch",
            "2",
            "--shard",
            "1/3",
            "--order",
            "1",
            "--window",
            "3",
            "--format",
            "jsonl",
        ];
        args.extend_from_slice(extra);
        s.run(&args).ok().to_owned()
    };
    let want = cat(&[]);
    assert!(want.lines().count() > 100, "{want}");
    for extra in [
        &["--threads", "1", "--read-ahead", "0"][..],
        &["--threads", "2", "--read-ahead", "3"],
        &["--no-verify"],
        &["--no-verify", "--read-ahead", "0", "--batch-size", "13"],
    ] {
        assert_eq!(cat(extra), want, "dstore cat {extra:?}");
    }
    let filtered = |extra: &[&str]| {
        let mut args = vec!["--where", "distance_km > 1500 AND carrier IN ('AA', 'UA')"];
        args.extend_from_slice(extra);
        cat(&args)
    };
    let want = filtered(&[]);
    assert!(!want.is_empty() && want.lines().count() < 1000, "{want}");
    assert_eq!(filtered(&["--no-verify"]), want);
    assert_eq!(
        filtered(&["--no-verify", "--threads", "1", "--read-ahead", "2"]),
        want
    );
}

/// Order 2 (the default): `dstore cat` prints the same rows whatever the decode threads, the
/// read-ahead and the batch size; `--memory-budget` changes the order (it is part of it);
/// `--window` without `--order 1`, and `--memory-budget` with it, are refused with a hint.
#[test]
fn cat_order_2_ignores_threads_and_its_options_are_checked() {
    let (s, _) = new_store();
    let [d1, d2] = flights_csvs();
    s.run(&[
        "snapshot",
        "-t",
        "flights",
        &d1,
        &d2,
        "-m",
        "two days",
        "--row-group-rows",
        "97",
    ])
    .ok();
    let cat = |extra: &[&str]| {
        let mut args = vec![
            "cat",
            "-t",
            "flights",
            "--shuffle",
            "7",
            "--epoch",
            "1",
            "--shard",
            "0/2",
            "--format",
            "jsonl",
        ];
        args.extend_from_slice(extra);
        s.run(&args)
    };
    let want = cat(&["--memory-budget", "64KiB"]).ok().to_owned();
    assert!(want.lines().count() > 100, "{want}");
    for extra in [
        &[
            "--memory-budget",
            "65536",
            "--threads",
            "1",
            "--read-ahead",
            "0",
        ][..],
        &[
            "--memory-budget",
            "64KiB",
            "--threads",
            "2",
            "--read-ahead",
            "3",
            "--batch-size",
            "13",
        ],
    ] {
        assert_eq!(cat(extra).ok(), want, "dstore cat {extra:?}");
    }
    assert_ne!(cat(&[]).ok(), want, "the budget is part of the order");
    assert_ne!(cat(&["--order", "1"]).ok(), want, "order 1 differs");
    let r = cat(&["--window", "3"]);
    crate::assert_user_error(&r, &["--window", "order 1"], true, "--window with order 2");
    let r = cat(&["--order", "1", "--memory-budget", "1GiB"]);
    crate::assert_user_error(
        &r,
        &["--memory-budget"],
        true,
        "--memory-budget with order 1",
    );
    let r = cat(&["--memory-budget", "lots"]);
    assert_eq!(r.code, 1, "a bad size is a user error: {}", r.stderr);
    assert!(r.stderr.contains("512MiB"), "{}", r.stderr);
}
