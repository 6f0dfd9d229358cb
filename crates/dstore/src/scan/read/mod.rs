//! Reading row groups of segments with verification: every column chunk a decode touches is
//! fetched whole once and checked against its BLAKE3 in the manifest before any page of it is
//! decoded; the footer is checked against the manifest's chunk layout.
//!
//! Parquet page indexes (per-page min/max/null counts and page locations) live outside the
//! column chunks, so no hash in a v1 manifest covers them: a damaged index could hide pages
//! that match. A segment with an outboard (docs/format.md §15) can have any byte range checked
//! against its own id, so for it verified reads use the page index too: the footer and index
//! bytes and each page fetched are checked, chunk group by chunk group, against the outboard,
//! and only the pages a filter may match are fetched and decoded. A segment without one (older
//! stores) is read as before: no page index when verifying. Unverified reads
//! ([`super::ScanBuilder::verify`]`(false)`) always use the page index.
//!
//! `chunks.rs` is the verifying `ChunkReader`; `decode.rs` decodes a row group, its columns
//! in parallel (column groups over one shared reader, stitched in the projection's order).

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dstore_format::outboard::GROUP_LEN;
use dstore_format::{Outboard, SegmentEntry};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
use parquet::file::page_index::column_index::ColumnIndexMetaData;

mod chunks;
mod decode;

pub(crate) use decode::DECODE_BATCH_ROWS;

use chunks::VerifiedReader;

use super::chunk_cache::ChunkCache;
use super::filter::{Expr, column_range};
use crate::error::{Error, Result};
use crate::layout::segment_key;
use crate::storage::Storage;

/// Counters a scan exposes (bytes fetched from storage, row groups decoded and skipped).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) bytes: AtomicU64,
    pub(crate) row_groups: AtomicU64,
    pub(crate) pruned: AtomicU64,
    pub(crate) page_rows_skipped: AtomicU64,
    /// Rows whose other columns late materialization did not decode (`super::late`).
    pub(crate) late_rows_skipped: AtomicU64,
    /// Row groups of which only the filter's columns were decoded: no row matched.
    pub(crate) late_units_skipped: AtomicU64,
}

/// Opened segments of one table (footers read once and checked against the manifest).
pub(crate) struct SegmentSet {
    storage: Arc<dyn Storage>,
    entries: Vec<SegmentEntry>,
    footers: Mutex<HashMap<usize, ArrowReaderMetadata>>,
    verify: bool,
    /// Whether footers load the page index and filters select pages with it (for verified
    /// reads, only of segments with an outboard: see the module docs).
    page_index: bool,
    /// Outboards loaded so far (checked), by segment; `None`: the segment has none.
    outboards: Mutex<HashMap<usize, Option<Arc<Outboard>>>>,
    pub(crate) counters: Arc<Counters>,
    /// Verified chunks kept across decodes (capacity 0 unless the scan sets one).
    chunk_cache: Arc<ChunkCache>,
}

/// Verified reads use the page index only in segments of more chunk groups than this.
const MIN_RANGE_VERIFIED_GROUPS: u64 = 4;

/// Rows of a row group that a page selection keeps: sorted, disjoint ranges.
pub(crate) type Kept = Vec<Range<u64>>;

impl SegmentSet {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        entries: Vec<SegmentEntry>,
        verify: bool,
        page_index: bool,
    ) -> Self {
        Self {
            storage,
            entries,
            footers: Mutex::new(HashMap::new()),
            verify,
            page_index,
            outboards: Mutex::new(HashMap::new()),
            counters: Arc::new(Counters::default()),
            chunk_cache: Arc::new(ChunkCache::new(0)),
        }
    }

    /// Keeps up to `capacity` bytes of verified column chunks across decodes.
    pub(crate) fn with_chunk_cache(mut self, capacity: u64) -> Self {
        self.chunk_cache = Arc::new(ChunkCache::new(capacity));
        self
    }

    /// Rows in row group `row_group` of segment `seg` (from the manifest).
    pub(crate) fn rows(&self, seg: usize, row_group: usize) -> u64 {
        self.entries[seg].row_groups[row_group].rows
    }

    /// The outboard of segment `seg`, loaded and checked once (verified reads only).
    fn outboard(&self, seg: usize) -> Result<Option<Arc<Outboard>>> {
        if !self.verify {
            return Ok(None);
        }
        if let Some(o) = self.outboards.lock().expect("lock").get(&seg) {
            return Ok(o.clone());
        }
        let e = &self.entries[seg];
        let o = crate::derived::load_outboard(&*self.storage, &e.id, e.bytes)?.map(Arc::new);
        self.outboards.lock().expect("lock").insert(seg, o.clone());
        Ok(o)
    }

    /// Whether reads of segment `seg` use its page index: always unverified, and verified when
    /// an outboard lets the index and single pages be checked and the segment is large enough
    /// for skipping pages to save anything (a verified range read fetches whole 16 KiB chunk
    /// groups, so in a segment of a few groups it would fetch about everything anyway).
    fn uses_page_index(&self, seg: usize) -> Result<bool> {
        if !self.page_index {
            return Ok(false);
        }
        if !self.verify {
            return Ok(true);
        }
        Ok(
            self.entries[seg].bytes > MIN_RANGE_VERIFIED_GROUPS * GROUP_LEN
                && self.outboard(seg)?.is_some(),
        )
    }

    fn path(&self, seg: usize) -> PathBuf {
        self.storage.describe(&segment_key(&self.entries[seg].id))
    }

    /// A reader of segment `seg`; `exact` fetches only the ranges asked for (see
    /// [`VerifiedReader`]).
    fn reader(&self, seg: usize, exact: bool) -> Result<VerifiedReader> {
        let e = &self.entries[seg];
        let mut chunks: Vec<(Range<u64>, [u8; 32])> = e
            .row_groups
            .iter()
            .flat_map(|g| {
                g.chunks
                    .iter()
                    .map(|c| (c.offset..c.offset + c.length, c.hash))
            })
            .collect();
        chunks.sort_unstable_by_key(|c| c.0.start);
        Ok(VerifiedReader {
            storage: self.storage.clone(),
            key: segment_key(&e.id),
            len: e.bytes,
            chunks,
            verify: self.verify,
            exact,
            cache: Mutex::new(HashMap::new()),
            shared: (self.chunk_cache.clone(), seg),
            counters: self.counters.clone(),
            outboard: if self.uses_page_index(seg)? {
                self.outboard(seg)?
            } else {
                None
            },
            groups: Mutex::new(HashMap::new()),
        })
    }

    fn footer(&self, seg: usize) -> Result<ArrowReaderMetadata> {
        if let Some(m) = self.footers.lock().expect("lock").get(&seg) {
            return Ok(m.clone());
        }
        let corrupt = |detail: String| Error::Corrupted {
            path: self.path(seg),
            detail,
        };
        let reader = self.reader(seg, false)?;
        let policy = if self.uses_page_index(seg)? {
            PageIndexPolicy::Optional
        } else {
            PageIndexPolicy::Skip
        };
        let meta = ParquetMetaDataReader::new()
            .with_page_index_policy(policy)
            .parse_and_finish(&reader)
            .map_err(|e| corrupt(format!("footer: {e}")))?;
        // The footer must describe exactly the chunks the manifest hashed.
        let e = &self.entries[seg];
        let same = meta.row_groups().len() == e.row_groups.len()
            && meta
                .row_groups()
                .iter()
                .zip(&e.row_groups)
                .all(|(rg, want)| {
                    rg.num_rows() as u64 == want.rows
                        && rg.columns().len() == want.chunks.len()
                        && rg
                            .columns()
                            .iter()
                            .zip(&want.chunks)
                            .all(|(c, w)| c.byte_range() == (w.offset, w.length))
                });
        if !same {
            return Err(corrupt(
                "footer does not match the layout recorded in the manifest".into(),
            ));
        }
        let m = ArrowReaderMetadata::try_new(Arc::new(meta), ArrowReaderOptions::default())
            .map_err(|e| corrupt(format!("footer: {e}")))?;
        self.footers.lock().expect("lock").insert(seg, m.clone());
        Ok(m)
    }

    /// The rows of a row group whose pages may match `filter`, judging by the page index
    /// (`None`: no page index to judge by, or page indexes are off; every row is kept).
    /// `schema` is the table's schema, which `filter` is bound to.
    pub(crate) fn page_selection(
        &self,
        seg: usize,
        row_group: usize,
        filter: &Expr,
        schema: &arrow::datatypes::Schema,
    ) -> Result<Option<Kept>> {
        if !self.uses_page_index(seg)? {
            return Ok(None);
        }
        let meta = self.footer(seg)?;
        let pi = meta.metadata().page_index_for_row_group(row_group);
        let e = &self.entries[seg];
        let rows = e.row_groups[row_group].rows;
        // Per filter column with a usable index: its leaf, the first row of each page, the index.
        let mut cols: Vec<(String, usize, Vec<u64>, &ColumnIndexMetaData)> = Vec::new();
        for name in filter.columns() {
            let Some(leaf) = e
                .columns
                .iter()
                .position(|c| c.path.len() == 1 && c.path[0] == name)
            else {
                continue;
            };
            let (Some(locations), Some(index)) = (pi.page_locations(leaf), pi.column_index(leaf))
            else {
                continue;
            };
            let starts: Vec<u64> = locations
                .iter()
                .map(|l| u64::try_from(l.first_row_index).unwrap_or(u64::MAX))
                .collect();
            let sane = !starts.is_empty()
                && starts[0] == 0
                && starts.windows(2).all(|w| w[0] < w[1])
                && starts.last().is_some_and(|&s| s < rows)
                && index.num_pages() == starts.len() as u64;
            if sane {
                cols.push((name, leaf, starts, index));
            }
        }
        if cols.is_empty() {
            return Ok(None);
        }
        let mut bounds: Vec<u64> = cols
            .iter()
            .flat_map(|c| c.2.iter().copied())
            .chain([rows])
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        let mut kept: Kept = Vec::new();
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            let may = filter.may_match(&|name: &str| {
                let (_, leaf, starts, index) = cols.iter().find(|c| c.0 == name)?;
                let p = starts.partition_point(|&s| s <= a) - 1;
                let end = starts.get(p + 1).copied().unwrap_or(rows);
                let field = schema.field_with_name(name).ok()?;
                Some(column_range(
                    field.data_type(),
                    e.columns[*leaf].physical_type,
                    &page_stats(index, p),
                    end - starts[p],
                ))
            });
            if may {
                match kept.last_mut() {
                    Some(last) if last.end == a => last.end = b,
                    _ => kept.push(a..b),
                }
            }
        }
        let skipped = rows - kept.iter().map(|r| r.end - r.start).sum::<u64>();
        self.counters
            .page_rows_skipped
            .fetch_add(skipped, Ordering::Relaxed);
        Ok(Some(kept))
    }
}

/// The statistics of page `p` in a column index, as PLAIN-encoded bounds (what
/// [`column_range`] decodes).
fn page_stats(index: &ColumnIndexMetaData, p: usize) -> dstore_format::ColumnStats {
    fn le<T: Copy, const N: usize>(v: Option<&T>, f: fn(T) -> [u8; N]) -> Option<Vec<u8>> {
        v.map(|v| f(*v).to_vec())
    }
    let (min, max) = match index {
        ColumnIndexMetaData::BOOLEAN(i) => (
            i.min_value(p).map(|v| vec![u8::from(*v)]),
            i.max_value(p).map(|v| vec![u8::from(*v)]),
        ),
        ColumnIndexMetaData::INT32(i) => (
            le(i.min_value(p), i32::to_le_bytes),
            le(i.max_value(p), i32::to_le_bytes),
        ),
        ColumnIndexMetaData::INT64(i) => (
            le(i.min_value(p), i64::to_le_bytes),
            le(i.max_value(p), i64::to_le_bytes),
        ),
        ColumnIndexMetaData::FLOAT(i) => (
            le(i.min_value(p), f32::to_le_bytes),
            le(i.max_value(p), f32::to_le_bytes),
        ),
        ColumnIndexMetaData::DOUBLE(i) => (
            le(i.min_value(p), f64::to_le_bytes),
            le(i.max_value(p), f64::to_le_bytes),
        ),
        ColumnIndexMetaData::BYTE_ARRAY(i) => (
            i.min_value(p).map(<[u8]>::to_vec),
            i.max_value(p).map(<[u8]>::to_vec),
        ),
        ColumnIndexMetaData::INT96(_) | ColumnIndexMetaData::FIXED_LEN_BYTE_ARRAY(_) => {
            (None, None)
        }
    };
    dstore_format::ColumnStats {
        null_count: index.null_count(p).and_then(|n| u64::try_from(n).ok()),
        min,
        max,
    }
}

/// A verification failure travels through parquet as an external error; unwrap it.
fn unwrap_corruption(e: arrow::error::ArrowError, path: &std::path::Path) -> Error {
    let text = e.to_string();
    if let arrow::error::ArrowError::ExternalError(inner) = e
        && let Ok(pe) = inner.downcast::<ParquetError>()
        && let ParquetError::External(inner) = *pe
        && let Ok(de) = inner.downcast::<Error>()
    {
        return *de;
    }
    Error::Corrupted {
        path: path.to_owned(),
        detail: text,
    }
}
