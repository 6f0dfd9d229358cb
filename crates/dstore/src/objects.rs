//! Content-addressed objects read back and checked against their names: manifests and segment
//! list pages (decoded), and the hash check every reader of a segment applies. Anything that
//! loads an object by id goes through here, so "the bytes hash to the name" is written once.
//!
//! May call: `storage`, `layout`, the format crate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dstore_format::{Manifest, PageId, SegmentId, SegmentList, SnapshotId};

use crate::error::{Error, Result};
use crate::layout;
use crate::storage::Storage;

/// The object store of a store: reads objects by id and verifies them.
#[derive(Debug, Clone)]
pub(crate) struct Objects {
    storage: Arc<dyn Storage>,
}

/// What a corrupted object that does not hash to its name is reported as.
pub(crate) fn name_mismatch(path: impl Into<PathBuf>) -> Error {
    Error::Corrupted {
        path: path.into(),
        detail: "contents do not hash to the file's name".into(),
    }
}

/// Checks that a segment's bytes (hashed by the caller, often while streaming them elsewhere)
/// hash to its id; `path` names it in the error.
pub(crate) fn check_segment(path: &Path, expected: &SegmentId, got: &SegmentId) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(Error::Corrupted {
            path: path.to_owned(),
            detail: "segment does not hash to its name".into(),
        })
    }
}

impl Objects {
    pub(crate) fn new(storage: Arc<dyn Storage>) -> Objects {
        Objects { storage }
    }

    /// The bytes of `key`, which must exist (`missing` says what it is) and hash to its name
    /// under `hash`.
    fn verified(
        &self,
        key: &str,
        missing: impl FnOnce() -> String,
        matches: impl FnOnce(&[u8]) -> bool,
    ) -> Result<Vec<u8>> {
        let bytes = self.storage.get_opt(key)?.ok_or_else(|| Error::Corrupted {
            path: self.storage.describe(key),
            detail: missing(),
        })?;
        if !matches(&bytes) {
            return Err(name_mismatch(self.storage.describe(key)));
        }
        Ok(bytes)
    }

    /// A manifest's bytes, verified against `id`.
    pub(crate) fn manifest_bytes(&self, id: &SnapshotId) -> Result<Vec<u8>> {
        self.verified(
            &layout::manifest_key(id),
            || format!("snapshot manifest {} is missing", id.short(16)),
            |b| SnapshotId::of(b) == *id,
        )
    }

    /// A segment list page's bytes, verified against `id`.
    pub(crate) fn page_bytes(&self, id: &PageId) -> Result<Vec<u8>> {
        self.verified(
            &layout::page_key(id),
            || "segment list page is missing".into(),
            |b| PageId::of(b) == *id,
        )
    }

    /// Reads a manifest, verifying that its bytes hash to `id`.
    pub(crate) fn manifest(&self, id: &SnapshotId) -> Result<Manifest> {
        let bytes = self.manifest_bytes(id)?;
        Manifest::decode(&bytes)
            .map_err(|e| Error::format(self.storage.describe(&layout::manifest_key(id)), e))
    }

    /// Reads a segment list page, verifying its hash.
    pub(crate) fn page(&self, id: &PageId) -> Result<SegmentList> {
        let bytes = self.page_bytes(id)?;
        SegmentList::decode(&bytes)
            .map_err(|e| Error::format(self.storage.describe(&layout::page_key(id)), e))
    }

    /// The manifest of `id`, or an empty one for `None` (before the first commit).
    pub(crate) fn manifest_or_empty(&self, id: Option<SnapshotId>) -> Result<Manifest> {
        id.map_or_else(|| Ok(Manifest::default()), |id| self.manifest(&id))
    }
}
