//! The local state cache of folder ingests (docs/format.md §19.4): what a file's `stat` said
//! when it was last read, and its BLAKE3; and which segment each group of files became. It
//! lets a re-run over a folder where few files changed read only those: a group whose files
//! all stat as before, and whose segment the table holds, is kept without a byte of it read.
//!
//! The cache is a hint, never the truth: it lives beside the store's catalog, on this machine
//! (device and inode numbers mean nothing elsewhere), a missing or damaged one is ignored (every
//! file is read), and `--rehash` ignores it. A file modified (or whose status changed) within
//! two seconds of the walk is not recorded (its next change could keep the same time stamps:
//! git's "racily clean").

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use dstore_format::SegmentId;

use super::walk::FileStat;
use crate::error::Result;

const HEADER: &str = "dstore files state 1";
/// Directory of state caches under the store's root (or its local cache directory).
pub(crate) const STATE_DIR: &str = "cache/files";
/// Files modified this recently (before the walk) are not recorded.
const RACY_NS: i64 = 2_000_000_000;

/// One file as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Known {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    pub(crate) blake3: [u8; 32],
}

/// The cache of one (table, folder).
#[derive(Debug, Default)]
pub(crate) struct State {
    files: HashMap<String, Known>,
    groups: HashMap<[u8; 32], SegmentId>,
}

/// Where the cache of `table` ingested from `dir` lives.
pub(crate) fn path_for(root: &Path, table: &str, dir: &Path) -> PathBuf {
    let canon = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let mut h = blake3::Hasher::new();
    h.update(table.as_bytes());
    h.update(&[0]);
    h.update(canon.as_os_str().as_encoded_bytes());
    let hex = h.finalize().to_hex();
    root.join(STATE_DIR).join(format!("{}.state", &hex[..32]))
}

impl State {
    /// The cache at `path`; empty when there is none or it does not parse.
    pub(crate) fn load(path: &Path) -> State {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| Self::parse(&s))
            .unwrap_or_default()
    }

    fn parse(s: &str) -> Option<State> {
        let mut lines = s.split('\n');
        if lines.next()? != HEADER {
            return None;
        }
        let mut st = State::default();
        for line in lines.filter(|l| !l.is_empty()) {
            let (kind, rest) = line.split_once(' ')?;
            match kind {
                "f" => {
                    let mut p = rest.splitn(7, ' ');
                    let mut num = || p.next()?.parse::<u64>().ok();
                    let (dev, ino, size) = (num()?, num()?, num()?);
                    let mtime_ns = p.next()?.parse().ok()?;
                    let ctime_ns = p.next()?.parse().ok()?;
                    let blake3 = hex32(p.next()?)?;
                    let path = p.next()?.to_owned();
                    st.files.insert(
                        path,
                        Known {
                            dev,
                            ino,
                            size,
                            mtime_ns,
                            ctime_ns,
                            blake3,
                        },
                    );
                }
                "g" => {
                    let (key, seg) = rest.split_once(' ')?;
                    st.groups.insert(hex32(key)?, SegmentId::from_hex(seg)?);
                }
                _ => return None,
            }
        }
        Some(st)
    }

    /// The BLAKE3 of `f` when it stats exactly as it did when last read.
    pub(crate) fn blake3_of(&self, f: &FileStat) -> Option<[u8; 32]> {
        let k = self.files.get(&f.rel)?;
        (k.dev == f.dev
            && k.ino == f.ino
            && k.size == f.size
            && k.mtime_ns == f.mtime_ns
            && k.ctime_ns == f.ctime_ns)
            .then_some(k.blake3)
    }

    /// The segment a group with this key became.
    pub(crate) fn segment_of(&self, key: &[u8; 32]) -> Option<SegmentId> {
        self.groups.get(key).copied()
    }

    /// Records that `f` (stat taken at the walk, which began at `walk_ns`) hashed to `blake3`,
    /// unless it was modified or its status changed less than two seconds before the walk
    /// (setting a file's times moves its status-change time to now, so a file rewritten and
    /// given its old times back is not recorded until two seconds later).
    pub(crate) fn record_file(&mut self, f: &FileStat, blake3: [u8; 32], walk_ns: i64) {
        if f.mtime_ns.max(f.ctime_ns) > walk_ns.saturating_sub(RACY_NS) {
            self.files.remove(&f.rel);
            return;
        }
        self.files.insert(
            f.rel.clone(),
            Known {
                dev: f.dev,
                ino: f.ino,
                size: f.size,
                mtime_ns: f.mtime_ns,
                ctime_ns: f.ctime_ns,
                blake3,
            },
        );
    }

    /// Records that the group with `key` became `segment`.
    pub(crate) fn record_group(&mut self, key: [u8; 32], segment: SegmentId) {
        self.groups.insert(key, segment);
    }

    /// Keeps only the files and groups of the latest ingest.
    pub(crate) fn retain(&mut self, files: &[FileStat], groups: &[[u8; 32]]) {
        let live: std::collections::HashSet<&str> = files.iter().map(|f| f.rel.as_str()).collect();
        self.files.retain(|p, _| live.contains(p.as_str()));
        let keys: std::collections::HashSet<&[u8; 32]> = groups.iter().collect();
        self.groups.retain(|k, _| keys.contains(k));
    }

    /// Writes the cache to `path` durably (temp file, fsync, rename, fsync the directory).
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        use std::fmt::Write;
        let mut s = String::with_capacity(64 + self.files.len() * 200);
        s.push_str(HEADER);
        s.push('\n');
        let mut files: Vec<_> = self.files.iter().collect();
        files.sort_by(|a, b| a.0.cmp(b.0));
        for (p, k) in files {
            let _ = writeln!(
                s,
                "f {} {} {} {} {} {} {p}",
                k.dev,
                k.ino,
                k.size,
                k.mtime_ns,
                k.ctime_ns,
                hex(&k.blake3)
            );
        }
        let mut groups: Vec<_> = self.groups.iter().collect();
        groups.sort();
        for (key, seg) in groups {
            let _ = writeln!(s, "g {} {}", hex(key), seg.to_hex());
        }
        crate::storage::write_file_durably(path, s.as_bytes(), ".tmp-state-")
    }
}

fn hex(b: &[u8; 32]) -> String {
    hex::encode(b)
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    SegmentId::from_hex(s).map(|id| id.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(rel: &str, mtime_ns: i64) -> FileStat {
        FileStat {
            rel: rel.into(),
            abs: PathBuf::from(rel),
            size: 5,
            mtime_ns,
            ctime_ns: mtime_ns,
            dev: 1,
            ino: 2,
        }
    }

    #[test]
    fn round_trip_and_racy_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.state");
        let mut st = State::default();
        let old = stat("a b/c.jpg", 1_000_000_000_000);
        let racy = stat("new.txt", 99_999_000_000_000); // a second before the walk
        st.record_file(&old, [7; 32], 100_000_000_000_000);
        st.record_file(&racy, [8; 32], 100_000_000_000_000);
        st.record_group([9; 32], SegmentId([3; 32]));
        st.save(&p).unwrap();
        let back = State::load(&p);
        assert_eq!(back.blake3_of(&old), Some([7; 32]));
        assert_eq!(back.blake3_of(&racy), None);
        assert_eq!(back.segment_of(&[9; 32]), Some(SegmentId([3; 32])));
        let mut moved = old.clone();
        moved.mtime_ns += 1;
        assert_eq!(back.blake3_of(&moved), None);
        // Damage: ignored, not an error.
        std::fs::write(&p, "dstore files state 1\nf 1 2 x\n").unwrap();
        assert_eq!(State::load(&p).blake3_of(&old), None);
    }
}
