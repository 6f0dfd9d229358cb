//! The input corpus: files as pandas, pyarrow, polars, DuckDB and Spark write them by default,
//! and valid files of the Arrow and Parquet projects' test corpora (`fixtures/corpus`, made by
//! its `make.py`), each run through the real `dstore` binary. Every input must either come back
//! exactly — pyarrow reads the checkout and gets the schema and values pyarrow reads from the
//! input — or be refused with exit code 1, an `error:` naming what `expect.toml` says, and the
//! store byte for byte as it was. An exit code other than 0 or 1 (a panic is 101) fails.
//!
//! For each input (a file, or a directory as one snapshot), in a new store:
//!
//! 1. `dstore snapshot -t t INPUT`; on success `dstore checkout -o out`, which
//!    `tests/python/corpus_check.py` (pyarrow only) compares with the input, naming each kind of
//!    difference it finds;
//! 2. the same `dstore snapshot` again (a re-run of a job), recording whether the table is
//!    unchanged, refused (store unchanged) or holds the rows twice.
//!
//! `fixtures/corpus/expect.toml` states, for every input, the outcome (`roundtrip`, `differs`
//! with the exact differences, `refused` with substrings of the message) and the re-run's. Any
//! outcome other than the one stated fails the test, as does a file in the corpus that no entry
//! covers; the failure prints the entry that would describe what happened. A summary table
//! (round trip, refused by reason, differs, crashed) is printed either way (`--nocapture`).
//!
//! `DSTORE_CORPUS_ONLY=SUBSTRING` runs only the inputs whose path contains SUBSTRING.
//!
//! Python: `$DSTORE_PYTHON`, else `python3` with pyarrow; without it the pyarrow comparisons
//! are skipped with a note (everything else still runs), unless `DSTORE_REQUIRE_PYARROW=1`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use dstore_e2e::{Run, Scratch, pyarrow_python, repo_root, tree};
use serde::Deserialize;
use serde_json::Value;

/// The table every input is snapshotted into.
const TABLE: &str = "t";

/// Files of the corpus directory that are not inputs.
const NOT_INPUTS: [&str; 5] = [
    "make.py",
    "requirements.txt",
    "expect.toml",
    "README.md",
    "LICENSE.txt",
];

// ---------------------------------------------------------------------------------------------
// expect.toml

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    defaults: Defaults,
    inputs: BTreeMap<String, Expect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    rerun: Rerun,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Roundtrip,
    Differs,
    Refused,
}

/// What the second, identical `dstore snapshot` does.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum Rerun {
    /// Exit 0, the table as it was.
    Unchanged,
    /// Exit 1, the store byte for byte as it was, the message naming the input.
    Refused,
    /// Exit 0, the table changed: it holds the input twice.
    Duplicated,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    outcome: Outcome,
    /// `refused`: a short label for the summary.
    #[serde(default)]
    reason: Option<String>,
    /// `refused`: substrings the error must contain.
    #[serde(default)]
    message: Vec<String>,
    /// `differs`: exactly the differences the checker must find.
    #[serde(default)]
    differences: Differences,
    /// The re-run's outcome, if not `defaults.rerun`.
    #[serde(default)]
    rerun: Option<Rerun>,
}

/// The kinds of difference `corpus_check.py` names (its doc says what each means).
#[derive(Deserialize, Default, PartialEq, Eq, Debug, Clone)]
#[serde(deny_unknown_fields, default)]
struct Differences {
    missing_columns: BTreeSet<String>,
    extra_columns: BTreeSet<String>,
    column_order: bool,
    reads_as: BTreeMap<String, String>,
    values_differ: BTreeSet<String>,
    uncomparable: BTreeSet<String>,
    empty_string_is_null: BTreeSet<String>,
    nullability: BTreeSet<String>,
    field_metadata: BTreeSet<String>,
    schema_metadata: bool,
    rows: bool,
    input_unreadable: bool,
    checkout_unreadable: bool,
    not_adopted: bool,
}

impl Differences {
    fn is_empty(&self) -> bool {
        *self == Differences::default()
    }

    /// As an inline TOML table, for a suggested expect.toml entry.
    fn to_toml(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).expect("string");
        let list = |v: &BTreeSet<String>| {
            let items: Vec<String> = v.iter().map(|s| q(s)).collect();
            format!("[{}]", items.join(", "))
        };
        let mut parts = Vec::new();
        for (key, set) in [
            ("missing_columns", &self.missing_columns),
            ("extra_columns", &self.extra_columns),
            ("values_differ", &self.values_differ),
            ("uncomparable", &self.uncomparable),
            ("empty_string_is_null", &self.empty_string_is_null),
            ("nullability", &self.nullability),
            ("field_metadata", &self.field_metadata),
        ] {
            if !set.is_empty() {
                parts.push(format!("{key} = {}", list(set)));
            }
        }
        if !self.reads_as.is_empty() {
            let items: Vec<String> = self
                .reads_as
                .iter()
                .map(|(k, v)| format!("{} = {}", q(k), q(v)))
                .collect();
            parts.push(format!("reads_as = {{ {} }}", items.join(", ")));
        }
        for (key, set) in [
            ("column_order", self.column_order),
            ("schema_metadata", self.schema_metadata),
            ("rows", self.rows),
            ("input_unreadable", self.input_unreadable),
            ("checkout_unreadable", self.checkout_unreadable),
            ("not_adopted", self.not_adopted),
        ] {
            if set {
                parts.push(format!("{key} = true"));
            }
        }
        format!("{{ {} }}", parts.join(", "))
    }
}

fn corpus_dir() -> PathBuf {
    repo_root().join("fixtures").join("corpus")
}

fn read_expectations() -> ExpectFile {
    let path = corpus_dir().join("expect.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under the corpus that is an input or part of one, relative, with `/`.
fn corpus_files(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry"))
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if e.file_type().expect("file type").is_dir() {
            corpus_files(&e.path(), &child, out);
        } else if !NOT_INPUTS.contains(&name.as_str()) {
            out.push(child);
        }
    }
}

/// Each file of the corpus is covered by exactly one entry (itself or a directory above it),
/// and each entry names something that exists and states what its outcome needs.
fn check_coverage(expect: &ExpectFile) -> Vec<String> {
    let mut files = Vec::new();
    corpus_files(&corpus_dir(), "", &mut files);
    let mut problems = Vec::new();
    for f in &files {
        let covering: Vec<&String> = expect
            .inputs
            .keys()
            .filter(|k| *k == f || f.starts_with(&format!("{k}/")))
            .collect();
        match covering.len() {
            1 => {}
            0 => problems.push(format!(
                "{f}: no entry in expect.toml covers this corpus file (add one: see the \
                 suggestions below, or run the test to get them)"
            )),
            _ => problems.push(format!("{f}: covered by several entries: {covering:?}")),
        }
    }
    for (k, e) in &expect.inputs {
        if !corpus_dir().join(k).exists() {
            problems.push(format!(
                "expect.toml names {k}, which is not in fixtures/corpus"
            ));
        }
        let stated = match e.outcome {
            Outcome::Refused => !e.message.is_empty() && e.reason.is_some(),
            Outcome::Differs => !e.differences.is_empty() && e.message.is_empty(),
            Outcome::Roundtrip => e.differences.is_empty() && e.message.is_empty(),
        };
        if !stated {
            problems.push(format!(
                "expect.toml: {k}: `refused` needs `reason` and `message`, `differs` needs \
                 `differences`, `roundtrip` takes neither"
            ));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Running dstore

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

fn is_crash(r: &Run) -> bool {
    r.code != 0 && r.code != 1
}

enum RerunSeen {
    Unchanged,
    Duplicated,
    Refused { run: Run, store_unchanged: bool },
    Crashed(Run),
}

enum Seen {
    /// Exit code other than 0 or 1.
    Crashed(Run),
    /// Exit code 1.
    Refused { run: Run, store_unchanged: bool },
    /// Committed, but `dstore checkout` failed.
    CheckoutFailed(Run),
    /// Committed and checked out into `checkout`.
    Ingested { checkout: PathBuf, rerun: RerunSeen },
}

struct Case {
    name: String,
    input: PathBuf,
    /// The case's store and checkout, deleted when the case is dropped (after the pyarrow
    /// check has read the checkout).
    _scratch: Scratch,
    seen: Seen,
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
fn run_all(names: &[String]) -> Vec<Case> {
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
struct Checked {
    name: String,
    #[serde(default)]
    differences: Differences,
    #[serde(default)]
    details: Vec<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Runs `corpus_check.py check` once over every ingested case.
fn pyarrow_check(python: &Path, cases: &[Case]) -> BTreeMap<String, Checked> {
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

// ---------------------------------------------------------------------------------------------
// Judging

/// Where an input lands in the summary.
#[derive(PartialEq, Eq, PartialOrd, Ord, Clone)]
enum Category {
    Roundtrip,
    Refused(String),
    Differs,
    Crashed,
    /// Ingested, not compared (no pyarrow).
    Unchecked,
}

struct Verdict {
    category: Category,
    /// For the summary: the reason or differences, when not a round trip.
    what: String,
    rerun: Option<&'static str>,
    failures: Vec<String>,
    suggestion: String,
}

fn first_line(r: &Run) -> &str {
    r.stderr.lines().next().unwrap_or("")
}

fn show_run(r: &Run) -> String {
    format!("exit {}; stderr:\n{}", r.code, r.stderr.trim_end())
}

/// The end of an error's first line, after the input's path: what the reason says.
fn reason_text(r: &Run) -> String {
    let line = first_line(r).trim_start_matches("error: ");
    let after_path = if line.starts_with('/') {
        line.split_once(": ").map_or(line, |(_, rest)| rest)
    } else {
        line
    };
    after_path.chars().take(60).collect()
}

fn suggest(name: &str, outcome: &str, extra: &str) -> String {
    format!("[inputs.\"{name}\"]\noutcome = \"{outcome}\"\n{extra}")
}

fn judge(
    case: &Case,
    expect: Option<&Expect>,
    default_rerun: Rerun,
    checked: Option<&Checked>,
) -> Verdict {
    let name = &case.name;
    let file = name.rsplit('/').next().unwrap_or(name);
    let mut failures = Vec::new();
    let mut rerun_name = None;
    let (category, what, suggestion) = match &case.seen {
        Seen::Crashed(run) => {
            failures.push(format!(
                "crashed (exit code other than 0 or 1): {}",
                show_run(run)
            ));
            (Category::Crashed, first_line(run).to_owned(), String::new())
        }
        Seen::CheckoutFailed(run) => {
            failures.push(format!(
                "committed, but `dstore checkout` failed: {}",
                show_run(run)
            ));
            let cat = if is_crash(run) {
                Category::Crashed
            } else {
                Category::Differs
            };
            (
                cat,
                format!("checkout failed: {}", first_line(run)),
                String::new(),
            )
        }
        Seen::Refused {
            run,
            store_unchanged,
        } => {
            if !store_unchanged {
                failures.push("refused, but the store changed".to_owned());
            }
            if !run.stderr.starts_with("error: ") {
                failures.push(format!(
                    "the refusal does not start with `error: `: {}",
                    run.stderr
                ));
            }
            let reason = reason_text(run);
            let suggestion = suggest(
                name,
                "refused",
                &format!(
                    "reason = {}\nmessage = [{}, {}]\n",
                    serde_json::to_string(&reason).expect("str"),
                    serde_json::to_string(file).expect("str"),
                    serde_json::to_string(&reason).expect("str"),
                ),
            );
            let label = match expect {
                Some(e) if e.outcome == Outcome::Refused => {
                    for m in &e.message {
                        if !run.stderr.contains(m.as_str()) {
                            failures.push(format!(
                                "the refusal does not contain {m:?}: {}",
                                show_run(run)
                            ));
                        }
                    }
                    e.reason.clone().unwrap_or_else(|| reason.clone())
                }
                _ => {
                    failures.push(format!("refused: {}", show_run(run)));
                    reason.clone()
                }
            };
            (
                Category::Refused(label),
                first_line(run).to_owned(),
                suggestion,
            )
        }
        Seen::Ingested { rerun, .. } => {
            let want_rerun = expect.and_then(|e| e.rerun).unwrap_or(default_rerun);
            let mut rerun_said = String::new();
            let seen_rerun = match rerun {
                RerunSeen::Unchanged => Some(Rerun::Unchanged),
                RerunSeen::Duplicated => Some(Rerun::Duplicated),
                RerunSeen::Refused {
                    run,
                    store_unchanged,
                } => {
                    if !store_unchanged {
                        failures.push("the re-run was refused, but the store changed".to_owned());
                    }
                    if !run.stderr.contains(file) {
                        failures.push(format!(
                            "the re-run's refusal does not name {file}: {}",
                            show_run(run)
                        ));
                    }
                    rerun_said = format!(": {}", first_line(run));
                    Some(Rerun::Refused)
                }
                RerunSeen::Crashed(run) => {
                    failures.push(format!("the re-run crashed: {}", show_run(run)));
                    None
                }
            };
            rerun_name = seen_rerun.map(|r| match r {
                Rerun::Unchanged => "unchanged",
                Rerun::Refused => "refused",
                Rerun::Duplicated => "duplicated",
            });
            if let Some(r) = seen_rerun
                && r != want_rerun
            {
                failures.push(format!(
                    "the second identical snapshot was {r:?}{rerun_said}; expect.toml says \
                     {want_rerun:?}"
                ));
            }
            let rerun_line = if seen_rerun.is_some_and(|r| r != default_rerun) {
                format!("rerun = \"{}\"\n", rerun_name.unwrap_or_default())
            } else {
                String::new()
            };
            match checked {
                None => {
                    if expect.is_some_and(|e| e.outcome == Outcome::Refused) {
                        failures.push("ingested, expect.toml says refused".to_owned());
                    }
                    (Category::Unchecked, String::new(), String::new())
                }
                Some(c) if c.error.is_some() => {
                    failures.push(c.error.clone().unwrap_or_default());
                    (
                        Category::Differs,
                        "the pyarrow check failed".into(),
                        String::new(),
                    )
                }
                Some(c) => {
                    let d = &c.differences;
                    let (cat, outcome, extra) = if d.is_empty() {
                        (Category::Roundtrip, "roundtrip", String::new())
                    } else {
                        (
                            Category::Differs,
                            "differs",
                            format!("differences = {}\n", d.to_toml()),
                        )
                    };
                    let suggestion = suggest(name, outcome, &format!("{extra}{rerun_line}"));
                    match expect.map(|e| e.outcome) {
                        Some(Outcome::Roundtrip) if !d.is_empty() => failures.push(format!(
                            "comes back different: {}\n    {}",
                            d.to_toml(),
                            c.details.join("\n    ")
                        )),
                        Some(Outcome::Differs) => {
                            let stated = &expect.expect("some").differences;
                            if stated != d {
                                failures.push(format!(
                                    "expect.toml states differences {}, found {}\n    {}",
                                    stated.to_toml(),
                                    d.to_toml(),
                                    c.details.join("\n    ")
                                ));
                            }
                        }
                        Some(Outcome::Refused) => failures.push(format!(
                            "ingested, expect.toml says refused; differences found: {}",
                            d.to_toml()
                        )),
                        _ => {}
                    }
                    let what = if d.is_empty() {
                        String::new()
                    } else {
                        d.to_toml()
                    };
                    (cat, what, suggestion)
                }
            }
        }
    };
    if expect.is_none() {
        failures.push("no entry in expect.toml".to_owned());
    }
    Verdict {
        category,
        what,
        rerun: rerun_name,
        failures,
        suggestion,
    }
}

fn summary(cases: &[Case], verdicts: &[Verdict], coverage: &[String]) -> String {
    let mut by: BTreeMap<Category, usize> = BTreeMap::new();
    for v in verdicts {
        *by.entry(v.category.clone()).or_default() += 1;
    }
    let count = |c: &Category| by.get(c).copied().unwrap_or(0);
    let refused: usize = by
        .iter()
        .filter(|(c, _)| matches!(c, Category::Refused(_)))
        .map(|(_, n)| n)
        .sum();
    let mut reruns: BTreeMap<&str, usize> = BTreeMap::new();
    for v in verdicts {
        if let Some(r) = v.rerun {
            *reruns.entry(r).or_default() += 1;
        }
    }
    let failing = verdicts.iter().filter(|v| !v.failures.is_empty()).count();
    let mut s = String::new();
    let _ = writeln!(s, "\ncorpus: {} inputs (fixtures/corpus)", cases.len());
    let _ = writeln!(
        s,
        "  {:<58} {:>5}",
        "round trip (pyarrow reads back the input)",
        count(&Category::Roundtrip)
    );
    let _ = writeln!(s, "  {:<58} {:>5}", "refused (exit 1), by reason:", refused);
    for (c, n) in &by {
        if let Category::Refused(reason) = c {
            let _ = writeln!(s, "      {reason:<54} {n:>5}");
        }
    }
    let _ = writeln!(
        s,
        "  {:<58} {:>5}",
        "differs (ingested, comes back different)",
        count(&Category::Differs)
    );
    let _ = writeln!(
        s,
        "  {:<58} {:>5}",
        "crashed (exit code other than 0 and 1)",
        count(&Category::Crashed)
    );
    if count(&Category::Unchecked) > 0 {
        let _ = writeln!(
            s,
            "  {:<58} {:>5}",
            "ingested, not compared (no pyarrow)",
            count(&Category::Unchecked)
        );
    }
    let reruns: Vec<String> = reruns.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(s, "  second identical snapshot: {}", reruns.join(", "));
    let _ = writeln!(
        s,
        "  outcomes not as expect.toml states: {failing}; problems with expect.toml or coverage: {}",
        coverage.len()
    );
    let _ = writeln!(s, "\n  input{:<54} outcome", "");
    for (c, v) in cases.iter().zip(verdicts) {
        let outcome = match &v.category {
            Category::Roundtrip => "round trip".to_owned(),
            Category::Refused(r) => format!("refused: {r}"),
            Category::Differs => format!("differs: {}", v.what),
            Category::Crashed => format!("CRASHED: {}", v.what),
            Category::Unchecked => "ingested (not compared)".to_owned(),
        };
        let mark = if v.failures.is_empty() { " " } else { "!" };
        let _ = writeln!(s, "{mark} {:<58} {outcome}", c.name);
    }
    s
}

#[test]
fn every_corpus_input_round_trips_or_is_refused_as_expected() {
    let expect = read_expectations();
    let coverage = check_coverage(&expect);
    // DSTORE_CORPUS_ONLY=SUBSTRING runs only the inputs whose path contains it (to try a
    // change quickly; the coverage checks still look at the whole corpus).
    let only = std::env::var("DSTORE_CORPUS_ONLY").unwrap_or_default();
    let names: Vec<String> = expect
        .inputs
        .keys()
        .filter(|k| k.contains(&only) && corpus_dir().join(k).exists())
        .cloned()
        .collect();
    let python = pyarrow_python();
    let started = Instant::now();
    let cases = run_all(&names);
    let ran = started.elapsed();
    let started = Instant::now();
    let checked = python.as_deref().map(|py| pyarrow_check(py, &cases));
    let compared = started.elapsed();
    let verdicts: Vec<Verdict> = cases
        .iter()
        .map(|c| {
            judge(
                c,
                expect.inputs.get(&c.name),
                expect.defaults.rerun,
                checked.as_ref().and_then(|m| m.get(&c.name)),
            )
        })
        .collect();
    println!("{}", summary(&cases, &verdicts, &coverage));
    println!(
        "corpus: dstore runs took {:.1} s, the pyarrow comparison {:.1} s",
        ran.as_secs_f64(),
        compared.as_secs_f64()
    );

    let mut report = String::new();
    for p in &coverage {
        let _ = writeln!(report, "- {p}");
    }
    for (c, v) in cases.iter().zip(&verdicts) {
        if v.failures.is_empty() {
            continue;
        }
        let _ = writeln!(report, "- {}:", c.name);
        for f in &v.failures {
            let _ = writeln!(report, "    {}", f.replace('\n', "\n    "));
        }
        if !v.suggestion.is_empty() {
            let _ = writeln!(
                report,
                "  entry that describes what happened:\n{}",
                v.suggestion
            );
        }
    }
    // Keep the scratch directories until here: the checker read their checkouts.
    drop(cases);
    assert!(
        report.is_empty(),
        "corpus outcomes differ from fixtures/corpus/expect.toml:\n{report}"
    );
}

/// The checker must notice and name single changes, or the corpus would prove nothing.
#[test]
fn the_corpus_comparison_names_single_changes() {
    let Some(python) = pyarrow_python() else {
        return;
    };
    let script = repo_root()
        .join("tests")
        .join("python")
        .join("corpus_check.py");
    let out = Command::new(&python)
        .arg(script)
        .arg("selftest")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run corpus_check.py selftest");
    assert!(
        out.status.success(),
        "corpus_check.py selftest failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
