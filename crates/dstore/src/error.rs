//! The library's one error type. Every variant that involves a file names it; every message
//! says what to do next through [`Error::hint`].

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
}

impl Error {
    /// A one-line suggestion of what to do next, for the CLI's `hint:` line.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::NotAStore { path } if is_store_url(path) => {
                "check the bucket and prefix (and the endpoint), or create a store there with `dstore init URL`".into()
            }
            Error::NotAStore { .. } => {
                "create one with `dstore init DIR`, or pass --store / set DSTORE_STORE".into()
            }
            Error::AlreadyExists { path } if is_store_url(path) => {
                "choose a prefix that holds no object yet".into()
            }
            Error::AlreadyExists { .. } => "choose a new or empty directory".into(),
            Error::Corrupted { .. } => {
                "run `dstore verify --all` to list every damaged object; restore them from a copy of the store".into()
            }
            Error::UnsupportedFormat { .. } => "upgrade dstore to a version that reads this format".into(),
            Error::NotFound { .. } => "`dstore log` lists commits, `dstore tag` lists tags".into(),
            Error::AmbiguousRef { .. } => "give more hex digits of the id".into(),
            Error::InvalidInput { hint, .. } => return hint.clone(),
            Error::SchemaMismatch { .. } => {
                "convert the input to the table's schema, use `--mode overwrite` to replace the table, or `--rewrite` to cast Parquet input".into()
            }
            Error::TagExists { .. } => "pass --force to move it (the move is recorded in the log)".into(),
            Error::CommitConflict { .. } => "retry; other writers are committing to this store".into(),
            Error::UnsafeBackend { .. } => {
                "use a backend with conditional writes (AWS S3, Ceph RGW, MinIO, R2), or, if only one process ever writes to this store, pass --single-writer (DSTORE_SINGLE_WRITER=1)".into()
            }
            Error::Catalog { .. } => {
                "the catalog is derived from the log: `dstore reindex` rebuilds it".into()
            }
            Error::Io { source, path, .. } | Error::IngestIo { source, path, .. } => {
                return remote_hint(path, source).or_else(|| io_hint(source));
            }
        })
    }

    /// Whether this is damage to the store (exit code 2) rather than a user error (exit code 1).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupted { .. } | Error::Catalog { .. })
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

/// What to do about a failed request to object storage (the path is a store URL).
fn is_store_url(path: &std::path::Path) -> bool {
    path.to_str().is_some_and(crate::storage::url::is_url)
}

fn remote_hint(path: &std::path::Path, e: &std::io::Error) -> Option<String> {
    if !is_store_url(path) {
        return None;
    }
    Some(match e.kind() {
        std::io::ErrorKind::NotFound => {
            "the object is missing from the bucket: `dstore verify --all` lists every missing object".into()
        }
        std::io::ErrorKind::PermissionDenied => {
            "the object store refused the credentials: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) and that they may read and write this bucket and prefix".into()
        }
        _ => {
            "check that the endpoint answers (--endpoint, DSTORE_S3_ENDPOINT or AWS_ENDPOINT_URL; http:// endpoints need no TLS), the region (AWS_REGION) and the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".into()
        }
    })
}

/// What to do about an OS error, for the kinds a user can act on.
fn io_hint(e: &std::io::Error) -> Option<String> {
    use std::io::ErrorKind as K;
    // EPERM: what an immutable (chattr +i) file or a locked-down mount gives even to root.
    const EPERM: i32 = 1;
    Some(match e.kind() {
        K::StorageFull | K::FileTooLarge | K::QuotaExceeded => {
            "the disk holding the store is full or a file size limit (`ulimit -f`) was reached: free space and run the command again; nothing was committed, and `dstore gc --grace 0s` removes what was left in tmp/".into()
        }
        K::PermissionDenied | K::ReadOnlyFilesystem => {
            "check the permissions of the file and its directory; a store you may only read can still be read (log, show, cat, checkout)".into()
        }
        _ if e.raw_os_error() == Some(EPERM) => {
            "the file or its directory may not be changed (permissions, immutable attribute or read-only mount); a store you may only read can still be read".into()
        }
        _ => return None,
    })
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
