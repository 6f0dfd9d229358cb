//! The catalog: a RocksDB index derived from the log, and everything that keeps it in step.
//!
//! - `db.rs`: [`Catalog`], the RocksDB instance and its keys (O(log n) lookups of records,
//!   HEAD, tags, id prefixes, times, segments, commit ordinals).
//! - `view.rs`: [`LogView`], a consistent view of the log: the catalog plus the few records
//!   written after it was last updated. Every log query goes through one.
//! - `writer.rs`: [`writer::Writer`], the catalog open for writing under `catalog.lock`, and
//!   [`writer::Writer::append`], the one implementation of the commit protocol (build the next record
//!   on the current head, put-if-absent, catch up and retry on a lost race).
//! - this file: [`IndexedLog`], the log with its catalog: read views (the kept reader
//!   catalog, freshness against the log, rebuild when missing or damaged), writer sessions and
//!   `reindex`.
//!
//! Deleting the catalog loses nothing: it is rebuilt from the log. May call: `log`, `objects`,
//! `storage`, `layout`, the format crate.

mod db;
mod view;
mod writer;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dstore_format::{LogRecord, PageId, RecordHash, RecordKind, SegmentEntry, SegmentId};

pub(crate) use db::{Catalog, IndexedRecord};
pub(crate) use view::LogView;

use crate::error::{Error, Result};
use crate::layout::CATALOG_DIR;
use crate::log::Log;
use crate::objects::Objects;
use crate::storage::Storage;

/// A segment's bytes, rows and the sequence number of the commit that first added it.
type SegmentInfo = (u64, u64, u64);

/// How long a writer waits for another process to release the catalog.
pub(super) const CATALOG_WAIT: Duration = Duration::from_mins(2);

/// A reader's catalog is reopened once this many records were written after it was opened
/// (each read view reads those records from the log).
const MAX_UNINDEXED: usize = 16;

/// Read-only opens of the catalog tried without the lock, and the pause after the first failed
/// one (doubled after each): 2 + 4 + 8 + 16 ms at most before the lock is taken.
const OPEN_ATTEMPTS: u32 = 5;
const OPEN_PAUSE: Duration = Duration::from_millis(2);

/// The file writers and rebuilds lock, beside the catalog directory.
pub(crate) const LOCK_FILE: &str = "catalog.lock";

/// The catalog a store's readers share: opened read-only on first use, kept while it serves.
///
/// A read-only RocksDB instance sees the catalog as it was when opened; the records written
/// since are read from the log on each view, so a kept catalog is never stale, only slower
/// once many records follow it (then it is reopened). It loads every table file when opened
/// (`max_open_files = -1`), so a writer compacting or a rebuild replacing the catalog cannot
/// pull files from under it. After `fork` the child never touches the parent's instance (its
/// background state did not survive the fork): it opens its own.
#[derive(Default)]
struct ReaderCatalog(std::sync::Mutex<Option<(u32, Arc<Catalog>)>>);

impl ReaderCatalog {
    fn get(&self) -> Option<Arc<Catalog>> {
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match g.take() {
            Some((pid, cat)) if pid == std::process::id() => {
                *g = Some((pid, cat.clone()));
                Some(cat)
            }
            // Inherited through fork: dropping it could wait on a lock some thread of the
            // parent held at the fork. Leak it instead.
            Some((_, cat)) => {
                std::mem::forget(cat);
                None
            }
            None => None,
        }
    }

    fn set(&self, cat: Option<Arc<Catalog>>) {
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((pid, old)) = g.take()
            && pid != std::process::id()
        {
            std::mem::forget(old);
        }
        *g = cat.map(|c| (std::process::id(), c));
    }
}

/// The log of a store with its catalog. Shared by a [`crate::Store`] and its clones, so they
/// share the kept reader catalog.
pub(crate) struct IndexedLog {
    /// Where `catalog/` and `catalog.lock` live: the store's directory, or for a store in
    /// object storage its local cache directory.
    root: PathBuf,
    /// Whether the log is in object storage, where nobody else indexes other machines'
    /// records into this (local) catalog.
    remote: bool,
    storage: Arc<dyn Storage>,
    log: Log,
    objects: Objects,
    reader: ReaderCatalog,
    stats: Counters,
}

impl crate::Store {
    /// How this handle and its clones used the catalog so far: rebuilds from the log, and
    /// opens retried because a writer was compacting at the same moment.
    pub fn catalog_stats(&self) -> CatalogStats {
        self.index().stats()
    }
}

/// What [`IndexedLog::open_view`] found.
enum Opened {
    Catalog(Arc<Catalog>, LogView<'static>),
    /// A store where no catalog can be built: every record read from the log.
    LogOnly(LogView<'static>),
}

#[derive(Debug, Default)]
struct Counters {
    rebuilds: AtomicU64,
    retried_opens: AtomicU64,
}

/// How a [`crate::Store`] handle (and its clones) used the catalog: for monitoring, and for
/// tests that readers under concurrent writers never rebuild it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatalogStats {
    /// Times the catalog was rebuilt from the log because it was missing, damaged or out of
    /// step with the log (`reindex` not counted). O(history) each.
    pub rebuilds: u64,
    /// Read-only opens that failed and were tried again: a writer compacting the catalog at
    /// that moment.
    pub retried_opens: u64,
}

impl std::fmt::Debug for IndexedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexedLog")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl IndexedLog {
    pub(crate) fn new(root: PathBuf, storage: Arc<dyn Storage>) -> IndexedLog {
        IndexedLog {
            root,
            remote: storage.url().is_some(),
            log: Log::new(storage.clone()),
            objects: Objects::new(storage.clone()),
            storage,
            reader: ReaderCatalog::default(),
            stats: Counters::default(),
        }
    }

    pub(crate) fn stats(&self) -> CatalogStats {
        CatalogStats {
            rebuilds: self.stats.rebuilds.load(Ordering::Relaxed),
            retried_opens: self.stats.retried_opens.load(Ordering::Relaxed),
        }
    }

    /// Counts a rebuild made because the catalog was unusable.
    pub(super) fn count_rebuild(&self) {
        self.stats.rebuilds.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn log(&self) -> &Log {
        &self.log
    }

    pub(super) fn catalog_path(&self) -> PathBuf {
        self.root.join(CATALOG_DIR)
    }

    /// A read view: the catalog opened read-only plus records it has not indexed yet. Rebuilds
    /// the catalog first when it is missing, damaged or out of step with the log — never
    /// because an open raced a writer (see [`IndexedLog::open_view`]).
    pub(crate) fn view(&self) -> Result<LogView<'static>> {
        if let Some(cat) = self.reader.get() {
            match self.view_of(&cat) {
                Ok(Some(v)) if v.extra.len() <= MAX_UNINDEXED => return Ok(v),
                Ok(_) => {}
                // The kept instance failed (its files replaced under it, say): open afresh.
                Err(e @ Error::Catalog { .. }) => {
                    tracing::debug!("reopening the catalog: {e}");
                }
                Err(e) => return Err(e),
            }
            self.reader.set(None);
        }
        let (mut cat, mut v) = match self.open_view()? {
            Opened::Catalog(cat, v) => (cat, v),
            Opened::LogOnly(v) => return Ok(v),
        };
        // A remote store's cache lags whenever other machines commit: nobody else indexes
        // their records here. Index them once (best effort; a reader that cannot lock or write
        // its cache still reads the log).
        if v.extra.len() > MAX_UNINDEXED && self.remote {
            drop(v);
            drop(cat);
            if let Err(e) = self.catch_up_cache() {
                tracing::debug!("catalog cache not caught up: {e}");
            }
            (cat, v) = match self.open_view()? {
                Opened::Catalog(cat, v) => (cat, v),
                Opened::LogOnly(v) => return Ok(v),
            };
        }
        self.reader.set(Some(cat));
        Ok(v)
    }

    /// Opens the catalog read-only with its view of the log.
    ///
    /// Without the catalog lock a writer may be compacting at the same moment: a read-only
    /// open that reads the MANIFEST just before the writer replaces it then misses a table
    /// file the writer has just deleted, and RocksDB reports "Corruption: Can't access
    /// 001273.sst: ... No such file or directory". That is transient (the next open reads the
    /// new MANIFEST), and RocksDB words it exactly as a catalog whose file is really gone, so
    /// the error cannot tell the two apart: the open is retried a few times, briefly, and if
    /// it still fails — or finds no catalog, or one out of step with the log — the question
    /// is settled under the lock, where no writer is compacting and no rebuild is swapping
    /// directories, so what the open sees is what the catalog is. Only then is it rebuilt.
    ///
    /// (RocksDB's secondary instances would need a writable directory per reader, which a
    /// reader of a read-only store lacks, and their catch-up races deletions the same way.)
    fn open_view(&self) -> Result<Opened> {
        let path = self.catalog_path();
        let mut pause = OPEN_PAUSE;
        for attempt in 1..=OPEN_ATTEMPTS {
            match Catalog::open_read_only(&path) {
                Ok(Some(cat)) => {
                    let cat = Arc::new(cat);
                    match self.view_of(&cat)? {
                        Some(v) => return Ok(Opened::Catalog(cat, v)),
                        None => break,
                    }
                }
                // Missing, or being swapped in by a rebuild elsewhere: settled under the lock.
                Ok(None) => break,
                Err(e) => {
                    self.stats.retried_opens.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("catalog open {attempt} of {OPEN_ATTEMPTS} failed ({e})");
                }
            }
            if attempt < OPEN_ATTEMPTS {
                std::thread::sleep(pause);
                pause *= 2;
            }
        }
        // A store we may only read (a shared dataset, a read-only mount) cannot be locked or
        // get a catalog: answer from the log itself, in memory. Slower (reads every record),
        // never wrong.
        let log_only = |source: std::io::Error| -> Result<Opened> {
            tracing::warn!("catalog cannot be built here ({source}); reading the log directly");
            let extra = self
                .log
                .records_after(None)?
                .into_iter()
                .map(|r| (r.record, r.hash))
                .collect();
            Ok(Opened::LogOnly(LogView { cat: None, extra }))
        };
        let _lock = match self.lock() {
            Ok(l) => l,
            Err(Error::Io { source, .. }) => return log_only(source),
            Err(e) => return Err(e),
        };
        let unusable = match Catalog::open_read_only(&path) {
            Ok(Some(cat)) => {
                let cat = Arc::new(cat);
                match self.view_of(&cat) {
                    Ok(Some(v)) => return Ok(Opened::Catalog(cat, v)),
                    Ok(None) => Some("out of step with the log".to_owned()),
                    Err(e) => Some(e.to_string()),
                }
            }
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = &unusable {
            tracing::warn!("catalog unusable ({why}); rebuilding it from the log");
        } else {
            tracing::debug!("no catalog yet; building it from the log");
        }
        match self.rebuild_locked() {
            Ok(_) => {}
            Err(Error::Io { source, .. }) => return log_only(source),
            Err(e) => return Err(e),
        }
        self.count_rebuild();
        let not_current = || Error::Catalog {
            path: path.clone(),
            detail: "could not be brought up to date with the log".into(),
        };
        let cat = Arc::new(Catalog::open_read_only(&path)?.ok_or_else(not_current)?);
        let v = self.view_of(&cat)?.ok_or_else(not_current)?;
        Ok(Opened::Catalog(cat, v))
    }

    /// The view through `cat`, or `None` when `cat` does not describe a prefix of the log.
    fn view_of(&self, cat: &Arc<Catalog>) -> Result<Option<LogView<'static>>> {
        if !cat.is_current()? {
            return Ok(None);
        }
        let last = cat.last()?;
        if !self.matches_log(last)? {
            return Ok(None);
        }
        let extra = self
            .log
            .records_after(last)?
            .into_iter()
            .map(|r| (r.record, r.hash))
            .collect();
        Ok(Some(LogView {
            cat: Some(view::CatalogRef::Shared(cat.clone())),
            extra,
        }))
    }

    /// Indexes into the local catalog the records it lacks, when it describes a prefix of the
    /// log (anything else is left to the rebuild path of [`IndexedLog::view`]).
    fn catch_up_cache(&self) -> Result<()> {
        // Never wait: a writer holding the lock indexes what it commits anyway.
        let p = self.root.join(LOCK_FILE);
        let mut o = std::fs::OpenOptions::new();
        o.create(true).truncate(false).write(true);
        let lock = o.open(&p).map_err(Error::io("open", &p))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(()),
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &p)(e)),
        }
        let cat = Catalog::open_writable(&self.catalog_path(), Duration::from_secs(1))?;
        if cat.is_current()? && self.matches_log(cat.last()?)? {
            self.catch_up(&cat)?;
        }
        Ok(())
    }

    /// Takes the store's catalog lock (`catalog.lock`), waiting for other processes. Held by
    /// writers around a commit and by rebuilds; readers never take it. RocksDB's own lock covers
    /// an open database but not swapping a rebuilt one into place, hence this one.
    pub(super) fn lock(&self) -> Result<std::fs::File> {
        let p = self.root.join(LOCK_FILE);
        let mut o = std::fs::OpenOptions::new();
        o.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o664);
        let f = o.open(&p).map_err(Error::io("open", &p))?;
        f.lock().map_err(Error::io("lock", &p))?;
        Ok(f)
    }

    /// Whether a catalog whose last record is `last` describes a prefix of the log.
    pub(super) fn matches_log(&self, last: Option<(u64, RecordHash)>) -> Result<bool> {
        match last {
            None => Ok(true),
            Some((seq, hash)) => self.log.has_record(seq, hash),
        }
    }

    /// Indexes every record the catalog does not have yet.
    pub(super) fn catch_up(&self, cat: &Catalog) -> Result<()> {
        let new = self.log.records_after(cat.last()?)?;
        let mut new: Vec<IndexedRecord> = new.into_iter().map(IndexedRecord::from).collect();
        for chunk in new.chunks_mut(1024) {
            // A parent may be in this same chunk, not yet in the catalog.
            let pending: HashMap<u64, LogRecord> = chunk
                .iter()
                .map(|r| (r.record.seq, r.record.clone()))
                .collect();
            for r in chunk.iter_mut() {
                r.added = self.added_segments(&r.record, |s| match pending.get(&s) {
                    Some(rec) => Ok(Some(rec.clone())),
                    None => cat.record(s),
                })?;
            }
            cat.apply(chunk)?;
        }
        Ok(())
    }

    /// Segments on pages that a commit's manifest has and its parent's does not.
    pub(super) fn added_segments(
        &self,
        rec: &LogRecord,
        lookup: impl Fn(u64) -> Result<Option<LogRecord>>,
    ) -> Result<Vec<SegmentEntry>> {
        let RecordKind::Commit {
            snapshot,
            parent_commit,
            ..
        } = &rec.kind
        else {
            return Ok(Vec::new());
        };
        let new = self.objects.manifest(snapshot)?;
        let parent = parent_commit
            .map(&lookup)
            .transpose()?
            .flatten()
            .and_then(|r| r.snapshot());
        let old = self.objects.manifest_or_empty(parent)?;
        let mut out = Vec::new();
        for t in &new.tables {
            let known: HashSet<PageId> = old
                .table(&t.name)
                .map(|o| o.pages.iter().map(|p| p.id).collect())
                .unwrap_or_default();
            for p in t.pages.iter().filter(|p| !known.contains(&p.id)) {
                out.extend(self.objects.page(&p.id)?.entries);
            }
        }
        Ok(out)
    }

    /// Size, rows and first commit of a segment some commit added.
    pub(crate) fn segment_info(&self, id: &SegmentId) -> Result<Option<(u64, u64, u64)>> {
        Ok(self
            .segment_infos(std::slice::from_ref(id))?
            .pop()
            .flatten())
    }

    /// [`IndexedLog::segment_info`] of each of `ids`, through one read view.
    pub(crate) fn segment_infos(&self, ids: &[SegmentId]) -> Result<Vec<Option<SegmentInfo>>> {
        self.segment_infos_in(&self.view()?, ids)
    }

    /// [`IndexedLog::segment_info`] of each of `ids` as `view` sees the log.
    pub(crate) fn segment_infos_in(
        &self,
        view: &LogView<'_>,
        ids: &[SegmentId],
    ) -> Result<Vec<Option<SegmentInfo>>> {
        let mut extra: Option<std::collections::HashMap<SegmentId, SegmentInfo>> = None;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.segment_info_in(view, id, &mut extra)?);
        }
        Ok(out)
    }

    fn segment_info_in(
        &self,
        view: &LogView<'_>,
        id: &SegmentId,
        extra: &mut Option<std::collections::HashMap<SegmentId, SegmentInfo>>,
    ) -> Result<Option<(u64, u64, u64)>> {
        if let Some(c) = &view.cat
            && let Some(info) = c.segment(id)?
        {
            return Ok(Some(info));
        }
        // Commits not indexed yet (a writer stopped between its record and its index update),
        // read once per view.
        if extra.is_none() {
            // The first record that added each segment.
            let mut found = std::collections::HashMap::new();
            for (rec, _) in &view.extra {
                for e in self.added_segments(rec, |s| view.record(s))? {
                    found.entry(e.id).or_insert((e.bytes, e.rows, rec.seq));
                }
            }
            *extra = Some(found);
        }
        Ok(extra.as_ref().and_then(|f| f.get(id)).copied())
    }

    /// Rebuilds the catalog from the log. Returns the records indexed.
    pub(crate) fn reindex(&self) -> Result<u64> {
        let _lock = self.lock()?;
        self.rebuild_locked()
    }

    /// Builds a new catalog beside the old one and swaps it in. Caller holds the catalog lock.
    pub(super) fn rebuild_locked(&self) -> Result<u64> {
        let path = self.catalog_path();
        // Build beside the old one, then swap, so a crash midway leaves a usable or no catalog.
        let fresh = self.root.join(format!("{CATALOG_DIR}.rebuild"));
        if fresh.exists() {
            std::fs::remove_dir_all(&fresh).map_err(Error::io("remove", &fresh))?;
        }
        let n = {
            let cat = Catalog::open_writable(&fresh, CATALOG_WAIT)?;
            self.catch_up(&cat)?;
            let last = cat.last()?.map_or(0, |(s, _)| s);
            self.log.check_ends_at(last)?;
            last
        };
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(Error::io("remove", &path))?;
        }
        std::fs::rename(&fresh, &path).map_err(Error::io("rename into", &path))?;
        crate::storage::sync_dir(&self.root)?;
        Ok(n)
    }
}
