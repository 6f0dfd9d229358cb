//! Manifest log records: one file per sequence number, chained by hash.

use crate::check_magic_and_version_upto;
use crate::codec::{Decoder, Encoder};
use crate::error::{Error, ObjectKind, Result};
use crate::id::{RecordHash, SnapshotId};

/// Magic at the start of a log record file.
pub const RECORD_MAGIC: [u8; 8] = *b"DSTLOGRC";

/// The newest log record version this build reads and writes. A record is written with
/// version 1 unless it needs version 2 (an expire record, or a commit naming upstream
/// snapshots), so stores that use neither keep writing exactly the bytes version 1 did.
pub const RECORD_VERSION: u32 = 2;

const KIND_COMMIT: u8 = 1;
const KIND_TAG: u8 = 2;
const KIND_EXPIRE: u8 = 3;

/// How a commit changed one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableOp {
    /// The table did not exist before this commit.
    Create,
    /// Segments were added after the existing ones.
    Append,
    /// The table's segments were replaced.
    Overwrite,
}

impl TableOp {
    fn code(self) -> u8 {
        match self {
            TableOp::Create => 1,
            TableOp::Append => 2,
            TableOp::Overwrite => 3,
        }
    }
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            TableOp::Create => "create",
            TableOp::Append => "append",
            TableOp::Overwrite => "overwrite",
        }
    }
}

/// What a commit did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableChange {
    /// The table.
    pub table: String,
    /// Create, append or overwrite.
    pub op: TableOp,
    /// Segments this commit added to the table.
    pub segments: u64,
    /// Rows those segments hold.
    pub rows: u64,
    /// Bytes those segments hold.
    pub bytes: u64,
}

/// A snapshot and the sequence number of the commit that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagTarget {
    /// The snapshot.
    pub snapshot: SnapshotId,
    /// Sequence number of the commit record that made it HEAD.
    pub seq: u64,
}

/// A snapshot a commit was made from (its lineage): the store it lives in, as the user named it
/// (a path or URL), its id, and the table read, if one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Upstream {
    /// The store, as given in the pin (`raw.dstore`, `s3://bucket/raw`).
    pub store: String,
    /// The snapshot.
    pub snapshot: SnapshotId,
    /// The table of that snapshot the commit was made from, when the pin named one.
    pub table: Option<String>,
}

/// What a log record does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKind {
    /// A new snapshot becomes HEAD.
    Commit {
        /// The new snapshot.
        snapshot: SnapshotId,
        /// Sequence number of the previous commit record, `None` for the first commit.
        parent_commit: Option<u64>,
        /// What changed, sorted by table name.
        changes: Vec<TableChange>,
        /// Tags set on this snapshot by this same commit (atomically with it).
        tags: Vec<String>,
        /// The snapshots this one was made from, sorted and unique (version 2 records only;
        /// empty in version 1).
        upstream: Vec<Upstream>,
    },
    /// A tag is created, moved or deleted.
    Tag {
        /// The tag.
        name: String,
        /// Where it points now; `None` deletes it.
        target: Option<TagTarget>,
        /// Where it pointed before; `None` if it did not exist.
        previous: Option<TagTarget>,
    },
    /// Snapshots are expired: their data may be removed by `gc`; their ids, records and
    /// manifests stay (version 2 records only). The record's message is the reason.
    Expire {
        /// The snapshots, sorted by id, unique, at least one.
        snapshots: Vec<SnapshotId>,
        /// Expired even though tagged or in use (`dstore expire --purge`).
        purge: bool,
    },
}

/// One record of the manifest log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Sequence number, from 1, dense.
    pub seq: u64,
    /// Hash of the record file `seq - 1` ([`RecordHash::ZERO`] for seq 1).
    pub prev: RecordHash,
    /// UTC time, microseconds since the Unix epoch; never earlier than the previous record's.
    pub time_micros: i64,
    /// Who made it.
    pub author: String,
    /// Free text.
    pub message: String,
    /// What it does.
    pub kind: RecordKind,
}

impl LogRecord {
    /// The version this record is written with: 2 when it uses a version-2 feature (an expire
    /// record, a commit with upstream snapshots), else 1.
    pub fn version(&self) -> u32 {
        match &self.kind {
            RecordKind::Commit { upstream, .. } if !upstream.is_empty() => 2,
            RecordKind::Expire { .. } => 2,
            _ => 1,
        }
    }

    /// The record file's exact bytes: body, then the BLAKE3 of the body.
    pub fn encode(&self) -> Vec<u8> {
        let version = self.version();
        let mut e = Encoder::new();
        e.raw(&RECORD_MAGIC);
        e.u32(version);
        e.u64(self.seq);
        e.hash(&self.prev.0);
        e.i64(self.time_micros);
        e.str(&self.author);
        e.str(&self.message);
        match &self.kind {
            RecordKind::Commit {
                snapshot,
                parent_commit,
                changes,
                tags,
                upstream,
            } => {
                e.u8(KIND_COMMIT);
                e.hash(&snapshot.0);
                e.u64(parent_commit.unwrap_or(0));
                let mut changes: Vec<&TableChange> = changes.iter().collect();
                changes.sort_by(|a, b| a.table.cmp(&b.table));
                e.len(changes.len());
                for c in changes {
                    e.str(&c.table);
                    e.u8(c.op.code());
                    e.u64(c.segments);
                    e.u64(c.rows);
                    e.u64(c.bytes);
                }
                e.len(tags.len());
                for t in tags {
                    e.str(t);
                }
                if version >= 2 {
                    let mut up: Vec<&Upstream> = upstream.iter().collect();
                    up.sort();
                    up.dedup();
                    e.len(up.len());
                    for u in up {
                        e.str(&u.store);
                        e.hash(&u.snapshot.0);
                        e.opt(u.table.as_ref(), |e, t| e.str(t));
                    }
                }
            }
            RecordKind::Expire { snapshots, purge } => {
                e.u8(KIND_EXPIRE);
                let mut ids: Vec<&SnapshotId> = snapshots.iter().collect();
                ids.sort_by_key(|s| s.0);
                ids.dedup();
                e.len(ids.len());
                for s in ids {
                    e.hash(&s.0);
                }
                e.bool(*purge);
            }
            RecordKind::Tag {
                name,
                target,
                previous,
            } => {
                e.u8(KIND_TAG);
                e.str(name);
                for t in [target, previous] {
                    e.opt(t.as_ref(), |e, t| {
                        e.hash(&t.snapshot.0);
                        e.u64(t.seq);
                    });
                }
            }
        }
        let sum = blake3::hash(e.as_bytes());
        e.raw(sum.as_bytes());
        e.into_bytes()
    }

    /// Decodes a record file, checking its trailing checksum first.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 32 + 12 {
            return Err(Error::Malformed {
                object: ObjectKind::LogRecord,
                offset: 0,
                detail: format!(
                    "{} bytes is too short for a record (truncated?)",
                    bytes.len()
                ),
            });
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        let mut d = Decoder::new(body, ObjectKind::LogRecord);
        let version = check_magic_and_version_upto(
            &mut d,
            ObjectKind::LogRecord,
            RECORD_MAGIC,
            RECORD_VERSION,
        )?;
        if blake3::hash(body).as_bytes() != sum {
            return Err(Error::ChecksumMismatch {
                object: ObjectKind::LogRecord,
            });
        }
        let seq = d.u64()?;
        if seq == 0 {
            return Err(d.error("sequence numbers start at 1"));
        }
        let prev = RecordHash(d.hash()?);
        let time_micros = d.i64()?;
        let author = d.str()?;
        let message = d.str()?;
        let kind = match d.u8()? {
            KIND_COMMIT => {
                let snapshot = SnapshotId(d.hash()?);
                let parent = d.u64()?;
                if parent >= seq {
                    return Err(d.error(format!("parent commit {parent} is not before {seq}")));
                }
                let n = d.len(29)?;
                let mut changes: Vec<TableChange> = Vec::with_capacity(n);
                for _ in 0..n {
                    let table = d.str()?;
                    if changes.last().is_some_and(|c| c.table >= table) {
                        return Err(d.error("table changes out of order or repeated"));
                    }
                    let op = match d.u8()? {
                        1 => TableOp::Create,
                        2 => TableOp::Append,
                        3 => TableOp::Overwrite,
                        b => return Err(d.error(format!("unknown table op {b}"))),
                    };
                    changes.push(TableChange {
                        table,
                        op,
                        segments: d.u64()?,
                        rows: d.u64()?,
                        bytes: d.u64()?,
                    });
                }
                let nt = d.len(4)?;
                let tags = (0..nt).map(|_| d.str()).collect::<Result<Vec<_>>>()?;
                for t in &tags {
                    crate::validate_tag_name(t.as_bytes()).map_err(|e| d.error(e.to_string()))?;
                }
                let mut upstream: Vec<Upstream> = Vec::new();
                if version >= 2 {
                    let n = d.len(37)?;
                    for _ in 0..n {
                        let u = Upstream {
                            store: d.str()?,
                            snapshot: SnapshotId(d.hash()?),
                            table: d.opt(super::codec::Decoder::str)?,
                        };
                        if u.store.is_empty() {
                            return Err(d.error("an upstream snapshot names no store"));
                        }
                        if let Some(t) = &u.table {
                            crate::validate_table_name(t).map_err(|e| d.error(e.to_string()))?;
                        }
                        if upstream.last().is_some_and(|l| *l >= u) {
                            return Err(d.error("upstream snapshots out of order or repeated"));
                        }
                        upstream.push(u);
                    }
                    if upstream.is_empty() {
                        return Err(d.error(
                            "a version 2 commit names no upstream snapshot (it is written as version 1)",
                        ));
                    }
                }
                RecordKind::Commit {
                    snapshot,
                    parent_commit: (parent != 0).then_some(parent),
                    changes,
                    tags,
                    upstream,
                }
            }
            KIND_EXPIRE if version >= 2 => {
                let n = d.len(32)?;
                let mut snapshots: Vec<SnapshotId> = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = SnapshotId(d.hash()?);
                    if snapshots.last().is_some_and(|l| l.0 >= id.0) {
                        return Err(d.error("expired snapshots out of order or repeated"));
                    }
                    snapshots.push(id);
                }
                if snapshots.is_empty() {
                    return Err(d.error("an expire record names no snapshot"));
                }
                RecordKind::Expire {
                    snapshots,
                    purge: d.bool()?,
                }
            }
            KIND_TAG => {
                let name = d.str()?;
                let mut t = [None, None];
                for slot in &mut t {
                    *slot = d.opt(|d| {
                        Ok(TagTarget {
                            snapshot: SnapshotId(d.hash()?),
                            seq: d.u64()?,
                        })
                    })?;
                }
                let [target, previous] = t;
                crate::validate_tag_name(name.as_bytes()).map_err(|e| d.error(e.to_string()))?;
                if target.is_none() && previous.is_none() {
                    return Err(d.error("a tag record needs a target or a previous target"));
                }
                if [target, previous].iter().flatten().any(|t| t.seq >= seq) {
                    return Err(d.error("a tag names a commit at or after its own record"));
                }
                RecordKind::Tag {
                    name,
                    target,
                    previous,
                }
            }
            b => return Err(d.error(format!("unknown record kind {b}"))),
        };
        d.finish()?;
        Ok(LogRecord {
            seq,
            prev,
            time_micros,
            author,
            message,
            kind,
        })
    }

    /// The snapshot a commit record makes HEAD.
    pub fn snapshot(&self) -> Option<SnapshotId> {
        match &self.kind {
            RecordKind::Commit { snapshot, .. } => Some(*snapshot),
            RecordKind::Tag { .. } | RecordKind::Expire { .. } => None,
        }
    }
}
