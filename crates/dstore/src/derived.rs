//! Derived objects: files computed from one segment's bytes and named by that segment
//! (`derived/<aa>/<segment id>.<kind>`, docs/format.md §15). They are never referenced by a
//! manifest: a derived object lives exactly as long as its segment (gc keeps the derived objects
//! of every live segment and sweeps the rest), travels with it (push/pull copy it, or compute it
//! on the way), and is checked against it (each kind says how). A missing one is never damage:
//! stores written before a kind existed have none, and readers fall back to what they did
//! without it.
//!
//! Kinds: [`DerivedKind::Outboard`] (the chaining values that verify any byte range of the
//! segment, for page-granular verified reads). Profiles and file listings will be kinds too.
//!
//! May call: `storage`, `layout`, the format crate.

use dstore_format::{Outboard, SegmentId};

use crate::error::{Error, Result};
use crate::layout::DERIVED_DIR;
use crate::storage::Storage;

/// The kinds of derived object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DerivedKind {
    /// The segment's chunk-group chaining values (`.outboard`).
    Outboard,
}

impl DerivedKind {
    /// Every kind, for gc and push.
    pub(crate) const ALL: [DerivedKind; 1] = [DerivedKind::Outboard];

    fn extension(self) -> &'static str {
        match self {
            DerivedKind::Outboard => "outboard",
        }
    }

    /// The key of the derived object of this kind for `segment`.
    pub(crate) fn key(self, segment: &SegmentId) -> String {
        let h = segment.to_hex();
        format!("{DERIVED_DIR}/{}/{h}.{}", &h[..2], self.extension())
    }
}

/// The outboard of `segment` (`len` bytes), checked: `None` when there is none. One that does
/// not decode, names another segment or length, or whose chaining values do not merge to the
/// segment id is [`Error::Corrupted`].
pub(crate) fn load_outboard(
    storage: &dyn Storage,
    segment: &SegmentId,
    len: u64,
) -> Result<Option<Outboard>> {
    let key = DerivedKind::Outboard.key(segment);
    let Some(bytes) = storage.get_opt(&key)? else {
        return Ok(None);
    };
    check_outboard(storage, &key, &bytes, segment, len).map(Some)
}

fn check_outboard(
    storage: &dyn Storage,
    key: &str,
    bytes: &[u8],
    segment: &SegmentId,
    len: u64,
) -> Result<Outboard> {
    let corrupt = |detail: String| Error::Corrupted {
        path: storage.describe(key),
        detail,
    };
    let ob = Outboard::decode(bytes).map_err(|e| corrupt(e.to_string()))?;
    if ob.segment != *segment || ob.len != len {
        return Err(corrupt(format!(
            "describes segment {} of {} bytes, not {} of {len}",
            ob.segment.short(16),
            ob.len,
            segment.short(16)
        )));
    }
    if !ob.matches_segment() {
        return Err(corrupt(
            "its chaining values do not merge to the segment's id".into(),
        ));
    }
    Ok(ob)
}

/// Writes `ob` beside its segment, durably, unless a valid one is there already (a damaged one
/// is replaced). Content is a function of the segment's bytes, so any two writers write the
/// same bytes.
pub(crate) fn put_outboard(storage: &dyn Storage, ob: &Outboard) -> Result<()> {
    let key = DerivedKind::Outboard.key(&ob.segment);
    match storage.get_opt(&key)? {
        Some(b) if check_outboard(storage, &key, &b, &ob.segment, ob.len).is_ok() => {
            // Same bytes: `put` only syncs the directory (the object may be the leftover of an
            // attempt whose directory sync failed).
            storage.put(&key, &b)
        }
        Some(_) => {
            storage.delete(&key)?;
            storage.put(&key, &ob.encode())
        }
        None => storage.put(&key, &ob.encode()),
    }
}
