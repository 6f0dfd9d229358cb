//! dstore: an append-only, versioned, content-addressed store for the data models train on.
//!
//! Segments are Parquet files named by the BLAKE3 of their bytes; a snapshot is a manifest
//! named by the BLAKE3 of its canonical encoding, so the same data gets the same id in any
//! store; a log of commit records gives history, tags and time travel; a RocksDB catalog
//! derived from the log makes every lookup O(log n).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use arrow::array::{Int64Array, RecordBatch, RecordBatchIterator};
//! use arrow::datatypes::{DataType, Field, Schema};
//! use dstore::{CommitOptions, IngestOptions, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::init(dir.path().join("data.dstore"))?;
//!
//! let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
//! let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2, 3]))])?;
//! let mut tx = store.begin();
//! tx.add_reader("train", RecordBatchIterator::new([Ok(batch)], schema), &IngestOptions::default())?;
//! let commit = tx.commit(&CommitOptions { tags: vec!["v1".into()], ..CommitOptions::message("first") })?;
//!
//! let pinned = store.resolve("v1")?;                 // a tag, HEAD~N, @SEQ, an id or prefix
//! assert_eq!(pinned.id, commit.id);
//! let snap = store.snapshot(&pinned.id)?;            // by full id: no catalog, no lock
//! assert_eq!(snap.table("train")?.rows, 3);
//! // Reads verify each segment against its id before returning rows.
//! let rows: usize = snap.read_table("train", &dstore::snapshot::ReadOptions::default())?
//!     .map(|b| b.map(|b| b.num_rows()))
//!     .sum::<dstore::Result<usize>>()?;
//! assert_eq!(rows, 3);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod catalog;
pub mod checkout;
mod derived;
pub mod diff;
pub mod error;
pub mod expire;
pub mod files;
pub mod gc;
pub mod ingest;
mod layout;
pub mod lineage;
pub mod lock;
mod log;
mod objects;
pub mod pin;
pub mod profile;
mod resolve;
pub mod scan;
pub mod snapshot;
pub mod storage;
mod store;
mod tags;
mod transaction;
pub mod transfer;
pub mod uses;
pub mod verify;

// What a user starts from; everything else is under its module (`dstore::checkout`,
// `dstore::storage`, `dstore::format`, ...).
pub use catalog::CatalogStats;
pub use error::{Error, Result};
pub use ingest::IngestOptions;
pub use lock::LockFile;
pub use pin::Pin;
pub use resolve::Resolved;
pub use scan::{ScanBatches, ScanBuilder, ScanCursor};
pub use snapshot::Snapshot;
pub use store::Store;
pub use transaction::{
    AddedFiles, CommitOptions, CommitOutcome, PREPARE_VERSION, Prepared, PreparedCheck,
    PreparedSegment, PreparedTable, Transaction, WriteMode,
};

pub use dstore_format as format;
pub use dstore_format::{SegmentId, SnapshotId};
