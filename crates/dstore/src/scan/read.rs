//! Reading row groups of segments with verification: every column chunk a decode touches is
//! fetched whole once and checked against its BLAKE3 in the manifest before any page of it is
//! decoded; the footer is checked against the manifest's chunk layout.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use dstore_format::SegmentEntry;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::reader::{ChunkReader, Length};

use crate::error::{Error, Result};
use crate::layout::segment_key;
use crate::storage::Storage;

/// Counters a scan exposes (bytes fetched from storage, row groups decoded and skipped).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) bytes: AtomicU64,
    pub(crate) row_groups: AtomicU64,
    pub(crate) pruned: AtomicU64,
}

/// A `ChunkReader` over one segment in storage that verifies column chunks.
struct VerifiedReader {
    storage: Arc<dyn Storage>,
    key: String,
    len: u64,
    /// Column chunk ranges and their hashes (all row groups).
    chunks: Vec<(Range<u64>, [u8; 32])>,
    verify: bool,
    cache: Mutex<HashMap<u64, Bytes>>,
    counters: Arc<Counters>,
}

impl VerifiedReader {
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

    fn bytes(&self, start: u64, length: u64) -> parquet::errors::Result<Bytes> {
        let end = start + length;
        if let Some((r, hash)) = self
            .chunks
            .iter()
            .find(|(r, _)| r.start <= start && end <= r.end)
        {
            let chunk = {
                let mut cache = self.cache.lock().expect("cache lock");
                if let Some(c) = cache.get(&r.start) {
                    c.clone()
                } else {
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
                    cache.insert(r.start, c.clone());
                    c
                }
            };
            let off = (start - r.start) as usize;
            return Ok(chunk.slice(off..off + length as usize));
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
        let end = self
            .chunks
            .iter()
            .find(|(r, _)| r.start <= start && start < r.end)
            .map_or(self.len, |(r, _)| r.end);
        Ok(self.bytes(start, end - start)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.bytes(start, length as u64)
    }
}

/// Opened segments of one table (footers read once and checked against the manifest).
pub(crate) struct SegmentSet {
    storage: Arc<dyn Storage>,
    entries: Vec<SegmentEntry>,
    footers: Mutex<HashMap<usize, ArrowReaderMetadata>>,
    verify: bool,
    pub(crate) counters: Arc<Counters>,
}

impl SegmentSet {
    pub(crate) fn new(storage: Arc<dyn Storage>, entries: Vec<SegmentEntry>, verify: bool) -> Self {
        Self {
            storage,
            entries,
            footers: Mutex::new(HashMap::new()),
            verify,
            counters: Arc::new(Counters::default()),
        }
    }

    fn path(&self, seg: usize) -> PathBuf {
        self.storage.describe(&segment_key(&self.entries[seg].id))
    }

    fn reader(&self, seg: usize) -> VerifiedReader {
        let e = &self.entries[seg];
        VerifiedReader {
            storage: self.storage.clone(),
            key: segment_key(&e.id),
            len: e.bytes,
            chunks: e
                .row_groups
                .iter()
                .flat_map(|g| {
                    g.chunks
                        .iter()
                        .map(|c| (c.offset..c.offset + c.length, c.hash))
                })
                .collect(),
            verify: self.verify,
            cache: Mutex::new(HashMap::new()),
            counters: self.counters.clone(),
        }
    }

    fn footer(&self, seg: usize) -> Result<ArrowReaderMetadata> {
        if let Some(m) = self.footers.lock().expect("lock").get(&seg) {
            return Ok(m.clone());
        }
        let corrupt = |detail: String| Error::Corrupted {
            path: self.path(seg),
            detail,
        };
        let reader = self.reader(seg);
        let meta = ParquetMetaDataReader::new()
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

    /// Decodes one row group, projected to `schema`'s columns (by name, in its order).
    pub(crate) fn decode(
        &self,
        seg: usize,
        row_group: usize,
        schema: &SchemaRef,
    ) -> Result<RecordBatch> {
        let meta = self.footer(seg)?;
        let corrupt = |detail: String| Error::Corrupted {
            path: self.path(seg),
            detail,
        };
        let file_schema = meta.schema().clone();
        let roots: Vec<usize> = schema
            .fields()
            .iter()
            .map(|f| {
                file_schema
                    .index_of(f.name())
                    .map_err(|e| corrupt(e.to_string()))
            })
            .collect::<Result<_>>()?;
        let mask = ProjectionMask::roots(meta.metadata().file_metadata().schema_descr(), roots);
        let rows = self.entries[seg].row_groups[row_group].rows as usize;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(self.reader(seg), meta)
            .with_row_groups(vec![row_group])
            .with_projection(mask)
            .with_batch_size(rows.max(1))
            .build()
            .map_err(|e| corrupt(e.to_string()))?;
        let mut batches = Vec::new();
        for b in reader {
            batches.push(b.map_err(|e| unwrap_corruption(e, &self.path(seg)))?);
        }
        self.counters.row_groups.fetch_add(1, Ordering::Relaxed);
        let decoded = arrow::compute::concat_batches(
            &batches
                .first()
                .map_or_else(|| schema.clone(), RecordBatch::schema),
            &batches,
        )
        .map_err(|e| corrupt(e.to_string()))?;
        let cols = schema
            .fields()
            .iter()
            .map(|f| {
                decoded
                    .column_by_name(f.name())
                    .cloned()
                    .ok_or_else(|| corrupt(format!("column `{}` missing", f.name())))
            })
            .collect::<Result<Vec<_>>>()?;
        RecordBatch::try_new(schema.clone(), cols).map_err(|e| corrupt(e.to_string()))
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
