//! Concurrent writers and readers on one store.

use std::fmt::Write as _;
use std::process::Stdio;

use dstore_e2e::{Run, Scratch};

use crate::{log_json, new_store, rows_at};

/// Runs `dstore ARGS` once per entry of `each`, all at the same time; returns their runs.
fn run_all(s: &Scratch, each: &[Vec<String>]) -> Vec<Run> {
    let children: Vec<_> = each
        .iter()
        .map(|args| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            s.cmd(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn dstore")
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().expect("wait for dstore");
            Run {
                code: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            }
        })
        .collect()
}

/// Four `dstore snapshot` processes append different CSVs to one table at once. Returns the
/// expected total rows.
fn four_writers(s: &Scratch) -> u64 {
    let mut each = Vec::new();
    let mut total = 0;
    for i in 1..=4u64 {
        let mut csv = String::from("id,writer\n");
        for r in 0..=i {
            writeln!(csv, "{},w{i}", i * 100 + r).unwrap();
        }
        total += i + 1;
        s.write(&format!("in{i}.csv"), csv);
        each.push(
            [
                "snapshot",
                "-t",
                "t",
                &format!("in{i}.csv"),
                "-m",
                &format!("writer {i}"),
            ]
            .map(str::to_owned)
            .to_vec(),
        );
    }
    for (i, r) in run_all(s, &each).iter().enumerate() {
        assert_eq!(
            r.code,
            0,
            "writer {} failed:\nstdout:\n{}\nstderr:\n{}",
            i + 1,
            r.stdout,
            r.stderr
        );
    }
    total
}

fn assert_four_commits(s: &Scratch, total: u64) {
    let log = log_json(s);
    let mut seqs: Vec<u64> = log.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [1, 2, 3, 4], "{log:?}");
    assert!(log.iter().all(|r| r["kind"] == "commit"), "{log:?}");
    let mut messages: Vec<&str> = log.iter().map(|r| r["message"].as_str().unwrap()).collect();
    messages.sort_unstable();
    assert_eq!(messages, ["writer 1", "writer 2", "writer 3", "writer 4"]);
    let creates = log
        .iter()
        .filter(|r| r["changes"][0]["op"] == "create")
        .count();
    assert_eq!(creates, 1, "exactly one commit creates the table: {log:?}");
    assert_eq!(rows_at(s, "HEAD", "t"), total);
    // Each commit adds its own rows on top of its parent.
    for r in &log {
        let seq = r["seq"].as_u64().unwrap();
        let added = r["changes"][0]["rows"].as_u64().unwrap();
        let here = rows_at(s, &format!("@{seq}"), "t");
        let before = if seq == 1 {
            0
        } else {
            rows_at(s, &format!("@{seq}~1"), "t")
        };
        assert_eq!(here, before + added, "@{seq}");
    }
    s.run(&["verify", "--all"]).ok();
}

/// The brief's scenario: a fresh store (no catalog yet), four writers at once. Repeated a few
/// times because the failure it guards against is a race.
#[test]
fn concurrent_snapshots_on_a_fresh_store() {
    for _ in 0..3 {
        let (s, _) = new_store();
        let total = four_writers(&s);
        assert_four_commits(&s, total);
    }
}

/// Four writers at once on a store whose catalog already exists.
#[test]
fn concurrent_snapshots_with_a_built_catalog() {
    let (s, _) = new_store();
    s.run(&["log"]).ok();
    let total = four_writers(&s);
    assert_four_commits(&s, total);
}

/// Four readers at once after the catalog was deleted: each rebuilds or waits, none fails.
#[test]
fn concurrent_readers_after_the_catalog_was_deleted() {
    let (s, store) = new_store();
    s.write("a.csv", "id\n1\n");
    s.run(&["snapshot", "-t", "t", "a.csv"]).ok();
    let expected = s.run(&["log"]).ok().to_owned();
    for _ in 0..3 {
        std::fs::remove_dir_all(store.join("catalog")).unwrap();
        let each = vec![vec!["log".to_owned()]; 4];
        for r in run_all(&s, &each) {
            assert_eq!(
                r.code, 0,
                "log failed:\nstdout:\n{}\nstderr:\n{}",
                r.stdout, r.stderr
            );
            assert_eq!(r.stdout, expected);
        }
    }
}
