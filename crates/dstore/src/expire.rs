//! `expire`: mark old snapshots as no longer needed, so that `gc` may remove the data only they
//! reach — never what a run still uses.
//!
//! An expiry is a log record (kind 3, docs/format.md §9): nothing is deleted by it, and the
//! snapshot's id, commit record and manifest stay, so history still reads. What expiry never
//! touches, whatever the selection: HEAD, tagged snapshots, snapshots with a live use (a use
//! record whose run has not retired it, §17), and snapshots a lock file given with `keep_locks`
//! names. `purge` expires named snapshots even so (data that must be deleted) and says which
//! tags and runs that breaks.
//!
//! May call: `catalog` (views, writer), `log`, `uses`, `lock`, `resolve`, the format crate.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use dstore_format::{RecordKind, SnapshotId};

use crate::error::{Error, Result};
use crate::store::Store;

/// What one pass of `expire` would do: the report and the record to append, if any.
type Plan = (ExpireReport, Option<RecordKind>);

/// What to expire, for [`Store::expire`].
#[derive(Debug, Clone, Default)]
pub struct ExpireOptions {
    /// Keep the snapshots of the last N commits.
    pub keep_last: Option<u64>,
    /// Keep the snapshots committed within this long before now.
    pub keep_within: Option<Duration>,
    /// Refs to expire by name (still never a protected one).
    pub refs: Vec<String>,
    /// Refs to expire even though tagged, in use or locked (not HEAD).
    pub purge: Vec<String>,
    /// Lock files whose snapshots are kept.
    pub keep_locks: Vec<PathBuf>,
    /// Decide, write nothing.
    pub dry_run: bool,
    /// Who expires (the record's author).
    pub author: String,
    /// Why (the record's message).
    pub message: String,
}

/// Why a snapshot is kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "why", content = "name", rename_all = "snake_case")]
pub enum Keep {
    /// It is HEAD.
    Head,
    /// A tag points at it.
    Tag(String),
    /// A run uses it (the run id, or its hash when the record cannot be read).
    Use(String),
    /// A lock file given with `keep_locks` names it.
    Lock(PathBuf),
    /// Within the last N commits.
    Recent,
    /// Committed within the `keep_within` window.
    Young,
}

impl std::fmt::Display for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Keep::Head => f.write_str("HEAD"),
            Keep::Tag(t) => write!(f, "tag {t}"),
            Keep::Use(r) => write!(f, "used by run {r}"),
            Keep::Lock(p) => write!(f, "locked by {}", p.display()),
            Keep::Recent => f.write_str("within --keep-last"),
            Keep::Young => f.write_str("within --keep-within"),
        }
    }
}

/// One snapshot in an expiry's report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExpireEntry {
    /// The snapshot (hex).
    pub snapshot: String,
    /// Its latest commit's sequence number.
    pub seq: u64,
    /// That commit's time, UTC microseconds since the epoch.
    pub time_micros: i64,
    /// Why it is kept (empty for an expired snapshot unless purged: then what the purge
    /// breaks).
    pub keep: Vec<Keep>,
}

/// What [`Store::expire`] did (or would do).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExpireReport {
    /// Snapshots expired by this call (for a purge, `keep` lists what it overrode).
    pub expired: Vec<ExpireEntry>,
    /// Snapshots the selection chose but that are kept, and why.
    pub protected: Vec<ExpireEntry>,
    /// Snapshots the selection chose that were expired already.
    pub already: usize,
    /// The expire record's sequence number (none for a dry run or when nothing expired).
    pub seq: Option<u64>,
}

impl Store {
    /// Expires the snapshots `opts` selects, except protected ones, with one log record; the
    /// purged snapshots (`opts.purge`) get a record of their own, written first, so that the
    /// purge flag (gc ignores live uses) never covers a snapshot that was not purged.
    pub fn expire(&self, opts: &ExpireOptions) -> Result<ExpireReport> {
        if opts.keep_last.is_none()
            && opts.keep_within.is_none()
            && opts.refs.is_empty()
            && opts.purge.is_empty()
        {
            return Err(Error::invalid(
                "nothing to expire: give a count to keep, an age to keep, or snapshots",
            ));
        }
        if opts.keep_last == Some(0) {
            return Err(Error::invalid(
                "keeping the last 0 commits would expire HEAD; keep at least 1",
            ));
        }
        // Everything that can fail on input fails before the lock: refs, lock files.
        let named = self.resolve_all(&opts.refs)?;
        let purged = self.resolve_all(&opts.purge)?;
        let mut locked: HashMap<SnapshotId, PathBuf> = HashMap::new();
        for p in &opts.keep_locks {
            let lock = crate::lock::LockFile::read(p)?;
            for e in lock.pins.values() {
                let id = SnapshotId::from_hex(&e.snapshot).ok_or_else(|| {
                    Error::input(p, format!("`{}` is not a snapshot id", e.snapshot))
                })?;
                locked.entry(id).or_insert_with(|| p.clone());
            }
        }
        let write = |build: &mut dyn FnMut(&crate::catalog::LogView<'_>) -> Result<Plan>|
         -> Result<ExpireReport> {
            if opts.dry_run {
                let view = self.view()?;
                return Ok(build(&view)?.0);
            }
            let out = self.index().write(|w| {
                w.append(|view| {
                    let (report, kind) = build(view)?;
                    let Some(kind) = kind else {
                        return Ok(None);
                    };
                    let rec = view.next_record(&opts.author, &opts.message, kind)?;
                    Ok(Some((rec, report)))
                })
            })?;
            if let Some(a) = out {
                return Ok(ExpireReport {
                    seq: Some(a.record.seq),
                    ..a.value
                });
            }
            // Nothing to write: the plan as the log stands now.
            let view = self.view()?;
            Ok(build(&view)?.0)
        };
        let regular = opts.keep_last.is_some() || opts.keep_within.is_some() || !named.is_empty();
        let mut report = ExpireReport::default();
        for purge in [true, false] {
            if (purge && purged.is_empty()) || (!purge && !regular) {
                continue;
            }
            let mut build = |view: &crate::catalog::LogView<'_>| {
                self.plan_expiry(view, opts, &named, &purged, &locked, purge)
            };
            let r = write(&mut build)?;
            report.expired.extend(r.expired);
            report.protected.extend(r.protected);
            report.already += r.already;
            report.seq = r.seq.or(report.seq);
        }
        Ok(report)
    }

    fn resolve_all(&self, refs: &[String]) -> Result<Vec<SnapshotId>> {
        refs.iter().map(|r| Ok(self.resolve(r)?.id)).collect()
    }

    /// Decides, on the log as `view` sees it, what to expire and what to keep.
    fn plan_expiry(
        &self,
        view: &crate::catalog::LogView<'_>,
        opts: &ExpireOptions,
        named: &[SnapshotId],
        purged: &[SnapshotId],
        locked: &HashMap<SnapshotId, PathBuf>,
        purge: bool,
    ) -> Result<Plan> {
        let head = view.head()?.and_then(|r| r.snapshot());
        // Every snapshot with its latest commit (seq, time) and commit ordinal from the end.
        let records = self.index().log().chain()?;
        let commits: Vec<(u64, i64, SnapshotId)> = records
            .iter()
            .filter_map(|r| r.snapshot().map(|s| (r.seq, r.time_micros, s)))
            .collect();
        let mut latest: BTreeMap<SnapshotId, (u64, i64, usize)> = BTreeMap::new();
        for (i, (seq, t, s)) in commits.iter().enumerate() {
            latest.insert(*s, (*seq, *t, commits.len() - 1 - i));
        }
        // Expired already: by any record for the regular pass; by a purge for the purge pass
        // (purging a snapshot an ordinary expiry kept for its runs is what a purge is for).
        let expired_already: HashSet<SnapshotId> = Store::expired_snapshots(&records)
            .into_iter()
            .filter(|(_, (_, _, purged))| *purged || !purge)
            .map(|(id, _)| id)
            .collect();
        let now = crate::log::now_micros();
        let within = opts
            .keep_within
            .map(|d| now.saturating_sub(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)));
        // The purge pass chooses only the purged snapshots; the regular pass everything else.
        let by_rule = !purge && (opts.keep_last.is_some() || opts.keep_within.is_some());
        let mut chosen: Vec<SnapshotId> = Vec::new();
        if by_rule {
            for (id, &(_, t, from_end)) in &latest {
                let recent = opts.keep_last.is_some_and(|n| (from_end as u64) < n);
                let young = within.is_some_and(|w| t >= w);
                if !recent && !young {
                    chosen.push(*id);
                }
            }
        }
        let extra: &[SnapshotId] = if purge { purged } else { named };
        for id in extra {
            if !chosen.contains(id) {
                chosen.push(*id);
            }
        }
        if !purge {
            chosen.retain(|id| !purged.contains(id));
        }
        let tags = view.tags()?;
        let uses = self.use_index()?;
        let mut report = ExpireReport::default();
        let mut to_expire: Vec<SnapshotId> = Vec::new();
        for id in chosen {
            let Some(&(seq, time_micros, _)) = latest.get(&id) else {
                return Err(Error::NotFound {
                    what: format!("a commit of snapshot {} in this store's log", id.short(16)),
                });
            };
            if expired_already.contains(&id) {
                report.already += 1;
                continue;
            }
            let mut keep = Vec::new();
            if head == Some(id) {
                if purge {
                    return Err(Error::invalid(format!(
                        "snapshot {} is HEAD: commit a snapshot without the data first, then purge this one",
                        id.short(16)
                    )));
                }
                keep.push(Keep::Head);
            }
            keep.extend(
                tags.iter()
                    .filter(|(_, t)| t.snapshot == id)
                    .map(|(n, _)| Keep::Tag(n.clone())),
            );
            let live = uses.live(&id);
            if !live.is_empty() {
                // Name the runs: read the (few) uses of this snapshot.
                let mut runs: Vec<String> = self
                    .uses_of(&id)?
                    .into_iter()
                    .filter(super::uses::Use::live)
                    .map(|u| u.record.run)
                    .collect();
                runs.sort();
                runs.dedup();
                keep.extend(runs.into_iter().map(Keep::Use));
            }
            if let Some(p) = locked.get(&id) {
                keep.push(Keep::Lock(p.clone()));
            }
            let entry = ExpireEntry {
                snapshot: id.to_hex(),
                seq,
                time_micros,
                keep,
            };
            if entry.keep.is_empty() || purge {
                to_expire.push(id);
                report.expired.push(entry);
            } else {
                report.protected.push(entry);
            }
        }
        let kind = (!to_expire.is_empty()).then_some(RecordKind::Expire {
            snapshots: to_expire,
            purge,
        });
        Ok((report, kind))
    }

    /// Why `id` cannot be read: [`Error::Expired`] when an expire record names it.
    pub(crate) fn check_not_expired(&self, id: &SnapshotId) -> Result<()> {
        match expired_in(&self.view()?, id)? {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The [`Error::Expired`] of `id` as `view` sees the log, if an expire record names it.
pub(crate) fn expired_in(
    view: &crate::catalog::LogView<'_>,
    id: &SnapshotId,
) -> Result<Option<Error>> {
    let Some(seq) = view.expired(id)? else {
        return Ok(None);
    };
    let rec = view.record(seq)?;
    Ok(Some(Error::Expired {
        snapshot: id.to_hex(),
        seq,
        time_micros: rec.as_ref().map_or(0, |r| r.time_micros),
        author: rec.as_ref().map_or_else(String::new, |r| r.author.clone()),
        reason: rec.map_or_else(String::new, |r| r.message),
    }))
}

impl Store {
    /// The snapshots expired at the end of `records` (the whole log, in order), with the seq
    /// and time of the record that expired each and whether it was a purge. A commit of a
    /// snapshot after its expiry revives it (the same content committed again).
    pub(crate) fn expired_snapshots(
        records: &[dstore_format::LogRecord],
    ) -> HashMap<SnapshotId, (u64, i64, bool)> {
        let mut out = HashMap::new();
        for r in records {
            match &r.kind {
                RecordKind::Expire { snapshots, purge } => {
                    for s in snapshots {
                        // A purge stays a purge until the snapshot is committed again.
                        let was = out.get(s).is_some_and(|e: &(u64, i64, bool)| e.2);
                        out.insert(*s, (r.seq, r.time_micros, *purge || was));
                    }
                }
                RecordKind::Commit { snapshot, .. } => {
                    out.remove(snapshot);
                }
                RecordKind::Tag { .. } => {}
            }
        }
        out
    }
}
