//! Which inputs `dstore snapshot` takes, through the real binary: gzip and zstd compressed CSV
//! and JSON lines (read exactly as their plain twins, damage refused), directories with files of
//! unknown type (refused, or skipped and listed with `--skip-unknown`), and how empty CSV
//! fields of string columns are read (`--csv-empty`).

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use dstore_e2e::{Run, Scratch};
use serde_json::Value;

use crate::{assert_store_unchanged, assert_user_error, log_json, new_store, store_files};

/// `dstore snapshot ARGS...` must be a user error naming `needles` with a hint, print nothing
/// on stdout, commit nothing and leave every byte of the store as it was.
pub(crate) fn refused(
    s: &Scratch,
    store: &Path,
    args: &[&str],
    needles: &[&str],
    what: &str,
) -> Run {
    let before = store_files(store);
    let commits = log_json(s).len();
    let mut full = vec!["snapshot"];
    full.extend_from_slice(args);
    let r = s.run(&full);
    assert_user_error(&r, needles, true, what);
    assert!(r.stdout.is_empty(), "{what}: printed {}", r.stdout);
    assert_eq!(log_json(s).len(), commits, "{what}: a commit was made");
    assert_store_unchanged(store, &before, what);
    r
}

pub(crate) fn gzip(members: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(m).unwrap();
        out.extend(e.finish().unwrap());
    }
    out
}

/// zstd frames with content checksums, as the `zstd` tool writes them.
fn zstd(frames: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        let mut e = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        e.include_checksum(true).unwrap();
        e.write_all(f).unwrap();
        out.extend(e.finish().unwrap());
    }
    out
}

/// A table's rows as `dstore cat --format jsonl` prints them.
fn cat(s: &Scratch, table: &str) -> String {
    s.run(&["cat", "-t", table, "--format", "jsonl"])
        .ok()
        .to_owned()
}

/// The segment ids of a table at HEAD.
fn segment_ids(s: &Scratch, table: &str) -> Vec<String> {
    let show = s.run(&["show", "--segments", "--json"]).json();
    let t = show["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == table)
        .unwrap_or_else(|| panic!("no table {table}: {show}"))
        .clone();
    t["segment_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// CSV text with strings, ints, floats, dates and empty fields: `rows` rows.
fn csv_text(rows: usize) -> String {
    let mut t = String::from("id,name,score,day\n");
    for i in 0..rows {
        let name = match i % 5 {
            0 => String::new(),
            1 => "\"\"".into(),
            2 => format!("\"quoted, {i}\""),
            _ => format!("n{i}"),
        };
        let score = if i % 7 == 0 {
            String::new()
        } else {
            format!("{i}.5")
        };
        writeln!(t, "{i},{name},{score},2026-11-{:02}", i % 28 + 1).unwrap();
    }
    t
}

#[test]
fn compressed_text_reads_exactly_as_its_plain_twin() {
    let (s, _store) = new_store();
    let csv = csv_text(3000);
    let mut jsonl = String::new();
    for i in 0..2000 {
        writeln!(
            jsonl,
            "{{\"id\":{i},\"tag\":\"t{}\",\"v\":[{i},{}]}}",
            i % 3,
            i + 1
        )
        .unwrap();
    }
    let tsv = csv.replace(',', "\t");
    let (half_csv, rest_csv) = csv.split_at(csv.find("\n1500,").unwrap() + 1);
    s.write("plain.csv", &csv);
    s.write("plain.tsv", &tsv);
    s.write("plain.jsonl", &jsonl);
    // Multi-member gzip (as `cat a.gz b.gz` or parallel gzip writers make) and several zstd
    // frames, split in the middle of the text.
    s.write(
        "c.csv.gz",
        gzip(&[half_csv.as_bytes(), rest_csv.as_bytes()]),
    );
    s.write(
        "c.csv.zst",
        zstd(&[half_csv.as_bytes(), rest_csv.as_bytes()]),
    );
    s.write("c.TSV.GZ", gzip(&[tsv.as_bytes()]));
    s.write("j.jsonl.gz", gzip(&[jsonl.as_bytes()]));
    s.write("j.ndjson.zst", zstd(&[jsonl.as_bytes()]));
    s.write("j.json.gz", gzip(&[jsonl.as_bytes()]));
    s.write("j.jsonl.zst", zstd(&[jsonl.as_bytes()]));
    for (table, plain, compressed) in [
        ("csv", "plain.csv", &["c.csv.gz", "c.csv.zst"][..]),
        ("tsv", "plain.tsv", &["c.TSV.GZ"][..]),
        (
            "jsonl",
            "plain.jsonl",
            &["j.jsonl.gz", "j.ndjson.zst", "j.json.gz", "j.jsonl.zst"][..],
        ),
    ] {
        s.run(&["snapshot", "-t", table, plain]).ok();
        let want_rows = cat(&s, table);
        let want_ids = segment_ids(&s, table);
        for (i, c) in compressed.iter().enumerate() {
            let t = format!("{table}{i}");
            let out = s.run(&["snapshot", "-t", &t, c]);
            assert!(out.ok().contains("1 segment(s)"), "{c}: {}", out.stdout);
            assert_eq!(cat(&s, &t), want_rows, "{c}: rows differ from {plain}");
            // The same rows, converted the same way: the same segment bytes.
            assert_eq!(segment_ids(&s, &t), want_ids, "{c}");
        }
    }
    // So the compressed twin of a committed file is a duplicate.
    let r = s.run(&["snapshot", "-t", "csv", "c.csv.gz"]);
    assert_user_error(&r, &["c.csv.gz", "already holds this data"], true, "twin");
}

#[test]
fn damaged_compressed_input_is_refused_naming_the_file() {
    let (s, store) = new_store();
    let csv = csv_text(20_000);
    let gz = gzip(&[csv.as_bytes()]);
    let zst = zstd(&[csv.as_bytes()]);
    let mut flipped_gz = gz.clone();
    let at = flipped_gz.len() / 2;
    flipped_gz[at] ^= 0x5a;
    let mut flipped_zst = zst.clone();
    let at = flipped_zst.len() / 2;
    flipped_zst[at] ^= 0x5a;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("cut.csv.gz", gz[..gz.len() / 2].to_vec(), "gzip"),
        ("trailer.csv.gz", gz[..gz.len() - 4].to_vec(), "gzip"),
        ("flipped.csv.gz", flipped_gz, "gzip"),
        ("cut.csv.zst", zst[..zst.len() / 2].to_vec(), "zstd"),
        ("flipped.csv.zst", flipped_zst, "zstd"),
        ("notgzip.jsonl.gz", b"{\"a\":1}\n".to_vec(), "gzip"),
        (
            "cut.jsonl.gz",
            gzip(&[b"{\"a\":1}\n{\"a\":2}\n"])[..20].to_vec(),
            "gzip",
        ),
    ];
    for (name, bytes, kind) in cases {
        s.write(name, bytes);
        refused(
            &s,
            &store,
            &["-t", "t", name],
            &[name, kind, "damaged"],
            name,
        );
    }
    // A 0-byte compressed file is not a gzip file at all.
    s.write("zero.csv.gz", "");
    refused(
        &s,
        &store,
        &["-t", "t", "zero.csv.gz"],
        &["zero.csv.gz", "empty"],
        "0 bytes",
    );
}

#[test]
fn errors_in_compressed_text_count_decompressed_lines() {
    let (s, store) = new_store();
    s.write("t.csv", "id,name\n1,a\n");
    s.run(&["snapshot", "-t", "t", "t.csv"]).ok();
    s.write(
        "bad.csv.gz",
        gzip(&[b"id,name\n2,b\n3,c\n", b"x4,d\n5,e\n"]),
    );
    refused(
        &s,
        &store,
        &["-t", "t", "bad.csv.gz"],
        &["bad.csv.gz", "line 4", "x4"],
        "bad value in gzip CSV",
    );
    s.write(
        "bad.jsonl.zst",
        zstd(&[
            b"{\"id\":2,\"name\":\"b\"}\n\n",
            b"{\"id\":\"three\",\"name\":\"c\"}\n",
        ]),
    );
    refused(
        &s,
        &store,
        &["-t", "t", "bad.jsonl.zst"],
        &["bad.jsonl.zst", "line 3"],
        "bad value in zstd JSON lines",
    );
}

#[test]
fn compressed_parquet_and_ipc_are_refused_with_the_reason() {
    let (s, store) = new_store();
    for name in ["x.parquet.gz", "x.arrow.zst", "x.feather.gz"] {
        s.write(name, gzip(&[b"PAR1"]));
        let r = refused(
            &s,
            &store,
            &["-t", "t", name],
            &[name, "compressed Parquet or Arrow IPC", "not read"],
            name,
        );
        assert!(r.stderr.contains("decompress it first"), "{}", r.stderr);
    }
    s.write("x.txt.gz", gzip(&[b"id\n1\n"]));
    refused(
        &s,
        &store,
        &["-t", "t", "x.txt.gz"],
        &["x.txt.gz", "unknown file type"],
        "txt.gz",
    );
}

/// A directory like an image dataset export: a labels CSV, images, a README, and the
/// bookkeeping files of Hadoop-style writers.
fn image_dir(s: &Scratch) {
    s.write("data/labels.csv", "file,label\na.jpg,cat\nb.jpg,dog\n");
    for i in 0..7 {
        s.write(&format!("data/img/{i:02}.jpg"), [0xff, 0xd8, 0xff, i]);
    }
    s.write("data/README.md", "images\n");
    s.write("data/_SUCCESS", "");
    s.write("data/_committed_123", "");
    s.write("data/_started_123", "");
    s.write("data/.labels.csv.crc", "crc");
    s.write("data/labels.csv.crc", "crc");
    s.write("data/.DS_Store", "x");
    s.write("data/_temporary/0/part-0.csv", "file,label\nzz,zz\n");
}

#[test]
fn a_directory_with_files_of_unknown_type_is_refused() {
    let (s, store) = new_store();
    image_dir(&s);
    let r = refused(
        &s,
        &store,
        &["-t", "imgs", "data"],
        &[
            "data: holds 8 file(s) of unknown type",
            "data/README.md",
            "data/img/00.jpg",
            "data/img/03.jpg",
            "and 3 more",
        ],
        "unknown files",
    );
    assert!(r.stderr.contains("--skip-unknown"), "{}", r.stderr);
    // Bookkeeping files are not counted as unknown.
    for quiet in [
        "_SUCCESS",
        "_committed",
        "_started",
        ".crc",
        "DS_Store",
        "_temporary",
    ] {
        assert!(!r.stderr.contains(quiet), "{quiet} named:\n{}", r.stderr);
    }
}

#[test]
fn skip_unknown_commits_the_data_and_lists_what_it_skipped() {
    let (s, _store) = new_store();
    image_dir(&s);
    let r = s.run(&["snapshot", "-t", "imgs", "data", "--skip-unknown"]);
    assert!(
        r.ok().contains("create    imgs: 1 segment(s), 2 rows"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("note: skipped 8 file(s) of unknown type: data/README.md, data/img/00.jpg"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("and 3 more"), "{}", r.stderr);
    // --json lists every skipped file.
    let v = s
        .run(&[
            "snapshot",
            "-t",
            "imgs2",
            "data",
            "--skip-unknown",
            "--json",
        ])
        .json();
    let skipped: Vec<&str> = v["inputs"][0]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let mut want = vec!["data/README.md".to_owned()];
    want.extend((0..7).map(|i| format!("data/img/{i:02}.jpg")));
    assert_eq!(skipped, want);
    assert_eq!(v["inputs"][0]["files"], 1);
    s.write("data/labels2.csv", "file,label\nc.jpg,cow\n");
    // A file named on the command line is refused unless skipped too.
    refused(
        &s,
        &s.path().join(crate::STORE),
        &["-t", "imgs", "data/README.md"],
        &["data/README.md", "unknown file type"],
        "named unknown file",
    );
    let r = s.run(&[
        "snapshot",
        "-t",
        "imgs",
        "data/README.md",
        "data/labels2.csv",
        "--skip-unknown",
        "--allow-duplicates",
    ]);
    r.ok();
    assert!(
        r.stderr
            .contains("skipped 1 file(s) of unknown type: data/README.md"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_directory_of_only_unknown_files_is_refused_even_when_skipping() {
    let (s, store) = new_store();
    s.write("pics/a.png", "x");
    s.write("pics/_SUCCESS", "");
    refused(
        &s,
        &store,
        &["-t", "t", "pics", "--skip-unknown"],
        &["pics", "no data files", "1 of unknown type"],
        "only unknown files",
    );
}

// ---- empty fields of CSV string columns ---------------------------------------------------

/// `name` per row of a table, as `cat --format jsonl` gives it (`None` for null).
fn names(s: &Scratch, table: &str) -> Vec<Option<String>> {
    cat(s, table)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v.get("name").and_then(Value::as_str).map(str::to_owned)
        })
        .collect()
}

#[test]
fn empty_csv_fields_in_string_columns_follow_csv_empty() {
    let (s, _store) = new_store();
    // Unquoted empty, quoted "", a value; an empty int field.
    s.write("e.csv", "id,name\n1,\n2,\"\"\n3,x\n,\"\"\n");
    let none = None;
    let empty = Some(String::new());
    let x = Some("x".to_owned());
    for (table, flag, want) in [
        (
            "quoted",
            None,
            vec![none.clone(), empty.clone(), x.clone(), empty.clone()],
        ),
        (
            "q2",
            Some("quoted"),
            vec![none.clone(), empty.clone(), x.clone(), empty.clone()],
        ),
        (
            "null",
            Some("null"),
            vec![none.clone(), none.clone(), x.clone(), none.clone()],
        ),
        (
            "string",
            Some("string"),
            vec![empty.clone(), empty.clone(), x.clone(), empty.clone()],
        ),
    ] {
        let mut args = vec!["snapshot", "-t", table, "e.csv", "--allow-duplicates"];
        if let Some(f) = flag {
            args.extend(["--csv-empty", f]);
        }
        s.run(&args).ok();
        assert_eq!(names(&s, table), want, "{table}");
        // The empty int field is null in every reading.
        let ids: Vec<Value> = cat(&s, table)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].clone())
            .collect();
        assert_eq!(ids[3], Value::Null, "{table}");
    }
    // Appending parses with the table's schema and reads empty fields the same way.
    s.write("more.csv", "name,id\n\"\",7\n,8\n");
    s.run(&["snapshot", "-t", "quoted", "more.csv"]).ok();
    assert_eq!(&names(&s, "quoted")[4..], &[empty, none]);
    // An unknown reading is a usage error.
    let r = s.run(&["snapshot", "-t", "t", "e.csv", "--csv-empty", "maybe"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
}

/// Many batches (arrow parses 8192 rows at a time), CRLF line ends, quoted fields spanning
/// lines, blank lines: every row reads as its text says.
#[test]
fn quoted_empty_fields_are_found_in_every_batch() {
    let (s, _store) = new_store();
    let mut text = String::from("id,name,note\r\n");
    let mut want = Vec::new();
    for i in 0..20_000u32 {
        let (field, v) = match i % 6 {
            0 => (String::new(), None),
            1 => ("\"\"".to_owned(), Some(String::new())),
            2 => (
                format!("\"two\r\nlines {i}\""),
                Some(format!("two\r\nlines {i}")),
            ),
            3 => (format!("\"say \"\"{i}\"\"\""), Some(format!("say \"{i}\""))),
            _ => (format!("v{i}"), Some(format!("v{i}"))),
        };
        let note = if i % 4 == 0 { "\"\"" } else { "" };
        write!(text, "{i},{field},{note}\r\n").unwrap();
        if i % 1000 == 999 {
            text.push_str("\r\n");
        }
        want.push(v);
    }
    s.write("many.csv.gz", gzip(&[text.as_bytes()]));
    s.run(&["snapshot", "-t", "m", "many.csv.gz"]).ok();
    assert_eq!(names(&s, "m"), want);
}
