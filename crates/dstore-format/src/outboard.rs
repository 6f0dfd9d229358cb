//! Segment outboards: the BLAKE3 chaining values of a segment's 16 KiB chunk groups, so that any
//! byte range of the segment can be verified against the segment's own id (docs/format.md §15).
//!
//! BLAKE3 is a binary tree over 1 KiB chunks. Every 16 KiB-aligned group of 16 chunks (the last
//! one possibly shorter) is a subtree of that tree, so its chaining value (CV) can be computed
//! from its bytes alone; merging the CVs of all groups up the tree's left-balanced shape gives
//! the root, which is the segment id. An outboard lists the group CVs; a reader checks the list
//! once (merge to the root, compare with the id) and then verifies any bytes it fetched by
//! hashing the groups they cover — without reading the rest of the file.
//!
//! ```text
//! offset  size   field
//! 0       8      magic b"DSTOUTBD"
//! 8       4      format version, u32 LE (1)
//! 12      32     segment id
//! 44      8      segment length in bytes, u64 LE
//! 52      4      group length in bytes, u32 LE (16384)
//! 56      32×n   chaining value of each group, in file order; n = ceil(length / group length)
//!                when length > group length, else 0
//! end-32  32     BLAKE3 of every byte before it (checksum)
//! ```

use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root,
};

use crate::codec::{Decoder, Encoder};
use crate::error::{Error, ObjectKind, Result};
use crate::{FORMAT_VERSION, SegmentId, check_magic_and_version};

/// Magic at the start of an outboard.
pub const OUTBOARD_MAGIC: [u8; 8] = *b"DSTOUTBD";
/// Bytes per chunk group: 16 BLAKE3 chunks. An outboard is 32 bytes per group, 0.2% of the
/// segment.
pub const GROUP_LEN: u64 = 16 * 1024;
/// Bytes before the first chaining value.
const HEADER_LEN: usize = 56;

/// The chaining values of a segment's chunk groups, and what they are of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outboard {
    /// The segment they describe (its BLAKE3).
    pub segment: SegmentId,
    /// The segment's length in bytes.
    pub len: u64,
    /// One chaining value per group, in file order (none when the segment is one group).
    pub cvs: Vec<ChainingValue>,
}

/// Number of chunk groups an outboard of a `len`-byte segment lists.
pub fn group_count(len: u64) -> u64 {
    if len <= GROUP_LEN {
        0
    } else {
        len.div_ceil(GROUP_LEN)
    }
}

/// The chaining value of the group at `offset` (a multiple of [`GROUP_LEN`]) holding `bytes`.
pub fn group_cv(offset: u64, bytes: &[u8]) -> ChainingValue {
    debug_assert_eq!(offset % GROUP_LEN, 0);
    let mut h = blake3::Hasher::new();
    h.set_input_offset(offset);
    h.update(bytes);
    h.finalize_non_root()
}

/// The BLAKE3 root of a `len`-byte input from the chaining values of its groups, merged in the
/// tree's left-balanced shape. `len` must be more than one group.
fn root_of(cvs: &[ChainingValue], len: u64) -> blake3::Hash {
    // The tree splits a span of `n` bytes at the largest power of two below it; every split of a
    // span longer than one group falls on a group boundary.
    fn subtree(cvs: &[ChainingValue], start: u64, len: u64) -> ChainingValue {
        if len <= GROUP_LEN {
            return cvs[(start / GROUP_LEN) as usize];
        }
        let left = blake3::hazmat::left_subtree_len(len);
        merge_subtrees_non_root(
            &subtree(cvs, start, left),
            &subtree(cvs, start + left, len - left),
            Mode::Hash,
        )
    }
    let left = blake3::hazmat::left_subtree_len(len);
    merge_subtrees_root(
        &subtree(cvs, 0, left),
        &subtree(cvs, left, len - left),
        Mode::Hash,
    )
}

/// Computes chaining values while bytes stream past, in one pass with the segment id.
#[derive(Debug, Clone, Default)]
pub struct OutboardHasher {
    group: Vec<u8>,
    cvs: Vec<ChainingValue>,
    len: u64,
}

impl OutboardHasher {
    /// A hasher at offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the segment.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = GROUP_LEN as usize - self.group.len();
            if self.group.is_empty() && data.len() > GROUP_LEN as usize {
                // Whole groups straight from the input (the last byte of the input is kept
                // back: a final full group is only known to be a non-root one once more
                // bytes follow, so it waits in `group`).
                let whole = (data.len() - 1) / GROUP_LEN as usize * GROUP_LEN as usize;
                for g in data[..whole].chunks(GROUP_LEN as usize) {
                    self.cvs.push(group_cv(self.len, g));
                    self.len += GROUP_LEN;
                }
                data = &data[whole..];
                continue;
            }
            if room == 0 {
                self.cvs.push(group_cv(self.len, &self.group));
                self.len += GROUP_LEN;
                self.group.clear();
                continue;
            }
            let n = room.min(data.len());
            self.group.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
    }

    /// The segment id and the outboard of everything fed.
    pub fn finalize(self) -> (SegmentId, Outboard) {
        let len = self.len + self.group.len() as u64;
        if self.cvs.is_empty() {
            // One group: the group is the whole tree, its hash the root.
            let id = SegmentId(*blake3::hash(&self.group).as_bytes());
            return (
                id,
                Outboard {
                    segment: id,
                    len,
                    cvs: Vec::new(),
                },
            );
        }
        let mut cvs = self.cvs;
        cvs.push(group_cv(self.len, &self.group));
        let id = SegmentId(*root_of(&cvs, len).as_bytes());
        (
            id,
            Outboard {
                segment: id,
                len,
                cvs,
            },
        )
    }
}

impl Outboard {
    /// The outboard of a whole segment held in memory.
    pub fn of(bytes: &[u8]) -> Outboard {
        let mut h = OutboardHasher::new();
        h.update(bytes);
        h.finalize().1
    }

    /// Whether the chaining values merge to the segment id (they describe that segment).
    pub fn matches_segment(&self) -> bool {
        if self.cvs.len() as u64 != group_count(self.len) {
            return false;
        }
        // A one-group segment has nothing to check here: its bytes are checked whole.
        self.cvs.is_empty() || root_of(&self.cvs, self.len).as_bytes() == &self.segment.0
    }

    /// The byte range of groups covering `start..end`, clamped to the segment.
    pub fn group_span(&self, start: u64, end: u64) -> std::ops::Range<u64> {
        let lo = start / GROUP_LEN * GROUP_LEN;
        let hi = end
            .div_ceil(GROUP_LEN)
            .saturating_mul(GROUP_LEN)
            .min(self.len);
        lo..hi.max(lo)
    }

    /// Checks `bytes`, read from `offset` (a multiple of [`GROUP_LEN`]) and ending on a group
    /// boundary or at the end of the segment, against the chaining values. For a one-group
    /// segment, `bytes` must be the whole segment. Returns the offset of the first group that
    /// differs.
    pub fn verify_span(&self, offset: u64, bytes: &[u8]) -> std::result::Result<(), u64> {
        if self.cvs.is_empty() {
            return if offset == 0
                && bytes.len() as u64 == self.len
                && blake3::hash(bytes).as_bytes() == &self.segment.0
            {
                Ok(())
            } else {
                Err(offset)
            };
        }
        let end = offset + bytes.len() as u64;
        if !offset.is_multiple_of(GROUP_LEN)
            || (!end.is_multiple_of(GROUP_LEN) && end != self.len)
            || end > self.len
        {
            return Err(offset);
        }
        for (i, g) in bytes.chunks(GROUP_LEN as usize).enumerate() {
            let at = offset + i as u64 * GROUP_LEN;
            if group_cv(at, g) != self.cvs[(at / GROUP_LEN) as usize] {
                return Err(at);
            }
        }
        Ok(())
    }

    /// The outboard's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.raw(&OUTBOARD_MAGIC);
        e.u32(FORMAT_VERSION);
        e.hash(&self.segment.0);
        e.u64(self.len);
        e.u32(GROUP_LEN as u32);
        for cv in &self.cvs {
            e.hash(cv);
        }
        let sum = blake3::hash(e.as_bytes());
        e.raw(sum.as_bytes());
        e.into_bytes()
    }

    /// Decodes an outboard, checking magic, version, checksum and the number of chaining
    /// values. Whether they merge to the segment id is [`Outboard::matches_segment`].
    pub fn decode(bytes: &[u8]) -> Result<Outboard> {
        if bytes.len() < HEADER_LEN + 32 {
            return Err(Error::Malformed {
                object: ObjectKind::Outboard,
                offset: 0,
                detail: format!(
                    "{} bytes is too short for an outboard (truncated?)",
                    bytes.len()
                ),
            });
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        let mut d = Decoder::new(body, ObjectKind::Outboard);
        check_magic_and_version(&mut d, ObjectKind::Outboard, OUTBOARD_MAGIC)?;
        if blake3::hash(body).as_bytes() != sum {
            return Err(Error::ChecksumMismatch {
                object: ObjectKind::Outboard,
            });
        }
        let segment = SegmentId(d.hash()?);
        let len = d.u64()?;
        if d.u32()? != GROUP_LEN as u32 {
            return Err(d.error(format!("group length must be {GROUP_LEN}")));
        }
        let n = group_count(len);
        if n != (d.remaining() / 32) as u64 || !d.remaining().is_multiple_of(32) {
            return Err(d.error(format!(
                "a segment of {len} bytes has {n} chunk groups, but {} bytes of chaining values follow",
                d.remaining()
            )));
        }
        let mut cvs = Vec::with_capacity(n as usize);
        for _ in 0..n {
            cvs.push(d.hash()?);
        }
        d.finish()?;
        Ok(Outboard { segment, len, cvs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn the_root_of_the_groups_is_blake3_at_every_boundary() {
        let g = GROUP_LEN as usize;
        for len in [
            0,
            1,
            1024,
            g - 1,
            g,
            g + 1,
            2 * g,
            2 * g + 1,
            3 * g,
            5 * g + 7,
            8 * g,
            8 * g + 1,
            33 * g - 1,
        ] {
            let bytes = data(len);
            let ob = Outboard::of(&bytes);
            assert_eq!(ob.segment.0, *blake3::hash(&bytes).as_bytes(), "len {len}");
            assert_eq!(ob.len, len as u64);
            assert_eq!(ob.cvs.len() as u64, group_count(len as u64));
            assert!(ob.matches_segment(), "len {len}");
            assert_eq!(Outboard::decode(&ob.encode()).unwrap(), ob);
        }
    }

    #[test]
    fn a_damaged_byte_is_found_in_its_group_only() {
        let g = GROUP_LEN as usize;
        let mut bytes = data(5 * g + 100);
        let ob = Outboard::of(&bytes);
        bytes[2 * g + 5] ^= 1;
        assert_eq!(ob.verify_span(0, &bytes[..2 * g]), Ok(()));
        assert_eq!(
            ob.verify_span(2 * g as u64, &bytes[2 * g..3 * g]),
            Err(2 * GROUP_LEN)
        );
        assert_eq!(ob.verify_span(3 * g as u64, &bytes[3 * g..]), Ok(()));
        // Spans must start and end on group boundaries (or the end of the segment).
        assert!(ob.verify_span(1, &bytes[1..g]).is_err());
        assert_eq!(
            ob.group_span(g as u64 + 3, 2 * g as u64 + 1),
            GROUP_LEN..3 * GROUP_LEN
        );
        assert_eq!(
            ob.group_span(5 * g as u64, 5 * g as u64 + 100),
            5 * GROUP_LEN..ob.len
        );
    }

    #[test]
    fn a_damaged_outboard_is_refused() {
        let ob = Outboard::of(&data(3 * GROUP_LEN as usize + 1));
        let bytes = ob.encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(Outboard::decode(&b).is_err(), "flip at {i} accepted");
        }
        // Valid bytes that describe another segment: the chaining values do not merge to it.
        let mut other = ob.clone();
        other.cvs.swap(0, 1);
        assert!(!Outboard::decode(&other.encode()).unwrap().matches_segment());
    }

    proptest! {
        #[test]
        fn streaming_in_any_pieces_gives_blake3(len in 0usize..200_000, cuts in proptest::collection::vec(0usize..200_000, 0..8)) {
            let bytes = data(len);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (len + 1)).collect();
            cuts.sort_unstable();
            let mut h = OutboardHasher::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([len]) {
                h.update(&bytes[at..c]);
                at = c;
            }
            let (id, ob) = h.finalize();
            prop_assert_eq!(id.0, *blake3::hash(&bytes).as_bytes());
            prop_assert_eq!(&ob, &Outboard::of(&bytes));
            prop_assert!(ob.matches_segment());
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Outboard::decode(&bytes);
        }
    }
}
