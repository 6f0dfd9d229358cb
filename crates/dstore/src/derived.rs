//! Derived objects: files computed from one segment's bytes and named by that segment
//! (`derived/<aa>/<segment id>.<kind>`, docs/format.md §15). They are never referenced by a
//! manifest: a derived object lives exactly as long as its segment (gc keeps the derived objects
//! of every live segment and sweeps the rest), travels with it (push/pull copy it, or compute it
//! on the way), and is checked against it (each kind says how). A missing one is never damage:
//! stores written before a kind existed have none, and readers fall back to what they did
//! without it.
//!
//! Kinds: [`DerivedKind::Outboard`] (the chaining values that verify any byte range of the
//! segment, for page-granular verified reads) and [`DerivedKind::Profile`] (the column
//! profiles of the segment, docs/format.md §16). Loading and placing go through
//! [`load_checked`] and [`put_checked`], one protocol for every kind: each kind brings only
//! its decoder and its check against the segment.
//!
//! May call: `storage`, `layout`, `profile` (its codec), the format crate.

use dstore_format::{Outboard, SegmentId};

use crate::error::{Error, Result};
use crate::layout::DERIVED_DIR;
use crate::profile::SegmentProfile;
use crate::storage::Storage;

/// The kinds of derived object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DerivedKind {
    /// The segment's chunk-group chaining values (`.outboard`).
    Outboard,
    /// The segment's column profiles (`.profile`).
    Profile,
}

impl DerivedKind {
    /// Every kind, for gc and push.
    pub(crate) const ALL: [DerivedKind; 2] = [DerivedKind::Outboard, DerivedKind::Profile];

    fn extension(self) -> &'static str {
        match self {
            DerivedKind::Outboard => "outboard",
            DerivedKind::Profile => "profile",
        }
    }

    /// The key of the derived object of this kind for `segment`.
    pub(crate) fn key(self, segment: &SegmentId) -> String {
        let h = segment.to_hex();
        format!("{DERIVED_DIR}/{}/{h}.{}", &h[..2], self.extension())
    }
}

/// The derived object of `kind` for `segment`, decoded and checked by `check` (which says what is
/// wrong with bytes that fail): `None` when there is none; one that fails is
/// [`Error::Corrupted`], naming its path.
pub(crate) fn load_checked<T>(
    storage: &dyn Storage,
    kind: DerivedKind,
    segment: &SegmentId,
    check: impl FnOnce(&[u8]) -> std::result::Result<T, String>,
) -> Result<Option<T>> {
    let key = kind.key(segment);
    let Some(bytes) = storage.get_opt(&key)? else {
        return Ok(None);
    };
    check(&bytes).map(Some).map_err(|detail| Error::Corrupted {
        path: storage.describe(&key),
        detail,
    })
}

/// Places `bytes` as the derived object of `kind` for `segment`, durably (the backend's put:
/// temp file, sync, rename, sync directory), unless a valid one (`valid`) is there already; a
/// damaged one is replaced. Content is a function of the segment's bytes, so any two writers
/// write the same bytes.
pub(crate) fn put_checked(
    storage: &dyn Storage,
    kind: DerivedKind,
    segment: &SegmentId,
    bytes: &[u8],
    valid: impl FnOnce(&[u8]) -> bool,
) -> Result<()> {
    let key = kind.key(segment);
    match storage.get_opt(&key)? {
        Some(b) if valid(&b) => {
            // Same bytes: `put` only syncs the directory (the object may be the leftover of an
            // attempt whose directory sync failed).
            storage.put(&key, &b)
        }
        Some(_) => {
            storage.delete(&key)?;
            storage.put(&key, bytes)
        }
        None => storage.put(&key, bytes),
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
    load_checked(storage, DerivedKind::Outboard, segment, |b| {
        check_outboard(b, segment, len)
    })
}

fn check_outboard(
    bytes: &[u8],
    segment: &SegmentId,
    len: u64,
) -> std::result::Result<Outboard, String> {
    let ob = Outboard::decode(bytes).map_err(|e| e.to_string())?;
    if ob.segment != *segment || ob.len != len {
        return Err(format!(
            "describes segment {} of {} bytes, not {} of {len}",
            ob.segment.short(16),
            ob.len,
            segment.short(16)
        ));
    }
    if !ob.matches_segment() {
        return Err("its chaining values do not merge to the segment's id".into());
    }
    Ok(ob)
}

/// Writes `ob` beside its segment, durably, unless a valid one is there already (a damaged one
/// is replaced).
pub(crate) fn put_outboard(storage: &dyn Storage, ob: &Outboard) -> Result<()> {
    put_checked(
        storage,
        DerivedKind::Outboard,
        &ob.segment,
        &ob.encode(),
        |b| check_outboard(b, &ob.segment, ob.len).is_ok(),
    )
}

/// The profile of `segment` (`len` bytes), checked: `None` when there is none; one that does
/// not decode or names another segment is [`Error::Corrupted`].
pub(crate) fn load_profile(
    storage: &dyn Storage,
    segment: &SegmentId,
    len: u64,
) -> Result<Option<SegmentProfile>> {
    load_checked(storage, DerivedKind::Profile, segment, |b| {
        check_profile(b, segment, len)
    })
}

pub(crate) fn check_profile(
    bytes: &[u8],
    segment: &SegmentId,
    len: u64,
) -> std::result::Result<SegmentProfile, String> {
    let p = SegmentProfile::decode(bytes).map_err(|e| e.to_string())?;
    if p.segment != *segment || p.len != len {
        return Err(format!(
            "describes segment {} of {} bytes, not {} of {len}",
            p.segment.short(16),
            p.len,
            segment.short(16)
        ));
    }
    Ok(p)
}

/// Writes `p` beside its segment, durably, unless a valid one is there already.
pub(crate) fn put_profile(storage: &dyn Storage, p: &SegmentProfile) -> Result<()> {
    put_checked(
        storage,
        DerivedKind::Profile,
        &p.segment,
        &p.encode(),
        |b| check_profile(b, &p.segment, p.len).is_ok(),
    )
}

/// Copies the profile of `segment` from `src` to `dst`, byte for byte, when `src` has a sound
/// one (a damaged or missing one is left behind: `dst` computes it on first use). Returns
/// whether one was copied.
pub(crate) fn copy_profile(
    src: &dyn Storage,
    dst: &dyn Storage,
    segment: &SegmentId,
    len: u64,
) -> Result<bool> {
    let Some(bytes) = src.get_opt(&DerivedKind::Profile.key(segment))? else {
        return Ok(false);
    };
    if check_profile(&bytes, segment, len).is_err() {
        return Ok(false);
    }
    put_checked(dst, DerivedKind::Profile, segment, &bytes, |b| {
        check_profile(b, segment, len).is_ok()
    })?;
    Ok(true)
}
