//! Snapshot manifests and the segment list pages they point to.
//!
//! A snapshot manifest lists every table of the store at one point in history: its schema,
//! totals, and the content ids of the pages that hold its ordered segment list. A page holds
//! [`PAGE_SEGMENTS`] segment entries (the last page of a table may hold fewer). Page `i` of a
//! table is always entries `i*PAGE_SEGMENTS ..`, whatever history produced the list, so equal
//! segment lists give equal pages and equal snapshot ids, while an append rewrites only the last
//! page: commit cost does not grow with history.

use std::sync::Arc;

use arrow_schema::Schema;

use crate::codec::{Decoder, Encoder};
use crate::error::{Error, ObjectKind, Result};
use crate::id::{PageId, SegmentId, SnapshotId};
use crate::schema::{decode_schema, encode_schema};
use crate::{FORMAT_VERSION, check_magic_and_version};

/// Magic at the start of a snapshot manifest file.
pub const MANIFEST_MAGIC: [u8; 8] = *b"DSTMANIF";
/// Magic at the start of a segment list page file.
pub const SEGLIST_MAGIC: [u8; 8] = *b"DSTSEGLS";
/// Segment entries per page; every page but a table's last is full.
pub const PAGE_SEGMENTS: usize = 128;

/// Statistics of one column over some rows, as Parquet records them.
///
/// `min` and `max` are in Parquet's PLAIN encoding of the column's physical type (see
/// `docs/format.md`), exactly as the footer of the segment holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnStats {
    /// Nulls in these rows, when known.
    pub null_count: Option<u64>,
    /// Smallest non-null value, when known.
    pub min: Option<Vec<u8>>,
    /// Largest non-null value, when known.
    pub max: Option<Vec<u8>>,
}

/// One leaf column of a segment's Parquet schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Path of the leaf in the Parquet schema, e.g. `["emb", "list", "element"]`.
    pub path: Vec<String>,
    /// Parquet physical type: 0 BOOLEAN, 1 INT32, 2 INT64, 3 INT96, 4 FLOAT, 5 DOUBLE,
    /// 6 BYTE_ARRAY, 7 FIXED_LEN_BYTE_ARRAY (Parquet's own numbering).
    pub physical_type: u8,
    /// Statistics over the whole segment (merged across row groups when every row group had
    /// them and the column's sort order is known).
    pub stats: ColumnStats,
}

/// One column chunk: its bytes in the segment and their BLAKE3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkEntry {
    /// Offset of the chunk's first byte (the dictionary page when present).
    pub offset: u64,
    /// Length of the chunk in bytes.
    pub length: u64,
    /// BLAKE3 of `segment[offset..offset + length]`.
    pub hash: [u8; 32],
    /// Statistics of this chunk, from the footer.
    pub stats: ColumnStats,
}

/// One row group of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowGroupEntry {
    /// Rows in the row group.
    pub rows: u64,
    /// One chunk per leaf column, in the segment's leaf order.
    pub chunks: Vec<ChunkEntry>,
}

/// Everything a reader needs to plan and verify reads of one segment without opening it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentEntry {
    /// BLAKE3 of the file; also its name.
    pub id: SegmentId,
    /// File length in bytes.
    pub bytes: u64,
    /// Rows in the segment.
    pub rows: u64,
    /// Leaf columns in Parquet order.
    pub columns: Vec<ColumnInfo>,
    /// Row groups in file order.
    pub row_groups: Vec<RowGroupEntry>,
}

/// A page of a table's segment list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SegmentList {
    /// Up to [`PAGE_SEGMENTS`] entries.
    pub entries: Vec<SegmentEntry>,
}

/// A table's reference to one page of its segment list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRef {
    /// Id of the page file.
    pub id: PageId,
    /// Entries in the page.
    pub segments: u32,
    /// Rows over the page's segments.
    pub rows: u64,
    /// Bytes over the page's segments.
    pub bytes: u64,
}

/// One table in a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct TableManifest {
    /// Table name (see [`crate::validate_table_name`]).
    pub name: String,
    /// The table's Arrow schema, fixed by its first snapshot.
    pub schema: Arc<Schema>,
    /// Total rows.
    pub rows: u64,
    /// Total segment bytes (a segment listed twice counts twice).
    pub bytes: u64,
    /// Total segment entries.
    pub segments: u64,
    /// The pages of the ordered segment list.
    pub pages: Vec<PageRef>,
}

/// A snapshot: every table at one point in history. Its id is the BLAKE3 of [`Manifest::encode`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Manifest {
    /// Tables sorted by name, names unique.
    pub tables: Vec<TableManifest>,
}

impl Manifest {
    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&TableManifest> {
        self.tables
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.tables[i])
    }

    /// Canonical bytes: the manifest file's exact contents. Refuses a manifest that
    /// [`Manifest::decode`] would refuse (repeated names, inconsistent totals or pages).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let bytes = self.encode_unchecked()?;
        Manifest::decode(&bytes)?;
        Ok(bytes)
    }

    fn encode_unchecked(&self) -> Result<Vec<u8>> {
        let mut e = Encoder::new();
        e.raw(&MANIFEST_MAGIC);
        e.u32(FORMAT_VERSION);
        let mut tables: Vec<&TableManifest> = self.tables.iter().collect();
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        e.len(tables.len());
        for t in tables {
            e.str(&t.name);
            encode_schema(&mut e, &t.schema)?;
            e.u64(t.rows);
            e.u64(t.bytes);
            e.u64(t.segments);
            e.len(t.pages.len());
            for p in &t.pages {
                e.hash(&p.id.0);
                e.u32(p.segments);
                e.u64(p.rows);
                e.u64(p.bytes);
            }
        }
        Ok(e.into_bytes())
    }

    /// Encodes and returns the bytes with their id.
    pub fn encode_with_id(&self) -> Result<(SnapshotId, Vec<u8>)> {
        let b = self.encode()?;
        Ok((SnapshotId::of(&b), b))
    }

    /// Decodes a manifest file, checking every invariant the encoder guarantees.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut d = Decoder::new(bytes, ObjectKind::Manifest);
        check_magic_and_version(&mut d, ObjectKind::Manifest, MANIFEST_MAGIC)?;
        let n = d.len(40)?;
        let mut tables: Vec<TableManifest> = Vec::with_capacity(n);
        for _ in 0..n {
            let name = d.str()?;
            crate::validate_table_name(&name).map_err(|e| d.error(e.to_string()))?;
            if tables.last().is_some_and(|t| t.name >= name) {
                return Err(d.error(format!("table {name:?} out of order or repeated")));
            }
            let schema = Arc::new(decode_schema(&mut d)?);
            let rows = d.u64()?;
            let bytes = d.u64()?;
            let segments = d.u64()?;
            let np = d.len(52)?; // a page ref is 32 + 4 + 8 + 8 bytes
            let mut pages = Vec::with_capacity(np);
            for i in 0..np {
                let p = PageRef {
                    id: PageId(d.hash()?),
                    segments: d.u32()?,
                    rows: d.u64()?,
                    bytes: d.u64()?,
                };
                let full = p.segments as usize == PAGE_SEGMENTS;
                if p.segments == 0 || p.segments as usize > PAGE_SEGMENTS || (i + 1 < np && !full) {
                    return Err(d.error(format!(
                        "table {name:?} page {i} holds {} segments; pages hold 1 to {PAGE_SEGMENTS} and only the last may be short",
                        p.segments
                    )));
                }
                pages.push(p);
            }
            let sum = |f: fn(&PageRef) -> u64| pages.iter().map(f).try_fold(0u64, u64::checked_add);
            if sum(|p| u64::from(p.segments)) != Some(segments)
                || sum(|p| p.rows) != Some(rows)
                || sum(|p| p.bytes) != Some(bytes)
            {
                return Err(d.error(format!(
                    "table {name:?} totals do not match the sum of its pages"
                )));
            }
            tables.push(TableManifest {
                name,
                schema,
                rows,
                bytes,
                segments,
                pages,
            });
        }
        d.finish()?;
        Ok(Manifest { tables })
    }
}

fn encode_stats(e: &mut Encoder, s: &ColumnStats) {
    e.opt(s.null_count.as_ref(), |e, v| e.u64(*v));
    e.opt(s.min.as_ref(), |e, v| e.bytes(v));
    e.opt(s.max.as_ref(), |e, v| e.bytes(v));
}

fn decode_stats(d: &mut Decoder<'_>) -> Result<ColumnStats> {
    Ok(ColumnStats {
        null_count: d.opt(Decoder::u64)?,
        min: d.opt(|d| d.bytes().map(<[u8]>::to_vec))?,
        max: d.opt(|d| d.bytes().map(<[u8]>::to_vec))?,
    })
}

impl SegmentList {
    /// Canonical bytes: the page file's exact contents.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.raw(&SEGLIST_MAGIC);
        e.u32(FORMAT_VERSION);
        e.len(self.entries.len());
        for s in &self.entries {
            e.hash(&s.id.0);
            e.u64(s.bytes);
            e.u64(s.rows);
            e.len(s.columns.len());
            for c in &s.columns {
                e.len(c.path.len());
                for p in &c.path {
                    e.str(p);
                }
                e.u8(c.physical_type);
                encode_stats(&mut e, &c.stats);
            }
            e.len(s.row_groups.len());
            for rg in &s.row_groups {
                e.u64(rg.rows);
                debug_assert_eq!(rg.chunks.len(), s.columns.len());
                for c in &rg.chunks {
                    e.u64(c.offset);
                    e.u64(c.length);
                    e.hash(&c.hash);
                    encode_stats(&mut e, &c.stats);
                }
            }
        }
        e.into_bytes()
    }

    /// Encodes and returns the bytes with their id.
    pub fn encode_with_id(&self) -> (PageId, Vec<u8>) {
        let b = self.encode();
        (PageId::of(&b), b)
    }

    /// The [`PageRef`] a manifest holds for this page.
    pub fn page_ref(&self, id: PageId) -> PageRef {
        PageRef {
            id,
            segments: self.entries.len() as u32,
            rows: self.entries.iter().map(|s| s.rows).sum(),
            bytes: self.entries.iter().map(|s| s.bytes).sum(),
        }
    }

    /// Decodes a page file.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut d = Decoder::new(bytes, ObjectKind::SegmentList);
        check_magic_and_version(&mut d, ObjectKind::SegmentList, SEGLIST_MAGIC)?;
        let n = d.len(56)?; // smallest entry: 32 + 8 + 8 + 4 + 4 bytes
        if n == 0 || n > PAGE_SEGMENTS {
            return Err(d.error(format!(
                "a page holds 1 to {PAGE_SEGMENTS} segments, this one {n}"
            )));
        }
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let id = SegmentId(d.hash()?);
            let bytes = d.u64()?;
            let rows = d.u64()?;
            let nc = d.len(8)?;
            let mut columns = Vec::with_capacity(nc);
            for _ in 0..nc {
                let np = d.len(4)?;
                let path = (0..np).map(|_| d.str()).collect::<Result<Vec<_>>>()?;
                let physical_type = d.u8()?;
                if physical_type > 7 {
                    return Err(d.error(format!("unknown Parquet physical type {physical_type}")));
                }
                let stats = decode_stats(&mut d)?;
                columns.push(ColumnInfo {
                    path,
                    physical_type,
                    stats,
                });
            }
            let nrg = d.len(8)?;
            let mut row_groups = Vec::with_capacity(nrg);
            for _ in 0..nrg {
                let rows = d.u64()?;
                let mut chunks = Vec::with_capacity(nc);
                for _ in 0..nc {
                    let offset = d.u64()?;
                    let length = d.u64()?;
                    if offset.checked_add(length).is_none_or(|end| end > bytes) {
                        return Err(d.error(format!(
                            "column chunk {offset}+{length} lies outside the {bytes}-byte segment"
                        )));
                    }
                    chunks.push(ChunkEntry {
                        offset,
                        length,
                        hash: d.hash()?,
                        stats: decode_stats(&mut d)?,
                    });
                }
                row_groups.push(RowGroupEntry { rows, chunks });
            }
            if row_groups
                .iter()
                .map(|r| r.rows)
                .try_fold(0u64, u64::checked_add)
                != Some(rows)
            {
                return Err(d.error("segment rows differ from the sum of its row groups"));
            }
            entries.push(SegmentEntry {
                id,
                bytes,
                rows,
                columns,
                row_groups,
            });
        }
        // The page's totals go into its PageRef as `u64`s: a page whose totals overflow cannot
        // be referenced by any manifest.
        let sum =
            |f: fn(&SegmentEntry) -> u64| entries.iter().map(f).try_fold(0u64, u64::checked_add);
        if sum(|s| s.rows).is_none() || sum(|s| s.bytes).is_none() {
            return Err(d.error("the page's total rows or bytes overflow u64"));
        }
        d.finish()?;
        Ok(SegmentList { entries })
    }
}

/// Splits an ordered segment list into pages: page `i` holds entries `i*PAGE_SEGMENTS..`.
pub fn paginate(entries: &[SegmentEntry]) -> Vec<SegmentList> {
    entries
        .chunks(PAGE_SEGMENTS)
        .map(|c| SegmentList {
            entries: c.to_vec(),
        })
        .collect()
}

/// Checks that a decoded value has a sane relation to its id, for callers that got bytes from
/// an untrusted place: the bytes must hash to `expected`.
pub fn check_content_id(bytes: &[u8], expected: &[u8; 32], object: ObjectKind) -> Result<()> {
    if blake3::hash(bytes).as_bytes() == expected {
        Ok(())
    } else {
        Err(Error::ChecksumMismatch { object })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(bytes: u64, rows: u64) -> SegmentEntry {
        SegmentEntry {
            id: SegmentId([7; 32]),
            bytes,
            rows,
            columns: Vec::new(),
            row_groups: vec![RowGroupEntry {
                rows,
                chunks: Vec::new(),
            }],
        }
    }

    /// Found by review while writing the fuzz targets (the `manifest` target's `page_ref` check
    /// panics on it): a page whose segments' rows or bytes add up past `u64::MAX` decoded, and
    /// [`SegmentList::page_ref`] then overflowed.
    #[test]
    fn page_totals_that_overflow_are_rejected() {
        for entries in [
            vec![entry(u64::MAX, 0), entry(1, 0)],
            vec![entry(0, u64::MAX), entry(0, 1)],
        ] {
            let bytes = SegmentList { entries }.encode();
            let err = SegmentList::decode(&bytes).unwrap_err();
            assert!(err.to_string().contains("overflow u64"), "{err}");
        }
        let page = SegmentList {
            entries: vec![entry(u64::MAX - 1, 1), entry(1, u64::MAX - 1)],
        };
        let decoded = SegmentList::decode(&page.encode()).unwrap();
        let r = decoded.page_ref(PageId([0; 32]));
        assert_eq!((r.segments, r.rows, r.bytes), (2, u64::MAX, u64::MAX));
    }
}
