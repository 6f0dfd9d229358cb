//! Hostile and bad input, one test per case. Each must fail with `error: ...` naming the input
//! (with line, column or field where there is one), a `hint: ...` line, exit code 1, and leave
//! the store exactly as it was apart from leftovers in `tmp/` that `dstore gc` removes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use dstore_e2e::{Run, Scratch, dstore_bin};

use crate::{
    STORE, assert_user_error, id_name_batch, log_json, new_store, segment_path, store_files,
    write_parquet,
};

/// A store whose table `t` has columns `id: Int64`, `name: Utf8` (one commit), and whose
/// table `ints` has one Int64 column `a` (a second commit).
fn base_store() -> (Scratch, PathBuf) {
    let (s, store) = new_store();
    s.write("t.csv", "id,name\n1,a\n2,b\n3,c\n");
    s.run(&["snapshot", "-t", "t", "t.csv", "-m", "t"]).ok();
    s.write("ints.jsonl", "{\"a\":1}\n{\"a\":2}\n");
    s.run(&["snapshot", "-t", "ints", "ints.jsonl", "-m", "ints"])
        .ok();
    (s, store)
}

/// The store's files outside `tmp/` (and the catalog, which `store_files` leaves out).
fn durable_files(store: &Path) -> Vec<(String, Vec<u8>)> {
    store_files(store)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("tmp/"))
        .collect()
}

/// The store holds exactly what `before` recorded outside `tmp/`; after `dstore gc --grace 0s`
/// nothing is left in `tmp/` either; and the store still verifies.
fn assert_untouched(s: &Scratch, store: &Path, before: &[(String, Vec<u8>)], what: &str) {
    let outside_tmp: Vec<(String, Vec<u8>)> = before
        .iter()
        .filter(|(p, _)| !p.starts_with("tmp/"))
        .cloned()
        .collect();
    let now = durable_files(store);
    if now != outside_tmp {
        // Reuse the helper's message naming what was added, removed or changed.
        crate::assert_store_unchanged(store, before, &format!("{what} (outside tmp/)"));
    }
    s.run(&["gc", "--grace", "0s"]).ok();
    crate::assert_store_unchanged(store, before, &format!("{what} (after gc)"));
    s.run(&["verify", "--all"]).ok();
}

/// `dstore snapshot ARGS... -m "should not commit"` must be a user error naming `needles`,
/// print nothing on stdout, and leave the store alone.
fn refused(s: &Scratch, store: &Path, args: &[&str], needles: &[&str], what: &str) -> Run {
    let before = store_files(store);
    let commits = log_json(s).len();
    let mut full = vec!["snapshot"];
    full.extend_from_slice(args);
    full.extend(["-m", "should not commit"]);
    let r = s.run(&full);
    assert_user_error(&r, needles, true, what);
    assert!(r.stdout.is_empty(), "{what}: printed {}", r.stdout);
    assert_eq!(log_json(s).len(), commits, "{what}: a commit was made");
    assert_untouched(s, store, &before, what);
    r
}

/// Writes `batch` as an Arrow IPC file (`stream` false) or stream and returns its bytes.
fn arrow_ipc(batch: &RecordBatch, stream: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if stream {
        let mut w =
            arrow::ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).expect("writer");
        w.write(batch).expect("write");
        w.finish().expect("finish");
    } else {
        let mut w =
            arrow::ipc::writer::FileWriter::try_new(&mut out, &batch.schema()).expect("writer");
        w.write(batch).expect("write");
        w.finish().expect("finish");
    }
    out
}

/// A valid Parquet file (8 rows, `id`, `name`) as bytes.
fn parquet_bytes(s: &Scratch) -> Vec<u8> {
    let p = s.path().join("valid-source.parquet");
    write_parquet(&p, &id_name_batch(&[1, 2, 3, 4, 5, 6, 7, 8]));
    let b = std::fs::read(&p).expect("read parquet");
    std::fs::remove_file(&p).expect("remove");
    b
}

// ---- CSV, JSON lines and files that are not data ----------------------------------------

#[test]
fn ragged_csv_row_names_file_and_line() {
    let (s, store) = base_store();
    s.write("ragged.csv", "id,name\n4,d\n5\n6,f\n");
    let r = refused(
        &s,
        &store,
        &["-t", "t", "ragged.csv"],
        &["ragged.csv", "line 3", "expected 2 got 1"],
        "ragged CSV",
    );
    assert!(
        r.stderr.contains("as many fields as the header"),
        "{}",
        r.stderr
    );
}

#[test]
fn invalid_utf8_in_csv_names_line_and_field() {
    let (s, store) = base_store();
    s.write("latin1.csv", b"id,name\n4,d\n5,caf\xe9\n".as_slice());
    let r = refused(
        &s,
        &store,
        &["-t", "t", "latin1.csv"],
        &["latin1.csv", "line 3", "field 2", "UTF-8"],
        "invalid UTF-8 in CSV",
    );
    assert!(r.stderr.contains("iconv"), "{}", r.stderr);
}

#[test]
fn empty_file_is_refused() {
    let (s, store) = base_store();
    s.write("empty.csv", "");
    refused(
        &s,
        &store,
        &["-t", "t", "empty.csv"],
        &["empty.csv", "empty"],
        "empty file",
    );
}

// Header-only CSV and blank JSON lines are inputs without rows, accepted: e2e/appends.rs.

#[test]
fn directory_without_data_files_is_refused() {
    let (s, store) = base_store();
    s.write("nodata/sub/.hidden.csv", "id,name\n9,z\n");
    s.write("nodata/.part-0.csv.crc", "crc");
    s.write("nodata/_SUCCESS.csv", "id,name\n9,z\n");
    let r = refused(
        &s,
        &store,
        &["-t", "t", "nodata"],
        &["nodata", "no data files"],
        "directory without data files",
    );
    assert!(r.stderr.contains(".parquet"), "{}", r.stderr);
}

#[test]
fn unknown_extension_is_refused() {
    let (s, store) = base_store();
    s.write("notes.txt", "id,name\n9,z\n");
    let r = refused(
        &s,
        &store,
        &["-t", "t", "notes.txt"],
        &["notes.txt", "unknown file type"],
        "unknown extension",
    );
    assert!(r.stderr.contains("rename the file"), "{}", r.stderr);
}

#[test]
fn nonexistent_path_is_refused() {
    let (s, store) = base_store();
    refused(
        &s,
        &store,
        &["-t", "t", "missing/nothing.csv"],
        &["missing/nothing.csv", "no such file"],
        "nonexistent path",
    );
}

#[test]
fn json_lines_with_conflicting_types_name_the_line_and_field() {
    let (s, store) = base_store();
    // A number, then an object: no type holds both (number-or-string mixes are kept as text).
    s.write(
        "mixed.jsonl",
        "{\"k\":1,\"v\":\"a\"}\n\n{\"k\":2,\"v\":\"b\"}\n{\"k\":{\"x\":3},\"v\":\"c\"}\n{\"k\":4,\"v\":\"d\"}\n",
    );
    refused(
        &s,
        &store,
        &["-t", "fresh", "mixed.jsonl"],
        &["mixed.jsonl", "line 4", "field `k`"],
        "JSON lines with conflicting types",
    );
}

#[test]
fn json_lines_with_a_value_of_the_wrong_type_for_the_table_name_the_line() {
    let (s, store) = base_store();
    s.write("conflict.jsonl", "{\"a\":3}\n{\"a\":4}\n{\"a\":\"x\"}\n");
    refused(
        &s,
        &store,
        &["-t", "ints", "conflict.jsonl"],
        &["conflict.jsonl", "line 3", "field 'a'"],
        "JSON value of the wrong type for the table",
    );
}

#[test]
fn json_line_that_is_not_an_object_names_the_line() {
    let (s, store) = base_store();
    s.write("array.jsonl", "{\"a\":3}\n[1,2]\n");
    refused(
        &s,
        &store,
        &["-t", "ints", "array.jsonl"],
        &["array.jsonl", "line 2"],
        "JSON line that is an array",
    );
}

// ---- Parquet and Arrow IPC ---------------------------------------------------------------

#[test]
fn parquet_with_a_corrupt_footer_is_refused() {
    let (s, store) = base_store();
    let mut b = parquet_bytes(&s);
    let n = b.len();
    let footer_len = u32::from_le_bytes(b[n - 8..n - 4].try_into().unwrap()) as usize;
    // Damage the Thrift footer (not its length or magic).
    for i in (n - 8 - footer_len..n - 8).step_by(5) {
        b[i] ^= 0xff;
    }
    s.write("badfooter.parquet", &b);
    refused(
        &s,
        &store,
        &["-t", "pq", "badfooter.parquet"],
        &["badfooter.parquet", "not a readable Parquet file"],
        "Parquet with a corrupt footer",
    );
}

#[test]
fn parquet_with_wrong_magic_is_refused() {
    let (s, store) = base_store();
    let good = parquet_bytes(&s);
    let mut tail = good.clone();
    let n = tail.len();
    tail[n - 4..].copy_from_slice(b"PARX");
    s.write("tailmagic.parquet", &tail);
    refused(
        &s,
        &store,
        &["-t", "pq", "tailmagic.parquet"],
        &["tailmagic.parquet", "not a readable Parquet file"],
        "Parquet with a wrong trailing magic",
    );
    // The Parquet reader only looks at the end of the file; the leading magic is checked too.
    let mut head = good;
    head[..4].copy_from_slice(b"XXXX");
    s.write("headmagic.parquet", &head);
    refused(
        &s,
        &store,
        &["-t", "pq", "headmagic.parquet"],
        &["headmagic.parquet", "PAR1"],
        "Parquet with a wrong leading magic",
    );
}

#[test]
fn truncated_parquet_is_refused() {
    let (s, store) = base_store();
    let b = parquet_bytes(&s);
    s.write("cut-end.parquet", &b[..b.len() - 10]);
    refused(
        &s,
        &store,
        &["-t", "pq", "cut-end.parquet"],
        &["cut-end.parquet", "not a readable Parquet file"],
        "Parquet cut short",
    );
    s.write("cut-half.parquet", &b[..b.len() / 2]);
    refused(
        &s,
        &store,
        &["-t", "pq", "cut-half.parquet"],
        &["cut-half.parquet"],
        "Parquet cut in half",
    );
}

#[test]
fn text_named_parquet_is_refused() {
    let (s, store) = base_store();
    s.write("fake.parquet", "this is not parquet at all, just text\n");
    refused(
        &s,
        &store,
        &["-t", "pq", "fake.parquet"],
        &["fake.parquet", "not a readable Parquet file"],
        "text named .parquet",
    );
}

#[test]
fn truncated_arrow_ipc_file_is_refused() {
    let (s, store) = base_store();
    let b = arrow_ipc(&id_name_batch(&[1, 2, 3, 4]), false);
    s.write("cut.arrow", &b[..b.len() - 40]);
    refused(
        &s,
        &store,
        &["-t", "ipc", "cut.arrow"],
        &["cut.arrow", "Arrow IPC"],
        "truncated Arrow IPC file",
    );
}

#[test]
fn truncated_arrow_ipc_stream_is_refused() {
    let (s, store) = base_store();
    let b = arrow_ipc(&id_name_batch(&[1, 2, 3, 4]), true);
    s.write("cut.arrows", &b[..b.len() / 2 + 7]);
    refused(
        &s,
        &store,
        &["-t", "ipc", "cut.arrows"],
        &["cut.arrows"],
        "truncated Arrow IPC stream",
    );
}

// ---- appends that do not fit the table's schema ------------------------------------------

/// A Parquet file with `id` of `id_type` plus the given extra columns.
fn parquet_with(s: &Scratch, name: &str, id_type: &DataType, with_name: bool, extra: bool) {
    let mut fields = vec![Field::new("id", id_type.clone(), true)];
    let mut cols: Vec<arrow::array::ArrayRef> = vec![match id_type {
        DataType::Utf8 => Arc::new(StringArray::from(vec!["7", "8"])),
        _ => Arc::new(Int64Array::from(vec![7, 8])),
    }];
    if with_name {
        fields.push(Field::new("name", DataType::Utf8, true));
        cols.push(Arc::new(StringArray::from(vec!["g", "h"])));
    }
    if extra {
        fields.push(Field::new("score", DataType::Int64, true));
        cols.push(Arc::new(Int64Array::from(vec![1, 2])));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("batch");
    write_parquet(&s.path().join(name), &batch);
}

#[test]
fn append_with_a_changed_column_type_is_refused() {
    let (s, store) = base_store();
    parquet_with(&s, "retyped.parquet", &DataType::Utf8, true, false);
    refused(
        &s,
        &store,
        &["-t", "t", "retyped.parquet"],
        &[
            "retyped.parquet",
            "column `id`: table has Int64, input has Utf8",
        ],
        "append with a changed column type",
    );
    // The same through Arrow IPC.
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Float64, true),
            Field::new("name", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(arrow::array::Float64Array::from(vec![1.5])),
            Arc::new(StringArray::from(vec!["x"])),
        ],
    )
    .unwrap();
    s.write("retyped.arrow", arrow_ipc(&batch, false));
    refused(
        &s,
        &store,
        &["-t", "t", "retyped.arrow"],
        &[
            "retyped.arrow",
            "column `id`: table has Int64, input has Float64",
        ],
        "Arrow IPC append with a changed column type",
    );
}

#[test]
fn append_with_a_missing_column_is_refused() {
    let (s, store) = base_store();
    parquet_with(&s, "narrow.parquet", &DataType::Int64, false, false);
    refused(
        &s,
        &store,
        &["-t", "t", "narrow.parquet"],
        &[
            "narrow.parquet",
            "column `name` (Utf8) is missing from the input",
        ],
        "append with a missing column",
    );
    s.write("narrow.csv", "id\n9\n");
    refused(
        &s,
        &store,
        &["-t", "t", "narrow.csv"],
        &["narrow.csv", "column `name`"],
        "CSV append with a missing column",
    );
}

#[test]
fn append_with_an_extra_column_is_refused() {
    let (s, store) = base_store();
    parquet_with(&s, "wide.parquet", &DataType::Int64, true, true);
    refused(
        &s,
        &store,
        &["-t", "t", "wide.parquet"],
        &["wide.parquet", "column `score` (Int64) is not in the table"],
        "append with an extra column",
    );
    s.write("wide.jsonl", "{\"a\":5,\"b\":1}\n");
    refused(
        &s,
        &store,
        &["-t", "ints", "wide.jsonl"],
        &["wide.jsonl"],
        "JSON lines append with an extra field",
    );
}

#[test]
fn good_input_before_a_bad_one_commits_nothing() {
    let (s, store) = base_store();
    s.write("good.csv", "id,name\n10,x\n");
    s.write("ragged.csv", "id,name\n11\n");
    refused(
        &s,
        &store,
        &["-t", "t", "good.csv", "ragged.csv"],
        &["ragged.csv", "line 2"],
        "good then ragged",
    );
    refused(
        &s,
        &store,
        &["-t", "t", "good.csv", "gone.csv"],
        &["gone.csv"],
        "good then missing",
    );
}

#[test]
fn bad_input_for_a_second_table_commits_nothing() {
    let (s, store) = base_store();
    s.write("good.csv", "k,v\n1,x\n");
    s.write("ragged.csv", "id,name\n11\n");
    refused(
        &s,
        &store,
        &["-t", "k", "good.csv", "-t", "t", "ragged.csv"],
        &["ragged.csv"],
        "second table bad",
    );
}

#[test]
fn invalid_table_name_is_refused() {
    let (s, store) = base_store();
    s.write("good.csv", "k,v\n1,x\n");
    refused(
        &s,
        &store,
        &["-t", "../x", "good.csv"],
        &["../x"],
        "table name with ..",
    );
}

// ---- tag names ---------------------------------------------------------------------------

/// `dstore tag NAME` and `dstore snapshot --tag NAME` both refuse `name`, saying why.
fn tag_refused(name: &OsStr, why: &str) {
    let (s, store) = base_store();
    s.write("more.csv", "id,name\n20,q\n");
    let before = store_files(&store);
    let what = format!("tag {:?}", name.to_string_lossy());
    let r = Run::of(&s.cmd(&["tag"]).arg(name).output().expect("spawn"));
    assert_user_error(&r, &["invalid tag name", why], true, &what);
    let r = Run::of(
        &s.cmd(&["snapshot", "-t", "t", "more.csv", "--tag"])
            .arg(name)
            .output()
            .expect("spawn"),
    );
    assert_user_error(
        &r,
        &["invalid tag name", why],
        true,
        &format!("snapshot --{what}"),
    );
    assert_untouched(&s, &store, &before, &what);
    assert_eq!(log_json(&s).len(), 2);
}

#[test]
fn tag_name_with_dotdot_is_refused() {
    tag_refused(OsStr::new("v1..v2"), "\"..\"");
}

#[test]
fn tag_name_with_a_leading_trailing_or_doubled_slash_is_refused() {
    for name in ["/v1", "v1/", "team//v1"] {
        tag_refused(OsStr::new(name), "'/'");
    }
}

#[test]
fn tag_name_with_whitespace_is_refused() {
    tag_refused(OsStr::new("my tag"), "whitespace");
    tag_refused(OsStr::new("tab\there"), "whitespace");
}

#[test]
fn empty_tag_name_is_refused() {
    tag_refused(OsStr::new(""), "cannot be empty");
}

#[test]
fn tag_name_over_255_bytes_is_refused() {
    // 128 two-byte characters: 256 bytes, 128 chars.
    let name = "é".repeat(128);
    tag_refused(OsStr::new(&name), "at most 255 bytes, this one is 256");
}

#[test]
fn tag_name_with_invalid_utf8_is_refused() {
    tag_refused(OsStr::from_bytes(b"v\xff\xfe1"), "valid UTF-8");
}

// ---- refs and stores ---------------------------------------------------------------------

/// Two manifests whose ids share their first 8 hex digits, found by a birthday search over
/// manifests of one empty table whose schema metadata counts up (about 2^16 tries).
fn colliding_manifests() -> [(dstore::SnapshotId, Vec<u8>); 2] {
    use dstore::format::{Manifest, TableManifest};
    use std::collections::HashMap;
    let mut seen: HashMap<[u8; 4], (dstore::SnapshotId, Vec<u8>)> = HashMap::new();
    for i in 0u64..(1 << 22) {
        let schema = Schema::new(vec![Field::new("x", DataType::Int64, true)]).with_metadata(
            std::collections::HashMap::from([("n".to_owned(), i.to_string())]),
        );
        let m = Manifest {
            tables: vec![TableManifest {
                name: "t".into(),
                schema: Arc::new(schema),
                rows: 0,
                bytes: 0,
                segments: 0,
                pages: Vec::new(),
            }],
        };
        let (id, bytes) = m.encode_with_id().expect("encode");
        let key: [u8; 4] = id.0[..4].try_into().unwrap();
        if let Some(other) = seen.insert(key, (id, bytes.clone())) {
            return [other, (id, bytes)];
        }
    }
    panic!("no 32-bit prefix collision in 2^22 manifests");
}

#[test]
fn ambiguous_id_prefix_lists_the_candidates() {
    use dstore::format::{LogRecord, RecordHash, RecordKind, TableChange, TableOp};
    let (s, store) = new_store();
    // Two commits whose snapshot ids share 8 hex digits, written as a writer would.
    let mut prev = RecordHash::ZERO;
    let pair = colliding_manifests();
    for (i, (id, bytes)) in pair.iter().enumerate() {
        let hex = id.to_hex();
        s.write(
            &format!("{STORE}/manifests/{}/{hex}.manifest", &hex[..2]),
            bytes,
        );
        let seq = i as u64 + 1;
        let rec = LogRecord {
            seq,
            prev,
            time_micros: 1_700_000_000_000_000 + seq as i64,
            author: "tester".into(),
            message: format!("crafted {seq}"),
            kind: RecordKind::Commit {
                snapshot: *id,
                parent_commit: (seq > 1).then_some(seq - 1),
                changes: vec![TableChange {
                    table: "t".into(),
                    op: if seq == 1 {
                        TableOp::Create
                    } else {
                        TableOp::Overwrite
                    },
                    segments: 0,
                    rows: 0,
                    bytes: 0,
                }],
                tags: Vec::new(),
                upstream: Vec::new(),
            },
        };
        let b = rec.encode();
        prev = RecordHash::of(&b);
        s.write(&format!("{STORE}/log/{seq:020}.rec"), &b);
    }
    s.run(&["verify", "--all"]).ok();
    let [(a, _), (b, _)] = &pair;
    let prefix = &a.to_hex()[..8];
    assert_eq!(prefix, &b.to_hex()[..8]);
    let before = store_files(&store);
    for args in [
        &["show", prefix][..],
        &["cat", prefix, "-t", "t"],
        &["tag", "v1", prefix],
        &["checkout", prefix, "-o", "out"],
    ] {
        let r = s.run(args);
        assert_user_error(
            &r,
            &[prefix, "ambiguous", &a.to_hex(), &b.to_hex()],
            true,
            &args.join(" "),
        );
        assert!(r.stderr.contains("more hex digits"), "{}", r.stderr);
    }
    assert!(!s.path().join("out").exists());
    crate::assert_store_unchanged(&store, &before, "ambiguous prefix");
    // Nine digits tell them apart (unless those collide too, 1 in 16).
    if a.to_hex()[8..9] != b.to_hex()[8..9] {
        assert_eq!(crate::resolve(&s, &a.to_hex()[..9]), a.to_hex());
    }
}

#[test]
fn unknown_ref_is_refused_everywhere() {
    let (s, store) = base_store();
    let before = store_files(&store);
    for args in [
        &["show", "nosuchtag"][..],
        &["cat", "nosuchtag", "-t", "t"],
        &["checkout", "nosuchtag", "-o", "out"],
        &["diff", "nosuchtag"],
        &["tag", "v9", "nosuchtag"],
        &["verify", "nosuchtag"],
        &["pin", "nosuchtag"],
    ] {
        let r = s.run(args);
        assert_user_error(&r, &["nosuchtag", "not found"], true, &args.join(" "));
    }
    let r = s.run(&["show", "@99"]);
    assert_user_error(&r, &["@99"], true, "show @99");
    let r = s.run(&["show", "abcdef0123"]);
    assert_user_error(&r, &["abcdef0123"], true, "show of an unknown prefix");
    assert!(!s.path().join("out").exists());
    assert_untouched(&s, &store, &before, "unknown refs");
}

#[test]
fn path_that_is_not_a_store_is_refused() {
    let s = Scratch::new();
    s.write("plain/file.txt", "x");
    s.write("good.csv", "k\n1\n");
    let before = dstore_e2e::tree(&s.path().join("plain"));
    for args in [
        &["snapshot", "--store", "plain", "-t", "k", "good.csv"][..],
        &["log", "--store", "plain"],
        &["verify", "--store", "plain"],
        &["gc", "--store", "plain"],
        &["snapshot", "--store", "good.csv", "-t", "k", "good.csv"],
        &["show", "--store", "does/not/exist"],
    ] {
        let r = s.run(args);
        let named = args[2];
        assert_user_error(&r, &[named, "not a dstore store"], true, &args.join(" "));
        assert!(r.stderr.contains("dstore init"), "{}", r.stderr);
    }
    assert_eq!(dstore_e2e::tree(&s.path().join("plain")), before);
    assert!(!s.path().join("does").exists());
}

#[test]
fn store_of_a_newer_format_version_is_refused_with_an_upgrade_hint() {
    let (s, store) = base_store();
    let marker = store.join("DSTORE");
    let mut b = std::fs::read(&marker).unwrap();
    b[8..12].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(&marker, &b).unwrap();
    let before = store_files(&store);
    s.write("more.csv", "id,name\n9,z\n");
    let r = s.run(&["snapshot", "-t", "t", "more.csv"]);
    assert_user_error(
        &r,
        &["DSTORE", "format version 2", "reads versions 1 to 1"],
        true,
        "snapshot into a newer store",
    );
    assert!(r.stderr.contains("upgrade dstore"), "{}", r.stderr);
    crate::assert_store_unchanged(&store, &before, "snapshot into a newer store");
    // The library says the same.
    match dstore::Store::open(&store) {
        Err(dstore::Error::UnsupportedFormat { found: 2, path, .. }) => {
            assert_eq!(path, marker);
        }
        other => panic!("expected UnsupportedFormat, got {other:?}"),
    }
}

#[test]
fn usage_errors_exit_1_not_2() {
    let (s, store) = base_store();
    let before = store_files(&store);
    for args in [
        &["snapshot", "-t", "t"][..],
        &["frobnicate"],
        &["cat", "--limit", "many", "-t", "t"],
    ] {
        let r = s.run(args);
        assert_eq!(r.code, 1, "{}: {r:?}", args.join(" "));
        assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    }
    let r = s.run(&["--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Usage"));
    crate::assert_store_unchanged(&store, &before, "usage errors");
}

// ---- the environment: permissions, disk space, signals, links ----------------------------

/// Makes a directory tree unwritable and undoes it on drop. Plain permissions first; when the
/// process can write anyway (root, CAP_DAC_OVERRIDE), the immutable attribute (`chattr +i`),
/// which stops root too. `None` when neither works.
struct ReadOnly {
    dir: PathBuf,
    chattr: bool,
}

impl ReadOnly {
    fn apply(dir: &Path) -> Option<ReadOnly> {
        let chmod = |mode: &str| {
            Command::new("chmod")
                .args(["-R", mode])
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success())
        };
        assert!(chmod("a-w"), "chmod failed");
        let probe = dir.join("write-probe");
        if std::fs::write(&probe, "x").is_err() {
            return Some(ReadOnly {
                dir: dir.to_owned(),
                chattr: false,
            });
        }
        std::fs::remove_file(&probe).unwrap();
        chmod("u+w");
        let ok = Command::new("chattr")
            .args(["-R", "+i"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok && std::fs::write(&probe, "x").is_err() {
            return Some(ReadOnly {
                dir: dir.to_owned(),
                chattr: true,
            });
        }
        let _ = std::fs::remove_file(&probe);
        let _ = Command::new("chattr").args(["-R", "-i"]).arg(dir).status();
        None
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.chattr {
            let _ = Command::new("chattr")
                .args(["-R", "-i"])
                .arg(&self.dir)
                .status();
        }
        let _ = Command::new("chmod")
            .args(["-R", "u+w"])
            .arg(&self.dir)
            .status();
    }
}

#[test]
fn read_only_store_refuses_writes_and_still_reads() {
    let (s, store) = base_store();
    let rows = s
        .run(&["cat", "-t", "t", "--format", "csv"])
        .ok()
        .to_owned();
    let log = s.run(&["log"]).ok().to_owned();
    // Readers of a read-only store cannot build a catalog; make them need one.
    std::fs::remove_dir_all(store.join("catalog")).unwrap();
    s.write("more.csv", "id,name\n9,z\n");
    let before = store_files(&store);
    let Some(guard) = ReadOnly::apply(&store) else {
        println!(
            "SKIPPED: neither permissions nor the immutable attribute stop this process from writing (running as root without chattr?)"
        );
        return;
    };
    println!(
        "store made read-only with {}",
        if guard.chattr { "chattr +i" } else { "chmod" }
    );
    let r = s.run(&["snapshot", "-t", "t", "more.csv"]);
    assert_user_error(&r, &[STORE], true, "snapshot into a read-only store");
    assert!(
        r.stderr.contains("permissions") || r.stderr.contains("may not be changed"),
        "{}",
        r.stderr
    );
    let r = s.run(&["tag", "v1"]);
    assert_user_error(&r, &[STORE], true, "tag in a read-only store");
    // Reads still work, from the log in memory.
    assert_eq!(s.run(&["log"]).ok(), log);
    assert_eq!(s.run(&["cat", "-t", "t", "--format", "csv"]).ok(), rows);
    s.run(&["verify", "--all"]).ok();
    s.run(&["checkout", "-o", "out"]).ok();
    // And through the library.
    let lib = dstore::Store::open(&store).expect("open read-only store");
    let head = lib.resolve("HEAD").expect("resolve HEAD");
    let snap = lib.snapshot(&head.id).expect("snapshot");
    let n: usize = snap
        .read_table("t", &dstore::snapshot::ReadOptions::default())
        .expect("read")
        .map(|b| b.expect("batch").num_rows())
        .sum();
    assert_eq!(n, 3);
    drop(guard);
    assert_eq!(store_files(&store), before, "a read-only store changed");
}

/// A CSV of `rows` rows that compress badly (so its segment is large), `id,name`.
fn big_csv(s: &Scratch, name: &str, rows: u64) -> PathBuf {
    use std::fmt::Write;
    let mut text = String::with_capacity(rows as usize * 24);
    text.push_str("id,name\n");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..rows {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        writeln!(text, "{i},{:016x}", x >> 3).unwrap();
    }
    s.write(name, text)
}

#[test]
fn disk_full_mid_ingest_commits_nothing() {
    let (s, store) = base_store();
    if !Command::new("prlimit")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|st| st.success())
    {
        println!("SKIPPED: prlimit (util-linux) is not installed");
        return;
    }
    big_csv(&s, "big.csv", 200_000);
    let before = store_files(&store);
    // RLIMIT_FSIZE makes every write past 256 KiB fail with EFBIG (SIGXFSZ ignored, so the
    // write returns the error instead of killing the process): the disk is "full" for files
    // this process writes, as it would be mid-segment.
    let mut c = Command::new("sh");
    c.args([
        "-c",
        "trap '' XFSZ; exec prlimit --fsize=262144 \"$@\"",
        "sh",
    ])
    .arg(dstore_bin())
    .args(["snapshot", "-t", "t", "big.csv", "-m", "too big"])
    .current_dir(s.path())
    .env_remove("DSTORE_STORE")
    .env("DSTORE_AUTHOR", "tester")
    .env("DSTORE_LOG", "error");
    let r = Run::of(&c.output().expect("spawn"));
    assert_user_error(
        &r,
        &["big.csv", "File too large", "tmp"],
        true,
        "disk full mid-ingest",
    );
    assert!(r.stderr.contains("free space"), "{}", r.stderr);
    assert_eq!(log_json(&s).len(), 2);
    assert_untouched(&s, &store, &before, "disk full mid-ingest");
}

#[test]
fn sigint_mid_ingest_leaves_the_store_unchanged() {
    let (s, store) = base_store();
    big_csv(&s, "big.csv", 3_000_000);
    let before = store_files(&store);
    // A shell that started us in the background may have left SIGINT ignored; restore it.
    let reset = Command::new("env")
        .args(["--default-signal=INT", "true"])
        .status()
        .is_ok_and(|st| st.success());
    let mut c = if reset {
        let mut c = Command::new("env");
        c.arg("--default-signal=INT").arg(dstore_bin());
        c
    } else {
        Command::new(dstore_bin())
    };
    c.args([
        "snapshot",
        "-t",
        "t",
        "big.csv",
        "--row-group-rows",
        "20000",
    ])
    .current_dir(s.path())
    .env_remove("DSTORE_STORE")
    .env("DSTORE_AUTHOR", "tester")
    .env("DSTORE_LOG", "error")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    // Wait until a segment is being staged, then interrupt.
    let tmp = store.join("tmp");
    let start = Instant::now();
    while std::fs::read_dir(&tmp).unwrap().next().is_none() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "dstore finished before it was interrupted; use a larger input"
        );
        assert!(start.elapsed() < Duration::from_mins(1), "nothing staged");
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("wait");
    // The ingest stops, removes what it staged and exits 130 (tests/tests/e2e/signals.rs).
    assert_eq!(
        out.status.code(),
        Some(130),
        "dstore was not stopped by SIGINT: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "tmp/ is not empty"
    );
    assert_eq!(log_json(&s).len(), 2, "a commit was made");
    assert_untouched(&s, &store, &before, "SIGINT mid-ingest");
    // The interrupted input goes in fine afterwards.
    s.run(&["snapshot", "-t", "t", "big.csv"]).ok();
    assert_eq!(crate::rows_at(&s, "HEAD", "t"), 3_000_003);
}

#[test]
fn segment_replaced_by_a_symlink_outside_the_store_is_reported() {
    let (s, store) = base_store();
    let show = s.run(&["show", "--segments", "--json"]).json();
    let t = show["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "t")
        .unwrap()
        .clone();
    let id = t["segment_list"][0]["id"].as_str().unwrap().to_owned();
    let seg = segment_path(&store, &id);
    let rows = s
        .run(&["cat", "-t", "t", "--format", "csv"])
        .ok()
        .to_owned();
    // The closest the format allows to "a manifest naming a path outside the store":
    // segments are named by id, so replace the file by a link to a copy outside.
    let outside = s.path().join("outside.parquet");
    std::fs::copy(&seg, &outside).unwrap();
    std::fs::remove_file(&seg).unwrap();
    std::os::unix::fs::symlink(&outside, &seg).unwrap();
    let rel = format!("segments/{}/{id}.parquet", &id[..2]);

    let r = s.run(&["verify"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains(&rel) && r.stdout.contains("symbolic link"),
        "{}",
        r.stdout
    );
    let r = s.run(&["checkout", "-o", "out"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains(&rel), "{}", r.stderr);
    // A read either refuses the link or returns exactly the rows the segment holds.
    let r = s.run(&["cat", "-t", "t", "--format", "csv"]);
    if r.code == 0 {
        assert_eq!(r.stdout, rows);
    } else {
        assert_eq!(r.code, 2, "{r:?}");
        assert!(r.stderr.contains(&rel), "{}", r.stderr);
    }
    // What the link points at changes: never wrong rows.
    crate::write_parquet(&outside, &id_name_batch(&[100, 200, 300]));
    let r = s.run(&["cat", "-t", "t", "--format", "csv"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains(&rel), "{}", r.stderr);
    let r = s.run(&["verify"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("hash to"), "{}", r.stdout);
}
