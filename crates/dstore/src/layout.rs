//! Where each object lives in a store: the keys of the storage layer.
//!
//! ```text
//! DSTORE                                   format marker
//! segments/<aa>/<64 hex>.parquet           segments      (aa = first two hex digits)
//! manifests/<aa>/<64 hex>.manifest         snapshot manifests
//! manifests/<aa>/<64 hex>.seglist          segment list pages
//! log/<seq, 20 digits>.rec                 log records
//! catalog/                                 RocksDB, derived from the log
//! derived/<aa>/<64 hex>.outboard           segment outboards (named by their segment)
//! uses/<snapshot>/<run hash>-<use id>.use  use records (who read the snapshot)
//! uses/<snapshot>/<run hash>.retire        a run no longer needs the snapshot
//! runs/<run hash>/<snapshot>.uses          empty: run -> snapshots it used (index)
//! tmp/                                     staging; garbage after a crash
//! ```

use dstore_format::{PageId, SegmentId, SnapshotId};

/// The format marker.
pub(crate) const MARKER: &str = "DSTORE";
/// Directory of log records.
pub(crate) const LOG_DIR: &str = "log";
/// Directory of segments.
pub(crate) const SEGMENTS_DIR: &str = "segments";
/// Directory of manifests and pages.
pub(crate) const MANIFESTS_DIR: &str = "manifests";
/// Directory of the catalog.
pub(crate) const CATALOG_DIR: &str = "catalog";
/// Directory of derived objects (named by the segment they derive from).
pub(crate) const DERIVED_DIR: &str = "derived";
/// Directory of use records and retirements, one subdirectory per snapshot.
pub(crate) const USES_DIR: &str = "uses";
/// Directory of the run index: one subdirectory per run, one empty object per snapshot used.
pub(crate) const RUNS_DIR: &str = "runs";
/// Directory of staged files.
pub(crate) const TMP_DIR: &str = "tmp";

pub(crate) fn segment_key(id: &SegmentId) -> String {
    let h = id.to_hex();
    format!("{SEGMENTS_DIR}/{}/{h}.parquet", &h[..2])
}

pub(crate) fn manifest_key(id: &SnapshotId) -> String {
    let h = id.to_hex();
    format!("{MANIFESTS_DIR}/{}/{h}.manifest", &h[..2])
}

pub(crate) fn page_key(id: &PageId) -> String {
    let h = id.to_hex();
    format!("{MANIFESTS_DIR}/{}/{h}.seglist", &h[..2])
}

pub(crate) fn record_key(seq: u64) -> String {
    format!("{LOG_DIR}/{seq:020}.rec")
}

/// The sequence number in a record key's file name, if it is one.
pub(crate) fn parse_record_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".rec")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_roundtrip() {
        let k = record_key(42);
        assert_eq!(k, "log/00000000000000000042.rec");
        assert_eq!(parse_record_name(k.strip_prefix("log/").unwrap()), Some(42));
        assert_eq!(parse_record_name("42.rec"), None);
    }
}
