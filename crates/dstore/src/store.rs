//! [`Store`], the handle: opening, creating and discovering a store, and forwarding to the
//! rooms that hold the logic — `catalog` (the log and its index), `objects` (verified reads by
//! id), `resolve` (refs), `tags`, `transaction` (writes), `snapshot`, `scan`, `checkout`,
//! `verify`, `gc`, `transfer`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dstore_format::{LogRecord, SegmentId, marker};

use crate::catalog::{IndexedLog, LOCK_FILE, LogView};
use crate::error::{Error, Result};
use crate::layout::{self, CATALOG_DIR, LOG_DIR, MARKER};
use crate::objects::Objects;
use crate::storage::{LocalStorage, ObjectStorage, RemoteOptions, Storage};

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
    objects: Objects,
    /// Shared by clones, so they share the kept reader catalog.
    index: Arc<IndexedLog>,
}

impl Store {
    fn new(root: PathBuf, url: Option<String>, storage: Arc<dyn Storage>) -> Store {
        Store {
            objects: Objects::new(storage.clone()),
            index: Arc::new(IndexedLog::new(root.clone(), storage.clone())),
            root,
            url,
            storage,
        }
    }

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
    /// local cache under [`crate::storage::cache_dir_for`].
    pub fn open_url(url: &str, opts: &RemoteOptions) -> Result<Store> {
        let (url, storage) = Self::remote_storage(url, opts)?;
        let cache = storage.cache_dir().to_owned();
        let storage: Arc<dyn Storage> = Arc::new(storage);
        let bytes = storage.get_opt(MARKER)?.ok_or_else(|| Error::NotAStore {
            path: PathBuf::from(&url),
        })?;
        marker::decode_marker(&bytes).map_err(|e| Error::format(storage.describe(MARKER), e))?;
        Ok(Store::new(cache, Some(url), storage))
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
        Ok(Store::new(root, storage.url(), storage))
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
                    return Err(Error::SeveralStores {
                        dir: d.to_owned(),
                        stores: found,
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

    /// Log records, newest first.
    pub fn log(&self, limit: usize) -> Result<Vec<LogRecord>> {
        self.view()?.records_back(limit)
    }

    /// Size, rows and first commit of a segment some commit added (from the catalog).
    pub fn segment_info(&self, id: &SegmentId) -> Result<Option<(u64, u64, u64)>> {
        self.index.segment_info(id)
    }

    /// Rebuilds the catalog from the log (`dstore reindex`). Returns the records indexed.
    pub fn reindex(&self) -> Result<u64> {
        self.index.reindex()
    }

    /// The objects of the store, read by id and verified.
    pub(crate) fn objects(&self) -> &Objects {
        &self.objects
    }

    /// The log with its catalog: read views and writer sessions.
    pub(crate) fn index(&self) -> &IndexedLog {
        &self.index
    }

    /// A read view of the log (see [`IndexedLog::view`]).
    pub(crate) fn view(&self) -> Result<LogView<'static>> {
        self.index.view()
    }
}

/// Names directly under a store's root that must be real files or directories. Paths inside
/// the store are built from ids, so the only way a store's metadata could send dstore outside
/// it is a symbolic link; links deeper down are refused by the storage layer on each access.
const NO_LINKS: [&str; 8] = [
    MARKER,
    LOG_DIR,
    layout::SEGMENTS_DIR,
    layout::MANIFESTS_DIR,
    layout::DERIVED_DIR,
    layout::TMP_DIR,
    CATALOG_DIR,
    LOCK_FILE,
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
