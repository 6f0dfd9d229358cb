//! Content-defined cut points of a files table (docs/format.md §19.2): which files share a
//! segment. A cut falls after a file when the hash of its path is below a threshold that grows
//! with its size, so each decision depends on that one file alone (its path and its size
//! class): adding, removing or changing a file moves no cut point elsewhere, and the other
//! segments keep their bytes, hence their ids. The only decision that depends on more than one
//! file is the cap: a segment is cut before a file that would take it past four times the
//! target (a run with no natural cut that long is rare: at the target's own size, about one
//! segment in 50).

use std::ops::Range;

/// Bytes each file counts for beyond its size (its path, hash and the row's overhead), so
/// that many empty files still make segments of bounded size.
pub(crate) const ROW_WEIGHT: u64 = 512;

/// What cut decisions hash a path with (prefixed so no other hash in a store collides).
const DOMAIN: &[u8] = b"dstore files cut 1\0";

/// The file's weight rounded up to a power of two: its size class.
fn class(size: u64) -> u64 {
    size.saturating_add(ROW_WEIGHT)
        .checked_next_power_of_two()
        .unwrap_or(u64::MAX)
}

/// The first 8 bytes (little-endian) of BLAKE3(`DOMAIN` ‖ path).
pub(crate) fn path_hash(path: &str) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(DOMAIN);
    h.update(path.as_bytes());
    let b = h.finalize();
    u64::from_le_bytes(b.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// Whether a cut falls after a file of this path and size, for segments of `target` bytes:
/// with probability `class(size) / target` (1 for a file of the target's size or more).
pub(crate) fn cuts_after(path: &str, size: u64, target: u64) -> bool {
    let c = class(size);
    let target = target.max(1);
    if c >= target {
        return true;
    }
    let threshold = ((u128::from(c) << 64) / u128::from(target)) as u64;
    path_hash(path) < threshold
}

/// The files of each segment, as ranges of `files` (path, size), which are sorted by path.
pub(crate) fn groups<'a>(
    files: impl IntoIterator<Item = (&'a str, u64)>,
    target: u64,
) -> Vec<Range<usize>> {
    let cap = target.max(1).saturating_mul(4);
    let mut out = Vec::new();
    let (mut start, mut cur, mut n) = (0usize, 0u64, 0usize);
    for (i, (path, size)) in files.into_iter().enumerate() {
        let w = size.saturating_add(ROW_WEIGHT);
        if cur > 0 && cur.saturating_add(w) > cap {
            out.push(start..i);
            start = i;
            cur = 0;
        }
        cur = cur.saturating_add(w);
        if cuts_after(path, size, target) {
            out.push(start..i + 1);
            start = i + 1;
            cur = 0;
        }
        n = i + 1;
    }
    if start < n {
        out.push(start..n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_every_file_once_and_average_near_the_target() {
        let names: Vec<String> = (0..20_000)
            .map(|i| format!("d{}/f{i:06}.jpg", i % 7))
            .collect();
        let files: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 3000)).collect();
        let g = groups(files.iter().copied(), 1 << 20);
        assert_eq!(g.first().unwrap().start, 0);
        assert_eq!(g.last().unwrap().end, files.len());
        assert!(
            g.windows(2)
                .all(|w| w[0].end == w[1].start && w[0].start < w[0].end)
        );
        // 3000 + 512 rounds to 4096: a cut every 256 files on average.
        let mean = files.len() as f64 / g.len() as f64;
        assert!((180.0..360.0).contains(&mean), "{mean} files a segment");
        // The cap holds.
        let cap = 4 << 20;
        assert!(g.iter().all(|r| (r.len() as u64) * 3512 <= cap));
    }

    #[test]
    fn a_file_at_least_the_target_ends_its_segment_and_a_huge_one_is_alone() {
        let files = [
            ("a", 10),
            ("b", 100),
            ("c", 1 << 20),
            ("d", 10),
            ("e", 64 << 20),
            ("f", 1),
        ];
        let g = groups(files.iter().copied(), 1 << 20);
        assert!(g.iter().any(|r| r.end == 3), "{g:?}");
        assert!(g.contains(&(4..5)), "{g:?}");
    }

    #[test]
    fn no_files_no_groups() {
        assert!(groups(std::iter::empty(), 100).is_empty());
    }
}
