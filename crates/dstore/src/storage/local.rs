//! [`LocalStorage`]: a store in a local directory, and the durability protocol every local
//! write follows (temporary file, fsync, rename or link, fsync of the directory), with hooks
//! for fault injection.
//!
//! **Links.** A store never follows a symbolic link inside itself: a segment, manifest, record
//! or directory under the root that is a link (which could point anywhere) is refused as
//! corruption naming the link. The root itself may be a link.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::{ObjectMeta, StagedFile, Storage, create_dir, default_permissions, sync_dir};
use crate::error::{Error, Result};
use crate::layout::TMP_DIR;

type IoHook = Arc<dyn Fn(&'static str, &Path) -> std::io::Result<()> + Send + Sync>;

/// A store in a local directory.
#[derive(Clone)]
pub struct LocalStorage {
    root: PathBuf,
    hook: Option<IoHook>,
}

impl std::fmt::Debug for LocalStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStorage")
            .field("root", &self.root)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

impl LocalStorage {
    /// Storage rooted at `root` (which must exist).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            hook: None,
        }
    }

    /// Storage rooted at `root` that calls `hook` before each step of its write protocol, with
    /// the step's name and the path it applies to; an error fails that step as if the
    /// operating system had returned it. For fault-injection tests. The steps:
    ///
    /// | name | step |
    /// | --- | --- |
    /// | `create_dir` | creating a directory (its parent is synced afterwards) |
    /// | `create_temp` | creating a temporary file |
    /// | `write` | writing an object's bytes to its temporary file |
    /// | `sync_file` | `fsync` of a file's data (temporary or staged) |
    /// | `set_permissions` | making a staged segment read-only |
    /// | `rename` | `rename(2)` of a temporary or staged file onto its final name |
    /// | `link` | `link(2)` of a temporary file to its final name (put-if-absent) |
    /// | `sync_dir` | `fsync` of a directory, making a rename, link or new entry durable |
    /// | `delete` | removing an object |
    pub fn with_hook(
        root: impl Into<PathBuf>,
        hook: impl Fn(&'static str, &Path) -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Self {
        Self {
            root: root.into(),
            hook: Some(Arc::new(hook)),
        }
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

    /// The path of `key`, refusing it if the key or any directory between it and the root is a
    /// symbolic link: paths are built from ids, but a link placed in the store could send a
    /// read, a write or a delete anywhere. Components that do not exist yet are fine.
    fn checked(&self, key: &str) -> Result<PathBuf> {
        let mut p = self.root.clone();
        for part in key.split('/').filter(|c| !c.is_empty()) {
            p.push(part);
            match fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => return Err(symlink_error(p)),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => break,
                Err(e) => return Err(Error::io("read metadata of", p)(e)),
            }
        }
        Ok(self.path(key))
    }

    fn step(&self, step: &'static str, path: &Path) -> std::io::Result<()> {
        match &self.hook {
            Some(h) => h(step, path),
            None => Ok(()),
        }
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.step("sync_dir", dir)
            .map_err(Error::io("sync directory", dir))?;
        sync_dir(dir)
    }

    /// Creates `dir` and its missing parents, syncing each parent whose entries changed so the
    /// new directories survive a crash.
    fn ensure_dir(&self, dir: &Path) -> Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            self.ensure_dir(parent)?;
        }
        self.step("create_dir", dir)
            .map_err(Error::io("create directory", dir))?;
        match create_dir(dir) {
            Ok(()) => self.sync_dir(dir.parent().unwrap_or(dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::io("create directory", dir)(e)),
        }
    }

    fn temp_in(&self, dir: &Path) -> Result<tempfile::NamedTempFile> {
        self.ensure_dir(dir)?;
        self.step("create_temp", dir)
            .map_err(Error::io("create a temporary file in", dir))?;
        tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(default_permissions())
            .tempfile_in(dir)
            .map_err(Error::io("create a temporary file in", dir))
    }

    /// Writes `bytes` to a new temporary file in `dir` and syncs it.
    fn write_temp(&self, dir: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
        let mut tmp = self.temp_in(dir)?;
        self.step("write", tmp.path())
            .and_then(|()| tmp.write_all(bytes))
            .and_then(|()| self.step("sync_file", tmp.path()))
            .and_then(|()| tmp.as_file().sync_data())
            .map_err(Error::io("write", tmp.path()))?;
        Ok(tmp)
    }
}

fn symlink_error(path: PathBuf) -> Error {
    Error::Corrupted {
        path,
        detail: "is a symbolic link; dstore never follows links inside a store (one could \
                 point outside it)"
            .into(),
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
        let p = self.checked(key)?;
        match fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", p)(e)),
        }
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let p = self.checked(key)?;
        let mut f = File::open(&p).map_err(Error::io("open", &p))?;
        f.seek(SeekFrom::Start(range.start))
            .map_err(Error::io("seek in", &p))?;
        let mut buf = vec![0; (range.end - range.start) as usize];
        f.read_exact(&mut buf).map_err(Error::io("read", &p))?;
        Ok(buf)
    }

    fn size(&self, key: &str) -> Result<Option<u64>> {
        let p = self.checked(key)?;
        match fs::metadata(&p) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read metadata of", p)(e)),
        }
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let target = self.checked(key)?;
        let dir = target.parent().expect("keys have a directory");
        if target.exists() {
            // Same name, same bytes. Sync the directory anyway: the object may be the leftover
            // of an earlier attempt whose directory sync failed, and a record is about to name
            // it.
            return self.sync_dir(dir);
        }
        // Crash safety: the bytes are synced before the rename makes them visible under their
        // name, and the directory is synced after, so the name never points at partial data.
        let tmp = self.write_temp(dir, bytes)?;
        self.step("rename", &target)
            .map_err(Error::io("rename into", &target))?;
        tmp.persist(&target)
            .map_err(|e| Error::io("rename into", &target)(e.error))?;
        self.sync_dir(dir)
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        let target = self.checked(key)?;
        let dir = target.parent().expect("keys have a directory");
        let tmp = self.write_temp(dir, bytes)?;
        // link(2) fails with EEXIST when the name is taken: an atomic put-if-absent on every
        // POSIX filesystem, where rename(2) would silently replace the other writer's record.
        let created = match self
            .step("link", &target)
            .and_then(|()| fs::hard_link(tmp.path(), &target))
        {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(Error::io("create", &target)(e)),
        };
        drop(tmp); // removes the temporary name
        if created {
            self.sync_dir(dir)?;
        }
        Ok(created)
    }

    fn stage(&self) -> Result<StagedFile> {
        let dir = self.checked(TMP_DIR)?;
        let inner = self.temp_in(&dir)?;
        // Held until the staged file is placed or dropped: `gc` skips staged files it cannot
        // lock, so a long ingest's work in progress is never swept.
        inner
            .as_file()
            .lock()
            .map_err(Error::io("lock", inner.path().to_owned()))?;
        Ok(StagedFile { inner })
    }

    fn sync_staged(&self, staged: &mut StagedFile) -> Result<()> {
        let path = staged.path().to_owned();
        self.step("sync_file", &path)
            .and_then(|()| staged.file().sync_data())
            .map_err(Error::io("sync", path))
    }

    fn put_staged(&self, mut staged: StagedFile, key: &str, read_only: bool) -> Result<()> {
        let target = self.checked(key)?;
        let dir = target.parent().expect("keys have a directory");
        if target.exists() {
            // Same name, same bytes: keep the existing object, drop the staged copy. Refresh
            // its time so a gc grace period counts from this reuse, not from its first write,
            // and sync its directory (it may be left from an attempt whose sync failed).
            let _ = File::open(&target).and_then(|f| f.set_modified(SystemTime::now()));
            return self.sync_dir(dir);
        }
        self.sync_staged(&mut staged)?;
        if read_only {
            self.step("set_permissions", staged.path())
                .map_err(Error::io("set permissions of", staged.path().to_owned()))?;
            make_read_only(staged.path())?;
        }
        self.ensure_dir(dir)?;
        // tmp/ is on the same filesystem as the final directory, so the rename is atomic; the
        // final directory is not known until the content hash is.
        self.step("rename", &target)
            .map_err(Error::io("rename into", &target))?;
        staged
            .inner
            .persist(&target)
            .map_err(|e| Error::io("rename into", &target)(e.error))?;
        self.sync_dir(dir)
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let mut out = Vec::new();
        let base = self.checked(prefix.trim_end_matches('/'))?;
        if !base.exists() {
            return Ok(out);
        }
        let mut stack = vec![base];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).map_err(Error::io("list", &dir))? {
                let entry = entry.map_err(Error::io("list", &dir))?;
                // The entry's own type: a symbolic link is neither a directory to descend into
                // nor an object, so links are never listed (and never swept through).
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
        let p = self.checked(key)?;
        self.step("delete", &p).map_err(Error::io("delete", &p))?;
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("delete", p)(e)),
        }
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        Some(self.path(key))
    }

    fn open_read(&self, key: &str) -> Result<Box<dyn Read + Send + '_>> {
        let p = self.checked(key)?;
        let f = File::open(&p).map_err(Error::io("open", &p))?;
        Ok(Box::new(f))
    }

    fn staged_in_use(&self, key: &str) -> Result<bool> {
        let p = self.checked(key)?;
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
