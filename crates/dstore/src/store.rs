//! [`Store`]: opening a store, reading its log through the catalog, resolving refs, tags.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dstore_format::{
    LogRecord, Manifest, PageId, RecordHash, RecordKind, RefBase, RefSpec, SegmentEntry,
    SegmentList, SnapshotId, TagTarget, marker, validate_tag_name,
};

use crate::catalog::{Catalog, IndexedRecord};
use crate::error::{Error, Result};
use crate::layout::{self, CATALOG_DIR, LOG_DIR, MARKER, record_key};
use crate::snapshot::Snapshot;
use crate::storage::{LocalStorage, ObjectStorage, RemoteOptions, Storage};
use crate::transaction::Transaction;
use crate::view::LogView;

/// How long a writer waits for another process to release the catalog.
const CATALOG_WAIT: Duration = Duration::from_mins(2);

/// A reader's catalog is reopened once this many records were written after it was opened
/// (each read view reads those records from the log).
const MAX_UNINDEXED: usize = 16;

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

impl std::fmt::Debug for ReaderCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReaderCatalog")
    }
}

/// A dstore store.
///
/// Cheap to open: nothing but the format marker is read until a command needs more. A reader
/// that names a snapshot by its full id never touches the catalog.
#[derive(Debug, Clone)]
pub struct Store {
    /// The store's directory; for a remote store, its local cache directory (catalog, lock,
    /// staged files).
    root: PathBuf,
    /// The store's URL, for a store in object storage.
    url: Option<String>,
    storage: Arc<dyn Storage>,
    reader: Arc<ReaderCatalog>,
}

/// A resolved ref: the snapshot and, when known, the commit that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The snapshot.
    pub id: SnapshotId,
    /// The commit record that made it, when the resolution went through the log. A full id
    /// resolves without reading the log (no catalog, no lock), so its `seq` is `None`.
    pub seq: Option<u64>,
}

impl Store {
    /// Creates a new, empty store at `path` (which must not exist or be an empty directory),
    /// or at a store URL (`s3://bucket/prefix`, see [`Store::init_url`]).
    pub fn init(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        if let Some(url) = path.to_str().filter(|p| crate::storage::is_url(p)) {
            return Self::init_url(url, &RemoteOptions::from_env());
        }
        if path.exists() {
            let mut entries = std::fs::read_dir(path).map_err(Error::io("read", path))?;
            if entries.next().is_some() {
                return Err(Error::AlreadyExists {
                    path: path.to_owned(),
                });
            }
        } else {
            crate::storage::create_dir_all(path).map_err(Error::io("create directory", path))?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                crate::storage::sync_dir(parent)?;
            }
        }
        let storage = LocalStorage::new(path);
        for d in [
            LOG_DIR,
            layout::SEGMENTS_DIR,
            layout::MANIFESTS_DIR,
            layout::TMP_DIR,
        ] {
            crate::storage::create_dir_all(&path.join(d))
                .map_err(Error::io("create directory", path.join(d)))?;
        }
        // The marker goes last: a store with a marker is complete. Its put syncs the root
        // directory, which makes the directories above durable too.
        if !storage.put_if_absent(MARKER, &marker::encode_marker())? {
            return Err(Error::AlreadyExists {
                path: path.to_owned(),
            });
        }
        Self::open(path)
    }

    /// Opens the store at `path` (or at a store URL, with options from the environment: see
    /// [`Store::open_url`]), checking its format marker.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        if let Some(url) = path.as_ref().to_str().filter(|p| crate::storage::is_url(p)) {
            return Self::open_url(url, &RemoteOptions::from_env());
        }
        let root = path.as_ref().to_owned();
        Self::open_with_storage(&root, Arc::new(LocalStorage::new(&root)))
    }

    /// Opens a store given as a path or a URL, with `opts` for a URL.
    pub fn open_location(location: &str, opts: &RemoteOptions) -> Result<Store> {
        if crate::storage::is_url(location) {
            Self::open_url(location, opts)
        } else {
            Self::open(location)
        }
    }

    /// Creates a store given as a path or a URL, with `opts` for a URL.
    pub fn init_location(location: &str, opts: &RemoteOptions) -> Result<Store> {
        if crate::storage::is_url(location) {
            Self::init_url(location, opts)
        } else {
            Self::init(location)
        }
    }

    /// Opens the store at `url` (`s3://bucket/prefix`): reads its marker. Its catalog is a
    /// local cache under [`crate::cache_dir_for`].
    pub fn open_url(url: &str, opts: &RemoteOptions) -> Result<Store> {
        let (url, storage) = Self::remote_storage(url, opts)?;
        let cache = storage.cache_dir().to_owned();
        let storage: Arc<dyn Storage> = Arc::new(storage);
        let bytes = storage.get_opt(MARKER)?.ok_or_else(|| Error::NotAStore {
            path: PathBuf::from(&url),
        })?;
        marker::decode_marker(&bytes).map_err(|e| Error::format(storage.describe(MARKER), e))?;
        Ok(Store {
            root: cache,
            url: Some(url),
            storage,
            reader: Arc::default(),
        })
    }

    /// Creates a new, empty store at `url`, which must hold no object yet. Probes the
    /// backend first: one that does not honour put-if-absent is refused unless
    /// `opts.single_writer`.
    pub fn init_url(url: &str, opts: &RemoteOptions) -> Result<Store> {
        let (canonical, storage) = Self::remote_storage(url, opts)?;
        let taken = || Error::AlreadyExists {
            path: PathBuf::from(&canonical),
        };
        if !storage.is_empty()? {
            return Err(taken());
        }
        // put_if_absent probes the backend before its first create.
        if !storage.put_if_absent(MARKER, &marker::encode_marker())? {
            return Err(taken());
        }
        Self::open_url(&canonical, opts)
    }

    fn remote_storage(url: &str, opts: &RemoteOptions) -> Result<(String, ObjectStorage)> {
        let canonical = crate::storage::StoreUrl::parse(url)?.canonical();
        let cache = crate::storage::cache_dir_for(&canonical, opts)?;
        crate::storage::create_dir_all(&cache).map_err(Error::io("create directory", &cache))?;
        let url_file = cache.join("url");
        if !url_file.exists() {
            std::fs::write(&url_file, format!("{canonical}\n"))
                .map_err(Error::io("write", &url_file))?;
        }
        let storage = ObjectStorage::new(&canonical, opts, cache)?;
        Ok((canonical, storage))
    }

    /// Where the store is, as a user names it: its URL, or its directory.
    pub fn location(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| self.root.display().to_string())
    }

    /// The store's URL, for a store in object storage.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Opens the store at `path` doing all object I/O through `storage`, which must hold the
    /// same store (a [`LocalStorage`] rooted at `path`, or a wrapper around one). For testing
    /// (fault injection) and alternative backends; [`Store::open`] is the usual way in. The
    /// catalog and its lock stay local files under `path`.
    pub fn open_with_storage(path: impl AsRef<Path>, storage: Arc<dyn Storage>) -> Result<Store> {
        let root = path.as_ref().to_owned();
        check_no_links(&root)?;
        let bytes = match storage.get_opt(MARKER) {
            Ok(Some(b)) => b,
            Ok(None) => return Err(Error::NotAStore { path: root }),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(Error::NotAStore { path: root });
            }
            Err(e) => return Err(e),
        };
        marker::decode_marker(&bytes).map_err(|e| Error::format(root.join(MARKER), e))?;
        Ok(Store {
            root,
            url: storage.url(),
            storage,
            reader: Arc::default(),
        })
    }

    /// Finds a store from `start`, like git: `start` or an ancestor that is a store, or that
    /// holds exactly one store directory named `*.dstore`.
    pub fn discover(start: impl AsRef<Path>) -> Result<Store> {
        let start = start.as_ref();
        let mut dir = Some(start);
        while let Some(d) = dir {
            if d.join(MARKER).is_file() {
                return Self::open(d);
            }
            let mut found: Vec<PathBuf> = std::fs::read_dir(d)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "dstore") && p.join(MARKER).is_file()
                })
                .collect();
            found.sort();
            match found.len() {
                0 => {}
                1 => return Self::open(&found[0]),
                _ => {
                    return Err(Error::InvalidInput {
                        path: Some(d.to_owned()),
                        detail: format!(
                            "holds several stores: {}",
                            found
                                .iter()
                                .map(|p| p.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        hint: Some("pick one with --store".into()),
                    });
                }
            }
            dir = d.parent();
        }
        Err(Error::NotAStore {
            path: start.to_owned(),
        })
    }

    /// The store's root directory; for a store in object storage, the local directory of its
    /// catalog cache.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The storage layer.
    pub fn storage(&self) -> &dyn Storage {
        &*self.storage
    }

    pub(crate) fn storage_arc(&self) -> Arc<dyn Storage> {
        self.storage.clone()
    }

    fn catalog_path(&self) -> PathBuf {
        self.root.join(CATALOG_DIR)
    }

    /// Starts a write transaction.
    pub fn begin(&self) -> Transaction<'_> {
        Transaction::new(self)
    }

    // ---- reading the log -------------------------------------------------------------------

    pub(crate) fn read_record(&self, seq: u64) -> Result<Option<(LogRecord, RecordHash, Vec<u8>)>> {
        let key = record_key(seq);
        let Some(bytes) = self.storage.get_opt(&key)? else {
            return Ok(None);
        };
        self.decode_record(seq, bytes).map(Some)
    }

    fn decode_record(&self, seq: u64, bytes: Vec<u8>) -> Result<(LogRecord, RecordHash, Vec<u8>)> {
        let key = record_key(seq);
        let rec =
            LogRecord::decode(&bytes).map_err(|e| Error::format(self.storage.describe(&key), e))?;
        if rec.seq != seq {
            return Err(Error::Corrupted {
                path: self.storage.describe(&key),
                detail: format!("holds record {} instead of {seq}", rec.seq),
            });
        }
        Ok((rec, RecordHash::of(&bytes), bytes))
    }

    /// Every log record from 1, checking names, density (including that no record lies past
    /// a gap) and the hash chain. Lists `log/`: O(history), for gc only.
    pub(crate) fn log_chain(&self) -> Result<Vec<LogRecord>> {
        let records: Vec<LogRecord> = self
            .records_after(None)?
            .into_iter()
            .map(|r| r.record)
            .collect();
        self.check_log_ends_at(records.last().map_or(0, |r| r.seq))?;
        Ok(records)
    }

    /// Sequence numbers of every record file in `log/` (one directory listing).
    pub(crate) fn listed_record_seqs(&self) -> Result<Vec<u64>> {
        Ok(self
            .storage
            .list(&format!("{LOG_DIR}/"))?
            .iter()
            .filter_map(|m| layout::parse_record_name(m.key.rsplit('/').next().unwrap_or("")))
            .collect())
    }

    /// Fails if a record exists past `last`, the end of the dense chain: a gap in the log is
    /// damage, not its end.
    fn check_log_ends_at(&self, last: u64) -> Result<()> {
        match self.listed_record_seqs()?.into_iter().find(|&s| s > last) {
            None => Ok(()),
            Some(extra) => Err(Error::Corrupted {
                path: self.storage.describe(&record_key(last + 1)),
                detail: format!(
                    "log record {} is missing but record {extra} exists",
                    last + 1
                ),
            }),
        }
    }

    /// Reads records after `last`, checking the hash chain.
    ///
    /// Locally it reads `last + 1`, `last + 2`, … until one is missing. In object storage,
    /// where each probe is a round trip, it lists the log after `last` (one request) and
    /// fetches the records listed concurrently; the chain is checked the same way.
    fn records_after(&self, mut last: Option<(u64, RecordHash)>) -> Result<Vec<IndexedRecord>> {
        let mut out = Vec::new();
        let start = last.map_or(0, |(s, _)| s);
        let mut fetched: std::collections::HashMap<u64, Vec<u8>> = std::collections::HashMap::new();
        let listed = self
            .storage
            .list_after(&format!("{LOG_DIR}/"), &record_key(start))?;
        if let Some(keys) = &listed {
            // Dense from start + 1: anything past a gap is read (and reported) by the loop.
            let seqs: Vec<u64> = keys
                .iter()
                .filter_map(|k| layout::parse_record_name(k.rsplit('/').next().unwrap_or("")))
                .filter(|&s| s > start)
                .enumerate()
                .take_while(|&(i, s)| s == start + 1 + i as u64)
                .map(|(_, s)| s)
                .collect();
            let keys: Vec<String> = seqs.iter().map(|&s| record_key(s)).collect();
            fetched = seqs
                .into_iter()
                .zip(self.storage.get_many(&keys)?)
                .filter_map(|(s, b)| Some((s, b?)))
                .collect();
        }
        loop {
            let seq = last.map_or(1, |(s, _)| s + 1);
            let read = match fetched.remove(&seq) {
                Some(bytes) => Some(self.decode_record(seq, bytes)?),
                // The listing is the log as of now (listings are strongly consistent): a
                // record not in it is not there yet, and the next read sees it.
                None if listed.is_some() => None,
                None => self.read_record(seq)?,
            };
            let Some((record, hash, bytes)) = read else {
                return Ok(out);
            };
            let prev = last.map_or(RecordHash::ZERO, |(_, h)| h);
            if record.prev != prev {
                return Err(Error::Corrupted {
                    path: self.storage.describe(&record_key(seq)),
                    detail: format!(
                        "names predecessor {} but record {} hashes to {}",
                        record.prev.short(16),
                        seq - 1,
                        prev.short(16)
                    ),
                });
            }
            last = Some((seq, hash));
            out.push(IndexedRecord {
                record,
                hash,
                bytes,
                added: Vec::new(),
            });
        }
    }

    /// A read view: the catalog opened read-only plus records it has not indexed yet. Rebuilds
    /// the catalog first when it is missing, unreadable or out of step with the log.
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
        let mut caught_up = false;
        for _ in 0..3 {
            match Catalog::open_read_only(&self.catalog_path()) {
                Ok(Some(cat)) => {
                    let cat = Arc::new(cat);
                    if let Some(v) = self.view_of(&cat)? {
                        // A remote store's cache lags whenever other machines commit: nobody
                        // else indexes their records here. Index them once (best effort; a
                        // reader that cannot lock or write its cache still reads the log).
                        if v.extra.len() > MAX_UNINDEXED && self.url.is_some() && !caught_up {
                            caught_up = true;
                            drop(v);
                            drop(cat);
                            if let Err(e) = self.catch_up_cache() {
                                tracing::debug!("catalog cache not caught up: {e}");
                            }
                            continue;
                        }
                        self.reader.set(Some(cat));
                        return Ok(v);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("catalog unreadable ({e}); rebuilding it from the log"),
            }
            // Rebuild under the lock, unless another process did while we waited for it.
            let rebuilt = self.lock_catalog().and_then(|_lock| {
                if !self.catalog_usable() {
                    self.rebuild_locked()?;
                }
                Ok(())
            });
            match rebuilt {
                Ok(()) => {}
                // A store we may only read (a shared dataset, a read-only mount) or cannot lock:
                // answer from the log itself, in memory. Slower (reads every record), never wrong.
                Err(Error::Io { source, .. }) => {
                    tracing::warn!(
                        "catalog cannot be built here ({source}); reading the log directly"
                    );
                    let extra = self
                        .records_after(None)?
                        .into_iter()
                        .map(|r| (r.record, r.hash))
                        .collect();
                    return Ok(LogView { cat: None, extra });
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Catalog {
            path: self.catalog_path(),
            detail: "could not be brought up to date with the log".into(),
        })
    }

    /// The view through `cat`, or `None` when `cat` does not describe a prefix of the log.
    fn view_of(&self, cat: &Arc<Catalog>) -> Result<Option<LogView<'static>>> {
        if !cat.is_current()? {
            return Ok(None);
        }
        let last = cat.last()?;
        if !self.catalog_matches_log(last)? {
            return Ok(None);
        }
        let extra = self
            .records_after(last)?
            .into_iter()
            .map(|r| (r.record, r.hash))
            .collect();
        Ok(Some(LogView {
            cat: Some(crate::view::CatalogRef::Shared(cat.clone())),
            extra,
        }))
    }

    /// Indexes into the local catalog the records it lacks, when it describes a prefix of the
    /// log (anything else is left to the rebuild path of [`Store::view`]).
    fn catch_up_cache(&self) -> Result<()> {
        // Never wait: a writer holding the lock indexes what it commits anyway.
        let p = self.root.join("catalog.lock");
        let mut o = std::fs::OpenOptions::new();
        o.create(true).truncate(false).write(true);
        let lock = o.open(&p).map_err(Error::io("open", &p))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(()),
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &p)(e)),
        }
        let cat = Catalog::open_writable(&self.catalog_path(), Duration::from_secs(1))?;
        if cat.is_current()? && self.catalog_matches_log(cat.last()?)? {
            self.catch_up(&cat)?;
        }
        Ok(())
    }

    /// Takes the store's catalog lock (`catalog.lock`), waiting for other processes. Held by
    /// writers around a commit and by rebuilds; readers never take it. RocksDB's own lock covers
    /// an open database but not swapping a rebuilt one into place, hence this one.
    fn lock_catalog(&self) -> Result<std::fs::File> {
        let p = self.root.join("catalog.lock");
        let mut o = std::fs::OpenOptions::new();
        o.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o664);
        let f = o.open(&p).map_err(Error::io("open", &p))?;
        f.lock().map_err(Error::io("lock", &p))?;
        Ok(f)
    }

    fn catalog_usable(&self) -> bool {
        match Catalog::open_read_only(&self.catalog_path()) {
            Ok(Some(c)) => {
                c.is_current().unwrap_or(false)
                    && c.last()
                        .and_then(|l| self.catalog_matches_log(l))
                        .unwrap_or(false)
            }
            _ => false,
        }
    }

    fn catalog_matches_log(&self, last: Option<(u64, RecordHash)>) -> Result<bool> {
        match last {
            None => Ok(true),
            Some((seq, hash)) => Ok(self
                .storage
                .get_opt(&record_key(seq))?
                .is_some_and(|b| RecordHash::of(&b) == hash)),
        }
    }

    /// Runs `f` with the catalog open for writing and caught up with the log, holding the
    /// catalog lock only for the duration of `f`.
    pub(crate) fn with_writer<T>(&self, f: impl FnOnce(&Catalog) -> Result<T>) -> Result<T> {
        self.storage.check_writable()?;
        let _lock = self.lock_catalog()?;
        let path = self.catalog_path();
        let open = || -> Result<Option<Catalog>> {
            match Catalog::open_writable(&path, CATALOG_WAIT) {
                Ok(c) if c.is_current()? && self.catalog_matches_log(c.last()?)? => Ok(Some(c)),
                Ok(_) => Ok(None),
                Err(e) => {
                    tracing::warn!("catalog unusable ({e}); rebuilding it from the log");
                    Ok(None)
                }
            }
        };
        let cat = if let Some(c) = open()? {
            c
        } else {
            self.rebuild_locked()?;
            Catalog::open_writable(&path, CATALOG_WAIT)?
        };
        self.catch_up(&cat)?;
        f(&cat)
    }

    /// Indexes every record the catalog does not have yet.
    pub(crate) fn catch_up(&self, cat: &Catalog) -> Result<()> {
        let mut new = self.records_after(cat.last()?)?;
        for chunk in new.chunks_mut(1024) {
            // A parent may be in this same chunk, not yet in the catalog.
            let pending: std::collections::HashMap<u64, LogRecord> = chunk
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
    fn added_segments(
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
        let new = self.load_manifest(snapshot)?;
        let old = match parent_commit
            .map(&lookup)
            .transpose()?
            .flatten()
            .and_then(|r| r.snapshot())
        {
            Some(id) => self.load_manifest(&id)?,
            None => Manifest::default(),
        };
        let mut out = Vec::new();
        for t in &new.tables {
            let known: std::collections::HashSet<PageId> = old
                .table(&t.name)
                .map(|o| o.pages.iter().map(|p| p.id).collect())
                .unwrap_or_default();
            for p in t.pages.iter().filter(|p| !known.contains(&p.id)) {
                out.extend(self.load_page(&p.id)?.entries);
            }
        }
        Ok(out)
    }

    /// Rebuilds the catalog from the log (`dstore reindex`). Returns the records indexed.
    pub fn reindex(&self) -> Result<u64> {
        let _lock = self.lock_catalog()?;
        self.rebuild_locked()
    }

    /// Builds a new catalog beside the old one and swaps it in. Caller holds the catalog lock.
    fn rebuild_locked(&self) -> Result<u64> {
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
            self.check_log_ends_at(last)?;
            last
        };
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(Error::io("remove", &path))?;
        }
        std::fs::rename(&fresh, &path).map_err(Error::io("rename into", &path))?;
        crate::storage::sync_dir(&self.root)?;
        Ok(n)
    }

    // ---- objects ---------------------------------------------------------------------------

    /// Reads a manifest, verifying that its bytes hash to `id`.
    pub(crate) fn load_manifest(&self, id: &SnapshotId) -> Result<Manifest> {
        let key = layout::manifest_key(id);
        let bytes = self
            .storage
            .get_opt(&key)?
            .ok_or_else(|| Error::Corrupted {
                path: self.storage.describe(&key),
                detail: format!("snapshot manifest {} is missing", id.short(16)),
            })?;
        if SnapshotId::of(&bytes) != *id {
            return Err(Error::Corrupted {
                path: self.storage.describe(&key),
                detail: "contents do not hash to the file's name".into(),
            });
        }
        Manifest::decode(&bytes).map_err(|e| Error::format(self.storage.describe(&key), e))
    }

    /// Reads a segment list page, verifying its hash.
    pub(crate) fn load_page(&self, id: &PageId) -> Result<SegmentList> {
        let key = layout::page_key(id);
        let bytes = self
            .storage
            .get_opt(&key)?
            .ok_or_else(|| Error::Corrupted {
                path: self.storage.describe(&key),
                detail: "segment list page is missing".into(),
            })?;
        if PageId::of(&bytes) != *id {
            return Err(Error::Corrupted {
                path: self.storage.describe(&key),
                detail: "contents do not hash to the file's name".into(),
            });
        }
        SegmentList::decode(&bytes).map_err(|e| Error::format(self.storage.describe(&key), e))
    }

    /// Opens a snapshot by full id. Reads only its manifest: no catalog, no lock.
    pub fn snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        Ok(Snapshot::new(self.clone(), *id, self.load_manifest(id)?))
    }

    // ---- refs ------------------------------------------------------------------------------

    /// Resolves a ref: `HEAD`, `HEAD~N`, `@SEQ`, a full id, an id prefix (8+ hex digits) or a
    /// tag, each optionally followed by `~N`.
    pub fn resolve(&self, r: &str) -> Result<Resolved> {
        let spec = RefSpec::parse(r).map_err(|e| Error::InvalidInput {
            path: None,
            detail: e.to_string(),
            hint: Some(
                "refs are HEAD, HEAD~N, @SEQ, an id or 8+ hex digits of one, or a tag".into(),
            ),
        })?;
        // A full id needs neither the catalog nor its lock: open the manifest directly.
        if let (RefBase::Id(id), 0) = (&spec.base, spec.back) {
            if self.storage.size(&layout::manifest_key(id))?.is_some() {
                return Ok(Resolved { id: *id, seq: None });
            }
            return Err(Error::NotFound {
                what: format!("snapshot {id}"),
            });
        }
        let view = self.view()?;
        let (commit, _) = Self::resolve_in(&view, &spec, r)?;
        Ok(commit)
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
                    return Err(Error::InvalidInput {
                        path: None,
                        detail: format!("@{s} is a tag event, not a commit"),
                        hint: Some("`dstore log` shows which records are commits".into()),
                    });
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

    /// Size, rows and first commit of a segment some commit added (from the catalog).
    pub fn segment_info(&self, id: &dstore_format::SegmentId) -> Result<Option<(u64, u64, u64)>> {
        let view = self.view()?;
        if let Some(c) = &view.cat
            && let Some(info) = c.segment(id)?
        {
            return Ok(Some(info));
        }
        // Commits not indexed yet (a writer stopped between its record and its index update).
        for (rec, _) in &view.extra {
            let added = self.added_segments(rec, |s| view.record(s))?;
            if let Some(e) = added.iter().find(|e| e.id == *id) {
                return Ok(Some((e.bytes, e.rows, rec.seq)));
            }
        }
        Ok(None)
    }

    /// Log records, newest first.
    pub fn log(&self, limit: usize) -> Result<Vec<LogRecord>> {
        self.view()?.records_back(limit)
    }

    /// Every tag and its target, sorted by name.
    pub fn tags(&self) -> Result<Vec<(String, TagTarget)>> {
        self.view()?.tags()
    }

    /// Points tag `name` at the snapshot `target` resolves to. An existing tag is moved only
    /// with `force`; the move is a log record naming the previous target.
    pub fn set_tag(
        &self,
        name: &str,
        target: &str,
        force: bool,
        author: &str,
    ) -> Result<TagTarget> {
        validate_tag_name(name.as_bytes()).map_err(|e| Error::InvalidInput {
            path: None,
            detail: e.to_string(),
            hint: None,
        })?;
        let spec = RefSpec::parse(target).map_err(|e| Error::InvalidInput {
            path: None,
            detail: e.to_string(),
            hint: None,
        })?;
        self.append_tag_record(name, author, |view| {
            let (res, rec) = Self::resolve_in(view, &spec, target)?;
            let seq = rec
                .map(|r| r.seq)
                .or(res.seq)
                .ok_or_else(|| Error::NotFound {
                    what: format!("a commit of snapshot {}", res.id),
                })?;
            let new = TagTarget {
                snapshot: res.id,
                seq,
            };
            match view.tag(name)? {
                Some(old) if old == new => Ok(None),
                Some(old) if !force => Err(Error::TagExists {
                    name: name.to_owned(),
                    target: old.snapshot.to_hex(),
                }),
                prev => Ok(Some((Some(new), prev))),
            }
        })?
        .map_or_else(
            || {
                self.view()?.tag(name)?.ok_or_else(|| Error::NotFound {
                    what: format!("tag `{name}`"),
                })
            },
            |t| Ok(t.expect("a set writes a target")),
        )
    }

    /// Deletes a tag (recorded in the log).
    pub fn delete_tag(&self, name: &str, author: &str) -> Result<TagTarget> {
        let old = self.append_tag_record(name, author, |view| match view.tag(name)? {
            Some(old) => Ok(Some((None, Some(old)))),
            None => Err(Error::NotFound {
                what: format!("tag `{name}`"),
            }),
        })?;
        Ok(old.expect("deleted").expect("had a target"))
    }

    /// Appends a tag record computed by `decide` from the current view (`None` = nothing to
    /// do); retries on a lost race. Returns (new target) when a record was written.
    // `None` = nothing written; `Some(None)` = a record written that leaves no target.
    #[allow(clippy::option_option)]
    fn append_tag_record(
        &self,
        name: &str,
        author: &str,
        decide: impl Fn(&LogView<'_>) -> Result<Option<(Option<TagTarget>, Option<TagTarget>)>>,
    ) -> Result<Option<Option<TagTarget>>> {
        self.with_writer(|cat| {
            for _ in 0..crate::transaction::MAX_ATTEMPTS {
                let v = LogView::of_writer(cat);
                let Some((target, previous)) = decide(&v)? else {
                    return Ok(None);
                };
                let rec = v.next_record(
                    author,
                    "",
                    RecordKind::Tag {
                        name: name.to_owned(),
                        target,
                        previous,
                    },
                )?;
                if self.put_record(cat, &rec)? {
                    return Ok(Some(target.or(previous)));
                }
                self.catch_up(cat)?;
            }
            Err(Error::CommitConflict {
                attempts: crate::transaction::MAX_ATTEMPTS,
            })
        })
    }

    /// Writes a record put-if-absent and, when it lands, indexes it. `false` if another writer
    /// took the sequence number first.
    pub(crate) fn put_record(&self, cat: &Catalog, rec: &LogRecord) -> Result<bool> {
        let bytes = rec.encode();
        if !self.storage.put_if_absent(&record_key(rec.seq), &bytes)? {
            return Ok(false);
        }
        // The record is durable: the commit has happened. Indexing it is a cache update, so a
        // failure here must not report the commit as failed; the next reader or writer indexes
        // the record from the log (`view`, `catch_up`).
        let indexed = self
            .added_segments(rec, |s| cat.record(s))
            .and_then(|added| {
                cat.apply(&[IndexedRecord {
                    record: rec.clone(),
                    hash: RecordHash::of(&bytes),
                    bytes,
                    added,
                }])
            });
        if let Err(e) = indexed {
            tracing::warn!("record {} is committed but not indexed yet: {e}", rec.seq);
        }
        Ok(true)
    }
}

/// Names directly under a store's root that must be real files or directories. Paths inside
/// the store are built from ids, so the only way a store's metadata could send dstore outside
/// it is a symbolic link; links deeper down are refused by the storage layer on each access.
const NO_LINKS: [&str; 7] = [
    MARKER,
    LOG_DIR,
    layout::SEGMENTS_DIR,
    layout::MANIFESTS_DIR,
    layout::TMP_DIR,
    CATALOG_DIR,
    "catalog.lock",
];

fn check_no_links(root: &Path) -> Result<()> {
    for name in NO_LINKS {
        let p = root.join(name);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Corrupted {
                path: p,
                detail: "is a symbolic link; dstore never follows links inside a store (one \
                         could point outside it)"
                    .into(),
            });
        }
    }
    Ok(())
}
