//! Turning a Parquet file's bytes into a [`SegmentEntry`]: the whole-file BLAKE3 (the segment
//! id), the BLAKE3 of every column chunk, and statistics merged across row groups.

use std::cmp::Ordering;
use std::io::{self, Read, Write};
use std::ops::Range;

use dstore_format::outboard::{Outboard, OutboardHasher};
use dstore_format::{ChunkEntry, ColumnInfo, ColumnStats, RowGroupEntry, SegmentEntry, SegmentId};
use parquet::basic::{SortOrder, Type as PhysicalType};
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData};

/// Read buffer for hashing and copying.
const BUF: usize = 1 << 20;

/// Result of streaming a file through [`hash_stream`].
pub(crate) struct Hashed {
    pub(crate) id: SegmentId,
    pub(crate) len: u64,
    /// The chaining values of the file's chunk groups (computed in the same pass as the id).
    pub(crate) outboard: Outboard,
    /// BLAKE3 of each requested range, in the order the ranges were given.
    pub(crate) range_hashes: Vec<[u8; 32]>,
}

/// Reads `src` to the end, copying to `sink` when given, and hashes the whole stream and each of
/// `ranges` (which must be disjoint) in the same pass.
pub(crate) fn hash_stream(
    src: &mut dyn Read,
    mut sink: Option<&mut dyn Write>,
    ranges: &[Range<u64>],
) -> io::Result<Hashed> {
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| ranges[i].start);
    let mut hashers: Vec<blake3::Hasher> = vec![blake3::Hasher::new(); ranges.len()];
    let mut whole = OutboardHasher::new();
    let mut buf = vec![0u8; BUF];
    let mut pos = 0u64;
    let mut next = 0; // first range (in `order`) not yet finished
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let data = &buf[..n];
        whole.update(data);
        if let Some(s) = sink.as_deref_mut() {
            s.write_all(data)?;
        }
        let end = pos + n as u64;
        let mut k = next;
        while k < order.len() {
            let r = &ranges[order[k]];
            if r.start >= end {
                break;
            }
            let lo = r.start.max(pos);
            let hi = r.end.min(end);
            if lo < hi {
                hashers[order[k]].update(&data[(lo - pos) as usize..(hi - pos) as usize]);
            }
            if r.end <= end && k == next {
                next += 1;
            }
            k += 1;
        }
        pos = end;
    }
    let (id, outboard) = whole.finalize();
    Ok(Hashed {
        id,
        len: pos,
        outboard,
        range_hashes: hashers.iter().map(|h| *h.finalize().as_bytes()).collect(),
    })
}

/// BLAKE3 of each of `ranges` of `file`, in parallel, in the order given.
pub(crate) fn hash_ranges(
    file: &std::fs::File,
    ranges: &[Range<u64>],
) -> io::Result<Vec<[u8; 32]>> {
    use rayon::prelude::*;
    use std::os::unix::fs::FileExt;
    ranges
        .par_iter()
        .map(|r| {
            let mut h = blake3::Hasher::new();
            let mut buf = vec![0u8; (r.end - r.start).min(BUF as u64) as usize];
            let mut pos = r.start;
            while pos < r.end {
                let n = ((r.end - pos) as usize).min(buf.len());
                file.read_exact_at(&mut buf[..n], pos)?;
                h.update(&buf[..n]);
                pos += n as u64;
            }
            Ok(*h.finalize().as_bytes())
        })
        .collect()
}

/// The byte range of every column chunk, row group by row group, checked to lie inside a file
/// of `len` bytes before its footer and not to overlap.
pub(crate) fn chunk_ranges(meta: &ParquetMetaData, len: u64) -> Result<Vec<Range<u64>>, String> {
    let mut out = Vec::new();
    for (g, rg) in meta.row_groups().iter().enumerate() {
        for (c, cc) in rg.columns().iter().enumerate() {
            let (start, n) = cc.byte_range();
            let end = start.checked_add(n).filter(|&e| e + 8 <= len).ok_or_else(|| {
                format!("row group {g} column {c} claims bytes {start}..{start}+{n}, past the end of the {len}-byte file")
            })?;
            out.push(start..end);
        }
    }
    let mut sorted = out.clone();
    sorted.sort_by_key(|r| r.start);
    if sorted.windows(2).any(|w| w[0].end > w[1].start) {
        return Err("column chunks overlap".into());
    }
    Ok(out)
}

fn physical_code(t: PhysicalType) -> u8 {
    match t {
        PhysicalType::BOOLEAN => 0,
        PhysicalType::INT32 => 1,
        PhysicalType::INT64 => 2,
        PhysicalType::INT96 => 3,
        PhysicalType::FLOAT => 4,
        PhysicalType::DOUBLE => 5,
        PhysicalType::BYTE_ARRAY => 6,
        PhysicalType::FIXED_LEN_BYTE_ARRAY => 7,
    }
}

fn chunk_stats(cc: &ColumnChunkMetaData) -> ColumnStats {
    let Some(s) = cc.statistics() else {
        return ColumnStats::default();
    };
    // Old writers filled the deprecated min/max fields with a signed comparison; those bounds
    // are only right for columns whose sort order is signed.
    let usable = !s.is_min_max_deprecated() || s.is_min_max_backwards_compatible();
    ColumnStats {
        null_count: s.null_count_opt(),
        min: usable
            .then(|| s.min_bytes_opt().map(<[u8]>::to_vec))
            .flatten(),
        max: usable
            .then(|| s.max_bytes_opt().map(<[u8]>::to_vec))
            .flatten(),
    }
}

/// Compares two PLAIN-encoded values of a physical type under a sort order.
fn cmp_plain(pt: PhysicalType, order: SortOrder, a: &[u8], b: &[u8]) -> Option<Ordering> {
    fn arr<const N: usize>(x: &[u8]) -> Option<[u8; N]> {
        x.try_into().ok()
    }
    match (pt, order) {
        (PhysicalType::BOOLEAN, _) => Some(a.first()?.cmp(b.first()?)),
        (PhysicalType::INT32, SortOrder::SIGNED) => {
            Some(i32::from_le_bytes(arr(a)?).cmp(&i32::from_le_bytes(arr(b)?)))
        }
        (PhysicalType::INT32, SortOrder::UNSIGNED) => {
            Some(u32::from_le_bytes(arr(a)?).cmp(&u32::from_le_bytes(arr(b)?)))
        }
        (PhysicalType::INT64, SortOrder::SIGNED) => {
            Some(i64::from_le_bytes(arr(a)?).cmp(&i64::from_le_bytes(arr(b)?)))
        }
        (PhysicalType::INT64, SortOrder::UNSIGNED) => {
            Some(u64::from_le_bytes(arr(a)?).cmp(&u64::from_le_bytes(arr(b)?)))
        }
        (PhysicalType::FLOAT, SortOrder::SIGNED) => {
            f32::from_le_bytes(arr(a)?).partial_cmp(&f32::from_le_bytes(arr(b)?))
        }
        (PhysicalType::DOUBLE, SortOrder::SIGNED) => {
            f64::from_le_bytes(arr(a)?).partial_cmp(&f64::from_le_bytes(arr(b)?))
        }
        (PhysicalType::BYTE_ARRAY | PhysicalType::FIXED_LEN_BYTE_ARRAY, SortOrder::UNSIGNED) => {
            Some(a.cmp(b))
        }
        (PhysicalType::BYTE_ARRAY | PhysicalType::FIXED_LEN_BYTE_ARRAY, SortOrder::SIGNED) => {
            Some(cmp_big_endian_signed(a, b))
        }
        _ => None,
    }
}

/// Two's complement big-endian integers of any lengths (Parquet decimals).
fn cmp_big_endian_signed(a: &[u8], b: &[u8]) -> Ordering {
    let neg = |x: &[u8]| x.first().is_some_and(|&h| h & 0x80 != 0);
    let (na, nb) = (neg(a), neg(b));
    if na != nb {
        return if na {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let n = a.len().max(b.len());
    let ext = |x: &[u8], i: usize| {
        let pad = n - x.len();
        if i < pad {
            if neg(x) { 0xff } else { 0 }
        } else {
            x[i - pad]
        }
    };
    (0..n)
        .map(|i| ext(a, i).cmp(&ext(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Merges per-row-group statistics of one column into segment statistics. A bound is kept only
/// when every row group that has non-null values provides it and the sort order is known.
fn merge_stats(pt: PhysicalType, order: SortOrder, parts: &[(u64, &ColumnStats)]) -> ColumnStats {
    let null_count = parts.iter().map(|(_, s)| s.null_count).sum::<Option<u64>>();
    let mut min: Option<Vec<u8>> = None;
    let mut max: Option<Vec<u8>> = None;
    let mut ok = true;
    for (rows, s) in parts {
        let all_null = s.null_count == Some(*rows);
        match (&s.min, &s.max) {
            (Some(lo), Some(hi)) => {
                for (acc, v, want) in [
                    (&mut min, lo, Ordering::Less),
                    (&mut max, hi, Ordering::Greater),
                ] {
                    match acc {
                        None => *acc = Some(v.clone()),
                        Some(cur) => match cmp_plain(pt, order, v, cur) {
                            Some(o) if o == want => *acc = Some(v.clone()),
                            Some(_) => {}
                            None => ok = false,
                        },
                    }
                }
            }
            _ if all_null => {}
            _ => ok = false,
        }
    }
    ColumnStats {
        null_count,
        min: min.filter(|_| ok),
        max: max.filter(|_| ok),
    }
}

/// Builds the manifest entry for a segment from its footer and the chunk hashes computed over
/// exactly the ranges [`chunk_ranges`] returned.
pub(crate) fn segment_entry(
    id: SegmentId,
    len: u64,
    meta: &ParquetMetaData,
    chunk_hashes: &[[u8; 32]],
) -> SegmentEntry {
    let schema = meta.file_metadata().schema_descr();
    let mut hashes = chunk_hashes.iter();
    let row_groups: Vec<RowGroupEntry> = meta
        .row_groups()
        .iter()
        .map(|rg| RowGroupEntry {
            rows: rg.num_rows() as u64,
            chunks: rg
                .columns()
                .iter()
                .map(|cc| {
                    let (offset, length) = cc.byte_range();
                    ChunkEntry {
                        offset,
                        length,
                        hash: *hashes.next().expect("one hash per chunk"),
                        stats: chunk_stats(cc),
                    }
                })
                .collect(),
        })
        .collect();
    let columns = schema
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let parts: Vec<(u64, &ColumnStats)> = row_groups
                .iter()
                .map(|rg| (rg.rows, &rg.chunks[i].stats))
                .collect();
            ColumnInfo {
                path: c.path().parts().to_vec(),
                physical_type: physical_code(c.physical_type()),
                stats: merge_stats(c.physical_type(), c.sort_order(), &parts),
            }
        })
        .collect();
    SegmentEntry {
        id,
        bytes: len,
        rows: row_groups.iter().map(|r| r.rows).sum(),
        columns,
        row_groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hash_to_their_bytes() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let ranges = [2_500_000..2_999_999, 10..20, 1_048_570..1_048_590];
        let mut out = Vec::new();
        let h = hash_stream(&mut &data[..], Some(&mut out), &ranges).unwrap();
        assert_eq!(out, data);
        assert_eq!(h.id.0, *blake3::hash(&data).as_bytes());
        for (r, got) in ranges.iter().zip(&h.range_hashes) {
            let want = blake3::hash(&data[r.start as usize..r.end as usize]);
            assert_eq!(got, want.as_bytes(), "range {r:?}");
        }
    }

    #[test]
    fn signed_big_endian_compare() {
        assert_eq!(
            cmp_big_endian_signed(&[0xff], &[0x00, 0x01]),
            Ordering::Less
        );
        assert_eq!(
            cmp_big_endian_signed(&[0x01, 0x00], &[0x7f]),
            Ordering::Greater
        );
        assert_eq!(
            cmp_big_endian_signed(&[0xff, 0xfe], &[0xff]),
            Ordering::Less
        );
    }

    #[test]
    fn merge_keeps_bounds_only_when_all_known() {
        let a = ColumnStats {
            null_count: Some(0),
            min: Some(5i32.to_le_bytes().to_vec()),
            max: Some(9i32.to_le_bytes().to_vec()),
        };
        let b = ColumnStats {
            null_count: Some(1),
            min: Some((-3i32).to_le_bytes().to_vec()),
            max: Some(7i32.to_le_bytes().to_vec()),
        };
        let m = merge_stats(
            PhysicalType::INT32,
            SortOrder::SIGNED,
            &[(10, &a), (10, &b)],
        );
        assert_eq!(m.min, Some((-3i32).to_le_bytes().to_vec()));
        assert_eq!(m.max, Some(9i32.to_le_bytes().to_vec()));
        assert_eq!(m.null_count, Some(1));
        let none = ColumnStats::default();
        let m = merge_stats(
            PhysicalType::INT32,
            SortOrder::SIGNED,
            &[(10, &a), (10, &none)],
        );
        assert_eq!((m.min, m.max, m.null_count), (None, None, None));
    }
}
