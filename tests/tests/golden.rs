//! Golden stores: every format version ever written must stay readable, with the same ids.
//!
//! `fixtures/golden/v1/store` was written by format version 1 (its catalog deliberately left
//! out, so opening it also proves the catalog is rebuilt from the log). `expected.json` holds
//! what that store must resolve to.

use std::path::Path;

use dstore::{Store, verify::VerifyOptions};
use dstore_e2e::{Scratch, repo_root};
use parquet::file::reader::{FileReader, SerializedFileReader};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

fn golden(version: &str) -> (Scratch, Store, serde_json::Value) {
    let src = repo_root().join("fixtures/golden").join(version);
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.join("expected.json")).unwrap()).unwrap();
    let scratch = Scratch::new();
    let root = scratch.path().join("store");
    copy_dir(&src.join("store"), &root);
    let store = Store::open(&root).unwrap();
    (scratch, store, expected)
}

#[test]
fn v1_store_resolves_to_the_same_ids_and_rows() {
    let (_s, store, expected) = golden("v1");
    assert_eq!(
        store.log(usize::MAX).unwrap().len() as u64,
        expected["records"].as_u64().unwrap()
    );
    for (tag, want) in expected["snapshots"].as_object().unwrap() {
        let res = store.resolve(tag).unwrap();
        assert_eq!(res.id.to_hex(), want["id"].as_str().unwrap(), "tag {tag}");
        let snap = store.snapshot(&res.id).unwrap();
        let tables = want["tables"].as_object().unwrap();
        assert_eq!(snap.tables().len(), tables.len());
        for (name, t) in tables {
            let got = snap.table(name).unwrap();
            assert_eq!(got.rows, t["rows"].as_u64().unwrap(), "{tag} {name} rows");
            assert_eq!(
                got.segments,
                t["segments"].as_u64().unwrap(),
                "{tag} {name} segments"
            );
            assert_eq!(
                got.bytes,
                t["bytes"].as_u64().unwrap(),
                "{tag} {name} bytes"
            );
            // Re-encoding the decoded manifest gives the same bytes, hence the same id.
            let (id, _) = snap.manifest().encode_with_id().unwrap();
            assert_eq!(id, res.id);
            // The segments are readable Parquet with the row counts the manifest states.
            for seg in snap.segments(name).unwrap() {
                let hex = seg.id.to_hex();
                let path = store
                    .root()
                    .join("segments")
                    .join(&hex[..2])
                    .join(format!("{hex}.parquet"));
                let r = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
                assert_eq!(r.metadata().file_metadata().num_rows() as u64, seg.rows);
            }
        }
    }
}

#[test]
fn v1_store_verifies_clean() {
    let (_s, store, _) = golden("v1");
    let report = store
        .verify(
            &VerifyOptions {
                all: true,
                ..VerifyOptions::default()
            },
            &|_| {},
        )
        .unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.snapshots, 2);
    assert_eq!(report.files, 3);
}

#[test]
fn v1_store_accepts_new_commits() {
    let (s, _store, _) = golden("v1");
    let out = s.run(&["--store", "store", "snapshot", "-t", "flights"]);
    assert_ne!(out.code, 0, "no inputs must be refused");
    let day = repo_root().join("fixtures/flights/2026-11-02.csv");
    let run = s.run(&[
        "--store",
        "store",
        "--json",
        "snapshot",
        "-t",
        "flights",
        day.to_str().unwrap(),
        "-m",
        "after",
    ]);
    let v = run.json();
    assert_eq!(v["seq"], 4);
    let shown = s
        .run(&["--store", "store", "--json", "show", "HEAD"])
        .json();
    assert_eq!(shown["tables"][1]["name"], "flights");
    assert_eq!(shown["tables"][1]["rows"], 6000);
}

/// The same inputs still give the same snapshot ids: v1's segments, adopted as Parquet files
/// into a fresh store with the same commits (v1: create `flights`; v2: append to `flights`,
/// create `extra`), reproduce the ids v1 of the format recorded. Adoption keeps a segment's
/// bytes, so this checks every byte of the manifests and pages the current code writes.
#[test]
fn the_same_inputs_give_the_ids_v1_recorded() {
    use dstore::{CommitOptions, IngestOptions, WriteMode};
    let (scratch, golden_store, expected) = golden("v1");
    let segment_files = |tag: &str, table: &str| -> Vec<std::path::PathBuf> {
        let snap = golden_store
            .snapshot(&golden_store.resolve(tag).unwrap().id)
            .unwrap();
        snap.segments(table)
            .unwrap()
            .iter()
            .map(|s| {
                let hex = s.id.to_hex();
                golden_store
                    .root()
                    .join("segments")
                    .join(&hex[..2])
                    .join(format!("{hex}.parquet"))
            })
            .collect()
    };
    let v1_flights = segment_files("v1", "flights");
    let v2_flights = segment_files("v2", "flights");
    assert!(v2_flights.starts_with(&v1_flights) && v2_flights.len() > v1_flights.len());
    let fresh = Store::init(scratch.path().join("fresh.dstore")).unwrap();
    let opts = IngestOptions::default();
    let mut tx = fresh.begin();
    tx.add_files("flights", &v1_flights, &opts).unwrap();
    let v1 = tx.commit(&CommitOptions::message("v1")).unwrap();
    assert_eq!(
        v1.id.to_hex(),
        expected["snapshots"]["v1"]["id"].as_str().unwrap()
    );
    let mut tx = fresh.begin();
    tx.set_mode("flights", WriteMode::Append).unwrap();
    tx.add_files("flights", &v2_flights[v1_flights.len()..], &opts)
        .unwrap();
    tx.add_files("extra", &segment_files("v2", "extra"), &opts)
        .unwrap();
    let v2 = tx.commit(&CommitOptions::message("v2")).unwrap();
    assert_eq!(
        v2.id.to_hex(),
        expected["snapshots"]["v2"]["id"].as_str().unwrap()
    );
}

/// The outboard of format version 1 (docs/format.md §15.1): decoded, checked against its
/// segment, and written again byte for byte from the segment's bytes.
#[test]
fn outboard_v1_decodes_verifies_and_is_reproduced() {
    use dstore::format::Outboard;
    use dstore::format::outboard::GROUP_LEN;
    let dir = repo_root().join("fixtures/golden/outboard-v1");
    let segment = std::fs::read(dir.join("segment.parquet")).unwrap();
    let stored = std::fs::read(dir.join("segment.outboard")).unwrap();
    let ob = Outboard::decode(&stored).unwrap();
    assert_eq!(
        ob.segment.to_hex(),
        "6f1e1f6d0b1d88a10ae6f53cb990b2dfaf23794ba1c883eb94e9781562007550"
    );
    assert_eq!(ob.segment.0, *blake3::hash(&segment).as_bytes());
    assert_eq!(ob.len, segment.len() as u64);
    assert_eq!(ob.cvs.len(), 6);
    assert!(ob.matches_segment());
    for (i, group) in segment.chunks(GROUP_LEN as usize).enumerate() {
        assert_eq!(ob.verify_span(i as u64 * GROUP_LEN, group), Ok(()));
    }
    assert_eq!(Outboard::of(&segment).encode(), stored);
}

/// Log records of version 2 (an expire record, a commit naming its upstream), use records,
/// retirements and the run index, as the build that introduced them wrote them: every later
/// build reads the same values and re-encodes the same bytes.
#[test]
fn records_v2_and_use_objects_stay_readable() {
    use dstore::format::{LogRecord, RecordKind, Retirement, UseRecord};
    let (_s, store, expected) = golden("records-v2");
    let log = store.log(usize::MAX).unwrap();
    assert_eq!(log.len() as u64, expected["records"].as_u64().unwrap());
    for r in &log {
        let path = store.root().join(format!("log/{:020}.rec", r.seq));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            LogRecord::decode(&bytes).unwrap().encode(),
            bytes,
            "record {}",
            r.seq
        );
        assert_eq!(
            u64::from(r.version()),
            expected["record_versions"][r.seq.to_string()]
                .as_u64()
                .unwrap(),
            "record {} version",
            r.seq
        );
    }
    let e = &expected["expired"];
    let expired_id = dstore::SnapshotId::from_hex(e["snapshot"].as_str().unwrap()).unwrap();
    let rec = log
        .iter()
        .find(|r| r.seq == e["seq"].as_u64().unwrap())
        .unwrap();
    assert!(
        matches!(&rec.kind, RecordKind::Expire { snapshots, purge: false } if snapshots == &[expired_id])
    );
    match store.snapshot(&expired_id) {
        Err(dstore::Error::Expired { author, reason, .. }) => {
            assert_eq!(author, e["author"].as_str().unwrap());
            assert_eq!(reason, e["reason"].as_str().unwrap());
        }
        other => panic!("the expired snapshot opened: {other:?}"),
    }
    let head = store.resolve("HEAD").unwrap().id;
    assert_eq!(head.to_hex(), expected["head"].as_str().unwrap());
    let up = store.upstream_of(&head).unwrap();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].store, expected["upstream"]["store"].as_str().unwrap());
    assert_eq!(
        up[0].snapshot.to_hex(),
        expected["upstream"]["snapshot"].as_str().unwrap()
    );
    assert_eq!(
        up[0].table.as_deref(),
        expected["upstream"]["table"].as_str()
    );
    // Uses: decoded values, retirement, and the same bytes re-encoded.
    let uses = store.uses_of(&expired_id).unwrap();
    let want = expected["uses_of_expired"].as_array().unwrap();
    assert_eq!(uses.len(), want.len());
    for (u, w) in uses.iter().zip(want) {
        assert_eq!(u.record.run, w["run"].as_str().unwrap());
        assert_eq!(serde_json::json!(u.record.tables), w["tables"]);
        assert_eq!(serde_json::json!(u.record.columns), w["columns"]);
        assert_eq!(u.record.filter.as_deref(), w["filter"].as_str());
        assert_eq!(u.record.seed, w["seed"].as_u64());
        assert_eq!(
            u.retired.as_ref().map(|r| r.reason.as_str()),
            w["retired_reason"].as_str()
        );
    }
    let v2 = dstore::SnapshotId::from_hex(expected["v2"].as_str().unwrap()).unwrap();
    let mut runs: Vec<String> = store
        .uses_of(&v2)
        .unwrap()
        .into_iter()
        .map(|u| u.record.run)
        .collect();
    runs.sort();
    let want: Vec<String> = expected["runs_of_v2"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(runs, want);
    assert_eq!(store.uses_by_run("exp-live").unwrap().len(), 1);
    for f in walk(&store.root().join("uses")) {
        let bytes = std::fs::read(&f).unwrap();
        if f.extension().is_some_and(|x| x == "use") {
            assert_eq!(
                UseRecord::decode(&bytes).unwrap().0.encode(),
                bytes,
                "{}",
                f.display()
            );
        } else {
            assert_eq!(
                Retirement::decode(&bytes).unwrap().encode(),
                bytes,
                "{}",
                f.display()
            );
        }
    }
    let r = store
        .verify(
            &VerifyOptions {
                all: true,
                ..VerifyOptions::default()
            },
            &|_| {},
        )
        .unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(r.uses, 4);
    assert_eq!(r.expired, 1);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The prepare description of version 1 (docs/format.md §18): read and written again byte for
/// byte, made again from its segment by a fresh prepare, and committed after a full check.
#[test]
fn prepare_description_v1_reads_and_commits() {
    use dstore::{CommitOptions, IngestOptions, Prepared, PreparedCheck};
    let dir = repo_root().join("fixtures/golden/prepare-v1");
    let text = std::fs::read_to_string(dir.join("prepare.json")).unwrap();
    let golden = Prepared::from_json(&text, &dir.join("prepare.json")).unwrap();
    assert_eq!(golden.to_json().unwrap(), text);
    assert_eq!((golden.segments(), golden.rows()), (1, 20_000));

    let scratch = tempfile::tempdir().unwrap();
    let store = Store::init(scratch.path().join("s.dstore")).unwrap();
    let segment = repo_root().join("fixtures/golden/outboard-v1/segment.parquet");
    let mut tx = store.begin();
    tx.add_files("flights", &[segment], &IngestOptions::default())
        .unwrap();
    let mut again = tx.prepare().unwrap();
    again.store = "golden".into();
    for t in &mut again.tables {
        t.schema_source = "segment.parquet".into();
        for s in &mut t.segments {
            s.source = "segment.parquet".into();
        }
    }
    assert_eq!(again.to_json().unwrap(), text);

    let mut tx = store.begin();
    tx.add_prepared(&golden, PreparedCheck::Full).unwrap();
    let out = tx.commit(&CommitOptions::message("golden")).unwrap();
    assert_eq!(out.changes[0].rows, 20_000);
}

/// A files table (docs/format.md §19) made from `fixtures/golden/files-v1/folder` with segments
/// of about 4 KiB: every later build must cut the same segments and write the same bytes
/// (the schema, the cut function, the mime table and the writer settings are all in the ids),
/// and check out the same files.
#[test]
fn files_table_v1_gives_the_same_ids_and_files() {
    let dir = repo_root().join("fixtures/golden/files-v1");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let scratch = Scratch::new();
    let folder = scratch.path().join("folder");
    copy_dir(&dir.join("folder"), &folder);
    let store = Store::init(scratch.path().join("s.dstore")).unwrap();
    let mut tx = store.begin();
    let opts = dstore::files::FilesOptions {
        target_segment_bytes: 4096,
        ..dstore::files::FilesOptions::default()
    };
    tx.add_folder("files", &folder, &opts).unwrap();
    let id = tx
        .commit(&dstore::CommitOptions::message("golden"))
        .unwrap()
        .id;
    let snap = store.snapshot(&id).unwrap();
    let segments: Vec<String> = snap
        .segments("files")
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e.id.to_hex(), e.rows))
        .collect();
    let got = serde_json::json!({"snapshot": id.to_hex(), "segments": segments});
    assert_eq!(got, expected, "files-v1: ids changed");
    let out = scratch.path().join("out");
    store
        .checkout(
            &snap,
            &out,
            &dstore::checkout::CheckoutOptions {
                format: dstore::checkout::CheckoutFormat::Files,
                ..Default::default()
            },
            &|_| {},
        )
        .unwrap();
    assert_eq!(
        dstore_e2e::tree(&out.join("files")),
        dstore_e2e::tree(&folder)
    );
}
