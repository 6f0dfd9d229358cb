//! Concurrent writers: several threads, each with its own `Store` opened on the same path,
//! append at once. Every commit must land exactly once, with dense sequence numbers, and HEAD
//! must hold every commit's segment.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Barrier;

use dstore::{SegmentId, Store, format::RecordKind};

use super::common::{self, append, fresh_store};

const THREADS: u64 = 4;
const PER_THREAD: u64 = 5;

/// One commit as its writer saw it.
#[derive(Debug)]
struct Landed {
    thread: u64,
    seq: u64,
    id: dstore::SnapshotId,
    segment: SegmentId,
    rows: u64,
}

fn seed(thread: u64, i: u64) -> u64 {
    1000 + thread * 100 + i
}

fn rows(thread: u64, i: u64) -> usize {
    (thread + i) as usize % 3 + 1
}

/// What a reader sees: HEAD's seq and the log's length never go back, the log is dense.
fn read_once(store: &Store, last: &mut (u64, usize)) -> Result<(), String> {
    let head = match store.resolve("HEAD") {
        Ok(r) => r.seq.ok_or("HEAD without a seq")?,
        Err(dstore::Error::NotFound { .. }) => 0,
        Err(e) => return Err(format!("resolve HEAD: {e} ({e:?})")),
    };
    let log = store
        .log(usize::MAX)
        .map_err(|e| format!("log: {e} ({e:?})"))?;
    let seqs: Vec<u64> = log.iter().map(|r| r.seq).collect();
    if seqs != (1..=log.len() as u64).rev().collect::<Vec<_>>() {
        return Err(format!("log seqs not dense: {seqs:?}"));
    }
    if head < last.0 || log.len() < last.1 {
        return Err(format!(
            "went back: HEAD @{head}, {} records after {last:?}",
            log.len()
        ));
    }
    *last = (head, log.len());
    Ok(())
}

/// Runs the writers; with `reindexer`, one more thread rebuilds the catalog meanwhile and
/// another one reads.
fn writers(root: &Path, reindexer: bool) -> Vec<Landed> {
    let barrier = Barrier::new(THREADS as usize + 2 * usize::from(reindexer));
    let results: Vec<Result<Vec<Landed>, String>> = std::thread::scope(|s| {
        let reindex = reindexer.then(|| {
            let barrier = &barrier;
            s.spawn(move || -> Result<(), String> {
                let store = Store::open(root).map_err(|e| format!("open: {e}"))?;
                barrier.wait();
                for i in 0..PER_THREAD {
                    store
                        .reindex()
                        .map_err(|e| format!("reindex {i}: {e} ({e:?})"))?;
                }
                Ok(())
            })
        });
        let reader = reindexer.then(|| {
            let barrier = &barrier;
            s.spawn(move || -> Result<(), String> {
                let store = Store::open(root).map_err(|e| format!("open: {e}"))?;
                barrier.wait();
                let mut last = (0, 0);
                for i in 0..4 * PER_THREAD {
                    read_once(&store, &mut last).map_err(|e| format!("read {i}: {e}"))?;
                }
                Ok(())
            })
        });
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || -> Result<Vec<Landed>, String> {
                    let store = Store::open(root).map_err(|e| format!("open: {e}"))?;
                    barrier.wait();
                    let mut out = Vec::new();
                    for i in 0..PER_THREAD {
                        let out_i = common::commit_batch(
                            &store,
                            "t",
                            dstore::WriteMode::Append,
                            seed(t, i),
                            rows(t, i),
                            &dstore::CommitOptions::message(format!("thread {t} commit {i}")),
                        )
                        .map_err(|e| format!("thread {t} commit {i}: {e} ({e:?})"))?;
                        // The writer's own segment is the last one of its snapshot.
                        let snap = store.snapshot(&out_i.id).map_err(|e| e.to_string())?;
                        let segs = snap.segments("t").map_err(|e| e.to_string())?;
                        let last = segs.last().ok_or("no segments")?;
                        out.push(Landed {
                            thread: t,
                            seq: out_i.seq,
                            id: out_i.id,
                            segment: last.id,
                            rows: last.rows,
                        });
                    }
                    Ok(out)
                })
            })
            .collect();
        let mut out: Vec<Result<Vec<Landed>, String>> = handles
            .into_iter()
            .map(|h| h.join().expect("thread panicked"))
            .collect();
        for h in [reindex, reader].into_iter().flatten() {
            out.push(h.join().expect("thread panicked").map(|()| Vec::new()));
        }
        out
    });
    let mut all = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(v) => all.extend(v),
            Err(e) => errors.push(e),
        }
    }
    assert!(errors.is_empty(), "writers failed: {errors:#?}");
    all
}

fn check(store: &Store, before: u64, landed: &[Landed]) {
    let total = before + THREADS * PER_THREAD;
    // Sequence numbers: each commit got its own, together dense after the ones before.
    let mut seqs: Vec<u64> = landed.iter().map(|l| l.seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (before + 1..=total).collect::<Vec<_>>(),
        "commit seqs"
    );
    let log = store.log(usize::MAX).expect("log");
    let log_seqs: Vec<u64> = log.iter().map(|r| r.seq).collect();
    assert_eq!(log_seqs, (1..=total).rev().collect::<Vec<_>>(), "log seqs");
    for r in &log {
        let RecordKind::Commit { parent_commit, .. } = &r.kind else {
            panic!("@{} is not a commit", r.seq);
        };
        assert_eq!(
            *parent_commit,
            r.seq.checked_sub(1).filter(|p| *p > 0),
            "parent of @{}",
            r.seq
        );
    }
    for l in landed {
        let rec = log.iter().find(|r| r.seq == l.seq).expect("in the log");
        assert_eq!(
            rec.snapshot(),
            Some(l.id),
            "@{} names the writer's snapshot",
            l.seq
        );
    }

    // HEAD holds every writer's segment once, in seq order, after the earlier ones.
    let head = store.resolve("HEAD").expect("HEAD");
    assert_eq!(head.seq, Some(total));
    let snap = store.snapshot(&head.id).expect("snapshot");
    let segs = snap.segments("t").expect("segments");
    assert_eq!(segs.len() as u64, total, "segments in HEAD");
    let mut by_seq: Vec<&Landed> = landed.iter().collect();
    by_seq.sort_by_key(|l| l.seq);
    let tail: Vec<SegmentId> = segs[before as usize..].iter().map(|e| e.id).collect();
    let want: Vec<SegmentId> = by_seq.iter().map(|l| l.segment).collect();
    assert_eq!(
        tail, want,
        "HEAD's segments are the writers' segments in commit order"
    );
    let distinct: HashSet<SegmentId> = want.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        want.len(),
        "every writer wrote a distinct segment"
    );
    let expected_rows: u64 = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |i| rows(t, i) as u64))
        .sum::<u64>()
        + segs[..before as usize].iter().map(|e| e.rows).sum::<u64>();
    assert_eq!(snap.table("t").unwrap().rows, expected_rows, "HEAD rows");

    // Each writer's segment holds its own data; each writer's commits are in its own order.
    for l in landed {
        let i = (0..PER_THREAD)
            .find(|i| {
                common::segment_values(store.root(), &l.segment, "x").first()
                    == Some(&(seed(l.thread, *i) as i64 * 1_000_000))
            })
            .unwrap_or_else(|| panic!("@{}: segment holds another writer's data", l.seq));
        assert_eq!(l.rows, rows(l.thread, i) as u64);
    }
    for t in 0..THREADS {
        let mine: Vec<u64> = landed
            .iter()
            .filter(|l| l.thread == t)
            .map(|l| l.seq)
            .collect();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "thread {t}: seqs {mine:?}"
        );
    }

    // Every snapshot in the log is HEAD's list cut at its commit.
    for r in &log {
        let s = store.snapshot(&r.snapshot().unwrap()).expect("snapshot");
        let got: Vec<SegmentId> = s.segments("t").unwrap().iter().map(|e| e.id).collect();
        let want: Vec<SegmentId> = segs[..r.seq as usize].iter().map(|e| e.id).collect();
        assert_eq!(got, want, "snapshot of @{}", r.seq);
    }
    let report = common::verify_all(store).expect("verify");
    assert!(report.ok(), "{:?}", report.problems);
    assert!(
        common::files_under(store.root(), "tmp").is_empty(),
        "tmp/ is empty"
    );
}

/// The store has no catalog yet when the writers start: they all find it missing at once.
#[test]
fn concurrent_writers_on_a_fresh_store() {
    let (_d, store) = fresh_store();
    let landed = writers(store.root(), false);
    check(&store, 0, &landed);
}

/// The store has a commit and a catalog before the writers start.
#[test]
fn concurrent_writers_on_an_indexed_store() {
    let (_d, store) = fresh_store();
    append(&store, "t", 1, 2);
    store.resolve("HEAD").expect("catalog built");
    let landed = writers(store.root(), false);
    check(&store, 1, &landed);
}

/// `reindex` (which also runs on its own when a reader finds the catalog missing or stale)
/// runs while the writers commit and a reader reads: it must neither fail nor make a commit
/// or a read fail, and the reader never sees history go back.
#[test]
fn reindex_while_writers_commit() {
    let (_d, store) = fresh_store();
    append(&store, "t", 1, 2);
    store.resolve("HEAD").expect("catalog built");
    let landed = writers(store.root(), true);
    check(&store, 1, &landed);
}

/// A store keeps the catalog it opened for reading; commits made through another `Store` (as
/// another process would) after that must still be seen, right away, by ref, tag, time and
/// log, also once more records follow the kept catalog than it is kept for.
#[test]
fn a_kept_reader_catalog_sees_commits_made_elsewhere() {
    let (_d, writer) = fresh_store();
    let first = append(&writer, "t", 1, 2);
    let reader = Store::open(writer.root()).unwrap();
    assert_eq!(reader.resolve("HEAD").unwrap().id, first.id);
    let mut prev = first;
    for i in 0..40u64 {
        let c = append(&writer, "t", 100 + i, 1);
        let tag = format!("v{i}");
        writer.set_tag(&tag, "HEAD", false, "me").unwrap();
        let head = reader.resolve("HEAD").unwrap();
        assert_eq!((head.id, head.seq), (c.id, Some(c.seq)), "after commit {i}");
        assert_eq!(reader.resolve(&tag).unwrap().id, c.id);
        assert_eq!(reader.resolve("HEAD~1").unwrap().seq, Some(prev.seq));
        let log = reader.log(2).unwrap();
        assert_eq!(log[0].seq, c.seq + 1, "the tag record is the newest");
        assert_eq!(reader.tags().unwrap().len(), i as usize + 1);
        prev = c;
    }
    // And a catalog rebuilt by another store in the meantime changes nothing it answers.
    let before = reader.log(usize::MAX).unwrap();
    writer.reindex().unwrap();
    append(&writer, "t", 999, 1);
    let after = reader.log(usize::MAX).unwrap();
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(&after[1..], &before[..]);
}
