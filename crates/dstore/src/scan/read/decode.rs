//! Decoding one row group: the projection is split into column groups that separate Parquet
//! readers decode in parallel on the current rayon pool, over one shared
//! [`VerifiedReader`](super::chunks::VerifiedReader) (each chunk fetched and checked once), and
//! the groups' columns are stitched, batch by batch, into `RecordBatch`es in the projection's
//! order. The rows and values do not depend on the split: every group decodes the same rows
//! (the same row selection) of its own columns in the same batch sizes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReaderBuilder, RowSelection, RowSelectionPolicy,
    RowSelector,
};

use super::chunks::SharedReader;
use super::{Kept, SegmentSet, unwrap_corruption};
use crate::error::{Error, Result};

/// Rows per decoded batch of a scan: arrow-rs's decoders run faster on batches this size than
/// on one batch of a whole 1Mi-row row group (buffers that stay in cache, no growth by
/// reallocation, fewer page faults; `bench/decode.py` compares, its figures not yet kept).
pub(crate) const DECODE_BATCH_ROWS: usize = 8192;

impl SegmentSet {
    /// Decodes one row group, projected to `schema`'s columns (by name, in its order); with
    /// `kept`, only those rows (in order). One batch; see [`SegmentSet::decode_batches`].
    pub(crate) fn decode(
        &self,
        seg: usize,
        row_group: usize,
        schema: &SchemaRef,
        kept: Option<&Kept>,
    ) -> Result<RecordBatch> {
        // One batch of the rows wanted (sized to them: buffers are reserved for it).
        let rows = kept.map_or(self.entries[seg].row_groups[row_group].rows as usize, |k| {
            k.iter().map(|r| (r.end - r.start) as usize).sum()
        });
        let batches = self.decode_batches(seg, row_group, schema, kept, rows.max(1))?;
        match batches.len() {
            0 => Ok(RecordBatch::new_empty(schema.clone())),
            1 => Ok(batches.into_iter().next().expect("one batch")),
            _ => arrow::compute::concat_batches(schema, &batches).map_err(|e| Error::Corrupted {
                path: self.path(seg),
                detail: e.to_string(),
            }),
        }
    }

    /// Decodes one row group as [`decode`](SegmentSet::decode) does, in batches of
    /// `batch_rows` rows (the last may be shorter; none when no row is kept), their columns in
    /// parallel on the current rayon pool (see the module docs).
    pub(crate) fn decode_batches(
        &self,
        seg: usize,
        row_group: usize,
        schema: &SchemaRef,
        kept: Option<&Kept>,
        batch_rows: usize,
    ) -> Result<Vec<RecordBatch>> {
        let meta = self.footer(seg)?;
        let path = self.path(seg);
        let corrupt = |detail: String| Error::Corrupted {
            path: path.clone(),
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
        let rows = self.entries[seg].row_groups[row_group].rows as usize;
        // Page by page only where an offset index tells the reader where pages are; without one
        // it asks for the rest of the chunk at every page, which whole chunks serve best.
        let exact = self.uses_page_index(seg)?
            && meta
                .metadata()
                .page_index()
                .is_some_and(|p| p.has_offset_indexes());
        let reader = SharedReader(Arc::new(self.reader(seg, exact)?));
        let selection = kept.map(|k| selection(k, rows));
        let groups = column_groups(
            &root_costs(&meta, row_group, &roots),
            rayon::current_num_threads(),
        );
        let decode_group = |group: &[usize]| -> Result<Vec<RecordBatch>> {
            let mask = ProjectionMask::roots(
                meta.metadata().file_metadata().schema_descr(),
                group.to_vec(),
            );
            let mut builder =
                ParquetRecordBatchReaderBuilder::new_with_metadata(reader.clone(), meta.clone())
                    .with_row_groups(vec![row_group])
                    .with_projection(mask)
                    .with_batch_size(batch_rows.max(1));
            if let Some(s) = &selection {
                builder = builder
                    .with_row_selection(s.clone())
                    .with_row_selection_policy(RowSelectionPolicy::Selectors);
            }
            builder
                .build()
                .map_err(|e| corrupt(e.to_string()))?
                .map(|b| b.map_err(|e| unwrap_corruption(e, &path)))
                .collect()
        };
        let decoded: Vec<Vec<RecordBatch>> = if groups.len() <= 1 {
            vec![decode_group(&roots)?]
        } else {
            use rayon::prelude::*;
            groups
                .par_iter()
                .map(|g| decode_group(g))
                .collect::<Result<_>>()?
        };
        self.counters.row_groups.fetch_add(1, Ordering::Relaxed);
        // Every group decodes the same rows in the same batch sizes: stitch batch by batch.
        let n = decoded[0].len();
        if decoded.iter().any(|g| g.len() != n) {
            return Err(corrupt(format!(
                "the columns of row group {row_group} decode to different numbers of batches"
            )));
        }
        (0..n)
            .map(|i| {
                let rows = decoded[0][i].num_rows();
                let cols = schema
                    .fields()
                    .iter()
                    .map(|f| {
                        decoded
                            .iter()
                            .find_map(|g| g[i].column_by_name(f.name()))
                            .cloned()
                            .ok_or_else(|| corrupt(format!("column `{}` missing", f.name())))
                    })
                    .collect::<Result<Vec<ArrayRef>>>()?;
                if decoded.iter().any(|g| g[i].num_rows() != rows) {
                    return Err(corrupt(format!(
                        "the columns of row group {row_group} decode to different row counts"
                    )));
                }
                RecordBatch::try_new(schema.clone(), cols).map_err(|e| corrupt(e.to_string()))
            })
            .collect()
    }
}

/// The row selection of `kept` in a row group of `rows` rows.
fn selection(kept: &Kept, rows: usize) -> RowSelection {
    let mut selectors = Vec::with_capacity(kept.len() * 2 + 1);
    let mut at = 0u64;
    for r in kept {
        if r.start > at {
            selectors.push(RowSelector::skip((r.start - at) as usize));
        }
        selectors.push(RowSelector::select((r.end - r.start) as usize));
        at = r.end;
    }
    if (rows as u64) > at {
        selectors.push(RowSelector::skip(rows - at as usize));
    }
    RowSelection::from(selectors)
}

/// Per projected root column (index in the file schema): its decode cost, estimated as the
/// uncompressed bytes of its leaf chunks in the row group.
fn root_costs(meta: &ArrowReaderMetadata, row_group: usize, roots: &[usize]) -> Vec<(usize, u64)> {
    let descr = meta.metadata().file_metadata().schema_descr();
    let rg = meta.metadata().row_group(row_group);
    let mut costs: Vec<(usize, u64)> = roots.iter().map(|&r| (r, 0)).collect();
    for leaf in 0..descr.num_columns() {
        let root = descr.get_column_root_idx(leaf);
        if let Some(c) = costs.iter_mut().find(|c| c.0 == root) {
            let size = rg.column(leaf).uncompressed_size();
            c.1 += u64::try_from(size).unwrap_or(0).max(1);
        }
    }
    costs
}

/// Splits root columns into at most `threads` groups of about equal cost (longest first, each
/// to the cheapest group so far), each group's roots in file order; groups in the order of
/// their first root; fewer groups than `threads` when there are fewer columns.
fn column_groups(costs: &[(usize, u64)], threads: usize) -> Vec<Vec<usize>> {
    let n = threads.clamp(1, costs.len().max(1));
    let mut sorted: Vec<(usize, u64)> = costs.to_vec();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut groups: Vec<(u64, Vec<usize>)> = vec![(0, Vec::new()); n];
    for (root, cost) in sorted {
        let g = groups
            .iter_mut()
            .min_by_key(|g| g.0)
            .expect("at least one group");
        g.0 += cost;
        g.1.push(root);
    }
    let mut out: Vec<Vec<usize>> = groups
        .into_iter()
        .filter(|g| !g.1.is_empty())
        .map(|mut g| {
            g.1.sort_unstable();
            g.1
        })
        .collect();
    out.sort_by_key(|g| g[0]);
    out
}

#[cfg(test)]
mod tests {
    use super::column_groups;

    #[test]
    fn column_groups_balance_cost_and_keep_file_order() {
        // embedding-like column 0 outweighs the rest: alone in its group.
        let costs = [(0, 1000), (1, 300), (2, 200), (3, 100)];
        assert_eq!(column_groups(&costs, 2), vec![vec![0], vec![1, 2, 3]]);
        assert_eq!(column_groups(&costs, 3), vec![vec![0], vec![1], vec![2, 3]]);
        assert_eq!(
            column_groups(&costs, 8),
            vec![vec![0], vec![1], vec![2], vec![3]]
        );
        assert_eq!(column_groups(&costs, 1), vec![vec![0, 1, 2, 3]]);
        // Equal costs: spread, every root exactly once.
        let even = [(4, 10), (7, 10), (9, 10), (12, 10)];
        let g = column_groups(&even, 2);
        assert_eq!(g, vec![vec![4, 9], vec![7, 12]]);
        assert!(column_groups(&[], 4).is_empty());
    }
}
