//! Copying snapshots between stores (`dstore push`, `dstore pull`): local to remote, remote to
//! local, or any store to any other. Objects are named by their hashes, so only the ones the
//! destination lacks travel, and every one is verified on the way: a segment is hashed as it
//! streams, pages and manifests before they are written.
//!
//! A snapshot keeps its id in the destination (the id is its content), but the destination's
//! log is its own: each copied snapshot becomes one new commit record there, on top of the
//! destination's HEAD, with the changes from that HEAD. Tags named in the refs come along.

use std::collections::{HashMap, HashSet};

use dstore_format::{
    LogRecord, Manifest, PageId, RecordKind, SnapshotId, TableChange, TableOp, TagTarget,
};

use crate::error::{Error, Result};
use crate::ingest::segment::hash_stream;
use crate::layout::{manifest_key, page_key, segment_key};
use crate::objects::check_segment;
use crate::store::Store;

/// What to copy and how to record it.
#[derive(Debug, Clone, Default)]
pub struct TransferOptions {
    /// Refs in the source (HEAD, tags, ids, @SEQ…); empty means HEAD. Copied oldest first,
    /// so the newest becomes the destination's HEAD.
    pub refs: Vec<String>,
    /// Who the destination's commit records name.
    pub author: String,
    /// Their message; default "copied from SOURCE".
    pub message: Option<String>,
    /// Move tags that exist in the destination with another target.
    pub force_tags: bool,
}

/// What a transfer did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TransferReport {
    /// Snapshots copied (including ones the destination already had).
    pub snapshots: usize,
    /// Commit records written in the destination.
    pub commits: usize,
    /// Segments uploaded or copied.
    pub segments_copied: usize,
    /// Segments the destination already held.
    pub segments_present: usize,
    /// Bytes of the segments copied.
    pub bytes_copied: u64,
    /// Pages and manifests written.
    pub metadata_objects: usize,
    /// Tags set in the destination.
    pub tags: Vec<String>,
    /// Use records and retirements written in the destination.
    pub uses: usize,
}

impl Store {
    /// Copies the snapshots `opts.refs` names from this store into `dst`.
    pub fn push_to(
        &self,
        dst: &Store,
        opts: &TransferOptions,
        progress: &dyn Fn(u64),
    ) -> Result<TransferReport> {
        let refs: Vec<String> = if opts.refs.is_empty() {
            vec!["HEAD".into()]
        } else {
            opts.refs.clone()
        };
        // Resolve every ref first: a bad ref fails before anything is copied.
        let source_tags: HashMap<String, TagTarget> = self.tags()?.into_iter().collect();
        let mut wanted: Vec<(u64, SnapshotId, Vec<String>)> = Vec::new();
        for r in &refs {
            let res = self.resolve(r)?;
            let seq = res.seq.unwrap_or(u64::MAX);
            let tag = source_tags
                .get(r.as_str())
                .filter(|t| t.snapshot == res.id)
                .map(|_| r.clone());
            match wanted.iter_mut().find(|(_, id, _)| *id == res.id) {
                Some(w) => w.2.extend(tag),
                None => wanted.push((seq, res.id, tag.into_iter().collect())),
            }
        }
        wanted.sort_by_key(|(seq, _, _)| *seq);
        // Whatever would refuse the commits refuses before anything is copied: a destination
        // that must not be written to, a tag there with another target.
        dst.storage().check_writable()?;
        if !opts.force_tags {
            let view = dst.view()?;
            for (_, id, tags) in &wanted {
                for t in tags {
                    if let Some(old) = view.tag(t)?.filter(|old| old.snapshot != *id) {
                        return Err(Error::TagExists {
                            name: t.clone(),
                            target: old.snapshot.to_hex(),
                        });
                    }
                }
            }
        }

        let mut report = TransferReport::default();
        let mut copied_pages: HashSet<PageId> = HashSet::new();
        for (_, id, tags) in &wanted {
            self.check_not_expired(id)?;
            self.copy_snapshot_objects(dst, id, &mut copied_pages, &mut report, progress)?;
            report.uses += self.copy_uses(dst, id)?;
            report.snapshots += 1;
            // The lineage travels with the snapshot: the source's commit names its upstream.
            let upstream = match self.describe(id)?.0.map(|r| r.kind) {
                Some(RecordKind::Commit { upstream, .. }) => upstream,
                _ => Vec::new(),
            };
            let message = opts
                .message
                .clone()
                .unwrap_or_else(|| format!("copied from {}", self.location()));
            if dst.commit_existing(id, tags, &opts.author, &message, opts.force_tags, &upstream)? {
                report.commits += 1;
            }
            report.tags.extend(tags.iter().cloned());
        }
        Ok(report)
    }

    /// Copies one snapshot's segments, pages and manifest into `dst`, in that order (a
    /// manifest never lands before what it names).
    fn copy_snapshot_objects(
        &self,
        dst: &Store,
        id: &SnapshotId,
        copied_pages: &mut HashSet<PageId>,
        report: &mut TransferReport,
        progress: &dyn Fn(u64),
    ) -> Result<()> {
        let mkey = manifest_key(id);
        let view = dst.view()?;
        if holds_live(&view, id)? {
            // The destination's log commits this snapshot and has not expired it: it holds
            // everything it names (a commit lands after its objects, and gc keeps what any live
            // commit names; an expired one's data may be gone, so it is copied and committed
            // again, which revives it). A manifest
            // alone proves nothing (an interrupted copy, or a gc midway, can leave one whose
            // segments are gone), so without a commit every segment is checked.
            report.segments_present += self
                .objects()
                .manifest(id)?
                .tables
                .iter()
                .map(|t| t.segments as usize)
                .sum::<usize>();
            return Ok(());
        }
        let manifest: Manifest = self.objects().manifest(id)?;
        for t in &manifest.tables {
            for p in &t.pages {
                if !copied_pages.insert(p.id) {
                    continue;
                }
                let page_bytes = self.objects().page_bytes(&p.id)?;
                let page = dstore_format::SegmentList::decode(&page_bytes)
                    .map_err(|e| Error::format(self.storage().describe(&page_key(&p.id)), e))?;
                for e in &page.entries {
                    let key = segment_key(&e.id);
                    if dst.storage().size(&key)?.is_some() {
                        report.segments_present += 1;
                        continue;
                    }
                    let mut src = self.storage().open_read(&key)?;
                    let mut staged = dst.storage().stage()?;
                    let staged_path = staged.path().to_owned();
                    let h = hash_stream(&mut *src, Some(staged.file()), &[])
                        .map_err(Error::io("copy", self.storage().describe(&key)))?;
                    check_segment(&self.storage().describe(&key), &e.id, &h.id).map_err(|e| {
                        // The staged copy is dropped (and removed) with `staged`.
                        match e {
                            Error::Corrupted { path, detail } => Error::Corrupted {
                                path,
                                detail: format!(
                                    "{detail} (copy at {} discarded)",
                                    staged_path.display()
                                ),
                            },
                            other => other,
                        }
                    })?;
                    dst.storage().sync_staged(&mut staged)?;
                    dst.storage().put_staged(staged, &key, true)?;
                    // Computed while the segment streamed: no second read.
                    crate::derived::put_outboard(dst.storage(), &h.outboard)?;
                    // The source's profile, as it is, if it has a sound one; else the
                    // destination computes it on first use.
                    crate::derived::copy_profile(self.storage(), dst.storage(), &e.id, h.len)?;
                    report.segments_copied += 1;
                    report.bytes_copied += h.len;
                    progress(h.len);
                }
                dst.storage().put(&page_key(&p.id), &page_bytes)?;
                report.metadata_objects += 1;
            }
        }
        dst.storage()
            .put(&mkey, &self.objects().manifest_bytes(id)?)?;
        report.metadata_objects += 1;
        Ok(())
    }

    /// Makes the snapshot `id`, whose objects this store holds, HEAD with a commit record,
    /// setting `tags` on it. A snapshot the log already has a commit of gets no new commit,
    /// only the tags it lacks. Returns whether a commit record was written.
    fn commit_existing(
        &self,
        id: &SnapshotId,
        tags: &[String],
        author: &str,
        message: &str,
        force_tags: bool,
        upstream: &[dstore_format::Upstream],
    ) -> Result<bool> {
        let manifest = self.objects().manifest(id)?;
        let mut late_tags = None;
        self.index().write(|w| {
            w.append(|view| {
                // Tags to set: those not already on this snapshot (another target is refused
                // unless forced).
                let mut to_set = Vec::new();
                for t in tags {
                    match view.tag(t)? {
                        Some(old) if old.snapshot == *id => {}
                        Some(old) if !force_tags => {
                            return Err(Error::TagExists {
                                name: t.clone(),
                                target: old.snapshot.to_hex(),
                            });
                        }
                        _ => to_set.push(t.clone()),
                    }
                }
                if holds_live(view, id)? {
                    // Already in the destination's history (pushed before, or made there) and
                    // not expired there: no new commit; the tags are set after the lock is
                    // released. (An expired one is committed again: that revives it.)
                    late_tags = Some(to_set);
                    return Ok(None);
                }
                let head = view.head()?;
                let base = self
                    .objects()
                    .manifest_or_empty(head.as_ref().and_then(LogRecord::snapshot))?;
                let rec = view.next_record(
                    author,
                    message,
                    RecordKind::Commit {
                        snapshot: *id,
                        parent_commit: head.as_ref().map(|h| h.seq),
                        changes: changes_between(&base, &manifest),
                        tags: to_set,
                        upstream: upstream.to_vec(),
                    },
                )?;
                Ok(Some((rec, ())))
            })
        })?;
        match late_tags {
            None => Ok(true),
            Some(missing) => {
                for t in missing {
                    self.set_tag(&t, &id.to_hex(), force_tags, author)?;
                }
                Ok(false)
            }
        }
    }
}

/// The changes that turn `base` into `new`, table by table (sorted by name, as in commits):
/// tables that are new are created, tables whose pages differ are overwritten.
fn changes_between(base: &Manifest, new: &Manifest) -> Vec<TableChange> {
    new.tables
        .iter()
        .filter_map(|t| {
            let op = match base.table(&t.name) {
                None => TableOp::Create,
                Some(old) if old.pages == t.pages => return None,
                Some(_) => TableOp::Overwrite,
            };
            Some(TableChange {
                table: t.name.clone(),
                op,
                segments: t.segments,
                rows: t.rows,
                bytes: t.bytes,
            })
        })
        .collect()
}

/// Whether `view`'s log commits `id` and has not expired it: then its store holds everything the
/// snapshot names (gc keeps what a live commit names; an expired one's data may be gone).
fn holds_live(view: &crate::catalog::LogView<'_>, id: &SnapshotId) -> Result<bool> {
    Ok(!view.commits_of(id)?.is_empty() && view.expired(id)?.is_none())
}
