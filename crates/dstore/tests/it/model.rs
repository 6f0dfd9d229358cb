//! Model-based property test: random sequences of commits, tag moves, ref resolutions and
//! catalog loss run against a store and against an in-memory model of what the store must
//! answer; after every step the two are compared.
//!
//! Segments are named by content, so the model names a segment by the `(seed, rows)` of the
//! batch it was written from: equal pairs give byte-identical segments, different pairs give
//! different ones. Seeds come from a small range so equal snapshots happen often, which checks
//! that snapshot ids are canonical (equal content, equal id; different content, different id).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use dstore::{
    CommitOptions, Error, IngestOptions, Resolved, SnapshotId, Store, WriteMode,
    format::RecordKind, format::TableChange, format::TableOp, format::TagTarget,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use super::common;

const TABLES: [&str; 3] = ["a", "b", "c"];
const TAGS: [&str; 3] = ["v1", "v2", "rel/x"];

/// A segment as the model knows it.
type Seg = (u8, u8);
/// What a snapshot holds: the ordered segments of each table.
type Content = BTreeMap<&'static str, Vec<Seg>>;

type TestResult<T = ()> = Result<T, TestCaseError>;

/// What a tag is set to.
#[derive(Debug, Clone)]
enum Target {
    /// `HEAD~n`.
    Back(u8),
    /// Another tag (or the same one).
    Tag(usize),
    /// The full id of some commit's snapshot.
    Id(Index),
}

/// A ref to resolve.
#[derive(Debug, Clone)]
enum Ref {
    /// `HEAD~n`.
    Head(u8),
    /// `@seq~n`, the seq possibly one past the end of the log.
    Seq(Index, u8),
    /// `tag~n`.
    Tag(usize, u8),
    /// `<full id>~n`.
    Id(Index, u8),
    /// The first 8 hex digits of an id, possibly upper case, then `~n`.
    Prefix(Index, bool, u8),
    /// The time of a commit, moved by -1, 0 or 1 microseconds.
    AsOf(Index, i8),
    /// An id no snapshot has.
    Unknown,
    /// Text that is not a ref.
    Invalid(&'static str),
}

#[derive(Debug, Clone)]
enum Op {
    /// One transaction: batches added to tables in order (a table may get several), one table
    /// possibly set to overwrite, tags set on the commit.
    Commit {
        parts: Vec<(usize, Seg)>,
        overwrite: Option<usize>,
        tags: Vec<usize>,
        force: bool,
    },
    /// Data staged and the transaction dropped.
    Abort {
        table: usize,
        seed: u8,
        rows: u8,
    },
    SetTag {
        name: usize,
        target: Target,
        force: bool,
    },
    DeleteTag {
        name: usize,
    },
    Resolve(Ref),
    /// The catalog directory is deleted and the store reopened.
    DropCatalog,
    /// The catalog directory is copied aside.
    SaveCatalog,
    /// The copy put aside is put back: the catalog now lags the log, as after a writer that
    /// crashed between writing its record and indexing it.
    RestoreCatalog,
    Reindex,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let commit = (
        prop::collection::vec((0..TABLES.len(), (0..4u8, 1..4u8)), 1..4),
        prop::option::weighted(0.3, 0..TABLES.len()),
        prop::collection::vec(0..TAGS.len(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(parts, overwrite, tags, force)| Op::Commit {
            parts,
            overwrite,
            tags,
            force,
        });
    let abort = (0..TABLES.len(), 0..4u8, 1..4u8).prop_map(|(table, seed, rows)| Op::Abort {
        table,
        seed,
        rows,
    });
    let target = prop_oneof![
        (0..3u8).prop_map(Target::Back),
        (0..TAGS.len()).prop_map(Target::Tag),
        any::<Index>().prop_map(Target::Id),
    ];
    let set_tag =
        (0..TAGS.len(), target, any::<bool>()).prop_map(|(name, target, force)| Op::SetTag {
            name,
            target,
            force,
        });
    let resolve = prop_oneof![
        (0..4u8).prop_map(Ref::Head),
        (any::<Index>(), 0..2u8).prop_map(|(i, k)| Ref::Seq(i, k)),
        (0..TAGS.len(), 0..3u8).prop_map(|(t, k)| Ref::Tag(t, k)),
        (any::<Index>(), 0..3u8).prop_map(|(i, k)| Ref::Id(i, k)),
        (any::<Index>(), any::<bool>(), 0..2u8).prop_map(|(i, u, k)| Ref::Prefix(i, u, k)),
        (any::<Index>(), -1..=1i8).prop_map(|(i, d)| Ref::AsOf(i, d)),
        Just(Ref::Unknown),
        prop::sample::select(vec!["HEAD~x", "@0", "@x", "has space", "", "v1~~"])
            .prop_map(Ref::Invalid),
    ];
    prop_oneof![
        6 => commit,
        1 => abort,
        3 => set_tag,
        1 => (0..TAGS.len()).prop_map(|name| Op::DeleteTag { name }),
        3 => resolve.prop_map(Op::Resolve),
        1 => Just(Op::DropCatalog),
        1 => Just(Op::SaveCatalog),
        1 => Just(Op::RestoreCatalog),
        1 => Just(Op::Reindex),
    ]
}

#[derive(Debug, Clone)]
struct MCommit {
    seq: u64,
    content: Content,
    id: SnapshotId,
    /// From the log, once seen there.
    time: Option<i64>,
}

#[derive(Debug, Clone)]
enum MRecord {
    Commit(usize),
    Tag {
        name: String,
        target: Option<TagTarget>,
        previous: Option<TagTarget>,
    },
}

#[derive(Debug, Default)]
struct Model {
    records: Vec<MRecord>,
    commits: Vec<MCommit>,
    tags: BTreeMap<String, TagTarget>,
}

/// Which error the model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    NotFound,
    InvalidInput,
    /// `@SEQ` of a tag event.
    NotACommit,
}

impl Model {
    fn next_seq(&self) -> u64 {
        self.records.len() as u64 + 1
    }

    fn head_content(&self) -> Content {
        self.commits
            .last()
            .map(|c| c.content.clone())
            .unwrap_or_default()
    }

    /// The first commit whose snapshot has the same content as commit `i` (the one the log
    /// names for that snapshot id).
    fn first_with(&self, i: usize) -> usize {
        let content = &self.commits[i].content;
        self.commits
            .iter()
            .position(|c| c.content == *content)
            .expect("i itself")
    }

    fn commit_at_seq(&self, seq: u64) -> usize {
        self.commits
            .iter()
            .position(|c| c.seq == seq)
            .expect("a commit seq")
    }

    fn resolved(&self, i: usize) -> Resolved {
        Resolved {
            id: self.commits[i].id,
            seq: Some(self.commits[i].seq),
        }
    }

    fn target(&self, i: usize) -> TagTarget {
        TagTarget {
            snapshot: self.commits[i].id,
            seq: self.commits[i].seq,
        }
    }

    /// Commit `i` stepped back `k` commits.
    fn back(i: usize, k: u8) -> Result<usize, Expect> {
        i.checked_sub(usize::from(k)).ok_or(Expect::NotFound)
    }
}

fn ok<T>(r: dstore::Result<T>, what: &str) -> TestResult<T> {
    r.map_err(|e| TestCaseError::fail(format!("{what}: unexpected error: {e} ({e:?})")))
}

fn expect_err<T: Debug>(r: &dstore::Result<T>, want: Expect, what: &str) -> TestResult {
    let matched = matches!(
        (r, want),
        (Err(Error::NotFound { .. }), Expect::NotFound)
            | (Err(Error::InvalidInput { .. }), Expect::InvalidInput)
            | (Err(Error::NotACommit { .. }), Expect::NotACommit)
    );
    prop_assert!(matched, "{}: expected {:?}, got {:?}", what, want, r);
    Ok(())
}

fn check<T: Debug + PartialEq>(
    got: dstore::Result<T>,
    want: Result<T, Expect>,
    what: &str,
) -> TestResult {
    match want {
        Ok(w) => {
            let g = ok(got, what)?;
            prop_assert_eq!(g, w, "{}", what);
            Ok(())
        }
        Err(e) => expect_err(&got, e, what),
    }
}

fn table_rows(content: &Content) -> BTreeMap<String, u64> {
    content
        .iter()
        .map(|(t, segs)| ((*t).to_owned(), segs.iter().map(|s| u64::from(s.1)).sum()))
        .collect()
}

/// The snapshot's tables, rows and per-segment rows agree with `content`.
fn check_snapshot(store: &Store, id: &SnapshotId, content: &Content, what: &str) -> TestResult {
    let snap = ok(store.snapshot(id), what)?;
    let got: BTreeMap<String, u64> = snap
        .tables()
        .iter()
        .map(|t| (t.name.clone(), t.rows))
        .collect();
    prop_assert_eq!(got, table_rows(content), "{}: table rows of {:?}", what, id);
    for (t, segs) in content {
        let entries = ok(snap.segments(t), what)?;
        let rows: Vec<u64> = entries.iter().map(|e| e.rows).collect();
        let want: Vec<u64> = segs.iter().map(|s| u64::from(s.1)).collect();
        prop_assert_eq!(rows, want, "{}: segment rows of table {}", what, t);
        // Equal model segments are equal segment ids, and different ones differ.
        for (i, a) in segs.iter().enumerate() {
            for (j, b) in segs.iter().enumerate() {
                prop_assert_eq!(
                    a == b,
                    entries[i].id == entries[j].id,
                    "{}: segments {} {}",
                    what,
                    i,
                    j
                );
            }
        }
    }
    Ok(())
}

/// Checks made after every operation: the log, the tags, HEAD and its tables.
fn check_basic(store: &Store, model: &mut Model, what: &str) -> TestResult {
    let log = ok(store.log(usize::MAX), what)?;
    prop_assert_eq!(log.len(), model.records.len(), "{}: log length", what);
    let mut prev_time = i64::MIN;
    let mut last_commit: Option<u64> = None;
    for (i, rec) in log.iter().rev().enumerate() {
        let seq = i as u64 + 1;
        prop_assert_eq!(rec.seq, seq, "{}: log seqs are dense, newest first", what);
        prop_assert!(
            rec.time_micros >= prev_time,
            "{}: time goes back at @{}",
            what,
            seq
        );
        prev_time = rec.time_micros;
        match (&model.records[i], &rec.kind) {
            (
                MRecord::Commit(ci),
                RecordKind::Commit {
                    snapshot,
                    parent_commit,
                    ..
                },
            ) => {
                let c = &mut model.commits[*ci];
                prop_assert_eq!(*snapshot, c.id, "{}: snapshot of @{}", what, seq);
                prop_assert_eq!(*parent_commit, last_commit, "{}: parent of @{}", what, seq);
                match c.time {
                    None => c.time = Some(rec.time_micros),
                    Some(t) => prop_assert_eq!(t, rec.time_micros, "{}: time of @{}", what, seq),
                }
                last_commit = Some(seq);
            }
            (
                MRecord::Tag {
                    name,
                    target,
                    previous,
                },
                RecordKind::Tag {
                    name: n,
                    target: t,
                    previous: p,
                },
            ) => {
                prop_assert_eq!(
                    (name, target, previous),
                    (n, t, p),
                    "{}: tag record @{}",
                    what,
                    seq
                );
            }
            (m, _) => prop_assert!(
                false,
                "{}: @{} is {:?} but the model has {:?}",
                what,
                seq,
                rec,
                m
            ),
        }
    }
    for limit in [0, 1, 2] {
        let short = ok(store.log(limit), what)?;
        prop_assert_eq!(
            &short[..],
            &log[..limit.min(log.len())],
            "{}: log({})",
            what,
            limit
        );
    }
    let tags = ok(store.tags(), what)?;
    let want: Vec<(String, TagTarget)> = model.tags.iter().map(|(k, v)| (k.clone(), *v)).collect();
    prop_assert_eq!(tags, want, "{}: tags", what);
    match model.commits.len().checked_sub(1) {
        None => expect_err(&store.resolve("HEAD"), Expect::NotFound, what)?,
        Some(h) => {
            let got = ok(store.resolve("HEAD"), what)?;
            prop_assert_eq!(got, model.resolved(h), "{}: HEAD", what);
            check_snapshot(store, &model.commits[h].id, &model.commits[h].content, what)?;
        }
    }
    Ok(())
}

/// Checks made after the catalog was rebuilt and at the end: every commit resolves every way,
/// describe, time travel, segment info, verify.
fn check_full(store: &Store, model: &Model, what: &str) -> TestResult {
    let mut first_seen: HashMap<Seg, u64> = HashMap::new();
    for (i, c) in model.commits.iter().enumerate() {
        let w = format!("{what}: commit @{}", c.seq);
        check_snapshot(store, &c.id, &c.content, &w)?;
        let first = model.first_with(i);
        check(
            store.resolve(&format!("@{}", c.seq)),
            Ok(model.resolved(i)),
            &w,
        )?;
        check(store.resolve(&c.id.short(8)), Ok(model.resolved(first)), &w)?;
        let (rec, tags) = ok(store.describe(&c.id), &w)?;
        prop_assert_eq!(
            rec.map(|r| r.seq),
            Some(model.commits[first].seq),
            "{}: describe names the first commit of the snapshot",
            w
        );
        let want_tags: Vec<String> = model
            .tags
            .iter()
            .filter(|(_, t)| t.snapshot == c.id)
            .map(|(n, _)| n.clone())
            .collect();
        prop_assert_eq!(tags, want_tags, "{}: describe's tags", w);
        let t = c.time.expect("seen in the log");
        let last_at = model
            .commits
            .iter()
            .rposition(|d| d.time <= Some(t))
            .expect("c itself");
        check(store.resolve_as_of(t), Ok(model.resolved(last_at)), &w)?;
        // Segments: size, rows and the first commit whose snapshot holds them.
        let snap = ok(store.snapshot(&c.id), &w)?;
        for (table, segs) in &c.content {
            let entries = ok(snap.segments(table), &w)?;
            for (s, e) in segs.iter().zip(&entries) {
                if first_seen.contains_key(s) {
                    continue;
                }
                first_seen.insert(*s, c.seq);
                let info = ok(store.segment_info(&e.id), &w)?;
                prop_assert_eq!(
                    info,
                    Some((e.bytes, e.rows, c.seq)),
                    "{}: segment_info of {:?} (model segment {:?}, first in @{})",
                    w,
                    e.id,
                    s,
                    c.seq
                );
            }
        }
    }
    if let Some(first) = model.commits.first() {
        let t = first.time.expect("seen");
        expect_err(&store.resolve_as_of(t - 1), Expect::NotFound, what)?;
    }
    let report = ok(common::verify_all(store), what)?;
    prop_assert!(report.ok(), "{}: verify: {:?}", what, report.problems);
    prop_assert_eq!(
        report.records,
        model.records.len() as u64,
        "{}: verify records",
        what
    );
    Ok(())
}

fn ref_text(base: &str, k: u8) -> String {
    if k == 0 {
        base.to_owned()
    } else {
        format!("{base}~{k}")
    }
}

fn do_commit(
    store: &Store,
    model: &mut Model,
    what: &str,
    parts: &[(usize, Seg)],
    overwrite: Option<usize>,
    tags: &[usize],
    force: bool,
) -> TestResult {
    let tags: Vec<String> = tags.iter().map(|t| TAGS[*t].to_owned()).collect();
    let opts = CommitOptions {
        message: what.to_owned(),
        author: "model".into(),
        tags: tags.clone(),
        force_tags: force,
        upstream: Vec::new(),
    };
    let mut tx = store.begin();
    if let Some(t) = overwrite {
        ok(tx.set_mode(TABLES[t], WriteMode::Overwrite), what)?;
    }
    for (t, seg) in parts {
        let b = common::batch(u64::from(seg.0), usize::from(seg.1));
        // Parts repeat (the same batch gives the same segment); the model appends them again,
        // as `allow_duplicates` does. Refusing duplicates is tested in it/duplicates.rs.
        let ingest = IngestOptions {
            allow_duplicates: true,
            ..IngestOptions::default()
        };
        let n = ok(
            tx.add_reader(TABLES[*t], common::reader(vec![b]), &ingest),
            what,
        )?;
        prop_assert_eq!(n, 1, "{}: segments staged", what);
    }
    let r = tx.commit(&opts);
    if let Some(t) = tags
        .iter()
        .find(|t| !force && model.tags.contains_key(t.as_str()))
    {
        prop_assert!(
            matches!(&r, Err(Error::TagExists { name, .. }) if name == t),
            "{}: expected TagExists, got {:?}",
            what,
            r
        );
        return Ok(());
    }
    let out = ok(r, what)?;
    let head = model.head_content();
    let mut staged: Content = BTreeMap::new();
    for (t, seg) in parts {
        staged.entry(TABLES[*t]).or_default().push(*seg);
    }
    let mut content = head.clone();
    let mut changes = Vec::new();
    for (name, segs) in &staged {
        let over = overwrite.is_some_and(|t| TABLES[t] == *name);
        let op = match (head.contains_key(name), over) {
            (false, _) => TableOp::Create,
            (true, true) => TableOp::Overwrite,
            (true, false) => TableOp::Append,
        };
        if over {
            content.insert(name, segs.clone());
        } else {
            content.entry(name).or_default().extend(segs);
        }
        let rows: u64 = segs.iter().map(|s| u64::from(s.1)).sum();
        changes.push(((*name).to_owned(), op, segs.len() as u64, rows));
    }
    prop_assert_eq!(out.seq, model.next_seq(), "{}: commit seq", what);
    prop_assert_eq!(out.conflicts, 0, "{}: conflicts", what);
    prop_assert_eq!(out.unchanged, content == head, "{}: unchanged", what);
    let got: Vec<(String, TableOp, u64, u64)> = out
        .changes
        .iter()
        .map(|c: &TableChange| (c.table.clone(), c.op, c.segments, c.rows))
        .collect();
    prop_assert_eq!(got, changes, "{}: changes", what);
    for c in &model.commits {
        prop_assert_eq!(
            c.content == content,
            c.id == out.id,
            "{}: content equality and id equality with @{} disagree",
            what,
            c.seq
        );
    }
    model.commits.push(MCommit {
        seq: out.seq,
        content,
        id: out.id,
        time: None,
    });
    model.records.push(MRecord::Commit(model.commits.len() - 1));
    for t in tags {
        model.tags.insert(
            t,
            TagTarget {
                snapshot: out.id,
                seq: out.seq,
            },
        );
    }
    Ok(())
}

fn do_abort(store: &Store, what: &str, table: usize, seg: Seg) -> TestResult {
    let tmp_before = common::files_under(store.root(), "tmp");
    prop_assert!(
        tmp_before.is_empty(),
        "{}: tmp/ holds {:?}",
        what,
        tmp_before
    );
    let mut tx = store.begin();
    let opts = IngestOptions {
        allow_duplicates: true,
        ..IngestOptions::default()
    };
    let n = ok(
        tx.add_reader(
            TABLES[table],
            common::reader(vec![common::batch(u64::from(seg.0), usize::from(seg.1))]),
            &opts,
        ),
        what,
    )?;
    prop_assert_eq!(n, 1);
    prop_assert!(
        !common::files_under(store.root(), "tmp").is_empty(),
        "{}: nothing staged",
        what
    );
    drop(tx);
    let tmp_after = common::files_under(store.root(), "tmp");
    prop_assert!(
        tmp_after.is_empty(),
        "{}: a dropped transaction left {:?}",
        what,
        tmp_after
    );
    Ok(())
}

fn do_set_tag(
    store: &Store,
    model: &mut Model,
    what: &str,
    name: usize,
    target: &Target,
    force: bool,
) -> TestResult {
    let name = TAGS[name];
    let (text, want): (String, Result<TagTarget, Expect>) = match target {
        Target::Back(k) => {
            let want = match model.commits.len().checked_sub(1) {
                None => Err(Expect::NotFound),
                Some(h) => Model::back(h, *k).map(|i| model.target(i)),
            };
            (ref_text("HEAD", *k), want)
        }
        Target::Tag(t) => (
            TAGS[*t].to_owned(),
            model.tags.get(TAGS[*t]).copied().ok_or(Expect::NotFound),
        ),
        Target::Id(idx) => {
            if model.commits.is_empty() {
                (unknown_id().to_hex(), Err(Expect::NotFound))
            } else {
                let i = idx.index(model.commits.len());
                let first = model.first_with(i);
                (model.commits[i].id.to_hex(), Ok(model.target(first)))
            }
        }
    };
    let r = store.set_tag(name, &text, force, "model");
    let what = format!("{what}: set_tag {name} -> {text} (force {force})");
    let new = match want {
        Err(e) => return expect_err(&r, e, &what),
        Ok(t) => t,
    };
    match model.tags.get(name).copied() {
        Some(old) if old == new => check(r, Ok(new), &what),
        Some(_) if !force => {
            prop_assert!(
                matches!(&r, Err(Error::TagExists { name: n, .. }) if n == name),
                "{}: expected TagExists, got {:?}",
                what,
                r
            );
            Ok(())
        }
        previous => {
            check(r, Ok(new), &what)?;
            model.records.push(MRecord::Tag {
                name: name.to_owned(),
                target: Some(new),
                previous,
            });
            model.tags.insert(name.to_owned(), new);
            Ok(())
        }
    }
}

fn do_delete_tag(store: &Store, model: &mut Model, what: &str, name: usize) -> TestResult {
    let name = TAGS[name];
    let r = store.delete_tag(name, "model");
    let what = format!("{what}: delete_tag {name}");
    match model.tags.remove(name) {
        None => expect_err(&r, Expect::NotFound, &what),
        Some(old) => {
            check(r, Ok(old), &what)?;
            model.records.push(MRecord::Tag {
                name: name.to_owned(),
                target: None,
                previous: Some(old),
            });
            Ok(())
        }
    }
}

fn unknown_id() -> SnapshotId {
    SnapshotId::of(b"no snapshot has this id")
}

fn do_resolve(store: &Store, model: &Model, what: &str, which: &Ref) -> TestResult {
    let count = model.commits.len();
    let head = count.checked_sub(1);
    let (text, want): (String, Result<Resolved, Expect>) = match which {
        Ref::Head(k) => {
            let want = head
                .ok_or(Expect::NotFound)
                .and_then(|h| Model::back(h, *k));
            (ref_text("HEAD", *k), want.map(|i| model.resolved(i)))
        }
        Ref::Seq(idx, k) => {
            let s = idx.index(model.records.len() + 1) + 1;
            let want = match model.records.get(s - 1) {
                None => Err(Expect::NotFound),
                Some(MRecord::Tag { .. }) => Err(Expect::NotACommit),
                Some(MRecord::Commit(i)) => Model::back(*i, *k).map(|j| model.resolved(j)),
            };
            (ref_text(&format!("@{s}"), *k), want)
        }
        Ref::Tag(t, k) => {
            let want = match model.tags.get(TAGS[*t]) {
                None => Err(Expect::NotFound),
                Some(tt) => Model::back(model.commit_at_seq(tt.seq), *k).map(|i| model.resolved(i)),
            };
            (ref_text(TAGS[*t], *k), want)
        }
        Ref::Id(idx, k) => {
            if count == 0 {
                return expect_err(
                    &store.resolve(&unknown_id().to_hex()),
                    Expect::NotFound,
                    what,
                );
            }
            let i = idx.index(count);
            let text = ref_text(&model.commits[i].id.to_hex(), *k);
            if *k == 0 {
                // A full id is answered from the manifest alone; the seq may be left out.
                let got = ok(store.resolve(&text), what)?;
                prop_assert_eq!(got.id, model.commits[i].id, "{}: {}", what, text);
                let first = model.commits[model.first_with(i)].seq;
                prop_assert!(
                    got.seq.is_none() || got.seq == Some(first),
                    "{}: {} gave seq {:?}, the first commit of it is @{}",
                    what,
                    text,
                    got.seq,
                    first
                );
                return Ok(());
            }
            let want = Model::back(model.first_with(i), *k).map(|j| model.resolved(j));
            (text, want)
        }
        Ref::Prefix(idx, upper, k) => {
            if count == 0 {
                return expect_err(&store.resolve("0123abcd"), Expect::NotFound, what);
            }
            let i = idx.index(count);
            let mut p = model.commits[i].id.short(8);
            if *upper {
                p = p.to_uppercase();
            }
            (
                ref_text(&p, *k),
                Model::back(model.first_with(i), *k).map(|j| model.resolved(j)),
            )
        }
        Ref::AsOf(idx, delta) => {
            if count == 0 {
                return expect_err(&store.resolve_as_of(0), Expect::NotFound, what);
            }
            let i = idx.index(count);
            let t = model.commits[i].time.expect("seen in the log") + i64::from(*delta);
            let want = model
                .commits
                .iter()
                .rposition(|c| c.time.expect("seen in the log") <= t)
                .map(|j| model.resolved(j))
                .ok_or(Expect::NotFound);
            return check(store.resolve_as_of(t), want, &format!("{what}: as of {t}"));
        }
        Ref::Unknown => (unknown_id().to_hex(), Err(Expect::NotFound)),
        Ref::Invalid(text) => ((*text).to_owned(), Err(Expect::InvalidInput)),
    };
    check(
        store.resolve(&text),
        want,
        &format!("{what}: resolve {text}"),
    )
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for e in std::fs::read_dir(from).expect("list") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

fn run(ops: &[Op]) -> TestResult {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("m.dstore");
    let mut store = Store::init(&root).expect("init");
    let mut model = Model::default();
    for (i, op) in ops.iter().enumerate() {
        let what = format!("op {i} {op:?}");
        let mut full = false;
        match op {
            Op::Commit {
                parts,
                overwrite,
                tags,
                force,
            } => do_commit(&store, &mut model, &what, parts, *overwrite, tags, *force)?,
            Op::Abort { table, seed, rows } => do_abort(&store, &what, *table, (*seed, *rows))?,
            Op::SetTag {
                name,
                target,
                force,
            } => do_set_tag(&store, &mut model, &what, *name, target, *force)?,
            Op::DeleteTag { name } => do_delete_tag(&store, &mut model, &what, *name)?,
            Op::Resolve(r) => do_resolve(&store, &model, &what, r)?,
            Op::DropCatalog => {
                let cat = root.join("catalog");
                if cat.exists() {
                    std::fs::remove_dir_all(&cat).expect("remove catalog");
                }
                store = Store::open(&root).expect("reopen");
                full = true;
            }
            Op::SaveCatalog => {
                let saved = dir.path().join("catalog.saved");
                if saved.exists() {
                    std::fs::remove_dir_all(&saved).expect("remove old copy");
                }
                if root.join("catalog").exists() {
                    copy_dir(&root.join("catalog"), &saved);
                }
            }
            Op::RestoreCatalog => {
                let saved = dir.path().join("catalog.saved");
                if saved.exists() {
                    let cat = root.join("catalog");
                    if cat.exists() {
                        std::fs::remove_dir_all(&cat).expect("remove catalog");
                    }
                    copy_dir(&saved, &cat);
                    full = true;
                }
            }
            Op::Reindex => {
                let n = ok(store.reindex(), &what)?;
                prop_assert_eq!(n, model.records.len() as u64, "{}: records indexed", what);
                full = true;
            }
        }
        check_basic(&store, &mut model, &what)?;
        if full {
            check_full(&store, &model, &what)?;
        }
    }
    check_full(&store, &model, "at the end")?;
    // The log is history: a fresh catalog built from it answers the same.
    std::fs::remove_dir_all(root.join("catalog")).expect("remove catalog");
    let store = Store::open(&root).expect("reopen");
    check_basic(&store, &mut model, "after dropping the catalog at the end")?;
    check_full(&store, &model, "after dropping the catalog at the end")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 20,
        failure_persistence: None,
        max_shrink_iters: 200,
        max_shrink_time: 60_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn store_agrees_with_model(ops in prop::collection::vec(op_strategy(), 1..13)) {
        run(&ops)?;
    }
}
