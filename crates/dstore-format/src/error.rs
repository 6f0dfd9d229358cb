//! The format crate's one error type.

use std::fmt;

/// What kind of object a decode error is about; named in every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// The `DSTORE` format marker at the store root.
    Marker,
    /// A snapshot manifest (`manifests/*/*.manifest`).
    Manifest,
    /// A segment list page (`manifests/*/*.seglist`).
    SegmentList,
    /// A manifest log record (`log/*.rec`).
    LogRecord,
    /// An Arrow schema inside a manifest.
    Schema,
    /// A segment outboard (`derived/*/*.outboard`).
    Outboard,
    /// A segment profile (`derived/*/*.profile`).
    Profile,
    /// A use record (`uses/*/*.use`).
    UseRecord,
    /// A retirement of a run's uses (`uses/*/*.retire`).
    Retirement,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Marker => "format marker",
            ObjectKind::Manifest => "snapshot manifest",
            ObjectKind::SegmentList => "segment list",
            ObjectKind::LogRecord => "log record",
            ObjectKind::Schema => "schema",
            ObjectKind::Outboard => "segment outboard",
            ObjectKind::Profile => "segment profile",
            ObjectKind::UseRecord => "use record",
            ObjectKind::Retirement => "use retirement",
        })
    }
}

/// Errors from decoding, validating or parsing dstore's formats.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a well-formed object of this kind.
    #[error("malformed {object} at byte {offset}: {detail}")]
    Malformed {
        /// The kind of object.
        object: ObjectKind,
        /// Byte offset where decoding failed.
        offset: usize,
        /// What was wrong.
        detail: String,
    },
    /// The object starts with the wrong magic bytes.
    #[error("not a dstore {object}: expected magic {expected:?}, found {found:?}")]
    BadMagic {
        /// The kind of object.
        object: ObjectKind,
        /// The magic this kind must start with.
        expected: String,
        /// What was found instead (lossy text).
        found: String,
    },
    /// The object was written by a format version this build cannot read.
    #[error(
        "{object} has format version {found}, but this build of dstore reads versions {min_supported} to {max_supported}; upgrade dstore to read it"
    )]
    UnsupportedVersion {
        /// The kind of object.
        object: ObjectKind,
        /// The version found.
        found: u32,
        /// Oldest version this build reads.
        min_supported: u32,
        /// Newest version this build reads.
        max_supported: u32,
    },
    /// An embedded checksum does not match the bytes.
    #[error("{object} checksum mismatch: the bytes were changed after they were written")]
    ChecksumMismatch {
        /// The kind of object.
        object: ObjectKind,
    },
    /// An Arrow type that the format cannot represent.
    #[error("field {field:?} has Arrow type {data_type}, which dstore does not store yet")]
    UnsupportedType {
        /// Field name.
        field: String,
        /// Display of the data type.
        data_type: String,
    },
    /// A ref string that does not parse.
    #[error("invalid ref {input:?}: {reason}")]
    InvalidRef {
        /// The text given.
        input: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A tag name that breaks the naming rules.
    #[error("invalid tag name {name:?}: {reason}")]
    InvalidTagName {
        /// The name given (lossy).
        name: String,
        /// The rule broken.
        reason: String,
    },
    /// A table name that breaks the naming rules.
    #[error("invalid table name {name:?}: {reason}")]
    InvalidTableName {
        /// The name given.
        name: String,
        /// The rule broken.
        reason: String,
    },
}

/// Result with the format crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
