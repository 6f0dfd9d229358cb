//! The library's one error type. Every variant says what happened and names the object (file,
//! ref, tag, store). What to do next is the front end's to say, in its own terms: the CLI's
//! `hint:` lines name flags and commands, Python's name keywords; the library keeps only
//! advice about the data itself ([`Error::hint`]).

use std::path::PathBuf;

/// Errors from dstore operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on a path failed.
    #[error("could not {op} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "create", ...).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The directory is not a dstore store.
    #[error("{} is not a dstore store (no DSTORE marker)", path.display())]
    NotAStore {
        /// Where we looked.
        path: PathBuf,
    },
    /// `init` on a directory that already holds something.
    #[error("{} already exists and is not empty", path.display())]
    AlreadyExists {
        /// The path.
        path: PathBuf,
    },
    /// A stored object does not match its name or does not decode.
    #[error("{} is corrupted: {detail}", path.display())]
    Corrupted {
        /// The object.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The store or an object was written by a newer dstore.
    #[error("{} has format version {found}; this build of dstore reads versions {min_supported} to {max_supported}", path.display())]
    UnsupportedFormat {
        /// The object.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Oldest readable.
        min_supported: u32,
        /// Newest readable.
        max_supported: u32,
    },
    /// A ref, table or tag that does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. "tag `v3`".
        what: String,
    },
    /// An id prefix that matches more than one snapshot.
    #[error("id prefix `{prefix}` is ambiguous; it matches {}", candidates.join(", "))]
    AmbiguousRef {
        /// The prefix given.
        prefix: String,
        /// Full ids it matches (at most a handful).
        candidates: Vec<String>,
    },
    /// Bad input from the user: a file that cannot be read as data, a bad name, a bad flag.
    #[error("{}{detail}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    InvalidInput {
        /// The input file, when there is one.
        path: Option<PathBuf>,
        /// What is wrong, with line and column where they apply.
        detail: String,
        /// What to do about it.
        hint: Option<String>,
    },
    /// Input whose schema does not match the table's.
    #[error("{}: schema does not match table `{table}`:\n  {}", path.display(), differences.join("\n  "))]
    SchemaMismatch {
        /// The table.
        table: String,
        /// The input.
        path: PathBuf,
        /// One line per differing field.
        differences: Vec<String>,
    },
    /// Input columns of types that converted segments cannot hold so that Parquet readers give
    /// them back as they are (`docs/inputs.md`). Nothing was staged for the input.
    #[error("{}: {}", path.display(), crate::ingest::types::describe(columns))]
    UnstorableType {
        /// The input.
        path: PathBuf,
        /// Each refused column, in schema order.
        columns: Vec<crate::ingest::types::Unstorable>,
        /// What to store instead, for each column, in terms of the data.
        advice: String,
    },
    /// A Parquet input that the Arrow C++ readers (pyarrow and those built on it) refuse to
    /// read, though it decodes here: adopted as it is, no training job could read the
    /// checkout. Re-encoding it gives the layout they read.
    #[error("{}: column `{column}`: pyarrow (Arrow C++) refuses to read this file: {problem}", path.display())]
    ReadersRefuse {
        /// The input.
        path: PathBuf,
        /// The column path (`a.b.c`).
        column: String,
        /// Arrow C++'s message.
        problem: String,
    },
    /// A tag that exists already (move it with `force`).
    #[error("tag `{name}` already exists (points at {target})")]
    TagExists {
        /// The tag.
        name: String,
        /// Its current target.
        target: String,
    },
    /// A commit could not find a free sequence number after many attempts.
    #[error("commit conflicted with concurrent writers {attempts} times in a row")]
    CommitConflict {
        /// Attempts made.
        attempts: u32,
    },
    /// Writing an input's data into the store failed (disk full, file size limit, read-only
    /// store). Nothing was committed.
    #[error("{}: could not {op} {}: {source}", input.display(), path.display())]
    IngestIo {
        /// The input being ingested.
        input: PathBuf,
        /// What was being done ("write segment", ...).
        op: &'static str,
        /// The store file being written.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An object store that does not honour put-if-absent, where concurrent commits could
    /// silently overwrite each other.
    #[error(
        "{url}: refusing to write: the backend does not honour put-if-absent ({detail}), so two writers could both commit the same log record and one commit would be lost"
    )]
    UnsafeBackend {
        /// The store.
        url: String,
        /// What the probe saw.
        detail: String,
    },
    /// The catalog (RocksDB) failed.
    #[error("catalog {}: {detail}", path.display())]
    Catalog {
        /// The catalog directory.
        path: PathBuf,
        /// RocksDB's message.
        detail: String,
    },
    /// `@SEQ` names a tag event, where a commit was needed.
    #[error("@{seq} is a tag event, not a commit")]
    NotACommit {
        /// The record's sequence number.
        seq: u64,
    },
    /// A directory holds several stores, so the store to use is ambiguous.
    #[error("{}: holds several stores: {}", dir.display(), stores.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    SeveralStores {
        /// The directory searched.
        dir: PathBuf,
        /// The stores found in it.
        stores: Vec<PathBuf>,
    },
    /// A commit with no data staged for any table.
    #[error("nothing to commit: no data was added")]
    NothingToCommit,
    /// A directory holding files of types dstore does not read, given without
    /// `IngestOptions::skip_unknown`.
    #[error("{}: holds {} file(s) of unknown type: {}", dir.display(), files.len(), first_names(files))]
    UnknownFiles {
        /// The directory given as input.
        dir: PathBuf,
        /// The files of unknown type under it, in walk order.
        files: Vec<PathBuf>,
    },
    /// An input whose data the table already holds: the same segment (by BLAKE3) is in the
    /// table at HEAD, or was added to it earlier in the same transaction. Appending it again
    /// would hold every row of it twice.
    #[error("{0}")]
    DuplicateData(Box<DuplicateData>),
    /// A checkout into a directory that already holds files.
    #[error("{}: {detail}", dir.display())]
    CheckoutTargetNotEmpty {
        /// The directory.
        dir: PathBuf,
        /// What is there.
        detail: String,
    },
    /// A `--key` value found on two rows of one snapshot's rows being compared: rows with
    /// the same key cannot be paired.
    #[error("table `{table}` in {snapshot}: key {key} is on more than one row (row {row} is one)")]
    DuplicateKey {
        /// The table.
        table: String,
        /// The snapshot holding the duplicate (full id).
        snapshot: String,
        /// The key's value, `col=value, ...`.
        key: String,
        /// The global row number (storage order) of one of the rows.
        row: u64,
    },
    /// A directory for diff output that already holds something (or is not a directory).
    #[error("{}: {detail}", dir.display())]
    OutputNotEmpty {
        /// The directory.
        dir: PathBuf,
        /// What is there.
        detail: String,
    },
    /// A directory that is not a checkout, given where one was expected.
    #[error("{}: {detail}", dir.display())]
    NotACheckout {
        /// The directory.
        dir: PathBuf,
        /// What is missing or wrong.
        detail: String,
    },
    /// A lock file that cannot be used as it is: unreadable, of another version, or no
    /// longer matching the stores or the config it was made from.
    #[error("{}{detail}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Lock {
        /// The lock file, when it was read from one.
        path: Option<PathBuf>,
        /// What is wrong, in general.
        problem: LockProblem,
        /// What is wrong, in detail (each entry that differs, and how).
        detail: String,
    },
    /// An object-storage client that cannot be set up as configured (region, endpoint,
    /// credentials, cache directory).
    #[error("{url}: {detail}")]
    RemoteConfig {
        /// The store URL.
        url: String,
        /// What is missing or wrong.
        detail: String,
        /// Which part of the configuration is at fault.
        setting: RemoteSetting,
    },
    /// A snapshot that `dstore expire` expired: its record and manifest stay (history still
    /// reads), but its data may have been removed by `gc`, so it is not read.
    #[error(
        "snapshot {} was expired on {} by {author} ({}); its data may have been removed by gc",
        &snapshot[..16.min(snapshot.len())],
        crate::error::utc(*time_micros),
        if reason.is_empty() { "no reason given" } else { reason }
    )]
    Expired {
        /// The snapshot (full id).
        snapshot: String,
        /// The expire record's sequence number.
        seq: u64,
        /// When it was expired, UTC microseconds since the epoch.
        time_micros: i64,
        /// Who expired it.
        author: String,
        /// The expire record's message.
        reason: String,
    },
    /// A prepared segment ([`crate::Transaction::add_prepared`]) that the store does not hold
    /// as its description says. Nothing was committed.
    #[error("{}: segment {}… (from {}) {detail}", description.display(), &segment.to_hex()[..16], input.display())]
    PreparedMismatch {
        /// The description file.
        description: PathBuf,
        /// The segment.
        segment: dstore_format::SegmentId,
        /// The input it was prepared from.
        input: PathBuf,
        /// What is wrong, in general.
        problem: PreparedProblem,
        /// What is wrong, in detail.
        detail: String,
    },
    /// The operation was stopped through its [`crate::ingest::Cancel`] token (the CLI sets it
    /// on SIGINT and SIGTERM) before it committed anything; its staged files are removed.
    #[error("interrupted; nothing was committed")]
    Interrupted,
    /// A failure inside dstore or a library it uses that no input should cause (a bug).
    /// Nothing was committed.
    #[error("internal error: {detail}")]
    Internal {
        /// What failed, with the underlying message.
        detail: String,
    },
}

/// A time in UTC microseconds since the epoch as RFC 3339, seconds precision.
pub(crate) fn utc(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).map_or_else(
        || format!("{micros} µs after the epoch"),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// Up to five names, then how many more.
fn first_names(files: &[PathBuf]) -> String {
    const SHOWN: usize = 5;
    let mut s = files
        .iter()
        .take(SHOWN)
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if files.len() > SHOWN {
        let _ =
            std::fmt::Write::write_fmt(&mut s, format_args!(" and {} more", files.len() - SHOWN));
    }
    s
}

/// The details of [`Error::DuplicateData`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateData {
    /// The table.
    pub table: String,
    /// The input.
    pub path: PathBuf,
    /// The segment its data makes.
    pub segment: dstore_format::SegmentId,
    /// Rows in it.
    pub rows: u64,
    /// When the table holds it at HEAD: the sequence number and snapshot of the first commit
    /// that added this segment (to any table).
    pub committed: Option<(u64, dstore_format::SnapshotId)>,
    /// When an input added earlier in the same transaction gave the same segment: that input.
    pub earlier: Option<PathBuf>,
}

impl std::fmt::Display for DuplicateData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (path, table, rows) = (self.path.display(), &self.table, self.rows);
        let seg = &self.segment.to_hex()[..16];
        match (&self.earlier, &self.committed) {
            (Some(e), _) => write!(
                f,
                "{path}: holds the same data as {}, already added to table `{table}` in this snapshot (segment {seg}…, {rows} rows)",
                e.display()
            ),
            (None, Some((seq, id))) => write!(
                f,
                "{path}: table `{table}` already holds this data (segment {seg}…, {rows} rows), first committed at @{seq} ({}…)",
                &id.to_hex()[..8]
            ),
            (None, None) => write!(
                f,
                "{path}: table `{table}` already holds this data (segment {seg}…, {rows} rows)"
            ),
        }
    }
}

/// What is wrong with a prepared segment, for [`Error::PreparedMismatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreparedProblem {
    /// The store has no such segment: prepared for another store, or removed by gc once its
    /// grace period passed with no commit naming it.
    Missing,
    /// The stored segment has another size than described.
    Size,
    /// In object storage, the segment was placed too long ago for a commit to be sure that a
    /// gc elsewhere has not removed it by the time the commit lands.
    Stale,
    /// The stored segment's footer does not match the described entry (rows, row groups,
    /// column chunks, statistics, schema).
    Footer,
}

/// What is wrong with a lock file, for [`Error::Lock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockProblem {
    /// The file is not a lock file (bad TOML or fields).
    Unreadable,
    /// Written by another version of the lock format.
    Version,
    /// Two entries of the same name.
    DuplicateEntry,
    /// The named entry is not in the lock.
    NoEntry,
    /// An entry no longer matches its store (snapshot gone, rows or schema differ).
    Stale,
    /// The config's pins are not the ones the lock was made from.
    ConfigChanged,
}

/// The part of an object-storage configuration at fault, for [`Error::RemoteConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteSetting {
    /// Region, endpoint or credentials of the S3 client.
    Client,
    /// Where the local catalog cache of a remote store goes.
    CacheDir,
}

impl Error {
    /// Advice about the input that came with the error, in terms of the data (not of any
    /// front end): what a file must look like, what the table holds. Front ends add their own
    /// next steps per variant (the CLI names flags, Python keywords).
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::InvalidInput { hint, .. } => hint.as_deref(),
            Error::UnstorableType { advice, .. } => Some(advice),
            Error::ReadersRefuse { .. } => Some(
                "re-encoded, it is written in the standard layout those readers accept; or re-export it from its source",
            ),
            Error::PreparedMismatch {
                problem: PreparedProblem::Missing | PreparedProblem::Stale,
                ..
            } => Some(
                "prepare the input again into this store: a prepared segment is kept only for gc's grace period until a commit names it",
            ),
            Error::PreparedMismatch { .. } => Some(
                "the description does not come unchanged from `prepare`; prepare the input again",
            ),
            _ => None,
        }
    }

    /// Whether this is damage to the store (exit code 2) rather than a user error (exit code 1).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupted { .. } | Error::Catalog { .. })
    }

    /// Whether this is a failure of dstore itself rather than of the input or the store (exit
    /// code 2, like corruption).
    pub fn is_internal(&self) -> bool {
        matches!(self, Error::Internal { .. })
    }

    /// An I/O error on a store file while ingesting `input` becomes [`Error::IngestIo`], so the
    /// message names the input too; other errors pass through.
    pub(crate) fn ingesting(input: &std::path::Path) -> impl Fn(Error) -> Error + '_ {
        move |e| match e {
            Error::Io { op, path, source } if path != input => Error::IngestIo {
                input: input.to_owned(),
                op,
                path,
                source,
            },
            other => other,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    /// Bad input that is not a file: an argument, a name, an option's value.
    pub(crate) fn invalid(detail: impl Into<String>) -> Error {
        Error::InvalidInput {
            path: None,
            detail: detail.into(),
            hint: None,
        }
    }

    /// A failure that no input should cause, from `what` (e.g. "assembling a batch").
    pub(crate) fn internal(what: &str, e: impl std::fmt::Display) -> Error {
        Error::Internal {
            detail: format!("{what}: {e}"),
        }
    }

    pub(crate) fn input(path: impl Into<PathBuf>, detail: impl Into<String>) -> Error {
        Error::InvalidInput {
            path: Some(path.into()),
            detail: detail.into(),
            hint: None,
        }
    }

    pub(crate) fn with_hint(self, h: impl Into<String>) -> Error {
        match self {
            Error::InvalidInput { path, detail, .. } => Error::InvalidInput {
                path,
                detail,
                hint: Some(h.into()),
            },
            other => other,
        }
    }

    /// Maps a format decode error about the object at `path`.
    pub(crate) fn format(path: impl Into<PathBuf>, e: dstore_format::Error) -> Error {
        let path = path.into();
        match e {
            dstore_format::Error::UnsupportedVersion {
                found,
                min_supported,
                max_supported,
                ..
            } => Error::UnsupportedFormat {
                path,
                found,
                min_supported,
                max_supported,
            },
            other => Error::Corrupted {
                path,
                detail: other.to_string(),
            },
        }
    }
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
