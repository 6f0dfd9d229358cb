//! [`Snapshot::take`]: rows by global row number, reading only the row groups that hold them.

use arrow::array::{ArrayRef, RecordBatch};

use crate::error::{Error, Result};
use crate::snapshot::Snapshot;

impl Snapshot {
    /// Rows of `table` by global row number (storage order, from 0), in the order given,
    /// reading (and verifying) only the row groups that hold them. `columns` projects.
    pub fn take(&self, table: &str, rows: &[u64], columns: Option<&[&str]>) -> Result<RecordBatch> {
        // Order v1's units are whole row groups, which is what is decoded below.
        let mut scan = self.scan(table)?.order_version(1);
        if let Some(c) = columns {
            scan = scan.columns(c.iter().copied());
        }
        let batches = scan.batches()?;
        let units = &batches.shared.units;
        let total = batches.plan.total;
        let mut needed: Vec<usize> = Vec::new();
        let mut picks = Vec::with_capacity(rows.len());
        for &r in rows {
            if r >= total {
                return Err(Error::invalid(format!(
                    "row {r} is past the end of table `{table}` ({total} rows)"
                )));
            }
            let u = units.partition_point(|u| u.start + u.rows <= r);
            let slot = if let Some(s) = needed.iter().position(|&n| n == u) {
                s
            } else {
                needed.push(u);
                needed.len() - 1
            };
            picks.push((slot, (r - units[u].start) as usize));
        }
        let decoded = batches.pool.install(|| {
            use rayon::prelude::*;
            needed
                .par_iter()
                .map(|&u| {
                    batches.shared.set.decode(
                        units[u].segment,
                        units[u].row_group,
                        &batches.schema,
                        None,
                    )
                })
                .collect::<Result<Vec<_>>>()
        })?;
        let cols = (0..batches.schema.fields().len())
            .map(|c| {
                let arrays: Vec<&dyn arrow::array::Array> =
                    decoded.iter().map(|b| b.column(c).as_ref()).collect();
                arrow::compute::interleave(&arrays, &picks)
            })
            .collect::<std::result::Result<Vec<ArrayRef>, _>>()
            .map_err(|e| Error::internal("assembling a shuffled batch", e))?;
        RecordBatch::try_new(batches.schema.clone(), cols)
            .map_err(|e| Error::internal("assembling the rows taken", e))
    }
}
