//! [`Catalog`]: the RocksDB index derived entirely from the log.
//!
//! It answers, in O(log n) each, the questions commands ask: which record has sequence `s`,
//! where a tag points, which snapshots start with an id prefix, which commit was HEAD at a
//! time, which commit is HEAD. Deleting it loses nothing; [`super::IndexedLog`] rebuilds it
//! from the log. Readers open it read-only (no lock); a writer opens it writable only around a commit.
//!
//! Keys (informative, not part of the on-disk contract):
//! ```text
//! m/last_seq                 -> u64 BE          last record indexed
//! m/last_hash                -> [32]            its record hash
//! m/head                     -> u64 BE          latest commit record
//! r/<seq u64 BE>             -> record bytes
//! i/<snapshot id><seq BE>    -> ()              commits that made a snapshot
//! t/<tag>                    -> id[32] seq BE   tag targets
//! u/<snapshot id><tag>       -> ()              tags of a snapshot
//! T/<time i64 BE, sign flipped><seq BE> -> ()   commits by time
//! g/<segment id>             -> bytes BE, rows BE, first seq BE
//! c/<ordinal u64 BE>         -> seq BE          the ordinal-th commit (from 1)
//! C/<seq u64 BE>             -> ordinal BE      a commit's ordinal
//! m/commits                  -> u64 BE          commits indexed
//! m/version                  -> u32 BE          the key layout's version (CATALOG_VERSION)
//! m/ordinals_through         -> u64 BE          last record the ordinals cover (= last_seq)
//! ```
//!
//! A commit's parent is always the commit before it (docs/format.md §9), so `X~N` is the commit
//! whose ordinal is N less than X's: one lookup whatever N is. A catalog of an older layout
//! (no `m/version`, or another one) is rebuilt from the log when opened.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dstore_format::{LogRecord, RecordHash, RecordKind, SegmentEntry, SnapshotId, TagTarget};
use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch};

use crate::error::{Error, Result};

const LAST_SEQ: &[u8] = b"m/last_seq";
const LAST_HASH: &[u8] = b"m/last_hash";
const HEAD: &[u8] = b"m/head";
const COMMITS: &[u8] = b"m/commits";
const VERSION: &[u8] = b"m/version";
/// Written with `m/last_seq` by this layout's writers only: an older dstore indexing records
/// into this catalog moves `m/last_seq` without it, and the ordinals no longer cover the log.
const ORDINALS_THROUGH: &[u8] = b"m/ordinals_through";
/// The key layout's version; a catalog of another one is rebuilt. 2: commit ordinals.
const CATALOG_VERSION: u32 = 2;

pub(crate) struct Catalog {
    db: DB,
    path: PathBuf,
}

fn be(x: u64) -> [u8; 8] {
    x.to_be_bytes()
}

fn time_key(micros: i64, seq: u64) -> Vec<u8> {
    let mut k = b"T/".to_vec();
    k.extend_from_slice(&((micros as u64) ^ (1 << 63)).to_be_bytes());
    k.extend_from_slice(&be(seq));
    k
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Catalog {
    fn err(&self, e: &rocksdb::Error) -> Error {
        Error::Catalog {
            path: self.path.clone(),
            detail: e.to_string(),
        }
    }

    fn options() -> Options {
        let mut o = Options::default();
        o.create_if_missing(true);
        o.set_max_open_files(-1);
        o.set_keep_log_file_num(2);
        // With max_open_files = -1 every open loads all table files, by default on 16 threads
        // that are created and joined on each open: 1.4 ms of a 1.7 ms open here, for a
        // catalog of a handful of small files. One thread (the caller's) does it in 0.3 ms.
        o.set_max_file_opening_threads(1);
        // Statistics sampling on open reads table properties; nothing here uses them.
        o.set_skip_stats_update_on_db_open(true);
        // A writer opens the catalog for each commit, and every open flushes the recovered WAL
        // into a small L0 file. Leveled compaction would rewrite the whole (growing) L1 every
        // few commits; universal compaction merges files of similar size, so the cost per
        // commit stays flat as history grows.
        o.set_compaction_style(rocksdb::DBCompactionStyle::Universal);
        o
    }

    /// Opens read-only, taking no lock. `None` when there is no catalog yet.
    pub(crate) fn open_read_only(path: &Path) -> Result<Option<Catalog>> {
        if !path.join("CURRENT").exists() {
            return Ok(None);
        }
        let db =
            DB::open_for_read_only(&Self::options(), path, false).map_err(|e| Error::Catalog {
                path: path.to_owned(),
                detail: e.to_string(),
            })?;
        Ok(Some(Catalog {
            db,
            path: path.to_owned(),
        }))
    }

    /// Opens writable, waiting up to `wait` for another process to release RocksDB's lock.
    pub(crate) fn open_writable(path: &Path, wait: Duration) -> Result<Catalog> {
        // Created here rather than by RocksDB, which would make it 0777 less the umask: like
        // every directory of a store, it is never world-writable.
        crate::storage::create_dir_all(path).map_err(Error::io("create directory", path))?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match DB::open(&Self::options(), path) {
                Ok(db) => {
                    return Ok(Catalog {
                        db,
                        path: path.to_owned(),
                    });
                }
                Err(e) if is_lock_error(&e) && start.elapsed() < wait => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(e) => {
                    return Err(Error::Catalog {
                        path: path.to_owned(),
                        detail: if is_lock_error(&e) {
                            format!("still locked by another dstore process after {wait:?}: {e}")
                        } else {
                            e.to_string()
                        },
                    });
                }
            }
        }
    }

    fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.get(k).map_err(|e| self.err(&e))
    }

    /// The last record indexed and its hash.
    pub(crate) fn last(&self) -> Result<Option<(u64, RecordHash)>> {
        let Some(s) = self.get(LAST_SEQ)? else {
            return Ok(None);
        };
        let h = self.get(LAST_HASH)?.ok_or_else(|| Error::Catalog {
            path: self.path.clone(),
            detail: "last_hash missing".into(),
        })?;
        if s.len() != 8 || h.len() != 32 {
            return Err(Error::Catalog {
                path: self.path.clone(),
                detail: "malformed meta keys".into(),
            });
        }
        Ok(Some((u64_at(&s, 0), RecordHash(h.try_into().expect("32")))))
    }

    /// Whether this catalog has the current key layout (an empty one trivially does).
    pub(crate) fn is_current(&self) -> Result<bool> {
        let Some(last) = self.get(LAST_SEQ)? else {
            return Ok(true);
        };
        Ok(self
            .get(VERSION)?
            .is_some_and(|v| v.as_slice() == CATALOG_VERSION.to_be_bytes())
            && self.get(ORDINALS_THROUGH)?.is_some_and(|v| v == last))
    }

    fn u64_key(&self, prefix: &[u8], x: u64) -> Result<Option<u64>> {
        let mut k = prefix.to_vec();
        k.extend_from_slice(&be(x));
        Ok(self
            .get(&k)?
            .filter(|v| v.len() == 8)
            .map(|v| u64_at(&v, 0)))
    }

    /// The ordinal (from 1) of the commit record `seq`, if it is an indexed commit.
    pub(crate) fn commit_ordinal(&self, seq: u64) -> Result<Option<u64>> {
        self.u64_key(b"C/", seq)
    }

    /// The seq of the `ordinal`-th commit.
    pub(crate) fn commit_at_ordinal(&self, ordinal: u64) -> Result<Option<u64>> {
        self.u64_key(b"c/", ordinal)
    }

    pub(crate) fn head(&self) -> Result<Option<u64>> {
        Ok(self
            .get(HEAD)?
            .filter(|v| v.len() == 8)
            .map(|v| u64_at(&v, 0)))
    }

    pub(crate) fn record(&self, seq: u64) -> Result<Option<LogRecord>> {
        let mut k = b"r/".to_vec();
        k.extend_from_slice(&be(seq));
        match self.get(&k)? {
            None => Ok(None),
            Some(b) => LogRecord::decode(&b).map(Some).map_err(|e| Error::Catalog {
                path: self.path.clone(),
                detail: format!("record {seq}: {e}"),
            }),
        }
    }

    pub(crate) fn tag(&self, name: &str) -> Result<Option<TagTarget>> {
        let mut k = b"t/".to_vec();
        k.extend_from_slice(name.as_bytes());
        Ok(self.get(&k)?.filter(|v| v.len() == 40).map(|v| TagTarget {
            snapshot: SnapshotId(v[..32].try_into().expect("32")),
            seq: u64_at(&v, 32),
        }))
    }

    fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(prefix, Direction::Forward))
        {
            let (k, v) = item.map_err(|e| self.err(&e))?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    pub(crate) fn tags(&self) -> Result<Vec<(String, TagTarget)>> {
        self.scan_prefix(b"t/", usize::MAX)?
            .into_iter()
            .filter(|(_, v)| v.len() == 40)
            .map(|(k, v)| {
                Ok((
                    String::from_utf8_lossy(&k[2..]).into_owned(),
                    TagTarget {
                        snapshot: SnapshotId(v[..32].try_into().expect("32")),
                        seq: u64_at(&v, 32),
                    },
                ))
            })
            .collect()
    }

    pub(crate) fn tags_of(&self, id: &SnapshotId) -> Result<Vec<String>> {
        let mut p = b"u/".to_vec();
        p.extend_from_slice(&id.0);
        Ok(self
            .scan_prefix(&p, usize::MAX)?
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k[34..]).into_owned())
            .collect())
    }

    /// Commit sequence numbers that made snapshot `id`, oldest first.
    pub(crate) fn commits_of(&self, id: &SnapshotId) -> Result<Vec<u64>> {
        let mut p = b"i/".to_vec();
        p.extend_from_slice(&id.0);
        Ok(self
            .scan_prefix(&p, usize::MAX)?
            .into_iter()
            .map(|(k, _)| u64_at(&k, 34))
            .collect())
    }

    /// Distinct snapshot ids whose hex starts with `prefix`, at most `limit`.
    pub(crate) fn ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<SnapshotId>> {
        // Seek to the smallest id with this prefix: the hex digits, an odd one padded with 0.
        let mut padded = prefix.to_owned();
        if padded.len() % 2 == 1 {
            padded.push('0');
        }
        let bytes = hex::decode(&padded)
            .map_err(|e| Error::invalid(format!("bad id prefix {prefix}: {e}")))?;
        let mut start = b"i/".to_vec();
        start.extend_from_slice(&bytes);
        let mut out: Vec<SnapshotId> = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(&start, Direction::Forward))
        {
            let (k, _) = item.map_err(|e| self.err(&e))?;
            if !k.starts_with(b"i/") || k.len() != 42 {
                break;
            }
            let id = SnapshotId(k[2..34].try_into().expect("32"));
            if !id.to_hex().starts_with(prefix) {
                break;
            }
            if out.last() != Some(&id) {
                out.push(id);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The last commit at or before `micros`.
    pub(crate) fn commit_at_or_before(&self, micros: i64) -> Result<Option<u64>> {
        let mut it = self.db.raw_iterator();
        it.seek_for_prev(time_key(micros, u64::MAX));
        if it.valid()
            && let Some(k) = it.key()
            && k.starts_with(b"T/")
            && k.len() == 18
        {
            return Ok(Some(u64_at(k, 10)));
        }
        it.status().map_err(|e| self.err(&e))?;
        Ok(None)
    }

    /// Records with sequence numbers `<= from`, newest first, at most `limit`.
    pub(crate) fn records_back(&self, from: u64, limit: usize) -> Result<Vec<LogRecord>> {
        let mut start = b"r/".to_vec();
        start.extend_from_slice(&be(from));
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(&start, Direction::Reverse))
        {
            let (k, v) = item.map_err(|e| self.err(&e))?;
            if !k.starts_with(b"r/") || out.len() >= limit {
                break;
            }
            out.push(LogRecord::decode(&v).map_err(|e| Error::Catalog {
                path: self.path.clone(),
                detail: e.to_string(),
            })?);
        }
        Ok(out)
    }

    /// Indexes records that follow the last indexed one, in order, with the segments each
    /// commit added.
    pub(crate) fn apply(&self, records: &[IndexedRecord]) -> Result<()> {
        let mut batch = WriteBatch::default();
        let mut head = self.head()?;
        let mut commits = self
            .get(COMMITS)?
            .filter(|v| v.len() == 8)
            .map_or(0, |v| u64_at(&v, 0));
        // Tags changed earlier in this same batch, so a move sees its own previous target.
        let mut tag_now: std::collections::HashMap<String, Option<TagTarget>> =
            std::collections::HashMap::default();
        // Segments first indexed earlier in this same batch keep that first commit.
        let mut seen: std::collections::HashSet<dstore_format::SegmentId> =
            std::collections::HashSet::default();
        for IndexedRecord {
            record,
            hash,
            bytes,
            added,
        } in records
        {
            let seq = record.seq;
            let mut k = b"r/".to_vec();
            k.extend_from_slice(&be(seq));
            batch.put(k, bytes);
            let mut set_tag =
                |batch: &mut WriteBatch, name: &str, target: Option<TagTarget>| -> Result<()> {
                    let old = match tag_now.get(name) {
                        Some(t) => *t,
                        None => self.tag(name)?,
                    };
                    if let Some(old) = old {
                        let mut u = b"u/".to_vec();
                        u.extend_from_slice(&old.snapshot.0);
                        u.extend_from_slice(name.as_bytes());
                        batch.delete(u);
                    }
                    let mut t = b"t/".to_vec();
                    t.extend_from_slice(name.as_bytes());
                    match target {
                        Some(tt) => {
                            let mut v = tt.snapshot.0.to_vec();
                            v.extend_from_slice(&be(tt.seq));
                            batch.put(t, v);
                            let mut u = b"u/".to_vec();
                            u.extend_from_slice(&tt.snapshot.0);
                            u.extend_from_slice(name.as_bytes());
                            batch.put(u, []);
                        }
                        None => batch.delete(t),
                    }
                    tag_now.insert(name.to_owned(), target);
                    Ok(())
                };
            match &record.kind {
                RecordKind::Commit { snapshot, tags, .. } => {
                    let mut i = b"i/".to_vec();
                    i.extend_from_slice(&snapshot.0);
                    i.extend_from_slice(&be(seq));
                    batch.put(i, []);
                    batch.put(time_key(record.time_micros, seq), []);
                    head = Some(seq);
                    commits += 1;
                    let mut by_ordinal = b"c/".to_vec();
                    by_ordinal.extend_from_slice(&be(commits));
                    batch.put(by_ordinal, be(seq));
                    let mut ordinal_of = b"C/".to_vec();
                    ordinal_of.extend_from_slice(&be(seq));
                    batch.put(ordinal_of, be(commits));
                    for t in tags {
                        set_tag(
                            &mut batch,
                            t,
                            Some(TagTarget {
                                snapshot: *snapshot,
                                seq,
                            }),
                        )?;
                    }
                    for s in added {
                        let mut g = b"g/".to_vec();
                        g.extend_from_slice(&s.id.0);
                        if seen.insert(s.id) && self.get(&g)?.is_none() {
                            let mut v = be(s.bytes).to_vec();
                            v.extend_from_slice(&be(s.rows));
                            v.extend_from_slice(&be(seq));
                            batch.put(g, v);
                        }
                    }
                }
                RecordKind::Tag { name, target, .. } => set_tag(&mut batch, name, *target)?,
                RecordKind::Expire { snapshots, .. } => {
                    for s in snapshots {
                        let mut x = b"x/".to_vec();
                        x.extend_from_slice(&s.0);
                        // The latest expiry: a commit of the same snapshot after it revives it
                        // (`LogView::expired`).
                        batch.put(x, be(seq));
                    }
                }
            }
            batch.put(LAST_SEQ, be(seq));
            batch.put(ORDINALS_THROUGH, be(seq));
            batch.put(LAST_HASH, hash.0);
        }
        if let Some(h) = head {
            batch.put(HEAD, be(h));
        }
        batch.put(COMMITS, be(commits));
        batch.put(VERSION, CATALOG_VERSION.to_be_bytes());
        self.db.write(batch).map_err(|e| self.err(&e))
    }

    /// The seq of the latest record that expired a snapshot, if one did.
    pub(crate) fn expired(&self, id: &SnapshotId) -> Result<Option<u64>> {
        let mut x = b"x/".to_vec();
        x.extend_from_slice(&id.0);
        Ok(self
            .get(&x)?
            .filter(|v| v.len() == 8)
            .map(|v| u64_at(&v, 0)))
    }

    /// Size, rows and first commit of a segment, if any commit added it.
    pub(crate) fn segment(&self, id: &dstore_format::SegmentId) -> Result<Option<(u64, u64, u64)>> {
        let mut g = b"g/".to_vec();
        g.extend_from_slice(&id.0);
        Ok(self
            .get(&g)?
            .filter(|v| v.len() == 24)
            .map(|v| (u64_at(&v, 0), u64_at(&v, 8), u64_at(&v, 16))))
    }
}

/// A record ready to be indexed.
pub(crate) struct IndexedRecord {
    pub(crate) record: LogRecord,
    pub(crate) hash: RecordHash,
    pub(crate) bytes: Vec<u8>,
    pub(crate) added: Vec<SegmentEntry>,
}

impl From<crate::log::ReadRecord> for IndexedRecord {
    fn from(r: crate::log::ReadRecord) -> Self {
        IndexedRecord {
            record: r.record,
            hash: r.hash,
            bytes: r.bytes,
            added: Vec::new(),
        }
    }
}

fn is_lock_error(e: &rocksdb::Error) -> bool {
    let s = e.to_string();
    s.contains("lock") || s.contains("Resource temporarily unavailable")
}
