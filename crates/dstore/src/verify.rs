//! `verify`: re-hash everything a snapshot (or every snapshot) reaches and check the log chain.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use dstore_format::{
    LogRecord, PageId, RecordHash, RecordKind, SegmentEntry, SegmentId, SnapshotId,
};

use crate::derived::DerivedKind;
use crate::error::{Error, Result};
use crate::ingest::segment::hash_stream;
use crate::layout::{self, record_key, segment_key};
use crate::store::Store;

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Refs to verify; empty (and `all` false) means HEAD.
    pub refs: Vec<String>,
    /// Every snapshot in the log.
    pub all: bool,
}

/// One problem found, with the object it is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The damaged or missing object.
    pub path: PathBuf,
    /// What is wrong.
    pub detail: String,
}

/// What `verify` checked and found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    /// Every problem, in the order found.
    pub problems: Vec<Problem>,
    /// Log records checked.
    pub records: u64,
    /// Snapshots checked.
    pub snapshots: u64,
    /// Segment list pages checked.
    pub pages: u64,
    /// Files (segments, or checkout files) re-hashed.
    pub files: u64,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Segment outboards checked (each against the chaining values of its re-hashed segment).
    pub outboards: u64,
    /// Segments without an outboard (written before outboards existed: not a problem; reads
    /// of them verify whole column chunks instead of byte ranges).
    pub outboards_missing: u64,
    /// Segment profiles checked (checksum, structure, and the segment, length and rows they
    /// name; docs/format.md §16).
    pub profiles: u64,
    /// Segments without a profile (not a problem: `stats` and `diff --stats` compute and store
    /// one on first use).
    pub profiles_missing: u64,
    /// Expired snapshots among those chosen: their manifests are checked, not their data
    /// (`gc` may have removed it).
    pub expired: u64,
    /// Use records and retirements checked (with `all`).
    pub uses: u64,
}

impl VerifyReport {
    /// No problems.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Verifies the log chain and every object reachable from the chosen snapshots. Problems are
    /// collected, not returned as errors, so one run reports all of them.
    pub fn verify(&self, opts: &VerifyOptions, progress: &dyn Fn(u64)) -> Result<VerifyReport> {
        let mut r = VerifyReport::default();
        let commits = self.verify_log(&mut r)?;
        let ids: Vec<SnapshotId> = if opts.all {
            let set: BTreeSet<SnapshotId> = commits.into_iter().collect();
            set.into_iter().collect()
        } else if opts.refs.is_empty() {
            match self.resolve("HEAD") {
                Ok(res) => vec![res.id],
                Err(Error::NotFound { .. }) => Vec::new(),
                Err(e) => return Err(e),
            }
        } else {
            opts.refs
                .iter()
                .map(|x| self.resolve(x).map(|res| res.id))
                .collect::<Result<_>>()?
        };
        let mut seen_pages: HashSet<PageId> = HashSet::new();
        let mut segments: Vec<SegmentEntry> = Vec::new();
        let mut seen_segments: HashSet<SegmentId> = HashSet::new();
        // A log verify_log found damaged cannot say what is expired: then every snapshot's
        // objects are checked, as if none were (the damage is already among the problems).
        let log_ok = r.problems.is_empty();
        if opts.all {
            self.verify_uses(&mut r)?;
        }
        let view = if log_ok {
            Some(self.view()?)
        } else {
            self.view().ok()
        };
        for id in ids {
            r.snapshots += 1;
            let expired = match &view {
                Some(v) if log_ok => v.expired(&id)?.is_some(),
                // The catalog may still know expiries the damaged log cannot be read for.
                Some(v) => v.expired(&id).unwrap_or(None).is_some(),
                None => false,
            };
            if let Some(p) =
                not_a_regular_file(&self.storage().describe(&layout::manifest_key(&id)))
            {
                r.problems.push(p);
            }
            let m = match self.objects().manifest(&id) {
                Ok(m) => m,
                Err(e) => {
                    r.problems
                        .push(problem(self, &layout::manifest_key(&id), e));
                    continue;
                }
            };
            if expired {
                r.expired += 1;
                continue;
            }
            for t in &m.tables {
                for p in &t.pages {
                    if !seen_pages.insert(p.id) {
                        continue;
                    }
                    r.pages += 1;
                    if let Some(p) =
                        not_a_regular_file(&self.storage().describe(&layout::page_key(&p.id)))
                    {
                        r.problems.push(p);
                    }
                    match self.objects().page(&p.id) {
                        Ok(page) => {
                            let got = page.page_ref(p.id);
                            if got != *p {
                                r.problems.push(Problem {
                                    path: self.storage().describe(&layout::page_key(&p.id)),
                                    detail: format!(
                                        "page totals differ from what manifest {} says",
                                        id.short(16)
                                    ),
                                });
                            }
                            for e in page.entries {
                                if seen_segments.insert(e.id) {
                                    segments.push(e);
                                }
                            }
                        }
                        Err(e) => r.problems.push(problem(self, &layout::page_key(&p.id), e)),
                    }
                }
            }
        }
        for e in &segments {
            let key = segment_key(&e.id);
            let path = self.storage().describe(&key);
            if let Some(p) = not_a_regular_file(&path) {
                r.problems.push(p);
            } else if let Err(err) = self.storage().size(&key)
                && err.is_corruption()
            {
                // A linked directory on the way (say `segments/ab/`), which the storage layer
                // refuses.
                r.problems.push(problem(self, &key, err));
                continue;
            }
            let ranges: Vec<_> = e
                .row_groups
                .iter()
                .flat_map(|g| g.chunks.iter().map(|c| c.offset..c.offset + c.length))
                .collect();
            // A local segment is opened by its path even when it is a link (reported above), so
            // the report also says whether the bytes behind the link still match; a remote one
            // is streamed from the bucket.
            let hashed = match self.storage().local_path(&key) {
                Some(p) => {
                    std::fs::File::open(p).and_then(|mut f| hash_stream(&mut f, None, &ranges))
                }
                None => self
                    .storage()
                    .open_read(&key)
                    .map_err(std::io::Error::other)
                    .and_then(|mut f| hash_stream(&mut *f, None, &ranges)),
            };
            match hashed {
                Err(err) => r.problems.push(Problem {
                    path,
                    detail: format!("cannot read segment: {err}"),
                }),
                Ok(h) => {
                    r.files += 1;
                    r.bytes += h.len;
                    progress(h.len);
                    if h.id != e.id {
                        r.problems.push(Problem {
                            path,
                            detail: format!(
                                "contents hash to {}, not to the file's name",
                                h.id.short(16)
                            ),
                        });
                    } else if h.len != e.bytes {
                        r.problems.push(Problem {
                            path,
                            detail: format!("{} bytes, manifest says {}", h.len, e.bytes),
                        });
                    } else {
                        let wanted = e
                            .row_groups
                            .iter()
                            .flat_map(|g| g.chunks.iter().map(|c| c.hash));
                        if let Some(i) = wanted.zip(&h.range_hashes).position(|(w, got)| w != *got)
                        {
                            r.problems.push(Problem {
                                path,
                                detail: format!(
                                    "column chunk {i} differs from its hash in the manifest"
                                ),
                            });
                        }
                        self.verify_outboard(&e.id, &h.outboard, &mut r);
                        self.verify_profile(e, &mut r);
                    }
                }
            }
        }
        Ok(r)
    }

    /// Checks the stored outboard of a segment whose bytes hashed right against the one computed
    /// from those bytes.
    fn verify_outboard(
        &self,
        id: &SegmentId,
        computed: &dstore_format::Outboard,
        r: &mut VerifyReport,
    ) {
        let key = DerivedKind::Outboard.key(id);
        let path = self.storage().describe(&key);
        if let Some(p) = not_a_regular_file(&path) {
            r.problems.push(p);
            return;
        }
        match self.storage().get_opt(&key) {
            Ok(None) => r.outboards_missing += 1,
            Ok(Some(bytes)) => {
                r.outboards += 1;
                if bytes != computed.encode() {
                    let detail = match dstore_format::Outboard::decode(&bytes) {
                        Err(e) => e.to_string(),
                        Ok(_) => "its chaining values differ from the segment's".into(),
                    };
                    r.problems.push(Problem { path, detail });
                }
            }
            Err(e) => r.problems.push(problem(self, &key, e)),
        }
    }

    /// Checks the stored profile of a segment, if it has one: it decodes, its checksum holds, and
    /// it names this segment, its length and its rows.
    fn verify_profile(&self, e: &dstore_format::SegmentEntry, r: &mut VerifyReport) {
        let key = DerivedKind::Profile.key(&e.id);
        let path = self.storage().describe(&key);
        if let Some(p) = not_a_regular_file(&path) {
            r.problems.push(p);
            return;
        }
        match self.storage().get_opt(&key) {
            Ok(None) => r.profiles_missing += 1,
            Ok(Some(bytes)) => {
                r.profiles += 1;
                match crate::derived::check_profile(&bytes, &e.id, e.bytes) {
                    Err(detail) => r.problems.push(Problem { path, detail }),
                    Ok(p) if p.rows != e.rows => r.problems.push(Problem {
                        path,
                        detail: format!("counts {} rows; the segment has {}", p.rows, e.rows),
                    }),
                    Ok(_) => {}
                }
            }
            Err(err) => r.problems.push(problem(self, &key, err)),
        }
    }

    /// Checks the whole log: dense sequence numbers from 1, each record decodes, each names its
    /// predecessor's hash, commit parents are earlier commits, times never go back. Returns
    /// the snapshot ids of all commits.
    fn verify_log(&self, r: &mut VerifyReport) -> Result<Vec<SnapshotId>> {
        let max = self
            .index()
            .log()
            .listed_seqs()?
            .into_iter()
            .max()
            .unwrap_or(0);
        let mut prev = RecordHash::ZERO;
        let mut prev_time = i64::MIN;
        let mut commits = Vec::new();
        let mut commit_seqs = HashSet::new();
        for seq in 1..=max {
            let key = record_key(seq);
            let path = self.storage().describe(&key);
            r.records += 1;
            if let Some(p) = not_a_regular_file(&path) {
                r.problems.push(p);
            }
            let Some(bytes) = self.storage().get_opt(&key)? else {
                r.problems.push(Problem {
                    path,
                    detail: format!("log record {seq} is missing (the log runs to {max})"),
                });
                prev = RecordHash::ZERO;
                continue;
            };
            let hash = RecordHash::of(&bytes);
            match LogRecord::decode(&bytes) {
                Err(e) => r.problems.push(Problem {
                    path,
                    detail: e.to_string(),
                }),
                Ok(rec) => {
                    if rec.seq != seq {
                        r.problems.push(Problem {
                            path: path.clone(),
                            detail: format!("holds record {}", rec.seq),
                        });
                    }
                    if rec.prev != prev && prev != RecordHash::ZERO
                        || (seq == 1 && rec.prev != RecordHash::ZERO)
                    {
                        r.problems.push(Problem { path: path.clone(), detail: "does not name the hash of the record before it (the chain is broken)".into() });
                    }
                    if rec.time_micros < prev_time {
                        r.problems.push(Problem {
                            path: path.clone(),
                            detail: "time is earlier than the record before it".into(),
                        });
                    }
                    prev_time = rec.time_micros;
                    if let RecordKind::Commit {
                        snapshot,
                        parent_commit,
                        ..
                    } = &rec.kind
                    {
                        if let Some(p) = parent_commit
                            && !commit_seqs.contains(p)
                        {
                            r.problems.push(Problem {
                                path: path.clone(),
                                detail: format!("parent @{p} is not a commit"),
                            });
                        }
                        commit_seqs.insert(seq);
                        commits.push(*snapshot);
                    }
                }
            }
            prev = hash;
        }
        Ok(commits)
    }
}

impl Store {
    /// Checks every use record and retirement against its name and checksum (§17). (Run index
    /// entries are empty files whose names are all they hold; a stray one is harmless.)
    fn verify_uses(&self, r: &mut VerifyReport) -> Result<()> {
        for obj in self.storage().list(&format!("{}/", layout::USES_DIR))? {
            let name = obj.key.rsplit('/').next().unwrap_or("");
            if name.starts_with(".tmp-") {
                continue;
            }
            let checked = match crate::uses::UseKey::parse(&obj.key) {
                Some(crate::uses::UseKey::Use { .. }) => self
                    .storage()
                    .get(&obj.key)
                    .and_then(|b| self.check_use(&obj.key, &b).map(drop)),
                Some(crate::uses::UseKey::Retire { .. }) => self
                    .storage()
                    .get(&obj.key)
                    .and_then(|b| self.check_retirement(&obj.key, &b).map(drop)),
                None => Err(Error::Corrupted {
                    path: self.storage().describe(&obj.key),
                    detail: "is not a use record or retirement name (uses/<snapshot>/<run hash>-<use id>.use or <run hash>.retire)".into(),
                }),
            };
            r.uses += 1;
            if let Err(e) = checked {
                r.problems.push(problem(self, &obj.key, e));
            }
        }
        Ok(())
    }
}

/// Objects are regular files of the store. A symbolic link (say, to a file outside the store)
/// is reported even when what it points at has the right bytes: the store no longer holds the
/// object itself, and whatever the link points at can change without the store knowing.
fn not_a_regular_file(path: &std::path::Path) -> Option<Problem> {
    let m = std::fs::symlink_metadata(path).ok()?;
    if m.file_type().is_file() {
        return None;
    }
    let detail = match std::fs::read_link(path) {
        Ok(target) => format!(
            "is a symbolic link to {}, not a file of the store",
            target.display()
        ),
        Err(_) => "is not a regular file".into(),
    };
    Some(Problem {
        path: path.to_owned(),
        detail,
    })
}

fn problem(store: &Store, key: &str, e: Error) -> Problem {
    let detail = match e {
        Error::Corrupted { detail, .. } => detail,
        other => other.to_string(),
    };
    Problem {
        path: store.storage().describe(key),
        detail,
    }
}
