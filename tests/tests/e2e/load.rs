//! The catalog under load: readers that open it while writers commit (and compact it) never
//! rebuild it; a rebuild happens only when the catalog is really missing or damaged, and the
//! warning it prints carries colour only on a terminal without `NO_COLOR`.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dstore::format::{LogRecord, RecordHash, RecordKind};
use dstore::{CommitOptions, IngestOptions, Store};
use dstore_e2e::Scratch;

use crate::{id_name_batch, new_store};

/// Commits in the store before the load starts.
const HISTORY: u64 = 2_000;
/// Reader and writer processes, and in-process library readers.
const READER_PROCESSES: usize = 4;
const LIBRARY_READERS: usize = 2;
const WRITERS: usize = 2;
/// How long the readers and writers run.
const LOAD: Duration = Duration::from_secs(10);

/// What the warning of a rebuild says (`catalog unusable (...); rebuilding it from the log`).
const REBUILD: &str = "rebuilding it from the log";
/// What a retried open says at debug level.
const RETRY: &str = "catalog open ";

/// One real commit of table `t` through the library, then `HISTORY - 1` more commit records of
/// the same snapshot, each written as a writer writes it (encoded by the format crate, the hash
/// chain kept) and indexed by one `reindex`: a real commit costs tens of milliseconds of fsyncs
/// here, and only the length of the history matters to the catalog.
fn long_history(store: &Path) {
    let st = Store::open(store).unwrap();
    let mut tx = st.begin();
    let b = id_name_batch(&[1, 2, 3]);
    tx.add_reader(
        "t",
        arrow::record_batch::RecordBatchIterator::new([Ok(b.clone())], b.schema()),
        &IngestOptions::default(),
    )
    .unwrap();
    tx.commit(&CommitOptions::message("first")).unwrap();
    let first = st.log(1).unwrap().remove(0);
    let RecordKind::Commit {
        snapshot, changes, ..
    } = &first.kind
    else {
        panic!("not a commit")
    };
    let path = |seq: u64| store.join(format!("log/{seq:020}.rec"));
    let mut prev = RecordHash::of(&std::fs::read(path(1)).unwrap());
    for seq in 2..=HISTORY {
        let mut changes = changes.clone();
        for c in &mut changes {
            c.op = dstore::format::TableOp::Append;
            (c.segments, c.rows, c.bytes) = (0, 0, 0);
        }
        let rec = LogRecord {
            seq,
            prev,
            time_micros: first.time_micros + seq as i64,
            author: "history".into(),
            message: format!("commit {seq}"),
            kind: RecordKind::Commit {
                snapshot: *snapshot,
                parent_commit: Some(seq - 1),
                changes,
                tags: Vec::new(),
                upstream: Vec::new(),
            },
        };
        let bytes = rec.encode();
        prev = RecordHash::of(&bytes);
        std::fs::write(path(seq), &bytes).unwrap();
    }
    assert_eq!(st.reindex().unwrap(), HISTORY);
}

/// `p`-th percentile of sorted `v`, in milliseconds.
fn percentile(v: &[Duration], p: f64) -> f64 {
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

#[derive(Default)]
struct Tally {
    reads: Vec<Duration>,
    retries: u64,
    rebuilds: u64,
    failures: Vec<String>,
}

/// One reader process: `show HEAD --json` or `cat HEAD`, timed; its stderr (debug level for
/// the catalog) counted for retried opens and rebuilds.
fn read_process(s: &Scratch, i: u64, t: &mut Tally) {
    let args: &[&str] = if i.is_multiple_of(2) {
        &["show", "HEAD", "--json"]
    } else {
        &["cat", "HEAD", "-t", "t", "--format", "jsonl"]
    };
    let start = Instant::now();
    let out = s
        .cmd(args)
        .env("DSTORE_LOG", "warn,dstore::catalog=debug")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    t.reads.push(start.elapsed());
    let stderr = String::from_utf8_lossy(&out.stderr);
    t.retries += stderr.matches(RETRY).count() as u64;
    t.rebuilds += stderr.matches(REBUILD).count() as u64;
    if !out.status.success() || out.stdout.is_empty() {
        t.failures
            .push(format!("{args:?}: {}\n{stderr}", out.status));
    }
}

/// One library read: a fresh handle (so a fresh catalog open), HEAD resolved and scanned.
fn read_library(store: &Path, t: &mut Tally) {
    let start = Instant::now();
    let st = Store::open(store).unwrap();
    let read = st.resolve("HEAD").and_then(|h| {
        let snap = st.snapshot(&h.id)?;
        let mut rows = 0;
        for b in snap.scan("t")?.batches()? {
            rows += b?.num_rows() as u64;
        }
        Ok((rows, snap.table("t")?.rows))
    });
    t.reads.push(start.elapsed());
    match read {
        Ok((scanned, rows)) if scanned == rows => {}
        Ok((scanned, rows)) => t.failures.push(format!("scanned {scanned} of {rows} rows")),
        Err(e) => t.failures.push(e.to_string()),
    }
    let stats = st.catalog_stats();
    t.retries += stats.retried_opens;
    t.rebuilds += stats.rebuilds;
}

/// Readers resolving and scanning HEAD, as processes and through the library, while writer
/// processes commit (each commit opens the catalog for writing, flushes and compacts it). No
/// read fails and none rebuilds the catalog (its directory is never replaced); read latency is
/// printed.
#[test]
fn readers_under_concurrent_writers_never_rebuild_the_catalog() {
    let started = Instant::now();
    let (s, store) = new_store();
    long_history(&store);
    let built = started.elapsed();
    s.write("one.csv", "id,name\n7,seven\n");
    let catalog_inode = std::fs::metadata(store.join("catalog")).unwrap().ino();
    let stop = AtomicBool::new(false);
    let commits = AtomicU64::new(0);
    let (mut process, mut library, writer_failures) = std::thread::scope(|sc| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (s, stop, commits) = (&s, &stop, &commits);
                sc.spawn(move || {
                    let mut t = Tally::default();
                    while !stop.load(Ordering::SeqCst) {
                        let out = s
                            .cmd(&["snapshot", "--allow-duplicates", "-t", "t", "one.csv"])
                            .env("DSTORE_LOG", "warn")
                            .output()
                            .unwrap();
                        let stderr = String::from_utf8_lossy(&out.stderr);
                        t.rebuilds += stderr.matches(REBUILD).count() as u64;
                        if out.status.success() {
                            commits.fetch_add(1, Ordering::SeqCst);
                        } else {
                            t.failures
                                .push(format!("snapshot: {}\n{stderr}", out.status));
                        }
                    }
                    t
                })
            })
            .collect();
        let readers: Vec<_> = (0..READER_PROCESSES)
            .map(|k| {
                let (s, stop) = (&s, &stop);
                sc.spawn(move || {
                    let mut t = Tally::default();
                    let mut i = k as u64;
                    while !stop.load(Ordering::SeqCst) {
                        read_process(s, i, &mut t);
                        i += 1;
                    }
                    t
                })
            })
            .collect();
        let in_process: Vec<_> = (0..LIBRARY_READERS)
            .map(|_| {
                let (store, stop) = (&store, &stop);
                sc.spawn(move || {
                    let mut t = Tally::default();
                    while !stop.load(Ordering::SeqCst) {
                        read_library(store, &mut t);
                    }
                    t
                })
            })
            .collect();
        std::thread::sleep(LOAD);
        stop.store(true, Ordering::SeqCst);
        let join = |v: Vec<std::thread::ScopedJoinHandle<'_, Tally>>| -> Tally {
            let mut all = Tally::default();
            for h in v {
                let t = h.join().expect("load thread");
                all.reads.extend(t.reads);
                all.retries += t.retries;
                all.rebuilds += t.rebuilds;
                all.failures.extend(t.failures);
            }
            all
        };
        let w = join(writers);
        (join(readers), join(in_process), w)
    });
    let commits = commits.load(Ordering::SeqCst);
    for t in [&process, &library, &writer_failures] {
        assert!(t.failures.is_empty(), "{}", t.failures.join("\n"));
    }
    assert!(commits > 0 && !process.reads.is_empty() && !library.reads.is_empty());
    assert_eq!(
        (process.rebuilds, library.rebuilds, writer_failures.rebuilds),
        (0, 0, 0),
        "catalog rebuilds by (reader processes, library readers, writers)"
    );
    assert_eq!(
        std::fs::metadata(store.join("catalog")).unwrap().ino(),
        catalog_inode,
        "the catalog directory was replaced: something rebuilt it"
    );
    assert_eq!(
        crate::log_json(&s).len() as u64,
        HISTORY + commits,
        "every commit is in the log"
    );
    process.reads.sort();
    library.reads.sort();
    println!(
        "load: {HISTORY} commits of history, {commits} more by {WRITERS} writer processes in \
         {:.0} s; {} reads by {READER_PROCESSES} reader processes (p50 {:.1} ms, p99 {:.1} ms), \
         {} by {LIBRARY_READERS} library readers (p50 {:.1} ms, p99 {:.1} ms); catalog opens \
         retried {} times, rebuilds 0; history built in {:.1} s",
        LOAD.as_secs_f64(),
        process.reads.len(),
        percentile(&process.reads, 0.5),
        percentile(&process.reads, 0.99),
        library.reads.len(),
        percentile(&library.reads, 0.5),
        percentile(&library.reads, 0.99),
        process.retries + library.retries,
        built.as_secs_f64(),
    );
}

/// A store with one commit whose catalog has lost its table files: damaged for good, not
/// raced.
fn damaged_catalog() -> (Scratch, std::path::PathBuf) {
    let (s, store) = new_store();
    s.write("a.csv", "id\n1\n2\n");
    s.run(&["snapshot", "-t", "t", "a.csv"]).ok();
    s.run(&["snapshot", "--allow-duplicates", "-t", "t", "a.csv"])
        .ok();
    let mut removed = 0;
    for e in std::fs::read_dir(store.join("catalog")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "sst") {
            std::fs::remove_file(p).unwrap();
            removed += 1;
        }
    }
    assert!(removed > 0, "the catalog has no table file to remove");
    (s, store)
}

/// A damaged catalog is rebuilt once, with a warning; on stderr to a file the warning has no
/// ANSI colour codes. The next command finds it whole.
#[test]
fn a_damaged_catalog_is_rebuilt_with_a_plain_warning() {
    let (s, _store) = damaged_catalog();
    let err = s.path().join("stderr.txt");
    let out = s
        .cmd(&["log"])
        .env("DSTORE_LOG", "warn")
        .env_remove("NO_COLOR")
        .stderr(std::fs::File::create(&err).unwrap())
        .output()
        .unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    assert_eq!(stderr.matches(REBUILD).count(), 1, "{stderr}");
    assert!(
        !stderr.contains("\x1b["),
        "colour codes in a file: {stderr:?}"
    );
    let again = s.cmd(&["log"]).env("DSTORE_LOG", "warn").output().unwrap();
    assert!(again.status.success() && again.stderr.is_empty());
    // Through the library: one rebuild, counted, after the open was retried.
    let (_s2, store2) = damaged_catalog();
    let st = Store::open(&store2).unwrap();
    assert_eq!(st.resolve("HEAD~1").unwrap().seq, Some(1));
    let stats = st.catalog_stats();
    assert_eq!(stats.rebuilds, 1);
    assert!(stats.retried_opens >= 1, "{stats:?}");
    st.resolve("HEAD").unwrap();
    assert_eq!(st.catalog_stats().rebuilds, 1);
}

/// A missing catalog (deleted, or a fresh cache) is rebuilt quietly: nothing was wrong.
#[test]
fn a_missing_catalog_is_rebuilt_without_a_warning() {
    let (s, store) = new_store();
    s.write("a.csv", "id\n1\n");
    s.run(&["snapshot", "-t", "t", "a.csv"]).ok();
    std::fs::remove_dir_all(store.join("catalog")).unwrap();
    let out = s.cmd(&["log"]).env("DSTORE_LOG", "warn").output().unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(store.join("catalog/CURRENT").is_file());
    std::fs::remove_dir_all(store.join("catalog")).unwrap();
    let st = Store::open(&store).unwrap();
    st.resolve("HEAD").unwrap();
    assert_eq!(st.catalog_stats().rebuilds, 1);
}

/// On a terminal the warning is coloured, unless `NO_COLOR` is set (https://no-color.org).
/// `script` runs the command on a pseudo-terminal.
#[test]
fn colour_only_on_a_terminal_without_no_color() {
    let on_terminal = |no_color: Option<&str>| -> String {
        let (s, _store) = damaged_catalog();
        let line = format!(
            "{} log >/dev/null",
            dstore_e2e::dstore_bin().to_str().unwrap()
        );
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &line, "/dev/null"])
            .current_dir(s.path())
            .env("DSTORE_LOG", "warn")
            .env("DSTORE_AUTHOR", "tester")
            .env_remove("DSTORE_STORE")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        let out = c
            .output()
            .expect("script(1) from util-linux runs the pseudo-terminal");
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            text.contains(REBUILD),
            "no warning on the terminal: {text:?}"
        );
        text
    };
    assert!(
        on_terminal(None).contains("\x1b["),
        "no colour on a terminal"
    );
    assert!(
        !on_terminal(Some("1")).contains("\x1b["),
        "colour despite NO_COLOR"
    );
}
