//! A store never follows a symbolic link inside itself. Object paths are built from hex ids,
//! so the only way the store's own contents could send dstore outside it is a link: a segment,
//! manifest, record or directory replaced by one. Each is refused as corruption naming the
//! link, on reads, writes and gc, even when the link points at the right bytes.

#![cfg(unix)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dstore::{Error, Store, gc::GcOptions};

use super::common::{append, fresh_store, manifest_path, record_path, segment_path};

/// Asserts `r` is a corruption error naming `path` as a symbolic link (the scan path may wrap
/// it in an error about the segment it was reading).
fn assert_link_refused<T: std::fmt::Debug>(r: dstore::Result<T>, path: &Path) {
    match r {
        Err(e @ Error::Corrupted { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&format!(
                    "{} is corrupted: is a symbolic link",
                    path.display()
                )),
                "{msg}"
            );
        }
        other => panic!(
            "expected a corruption error naming {}, got {other:?}",
            path.display()
        ),
    }
}

/// Moves `path` out of the store into `outside` and puts a link to it in its place: the
/// bytes reached through the link are exactly the original ones.
fn replace_with_link(path: &Path, outside: &Path) -> PathBuf {
    let target = outside.join(path.file_name().unwrap());
    std::fs::rename(path, &target).unwrap();
    symlink(&target, path).unwrap();
    target
}

/// Every row of table `t` at `id`, through the scan path.
fn scan_rows(store: &Store, id: &dstore::SnapshotId) -> dstore::Result<usize> {
    let mut n = 0;
    for b in store.snapshot(id)?.scan("t")?.batches()? {
        n += b?.num_rows();
    }
    Ok(n)
}

#[test]
fn a_segment_replaced_by_a_link_is_refused() {
    let (dir, store) = fresh_store();
    let c = append(&store, "t", 1, 5);
    let seg = store.snapshot(&c.id).unwrap().segments("t").unwrap()[0].id;
    let path = segment_path(store.root(), &seg);
    assert_eq!(scan_rows(&store, &c.id).unwrap(), 5);
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    replace_with_link(&path, &outside);
    assert_link_refused(scan_rows(&store, &c.id), &path);
    // gc neither follows nor removes it, and a re-ingest of the same bytes does not write
    // through it.
    store
        .gc(&GcOptions {
            dry_run: false,
            grace: Duration::ZERO,
        })
        .unwrap();
    assert!(outside.join(path.file_name().unwrap()).is_file());
    let mut tx = store.begin();
    tx.add_reader(
        "t",
        super::common::reader(vec![super::common::batch(1, 5)]),
        &dstore::IngestOptions {
            allow_duplicates: true,
            ..dstore::IngestOptions::default()
        },
    )
    .unwrap();
    assert_link_refused(tx.commit(&dstore::CommitOptions::message("again")), &path);
}

#[test]
fn a_manifest_replaced_by_a_link_is_refused() {
    let (dir, store) = fresh_store();
    let c = append(&store, "t", 1, 5);
    let path = manifest_path(store.root(), &c.id);
    replace_with_link(&path, dir.path());
    assert_link_refused(store.snapshot(&c.id), &path);
    assert_link_refused(store.resolve(&c.id.to_hex()), &path);
}

#[test]
fn a_log_record_replaced_by_a_link_is_refused() {
    let (dir, store) = fresh_store();
    append(&store, "t", 1, 5);
    let path = record_path(store.root(), 1);
    replace_with_link(&path, dir.path());
    std::fs::remove_dir_all(store.root().join("catalog")).unwrap();
    assert_link_refused(store.log(10), &path);
}

/// A link in place of a `<aa>/` directory: reads refuse it, and gc never lists or deletes
/// through it (a file outside the store in the linked directory survives).
#[test]
fn a_fan_out_directory_replaced_by_a_link_is_refused() {
    let (dir, store) = fresh_store();
    let c = append(&store, "t", 1, 5);
    let seg = store.snapshot(&c.id).unwrap().segments("t").unwrap()[0].id;
    let aa = segment_path(store.root(), &seg)
        .parent()
        .unwrap()
        .to_owned();
    let outside = dir.path().join("elsewhere");
    std::fs::rename(&aa, &outside).unwrap();
    std::fs::write(outside.join("precious"), b"not the store's").unwrap();
    symlink(&outside, &aa).unwrap();
    assert_link_refused(scan_rows(&store, &c.id), &aa);
    // verify reports the segment even though the bytes behind the link are right.
    let report = store
        .verify(
            &dstore::verify::VerifyOptions {
                refs: Vec::new(),
                all: true,
            },
            &|_| {},
        )
        .unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.path == segment_path(store.root(), &seg)),
        "{report:?}"
    );
    store
        .gc(&GcOptions {
            dry_run: false,
            grace: Duration::ZERO,
        })
        .unwrap();
    assert_eq!(
        std::fs::read(outside.join("precious")).unwrap(),
        b"not the store's"
    );
}

/// A link in place of a top-level directory (or the marker) makes the store refuse to open,
/// so nothing — verify and checkout included — reads or writes through it.
#[test]
fn a_top_level_directory_replaced_by_a_link_is_refused_at_open() {
    for name in ["segments", "manifests", "log", "tmp", "catalog", "DSTORE"] {
        let (dir, store) = fresh_store();
        append(&store, "t", 1, 5);
        let root = store.root().to_owned();
        drop(store);
        let path = root.join(name);
        let outside = dir.path().join("moved");
        std::fs::rename(&path, &outside).unwrap();
        symlink(&outside, &path).unwrap();
        assert_link_refused(Store::open(&root), &path);
    }
}

/// The store's root itself may be a link (a store kept on another disk).
#[test]
fn the_root_may_be_a_link() {
    let (dir, store) = fresh_store();
    let c = append(&store, "t", 1, 5);
    let link = dir.path().join("link.dstore");
    symlink(store.root(), &link).unwrap();
    let via = Store::open(&link).unwrap();
    assert_eq!(scan_rows(&via, &c.id).unwrap(), 5);
    append(&via, "t", 2, 1);
}
