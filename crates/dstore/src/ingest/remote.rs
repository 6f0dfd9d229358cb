//! Inputs in object storage: `s3://BUCKET/KEY` objects and `s3://BUCKET/PREFIX/` prefixes, for
//! `snapshot` and `prepare`. A prefix is listed and its objects taken as a directory walk takes
//! files (the same skip rules, the same order: by path component), so a prefix holding the same
//! files as a local directory gives the same segments and the same snapshot. Each object is read
//! front to back with range requests into a local staged file, which is then ingested as a local
//! input would be; messages name the object's URL.
//!
//! May call: `storage`, and the rest of `ingest` through its caller.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{FileType, InputFile, KNOWN_EXTENSIONS, silently_skipped};
use crate::error::{Error, Result};
use crate::storage::{ObjectStorage, RemoteOptions, StagedFile, Storage, StoreUrl};

/// One object to ingest.
pub(crate) struct RemoteInput {
    /// `s3://bucket/key`: what messages name.
    pub(crate) url: PathBuf,
    pub(crate) key: String,
    pub(crate) file: InputFile,
}

/// The objects an `s3://` input names, with a client for their bucket: the object itself, or
/// (for a URL ending in `/`, or naming no object) every data object under the prefix. Objects of
/// unknown type refuse the input unless `skip_unknown` (then they are added to `skipped`).
pub(crate) fn expand(
    url: &str,
    opts: &RemoteOptions,
    skip_unknown: bool,
    skipped: &mut Vec<PathBuf>,
) -> Result<(ObjectStorage, Vec<RemoteInput>)> {
    let parsed = StoreUrl::parse(url.trim_end_matches('/'))?;
    let bucket = format!("s3://{}", parsed.bucket);
    // The client's cache directory holds only its put-if-absent probe stamp: never written
    // for reads.
    let client = ObjectStorage::new(&bucket, opts, std::env::temp_dir().join("dstore-inputs"))?;
    let object = |key: &str| RemoteInput {
        url: PathBuf::from(format!("{bucket}/{key}")),
        key: key.to_owned(),
        file: InputFile {
            path: PathBuf::from(key),
            format: super::InputFormat::Parquet,
            compression: None,
        },
    };
    let key = parsed.prefix.clone();
    if !url.ends_with('/') && !key.is_empty() && client.size(&key)?.is_some() {
        let mut input = object(&key);
        match InputFile::classify(Path::new(&key)) {
            FileType::Data(format, compression) => {
                input.file.format = format;
                input.file.compression = compression;
                return Ok((client, vec![input]));
            }
            FileType::Refused(why) => return Err(Error::input(&input.url, why)),
            FileType::Unknown if skip_unknown => {
                skipped.push(input.url);
                return Ok((client, Vec::new()));
            }
            FileType::Unknown => {
                return Err(Error::input(&input.url, "unknown file type").with_hint(format!(
                    "dstore reads files ending in {KNOWN_EXTENSIONS}; rename the object if it is one of these"
                )));
            }
        }
    }
    let prefix = if key.is_empty() {
        String::new()
    } else {
        format!("{key}/")
    };
    let mut listed = client.list(&prefix)?;
    // A directory walk's order: by path component, so `a/x.csv` comes before `a-b.csv`.
    listed.sort_by(|a, b| a.key.split('/').cmp(b.key.split('/')));
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for meta in listed {
        let rel = &meta.key[prefix.len()..];
        if rel.split('/').any(silently_skipped) || meta.key.ends_with('/') {
            continue;
        }
        let mut input = object(&meta.key);
        match InputFile::classify(Path::new(&meta.key)) {
            FileType::Data(format, compression) => {
                input.file.format = format;
                input.file.compression = compression;
                out.push(input);
            }
            FileType::Refused(_) | FileType::Unknown => unknown.push(input.url),
        }
    }
    let dir = PathBuf::from(format!("{bucket}/{prefix}"));
    if !unknown.is_empty() && !skip_unknown {
        return Err(Error::UnknownFiles {
            dir,
            files: unknown,
        });
    }
    if out.is_empty() {
        let detail = if unknown.is_empty() {
            "no such object, and no data objects under this prefix".to_owned()
        } else {
            format!(
                "no data objects under this prefix (only {} of unknown type)",
                unknown.len()
            )
        };
        return Err(Error::input(dir, detail).with_hint(format!(
            "check the URL; dstore reads objects whose names end in {KNOWN_EXTENSIONS}"
        )));
    }
    skipped.extend(unknown);
    Ok((client, out))
}

/// Reads `input` front to back (range requests) into a new staged file of `staging`; returns
/// it with its length. Messages name the object's URL.
pub(crate) fn download(
    client: &ObjectStorage,
    input: &RemoteInput,
    staging: &dyn Storage,
    cancel: &super::Cancel,
) -> Result<(StagedFile, u64)> {
    let mut staged = staging.stage()?;
    let mut src = client.open_read(&input.key)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    let path = staged.path().to_owned();
    loop {
        cancel.check()?;
        let n = match std::io::Read::read(&mut src, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", &input.url)(e)),
        };
        staged
            .file()
            .write_all(&buf[..n])
            .map_err(|e| Error::ingesting(&input.url)(Error::io("write", &path)(e)))?;
        len += n as u64;
    }
    staged
        .file()
        .flush()
        .map_err(|e| Error::ingesting(&input.url)(Error::io("write", &path)(e)))?;
    Ok((staged, len))
}

/// `e` with every mention of the local copy `local` replaced by the object's URL `url`.
pub(crate) fn relabel(e: Error, local: &Path, url: &Path) -> Error {
    let swap = |p: PathBuf| if p == local { url.to_owned() } else { p };
    match e {
        Error::InvalidInput { path, detail, hint } => Error::InvalidInput {
            path: path.map(swap),
            detail,
            hint,
        },
        Error::SchemaMismatch {
            table,
            path,
            differences,
        } => Error::SchemaMismatch {
            table,
            path: swap(path),
            differences,
        },
        Error::UnstorableType {
            path,
            columns,
            advice,
        } => Error::UnstorableType {
            path: swap(path),
            columns,
            advice,
        },
        Error::ReadersRefuse {
            path,
            column,
            problem,
        } => Error::ReadersRefuse {
            path: swap(path),
            column,
            problem,
        },
        Error::IngestIo {
            input,
            op,
            path,
            source,
        } => Error::IngestIo {
            input: swap(input),
            op,
            path,
            source,
        },
        Error::Io { op, path, source } => Error::Io {
            op,
            path: swap(path),
            source,
        },
        Error::DuplicateData(mut d) => {
            d.path = swap(d.path);
            Error::DuplicateData(d)
        }
        other => other,
    }
}
