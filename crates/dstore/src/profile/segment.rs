//! [`SegmentProfile`]: the profiles of one segment's columns, and computing one from the
//! segment's bytes (row groups in parallel, merged in file order).

use arrow::datatypes::Schema;
use bytes::Bytes;
use dstore_format::SegmentId;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use rayon::prelude::*;

use super::build::{RowGroupProfiler, merge_columns};
use super::column::ColumnProfile;

/// The profile of one segment: one [`ColumnProfile`] per column path, depth first in schema
/// order. A pure function of the segment's bytes (docs/format.md §16).
#[derive(Debug, Clone)]
pub struct SegmentProfile {
    /// The segment.
    pub segment: SegmentId,
    /// Its length in bytes.
    pub len: u64,
    /// Its rows.
    pub rows: u64,
    /// Its columns.
    pub columns: Vec<ColumnProfile>,
}

/// Builds a segment's profile from its row groups' profiles, in file order.
pub(crate) struct SegmentProfiler {
    columns: Option<Vec<ColumnProfile>>,
    empty: Vec<ColumnProfile>,
    rows: u64,
}

impl SegmentProfiler {
    pub(crate) fn new(schema: &Schema) -> Self {
        SegmentProfiler {
            columns: None,
            empty: RowGroupProfiler::new(schema).finish(),
            rows: 0,
        }
    }

    /// Adds the next row group's profile.
    pub(crate) fn push_row_group(&mut self, rows: u64, cols: Vec<ColumnProfile>) {
        self.rows += rows;
        match &mut self.columns {
            None => self.columns = Some(cols),
            Some(acc) => merge_columns(acc, &cols),
        }
    }

    pub(crate) fn finish(self, segment: SegmentId, len: u64) -> SegmentProfile {
        SegmentProfile {
            segment,
            len,
            rows: self.rows,
            columns: self.columns.unwrap_or(self.empty),
        }
    }
}

/// Profiles row group `g` of a Parquet file.
fn profile_row_group<R: parquet::file::reader::ChunkReader + 'static>(
    input: R,
    meta: &ArrowReaderMetadata,
    g: usize,
) -> parquet::errors::Result<(u64, Vec<ColumnProfile>)> {
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(input, meta.clone())
        .with_row_groups(vec![g])
        .with_batch_size(64 * 1024)
        .build()?;
    let mut p = RowGroupProfiler::new(meta.schema());
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| parquet::errors::ParquetError::ArrowError(e.to_string()))?;
        rows += batch.num_rows() as u64;
        p.update(batch.columns());
    }
    Ok((rows, p.finish()))
}

impl SegmentProfile {
    /// Profiles a segment from its bytes (already checked against `segment`).
    pub(crate) fn compute(
        segment: SegmentId,
        bytes: &Bytes,
    ) -> std::result::Result<SegmentProfile, String> {
        let len = bytes.len() as u64;
        let meta = ArrowReaderMetadata::load(
            bytes,
            parquet::arrow::arrow_reader::ArrowReaderOptions::default(),
        )
        .map_err(|e| format!("footer: {e}"))?;
        let groups = meta.metadata().num_row_groups();
        let parts = (0..groups)
            .into_par_iter()
            .map(|g| {
                profile_row_group(bytes.clone(), &meta, g)
                    .map_err(|e| format!("row group {g}: {e}"))
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        let mut p = SegmentProfiler::new(meta.schema());
        for (rows, cols) in parts {
            p.push_row_group(rows, cols);
        }
        Ok(p.finish(segment, len))
    }
}
