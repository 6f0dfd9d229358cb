//! Use records and retirements (docs/format.md §17): which run read which snapshot.
//!
//! A **use record** says that a run (a training job, an evaluation, a notebook) read a
//! snapshot: its identity (snapshot, run id, tables, columns, filter, seed, lock-file hash) and
//! the facts of the first process that recorded it (time, author, host, code version, labels).
//! Its key derives from the identity alone, so the 64 ranks of one run writing "the same" use
//! produce one object: the first put wins and the others find it there.
//!
//! A **retirement** says that a run no longer needs a snapshot. Nothing is edited: the use
//! records stay, and a use is live while no retirement of its (snapshot, run) exists.
//!
//! ```text
//! use record (uses/<snapshot>/<run hash>-<use id>.use)
//! 0    8    magic b"DSTUSERC"
//! 8    4    version u32 (1)
//! 12   32   snapshot id
//! ..        run str, tables seq<str>, columns seq<str>, filter opt<str>, seed opt<u64>,
//!           lock opt<hash>                         -- identity ends here: use id = BLAKE3(0..)
//! ..        time i64, author str, host str, code opt<str>, labels seq<(str, str)>
//! end-32    BLAKE3 of every byte before it
//!
//! retirement (uses/<snapshot>/<run hash>.retire)
//! 0    8    magic b"DSTUSERT"
//! 8    4    version u32 (1)
//! 12   32   snapshot id
//! ..        run str, time i64, author str, reason str
//! end-32    BLAKE3 of every byte before it
//! ```

use crate::codec::{Decoder, Encoder};
use crate::error::{Error, ObjectKind, Result};
use crate::id::SnapshotId;
use crate::{FORMAT_VERSION, check_magic_and_version};

/// Magic at the start of a use record.
pub const USE_MAGIC: [u8; 8] = *b"DSTUSERC";
/// Magic at the start of a retirement.
pub const RETIRE_MAGIC: [u8; 8] = *b"DSTUSERT";
/// Longest run id, in bytes.
pub const MAX_RUN_LEN: usize = 255;
/// Longest label value, in bytes.
pub const MAX_LABEL_LEN: usize = 4096;

/// A run read a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseRecord {
    /// The snapshot read.
    pub snapshot: SnapshotId,
    /// The run (from `--run`, `DSTORE_RUN`, MLflow, W&B, torchelastic or Slurm).
    pub run: String,
    /// Tables read, sorted and unique; empty when the whole snapshot was opened.
    pub tables: Vec<String>,
    /// Columns read, sorted and unique; empty for all of them.
    pub columns: Vec<String>,
    /// The row filter, as the reader wrote it.
    pub filter: Option<String>,
    /// The shuffle seed.
    pub seed: Option<u64>,
    /// BLAKE3 of the lock file the pins came from.
    pub lock: Option<[u8; 32]>,
    /// When the first process recorded it, UTC microseconds since the epoch.
    pub time_micros: i64,
    /// Who (the user name of that process).
    pub author: String,
    /// Where (its host name).
    pub host: String,
    /// The code version: the git commit of the working directory, when it is a checkout.
    pub code: Option<String>,
    /// Free labels, keys sorted and unique.
    pub labels: Vec<(String, String)>,
}

/// A run no longer needs a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retirement {
    /// The snapshot.
    pub snapshot: SnapshotId,
    /// The run.
    pub run: String,
    /// When, UTC microseconds since the epoch.
    pub time_micros: i64,
    /// Who retired it.
    pub author: String,
    /// Why (free text, may be empty).
    pub reason: String,
}

/// The BLAKE3 of a run id's UTF-8: the part of use and retirement keys that names the run.
pub fn run_hash(run: &str) -> [u8; 32] {
    *blake3::hash(run.as_bytes()).as_bytes()
}

/// Checks a run id: 1 to 255 bytes of UTF-8 with no control characters and no whitespace at
/// either end. The error says what is wrong.
pub fn validate_run_id(run: &str) -> std::result::Result<(), String> {
    if run.is_empty() {
        return Err("a run id cannot be empty".into());
    }
    if run.len() > MAX_RUN_LEN {
        return Err(format!(
            "a run id is at most {MAX_RUN_LEN} bytes, this one is {}",
            run.len()
        ));
    }
    if let Some(c) = run.chars().find(|c| c.is_control()) {
        return Err(format!(
            "a run id cannot contain control characters ({c:?})"
        ));
    }
    if run.trim() != run {
        return Err("a run id cannot start or end with whitespace".into());
    }
    Ok(())
}

/// Checks a label: a key of 1 to 128 bytes of `[A-Za-z0-9_.-]`, a value of at most 4096 bytes
/// with no control characters.
pub fn validate_label(key: &str, value: &str) -> std::result::Result<(), String> {
    if key.is_empty()
        || key.len() > 128
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(format!(
            "label key {key:?} must be 1 to 128 characters of letters, digits, `_`, `.` and `-`"
        ));
    }
    if value.len() > MAX_LABEL_LEN {
        return Err(format!(
            "label {key:?} is {} bytes, at most {MAX_LABEL_LEN} are kept",
            value.len()
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "label {key:?} contains a control character ({c:?})"
        ));
    }
    Ok(())
}

fn sorted_unique(v: &[String]) -> Vec<&String> {
    let mut s: Vec<&String> = v.iter().collect();
    s.sort();
    s.dedup();
    s
}

fn decode_sorted_strs(d: &mut Decoder<'_>, what: &str) -> Result<Vec<String>> {
    let n = d.len(4)?;
    let mut out: Vec<String> = Vec::with_capacity(n);
    for _ in 0..n {
        let s = d.str()?;
        if out.last().is_some_and(|l| *l >= s) {
            return Err(d.error(format!("{what} out of order or repeated")));
        }
        out.push(s);
    }
    Ok(out)
}

fn checked_body(bytes: &[u8], object: ObjectKind) -> Result<&[u8]> {
    if bytes.len() < 12 + 32 + 32 {
        return Err(Error::Malformed {
            object,
            offset: 0,
            detail: format!("{} bytes is too short (truncated?)", bytes.len()),
        });
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if blake3::hash(body).as_bytes() != sum {
        return Err(Error::ChecksumMismatch { object });
    }
    Ok(body)
}

impl UseRecord {
    fn encode_identity(&self, e: &mut Encoder) {
        e.raw(&USE_MAGIC);
        e.u32(FORMAT_VERSION);
        e.hash(&self.snapshot.0);
        e.str(&self.run);
        for list in [&self.tables, &self.columns] {
            let s = sorted_unique(list);
            e.len(s.len());
            for t in s {
                e.str(t);
            }
        }
        e.opt(self.filter.as_ref(), |e, f| e.str(f));
        e.opt(self.seed.as_ref(), |e, s| e.u64(*s));
        e.opt(self.lock.as_ref(), super::codec::Encoder::hash);
    }

    /// The use id: BLAKE3 of the identity bytes (magic through `lock`). Two records of the
    /// same run reading the same data the same way have the same id, whoever wrote them.
    pub fn id(&self) -> [u8; 32] {
        let mut e = Encoder::new();
        self.encode_identity(&mut e);
        *blake3::hash(e.as_bytes()).as_bytes()
    }

    /// The file's exact bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.encode_identity(&mut e);
        e.i64(self.time_micros);
        e.str(&self.author);
        e.str(&self.host);
        e.opt(self.code.as_ref(), |e, c| e.str(c));
        let mut labels: Vec<&(String, String)> = self.labels.iter().collect();
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        labels.dedup_by(|a, b| a.0 == b.0);
        e.len(labels.len());
        for (k, v) in labels {
            e.str(k);
            e.str(v);
        }
        let sum = blake3::hash(e.as_bytes());
        e.raw(sum.as_bytes());
        e.into_bytes()
    }

    /// Decodes a use record, checking its checksum, order and names; also returns its use id.
    pub fn decode(bytes: &[u8]) -> Result<(UseRecord, [u8; 32])> {
        let body = checked_body(bytes, ObjectKind::UseRecord)?;
        let mut d = Decoder::new(body, ObjectKind::UseRecord);
        check_magic_and_version(&mut d, ObjectKind::UseRecord, USE_MAGIC)?;
        let snapshot = SnapshotId(d.hash()?);
        let run = d.str()?;
        validate_run_id(&run).map_err(|e| d.error(e))?;
        let tables = decode_sorted_strs(&mut d, "tables")?;
        for t in &tables {
            crate::validate_table_name(t).map_err(|e| d.error(e.to_string()))?;
        }
        let columns = decode_sorted_strs(&mut d, "columns")?;
        let filter = d.opt(super::codec::Decoder::str)?;
        let seed = d.opt(super::codec::Decoder::u64)?;
        let lock = d.opt(super::codec::Decoder::hash)?;
        let id = *blake3::hash(&body[..d.position()]).as_bytes();
        let time_micros = d.i64()?;
        let author = d.str()?;
        let host = d.str()?;
        let code = d.opt(super::codec::Decoder::str)?;
        let n = d.len(8)?;
        let mut labels: Vec<(String, String)> = Vec::with_capacity(n);
        for _ in 0..n {
            let k = d.str()?;
            let v = d.str()?;
            if labels.last().is_some_and(|(l, _)| *l >= k) {
                return Err(d.error("labels out of order or repeated"));
            }
            validate_label(&k, &v).map_err(|e| d.error(e))?;
            labels.push((k, v));
        }
        d.finish()?;
        Ok((
            UseRecord {
                snapshot,
                run,
                tables,
                columns,
                filter,
                seed,
                lock,
                time_micros,
                author,
                host,
                code,
                labels,
            },
            id,
        ))
    }
}

impl Retirement {
    /// The file's exact bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.raw(&RETIRE_MAGIC);
        e.u32(FORMAT_VERSION);
        e.hash(&self.snapshot.0);
        e.str(&self.run);
        e.i64(self.time_micros);
        e.str(&self.author);
        e.str(&self.reason);
        let sum = blake3::hash(e.as_bytes());
        e.raw(sum.as_bytes());
        e.into_bytes()
    }

    /// Decodes a retirement, checking its checksum and run id.
    pub fn decode(bytes: &[u8]) -> Result<Retirement> {
        let body = checked_body(bytes, ObjectKind::Retirement)?;
        let mut d = Decoder::new(body, ObjectKind::Retirement);
        check_magic_and_version(&mut d, ObjectKind::Retirement, RETIRE_MAGIC)?;
        let snapshot = SnapshotId(d.hash()?);
        let run = d.str()?;
        validate_run_id(&run).map_err(|e| d.error(e))?;
        let r = Retirement {
            snapshot,
            run,
            time_micros: d.i64()?,
            author: d.str()?,
            reason: d.str()?,
        };
        d.finish()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> UseRecord {
        UseRecord {
            snapshot: SnapshotId([7; 32]),
            run: "exp-42".into(),
            tables: vec!["b".into(), "a".into()],
            columns: vec![],
            filter: Some("id < 10".into()),
            seed: Some(3),
            lock: None,
            time_micros: 1_767_225_600_000_000,
            author: "ann".into(),
            host: "gpu-1".into(),
            code: Some("0123abcd".into()),
            labels: vec![("stage".into(), "train".into())],
        }
    }

    #[test]
    fn use_record_round_trips_and_its_id_ignores_who_and_when() {
        let u = sample();
        let (back, id) = UseRecord::decode(&u.encode()).unwrap();
        assert_eq!(back.tables, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(id, u.id());
        let mut other = u.clone();
        other.time_micros += 5;
        other.host = "gpu-2".into();
        other.labels.clear();
        assert_eq!(other.id(), u.id(), "facts are not identity");
        assert_ne!(other.encode(), u.encode());
        other.seed = Some(4);
        assert_ne!(other.id(), u.id(), "the seed is identity");
    }

    #[test]
    fn damaged_use_records_are_refused() {
        let mut b = sample().encode();
        let n = b.len();
        b[n - 40] ^= 1;
        assert!(matches!(
            UseRecord::decode(&b),
            Err(Error::ChecksumMismatch { .. })
        ));
        let mut bad = sample();
        bad.run = "exp\n42".into();
        let e = UseRecord::decode(&bad.encode()).unwrap_err().to_string();
        assert!(e.contains("control characters"), "{e}");
        assert!(UseRecord::decode(&b[..30]).is_err());
    }

    #[test]
    fn retirement_round_trips() {
        let r = Retirement {
            snapshot: SnapshotId([1; 32]),
            run: "exp-42".into(),
            time_micros: 5,
            author: "bob".into(),
            reason: "model retired".into(),
        };
        assert_eq!(Retirement::decode(&r.encode()).unwrap(), r);
        assert!(Retirement::decode(&sample().encode()).is_err());
    }

    #[test]
    fn run_ids_are_checked() {
        assert!(validate_run_id("exp-42").is_ok());
        assert!(validate_run_id("").is_err());
        assert!(validate_run_id(" x").is_err());
        assert!(validate_run_id("a\u{7}b").is_err());
        assert!(validate_run_id(&"x".repeat(256)).is_err());
    }
}
