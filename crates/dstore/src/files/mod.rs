//! File datasets: a folder of files (images, audio, documents) as a table whose rows are the
//! files (`docs/files.md`, docs/format.md §19).
//!
//! A files table is an ordinary table with a fixed schema ([`files_schema`]): everything that
//! works on tables (pins, locks, scans and shuffles, verification, stats, push/pull, S3) works
//! on it unchanged. What is particular to it:
//!
//! - [`walk`]: the folder is walked, every name checked (UTF-8, no control characters, no
//!   links or special files) and the files sorted by path.
//! - [`cut`]: the files are grouped into segments at content-defined cut points (a function of
//!   each file's path and size alone), so an edit rewrites only the segment that holds it.
//! - [`ingest`]: [`Transaction::add_folder`](crate::Transaction::add_folder) writes each group
//!   as one segment, reusing the base version's segment for a group whose files have not
//!   changed, recognised by the local [`state`] cache without reading a byte of them.
//! - [`checkout`]: the folder back, each file verified against its BLAKE3.
//! - [`diff`]: files added, removed and changed by path, reading only the segments that differ.
//!
//! May call: `ingest` (segment writer), `scan`, `storage`, `snapshot`, `transaction`.

pub(crate) mod checkout;
pub(crate) mod cut;
pub mod diff;
pub(crate) mod ingest;
pub(crate) mod mime;
pub(crate) mod state;
pub(crate) mod walk;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

pub use diff::{ChangeKind, FileChange, FilesDiff, files_diff};
pub use ingest::AddedFolder;

/// Schema metadata key that marks a files table; its value is the files table version (`"1"`).
pub const FILES_TABLE_KEY: &str = "dstore.files";

/// Column names of a files table, in order.
pub const PATH: &str = "path";
/// See [`PATH`].
pub const SIZE: &str = "size";
/// See [`PATH`].
pub const BLAKE3: &str = "blake3";
/// See [`PATH`].
pub const MIME: &str = "mime";
/// See [`PATH`].
pub const BYTES: &str = "bytes";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new_with_metadata(
        vec![
            Field::new(PATH, DataType::Utf8, false),
            Field::new(SIZE, DataType::Int64, false),
            Field::new(BLAKE3, DataType::Utf8, false),
            Field::new(MIME, DataType::Utf8, true),
            Field::new(BYTES, DataType::LargeBinary, false),
        ],
        HashMap::from([(FILES_TABLE_KEY.to_owned(), "1".to_owned())]),
    ))
});

/// The schema of a files table (docs/format.md §19): `path` (relative, `/`-separated UTF-8),
/// `size` (bytes), `blake3` (64 lowercase hex digits of the file's BLAKE3), `mime` (guessed
/// from the extension, null when unknown) and `bytes` (the file's contents).
pub fn files_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Whether `schema` is a files table's.
pub fn is_files_table(schema: &Schema) -> bool {
    schema.metadata().contains_key(FILES_TABLE_KEY)
}

/// Options for [`Transaction::add_folder`](crate::Transaction::add_folder).
#[derive(Debug, Clone)]
pub struct FilesOptions {
    /// Segments are cut at content-defined points (docs/format.md §19.2): on average between
    /// half of this and this many bytes, at most four times it unless one file is larger.
    /// Default 16 MiB.
    pub target_segment_bytes: u64,
    /// Files larger than this are refused (default 256 MiB; at most [`MAX_FILE_BYTES`]).
    pub max_file_bytes: u64,
    /// Read and hash every file, ignoring the local state cache.
    pub rehash: bool,
    /// Profile the columns of new segments (docs/drift.md).
    pub profile: bool,
    /// zstd level of the segments.
    pub zstd_level: i32,
    /// Stops the ingest from another thread.
    pub cancel: crate::ingest::Cancel,
}

/// The largest file a files table holds (2,040 MiB): a Parquet page's size is a 32-bit signed
/// integer, each file is one value of one page, and the page may hold up to 1 MiB of earlier
/// values and zstd's overhead besides.
pub const MAX_FILE_BYTES: u64 = 2040 << 20;

impl Default for FilesOptions {
    fn default() -> Self {
        Self {
            target_segment_bytes: 16 << 20,
            max_file_bytes: 256 << 20,
            rehash: false,
            profile: true,
            zstd_level: 1,
            cancel: crate::ingest::Cancel::default(),
        }
    }
}

/// Whether `p` is a path a files table may hold: non-empty `/`-separated components, none
/// empty, `.` or `..`, no control characters, no NUL, relative. Checked at ingest and again
/// at checkout (a store is not trusted to hold only what ingest let in).
pub fn valid_path(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("the path is empty".into());
    }
    if p.starts_with('/') {
        return Err("the path is absolute".into());
    }
    if let Some(c) = p.chars().find(|c| c.is_control()) {
        return Err(format!(
            "the name holds the control character U+{:04X}",
            c as u32
        ));
    }
    for part in p.split('/') {
        match part {
            "" => return Err("the path has an empty component".into()),
            "." | ".." => return Err(format!("the path has a `{part}` component")),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::valid_path;

    #[test]
    fn paths() {
        for ok in ["a", "a/b.jpg", "é/日本.txt", "a b/c d", "..a/b..", "x\\y"] {
            assert_eq!(valid_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "/a", "a//b", "a/", "./a", "a/../b", "..", "a\nb", "a\u{7f}", "a\0",
        ] {
            assert!(valid_path(bad).is_err(), "{bad:?}");
        }
    }
}
