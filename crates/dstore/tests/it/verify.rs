//! `verify` finds damage to every kind of object and names the damaged file; reads of a
//! damaged object fail with `Error::Corrupted` naming it.

use std::path::{Path, PathBuf};

use dstore::{Error, SnapshotId, Store, verify::VerifyOptions, verify::VerifyReport};

use super::common::{self, append, commit_batch, fresh_store};

/// A store with three commits: `a` gets two segments, `b` one.
struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    first: SnapshotId,
    head: SnapshotId,
}

fn fixture() -> Fixture {
    let (dir, store) = fresh_store();
    let first = append(&store, "a", 1, 5).id;
    append(&store, "a", 2, 5);
    let head = append(&store, "b", 3, 4).id;
    Fixture {
        _dir: dir,
        store,
        first,
        head,
    }
}

pub(super) fn verify_all(store: &Store) -> VerifyReport {
    store
        .verify(
            &VerifyOptions {
                all: true,
                ..VerifyOptions::default()
            },
            &|_| {},
        )
        .expect("verify runs")
}

/// The report has problems, every one about `path`.
#[track_caller]
fn only_problem_is(report: &VerifyReport, path: &Path) {
    assert!(
        !report.ok(),
        "verify found nothing wrong with {}",
        path.display()
    );
    for p in &report.problems {
        assert_eq!(p.path, path, "problem {p:?}");
    }
}

fn head_page(store: &Store, head: &SnapshotId, table: &str) -> PathBuf {
    let snap = store.snapshot(head).unwrap();
    let id = snap.table(table).unwrap().pages[0].id;
    common::page_path(store.root(), &id)
}

#[test]
fn a_clean_store_verifies() {
    let f = fixture();
    let r = verify_all(&f.store);
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(r.records, 3);
    assert_eq!(r.snapshots, 3);
    // Pages: a=[1], a=[1,2] (shared by the last two snapshots), b=[3].
    assert_eq!(r.pages, 3);
    assert_eq!(r.files, 3);
    let sizes: u64 = f
        .store
        .snapshot(&f.head)
        .unwrap()
        .tables()
        .iter()
        .map(|t| t.bytes)
        .sum();
    assert_eq!(r.bytes, sizes);
    // HEAD only.
    let r = f.store.verify(&VerifyOptions::default(), &|_| {}).unwrap();
    assert!(r.ok());
    assert_eq!(r.snapshots, 1);
    // Progress reports every byte hashed.
    let seen = std::sync::atomic::AtomicU64::new(0);
    let r = f
        .store
        .verify(
            &VerifyOptions {
                all: true,
                ..VerifyOptions::default()
            },
            &|n| {
                seen.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            },
        )
        .unwrap();
    assert_eq!(seen.into_inner(), r.bytes);
}

#[test]
fn a_flipped_byte_in_a_segment_is_found() {
    let f = fixture();
    let seg = f.store.snapshot(&f.first).unwrap().segments("a").unwrap()[0].id;
    let path = common::segment_path(f.store.root(), &seg);
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    common::flip_byte(&path, len / 2);
    only_problem_is(&verify_all(&f.store), &path);
    // Verifying HEAD alone finds it too (HEAD still lists the segment), and so does a ref to
    // the first snapshot.
    let r = f.store.verify(&VerifyOptions::default(), &|_| {}).unwrap();
    only_problem_is(&r, &path);
    let r = f
        .store
        .verify(
            &VerifyOptions {
                refs: vec!["HEAD~2".into()],
                all: false,
            },
            &|_| {},
        )
        .unwrap();
    only_problem_is(&r, &path);
    let r = f
        .store
        .verify(
            &VerifyOptions {
                refs: vec![f.head.to_hex()],
                all: false,
            },
            &|_| {},
        )
        .unwrap();
    only_problem_is(&r, &path);
}

#[test]
fn a_flipped_byte_in_the_footer_of_a_segment_is_found() {
    let f = fixture();
    let seg = f.store.snapshot(&f.head).unwrap().segments("b").unwrap()[0].id;
    let path = common::segment_path(f.store.root(), &seg);
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    common::flip_byte(&path, len - 10);
    only_problem_is(&verify_all(&f.store), &path);
}

#[test]
fn a_missing_segment_is_found() {
    let f = fixture();
    let seg = f.store.snapshot(&f.head).unwrap().segments("b").unwrap()[0].id;
    let path = common::segment_path(f.store.root(), &seg);
    std::fs::remove_file(&path).unwrap();
    only_problem_is(&verify_all(&f.store), &path);
}

#[test]
fn a_flipped_byte_in_a_page_is_found() {
    let f = fixture();
    let path = head_page(&f.store, &f.head, "a");
    common::flip_byte(&path, 40);
    only_problem_is(&verify_all(&f.store), &path);
    // Reading the table's segments fails naming the page; the other table still reads.
    let snap = f.store.snapshot(&f.head).unwrap();
    match snap.segments("a") {
        Err(Error::Corrupted { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected Corrupted, got {other:?}"),
    }
    assert_eq!(snap.segments("b").unwrap().len(), 1);
    // The first snapshot has a page of its own and is fine.
    assert_eq!(
        f.store
            .snapshot(&f.first)
            .unwrap()
            .segments("a")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_missing_page_is_found() {
    let f = fixture();
    let path = head_page(&f.store, &f.head, "b");
    std::fs::remove_file(&path).unwrap();
    only_problem_is(&verify_all(&f.store), &path);
    match f.store.snapshot(&f.head).unwrap().segments("b") {
        Err(Error::Corrupted { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected Corrupted, got {other:?}"),
    }
}

#[test]
fn a_flipped_byte_in_a_manifest_is_found() {
    let f = fixture();
    let path = common::manifest_path(f.store.root(), &f.head);
    common::flip_byte(&path, 20);
    only_problem_is(&verify_all(&f.store), &path);
    match f.store.snapshot(&f.head) {
        Err(e @ Error::Corrupted { .. }) => {
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            let Error::Corrupted { path: p, .. } = e else {
                unreachable!()
            };
            assert_eq!(p, path);
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
    // Refs still resolve (they need the log, not the manifest); older snapshots still open.
    assert_eq!(f.store.resolve("HEAD").unwrap().id, f.head);
    assert!(f.store.snapshot(&f.first).is_ok());
}

#[test]
fn a_manifest_with_a_valid_but_different_body_is_found() {
    // A manifest replaced by another, well-formed manifest: it decodes, but does not hash to
    // its name.
    let f = fixture();
    let path = common::manifest_path(f.store.root(), &f.head);
    let other = std::fs::read(common::manifest_path(f.store.root(), &f.first)).unwrap();
    std::fs::write(&path, other).unwrap();
    only_problem_is(&verify_all(&f.store), &path);
    assert!(matches!(
        f.store.snapshot(&f.head),
        Err(Error::Corrupted { .. })
    ));
}

#[test]
fn every_damaged_object_is_listed_in_one_run() {
    let f = fixture();
    let seg = f.store.snapshot(&f.first).unwrap().segments("a").unwrap()[0].id;
    let seg_path = common::segment_path(f.store.root(), &seg);
    common::flip_byte(&seg_path, 100);
    // The page of the first snapshot (HEAD's pages are out of reach once its manifest is bad).
    let page = head_page(&f.store, &f.first, "a");
    common::flip_byte(&page, 50);
    let manifest = common::manifest_path(f.store.root(), &f.head);
    common::flip_byte(&manifest, 30);
    let r = verify_all(&f.store);
    let mut paths: Vec<PathBuf> = r.problems.iter().map(|p| p.path.clone()).collect();
    paths.sort();
    paths.dedup();
    let mut want = vec![seg_path, page, manifest];
    want.sort();
    assert_eq!(paths, want, "{:?}", r.problems);
}

#[test]
fn an_overwrite_keeps_old_segments_verifiable() {
    let f = fixture();
    let o = commit_batch(
        &f.store,
        "a",
        dstore::WriteMode::Overwrite,
        9,
        2,
        &dstore::CommitOptions::message("replace a"),
    )
    .unwrap();
    let r = verify_all(&f.store);
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(r.snapshots, 4);
    assert_eq!(r.files, 4, "old segments of `a` are still in history");
    let r = f
        .store
        .verify(
            &VerifyOptions {
                refs: vec![o.id.to_hex()],
                all: false,
            },
            &|_| {},
        )
        .unwrap();
    assert_eq!(r.files, 2, "HEAD has the new `a` segment and `b`'s");
}
