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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use dstore_e2e::{Run, pyarrow_python, repo_root};

#[path = "corpus/expect.rs"]
mod expect;
#[path = "corpus/run.rs"]
mod run;

use expect::{Expect, Outcome, Rerun, check_coverage, corpus_dir, read_expectations};
use run::{Case, Checked, RerunSeen, Seen, is_crash, pyarrow_check, run_all};

/// The table every input is snapshotted into.
const TABLE: &str = "t";

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
