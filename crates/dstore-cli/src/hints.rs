//! The `hint:` line under a library error: what to do next, in the CLI's terms (flags,
//! commands, environment variables). The library says what happened to which object; the
//! wording of next steps lives here, per variant (Python's, in Python's terms, lives in
//! `dstore-py`).

use std::io::ErrorKind as K;
use std::path::Path;

use dstore::{Error, error::LockProblem, error::RemoteSetting};

/// The hint for `e`: the CLI's advice for its variant, else the library's advice about the
/// input, if any.
pub(crate) fn hint(e: &Error) -> Option<String> {
    cli_hint(e).or_else(|| e.hint().map(str::to_owned))
}

fn cli_hint(e: &Error) -> Option<String> {
    Some(
        match e {
            Error::NotAStore { path } if is_url(path) => {
                "check the bucket and prefix (and the endpoint), or create a store there with `dstore init URL`"
            }
            Error::NotAStore { .. } => {
                "create one with `dstore init DIR`, or pass --store / set DSTORE_STORE"
            }
            Error::AlreadyExists { path } if is_url(path) => "choose a prefix that holds no object yet",
            Error::AlreadyExists { .. } => "choose a new or empty directory",
            Error::Corrupted { .. } => {
                "run `dstore verify --all` to list every damaged object; restore them from a copy of the store"
            }
            Error::UnsupportedFormat { .. } => "upgrade dstore to a version that reads this format",
            Error::NotFound { .. } => "`dstore log` lists commits, `dstore tag` lists tags",
            Error::Expired { .. } => {
                "pin a snapshot that is not expired (`dstore log` lists expiries); `dstore expire --keep-lock FILE` and `dstore uses` protect the snapshots runs need"
            }
            Error::AmbiguousRef { .. } => "give more hex digits of the id",
            Error::SchemaMismatch { .. } => {
                "convert the input to the table's schema, use `--mode overwrite` to replace the table, or `--rewrite` to cast Parquet input"
            }
            Error::UnstorableType {
                advice, columns, ..
            } => {
                let casts: Vec<String> = columns
                    .iter()
                    .filter_map(|c| c.cast_to.as_ref())
                    .map(|c| format!("--cast '{c}'"))
                    .collect();
                if casts.is_empty() {
                    return Some(advice.clone());
                }
                return Some(format!(
                    "{advice}. To store {} so, pass {} (every value is checked to convert exactly); or convert at the source",
                    if casts.len() == 1 { "it" } else { "them" },
                    casts.join(" ")
                ));
            }
            Error::ReadersRefuse { .. } => {
                "pass --rewrite to re-encode it in the standard layout those readers accept (every value is kept), or --no-validate to adopt it as it is"
            }
            Error::TagExists { .. } => "pass --force to move it (the move is recorded in the log)",
            Error::CommitConflict { .. } => "retry; other writers are committing to this store",
            Error::UnsafeBackend { .. } => {
                "use a backend with conditional writes (AWS S3, Ceph RGW, MinIO, R2), or, if only one process ever writes to this store, pass --single-writer (DSTORE_SINGLE_WRITER=1)"
            }
            Error::Catalog { .. } => {
                "the catalog is derived from the log: `dstore reindex` rebuilds it"
            }
            Error::NotACommit { .. } => "`dstore log` shows which records are commits",
            Error::SeveralStores { .. } => "pick one with --store",
            Error::NothingToCommit => "name input files with -t TABLE FILE...",
            Error::UnknownFiles { .. } => {
                "pass --skip-unknown to ingest the data files and skip these (they are listed), or move them out of the directory"
            }
            Error::DuplicateData(d) if d.earlier.is_some() => {
                "leave one of the two out; pass --allow-duplicates (to `snapshot` or `prepare`) to add both anyway"
            }
            Error::DuplicateData(_) => {
                "it was committed already (a re-run?), so there is nothing to add; pass --allow-duplicates (to `snapshot` or `prepare`) to append it again anyway"
            }
            Error::CheckoutTargetNotEmpty { .. } => {
                "choose an empty directory, or pass --force to replace an earlier checkout there"
            }
            Error::OutputNotEmpty { .. } => "give --output a new or empty directory",
            Error::DuplicateKey { .. } => {
                "choose --key columns that identify each row, or drop --key to compare whole rows as multisets"
            }
            Error::NotACheckout { .. } => {
                "point --checkout at a directory written by `dstore checkout`"
            }
            Error::Lock { problem, .. } => match problem {
                LockProblem::Unreadable => "regenerate it with `dstore lock CONFIG`",
                LockProblem::Version => {
                    "upgrade dstore, or regenerate the lock with `dstore lock CONFIG`"
                }
                LockProblem::DuplicateEntry => "give every pin its own name",
                LockProblem::NoEntry => "`dstore lock CONFIG` locks every pin of the config",
                LockProblem::Stale => {
                    "re-run `dstore lock` to accept the new data, or restore the store"
                }
                LockProblem::ConfigChanged => "re-run `dstore lock CONFIG` to update the lock",
                _ => return None,
            },
            Error::RemoteConfig { setting, .. } => match setting {
                RemoteSetting::Client => {
                    "set AWS_REGION, AWS_ENDPOINT_URL and credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), or pass --endpoint"
                }
                RemoteSetting::CacheDir => "set DSTORE_REMOTE_CACHE to a directory",
                _ => return None,
            },
            Error::Interrupted => {
                "the store is as it was before the command; run it again to add the inputs"
            }
            Error::Internal { .. } => {
                "this is a bug in dstore: please report it with the command that failed; nothing was committed"
            }
            Error::Io { source, path, .. } | Error::IngestIo { source, path, .. } => {
                return remote_hint(path, source).or_else(|| io_hint(source)).map(str::to_owned);
            }
            _ => return None,
        }
        .to_owned(),
    )
}

/// Whether an error's path is a store URL (object storage), not a local file.
fn is_url(path: &Path) -> bool {
    path.to_str().is_some_and(dstore::storage::is_url)
}

/// What to do about a failed request to object storage (the path is a store URL).
fn remote_hint(path: &Path, e: &std::io::Error) -> Option<&'static str> {
    if !is_url(path) {
        return None;
    }
    Some(match e.kind() {
        K::NotFound => {
            "the object is missing from the bucket: `dstore verify --all` lists every missing object"
        }
        K::PermissionDenied => {
            "the object store refused the credentials: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) and that they may read and write this bucket and prefix"
        }
        _ => {
            "check that the endpoint answers (--endpoint, DSTORE_S3_ENDPOINT or AWS_ENDPOINT_URL; http:// endpoints need no TLS), the region (AWS_REGION) and the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
        }
    })
}

/// What to do about an OS error, for the kinds a user can act on.
fn io_hint(e: &std::io::Error) -> Option<&'static str> {
    // EPERM: what an immutable (chattr +i) file or a locked-down mount gives even to root.
    const EPERM: i32 = 1;
    Some(match e.kind() {
        K::StorageFull | K::FileTooLarge | K::QuotaExceeded => {
            "the disk holding the store is full or a file size limit (`ulimit -f`) was reached: free space and run the command again; nothing was committed, and `dstore gc --grace 0s` removes what was left in tmp/"
        }
        K::PermissionDenied | K::ReadOnlyFilesystem => {
            "check the permissions of the file and its directory; a store you may only read can still be read (log, show, cat, checkout)"
        }
        _ if e.raw_os_error() == Some(EPERM) => {
            "the file or its directory may not be changed (permissions, immutable attribute or read-only mount); a store you may only read can still be read"
        }
        _ => return None,
    })
}

/// The exit code for a library error: 2 for damage to the store and for dstore's own
/// failures, 130 for an interrupted command (`main` says 143 when SIGTERM interrupted it), 1
/// for everything the user can fix.
pub(crate) fn exit_code(e: &Error) -> u8 {
    if matches!(e, Error::Interrupted) {
        130
    } else if e.is_corruption() || e.is_internal() {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hint_of_the_cli_names_what_to_do() {
        let tag = Error::TagExists {
            name: "v1".into(),
            target: "ab".into(),
        };
        assert!(hint(&tag).unwrap().contains("--force"));
        let lock = Error::Lock {
            path: None,
            problem: LockProblem::Stale,
            detail: "x".into(),
        };
        assert!(hint(&lock).unwrap().contains("dstore lock"));
        let internal = Error::Internal { detail: "x".into() };
        assert_eq!(exit_code(&internal), 2);
        assert!(hint(&internal).unwrap().contains("bug"));
        assert!(hint(&Error::NothingToCommit).unwrap().contains("-t TABLE"));
        assert_eq!(exit_code(&Error::Interrupted), 130);
        assert!(hint(&Error::Interrupted).unwrap().contains("run it again"));
        // The library's own advice about the input passes through.
        let bad = Error::InvalidInput {
            path: None,
            detail: "x".into(),
            hint: Some("re-export it".into()),
        };
        assert_eq!(hint(&bad).as_deref(), Some("re-export it"));
    }
}
