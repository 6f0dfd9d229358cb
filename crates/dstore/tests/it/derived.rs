//! Derived objects (docs/format.md §15): a commit writes each new segment's outboard beside it;
//! `verify` checks it against the segment's bytes; `push` carries it; a missing one is not
//! damage (older stores have none), a damaged one is found and named.

use std::path::{Path, PathBuf};

use dstore::format::Outboard;
use dstore::storage::RemoteOptions;
use dstore::transfer::TransferOptions;
use dstore::{SegmentId, Store};

use super::common::{append, fresh_store, segment_path};
use super::verify::verify_all;

fn outboard_path(root: &Path, id: &SegmentId) -> PathBuf {
    let hex = id.to_hex();
    root.join("derived")
        .join(&hex[..2])
        .join(format!("{hex}.outboard"))
}

fn segments(store: &Store) -> Vec<SegmentId> {
    let snap = store.snapshot(&store.resolve("HEAD").unwrap().id).unwrap();
    snap.segments("t").unwrap().iter().map(|e| e.id).collect()
}

#[test]
fn every_commit_writes_outboards_that_verify_checks() {
    let (_dir, store) = fresh_store();
    // 3 segments: one of a single chunk group, two of several.
    append(&store, "t", 1, 10);
    append(&store, "t", 2, 40_000);
    append(&store, "t", 3, 70_000);
    let ids = segments(&store);
    assert_eq!(ids.len(), 3);
    for id in &ids {
        let ob =
            Outboard::decode(&std::fs::read(outboard_path(store.root(), id)).unwrap()).unwrap();
        let seg = std::fs::read(segment_path(store.root(), id)).unwrap();
        // The outboard is a function of the segment's bytes, and merges to its id.
        assert_eq!(ob, Outboard::of(&seg));
        assert_eq!(ob.segment, *id);
        assert!(ob.matches_segment());
    }
    let r = verify_all(&store);
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!((r.outboards, r.outboards_missing), (3, 0));

    // Damage: a flipped byte, a truncation, another segment's outboard under this name.
    let victim = outboard_path(store.root(), &ids[2]);
    let good = std::fs::read(&victim).unwrap();
    let other = std::fs::read(outboard_path(store.root(), &ids[1])).unwrap();
    let mut flipped = good.clone();
    flipped[60] ^= 1;
    for bad in [flipped, good[..good.len() - 1].to_vec(), other] {
        std::fs::write(&victim, &bad).unwrap();
        let r = verify_all(&store);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert_eq!(r.problems[0].path, victim);
    }
    // Missing: counted, not a problem.
    std::fs::remove_file(&victim).unwrap();
    let r = verify_all(&store);
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!((r.outboards, r.outboards_missing), (2, 1));
    // The next commit that places the same segment writes it back (the same rows make the same
    // segment bytes; here in another table).
    append(&store, "u", 3, 70_000);
    assert_eq!(std::fs::read(&victim).unwrap(), good);
}

#[test]
fn push_carries_outboards_and_gc_keeps_them() {
    let (dir, store) = fresh_store();
    append(&store, "t", 1, 50_000);
    append(&store, "t", 2, 20);
    let dst = Store::init_location(
        dir.path().join("dst.dstore").to_str().unwrap(),
        &RemoteOptions::default(),
    )
    .unwrap();
    store
        .push_to(&dst, &TransferOptions::default(), &|_| {})
        .unwrap();
    for id in segments(&dst) {
        let key = format!("derived/{}/{}.outboard", &id.to_hex()[..2], id.to_hex());
        let bytes = dst.storage().get(&key).unwrap();
        assert_eq!(
            bytes,
            std::fs::read(outboard_path(store.root(), &id)).unwrap()
        );
    }
    let r = verify_all(&dst);
    assert!(r.ok() && r.outboards == 2, "{r:?}");
    let gc = dst
        .gc(&dstore::gc::GcOptions {
            dry_run: false,
            grace: std::time::Duration::ZERO,
        })
        .unwrap();
    assert!(
        gc.removed.iter().all(|(k, _)| !k.starts_with("derived/")),
        "{:?}",
        gc.removed
    );
    assert_eq!(verify_all(&dst).outboards, 2);
}
