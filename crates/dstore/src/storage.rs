//! The storage layer: every byte a store reads or writes goes through [`Storage`].
//!
//! Keys are `/`-separated relative paths (see [`crate::layout`]). The trait has the shape of
//! an object store — put, put-if-absent, ranged get, list, delete — so an S3 backend can be
//! added without touching the engine; [`LocalStorage`] is the only implementation today.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::layout::TMP_DIR;

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
}

/// How a local file is brought into the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    /// Copy the bytes.
    Copy,
    /// Hard-link when on the same filesystem, copy otherwise.
    HardlinkOrCopy,
}

/// All store I/O.
pub trait Storage: Send + Sync + std::fmt::Debug {
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
    /// Moves a staged file to `key` durably (content-addressed: an existing object wins).
    /// `read_only` drops write permission, for segments.
    fn put_staged(&self, staged: StagedFile, key: &str, read_only: bool) -> Result<()>;
    /// Objects whose keys start with `prefix` (a directory prefix ending in `/`), recursively.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>>;
    /// Removes an object; a missing one is not an error.
    fn delete(&self, key: &str) -> Result<()>;
    /// The object's path on the local disk, when the backend is local.
    fn local_path(&self, key: &str) -> Option<PathBuf>;
    /// Whether a staged file is still being written by some process (and must not be swept).
    fn staged_in_use(&self, key: &str) -> Result<bool>;
}

/// A store in a local directory.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Storage rooted at `root` (which must exist).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    fn path(&self, key: &str) -> PathBuf {
        debug_assert!(
            !key.starts_with('/') && !key.contains(".."),
            "bad key {key}"
        );
        self.root.join(key)
    }

    /// Creates `dir` and its missing parents, syncing each parent whose entries changed so the
    /// new directories survive a crash.
    fn ensure_dir(dir: &Path) -> Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            Self::ensure_dir(parent)?;
        }
        match fs::create_dir(dir) {
            Ok(()) => sync_dir(dir.parent().unwrap_or(dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::io("create directory", dir)(e)),
        }
    }

    fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
        Self::ensure_dir(dir)?;
        tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(default_permissions())
            .tempfile_in(dir)
            .map_err(Error::io("create a temporary file in", dir))
    }
}

#[cfg(unix)]
pub(crate) fn default_permissions() -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    // Like any new file: 0666 less the user's umask (tempfile's default would be 0600).
    fs::Permissions::from_mode(0o666)
}

#[cfg(not(unix))]
pub(crate) fn default_permissions() -> fs::Permissions {
    fs::metadata(".")
        .map(|m| m.permissions())
        .expect("cwd metadata")
}

/// Makes a directory's entries durable (the rename or link just done in it).
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

fn make_read_only(path: &Path) -> Result<()> {
    let mut perm = fs::metadata(path)
        .map_err(Error::io("read metadata of", path))?
        .permissions();
    perm.set_readonly(true);
    fs::set_permissions(path, perm).map_err(Error::io("set permissions of", path))
}

impl Storage for LocalStorage {
    fn describe(&self, key: &str) -> PathBuf {
        self.path(key)
    }

    fn get_opt(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let p = self.path(key);
        match fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", p)(e)),
        }
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let p = self.path(key);
        let mut f = File::open(&p).map_err(Error::io("open", &p))?;
        f.seek(SeekFrom::Start(range.start))
            .map_err(Error::io("seek in", &p))?;
        let mut buf = vec![0; (range.end - range.start) as usize];
        f.read_exact(&mut buf).map_err(Error::io("read", &p))?;
        Ok(buf)
    }

    fn size(&self, key: &str) -> Result<Option<u64>> {
        let p = self.path(key);
        match fs::metadata(&p) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read metadata of", p)(e)),
        }
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let target = self.path(key);
        if target.exists() {
            return Ok(());
        }
        let dir = target.parent().expect("keys have a directory");
        let mut tmp = Self::temp_in(dir)?;
        // Crash safety: the bytes are synced before the rename makes them visible under their
        // name, and the directory is synced after, so the name never points at partial data.
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_data())
            .map_err(Error::io("write", tmp.path()))?;
        tmp.persist(&target)
            .map_err(|e| Error::io("rename into", &target)(e.error))?;
        sync_dir(dir)
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        let target = self.path(key);
        let dir = target.parent().expect("keys have a directory");
        let mut tmp = Self::temp_in(dir)?;
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_data())
            .map_err(Error::io("write", tmp.path()))?;
        // link(2) fails with EEXIST when the name is taken: an atomic put-if-absent on every
        // POSIX filesystem, where rename(2) would silently replace the other writer's record.
        let created = match fs::hard_link(tmp.path(), &target) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(Error::io("create", &target)(e)),
        };
        drop(tmp); // removes the temporary name
        if created {
            sync_dir(dir)?;
        }
        Ok(created)
    }

    fn stage(&self) -> Result<StagedFile> {
        let inner = Self::temp_in(&self.root.join(TMP_DIR))?;
        // Held until the staged file is placed or dropped: `gc` skips staged files it cannot
        // lock, so a long ingest's work in progress is never swept.
        inner
            .as_file()
            .lock()
            .map_err(Error::io("lock", inner.path().to_owned()))?;
        Ok(StagedFile { inner })
    }

    fn put_staged(&self, mut staged: StagedFile, key: &str, read_only: bool) -> Result<()> {
        let target = self.path(key);
        let dir = target.parent().expect("keys have a directory");
        if target.exists() {
            // Same name, same bytes: keep the existing object, drop the staged copy. Refresh
            // its time so a gc grace period counts from this reuse, not from its first write.
            let _ = File::open(&target).and_then(|f| f.set_modified(SystemTime::now()));
            return Ok(());
        }
        staged
            .file()
            .sync_data()
            .map_err(Error::io("sync", staged.path().to_owned()))?;
        if read_only {
            make_read_only(staged.path())?;
        }
        Self::ensure_dir(dir)?;
        // tmp/ is on the same filesystem as the final directory, so the rename is atomic; the
        // final directory is not known until the content hash is.
        staged
            .inner
            .persist(&target)
            .map_err(|e| Error::io("rename into", &target)(e.error))?;
        sync_dir(dir)
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let mut out = Vec::new();
        let base = self.path(prefix.trim_end_matches('/'));
        if !base.exists() {
            return Ok(out);
        }
        let mut stack = vec![base];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).map_err(Error::io("list", &dir))? {
                let entry = entry.map_err(Error::io("list", &dir))?;
                let ft = entry.file_type().map_err(Error::io("stat", entry.path()))?;
                if ft.is_dir() {
                    stack.push(entry.path());
                } else if ft.is_file() {
                    let meta = entry.metadata().map_err(Error::io("stat", entry.path()))?;
                    let rel = entry
                        .path()
                        .strip_prefix(&self.root)
                        .expect("listed under root")
                        .to_string_lossy()
                        .replace('\\', "/");
                    out.push(ObjectMeta {
                        key: rel,
                        size: meta.len(),
                        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let p = self.path(key);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("delete", p)(e)),
        }
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        Some(self.path(key))
    }

    fn staged_in_use(&self, key: &str) -> Result<bool> {
        let p = self.path(key);
        let f = match File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io("open", p)(e)),
        };
        match f.try_lock() {
            Ok(()) => Ok(false),
            Err(std::fs::TryLockError::WouldBlock) => Ok(true),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", p)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_if_absent_has_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStorage::new(dir.path());
        assert!(s.put_if_absent("log/1.rec", b"a").unwrap());
        assert!(!s.put_if_absent("log/1.rec", b"b").unwrap());
        assert_eq!(s.get("log/1.rec").unwrap(), b"a");
        // No temporary files are left behind.
        assert_eq!(s.list("log/").unwrap().len(), 1);
    }

    #[test]
    fn concurrent_put_if_absent_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStorage::new(dir.path());
        let wins: usize = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..8u8)
                .map(|i| {
                    let s = &s;
                    sc.spawn(move || usize::from(s.put_if_absent("log/x.rec", &[i]).unwrap()))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1);
    }

    #[test]
    fn ranged_get_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStorage::new(dir.path());
        s.put("manifests/ab/x.manifest", b"0123456789").unwrap();
        assert_eq!(
            s.get_range("manifests/ab/x.manifest", 2..5).unwrap(),
            b"234"
        );
        let keys: Vec<_> = s
            .list("manifests/")
            .unwrap()
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(keys, ["manifests/ab/x.manifest"]);
        assert!(s.get_opt("nope/x").unwrap().is_none());
    }
}
