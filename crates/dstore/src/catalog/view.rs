//! A consistent view of the log: the catalog plus the few records written after it was last
//! updated (by a writer that has not indexed them yet, or crashed before it could).

use dstore_format::{LogRecord, RecordHash, RecordKind, SnapshotId, TagTarget};

use super::Catalog;
use crate::error::Result;

pub(crate) struct LogView<'a> {
    pub(crate) cat: Option<CatalogRef<'a>>,
    /// Records after the catalog's last one, in order, with their hashes.
    pub(crate) extra: Vec<(LogRecord, RecordHash)>,
}

/// A reader's catalog (opened read-only, shared by the views of one [`crate::Store`]), or
/// borrowed from a writer.
pub(crate) enum CatalogRef<'a> {
    Shared(std::sync::Arc<Catalog>),
    Borrowed(&'a Catalog),
}

impl std::ops::Deref for CatalogRef<'_> {
    type Target = Catalog;
    fn deref(&self) -> &Catalog {
        match self {
            CatalogRef::Shared(c) => c,
            CatalogRef::Borrowed(c) => c,
        }
    }
}

impl<'a> LogView<'a> {
    /// The view of a writer whose catalog is caught up with the log.
    pub(crate) fn of_writer(cat: &'a Catalog) -> Self {
        LogView {
            cat: Some(CatalogRef::Borrowed(cat)),
            extra: Vec::new(),
        }
    }

    /// Sequence number and hash of the last record, if any.
    pub(crate) fn last(&self) -> Result<Option<(u64, RecordHash)>> {
        if let Some((r, h)) = self.extra.last() {
            return Ok(Some((r.seq, *h)));
        }
        match &self.cat {
            Some(c) => c.last(),
            None => Ok(None),
        }
    }

    /// The record that would follow the last one: the next seq, the last record's hash as
    /// predecessor, and the current time, never earlier than the last record's.
    pub(crate) fn next_record(
        &self,
        author: &str,
        message: &str,
        kind: RecordKind,
    ) -> Result<LogRecord> {
        let last = self.last()?;
        let prev_time = match last {
            Some((s, _)) => self.record(s)?.map_or(i64::MIN, |r| r.time_micros),
            None => i64::MIN,
        };
        Ok(LogRecord {
            seq: last.map_or(1, |(s, _)| s + 1),
            prev: last.map_or(RecordHash::ZERO, |(_, h)| h),
            time_micros: crate::log::now_micros().max(prev_time),
            author: author.to_owned(),
            message: message.to_owned(),
            kind,
        })
    }

    pub(crate) fn record(&self, seq: u64) -> Result<Option<LogRecord>> {
        if let Some((r, _)) = self.extra.iter().find(|(r, _)| r.seq == seq) {
            return Ok(Some(r.clone()));
        }
        match &self.cat {
            Some(c) => c.record(seq),
            None => Ok(None),
        }
    }

    /// The commit `n` commits before the commit record `seq`, through the catalog's commit
    /// index: `None` when `seq` is not an indexed commit (walk its parents instead),
    /// `Some(Err(k))` when only `k` commits precede it.
    pub(crate) fn commit_back(
        &self,
        seq: u64,
        n: u64,
    ) -> Result<Option<std::result::Result<u64, u64>>> {
        if self.extra.iter().any(|(r, _)| r.seq == seq) {
            return Ok(None);
        }
        let Some(cat) = &self.cat else {
            return Ok(None);
        };
        let Some(ord) = cat.commit_ordinal(seq)? else {
            return Ok(None);
        };
        if ord <= n {
            return Ok(Some(Err(ord - 1)));
        }
        Ok(cat.commit_at_ordinal(ord - n)?.map(Ok))
    }

    /// The latest commit record.
    pub(crate) fn head(&self) -> Result<Option<LogRecord>> {
        if let Some((r, _)) = self
            .extra
            .iter()
            .rev()
            .find(|(r, _)| r.snapshot().is_some())
        {
            return Ok(Some(r.clone()));
        }
        match &self.cat {
            Some(c) => match c.head()? {
                Some(seq) => c.record(seq),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    pub(crate) fn tag(&self, name: &str) -> Result<Option<TagTarget>> {
        for (r, _) in self.extra.iter().rev() {
            match &r.kind {
                RecordKind::Tag {
                    name: n, target, ..
                } if n == name => return Ok(*target),
                RecordKind::Commit { snapshot, tags, .. } if tags.iter().any(|t| t == name) => {
                    return Ok(Some(TagTarget {
                        snapshot: *snapshot,
                        seq: r.seq,
                    }));
                }
                _ => {}
            }
        }
        match &self.cat {
            Some(c) => c.tag(name),
            None => Ok(None),
        }
    }

    pub(crate) fn tags(&self) -> Result<Vec<(String, TagTarget)>> {
        let mut map: std::collections::BTreeMap<String, TagTarget> = match &self.cat {
            Some(c) => c.tags()?.into_iter().collect(),
            None => std::collections::BTreeMap::default(),
        };
        for (r, _) in &self.extra {
            match &r.kind {
                RecordKind::Tag { name, target, .. } => match target {
                    Some(t) => {
                        map.insert(name.clone(), *t);
                    }
                    None => {
                        map.remove(name);
                    }
                },
                RecordKind::Expire { .. } => {}
                RecordKind::Commit { snapshot, tags, .. } => {
                    for t in tags {
                        map.insert(
                            t.clone(),
                            TagTarget {
                                snapshot: *snapshot,
                                seq: r.seq,
                            },
                        );
                    }
                }
            }
        }
        Ok(map.into_iter().collect())
    }

    pub(crate) fn tags_of(&self, id: &SnapshotId) -> Result<Vec<String>> {
        if self.extra.is_empty() {
            return match &self.cat {
                Some(c) => c.tags_of(id),
                None => Ok(Vec::new()),
            };
        }
        Ok(self
            .tags()?
            .into_iter()
            .filter(|(_, t)| t.snapshot == *id)
            .map(|(n, _)| n)
            .collect())
    }

    pub(crate) fn commits_of(&self, id: &SnapshotId) -> Result<Vec<u64>> {
        let mut out = match &self.cat {
            Some(c) => c.commits_of(id)?,
            None => Vec::new(),
        };
        out.extend(
            self.extra
                .iter()
                .filter(|(r, _)| r.snapshot() == Some(*id))
                .map(|(r, _)| r.seq),
        );
        Ok(out)
    }

    /// The seq of the record that expired snapshot `id`, if it is expired: the latest expire
    /// record naming it, unless a commit of the same snapshot came after it (committing the
    /// same content again revives it).
    pub(crate) fn expired(&self, id: &SnapshotId) -> Result<Option<u64>> {
        let mut last = match &self.cat {
            Some(c) => c.expired(id)?,
            None => None,
        };
        for (r, _) in &self.extra {
            if let RecordKind::Expire { snapshots, .. } = &r.kind
                && snapshots.contains(id)
            {
                last = Some(r.seq);
            }
        }
        let Some(expired_at) = last else {
            return Ok(None);
        };
        let committed_at = self.commits_of(id)?.into_iter().max().unwrap_or(0);
        Ok((expired_at > committed_at).then_some(expired_at))
    }

    pub(crate) fn ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<SnapshotId>> {
        let mut out = match &self.cat {
            Some(c) => c.ids_with_prefix(prefix, limit)?,
            None => Vec::new(),
        };
        for (r, _) in &self.extra {
            if let Some(id) = r.snapshot()
                && id.to_hex().starts_with(prefix)
                && !out.contains(&id)
            {
                out.push(id);
            }
        }
        Ok(out)
    }

    pub(crate) fn commit_at_or_before(&self, micros: i64) -> Result<Option<u64>> {
        if let Some((r, _)) = self
            .extra
            .iter()
            .rev()
            .find(|(r, _)| r.snapshot().is_some() && r.time_micros <= micros)
        {
            return Ok(Some(r.seq));
        }
        match &self.cat {
            Some(c) => c.commit_at_or_before(micros),
            None => Ok(None),
        }
    }

    /// Records from the newest back, at most `limit`.
    pub(crate) fn records_back(&self, limit: usize) -> Result<Vec<LogRecord>> {
        let mut out: Vec<LogRecord> = self
            .extra
            .iter()
            .rev()
            .take(limit)
            .map(|(r, _)| r.clone())
            .collect();
        if out.len() < limit
            && let Some(c) = &self.cat
            && let Some((last, _)) = c.last()?
        {
            out.extend(c.records_back(last, limit - out.len())?);
        }
        Ok(out)
    }
}
