//! dstore's on-disk format: content ids, the canonical encodings of snapshot manifests,
//! segment list pages and log records, the format marker, and the ref grammar.
//!
//! This crate does no I/O: it turns values into the exact bytes `docs/format.md` describes and
//! back. Every decoder checks magic, version and structure, and bounds every allocation by the
//! bytes it was given, so it is safe to feed untrusted input.
//!
//! ```
//! use dstore_format::{Manifest, SnapshotId};
//!
//! let empty = Manifest::default();
//! let (id, bytes) = empty.encode_with_id().unwrap();
//! assert_eq!(id, SnapshotId::of(&bytes));          // the id is the BLAKE3 of the file
//! assert_eq!(Manifest::decode(&bytes).unwrap(), empty);
//! ```
#![warn(missing_docs)]

pub mod codec;
mod error;
mod id;
pub mod manifest;
pub mod marker;
pub mod outboard;
pub mod record;
pub mod refs;
pub mod schema;
pub mod usage;

pub use error::{Error, ObjectKind, Result};
pub use id::{PageId, RecordHash, SegmentId, SnapshotId};
pub use manifest::{
    ChunkEntry, ColumnInfo, ColumnStats, Manifest, PAGE_SEGMENTS, PageRef, RowGroupEntry,
    SegmentEntry, SegmentList, TableManifest,
};
pub use outboard::Outboard;
pub use record::{
    LogRecord, RECORD_VERSION, RecordKind, TableChange, TableOp, TagTarget, Upstream,
};
pub use refs::{RefBase, RefSpec, validate_table_name, validate_tag_name};
pub use usage::{Retirement, UseRecord};

/// The format version this build writes.
pub const FORMAT_VERSION: u32 = 1;
/// The oldest format version this build reads.
pub const MIN_FORMAT_VERSION: u32 = 1;

/// Reads and checks the 8-byte magic and the `u32` version that start every dstore file.
pub fn check_magic_and_version(
    d: &mut codec::Decoder<'_>,
    object: ObjectKind,
    magic: [u8; 8],
) -> Result<u32> {
    check_magic_and_version_upto(d, object, magic, FORMAT_VERSION)
}

/// [`check_magic_and_version`] for an object kind whose newest version is `max` (log records
/// have a version 2, every other object only version 1).
pub fn check_magic_and_version_upto(
    d: &mut codec::Decoder<'_>,
    object: ObjectKind,
    magic: [u8; 8],
    max: u32,
) -> Result<u32> {
    let found = d.raw(8).map_err(|_| Error::BadMagic {
        object,
        expected: String::from_utf8_lossy(&magic).into_owned(),
        found: "(file shorter than 8 bytes)".into(),
    })?;
    if found != magic {
        return Err(Error::BadMagic {
            object,
            expected: String::from_utf8_lossy(&magic).into_owned(),
            found: String::from_utf8_lossy(found).into_owned(),
        });
    }
    let version = d.u32()?;
    if !(MIN_FORMAT_VERSION..=max).contains(&version) {
        return Err(Error::UnsupportedVersion {
            object,
            found: version,
            min_supported: MIN_FORMAT_VERSION,
            max_supported: max,
        });
    }
    Ok(version)
}
