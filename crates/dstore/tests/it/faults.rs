//! Storage-layer fault injection. [`FaultyStorage`] wraps a [`LocalStorage`] and fails the Nth
//! *fault point*: every mutating call of the [`Storage`] trait (`stage`, `sync_staged`,
//! `put_staged`, `put`, `put_if_absent`, `delete`) and, through [`LocalStorage::with_hook`],
//! every step inside them (`create_dir`, `create_temp`, `write`, `sync_file`,
//! `set_permissions`, `rename`, `link`, `sync_dir`, `delete`). Each test sweeps N = 1, 2, ...
//! until the operation runs with no fault left to inject, and after every fault reopens the
//! store with plain [`LocalStorage`] and checks: it opens; the faulted commit is there whole or
//! not at all (and there whenever it was acknowledged); earlier commits are intact; `verify
//! --all` is clean; the store takes another commit; `gc --grace 0s` removes exactly the
//! leftovers.
//!
//! Two fault models: `Once` (one call fails, the process carries on: a transient `EIO`,
//! `ENOSPC`) and `Crash` (that call and every later one fails: the process died there, as far
//! as the disk is concerned).
//!
//! Not covered here: the bytes ingest writes into a staged file (`ingest/` writes through the
//! `File` it is handed, not through the trait; a failure there fails ingest before any commit
//! starts), RocksDB's own I/O in `catalog/` and `catalog.lock` (derived data outside the trait;
//! `crash.rs` covers damaged and half-built catalogs), and the loss of written but unsynced
//! data in a power cut (the wrapper fails calls; it cannot drop the page cache).

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dstore::{
    CommitOptions, Error, IngestOptions, SnapshotId, Store, WriteMode, gc::GcOptions,
    storage::LocalStorage, storage::ObjectMeta, storage::StagedFile, storage::Storage,
};

use super::common::{self, append, batch, commit_batch, fresh_store, reader};
use super::gc::{everything, reachable, verify_all_ok};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Only the Nth fault point fails.
    Once,
    /// The Nth fault point and every later one fail.
    Crash,
}

/// Counts fault points and fails the chosen one.
#[derive(Debug)]
struct Faults {
    calls: AtomicU64,
    fail_at: u64,
    mode: Mode,
    /// The fault point that failed: its name and path.
    fired: Mutex<Option<(String, PathBuf)>>,
}

impl Faults {
    fn new(fail_at: u64, mode: Mode) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicU64::new(0),
            fail_at,
            mode,
            fired: Mutex::new(None),
        })
    }

    fn point(&self, what: &str, path: &Path) -> std::io::Result<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fired = self.fired.lock().unwrap();
        if fired.is_some() && self.mode == Mode::Crash {
            return Err(std::io::Error::other("after the crash"));
        }
        if n == self.fail_at {
            *fired = Some((what.to_owned(), path.to_owned()));
            return Err(std::io::Error::other(format!(
                "injected fault at fault point {n} ({what})"
            )));
        }
        Ok(())
    }

    fn fired(&self) -> Option<(String, PathBuf)> {
        self.fired.lock().unwrap().clone()
    }
}

/// A [`Storage`] that fails where [`Faults`] says.
#[derive(Debug)]
struct FaultyStorage {
    inner: LocalStorage,
    faults: Arc<Faults>,
}

impl FaultyStorage {
    fn new(root: &Path, faults: Arc<Faults>) -> Self {
        let f = Arc::clone(&faults);
        Self {
            inner: LocalStorage::with_hook(root, move |step, path| f.point(step, path)),
            faults,
        }
    }

    fn fail(&self, op: &'static str, key: &str) -> dstore::Result<()> {
        let path = self.inner.describe(key);
        self.faults
            .point(op, &path)
            .map_err(|source| Error::Io { op, path, source })
    }
}

impl Storage for FaultyStorage {
    fn describe(&self, key: &str) -> PathBuf {
        self.inner.describe(key)
    }
    fn get_opt(&self, key: &str) -> dstore::Result<Option<Vec<u8>>> {
        self.inner.get_opt(key)
    }
    fn get_range(&self, key: &str, range: Range<u64>) -> dstore::Result<Vec<u8>> {
        self.inner.get_range(key, range)
    }
    fn size(&self, key: &str) -> dstore::Result<Option<u64>> {
        self.inner.size(key)
    }
    fn put(&self, key: &str, bytes: &[u8]) -> dstore::Result<()> {
        self.fail("put", key)?;
        self.inner.put(key, bytes)
    }
    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> dstore::Result<bool> {
        self.fail("put_if_absent", key)?;
        self.inner.put_if_absent(key, bytes)
    }
    fn stage(&self) -> dstore::Result<StagedFile> {
        self.fail("stage", "tmp")?;
        self.inner.stage()
    }
    fn sync_staged(&self, staged: &mut StagedFile) -> dstore::Result<()> {
        self.fail("sync_staged", "tmp")?;
        self.inner.sync_staged(staged)
    }
    fn put_staged(&self, staged: StagedFile, key: &str, read_only: bool) -> dstore::Result<()> {
        self.fail("put_staged", key)?;
        self.inner.put_staged(staged, key, read_only)
    }
    fn list(&self, prefix: &str) -> dstore::Result<Vec<ObjectMeta>> {
        self.inner.list(prefix)
    }
    fn delete(&self, key: &str) -> dstore::Result<()> {
        self.fail("delete", key)?;
        self.inner.delete(key)
    }
    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.inner.local_path(key)
    }
    fn staged_in_use(&self, key: &str) -> dstore::Result<bool> {
        self.inner.staged_in_use(key)
    }
    fn open_read(&self, key: &str) -> dstore::Result<Box<dyn std::io::Read + Send + '_>> {
        self.inner.open_read(key)
    }
}

/// A commit as the log records it: seq, snapshot, rows of table `t`.
type Commit = (u64, SnapshotId, u64);

fn commits(store: &Store) -> Vec<Commit> {
    let mut out: Vec<Commit> = store
        .log(usize::MAX)
        .expect("log")
        .iter()
        .filter_map(|r| {
            let id = r.snapshot()?;
            let rows = store.snapshot(&id).expect("snapshot").table("t").ok()?.rows;
            Some((r.seq, id, rows))
        })
        .collect();
    out.reverse();
    out
}

/// Rows the faulted commit appends.
const NEW_ROWS: u64 = 7;

/// A store with `history` commits of table `t` (the first tagged `old`), closed again.
fn store_with_history(history: u64) -> (tempfile::TempDir, PathBuf, Vec<Commit>) {
    let (dir, store) = fresh_store();
    for i in 0..history {
        let tags = if i == 0 { vec!["old".into()] } else { vec![] };
        commit_batch(
            &store,
            "t",
            WriteMode::Append,
            i + 1,
            3,
            &CommitOptions {
                tags,
                ..CommitOptions::message("history")
            },
        )
        .expect("history commit");
    }
    let before = commits(&store);
    assert_eq!(before.len() as u64, history);
    (dir, store.root().to_owned(), before)
}

/// Checks the store at `root` after a faulted operation, then commits once more and runs
/// `gc --grace 0s`: afterwards exactly the reachable objects are left.
fn check_after_fault(root: &Path, before: &[Commit], acknowledged: bool, context: &str) {
    let store =
        Store::open(root).unwrap_or_else(|e| panic!("{context}: the store won't open: {e}"));
    let now = commits(&store);
    assert_eq!(
        &now[..before.len().min(now.len())],
        before,
        "{context}: earlier commits changed"
    );
    let old_rows = before.last().map_or(0, |c| c.2);
    match &now[before.len()..] {
        [] => assert!(!acknowledged, "{context}: an acknowledged commit is lost"),
        [(seq, id, rows)] => {
            assert_eq!(
                *rows,
                old_rows + NEW_ROWS,
                "{context}: the commit is partial"
            );
            assert_eq!(*seq, before.last().map_or(1, |c| c.0 + 1), "{context}");
            let tagged = store.resolve("new").expect("the commit's tag");
            assert_eq!(tagged.id, *id, "{context}: the tag is not on the commit");
        }
        more => panic!("{context}: more than one new commit: {more:?}"),
    }
    if !before.is_empty() {
        assert_eq!(store.resolve("old").unwrap().id, before[0].1, "{context}");
    }
    verify_all_ok(&store);
    // The store takes the next commit, and gc leaves exactly what the log reaches.
    append(&store, "t", 99, 2);
    store
        .gc(&GcOptions {
            dry_run: false,
            grace: Duration::ZERO,
        })
        .unwrap_or_else(|e| panic!("{context}: gc failed: {e}"));
    let log: BTreeSet<String> = common::files_under(root, "log");
    let mut expected = reachable(&store);
    expected.extend(log.iter().filter(|k| !k.contains(".tmp-")).cloned());
    assert_eq!(
        everything(root),
        expected,
        "{context}: gc left garbage or removed a live object"
    );
    verify_all_ok(&store);
}

/// Sweeps a fault over every fault point of one commit (appending `NEW_ROWS` rows to `t` on
/// top of `history` commits, tagging it `new`). Returns the names of the points that failed.
fn sweep_commit(history: u64, mode: Mode) -> BTreeSet<String> {
    let mut failed = BTreeSet::new();
    for n in 1.. {
        let (_dir, root, before) = store_with_history(history);
        let faults = Faults::new(n, mode);
        let storage = Arc::new(FaultyStorage::new(&root, Arc::clone(&faults)));
        let result = Store::open_with_storage(&root, storage).and_then(|store| {
            let mut tx = store.begin();
            tx.add_reader(
                "t",
                reader(vec![batch(1000, NEW_ROWS as usize)]),
                &IngestOptions::default(),
            )?;
            tx.commit(&CommitOptions {
                tags: vec!["new".into()],
                ..CommitOptions::message("faulted")
            })
        });
        let Some((what, path)) = faults.fired() else {
            // No fault point left: the sweep is complete, and this run must have succeeded.
            result.expect("commit without faults");
            assert!(n > 20, "only {n} fault points: is the hook wired up?");
            eprintln!("{mode:?}, {history} commits before: {} fault points", n - 1);
            return failed;
        };
        let context = format!(
            "{mode:?} fault at point {n} ({what} {}), commit {}",
            path.display(),
            match &result {
                Ok(c) => format!("acknowledged @{}", c.seq),
                Err(e) => format!("failed: {e}"),
            }
        );
        if mode == Mode::Crash {
            assert!(result.is_err(), "{context}: a crash went unnoticed");
        }
        check_after_fault(&root, &before, result.is_ok(), &context);
        failed.insert(what);
    }
    unreachable!()
}

/// Every kind of step a commit takes was failed at least once.
fn assert_covers(failed: &BTreeSet<String>, also: &[&str]) {
    let mut want: BTreeSet<&str> = [
        "stage",
        "sync_staged",
        "put_staged",
        "put",
        "put_if_absent",
        "create_temp",
        "write",
        "sync_file",
        "set_permissions",
        "rename",
        "link",
        "sync_dir",
    ]
    .into_iter()
    .collect();
    want.extend(also);
    let failed: BTreeSet<&str> = failed.iter().map(String::as_str).collect();
    let missing: Vec<_> = want.difference(&failed).collect();
    assert!(missing.is_empty(), "never failed: {missing:?}");
}

#[test]
fn every_fault_in_a_first_commit() {
    // The first commit also creates the `<aa>/` directories.
    assert_covers(&sweep_commit(0, Mode::Once), &["create_dir"]);
}

#[test]
fn every_crash_in_a_first_commit() {
    assert_covers(&sweep_commit(0, Mode::Crash), &["create_dir"]);
}

#[test]
fn every_fault_in_an_append() {
    assert_covers(&sweep_commit(2, Mode::Once), &[]);
}

#[test]
fn every_crash_in_an_append() {
    assert_covers(&sweep_commit(2, Mode::Crash), &[]);
}

/// Faults while gc deletes: nothing reachable is lost, and the next gc finishes the job.
#[test]
fn every_fault_in_gc() {
    for mode in [Mode::Once, Mode::Crash] {
        for n in 1.. {
            let (_dir, root, before) = store_with_history(2);
            // Leftovers of every kind gc sweeps.
            let plain = LocalStorage::new(&root);
            plain
                .put(&format!("segments/ff/{}.parquet", "f".repeat(64)), b"x")
                .unwrap();
            plain
                .put(&format!("manifests/ee/{}.manifest", "e".repeat(64)), b"x")
                .unwrap();
            plain
                .put(&format!("manifests/ee/{}.seglist", "e".repeat(64)), b"x")
                .unwrap();
            std::fs::write(root.join("tmp/.tmp-left"), b"x").unwrap();
            std::fs::write(root.join("log/.tmp-left"), b"x").unwrap();
            let faults = Faults::new(n, mode);
            let storage = Arc::new(FaultyStorage::new(&root, Arc::clone(&faults)));
            let store = Store::open_with_storage(&root, storage).unwrap();
            let result = store.gc(&GcOptions {
                dry_run: false,
                grace: Duration::ZERO,
            });
            drop(store);
            let Some((what, _)) = faults.fired() else {
                let report = result.expect("gc without faults");
                assert_eq!(report.removed.len(), 5, "{report:?}");
                assert!(n > 5, "{mode:?}: only {n} fault points");
                break;
            };
            assert!(
                result.is_err(),
                "{mode:?} fault at {n} ({what}) went unreported"
            );
            // Nothing was committed: the `new` tag never appears, so "not acknowledged".
            check_after_fault(&root, &before, false, &format!("{mode:?} gc fault at {n}"));
        }
    }
}
