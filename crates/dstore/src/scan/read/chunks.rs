//! [`VerifiedReader`]: the `ChunkReader` every decode of a segment goes through. Column chunks
//! are fetched whole once and checked against their BLAKE3 in the manifest before any page of
//! them is served; with an outboard, single pages and the footer are checked by chunk group.
//!
//! One reader is shared (through [`SharedReader`]) by the decoders of the column groups of a
//! row group, which run on different threads: the chunk cache is locked only to look up and
//! insert, never while a chunk is fetched or hashed, so a thread hashing the chunk of one
//! column does not hold up a thread decoding another.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use dstore_format::Outboard;
use dstore_format::outboard::GROUP_LEN;
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};

use super::Counters;
use crate::error::Error;
use crate::scan::chunk_cache::ChunkCache;
use crate::storage::Storage;

/// A `ChunkReader` over one segment in storage that verifies column chunks.
pub(super) struct VerifiedReader {
    pub(super) storage: Arc<dyn Storage>,
    pub(super) key: String,
    pub(super) len: u64,
    /// Column chunk ranges and their hashes (all row groups), sorted by offset.
    pub(super) chunks: Vec<(Range<u64>, [u8; 32])>,
    pub(super) verify: bool,
    /// Fetch exactly the ranges asked for (unverified reads driven by a page index, which ask
    /// page by page); otherwise whole column chunks are fetched once and served from memory.
    pub(super) exact: bool,
    pub(super) cache: Mutex<HashMap<u64, Bytes>>,
    /// Verified chunks shared by the scan's decodes (order v2 reads a row group in parts), and
    /// this segment's index in it.
    pub(super) shared: (Arc<ChunkCache>, usize),
    pub(super) counters: Arc<Counters>,
    /// The segment's checked outboard, when reads of it use the page index (verified reads of
    /// segments that have one): single pages and the footer are then verified by range.
    pub(super) outboard: Option<Arc<Outboard>>,
    /// Chunk groups fetched and verified so far, by offset (pages are small and share groups).
    pub(super) groups: Mutex<HashMap<u64, Bytes>>,
}

impl VerifiedReader {
    /// The column chunk holding byte `at`, if one does (chunks are sorted and disjoint).
    fn chunk_of(&self, at: u64) -> Option<&(Range<u64>, [u8; 32])> {
        let i = self.chunks.partition_point(|(r, _)| r.start <= at);
        let c = self.chunks.get(i.checked_sub(1)?)?;
        (at < c.0.end).then_some(c)
    }

    /// Fetches `start..end`, checking the chunk groups it lies in against the outboard (each
    /// group fetched and checked once per reader).
    fn fetch_verified(
        &self,
        ob: &Outboard,
        start: u64,
        end: u64,
    ) -> parquet::errors::Result<Bytes> {
        let group = if ob.cvs.is_empty() {
            ob.len.max(1)
        } else {
            GROUP_LEN
        };
        let span = if ob.cvs.is_empty() {
            0..ob.len
        } else {
            ob.group_span(start, end)
        };
        let mut groups = self.groups.lock().expect("group cache lock");
        // Fetch the missing groups of the span, contiguous runs in one request each.
        let mut at = span.start;
        while at < span.end {
            if groups.contains_key(&at) {
                at += group;
                continue;
            }
            let mut run_end = at;
            while run_end < span.end && !groups.contains_key(&run_end) {
                run_end = (run_end + group).min(span.end);
            }
            let b = self.fetch(at..run_end)?;
            if let Err(bad) = ob.verify_span(at, &b) {
                return Err(ParquetError::External(Box::new(Error::Corrupted {
                    path: self.storage.describe(&self.key),
                    detail: format!(
                        "bytes {start}..{end} (in the chunk group at offset {bad}) differ from the segment's outboard"
                    ),
                })));
            }
            let mut g = at;
            while g < run_end {
                let hi = (g + group).min(run_end);
                groups.insert(g, b.slice((g - at) as usize..(hi - at) as usize));
                g = hi;
            }
            at = run_end;
        }
        let first = start - start % group;
        if end <= first + group {
            let g = &groups[&first];
            let off = (start - first) as usize;
            return Ok(g.slice(off..off + (end - start) as usize));
        }
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut g = first;
        while g < end {
            let b = &groups[&g];
            let lo = start.max(g) - g;
            let hi = end.min(g + b.len() as u64) - g;
            out.extend_from_slice(&b[lo as usize..hi as usize]);
            g += group;
        }
        Ok(Bytes::from(out))
    }

    fn fetch(&self, r: Range<u64>) -> parquet::errors::Result<Bytes> {
        let b = self
            .storage
            .get_range(&self.key, r.clone())
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        self.counters
            .bytes
            .fetch_add(r.end - r.start, Ordering::Relaxed);
        Ok(Bytes::from(b))
    }

    /// The whole column chunk `r`, fetched and checked once (the cache is not locked while
    /// fetching or hashing: readers of other chunks go on meanwhile).
    fn chunk(&self, r: &Range<u64>, hash: &[u8; 32]) -> parquet::errors::Result<Bytes> {
        if let Some(c) = self.cache.lock().expect("cache lock").get(&r.start) {
            return Ok(c.clone());
        }
        // A chunk an earlier decode of this scan verified (order v2's other units).
        if let Some(c) = self.shared.0.get(self.shared.1, r.start) {
            self.cache
                .lock()
                .expect("cache lock")
                .insert(r.start, c.clone());
            return Ok(c);
        }
        let c = self.fetch(r.clone())?;
        if self.verify && blake3::hash(&c).as_bytes() != hash {
            return Err(ParquetError::External(Box::new(Error::Corrupted {
                path: self.storage.describe(&self.key),
                detail: format!(
                    "column chunk at bytes {}..{} differs from its hash in the manifest",
                    r.start, r.end
                ),
            })));
        }
        // Two decoders never share a chunk (column groups are disjoint), so a second fetch of
        // the same chunk cannot happen in a decode; if it did, both copies are verified.
        self.cache
            .lock()
            .expect("cache lock")
            .insert(r.start, c.clone());
        self.shared.0.insert(self.shared.1, r.start, c.clone());
        Ok(c)
    }

    fn bytes(&self, start: u64, length: u64) -> parquet::errors::Result<Bytes> {
        let end = start + length;
        let chunk = self.chunk_of(start).filter(|(r, _)| end <= r.end);
        if let Some(ob) = &self.outboard {
            // Single pages, and anything outside the chunks (footer, page index): by range.
            // Whole chunks are still checked against the manifest's chunk hashes below.
            if self.exact || chunk.is_none() {
                return self.fetch_verified(ob, start, end);
            }
        }
        if self.exact {
            return self.fetch(start..end);
        }
        if let Some((r, hash)) = chunk {
            let c = self.chunk(r, hash)?;
            let off = (start - r.start) as usize;
            return Ok(c.slice(off..off + length as usize));
        }
        // Outside every column chunk: the footer (checked against the manifest separately).
        self.fetch(start..end)
    }
}

impl Length for VerifiedReader {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for VerifiedReader {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        use bytes::Buf;
        // Page readers ask for a reader at a page offset: serve the rest of that chunk.
        let end = self.chunk_of(start).map_or(self.len, |(r, _)| r.end);
        Ok(self.bytes(start, end - start)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.bytes(start, length as u64)
    }
}

/// One [`VerifiedReader`] shared by several decoders (the column groups of a row group).
#[derive(Clone)]
pub(super) struct SharedReader(pub(super) Arc<VerifiedReader>);

impl Length for SharedReader {
    fn len(&self) -> u64 {
        self.0.len
    }
}

impl ChunkReader for SharedReader {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        self.0.get_read(start)
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.0.get_bytes(start, length)
    }
}
