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

/// Writer processes running at once in [`many_writers_and_readers`], and commits each makes.
const WRITERS: u64 = 8;
const COMMITS_EACH: u64 = 25;

/// Rows of writer `w`'s `i`th append: 1 to 7, so every commit has a different input.
fn rows_of(w: u64, i: u64) -> u64 {
    1 + (w * 3 + i) % 7
}

/// What a reader saw: `(snapshot id, rows)` pairs, in the order seen.
type Seen = Vec<(String, u64)>;

/// One reader process pass: `dstore show HEAD --json`, then `dstore cat <that id>` must print
/// exactly that many rows; and `dstore cat HEAD` must print a whole snapshot's rows (checked
/// against the log afterwards). Any failure is an error: readers never conflict.
fn read_once(s: &Scratch, seen: &mut Seen, cat_head: &mut Vec<u64>) -> Result<(), String> {
    let show = s.run(&["show", "HEAD", "--json"]);
    if show.code != 0 {
        if show.stderr.contains("no commits yet") {
            return Ok(());
        }
        return Err(format!("show HEAD failed: {}", show.stderr));
    }
    let v: serde_json::Value = serde_json::from_str(&show.stdout).map_err(|e| e.to_string())?;
    let id = v["snapshot"].as_str().ok_or("no snapshot")?.to_owned();
    let rows = v["tables"][0]["rows"].as_u64().ok_or("no rows")?;
    let cat = s.run(&["cat", &id, "-t", "t", "--format", "jsonl"]);
    if cat.code != 0 {
        return Err(format!("cat {id} failed: {}", cat.stderr));
    }
    let lines = cat.stdout.lines().count() as u64;
    if lines != rows {
        return Err(format!("cat {id} printed {lines} rows, show said {rows}"));
    }
    seen.push((id, rows));
    let cat = s.run(&["cat", "HEAD", "-t", "t", "--format", "jsonl"]);
    if cat.code != 0 {
        return Err(format!("cat HEAD failed: {}", cat.stderr));
    }
    cat_head.push(cat.stdout.lines().count() as u64);
    Ok(())
}

/// A library reader: resolve HEAD, open it by id and scan every row.
fn read_once_library(store: &dstore::Store, seen: &mut Seen) -> Result<(), String> {
    let head = match store.resolve("HEAD") {
        Ok(h) => h,
        Err(dstore::Error::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(format!("resolve HEAD: {e}")),
    };
    let snap = store.snapshot(&head.id).map_err(|e| e.to_string())?;
    let rows = snap.table("t").map_err(|e| e.to_string())?.rows;
    let mut scanned = 0;
    for b in snap
        .scan("t")
        .and_then(dstore::ScanBuilder::batches)
        .map_err(|e| e.to_string())?
    {
        scanned += b.map_err(|e| e.to_string())?.num_rows() as u64;
    }
    if scanned != rows {
        return Err(format!("{}: scanned {scanned} rows of {rows}", head.id));
    }
    seen.push((head.id.to_hex(), rows));
    Ok(())
}

/// Eight writer processes at a time, each committing 25 appends to one table, while two reader
/// threads run `show`/`cat` processes and one scans through the library. Afterwards the log is
/// exactly the 200 commits, dense; HEAD holds every appended segment; every snapshot a reader
/// saw is one the log made, with its rows, and no reader failed.
#[test]
fn many_writers_and_readers() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let started = std::time::Instant::now();
    let (s, store_dir) = new_store();
    for w in 0..WRITERS {
        for i in 0..COMMITS_EACH {
            let mut csv = String::from("id,writer\n");
            for r in 0..rows_of(w, i) {
                writeln!(csv, "{},w{w}", w * 1_000_000 + i * 1000 + r).unwrap();
            }
            s.write(&format!("w{w}/{i}.csv"), csv);
        }
    }
    let writing = AtomicBool::new(true);
    let (writer_runs, readers) = std::thread::scope(|sc| {
        let readers: Vec<_> = (0..3)
            .map(|k| {
                let (s, writing, store_dir) = (&s, &writing, &store_dir);
                sc.spawn(move || {
                    let mut seen = Seen::new();
                    let mut cat_head = Vec::new();
                    let store = dstore::Store::open(store_dir).unwrap();
                    let mut passes = 0;
                    while writing.load(Ordering::SeqCst) || passes == 0 {
                        let r = if k == 2 {
                            read_once_library(&store, &mut seen)
                        } else {
                            read_once(s, &mut seen, &mut cat_head)
                        };
                        if let Err(e) = r {
                            return Err(format!("reader {k}: {e}"));
                        }
                        passes += 1;
                    }
                    Ok((seen, cat_head))
                })
            })
            .collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let s = &s;
                sc.spawn(move || {
                    (0..COMMITS_EACH)
                        .map(|i| {
                            let r = s.run(&[
                                "snapshot",
                                "-t",
                                "t",
                                &format!("w{w}/{i}.csv"),
                                "-m",
                                &format!("w{w}-{i}"),
                                "--json",
                            ]);
                            (w, i, r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let runs: Vec<_> = writers
            .into_iter()
            .flat_map(|h| h.join().expect("writer thread"))
            .collect();
        writing.store(false, Ordering::SeqCst);
        let readers: Vec<_> = readers
            .into_iter()
            .map(|h| h.join().expect("reader thread"))
            .collect();
        (runs, readers)
    });
    // Every writer run succeeded (conflicts are retried inside the commit, never surfaced).
    let mut conflicts = 0;
    for (w, i, r) in &writer_runs {
        assert_eq!(
            r.code, 0,
            "writer {w} commit {i} failed:\n{}{}",
            r.stdout, r.stderr
        );
        conflicts += r.json()["conflicts"].as_u64().unwrap();
    }
    // The log: exactly every commit, seqs 1..=200, each with its own rows.
    let total_commits = WRITERS * COMMITS_EACH;
    let log = log_json(&s);
    let mut seqs: Vec<u64> = log.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=total_commits).collect::<Vec<_>>());
    let mut messages = std::collections::BTreeSet::new();
    for r in &log {
        assert_eq!(r["kind"], "commit");
        let m = r["message"].as_str().unwrap().to_owned();
        let (w, i) = m[1..].split_once('-').unwrap();
        let (w, i): (u64, u64) = (w.parse().unwrap(), i.parse().unwrap());
        assert_eq!(r["changes"][0]["rows"].as_u64(), Some(rows_of(w, i)), "{m}");
        assert!(messages.insert(m));
    }
    // Each commit's segments are its parent's plus its own: HEAD holds every appended segment.
    let store = dstore::Store::open(&store_dir).unwrap();
    let mut rows_at_seq = std::collections::BTreeMap::new();
    let mut prev: Vec<dstore::SegmentId> = Vec::new();
    let mut total = 0;
    for seq in 1..=total_commits {
        let id = store.resolve(&format!("@{seq}")).unwrap().id;
        let snap = store.snapshot(&id).unwrap();
        let segs: Vec<_> = snap.segments("t").unwrap().iter().map(|e| e.id).collect();
        assert_eq!(segs.len() as u64, seq, "@{seq}");
        assert_eq!(segs[..prev.len()], prev[..], "@{seq} dropped a segment");
        total = snap.table("t").unwrap().rows;
        rows_at_seq.insert(id.to_hex(), total);
        prev = segs;
    }
    let expected: u64 = (0..WRITERS)
        .flat_map(|w| (0..COMMITS_EACH).map(move |i| rows_of(w, i)))
        .sum();
    assert_eq!(total, expected);
    assert_eq!(
        prev.iter().collect::<std::collections::HashSet<_>>().len() as u64,
        total_commits
    );
    // Readers never failed, and saw only whole snapshots, never going back in time.
    let valid_totals: std::collections::BTreeSet<u64> = rows_at_seq.values().copied().collect();
    let mut reads = 0;
    for (k, r) in readers.into_iter().enumerate() {
        let (seen, cat_head) = r.unwrap_or_else(|e| panic!("{e}"));
        reads += seen.len() + cat_head.len();
        for (id, rows) in &seen {
            assert_eq!(rows_at_seq.get(id), Some(rows), "reader {k} saw {id}");
        }
        assert!(
            seen.windows(2).all(|p| p[0].1 <= p[1].1),
            "reader {k} went back"
        );
        for n in cat_head {
            assert!(
                valid_totals.contains(&n),
                "reader {k}: cat HEAD printed {n} rows"
            );
        }
    }
    assert!(reads >= 10, "readers ran only {reads} times");
    s.run(&["verify", "--all"]).ok();
    println!(
        "{total_commits} commits by {WRITERS} processes ({conflicts} lost races, retried), \
         {reads} reads, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A reader that names a snapshot by its full id never touches the catalog lock: with
/// `catalog.lock` held (as a writer holds it around a commit), `dstore cat <id>` and the
/// library's `Store::snapshot(id)` + scan complete, while a writer waits for the lock.
#[test]
fn a_reader_with_a_full_id_never_waits_for_a_writer() {
    let (s, store_dir) = new_store();
    s.write("a.csv", "id\n1\n2\n3\n");
    s.write("b.csv", "id\n4\n");
    s.run(&["snapshot", "-t", "t", "a.csv"]).ok();
    let id = log_json(&s)[0]["snapshot"].as_str().unwrap().to_owned();
    let lock = std::fs::File::open(store_dir.join("catalog.lock")).unwrap();
    lock.lock().unwrap();
    // A writer blocks on the lock...
    let mut writer = s
        .cmd(&["snapshot", "-t", "t", "b.csv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // ...while readers by full id finish (each given 30 s: a reader that waited for the lock
    // would wait forever).
    let deadline = std::time::Duration::from_secs(30);
    let mut cat = s
        .cmd(&["cat", &id, "-t", "t", "--format", "jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while cat.try_wait().unwrap().is_none() {
        if t.elapsed() > deadline {
            cat.kill().unwrap();
            panic!("`dstore cat <full id>` waited for the writer lock");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = cat.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let (tx, rx) = std::sync::mpsc::channel();
    let (dir, hex) = (store_dir.clone(), id.clone());
    std::thread::spawn(move || {
        let store = dstore::Store::open(&dir).unwrap();
        let snap = store
            .snapshot(&dstore::SnapshotId::from_hex(&hex).unwrap())
            .unwrap();
        let rows: usize = snap
            .scan("t")
            .unwrap()
            .batches()
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
        tx.send(rows).unwrap();
    });
    let rows = rx
        .recv_timeout(deadline)
        .expect("Store::snapshot(full id) + scan waited for the writer lock");
    assert_eq!(rows, 3);
    // The writer, meanwhile, is still waiting: a snapshot of one row takes well under this.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        writer.try_wait().unwrap().is_none(),
        "the writer did not wait for catalog.lock: the test holds the wrong lock"
    );
    lock.unlock().unwrap();
    let out = writer.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows_at(&s, "HEAD", "t"), 4);
}
