//! What a crash or a stray file leaves behind: dropped transactions, damaged or unindexed log
//! records, a damaged catalog, a half-built catalog.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arrow::array::{RecordBatch, RecordBatchIterator};
use arrow::error::ArrowError;
use dstore::format::RecordHash;
use dstore::{
    CommitOptions, Error, IngestOptions, Store, format::LogRecord, format::RecordKind,
    format::TagTarget, gc::GcOptions,
};

use super::common::{self, append, fresh_store, record_path};

/// Every file of the store but the catalog's, with its bytes.
fn state(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for d in ["DSTORE", "log", "segments", "manifests", "tmp"] {
        let files: BTreeSet<String> = if d == "DSTORE" {
            [d.to_owned()].into()
        } else {
            common::files_under(root, d)
        };
        for f in files {
            let b = std::fs::read(root.join(&f)).unwrap();
            out.push((f, b));
        }
    }
    out
}

#[test]
fn dropped_transaction_leaves_nothing() {
    let (_d, store) = fresh_store();
    let c1 = append(&store, "t", 1, 3);
    let before = state(store.root());
    {
        let mut tx = store.begin();
        let o = IngestOptions::default();
        tx.add_reader("t", common::reader(vec![common::batch(2, 3)]), &o)
            .unwrap();
        tx.add_reader("u", common::reader(vec![common::batch(3, 3)]), &o)
            .unwrap();
        assert_eq!(
            common::files_under(store.root(), "tmp").len(),
            2,
            "staged segments wait in tmp/"
        );
        // Dropped without commit.
    }
    assert!(
        common::files_under(store.root(), "tmp").is_empty(),
        "tmp/ is empty again"
    );
    assert_eq!(state(store.root()), before, "the store is unchanged");
    assert_eq!(store.resolve("HEAD").unwrap().id, c1.id);
    assert_eq!(store.log(usize::MAX).unwrap().len(), 1);
}

#[test]
fn a_failing_reader_leaves_nothing_staged() {
    let (_d, store) = fresh_store();
    append(&store, "t", 1, 3);
    let before = state(store.root());
    let mut tx = store.begin();
    let good = common::batch(2, 3);
    let items: Vec<Result<RecordBatch, ArrowError>> = vec![
        Ok(good),
        Err(ArrowError::ComputeError("the source broke".into())),
    ];
    let r = tx.add_reader(
        "t",
        RecordBatchIterator::new(items, common::schema()),
        &IngestOptions::default(),
    );
    assert!(
        matches!(&r, Err(Error::InvalidInput { detail, .. }) if detail.contains("the source broke")),
        "{r:?}"
    );
    assert!(
        common::files_under(store.root(), "tmp").is_empty(),
        "the partial segment is gone"
    );
    // Nothing was staged, so there is nothing to commit.
    let c = tx.commit(&CommitOptions::message("nothing"));
    assert!(matches!(c, Err(Error::NothingToCommit)), "{c:?}");
    assert_eq!(state(store.root()), before);
}

/// Asserts `r` is `Error::Corrupted` about `path`, and says so in its message.
#[track_caller]
fn assert_corrupted<T: std::fmt::Debug>(r: dstore::Result<T>, path: &Path, what: &str) {
    match r {
        Err(e @ Error::Corrupted { .. }) => {
            let Error::Corrupted { path: p, .. } = &e else {
                unreachable!()
            };
            assert_eq!(p, path, "{what}: the error names the damaged file");
            assert!(
                e.to_string().contains(&path.display().to_string()),
                "{what}: message {e} names {}",
                path.display()
            );
            assert!(e.is_corruption());
        }
        other => panic!(
            "{what}: expected Corrupted about {}, got {other:?}",
            path.display()
        ),
    }
}

/// A store with two records and `bytes` placed by hand as record 3.
fn damaged_log(bytes: &[u8]) -> (tempfile::TempDir, Store, PathBuf) {
    let (d, store) = fresh_store();
    append(&store, "t", 1, 3);
    store.set_tag("v1", "HEAD", false, "me").unwrap();
    let bad = record_path(store.root(), 3);
    std::fs::write(&bad, bytes).unwrap();
    (d, store, bad)
}

/// Every read and write fails with `Corrupted` naming record 3; verify lists it.
fn damaged_log_is_reported(bytes: &[u8]) {
    let (_d, store, bad) = damaged_log(bytes);
    assert_corrupted(store.log(usize::MAX), &bad, "log");
    assert_corrupted(store.resolve("HEAD"), &bad, "resolve HEAD");
    assert_corrupted(store.resolve("v1"), &bad, "resolve a tag");
    assert_corrupted(store.tags(), &bad, "tags");
    assert_corrupted(store.set_tag("v2", "HEAD", false, "me"), &bad, "set_tag");
    let c = common::commit_batch(
        &store,
        "t",
        dstore::WriteMode::Append,
        2,
        1,
        &CommitOptions::message("after"),
    );
    assert_corrupted(c, &bad, "commit");
    // Rebuilding the catalog reads the whole log: it fails the same way.
    assert_corrupted(store.reindex(), &bad, "reindex");
    std::fs::remove_dir_all(store.root().join("catalog")).unwrap();
    assert_corrupted(store.resolve("HEAD"), &bad, "resolve without a catalog");
    let report = common::verify_all(&store).unwrap();
    assert!(
        report.problems.iter().any(|p| p.path == bad),
        "{:?}",
        report.problems
    );
    // The damaged record was not replaced by a new one.
    assert_eq!(std::fs::read(&bad).unwrap(), bytes);
}

/// gc, the one command that deletes, refuses to run on a log it cannot trust, and removes
/// nothing (not even a stray temporary file).
fn gc_refuses_a_damaged_log(bytes: &[u8]) {
    let (_d, store, bad) = damaged_log(bytes);
    let leftover = store.root().join("tmp").join(".tmp-leftover");
    std::fs::write(&leftover, b"x").unwrap();
    let g = store.gc(&GcOptions {
        dry_run: false,
        grace: std::time::Duration::ZERO,
    });
    assert_corrupted(g, &bad, "gc");
    assert!(leftover.exists(), "gc removed files although it failed");
}

const GARBAGE: &[u8] = b"this is not a log record, but it is long enough to look like one";
const TRUNCATED: &[u8] = b"DSTLOG";

/// A valid record 2 of another store, to be put under the name of record 3.
fn misnamed_record() -> Vec<u8> {
    let (_d, store) = fresh_store();
    append(&store, "t", 1, 3);
    append(&store, "t", 2, 3);
    std::fs::read(record_path(store.root(), 2)).unwrap()
}

/// Well formed, seq 3, but naming the wrong predecessor.
fn chain_breaking_record() -> Vec<u8> {
    LogRecord {
        seq: 3,
        prev: RecordHash([7; 32]),
        time_micros: i64::MAX / 2,
        author: "me".into(),
        message: String::new(),
        kind: RecordKind::Tag {
            name: "x".into(),
            target: None,
            previous: Some(TagTarget {
                snapshot: dstore::SnapshotId([1; 32]),
                seq: 1,
            }),
        },
    }
    .encode()
}

#[test]
fn garbage_at_the_next_record_is_corruption() {
    damaged_log_is_reported(GARBAGE);
}

#[test]
fn a_truncated_record_is_corruption() {
    damaged_log_is_reported(TRUNCATED);
}

#[test]
fn a_record_under_the_wrong_name_is_corruption() {
    damaged_log_is_reported(&misnamed_record());
}

#[test]
fn a_record_that_breaks_the_chain_is_corruption() {
    damaged_log_is_reported(&chain_breaking_record());
}

#[test]
fn gc_refuses_a_log_with_garbage() {
    gc_refuses_a_damaged_log(GARBAGE);
}

#[test]
fn gc_refuses_a_log_with_a_truncated_record() {
    gc_refuses_a_damaged_log(TRUNCATED);
}

#[test]
fn gc_refuses_a_log_with_a_record_under_the_wrong_name() {
    gc_refuses_a_damaged_log(&misnamed_record());
}

#[test]
fn gc_refuses_a_log_whose_chain_is_broken() {
    gc_refuses_a_damaged_log(&chain_breaking_record());
}

/// A writer that crashed after its record landed and before it indexed it: the record counts.
#[test]
fn a_record_the_catalog_has_not_indexed_counts() {
    let (_d, store) = fresh_store();
    let c1 = append(&store, "t", 1, 3);
    let c2 = append(&store, "t", 2, 3);
    store.resolve("HEAD").unwrap();
    let prev_bytes = std::fs::read(record_path(store.root(), 2)).unwrap();
    let prev = LogRecord::decode(&prev_bytes).unwrap();
    let target = TagTarget {
        snapshot: c1.id,
        seq: 1,
    };
    let rec = LogRecord {
        seq: 3,
        prev: RecordHash::of(&prev_bytes),
        time_micros: prev.time_micros + 1,
        author: "crashed writer".into(),
        message: String::new(),
        kind: RecordKind::Tag {
            name: "v1".into(),
            target: Some(target),
            previous: None,
        },
    };
    std::fs::write(record_path(store.root(), 3), rec.encode()).unwrap();

    assert_eq!(store.tags().unwrap(), [("v1".to_owned(), target)]);
    assert_eq!(store.resolve("v1").unwrap().id, c1.id);
    assert_eq!(store.describe(&c1.id).unwrap().1, ["v1"]);
    let log = store.log(usize::MAX).unwrap();
    assert_eq!(log.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(log[0], rec);
    assert_eq!(store.log(1).unwrap(), std::slice::from_ref(&rec));
    // HEAD is still the last commit.
    assert_eq!(store.resolve("HEAD").unwrap().seq, Some(2));
    assert!(matches!(
        store.resolve("@3"),
        Err(Error::NotACommit { seq: 3 })
    ));

    // The next writer indexes it and takes the next number.
    let c4 = append(&store, "t", 3, 3);
    assert_eq!(c4.seq, 4);
    let log = store.log(usize::MAX).unwrap();
    let RecordKind::Commit { parent_commit, .. } = &log[0].kind else {
        panic!("not a commit")
    };
    assert_eq!(*parent_commit, Some(2), "the tag record is not a parent");
    assert_eq!(store.resolve("HEAD~1").unwrap().id, c2.id);
    assert!(matches!(
        store.set_tag("v1", "HEAD", false, "me"),
        Err(Error::TagExists { .. })
    ));
    assert_eq!(store.reindex().unwrap(), 4);
    assert_eq!(store.tags().unwrap(), [("v1".to_owned(), target)]);
    let report = common::verify_all(&store).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
}

#[test]
fn a_damaged_catalog_is_rebuilt_from_the_log() {
    let (_d, store) = fresh_store();
    let c1 = append(&store, "t", 1, 3);
    store.set_tag("v1", "HEAD", false, "me").unwrap();
    let c2 = append(&store, "t", 2, 3);
    let cat = store.root().join("catalog");
    // Every file of the catalog overwritten with junk.
    for f in std::fs::read_dir(&cat).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            std::fs::write(&p, b"junk").unwrap();
        }
    }
    assert_eq!(store.resolve("HEAD").unwrap().id, c2.id);
    assert_eq!(store.resolve("v1").unwrap().id, c1.id);
    assert_eq!(store.log(usize::MAX).unwrap().len(), 3);
    // And a writer copes too.
    for f in std::fs::read_dir(&cat).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            std::fs::write(&p, b"junk").unwrap();
        }
    }
    let c4 = append(&store, "t", 3, 3);
    assert_eq!(c4.seq, 4);
    assert_eq!(store.resolve("HEAD~1").unwrap().id, c2.id);
}

#[test]
fn a_half_built_catalog_is_ignored() {
    let (_d, store) = fresh_store();
    let c1 = append(&store, "t", 1, 3);
    std::fs::remove_dir_all(store.root().join("catalog")).unwrap();
    // A rebuild that crashed midway.
    let half = store.root().join("catalog.rebuild");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("CURRENT"), b"MANIFEST-000009\n").unwrap();
    std::fs::write(half.join("000042.sst"), b"half written").unwrap();
    // A fresh open, as another process would (this `store` keeps the catalog it read before).
    let store = Store::open(store.root()).unwrap();
    assert_eq!(store.resolve("HEAD").unwrap().id, c1.id);
    assert!(!half.exists(), "the rebuild replaced the leftover");
    assert_eq!(append(&store, "t", 2, 1).seq, 2);
}

#[test]
fn a_store_without_its_marker_is_not_a_store() {
    let (d, store) = fresh_store();
    append(&store, "t", 1, 3);
    let root = store.root().to_owned();
    std::fs::remove_file(root.join("DSTORE")).unwrap();
    assert!(matches!(Store::open(&root), Err(Error::NotAStore { .. })));
    // init refuses a non-empty directory.
    assert!(matches!(
        Store::init(&root),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        Store::open(d.path().join("missing")),
        Err(Error::NotAStore { .. })
    ));
    std::fs::write(root.join("DSTORE"), b"garbage").unwrap();
    let e = Store::open(&root).unwrap_err();
    assert!(
        e.is_corruption() || matches!(e, Error::UnsupportedFormat { .. }),
        "{e:?}"
    );
}

#[test]
fn bad_names_fail_before_anything_is_written() {
    let (_d, store) = fresh_store();
    append(&store, "t", 1, 3);
    let before = state(store.root());
    // An invalid tag on a commit: refused before any segment is placed.
    let mut tx = store.begin();
    tx.add_reader(
        "t",
        common::reader(vec![common::batch(2, 3)]),
        &IngestOptions::default(),
    )
    .unwrap();
    let r = tx.commit(&CommitOptions {
        tags: vec!["bad tag".into()],
        ..CommitOptions::message("x")
    });
    assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    assert_eq!(state(store.root()), before);
    // Invalid tag names for set_tag; a tag that reads as an id prefix.
    for name in ["", "HEAD", "a..b", "-x", "deadbeef", "x~1", "/x"] {
        let r = store.set_tag(name, "HEAD", false, "me");
        assert!(
            matches!(r, Err(Error::InvalidInput { .. })),
            "{name:?}: {r:?}"
        );
    }
    // Invalid table names.
    let mut tx = store.begin();
    for name in ["", "../x", ".hidden", "a/b"] {
        let r = tx.add_reader(
            name,
            common::reader(vec![common::batch(3, 1)]),
            &IngestOptions::default(),
        );
        assert!(
            matches!(r, Err(Error::InvalidInput { .. })),
            "{name:?}: {r:?}"
        );
    }
    drop(tx);
    // An empty transaction.
    let r = store.begin().commit(&CommitOptions::message("empty"));
    assert!(matches!(r, Err(Error::NothingToCommit)), "{r:?}");
    // A reader without rows, into the existing table: nothing staged, nothing to commit.
    let mut tx = store.begin();
    let r = tx.add_reader("t", common::reader(vec![]), &IngestOptions::default());
    assert_eq!(r.unwrap(), 0);
    let r = tx.commit(&CommitOptions::message("nothing"));
    assert!(matches!(r, Err(Error::NothingToCommit)), "{r:?}");
    assert_eq!(state(store.root()), before, "nothing was written");
    assert_eq!(store.log(usize::MAX).unwrap().len(), 1);
}

/// The catalog is derived from the log: rebuilding it must give the same answers, including
/// the first commit that added each segment.
#[test]
fn segment_info_is_the_same_after_a_rebuild() {
    let (_d, store) = fresh_store();
    let c1 = append(&store, "t", 1, 3);
    append(&store, "t", 2, 4);
    append(&store, "t", 3, 5);
    let segs = store
        .snapshot(&store.resolve("HEAD").unwrap().id)
        .unwrap()
        .segments("t")
        .unwrap();
    let infos = |store: &Store| -> Vec<Option<(u64, u64, u64)>> {
        segs.iter()
            .map(|e| store.segment_info(&e.id).unwrap())
            .collect()
    };
    let want: Vec<Option<(u64, u64, u64)>> = segs
        .iter()
        .zip(1..)
        .map(|(e, seq)| Some((e.bytes, e.rows, seq)))
        .collect();
    assert_eq!(infos(&store), want, "as indexed commit by commit");
    assert_eq!(
        store.segment_info(&segs[0].id).unwrap().map(|i| i.2),
        Some(1)
    );
    assert_eq!(c1.seq, 1);
    store.reindex().unwrap();
    assert_eq!(infos(&store), want, "after reindex");
    std::fs::remove_dir_all(store.root().join("catalog")).unwrap();
    assert_eq!(infos(&store), want, "after the catalog was deleted");
}

/// A catalog written by an older dstore (no `m/version` key: no commit-ordinal index) is
/// rebuilt when opened, and `HEAD~N` resolves through the rebuilt index like walking parents.
#[test]
fn a_catalog_of_an_older_layout_is_rebuilt() {
    let (_dir, store) = fresh_store();
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(append(&store, "t", i, 3).id);
        if i % 4 == 0 {
            store
                .set_tag(&format!("t{i}"), "HEAD", false, "tester")
                .unwrap();
        }
    }
    let root = store.root().to_owned();
    drop(store);
    let cat = root.join("catalog");
    {
        let db = rocksdb::DB::open_default(&cat).unwrap();
        assert!(
            db.get(b"m/version").unwrap().is_some(),
            "the catalog has a version"
        );
        db.delete(b"m/version").unwrap();
        db.delete(b"m/commits").unwrap();
        for k in 1..=12u64 {
            let mut key = b"c/".to_vec();
            key.extend_from_slice(&k.to_be_bytes());
            db.delete(key).unwrap();
        }
    }
    let store = Store::open(&root).unwrap();
    for back in 0..12 {
        assert_eq!(
            store.resolve(&format!("HEAD~{back}")).unwrap().id,
            ids[11 - back],
            "HEAD~{back}"
        );
    }
    assert_eq!(store.resolve("t4~3").unwrap().id, ids[1]);
    let err = store.resolve("HEAD~12").unwrap_err().to_string();
    assert!(err.contains("only 11 commit(s) precede"), "{err}");
    drop(store);
    {
        let db = rocksdb::DB::open_default(&cat).unwrap();
        assert!(
            db.get(b"m/version").unwrap().is_some(),
            "rebuilt with the current layout"
        );
        // An older dstore indexing a record moves m/last_seq but not m/ordinals_through.
        db.delete(b"m/ordinals_through").unwrap();
    }
    let store = Store::open(&root).unwrap();
    assert_eq!(store.resolve("HEAD~5").unwrap().id, ids[6]);
    drop(store);
    let db = rocksdb::DB::open_default(&cat).unwrap();
    assert_eq!(
        db.get(b"m/ordinals_through").unwrap(),
        db.get(b"m/last_seq").unwrap(),
        "rebuilt: the ordinals cover the log again"
    );
}
