//! Running `dstore` on each input in a store of its own, and the pyarrow comparison of the
//! checkouts (`tests/python/corpus_check.py`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use dstore_e2e::{Run, Scratch, repo_root, tree};
use serde::Deserialize;
use serde_json::Value;

use crate::TABLE;
use crate::expect::{Differences, corpus_dir};

/// The store's files and bytes, without the catalog (a RocksDB index derived from the log,
/// which opening it may touch, and which `dstore reindex` rebuilds).
fn store_tree(store: &Path) -> Vec<(String, Vec<u8>)> {
    tree(store)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("catalog"))
        .collect()
}

/// The snapshot id of HEAD, if there is one.
fn head_id(s: &Scratch) -> Option<String> {
    let shown = s.run(&["--store", "store", "show", "HEAD", "--json"]);
    if shown.code != 0 {
        return None;
    }
    shown.json()["snapshot"].as_str().map(str::to_owned)
}

pub(crate) fn is_crash(r: &Run) -> bool {
    r.code != 0 && r.code != 1
}

pub(crate) enum RerunSeen {
    Unchanged,
    Duplicated,
    Refused { run: Run, store_unchanged: bool },
    Crashed(Run),
}

pub(crate) enum Seen {
    /// Exit code other than 0 or 1.
    Crashed(Run),
    /// Exit code 1.
    Refused { run: Run, store_unchanged: bool },
    /// Committed, but `dstore checkout` failed.
    CheckoutFailed(Run),
    /// Committed and checked out into `checkout`.
    Ingested { checkout: PathBuf, rerun: RerunSeen },
}

pub(crate) struct Case {
    pub(crate) name: String,
    input: PathBuf,
    /// The case's store and checkout, deleted when the case is dropped (after the pyarrow
    /// check has read the checkout).
    _scratch: Scratch,
    pub(crate) seen: Seen,
}

/// A scratch directory in memory where there is a tmpfs (`/dev/shm`): each case fsyncs a
/// store's files several times, which on a busy disk costs more than the rest of the run.
fn scratch() -> Scratch {
    let shm = Path::new("/dev/shm");
    match tempfile::Builder::new()
        .prefix("dstore-corpus-")
        .tempdir_in(shm)
    {
        Ok(dir) if shm.is_dir() => Scratch { dir },
        _ => Scratch::new(),
    }
}

fn snapshot(s: &Scratch, input: &Path) -> Run {
    let input = input.to_str().expect("UTF-8 corpus path");
    s.run(&[
        "--store", "store", "snapshot", "-t", TABLE, input, "-m", "corpus", "--json",
    ])
}

/// The snapshot id `dstore snapshot --json` printed, if it did.
fn snapshot_id(r: &Run) -> Option<String> {
    let v: Value = serde_json::from_str(&r.stdout).ok()?;
    v["snapshot"].as_str().map(str::to_owned)
}

/// A fresh empty store, `store`, in a new scratch directory: a copy of one made by `dstore init`
/// once per test run (a store is its files; a copy is what `init` would have written).
fn new_store() -> Scratch {
    static TEMPLATE: OnceLock<Scratch> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        let t = scratch();
        t.run(&["init", "store"]).ok();
        t
    });
    let s = scratch();
    copy_tree(&template.path().join("store"), &s.path().join("store"));
    s
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let e = e.expect("dir entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest)
                .unwrap_or_else(|err| panic!("copy {}: {err}", e.path().display()));
        }
    }
}

fn run_case(name: &str) -> Case {
    let input = corpus_dir().join(name);
    let scratch = new_store();
    let s = &scratch;
    let store = s.path().join("store");
    let before = store_tree(&store);
    let first = snapshot(s, &input);
    let seen = if is_crash(&first) {
        Seen::Crashed(first)
    } else if first.code == 1 {
        Seen::Refused {
            run: first,
            store_unchanged: store_tree(&store) == before,
        }
    } else {
        let first_id = snapshot_id(&first).or_else(|| head_id(s));
        let co = s.run(&[
            "--store", "store", "checkout", "HEAD", "-t", TABLE, "-o", "out",
        ]);
        if co.code != 0 {
            Seen::CheckoutFailed(co)
        } else {
            let tree = store_tree(&store);
            let again = snapshot(s, &input);
            let rerun = if is_crash(&again) {
                RerunSeen::Crashed(again)
            } else if again.code == 1 {
                RerunSeen::Refused {
                    run: again,
                    store_unchanged: store_tree(&store) == tree,
                }
            } else {
                // A snapshot id is the hash of the tables' content: the same id after the
                // re-run is the same table.
                if snapshot_id(&again).or_else(|| head_id(s)) == first_id {
                    RerunSeen::Unchanged
                } else {
                    RerunSeen::Duplicated
                }
            };
            Seen::Ingested {
                checkout: s.path().join("out"),
                rerun,
            }
        }
    };
    Case {
        name: name.to_owned(),
        input,
        _scratch: scratch,
        seen,
    }
}

/// Runs every case, on two threads per core (each case is a handful of short processes that
/// partly wait on I/O).
pub(crate) fn run_all(names: &[String]) -> Vec<Case> {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4) * 2);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(i) else { break };
                    let case = run_case(name);
                    done.lock().expect("results").push((i, case));
                }
            });
        }
    });
    let mut done = done.into_inner().expect("results");
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, c)| c).collect()
}

// ---------------------------------------------------------------------------------------------
// The pyarrow check

#[derive(Deserialize)]
pub(crate) struct Checked {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) differences: Differences,
    #[serde(default)]
    pub(crate) details: Vec<String>,
    #[serde(default)]
    pub(crate) error: Option<String>,
}

/// Runs `corpus_check.py check` once over every ingested case.
pub(crate) fn pyarrow_check(python: &Path, cases: &[Case]) -> BTreeMap<String, Checked> {
    let jobs: Vec<Value> = cases
        .iter()
        .filter_map(|c| match &c.seen {
            Seen::Ingested { checkout, .. } => Some(serde_json::json!({
                "name": c.name,
                "input": c.input,
                "checkout": checkout,
                "table": TABLE,
            })),
            _ => None,
        })
        .collect();
    let dir = Scratch::new();
    let jobs_path = dir.write("jobs.json", serde_json::to_vec(&jobs).expect("jobs"));
    let script = repo_root()
        .join("tests")
        .join("python")
        .join("corpus_check.py");
    let out = Command::new(python)
        .arg(&script)
        .arg("check")
        .arg(&jobs_path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "corpus_check.py failed ({:?}):\n{stdout}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let checked: BTreeMap<String, Checked> = stdout
        .lines()
        .map(|l| {
            let c: Checked = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("corpus_check.py printed {l:?}: {e}"));
            (c.name.clone(), c)
        })
        .collect();
    assert_eq!(
        checked.len(),
        jobs.len(),
        "corpus_check.py left out jobs:\n{stdout}"
    );
    checked
}
