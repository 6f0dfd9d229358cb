//! Who read what: use records and retirements (docs/format.md §17).
//!
//! Recording a use writes two small objects and takes no lock: the run index entry
//! `runs/<run hash>/<snapshot>.uses` (empty; its name is its content) and then, put-if-absent,
//! the use record `uses/<snapshot>/<run hash>-<use id>.use`, whose key derives from what was
//! read, not from who or when. Many processes of one run recording the same read therefore
//! produce one object, and the log's sequence is never touched. A retirement
//! (`uses/<snapshot>/<run hash>.retire`) ends every use of that snapshot by that run.
//!
//! The keys are the index: the uses of a snapshot are one listing of its directory (flat in
//! the number of uses of other snapshots), the snapshots of a run one listing of the run's
//! directory, and which snapshots have a live use — what `expire` and `gc` need — is read
//! from the names of one listing of `uses/`, without opening any object. (The RocksDB catalog
//! cannot index them: a recording process holds no lock, and a catalog has one writer.)
//!
//! May call: `storage`, `layout`, `objects`, `catalog` (views, for expiry), the format crate.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use dstore_format::usage::{run_hash, validate_label, validate_run_id};
use dstore_format::{Retirement, SnapshotId, UseRecord};

use crate::error::{Error, Result};
use crate::layout::{RUNS_DIR, USES_DIR};
use crate::store::Store;

/// What a run read, for [`Store::record_use`].
#[derive(Debug, Clone, Default)]
pub struct UseSpec {
    /// The run id.
    pub run: String,
    /// Tables read (empty: the snapshot was opened as a whole).
    pub tables: Vec<String>,
    /// Columns read (empty: all).
    pub columns: Vec<String>,
    /// The row filter, as written.
    pub filter: Option<String>,
    /// The shuffle seed.
    pub seed: Option<u64>,
    /// BLAKE3 of the lock file the pin came from.
    pub lock: Option<[u8; 32]>,
    /// Who records it.
    pub author: String,
    /// Free labels.
    pub labels: Vec<(String, String)>,
    /// The code version; `None` looks for a git checkout around the working directory.
    pub code: Option<String>,
}

/// A use record as stored, with its retirement if the run retired it.
#[derive(Debug, Clone)]
pub struct Use {
    /// The record.
    pub record: UseRecord,
    /// Its use id (hex).
    pub id: String,
    /// Its key in the store.
    pub key: String,
    /// The retirement of this run's uses of the snapshot, if any.
    pub retired: Option<Retirement>,
}

impl Use {
    /// Whether the run still needs the snapshot.
    pub fn live(&self) -> bool {
        self.retired.is_none()
    }

    /// The use as JSON, as `dstore uses --json` prints it and Python returns it: times as
    /// RFC 3339 (UTC) with `time_micros` beside, the lock hash as hex.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let r = &self.record;
        json!({
            "run": r.run,
            "snapshot": r.snapshot.to_hex(),
            "time": crate::error::utc(r.time_micros),
            "time_micros": r.time_micros,
            "author": r.author,
            "host": r.host,
            "tables": r.tables,
            "columns": r.columns,
            "filter": r.filter,
            "seed": r.seed,
            "lock_blake3": r.lock.map(|h| hex(&h)),
            "code": r.code,
            "labels": r.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "use_id": self.id,
            "live": self.live(),
            "retired": self.retired.as_ref().map(|t| json!({
                "time": crate::error::utc(t.time_micros),
                "time_micros": t.time_micros,
                "author": t.author,
                "reason": t.reason,
            })),
        })
    }
}

/// What [`Store::record_use`] did.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The use record's key.
    pub key: String,
    /// Whether this call wrote it (`false`: another process of the run had, or this one
    /// earlier).
    pub created: bool,
    /// When the run had already retired its uses of this snapshot: that retirement (the use
    /// is recorded but not live).
    pub retired: Option<Retirement>,
}

/// The run id from the environment, and the variable it came from: `DSTORE_RUN`, else
/// `MLFLOW_RUN_ID`, `WANDB_RUN_ID`, `TORCHELASTIC_RUN_ID`, `SLURM_JOB_ID`.
pub fn run_from_env() -> Option<(String, &'static str)> {
    [
        "DSTORE_RUN",
        "MLFLOW_RUN_ID",
        "WANDB_RUN_ID",
        "TORCHELASTIC_RUN_ID",
        "SLURM_JOB_ID",
    ]
    .into_iter()
    .find_map(|v| {
        std::env::var(v)
            .ok()
            .filter(|s| !s.is_empty())
            .map(|s| (s, v))
    })
}

/// Whether reads record uses automatically: not when `DSTORE_RECORD_USE` is `0`, `false`,
/// `no` or `off`.
pub fn recording_enabled() -> bool {
    !matches!(
        std::env::var("DSTORE_RECORD_USE")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str(),
        "0" | "false" | "no" | "off"
    )
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else "unknown").
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// The commit checked out in the git working tree holding `dir`, read from `.git` (no `git`
/// binary needed): `None` outside a checkout or when HEAD cannot be resolved.
pub fn git_commit(dir: &Path) -> Option<String> {
    let mut d = dir.canonicalize().ok()?;
    let git = loop {
        let g = d.join(".git");
        if g.exists() {
            break g;
        }
        if !d.pop() {
            return None;
        }
    };
    // A worktree or submodule has a `.git` file: `gitdir: PATH`.
    let git = if git.is_file() {
        let text = std::fs::read_to_string(&git).ok()?;
        let p = text.strip_prefix("gitdir:")?.trim();
        git.parent()?.join(p)
    } else {
        git
    };
    let head = std::fs::read_to_string(git.join("HEAD")).ok()?;
    let head = head.trim();
    let is_hex = |s: &str| s.len() >= 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let Some(r) = head.strip_prefix("ref:") else {
        return is_hex(head).then(|| head.to_owned());
    };
    let r = r.trim();
    // A linked worktree keeps its refs in the common directory.
    let common = std::fs::read_to_string(git.join("commondir"))
        .ok()
        .map_or_else(|| git.clone(), |c| git.join(c.trim()));
    for base in [&git, &common] {
        if let Ok(s) = std::fs::read_to_string(base.join(r)) {
            let s = s.trim();
            if is_hex(s) {
                return Some(s.to_owned());
            }
        }
        if let Ok(packed) = std::fs::read_to_string(base.join("packed-refs")) {
            for line in packed.lines() {
                if let Some((h, name)) = line.split_once(' ')
                    && name == r
                    && is_hex(h)
                {
                    return Some(h.to_owned());
                }
            }
        }
    }
    None
}

fn hex(b: &[u8; 32]) -> String {
    SnapshotId(*b).to_hex()
}

fn use_key(snapshot: &SnapshotId, run: &str, id: &[u8; 32]) -> String {
    format!(
        "{USES_DIR}/{}/{}-{}.use",
        snapshot.to_hex(),
        hex(&run_hash(run)),
        hex(id)
    )
}

fn retire_key(snapshot: &SnapshotId, run: &str) -> String {
    format!(
        "{USES_DIR}/{}/{}.retire",
        snapshot.to_hex(),
        hex(&run_hash(run))
    )
}

fn run_index_key(run: &str, snapshot: &SnapshotId) -> String {
    format!(
        "{RUNS_DIR}/{}/{}.uses",
        hex(&run_hash(run)),
        snapshot.to_hex()
    )
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A key under `uses/`, parsed from its name alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UseKey {
    /// `uses/<snapshot>/<run hash>-<use id>.use`.
    Use {
        snapshot: SnapshotId,
        run_hash: String,
        id: String,
    },
    /// `uses/<snapshot>/<run hash>.retire`.
    Retire {
        snapshot: SnapshotId,
        run_hash: String,
    },
}

impl UseKey {
    /// Parses `key`; `None` for any name that is not a use or retirement (temporary files).
    pub(crate) fn parse(key: &str) -> Option<UseKey> {
        let rest = key.strip_prefix(USES_DIR)?.strip_prefix('/')?;
        let (dir, name) = rest.split_once('/')?;
        if !is_hex64(dir) {
            return None;
        }
        let snapshot = SnapshotId::from_hex(dir)?;
        if let Some(stem) = name.strip_suffix(".use") {
            let (r, id) = stem.split_once('-')?;
            return (is_hex64(r) && is_hex64(id)).then(|| UseKey::Use {
                snapshot,
                run_hash: r.to_owned(),
                id: id.to_owned(),
            });
        }
        let r = name.strip_suffix(".retire")?;
        is_hex64(r).then(|| UseKey::Retire {
            snapshot,
            run_hash: r.to_owned(),
        })
    }
}

/// Which runs (by run hash) hold a live use of each snapshot, and which retired theirs.
#[derive(Debug, Default, Clone)]
pub(crate) struct UseIndex {
    /// Snapshot → run hashes with a use record.
    pub(crate) used: HashMap<SnapshotId, BTreeSet<String>>,
    /// Snapshot → run hashes that retired theirs.
    pub(crate) retired: HashMap<SnapshotId, BTreeSet<String>>,
    /// Objects listed under `uses/`.
    pub(crate) objects: usize,
}

impl UseIndex {
    /// The run hashes with a live (unretired) use of `id`.
    pub(crate) fn live(&self, id: &SnapshotId) -> Vec<&str> {
        let retired = self.retired.get(id);
        self.used
            .get(id)
            .into_iter()
            .flatten()
            .filter(|r| retired.is_none_or(|s| !s.contains(*r)))
            .map(String::as_str)
            .collect()
    }
}

impl Store {
    /// Records that `spec.run` read `snapshot`, without any lock: the run index entry, then
    /// the use record put-if-absent. Bad input (a run id with control characters, an unknown
    /// table, a bad label) is refused before anything is written; an expired snapshot is
    /// [`Error::Expired`].
    pub fn record_use(&self, snapshot: &SnapshotId, spec: &UseSpec) -> Result<Recorded> {
        validate_run_id(&spec.run)
            .map_err(|e| Error::invalid(format!("run id {:?}: {e}", spec.run)))?;
        for (k, v) in &spec.labels {
            validate_label(k, v).map_err(Error::invalid)?;
        }
        let snap = self.snapshot(snapshot)?;
        for t in &spec.tables {
            snap.table(t)?;
        }
        self.storage().check_writable()?;
        let record = UseRecord {
            snapshot: *snapshot,
            run: spec.run.clone(),
            tables: spec.tables.clone(),
            columns: spec.columns.clone(),
            filter: spec.filter.clone(),
            seed: spec.seed,
            lock: spec.lock,
            time_micros: crate::log::now_micros(),
            author: spec.author.clone(),
            host: host_name(),
            code: spec
                .code
                .clone()
                .or_else(|| std::env::current_dir().ok().and_then(|d| git_commit(&d))),
            labels: spec.labels.clone(),
        };
        // The index entry first: one without its use is harmless (the run's listing finds no
        // use there), a use without its entry would be missing from `uses --run`.
        let index = run_index_key(&spec.run, snapshot);
        if self.storage().size(&index)?.is_none() {
            self.storage().put(&index, &[])?;
        }
        let key = use_key(snapshot, &spec.run, &record.id());
        // The common case of a run's second process: the record is there, nothing to write.
        // (Two that both find it missing still make one object: put-if-absent.)
        let created = self.storage().size(&key)?.is_none()
            && self.storage().put_if_absent(&key, &record.encode())?;
        Ok(Recorded {
            key,
            created,
            retired: self.retirement(snapshot, &spec.run)?,
        })
    }

    /// The retirement of `run`'s uses of `snapshot`, if there is one.
    pub fn retirement(&self, snapshot: &SnapshotId, run: &str) -> Result<Option<Retirement>> {
        let key = retire_key(snapshot, run);
        let Some(bytes) = self.storage().get_opt(&key)? else {
            return Ok(None);
        };
        self.check_retirement(&key, &bytes).map(Some)
    }

    pub(crate) fn check_retirement(&self, key: &str, bytes: &[u8]) -> Result<Retirement> {
        let corrupted = |detail: String| Error::Corrupted {
            path: self.storage().describe(key),
            detail,
        };
        let r = Retirement::decode(bytes).map_err(|e| corrupted(e.to_string()))?;
        if retire_key(&r.snapshot, &r.run) != key {
            return Err(corrupted(format!(
                "holds the retirement of run {:?} from snapshot {}, which belongs under another name",
                r.run,
                r.snapshot.short(16)
            )));
        }
        Ok(r)
    }

    /// Checks a use record's bytes against its key (snapshot, run hash and use id).
    pub(crate) fn check_use(&self, key: &str, bytes: &[u8]) -> Result<Use> {
        let corrupted = |detail: String| Error::Corrupted {
            path: self.storage().describe(key),
            detail,
        };
        let (record, id) = UseRecord::decode(bytes).map_err(|e| corrupted(e.to_string()))?;
        if use_key(&record.snapshot, &record.run, &id) != key {
            return Err(corrupted(format!(
                "holds a use of snapshot {} by run {:?}, which belongs under another name",
                record.snapshot.short(16),
                record.run
            )));
        }
        Ok(Use {
            record,
            id: hex(&id),
            key: key.to_owned(),
            retired: None,
        })
    }

    /// Ends `run`'s uses of `snapshot` (a retirement object, put-if-absent: nothing is edited).
    /// Returns the retirement in force and whether this call wrote it.
    pub fn retire_use(
        &self,
        snapshot: &SnapshotId,
        run: &str,
        author: &str,
        reason: &str,
    ) -> Result<(Retirement, bool)> {
        validate_run_id(run).map_err(|e| Error::invalid(format!("run id {run:?}: {e}")))?;
        // Only this run's records are read: another run's damaged one does not block this.
        let uses = self.uses_matching(snapshot, Some(&hex(&run_hash(run))))?;
        if !uses.iter().any(|u| u.record.run == run) {
            return Err(Error::NotFound {
                what: format!("a use of snapshot {} by run {run:?}", snapshot.short(16)),
            });
        }
        self.storage().check_writable()?;
        let r = Retirement {
            snapshot: *snapshot,
            run: run.to_owned(),
            time_micros: crate::log::now_micros(),
            author: author.to_owned(),
            reason: reason.to_owned(),
        };
        let key = retire_key(snapshot, run);
        if self.storage().put_if_absent(&key, &r.encode())? {
            return Ok((r, true));
        }
        let bytes = self.storage().get(&key)?;
        Ok((self.check_retirement(&key, &bytes)?, false))
    }

    /// Every use of `snapshot`, oldest first, each with its retirement. One listing of the
    /// snapshot's directory and one read per object found there; a damaged object is
    /// [`Error::Corrupted`] naming it.
    pub fn uses_of(&self, snapshot: &SnapshotId) -> Result<Vec<Use>> {
        self.uses_matching(snapshot, None)
    }

    /// The uses of `snapshot`, only those of the run whose hash is `run` when given (chosen by
    /// name, so the others are never read).
    fn uses_matching(&self, snapshot: &SnapshotId, run: Option<&str>) -> Result<Vec<Use>> {
        let dir = format!("{USES_DIR}/{}/", snapshot.to_hex());
        let mut uses = Vec::new();
        let mut retired: BTreeMap<String, Retirement> = BTreeMap::new();
        for obj in self.storage().list(&dir)? {
            let parsed = UseKey::parse(&obj.key);
            let of_run = |h: &str| run.is_none_or(|r| r == h);
            match parsed {
                Some(UseKey::Use { ref run_hash, .. } | UseKey::Retire { ref run_hash, .. })
                    if !of_run(run_hash) => {}
                Some(UseKey::Use { .. }) => {
                    let bytes = self.storage().get(&obj.key)?;
                    uses.push(self.check_use(&obj.key, &bytes)?);
                }
                Some(UseKey::Retire { run_hash, .. }) => {
                    let bytes = self.storage().get(&obj.key)?;
                    retired.insert(run_hash, self.check_retirement(&obj.key, &bytes)?);
                }
                None => {}
            }
        }
        for u in &mut uses {
            u.retired = retired.get(&hex(&run_hash(&u.record.run))).cloned();
        }
        uses.sort_by(|a, b| {
            (a.record.time_micros, &a.record.run, &a.id).cmp(&(
                b.record.time_micros,
                &b.record.run,
                &b.id,
            ))
        });
        Ok(uses)
    }

    /// Every use recorded by `run`, oldest first: one listing of the run's index, then the
    /// uses of each snapshot it names, keeping the run's.
    pub fn uses_by_run(&self, run: &str) -> Result<Vec<Use>> {
        validate_run_id(run).map_err(|e| Error::invalid(format!("run id {run:?}: {e}")))?;
        let dir = format!("{RUNS_DIR}/{}/", hex(&run_hash(run)));
        let mut out = Vec::new();
        for obj in self.storage().list(&dir)? {
            let name = obj.key.rsplit('/').next().unwrap_or("");
            let Some(stem) = name.strip_suffix(".uses").filter(|s| is_hex64(s)) else {
                continue;
            };
            let Some(id) = SnapshotId::from_hex(stem) else {
                continue;
            };
            let h = hex(&run_hash(run));
            out.extend(
                self.uses_matching(&id, Some(&h))?
                    .into_iter()
                    .filter(|u| u.record.run == run),
            );
        }
        out.sort_by_key(|u| u.record.time_micros);
        Ok(out)
    }

    /// Which snapshots have uses and retirements, from the names of one listing of `uses/`.
    pub(crate) fn use_index(&self) -> Result<UseIndex> {
        let mut idx = UseIndex::default();
        for obj in self.storage().list(&format!("{USES_DIR}/"))? {
            match UseKey::parse(&obj.key) {
                Some(UseKey::Use {
                    snapshot, run_hash, ..
                }) => {
                    idx.objects += 1;
                    idx.used.entry(snapshot).or_default().insert(run_hash);
                }
                Some(UseKey::Retire { snapshot, run_hash }) => {
                    idx.objects += 1;
                    idx.retired.entry(snapshot).or_default().insert(run_hash);
                }
                None => {}
            }
        }
        Ok(idx)
    }

    /// Copies the use records and retirements of `snapshot` (and their run index entries)
    /// into `dst`, each checked first; objects `dst` has are left as they are.
    pub(crate) fn copy_uses(&self, dst: &Store, snapshot: &SnapshotId) -> Result<usize> {
        let mut n = 0;
        for u in self.uses_of(snapshot)? {
            dst.storage()
                .put(&run_index_key(&u.record.run, snapshot), &[])?;
            if dst
                .storage()
                .put_if_absent(&u.key, &self.storage().get(&u.key)?)?
            {
                n += 1;
            }
            if let Some(r) = &u.retired {
                let key = retire_key(snapshot, &r.run);
                if dst.storage().put_if_absent(&key, &r.encode())? {
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back() {
        let s = SnapshotId([3; 32]);
        let k = use_key(&s, "exp-1", &[9; 32]);
        assert_eq!(
            UseKey::parse(&k),
            Some(UseKey::Use {
                snapshot: s,
                run_hash: hex(&run_hash("exp-1")),
                id: hex(&[9; 32]),
            })
        );
        let r = retire_key(&s, "exp-1");
        assert!(matches!(UseKey::parse(&r), Some(UseKey::Retire { .. })));
        assert_eq!(UseKey::parse("uses/xx/y.use"), None);
        assert_eq!(UseKey::parse(&format!("{k}.tmp")), None);
        assert_eq!(
            UseKey::parse(&format!("uses/{}/.tmp-abc", s.to_hex())),
            None
        );
    }

    #[test]
    fn git_commit_reads_a_checkout() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(git_commit(d.path()), None);
        let g = d.path().join(".git");
        std::fs::create_dir_all(g.join("refs/heads")).unwrap();
        std::fs::write(g.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        let h = "0123456789abcdef0123456789abcdef01234567";
        std::fs::write(
            g.join("packed-refs"),
            format!("# pack\n{h} refs/heads/main\n"),
        )
        .unwrap();
        let sub = d.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(git_commit(&sub).as_deref(), Some(h));
        let h2 = "89abcdef0123456789abcdef0123456789abcdef";
        std::fs::write(g.join("refs/heads/main"), format!("{h2}\n")).unwrap();
        assert_eq!(git_commit(&sub).as_deref(), Some(h2));
        std::fs::write(g.join("HEAD"), format!("{h}\n")).unwrap();
        assert_eq!(git_commit(&sub).as_deref(), Some(h));
    }
}
