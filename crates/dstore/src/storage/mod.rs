//! The storage layer: every byte a store reads or writes goes through [`Storage`].
//!
//! Keys are `/`-separated relative paths (see `layout.rs`). The trait has the shape of
//! an object store — put, put-if-absent, ranged get, list, delete — and names no backend, so
//! the engine never depends on one. This file owns the trait, the types it passes, the request
//! counters and the local-file helpers; the backends live beside it: [`LocalStorage`]
//! (`local.rs`), [`ObjectStorage`] (`object.rs`), and `url.rs` for store URLs,
//! [`RemoteOptions`] and the cache directories of remote stores.
//!
//! **Permissions.** New files get 0664 and new directories 0775, less the umask: the umask is
//! respected, and nothing in a store is ever world-writable, even under umask 000. Segments
//! are read-only (0444 less the umask).

use std::fs::{self, File};
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::error::{Error, Result};

mod local;
mod object;
pub(crate) mod url;

pub use local::LocalStorage;
pub use object::{MULTIPART_THRESHOLD, ObjectStorage};
pub(crate) use url::StoreUrl;
pub use url::{RemoteOptions, cache_dir_for, is_url};

/// What `list` returns for each object.
#[derive(Debug, Clone)]
pub struct ObjectMeta {
    /// The object's key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Last modification time.
    pub modified: SystemTime,
}

/// A file being written before it gets its final key: stream into [`StagedFile::file`], then
/// hand it to [`Storage::put_staged`].
#[derive(Debug)]
pub struct StagedFile {
    inner: tempfile::NamedTempFile,
}

impl StagedFile {
    /// The open file.
    pub fn file(&mut self) -> &mut File {
        self.inner.as_file_mut()
    }
    /// Its path on the local disk.
    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    /// A new staged file in the local directory `dir` (which must exist), locked until it is
    /// placed or dropped.
    pub(crate) fn new_in(dir: &Path) -> Result<StagedFile> {
        let inner = tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(default_permissions())
            .tempfile_in(dir)
            .map_err(Error::io("create a temporary file in", dir))?;
        inner
            .as_file()
            .lock()
            .map_err(Error::io("lock", inner.path().to_owned()))?;
        Ok(StagedFile { inner })
    }
}

/// How a local file is brought into the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    /// Copy the bytes.
    Copy,
    /// Hard-link when on the same filesystem, copy otherwise.
    HardlinkOrCopy,
}

/// An object's size and, where [`Storage::sizes_and_times`] gives one, its time.
pub type SizeAndTime = (u64, Option<SystemTime>);

/// All store I/O.
///
/// `Any` is a supertrait so that a caller holding a `&dyn Storage` can reach a backend's own
/// methods (test hooks, say) by upcasting to `&dyn Any` and downcasting to the backend's type;
/// the trait itself never names a backend.
pub trait Storage: std::any::Any + Send + Sync + std::fmt::Debug {
    /// Where `key` lives, for messages (a path or a URL).
    fn describe(&self, key: &str) -> PathBuf;
    /// The whole object, or `None` if it does not exist.
    fn get_opt(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// The whole object; a missing object is an error naming it.
    fn get(&self, key: &str) -> Result<Vec<u8>> {
        self.get_opt(key)?.ok_or_else(|| Error::Io {
            op: "read",
            path: self.describe(key),
            source: std::io::ErrorKind::NotFound.into(),
        })
    }
    /// Bytes `range` of the object.
    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>>;
    /// Size of the object, or `None` if it does not exist.
    fn size(&self, key: &str) -> Result<Option<u64>>;
    /// Writes a content-addressed object durably. An object already under `key` holds the same
    /// bytes by construction, so it is left as it is.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()>;
    /// Writes `bytes` under `key` only if nothing is there; `Ok(false)` if something is.
    /// Of two concurrent callers exactly one gets `Ok(true)`.
    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool>;
    /// A new staged file to stream a large object into.
    fn stage(&self) -> Result<StagedFile>;
    /// Makes the bytes written to a staged file durable (`fsync`), before it is placed. A
    /// commit calls it outside the catalog lock, where the slow part of a large write belongs.
    fn sync_staged(&self, staged: &mut StagedFile) -> Result<()> {
        let path = staged.path().to_owned();
        staged.file().sync_data().map_err(Error::io("sync", path))
    }
    /// Moves a staged file to `key` durably (content-addressed: an existing object wins).
    /// `read_only` drops write permission, for segments.
    fn put_staged(&self, staged: StagedFile, key: &str, read_only: bool) -> Result<()>;
    /// [`Storage::put_staged`] for an object no commit references yet: where the backend
    /// keeps the existing object instead of writing it again, it also makes sure that object is
    /// young enough to survive a concurrent `gc` (whose grace period counts from the object's
    /// time). Locally `put_staged` already refreshes the time.
    fn put_staged_unreferenced(
        &self,
        staged: StagedFile,
        key: &str,
        read_only: bool,
    ) -> Result<()> {
        self.put_staged(staged, key, read_only)
    }
    /// Objects whose keys start with `prefix` (a directory prefix ending in `/`), recursively.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>>;
    /// Removes an object; a missing one is not an error.
    fn delete(&self, key: &str) -> Result<()>;
    /// Several whole objects (`None` for a missing one), in the order of `keys`; fetched
    /// concurrently where the backend gains from it (object storage).
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|k| self.get_opt(k)).collect()
    }
    /// The sizes of several objects (`None` for a missing one), in the order of `keys`, with
    /// their times where a `gc` run could count its grace period from a time this client
    /// cannot refresh under its own lock (object storage: another machine's gc does not take
    /// this client's lock); `None` for a local store. Asked concurrently where the backend
    /// gains from it.
    fn sizes_and_times(&self, keys: &[String]) -> Result<Vec<Option<SizeAndTime>>> {
        keys.iter()
            .map(|k| Ok(self.size(k)?.map(|n| (n, None))))
            .collect()
    }
    /// Byte ranges of several objects, in the order of `ranges`; fetched concurrently where the
    /// backend gains from it (object storage).
    fn get_ranges(&self, ranges: &[(String, Range<u64>)]) -> Result<Vec<Vec<u8>>> {
        ranges
            .iter()
            .map(|(k, r)| self.get_range(k, r.clone()))
            .collect()
    }
    /// Keys under `prefix` that sort after `after`, in order, when the backend lists more
    /// cheaply than it probes key by key (object storage: one request); `None` otherwise.
    fn list_after(&self, _prefix: &str, _after: &str) -> Result<Option<Vec<String>>> {
        Ok(None)
    }
    /// The object's path on the local disk, when the backend is local.
    fn local_path(&self, key: &str) -> Option<PathBuf>;
    /// Whether a staged file is still being written by some process (and must not be swept).
    fn staged_in_use(&self, key: &str) -> Result<bool>;
    /// The whole object as a stream, front to back (for hashing or copying large objects).
    fn open_read(&self, key: &str) -> Result<Box<dyn Read + Send + '_>>;
    /// The store's URL when it is not a local directory.
    fn url(&self) -> Option<String> {
        None
    }
    /// Fails when this client must not write to the store (object storage that does not
    /// honour put-if-absent). Called before a write starts.
    fn check_writable(&self) -> Result<()> {
        Ok(())
    }
    /// Requests made so far, for a backend that counts them (object storage).
    fn request_counts(&self) -> Option<&RequestCounts> {
        None
    }
}

/// Request counters of a backend that counts them (object storage), for benchmarks and the
/// scan's report.
#[derive(Debug, Default)]
pub struct RequestCounts {
    /// GET requests, whole or ranged.
    pub gets: AtomicU64,
    /// HEAD requests.
    pub heads: AtomicU64,
    /// PUT requests (single puts and multipart parts, creates included).
    pub puts: AtomicU64,
    /// LIST requests (pages).
    pub lists: AtomicU64,
    /// DELETE requests.
    pub deletes: AtomicU64,
    /// Bytes received by GETs.
    pub bytes_in: AtomicU64,
    /// Bytes sent by PUTs.
    pub bytes_out: AtomicU64,
}

impl RequestCounts {
    /// The total number of requests.
    pub fn total(&self) -> u64 {
        [
            &self.gets,
            &self.heads,
            &self.puts,
            &self.lists,
            &self.deletes,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

/// Creates one directory: 0775 less the umask, never world-writable.
pub(crate) fn create_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new().mode(0o775).create(dir)
    }
    #[cfg(not(unix))]
    {
        fs::create_dir(dir)
    }
}

/// Creates `dir` and its missing parents with [`create_dir`]'s permissions.
pub(crate) fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all(parent)?;
    }
    match create_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        other => other,
    }
}

#[cfg(unix)]
pub(crate) fn default_permissions() -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    // Like any new file, 0666 less the user's umask (tempfile's default would be 0600), but
    // never world-writable: the open(2) mode is 0664, and the umask applies on top.
    fs::Permissions::from_mode(0o664)
}

#[cfg(not(unix))]
pub(crate) fn default_permissions() -> fs::Permissions {
    fs::metadata(".")
        .map(|m| m.permissions())
        .expect("cwd metadata")
}

/// Makes a directory's entries durable (the rename or link just done in it).
/// Writes a file outside the store atomically and durably: a temporary file (named with
/// `prefix`) in the same directory, fsync, rename, fsync the directory; the directory is
/// created if needed.
pub(crate) fn write_file_durably(path: &Path, bytes: &[u8], prefix: &str) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(prefix)
        .permissions(default_permissions())
        .tempfile_in(dir)
        .map_err(Error::io("create a temporary file in", dir))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(Error::io("write", path))?;
    tmp.persist(path)
        .map_err(|e| Error::io("rename into", path)(e.error))?;
    sync_dir(dir)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::io("sync directory", dir))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
