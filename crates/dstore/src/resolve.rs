//! Refs and times to snapshot ids: `HEAD`, `HEAD~N`, `@SEQ`, full ids, id prefixes, tags (the
//! grammar is the format crate's `refs`), and "HEAD as of a time". Everything but a full id is
//! answered from a [`LogView`].
//!
//! May call: `catalog` (views), `storage` (a full id's manifest exists), the format crate.

use dstore_format::{LogRecord, RecordKind, RefBase, RefSpec, SnapshotId};

use crate::catalog::LogView;
use crate::error::{Error, Result};
use crate::layout;
use crate::store::Store;

/// A resolved ref: the snapshot and, when known, the commit that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The snapshot.
    pub id: SnapshotId,
    /// The commit record that made it, when the resolution went through the log. A full id
    /// resolves without reading the log (no catalog, no lock), so its `seq` is `None`.
    pub seq: Option<u64>,
}

/// Parses a ref; an invalid one is [`Error::InvalidInput`] with the grammar as its hint.
pub(crate) fn parse_ref(text: &str) -> Result<RefSpec> {
    RefSpec::parse(text).map_err(|e| Error::InvalidInput {
        path: None,
        detail: e.to_string(),
        hint: Some("refs are HEAD, HEAD~N, @SEQ, an id or 8+ hex digits of one, or a tag".into()),
    })
}

impl Store {
    /// Resolves a ref: `HEAD`, `HEAD~N`, `@SEQ`, a full id, an id prefix (8+ hex digits) or a
    /// tag, each optionally followed by `~N`.
    pub fn resolve(&self, r: &str) -> Result<Resolved> {
        let spec = parse_ref(r)?;
        // A full id needs neither the catalog nor its lock: open the manifest directly.
        if let (RefBase::Id(id), 0) = (&spec.base, spec.back) {
            if self.storage().size(&layout::manifest_key(id))?.is_some() {
                return Ok(Resolved { id: *id, seq: None });
            }
            return Err(Error::NotFound {
                what: format!("snapshot {id}"),
            });
        }
        let view = self.view()?;
        let (commit, _) = resolve_in(&view, &spec, r)?;
        Ok(commit)
    }

    /// The snapshot that was HEAD at `micros` (UTC microseconds since the epoch).
    pub fn resolve_as_of(&self, micros: i64) -> Result<Resolved> {
        let view = self.view()?;
        let seq = view
            .commit_at_or_before(micros)?
            .ok_or_else(|| Error::NotFound {
                what: "a commit at or before that time".into(),
            })?;
        let rec = view.record(seq)?.ok_or_else(|| Error::NotFound {
            what: format!("log record @{seq}"),
        })?;
        Ok(Resolved {
            id: rec.snapshot().expect("indexed as a commit"),
            seq: Some(seq),
        })
    }

    /// The commit record that made a snapshot (the first one, if several did), and the tags
    /// that point at it.
    pub fn describe(&self, id: &SnapshotId) -> Result<(Option<LogRecord>, Vec<String>)> {
        let view = self.view()?;
        let rec = match view.commits_of(id)?.first() {
            Some(&s) => view.record(s)?,
            None => None,
        };
        Ok((rec, view.tags_of(id)?))
    }
}

/// Resolves a ref to its commit record as well.
pub(crate) fn resolve_in(
    view: &LogView<'_>,
    spec: &RefSpec,
    text: &str,
) -> Result<(Resolved, Option<LogRecord>)> {
    let not_found = |what: String| Error::NotFound { what };
    let mut rec = match &spec.base {
        RefBase::Head => view
            .head()?
            .ok_or_else(|| not_found("HEAD (the store has no commits yet)".into()))?,
        RefBase::Seq(s) => {
            let r = view
                .record(*s)?
                .ok_or_else(|| not_found(format!("log record @{s}")))?;
            if r.snapshot().is_none() {
                return Err(Error::NotACommit { seq: *s });
            }
            r
        }
        RefBase::Id(id) => {
            let seq = view.commits_of(id)?.first().copied();
            match seq {
                Some(s) => view
                    .record(s)?
                    .ok_or_else(|| not_found(format!("log record @{s}")))?,
                None if spec.back == 0 => {
                    return Ok((Resolved { id: *id, seq: None }, None));
                }
                None => return Err(not_found(format!("a commit of snapshot {id}"))),
            }
        }
        RefBase::Prefix(p) => {
            let ids = view.ids_with_prefix(p, 6)?;
            match ids.as_slice() {
                [] => return Err(not_found(format!("snapshot with id prefix `{p}`"))),
                [one] => {
                    let s = view.commits_of(one)?[0];
                    view.record(s)?
                        .ok_or_else(|| not_found(format!("log record @{s}")))?
                }
                many => {
                    return Err(Error::AmbiguousRef {
                        prefix: p.clone(),
                        candidates: many.iter().map(SnapshotId::to_hex).collect(),
                    });
                }
            }
        }
        RefBase::Tag(t) => {
            let target = view
                .tag(t)?
                .ok_or_else(|| not_found(format!("tag `{t}`")))?;
            view.record(target.seq)?
                .ok_or_else(|| not_found(format!("log record @{}", target.seq)))?
        }
    };
    let too_far = |preceding: u64| {
        not_found(format!(
            "`{text}` (only {preceding} commit(s) precede the base of that ref, so that commit)"
        ))
    };
    let mut step = 0;
    while step < spec.back {
        // Indexed: one lookup for all the remaining steps. Not yet indexed (a record
        // written after the catalog): one parent at a time until an indexed one.
        match view.commit_back(rec.seq, spec.back - step)? {
            Some(Ok(s)) => {
                rec = view
                    .record(s)?
                    .ok_or_else(|| not_found(format!("log record @{s}")))?;
                break;
            }
            Some(Err(k)) => return Err(too_far(step + k)),
            None => {}
        }
        let RecordKind::Commit { parent_commit, .. } = &rec.kind else {
            unreachable!("refs resolve to commit records")
        };
        let p = parent_commit.ok_or_else(|| too_far(step))?;
        rec = view
            .record(p)?
            .ok_or_else(|| not_found(format!("log record @{p}")))?;
        step += 1;
    }
    let id = rec.snapshot().expect("commit record");
    Ok((
        Resolved {
            id,
            seq: Some(rec.seq),
        },
        Some(rec),
    ))
}
