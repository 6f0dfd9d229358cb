//! `gc` removes exactly the objects no commit in the log reaches, once they are older than the
//! grace period, and never anything reachable.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Int32Array, RecordBatch, RecordBatchIterator};
use arrow::datatypes::{DataType, Field, Schema};
use dstore::format::{Manifest, SegmentList};
use dstore::{CommitOptions, Error, Store, WriteMode, gc::GcOptions};

use super::common::{self, append, commit_batch, fresh_store};

pub(super) fn objects(root: &Path) -> BTreeSet<String> {
    let mut all = common::files_under(root, "segments");
    all.extend(common::files_under(root, "manifests"));
    all.extend(common::files_under(root, "derived"));
    all
}

pub(super) fn everything(root: &Path) -> BTreeSet<String> {
    let mut all = objects(root);
    all.extend(common::files_under(root, "log"));
    all.extend(common::files_under(root, "tmp"));
    all
}

/// Every object some commit in the log reaches, computed from the public API.
pub(super) fn reachable(store: &Store) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let rel = |p: &Path| {
        p.strip_prefix(store.root())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/")
    };
    for r in store.log(usize::MAX).unwrap() {
        let Some(id) = r.snapshot() else { continue };
        out.insert(rel(&common::manifest_path(store.root(), &id)));
        let snap = store.snapshot(&id).unwrap();
        for t in snap.tables() {
            for p in &t.pages {
                out.insert(rel(&common::page_path(store.root(), &p.id)));
            }
            for e in snap.segments(&t.name).unwrap() {
                out.insert(rel(&common::segment_path(store.root(), &e.id)));
                // Every commit writes its segments' outboards (docs/format.md §15) and, for
                // data ingest decoded, their profiles (§16).
                let hex = e.id.to_hex();
                out.insert(format!("derived/{}/{hex}.outboard", &hex[..2]));
                out.insert(format!("derived/{}/{hex}.profile", &hex[..2]));
            }
        }
    }
    out
}

fn gc(store: &Store, dry_run: bool, grace: Duration) -> dstore::gc::GcReport {
    store.gc(&GcOptions { dry_run, grace }).expect("gc")
}

pub(super) fn verify_all_ok(store: &Store) {
    let r = common::verify_all(store).unwrap();
    assert!(r.ok(), "{:?}", r.problems);
}

/// Appends, an overwrite, a second table, tags: everything stays reachable from some commit.
fn history(store: &Store) {
    append(store, "a", 1, 3);
    append(store, "a", 2, 3);
    store.set_tag("v1", "HEAD", false, "me").unwrap();
    commit_batch(
        store,
        "a",
        WriteMode::Overwrite,
        3,
        2,
        &CommitOptions::message("replace"),
    )
    .unwrap();
    append(store, "b", 4, 1);
    store.delete_tag("v1", "me").unwrap();
}

#[test]
fn nothing_reachable_is_removed() {
    let (_d, store) = fresh_store();
    history(&store);
    let before = everything(store.root());
    let want = reachable(&store);
    assert_eq!(objects(store.root()), want, "every object is reachable");
    let r = gc(&store, false, Duration::ZERO);
    assert!(
        r.removed.is_empty(),
        "gc removed reachable objects: {:?}",
        r.removed
    );
    assert_eq!(r.bytes, 0);
    assert_eq!(r.kept_young, 0);
    assert_eq!(r.reachable, want.len());
    assert_eq!(everything(store.root()), before);
    verify_all_ok(&store);
    // Without a catalog, the same.
    std::fs::remove_dir_all(store.root().join("catalog")).unwrap();
    let r = gc(&store, false, Duration::ZERO);
    assert!(r.removed.is_empty(), "{:?}", r.removed);
    verify_all_ok(&store);
}

#[test]
fn unreferenced_objects_are_removed_after_the_grace_period() {
    let (_d, store) = fresh_store();
    history(&store);
    commit_batch(
        &store,
        "a",
        WriteMode::Append,
        5,
        2,
        &CommitOptions {
            tags: vec!["v2".into()],
            ..CommitOptions::message("tagged")
        },
    )
    .unwrap();
    let o = dstore::IngestOptions::default();

    // A commit refused for a tag that exists places nothing.
    let before = everything(store.root());
    let mut tx = store.begin();
    tx.add_reader("a", common::reader(vec![common::batch(6, 2)]), &o)
        .unwrap();
    let r = tx.commit(&CommitOptions {
        tags: vec!["v2".into()],
        ..CommitOptions::message("tag taken")
    });
    assert!(matches!(r, Err(Error::TagExists { .. })), "{r:?}");
    assert_eq!(
        everything(store.root()),
        before,
        "a refused commit left files"
    );

    // A commit that fails at the last step places its segments first: it creates table `c`,
    // which another commit creates meanwhile with another type.
    let mut tx = store.begin();
    tx.add_reader("a", common::reader(vec![common::batch(6, 2)]), &o)
        .unwrap();
    tx.add_reader("c", common::reader(vec![common::batch(7, 2)]), &o)
        .unwrap();
    let int32 = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    let other =
        RecordBatch::try_new(int32.clone(), vec![Arc::new(Int32Array::from(vec![1]))]).unwrap();
    let mut tx2 = store.begin();
    tx2.add_reader("c", RecordBatchIterator::new([Ok(other)], int32), &o)
        .unwrap();
    let c = tx2.commit(&CommitOptions::message("c as Int32")).unwrap();
    let live: BTreeSet<String> = everything(store.root())
        .into_iter()
        .filter(|k| !k.starts_with("tmp/"))
        .collect();
    let r = tx.commit(&CommitOptions::message("too late"));
    assert!(matches!(r, Err(Error::SchemaMismatch { .. })), "{r:?}");
    let failed: BTreeSet<String> = everything(store.root())
        .difference(&live)
        .cloned()
        .collect();
    // Its two segments, and the page of `a` written before `c` was refused.
    let segs = failed.iter().filter(|k| k.starts_with("segments/")).count();
    assert_eq!(segs, 2, "the failed commit's segments: {failed:?}");
    // Each with its outboard, placed right after it (docs/format.md §15).
    let outboards = failed.iter().filter(|k| k.ends_with(".outboard")).count();
    assert_eq!(outboards, 2, "the failed commit's outboards: {failed:?}");
    let profiles = failed.iter().filter(|k| k.ends_with(".profile")).count();
    assert_eq!(profiles, 2, "the failed commit's profiles: {failed:?}");
    assert!(
        failed.iter().all(|k| k.starts_with("segments/")
            || k.starts_with("derived/")
            || k.ends_with(".seglist")),
        "{failed:?}"
    );
    assert_eq!(
        store.resolve("HEAD").unwrap().id,
        c.id,
        "the failed commit changed nothing"
    );

    // Unreferenced objects of the other kinds, as a crashed or racing writer leaves them.
    let root = store.root().to_owned();
    let (mid, mbytes) = Manifest::default().encode_with_id().unwrap();
    let mpath = common::manifest_path(&root, &mid);
    std::fs::create_dir_all(mpath.parent().unwrap()).unwrap();
    std::fs::write(&mpath, mbytes).unwrap();
    let head = store.snapshot(&c.id).unwrap();
    let entry = head.segments("a").unwrap()[0].clone();
    let (pid, pbytes) = SegmentList {
        entries: vec![entry.clone(), entry],
    }
    .encode_with_id();
    let ppath = common::page_path(&root, &pid);
    std::fs::create_dir_all(ppath.parent().unwrap()).unwrap();
    std::fs::write(&ppath, pbytes).unwrap();
    std::fs::write(root.join("tmp/.tmp-crashed-ingest"), b"partial segment").unwrap();
    std::fs::write(root.join("log/.tmp-crashed-commit"), b"partial record").unwrap();
    let mut garbage = failed.clone();
    for p in [&mpath, &ppath] {
        garbage.insert(
            p.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/"),
        );
    }
    garbage.insert("tmp/.tmp-crashed-ingest".into());
    garbage.insert("log/.tmp-crashed-commit".into());
    let all = everything(&root);
    assert_eq!(
        all.difference(&live).cloned().collect::<BTreeSet<_>>(),
        garbage
    );
    let sizes: u64 = garbage
        .iter()
        .map(|k| std::fs::metadata(root.join(k)).unwrap().len())
        .sum();
    let want_reachable = reachable(&store);

    // The default grace period keeps young garbage.
    let r = gc(&store, false, GcOptions::default().grace);
    assert!(r.removed.is_empty(), "{:?}", r.removed);
    assert_eq!(r.kept_young, garbage.len());
    assert_eq!(r.reachable, want_reachable.len());
    assert_eq!(everything(&root), all);

    // A dry run reports exactly the garbage and removes nothing.
    let r = gc(&store, true, Duration::ZERO);
    let reported: BTreeSet<String> = r.removed.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(reported, garbage);
    assert_eq!(r.bytes, sizes);
    assert_eq!(r.kept_young, 0);
    assert_eq!(everything(&root), all, "a dry run removed files");

    // The real run removes exactly that.
    let r = gc(&store, false, Duration::ZERO);
    let removed: BTreeSet<String> = r.removed.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(removed, garbage);
    assert_eq!(r.bytes, sizes);
    assert_eq!(everything(&root), live, "only the garbage is gone");
    assert_eq!(objects(&root), want_reachable);
    verify_all_ok(&store);
    for rec in store.log(usize::MAX).unwrap() {
        if let Some(id) = rec.snapshot() {
            let snap = store.snapshot(&id).unwrap();
            for t in snap.tables() {
                snap.segments(&t.name).unwrap();
            }
        }
    }
    // A second run finds nothing.
    let r = gc(&store, false, Duration::ZERO);
    assert!(r.removed.is_empty(), "{:?}", r.removed);

    // The data whose segments were collected can be committed again.
    let mut tx = store.begin();
    tx.add_reader("a", common::reader(vec![common::batch(6, 2)]), &o)
        .unwrap();
    tx.commit(&CommitOptions::message("again")).unwrap();
    verify_all_ok(&store);
    assert_eq!(objects(&root), reachable(&store));
}

/// How the segment a commit is about to reference came to be older than the grace period.
#[derive(Clone, Copy, Debug)]
enum Old {
    /// The same content was left in `segments/` by an earlier failed commit, hours ago.
    Leftover,
    /// The ingest was long: the segment was staged hours before the commit.
    LongIngest,
}

/// Sets a file's modification time to two hours ago.
fn backdate(path: &Path) {
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_hours(2);
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(two_hours_ago))
        .unwrap_or_else(|e| panic!("backdate {}: {e}", path.display()));
}

/// A gc with the default grace period runs while a commit is between placing its segments and
/// writing its record (held there by another writer holding the catalog lock). Whatever it
/// removes, the commit that lands must find every segment it references.
fn gc_during_a_commit(old: Old) {
    let (_d, store) = fresh_store();
    append(&store, "a", 1, 2);
    let root = store.root().to_owned();
    if matches!(old, Old::Leftover) {
        // The same segment, made in another store, left here unreferenced two hours ago.
        let (_d2, other) = fresh_store();
        let c = append(&other, "a", 6, 2);
        let seg = other.snapshot(&c.id).unwrap().segments("a").unwrap()[0].id;
        let to = common::segment_path(&root, &seg);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(common::segment_path(other.root(), &seg), &to).unwrap();
        backdate(&to);
    }
    let mut tx = store.begin();
    tx.add_reader(
        "a",
        common::reader(vec![common::batch(6, 2)]),
        &dstore::IngestOptions::default(),
    )
    .unwrap();
    let staged = common::files_under(&root, "tmp");
    assert_eq!(staged.len(), 1);
    if matches!(old, Old::LongIngest) {
        backdate(&root.join(staged.first().unwrap()));
    }
    // Another writer holds the catalog lock.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join("catalog.lock"))
        .unwrap();
    lock.lock().unwrap();
    let (outcome, report) = std::thread::scope(|s| {
        let commit = s.spawn(move || tx.commit(&CommitOptions::message("slow")));
        let store = &store;
        let gc = s.spawn(move || store.gc(&GcOptions::default()));
        // Both now wait for the lock: commits place their segments under it, and gc marks and
        // sweeps under it, so whichever runs first, the other sees a consistent store.
        std::thread::sleep(Duration::from_millis(300));
        assert!(!gc.is_finished(), "gc must wait for the catalog lock");
        assert!(
            !commit.is_finished(),
            "the commit must wait for the catalog lock"
        );
        assert_eq!(
            common::files_under(&root, "tmp").len(),
            1,
            "the commit places nothing before it holds the lock"
        );
        lock.unlock().unwrap();
        (commit.join().unwrap(), gc.join().unwrap())
    });
    let outcome = outcome.expect("the commit lands");
    let report = report.expect("gc runs");
    let segs = store.snapshot(&outcome.id).unwrap().segments("a").unwrap();
    let missing: Vec<_> = segs
        .iter()
        .map(|e| common::segment_path(&root, &e.id))
        .filter(|p| !p.exists())
        .collect();
    assert!(
        missing.is_empty(),
        "{old:?}: commit @{} references segments gc removed: {missing:?} (gc removed {:?})",
        outcome.seq,
        report.removed
    );
    verify_all_ok(&store);
}

#[test]
fn gc_during_a_commit_keeps_a_reused_old_leftover() {
    gc_during_a_commit(Old::Leftover);
}

#[test]
fn gc_during_a_commit_keeps_a_segment_staged_long_ago() {
    gc_during_a_commit(Old::LongIngest);
}
