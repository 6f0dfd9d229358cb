//! Walking a folder for a files table: every regular file under it, by path, with what `stat`
//! says of it. Links, sockets, devices and names a files table cannot hold are refused with
//! the path named; directories are implied by the files' paths (an empty one is not kept).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One file found under the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStat {
    /// Path relative to the folder, `/`-separated.
    pub(crate) rel: String,
    /// Where it is.
    pub(crate) abs: PathBuf,
    pub(crate) size: u64,
    /// Modification and status-change times, nanoseconds since the epoch; device and inode:
    /// what the state cache compares (`state.rs`).
    pub(crate) mtime_ns: i64,
    pub(crate) ctime_ns: i64,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

/// Every regular file under `root`, sorted by `rel` (byte order of the UTF-8 path). `exclude`
/// is a directory that must not be inside the folder (the store itself).
pub(crate) fn walk(root: &Path, exclude: Option<&Path>) -> Result<Vec<FileStat>> {
    let meta = std::fs::metadata(root).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::input(root, "no such directory").with_hint("check the path")
        } else {
            Error::io("read", root)(e)
        }
    })?;
    if !meta.is_dir() {
        return Err(Error::input(
            root,
            "is not a directory: a files table is made from a folder",
        )
        .with_hint("name the folder that holds the files"));
    }
    let exclude = exclude.and_then(|p| std::fs::canonicalize(p).ok());
    let mut out = Vec::new();
    walk_dir(root, "", exclude.as_deref(), &mut out)?;
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn walk_dir(
    dir: &Path,
    prefix: &str,
    exclude: Option<&Path>,
    out: &mut Vec<FileStat>,
) -> Result<()> {
    if let Some(ex) = exclude
        && std::fs::canonicalize(dir).is_ok_and(|d| d == ex)
    {
        return Err(
            Error::input(dir, "is the store itself, inside the folder being ingested")
                .with_hint("keep the store outside the folder"),
        );
    }
    let entries = std::fs::read_dir(dir)
        .map_err(Error::io("list", dir))?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(Error::io("list", dir))?;
    for e in entries {
        let path = e.path();
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            return Err(Error::input(
                &path,
                "the name is not valid UTF-8; a files table holds UTF-8 paths",
            )
            .with_hint("rename the file"));
        };
        let rel = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        if let Err(why) = super::valid_path(&rel) {
            return Err(
                Error::input(&path, format!("cannot be held in a files table: {why}"))
                    .with_hint("rename the file"),
            );
        }
        let m = std::fs::symlink_metadata(&path).map_err(Error::io("stat", &path))?;
        let ft = m.file_type();
        if ft.is_dir() {
            walk_dir(&path, &rel, exclude, out)?;
        } else if ft.is_file() {
            out.push(FileStat {
                rel,
                abs: path,
                size: m.len(),
                mtime_ns: m
                    .mtime()
                    .saturating_mul(1_000_000_000)
                    .saturating_add(m.mtime_nsec()),
                ctime_ns: m
                    .ctime()
                    .saturating_mul(1_000_000_000)
                    .saturating_add(m.ctime_nsec()),
                dev: m.dev(),
                ino: m.ino(),
            });
        } else if ft.is_symlink() {
            return Err(Error::input(
                &path,
                "is a symbolic link; a files table holds regular files only",
            )
            .with_hint("replace the link by a copy of its target (`cp -L`), or remove it"));
        } else {
            return Err(Error::input(
                &path,
                "is not a regular file (a socket, pipe or device); a files table holds regular files only",
            )
            .with_hint("move it out of the folder"));
        }
    }
    Ok(())
}
