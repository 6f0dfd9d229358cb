//! Ingesting a folder as a files table: walk, cut, and for each group of files either keep the
//! base version's segment (its files unchanged by the state cache) or read the files and write
//! the group as one segment. Groups are written in parallel; the result is in path order.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, LargeBinaryBuilder, RecordBatch, StringBuilder};
use dstore_format::{SegmentEntry, SegmentId};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

use super::state::{self, State};
use super::walk::{FileStat, walk};
use super::{FilesOptions, MAX_FILE_BYTES, cut, files_schema, mime};
use crate::error::{Error, Result};
use crate::ingest::StagedSegment;
use crate::ingest::convert::{CREATED_BY, SegmentWriter};
use crate::storage::Storage;

/// What [`Transaction::add_folder`](crate::Transaction::add_folder) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddedFolder {
    /// Files in the folder (rows of the table).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Segments of the table.
    pub segments: usize,
    /// Of those, segments of the base version kept without reading their files.
    pub segments_kept: usize,
    /// Files read (and hashed); the others were recognised by the state cache.
    pub files_read: u64,
    /// Bytes of the files read.
    pub bytes_read: u64,
}

/// A group of files as it goes into the table.
pub(crate) enum Group {
    /// The base version's segment, unchanged.
    Kept(SegmentEntry),
    /// A segment written now.
    New(StagedSegment),
}

/// A group as it went in: the group, its files' BLAKE3s, its key in the state cache.
type Done = (Group, Vec<[u8; 32]>, [u8; 32]);

/// Bytes of file contents per batch handed to the segment writer.
const BATCH_BYTES: u64 = 8 << 20;
/// Files per batch at most (so that a batch's paths stay far below a string array's 2 GiB).
const BATCH_FILES: usize = 4096;

/// Reads `dir` into groups for `table`. `base` holds the segments of the table at the base
/// version (by id); `state_root` is where the state cache lives (the store's root or local
/// cache directory), also refused as a directory inside the folder. Returns the groups, what
/// was read, and the state cache to save (where, what) once the commit has landed.
pub(crate) fn ingest_folder(
    storage: &dyn Storage,
    state_root: &Path,
    table: &str,
    dir: &Path,
    base: &HashMap<SegmentId, SegmentEntry>,
    opts: &FilesOptions,
) -> Result<(Vec<Group>, AddedFolder, (std::path::PathBuf, State))> {
    let max = opts.max_file_bytes.min(MAX_FILE_BYTES);
    let walk_ns = now_ns();
    let files = walk(dir, Some(state_root))?;
    if let Some(f) = files.iter().find(|f| f.size > max) {
        return Err(Error::input(
            &f.abs,
            format!(
                "is {} bytes, over the limit of {max} bytes for a file in a files table",
                f.size
            ),
        )
        .with_hint(format!(
            "raise the limit (up to {MAX_FILE_BYTES} bytes, a Parquet page's), or keep files this large out of the folder"
        )));
    }
    let ranges = cut::groups(
        files.iter().map(|f| (f.rel.as_str(), f.size)),
        opts.target_segment_bytes,
    );
    let state_path = state::path_for(state_root, table, dir);
    let mut st = if opts.rehash {
        State::default()
    } else {
        State::load(&state_path)
    };
    let props = writer_props(opts.zstd_level)?;
    let results: Vec<Done> = ranges
        .par_iter()
        .map(|r| {
            opts.cancel.check()?;
            let group = &files[r.clone()];
            if let Some(kept) = kept(group, &st, base, opts.zstd_level) {
                return Ok(kept);
            }
            write_group(storage, group, &props, opts)
        })
        .collect::<Result<_>>()?;
    let mut added = AddedFolder {
        files: files.len() as u64,
        bytes: files.iter().map(|f| f.size).sum(),
        segments: results.len(),
        ..AddedFolder::default()
    };
    let mut keys = Vec::with_capacity(results.len());
    let mut groups = Vec::with_capacity(results.len());
    for (r, (group, hashes, key)) in ranges.iter().zip(results) {
        let id = match &group {
            Group::Kept(e) => {
                added.segments_kept += 1;
                e.id
            }
            Group::New(s) => {
                added.files_read += r.len() as u64;
                added.bytes_read += files[r.clone()].iter().map(|f| f.size).sum::<u64>();
                s.entry.id
            }
        };
        for (f, h) in files[r.clone()].iter().zip(hashes) {
            st.record_file(f, h, walk_ns);
        }
        st.record_group(key, id);
        keys.push(key);
        groups.push(group);
    }
    st.retain(&files, &keys);
    Ok((groups, added, (state_path, st)))
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The key of a group in the state cache: its files (path, size, BLAKE3) and the zstd level,
/// everything its segment's bytes depend on.
fn group_key(group: &[FileStat], hashes: &[[u8; 32]], zstd_level: i32) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"dstore files group 1\0");
    h.update(&zstd_level.to_le_bytes());
    for (f, b) in group.iter().zip(hashes) {
        h.update(f.rel.as_bytes());
        h.update(&[0]);
        h.update(&f.size.to_le_bytes());
        h.update(b);
    }
    *h.finalize().as_bytes()
}

/// The base version's segment for `group` when the cache knows every file unchanged and the
/// segment the group became last time is in the table at the base.
fn kept(
    group: &[FileStat],
    st: &State,
    base: &HashMap<SegmentId, SegmentEntry>,
    zstd_level: i32,
) -> Option<Done> {
    let hashes: Vec<[u8; 32]> = group
        .iter()
        .map(|f| st.blake3_of(f))
        .collect::<Option<_>>()?;
    let key = group_key(group, &hashes, zstd_level);
    let entry = base.get(&st.segment_of(&key)?)?;
    let rows: u64 = group.len() as u64;
    (entry.rows == rows).then(|| (Group::Kept(entry.clone()), hashes, key))
}

/// The writer settings of a files table's segments (docs/format.md §19.3).
fn writer_props(zstd_level: i32) -> Result<WriterProperties> {
    let level = ZstdLevel::try_new(zstd_level).map_err(|e| {
        Error::invalid(format!("zstd level {zstd_level}: {e}"))
            .with_hint("use a level from 1 to 22")
    })?;
    let col = |c: &str| ColumnPath::from(c);
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(1 << 20))
        .set_max_row_group_bytes(Some(64 << 20))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(col(super::MIME), true)
        .set_column_statistics_enabled(col(super::BYTES), EnabledStatistics::None)
        .set_created_by(CREATED_BY.to_owned())
        .build())
}

/// Reads the files of `group` and writes them as one segment.
fn write_group(
    storage: &dyn Storage,
    group: &[FileStat],
    props: &WriterProperties,
    opts: &FilesOptions,
) -> Result<Done> {
    let schema = files_schema();
    let mut w = SegmentWriter::one_segment(
        storage,
        schema.clone(),
        props.clone(),
        opts.profile,
        opts.cancel.clone(),
    );
    let mut hashes = Vec::with_capacity(group.len());
    let mut start = 0;
    while start < group.len() {
        opts.cancel.check()?;
        let mut end = start;
        let mut bytes = 0u64;
        while end < group.len()
            && end - start < BATCH_FILES
            && (end == start || bytes + group[end].size <= BATCH_BYTES)
        {
            bytes += group[end].size;
            end += 1;
        }
        let part = &group[start..end];
        let mut path = StringBuilder::new();
        let mut size = Int64Builder::with_capacity(part.len());
        let mut hash = StringBuilder::with_capacity(part.len(), part.len() * 64);
        let mut mime_b = StringBuilder::new();
        let mut data = LargeBinaryBuilder::with_capacity(part.len(), bytes as usize);
        for f in part {
            let b = read_file(f)?;
            let h = blake3::hash(&b);
            path.append_value(&f.rel);
            size.append_value(i64::try_from(f.size).unwrap_or(i64::MAX));
            hash.append_value(h.to_hex().as_str());
            mime_b.append_option(mime::guess(&f.rel));
            data.append_value(&b);
            hashes.push(*h.as_bytes());
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(path.finish()),
            Arc::new(size.finish()),
            Arc::new(hash.finish()),
            Arc::new(mime_b.finish()),
            Arc::new(data.finish()),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols)
            .map_err(|e| Error::internal("building a files batch", e))?;
        w.write(&batch)?;
        start = end;
    }
    let mut segs = w.finish()?;
    let seg = segs
        .pop()
        .ok_or_else(|| Error::invalid("a files group without files"))?;
    let key = group_key(group, &hashes, opts.zstd_level);
    Ok((Group::New(seg), hashes, key))
}

/// The bytes of `f`, which must still be the regular file the walk saw: opened without
/// following a link and without blocking on a pipe, checked by `fstat` to be the same file
/// (device, inode) of the same size, and read to at most one byte past that size.
fn read_file(f: &FileStat) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let changed = |now: String| {
        Error::input(&f.abs, format!("changed while the folder was read ({now})"))
            .with_hint("ingest the folder again once nothing writes to it")
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&f.abs)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                changed("it is a symbolic link now".into())
            } else {
                Error::io("open", &f.abs)(e)
            }
        })?;
    let m = file.metadata().map_err(Error::io("stat", &f.abs))?;
    if !m.file_type().is_file() || m.dev() != f.dev || m.ino() != f.ino {
        return Err(changed("it is another file now".into()));
    }
    let mut b = Vec::with_capacity(usize::try_from(f.size).unwrap_or(0));
    file.take(f.size.saturating_add(1))
        .read_to_end(&mut b)
        .map_err(Error::io("read", &f.abs))?;
    if b.len() as u64 != f.size {
        return Err(changed(format!(
            "{} bytes when listed, {} or more when read",
            f.size,
            b.len()
        )));
    }
    Ok(b)
}
