//! Expire and gc against a model: random histories of appends, overwrites, tags, uses,
//! retirements, expiries (by count, by name, purges) and gc runs. After every step the store
//! must agree with the model: no expiry takes HEAD, a tagged snapshot or one a run uses (unless
//! purged); every candidate that is not protected is expired; gc (grace 0) leaves exactly the
//! segments some live snapshot reaches — a snapshot is live unless expired, or while a run
//! still uses it (not after a purge) — and everything live still reads.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use dstore::expire::ExpireOptions;
use dstore::gc::GcOptions;
use dstore::uses::UseSpec;
use dstore::{CommitOptions, SnapshotId, Store, WriteMode};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use super::common::{self, commit_batch, fresh_store};

#[derive(Debug, Clone)]
enum Op {
    Append(u8),
    Overwrite(u8),
    Tag(Index),
    Untag,
    Use(Index, u8),
    Retire(Index, u8),
    ExpireKeepLast(u8),
    ExpireNamed(Index),
    Purge(Index),
    Gc,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(|s| Op::Append(s % 8)),
        2 => any::<u8>().prop_map(|s| Op::Overwrite(s % 8)),
        1 => any::<Index>().prop_map(Op::Tag),
        1 => Just(Op::Untag),
        2 => (any::<Index>(), 0..3u8).prop_map(|(i, r)| Op::Use(i, r)),
        1 => (any::<Index>(), 0..3u8).prop_map(|(i, r)| Op::Retire(i, r)),
        2 => (1..4u8).prop_map(Op::ExpireKeepLast),
        1 => any::<Index>().prop_map(Op::ExpireNamed),
        1 => any::<Index>().prop_map(Op::Purge),
        2 => Just(Op::Gc),
    ]
}

#[derive(Default)]
struct Model {
    /// Snapshot of every commit, in order.
    commits: Vec<SnapshotId>,
    /// Rows of table `t` in each snapshot.
    rows: HashMap<SnapshotId, u64>,
    /// The one tag, `keep`, and where it points.
    tag: Option<SnapshotId>,
    /// (snapshot, run) uses, and whether retired.
    uses: BTreeMap<(SnapshotId, u8), bool>,
    /// Expired snapshots, and whether by a purge.
    expired: HashMap<SnapshotId, bool>,
}

impl Model {
    fn head(&self) -> Option<SnapshotId> {
        self.commits.last().copied()
    }
    fn live_use(&self, id: &SnapshotId) -> bool {
        self.uses
            .iter()
            .any(|((s, _), retired)| s == id && !retired)
    }
    fn protected(&self, id: &SnapshotId) -> bool {
        self.head() == Some(*id) || self.tag == Some(*id) || self.live_use(id)
    }
    /// Live for gc: not expired, or expired (not purged) while a run uses it.
    fn live(&self, id: &SnapshotId) -> bool {
        match self.expired.get(id) {
            None => true,
            Some(&purged) => !purged && self.live_use(id),
        }
    }
    fn pick(&self, i: Index) -> Option<SnapshotId> {
        (!self.commits.is_empty()).then(|| self.commits[i.index(self.commits.len())])
    }
}

fn run_name(r: u8) -> String {
    format!("run-{r}")
}

fn fail(what: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(what.into())
}

fn check(store: &Store, m: &Model, after_gc: bool, what: &str) -> Result<(), TestCaseError> {
    let root = store.root().to_owned();
    let present: BTreeSet<String> = common::files_under(&root, "segments")
        .into_iter()
        .filter(|p| p.ends_with(".parquet"))
        .collect();
    let mut needed: BTreeSet<String> = BTreeSet::new();
    let distinct: HashSet<SnapshotId> = m.commits.iter().copied().collect();
    for id in &distinct {
        let readable = store.snapshot(id);
        if m.expired.contains_key(id) {
            match readable {
                Err(dstore::Error::Expired { .. }) => {}
                other => {
                    return Err(fail(format!(
                        "{what}: expired {} opened: {other:?}",
                        id.short(8)
                    )));
                }
            }
        }
        if !m.live(id) {
            continue;
        }
        // Read its data through a view that ignores expiry: the manifest and pages.
        let manifest_path = common::manifest_path(&root, id);
        let manifest = dstore::format::Manifest::decode(&std::fs::read(&manifest_path).unwrap())
            .map_err(|e| fail(format!("{what}: manifest {}: {e}", id.short(8))))?;
        let mut rows = 0;
        for t in &manifest.tables {
            for p in &t.pages {
                let page = dstore::format::SegmentList::decode(
                    &std::fs::read(common::page_path(&root, &p.id))
                        .map_err(|e| fail(format!("{what}: page of live {}: {e}", id.short(8))))?,
                )
                .map_err(|e| fail(e.to_string()))?;
                for e in page.entries {
                    rows += e.rows;
                    let rel = common::segment_path(&root, &e.id)
                        .strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    needed.insert(rel);
                }
            }
        }
        if rows != m.rows[id] {
            return Err(fail(format!(
                "{what}: {} holds {rows} rows, model {}",
                id.short(8),
                m.rows[id]
            )));
        }
        if !m.expired.contains_key(id) {
            let snap = readable.map_err(|e| fail(format!("{what}: live {}: {e}", id.short(8))))?;
            let n: u64 = snap.tables().iter().map(|t| t.rows).sum();
            prop_assert_eq!(n, m.rows[id]);
        }
    }
    let missing: Vec<&String> = needed.difference(&present).collect();
    if !missing.is_empty() {
        return Err(fail(format!("{what}: live segments removed: {missing:?}")));
    }
    if after_gc {
        let extra: Vec<&String> = present.difference(&needed).collect();
        if !extra.is_empty() {
            return Err(fail(format!(
                "{what}: gc left segments only expired snapshots reach: {extra:?}"
            )));
        }
        let v = common::verify_all(store).map_err(|e| fail(e.to_string()))?;
        if !v.ok() {
            return Err(fail(format!("{what}: verify: {:?}", v.problems)));
        }
    }
    Ok(())
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let (_dir, store) = fresh_store();
    let mut m = Model::default();
    let mut seeds = 0u64;
    for (step, op) in ops.iter().enumerate() {
        let what = format!("step {step} {op:?}");
        let mut after_gc = false;
        match op {
            Op::Append(s) | Op::Overwrite(s) => {
                let overwrite = matches!(op, Op::Overwrite(_));
                // A fresh seed each time so segments differ, except that small seeds repeat
                // across the history to make segments shared between snapshots.
                seeds += 1;
                let seed = if *s < 4 { u64::from(*s) } else { 100 + seeds };
                let rows = 1 + usize::from(*s % 3);
                let mode = if overwrite || m.commits.is_empty() {
                    WriteMode::Overwrite
                } else {
                    WriteMode::Append
                };
                let prev = m.head().map_or(0, |h| m.rows[&h]);
                match commit_batch(&store, "t", mode, seed, rows, &CommitOptions::message("c")) {
                    Ok(c) => {
                        let n = if mode == WriteMode::Overwrite {
                            0
                        } else {
                            prev
                        } + rows as u64;
                        m.commits.push(c.id);
                        m.rows.insert(c.id, n);
                        // The same content committed again revives an expired snapshot (its
                        // segments and pages are written again).
                        m.expired.remove(&c.id);
                    }
                    Err(e) => return Err(fail(format!("{what}: {e}"))),
                }
            }
            Op::Tag(i) => {
                if let Some(id) = m.pick(*i) {
                    if m.expired.contains_key(&id) {
                        // A tag set after the expiry would point at data gc removes.
                        let r = store.set_tag("keep", &id.to_hex(), true, "t");
                        prop_assert!(
                            matches!(r, Err(dstore::Error::Expired { .. })),
                            "{}: tagging an expired snapshot: {:?}",
                            what,
                            r
                        );
                        continue;
                    }
                    store
                        .set_tag("keep", &id.to_hex(), true, "t")
                        .map_err(|e| fail(format!("{what}: {e}")))?;
                    m.tag = Some(id);
                }
            }
            Op::Untag => {
                if m.tag.take().is_some() {
                    store
                        .delete_tag("keep", "t")
                        .map_err(|e| fail(e.to_string()))?;
                }
            }
            Op::Use(i, r) => {
                if let Some(id) = m.pick(*i) {
                    let res = store.record_use(
                        &id,
                        &UseSpec {
                            run: run_name(*r),
                            author: "t".into(),
                            ..UseSpec::default()
                        },
                    );
                    match (m.expired.contains_key(&id), res) {
                        (true, Err(dstore::Error::Expired { .. })) => {}
                        (false, Ok(rec)) => {
                            let retired = m.uses.get(&(id, *r)).copied().unwrap_or(false);
                            prop_assert_eq!(rec.retired.is_some(), retired);
                            m.uses.entry((id, *r)).or_insert(false);
                        }
                        (e, r) => return Err(fail(format!("{what}: expired={e}: {r:?}"))),
                    }
                }
            }
            Op::Retire(i, r) => {
                if let Some(id) = m.pick(*i) {
                    let res = store.retire_use(&id, &run_name(*r), "t", "");
                    match (m.uses.get(&(id, *r)), res) {
                        (Some(_), Ok(_)) => {
                            m.uses.insert((id, *r), true);
                        }
                        (None, Err(dstore::Error::NotFound { .. })) => {}
                        (_, Err(dstore::Error::Expired { .. })) if m.expired.contains_key(&id) => {}
                        (u, r) => return Err(fail(format!("{what}: model {u:?}: {r:?}"))),
                    }
                }
            }
            Op::ExpireKeepLast(n) => {
                let rep = store
                    .expire(&ExpireOptions {
                        keep_last: Some(u64::from(*n)),
                        author: "t".into(),
                        ..ExpireOptions::default()
                    })
                    .map_err(|e| fail(format!("{what}: {e}")))?;
                let got: HashSet<String> = rep.expired.iter().map(|e| e.snapshot.clone()).collect();
                // Candidates: snapshots none of whose commits is among the last n.
                let recent: HashSet<SnapshotId> = m
                    .commits
                    .iter()
                    .rev()
                    .take(usize::from(*n))
                    .copied()
                    .collect();
                let want: HashSet<String> = m
                    .commits
                    .iter()
                    .copied()
                    .filter(|id| {
                        !recent.contains(id) && !m.expired.contains_key(id) && !m.protected(id)
                    })
                    .map(|id| id.to_hex())
                    .collect();
                prop_assert_eq!(&got, &want, "{}", what);
                for id in &m.commits {
                    if got.contains(&id.to_hex()) {
                        m.expired.insert(*id, false);
                    }
                }
            }
            Op::ExpireNamed(i) => {
                if let Some(id) = m.pick(*i) {
                    let rep = store
                        .expire(&ExpireOptions {
                            refs: vec![id.to_hex()],
                            author: "t".into(),
                            ..ExpireOptions::default()
                        })
                        .map_err(|e| fail(format!("{what}: {e}")))?;
                    let expect = !m.expired.contains_key(&id) && !m.protected(&id);
                    prop_assert_eq!(rep.expired.len() == 1, expect, "{}", what);
                    if expect {
                        m.expired.insert(id, false);
                    }
                }
            }
            Op::Purge(i) => {
                if let Some(id) = m.pick(*i) {
                    let res = store.expire(&ExpireOptions {
                        purge: vec![id.to_hex()],
                        author: "t".into(),
                        ..ExpireOptions::default()
                    });
                    match res {
                        Err(dstore::Error::InvalidInput { .. }) if m.head() == Some(id) => {}
                        Ok(rep) if m.head() != Some(id) => {
                            // Purging what an ordinary expiry took makes it a purge too.
                            if m.expired.get(&id) != Some(&true) {
                                prop_assert_eq!(rep.expired.len(), 1);
                                m.expired.insert(id, true);
                            }
                        }
                        other => return Err(fail(format!("{what}: {other:?}"))),
                    }
                }
            }
            Op::Gc => {
                store
                    .gc(&GcOptions {
                        dry_run: false,
                        grace: std::time::Duration::ZERO,
                    })
                    .map_err(|e| fail(format!("{what}: {e}")))?;
                after_gc = true;
            }
        }
        check(&store, &m, after_gc, &what)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        max_shrink_iters: 300,
        ..ProptestConfig::default()
    })]

    #[test]
    fn expire_and_gc_agree_with_the_model(ops in prop::collection::vec(op(), 1..24)) {
        run(&ops)?;
    }
}

/// Use records are found again after the catalog is deleted, and 64 threads recording the same
/// use at once make one object while another thread holds the writer lock.
#[test]
fn concurrent_identical_uses_make_one_object_and_take_no_lock() {
    let (_dir, store) = fresh_store();
    let c = common::append(&store, "t", 1, 3);
    let root = store.root().to_owned();
    std::fs::remove_dir_all(root.join("catalog")).unwrap();
    // Rebuild the catalog first (a reader without one would build it under the lock).
    store.reindex().unwrap();
    let lock = std::fs::File::open(root.join("catalog.lock")).unwrap();
    lock.lock().unwrap();
    let created: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..64)
            .map(|_| {
                let root = &root;
                s.spawn(move || {
                    let st = Store::open(root).unwrap();
                    usize::from(
                        st.record_use(
                            &c.id,
                            &UseSpec {
                                run: "exp".into(),
                                tables: vec!["t".into()],
                                author: "t".into(),
                                ..UseSpec::default()
                            },
                        )
                        .unwrap()
                        .created,
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    drop(lock);
    assert_eq!(created, 1);
    let uses = store.uses_of(&c.id).unwrap();
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0].record.run, "exp");
    // Deleting the catalog does not lose it (uses live in their own objects).
    std::fs::remove_dir_all(root.join("catalog")).unwrap();
    assert_eq!(
        Store::open(&root)
            .unwrap()
            .uses_by_run("exp")
            .unwrap()
            .len(),
        1
    );
}

/// A purge given with an ordinary selection gets a record of its own: the purge flag (gc then
/// ignores live uses) covers only the purged snapshot; purging a snapshot an ordinary expiry took
/// upgrades it; a tag can't be set on an expired snapshot.
#[test]
fn a_purge_is_its_own_record_and_upgrades_an_ordinary_expiry() {
    let (_dir, store) = fresh_store();
    let mut ids = Vec::new();
    for seed in 0..4 {
        let mode = if seed == 0 {
            WriteMode::Overwrite
        } else {
            WriteMode::Append
        };
        ids.push(
            commit_batch(&store, "t", mode, seed, 2, &CommitOptions::message("c"))
                .unwrap()
                .id,
        );
    }
    store.set_tag("keep", &ids[0].to_hex(), false, "t").unwrap();
    let rep = store
        .expire(&ExpireOptions {
            keep_last: Some(1),
            purge: vec![ids[0].to_hex()],
            author: "t".into(),
            ..ExpireOptions::default()
        })
        .unwrap();
    let got: BTreeSet<String> = rep.expired.iter().map(|e| e.snapshot.clone()).collect();
    let want: BTreeSet<String> = ids[..3].iter().map(SnapshotId::to_hex).collect();
    assert_eq!(got, want);
    let expires: Vec<(Vec<SnapshotId>, bool)> = store
        .log(usize::MAX)
        .unwrap()
        .into_iter()
        .rev()
        .filter_map(|r| match r.kind {
            dstore_format::RecordKind::Expire { snapshots, purge } => Some((snapshots, purge)),
            _ => None,
        })
        .collect();
    let mut ordinary = ids[1..3].to_vec();
    ordinary.sort();
    assert_eq!(expires, vec![(vec![ids[0]], true), (ordinary, false)]);
    assert_eq!(rep.seq, Some(7));
    // Purging one the ordinary record took: a second purge record.
    let purge = |id: &SnapshotId| {
        store
            .expire(&ExpireOptions {
                purge: vec![id.to_hex()],
                author: "t".into(),
                ..ExpireOptions::default()
            })
            .unwrap()
    };
    assert_eq!(purge(&ids[1]).expired.len(), 1);
    let again = purge(&ids[1]);
    assert_eq!(
        (again.expired.len(), again.already, again.seq),
        (0, 1, None)
    );
    let t = store.set_tag("late", &ids[2].to_hex(), false, "t");
    assert!(matches!(t, Err(dstore::Error::Expired { .. })), "{t:?}");
}

/// A push of a snapshot the destination expired (and gc emptied) copies its data again and
/// commits it again, which revives it there; a push of a live one copies nothing.
#[test]
fn a_push_revives_a_snapshot_the_destination_expired() {
    use dstore::transfer::TransferOptions;
    let (_d1, src) = fresh_store();
    let (_d2, dst) = fresh_store();
    let a = commit_batch(
        &src,
        "t",
        WriteMode::Overwrite,
        1,
        2,
        &CommitOptions::message("a"),
    )
    .unwrap()
    .id;
    let b = commit_batch(
        &src,
        "t",
        WriteMode::Overwrite,
        2,
        2,
        &CommitOptions::message("b"),
    )
    .unwrap()
    .id;
    let push = |r: &SnapshotId| {
        src.push_to(
            &dst,
            &TransferOptions {
                refs: vec![r.to_hex()],
                author: "t".into(),
                ..TransferOptions::default()
            },
            &|_| {},
        )
        .unwrap()
    };
    push(&a);
    push(&b);
    dst.expire(&ExpireOptions {
        keep_last: Some(1),
        author: "t".into(),
        ..ExpireOptions::default()
    })
    .unwrap();
    dst.gc(&GcOptions {
        dry_run: false,
        grace: std::time::Duration::ZERO,
    })
    .unwrap();
    assert!(matches!(
        dst.snapshot(&a),
        Err(dstore::Error::Expired { .. })
    ));
    let again = push(&a);
    assert!(again.segments_copied > 0, "{again:?}");
    let snap = dst.snapshot(&a).unwrap();
    assert_eq!(snap.id(), a);
    let v = common::verify_all(&dst).unwrap();
    assert!(v.ok(), "{:?}", v.problems);
    let live = push(&b);
    assert_eq!(live.segments_copied, 0, "{live:?}");
}
