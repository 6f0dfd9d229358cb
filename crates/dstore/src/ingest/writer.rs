//! A Parquet writer that encodes the columns of each batch in parallel and writes exactly the
//! bytes [`ArrowWriter`] would.
//!
//! [`ArrowWriter`] encodes column after column on the caller's thread; zstd compression is
//! most of a conversion's time. This writer takes `ArrowWriter`'s own file writer and column
//! writers (`into_serialized_writer`) and drives them the way `ArrowWriter::write` does —
//! the same row group cuts by rows and by estimated bytes, each column writer fed the same
//! slices in the same order — but hands the columns of a batch to rayon. A column writer's
//! output depends only on the sequence of arrays it is given, so the file is byte-for-byte
//! the one `ArrowWriter` writes, which content addressing needs (same input, same segment
//! id, whichever writer or thread count made it). `same_bytes_as_arrow_writer` checks it.

use std::io::Write;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::errors::Result;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

use crate::profile::SegmentProfiler;
use crate::profile::build::RowGroupProfiler;

/// The row group being built: one column writer per Parquet leaf column.
struct InProgress {
    writers: Vec<ArrowColumnWriter>,
    rows: usize,
    /// The row group's column profiles, when the writer profiles (docs/format.md §16).
    profiler: Option<RowGroupProfiler>,
}

impl InProgress {
    fn estimated_bytes(&self) -> usize {
        self.writers
            .iter()
            .map(ArrowColumnWriter::get_estimated_total_bytes)
            .sum()
    }
}

pub(crate) struct ParallelWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    max_rows: Option<usize>,
    max_bytes: Option<usize>,
    in_progress: Option<InProgress>,
    profile: Option<SegmentProfiler>,
}

impl<W: Write + Send> ParallelWriter<W> {
    pub(crate) fn try_new(out: W, schema: SchemaRef, props: WriterProperties) -> Result<Self> {
        let max_rows = props.max_row_group_row_count();
        let max_bytes = props.max_row_group_bytes();
        let (file, factory) =
            ArrowWriter::try_new(out, schema.clone(), Some(props))?.into_serialized_writer()?;
        Ok(Self {
            file,
            factory,
            schema,
            max_rows,
            max_bytes,
            in_progress: None,
            profile: None,
        })
    }

    /// Profiles the rows as they are written: each row group's values in order, row groups
    /// merged in file order, exactly as profiling the finished file would.
    pub(crate) fn with_profile(mut self) -> Self {
        self.profile = Some(SegmentProfiler::new(&self.schema));
        self
    }

    /// The profile of the rows written (after [`ParallelWriter::finish`]).
    pub(crate) fn take_profile(&mut self) -> Option<SegmentProfiler> {
        self.profile.take()
    }

    /// Bytes written to the output so far (closed row groups).
    pub(crate) fn bytes_written(&self) -> usize {
        self.file.bytes_written()
    }

    /// Estimated encoded size of the row group in progress.
    pub(crate) fn in_progress_size(&self) -> usize {
        self.in_progress
            .as_ref()
            .map_or(0, InProgress::estimated_bytes)
    }

    /// `ArrowWriter::write`, step for step, with the columns encoded in parallel.
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let mut remaining = batch.clone();
        loop {
            if self.in_progress.is_none() {
                let index = self.file.flushed_row_groups().len();
                self.in_progress = Some(InProgress {
                    writers: self.factory.create_column_writers(index)?,
                    rows: 0,
                    profiler: self
                        .profile
                        .as_ref()
                        .map(|_| RowGroupProfiler::new(&self.schema)),
                });
            }
            let in_progress = self.in_progress.as_ref().expect("opened above");
            let buffered = in_progress.rows;
            let mut split_at = match self.max_rows {
                Some(max) if buffered + remaining.num_rows() > max => Some(max - buffered),
                _ => None,
            };
            let candidate_rows = split_at.unwrap_or_else(|| remaining.num_rows());
            if let Some(max_bytes) = self.max_bytes
                && buffered > 0
            {
                let current = in_progress.estimated_bytes();
                if current >= max_bytes {
                    self.flush()?;
                    continue;
                }
                let avg_row_bytes = current / buffered;
                if let Some(fit) = (max_bytes - current).checked_div(avg_row_bytes)
                    && candidate_rows > fit
                {
                    if fit > 0 {
                        split_at = Some(fit);
                    } else {
                        self.flush()?;
                        continue;
                    }
                }
            }
            let rest = split_at.map(|n| {
                let rest = remaining.slice(n, remaining.num_rows() - n);
                remaining = remaining.slice(0, n);
                rest
            });
            self.encode(&remaining)?;
            let in_progress = self.in_progress.as_ref().expect("opened above");
            let full = self.max_rows.is_some_and(|max| in_progress.rows >= max)
                || self
                    .max_bytes
                    .is_some_and(|max| in_progress.estimated_bytes() >= max);
            if full {
                self.flush()?;
            }
            match rest {
                Some(r) => remaining = r,
                None => return Ok(()),
            }
        }
    }

    /// Feeds each column writer its leaves of `batch`, the writers in parallel.
    fn encode(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut leaves = Vec::new();
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            leaves.extend(compute_leaves(field.as_ref(), column)?);
        }
        let in_progress = self.in_progress.as_mut().expect("opened by write");
        assert_eq!(
            leaves.len(),
            in_progress.writers.len(),
            "one writer per leaf"
        );
        let InProgress {
            writers, profiler, ..
        } = in_progress;
        let (written, ()) = rayon::join(
            || {
                writers
                    .par_iter_mut()
                    .zip(leaves.par_iter())
                    .try_for_each(|(w, leaf)| w.write(leaf))
            },
            || {
                if let Some(p) = profiler {
                    p.update(batch.columns());
                }
            },
        );
        written?;
        in_progress.rows += batch.num_rows();
        Ok(())
    }

    /// Closes the row group in progress (its columns in parallel) and writes it out.
    fn flush(&mut self) -> Result<()> {
        let Some(in_progress) = self.in_progress.take() else {
            return Ok(());
        };
        if let (Some(seg), Some(rg)) = (&mut self.profile, in_progress.profiler) {
            seg.push_row_group(in_progress.rows as u64, rg.finish());
        }
        let chunks = in_progress
            .writers
            .into_par_iter()
            .map(ArrowColumnWriter::close)
            .collect::<Result<Vec<_>>>()?;
        let mut row_group = self.file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }

    /// Writes the last row group and the footer.
    pub(crate) fn finish(&mut self) -> Result<ParquetMetaData> {
        self.flush()?;
        self.file.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, FixedSizeListArray, Float32Array, Int64Array, StringArray, StructArray,
    };
    use arrow::datatypes::{DataType, Field, Fields, Schema};
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::EnabledStatistics;
    use proptest::prelude::*;

    use super::*;

    fn batch(start: i64, rows: usize) -> RecordBatch {
        let ids: Vec<i64> = (start..start + rows as i64).collect();
        let text: Vec<Option<String>> = ids
            .iter()
            .map(|i| (i % 7 != 0).then(|| format!("row {i} {}", "x".repeat((i % 13) as usize))))
            .collect();
        let emb = Float32Array::from_iter_values((0..rows * 4).map(|i| i as f32 * 0.5));
        let list = FixedSizeListArray::new(
            Arc::new(Field::new("item", DataType::Float32, false)),
            4,
            Arc::new(emb),
            None,
        );
        let inner = StructArray::new(
            Fields::from(vec![Field::new("a", DataType::Int64, true)]),
            vec![Arc::new(
                ids.iter()
                    .map(|i| (i % 3 != 0).then_some(i * 2))
                    .collect::<Int64Array>(),
            ) as ArrayRef],
            None,
        );
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(text)),
                Arc::new(list),
                Arc::new(inner),
            ],
        )
        .unwrap()
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("text", DataType::Utf8, true),
            Field::new(
                "emb",
                DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), 4),
                false,
            ),
            Field::new(
                "s",
                DataType::Struct(Fields::from(vec![Field::new("a", DataType::Int64, true)])),
                false,
            ),
        ]))
    }

    fn props(rows: usize, bytes: usize) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
            .set_max_row_group_row_count(Some(rows))
            .set_max_row_group_bytes(Some(bytes))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_data_page_row_count_limit(64)
            .build()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Any batch sizes, row-group row and byte limits: the same file as ArrowWriter's.
        #[test]
        fn same_bytes_as_arrow_writer(
            sizes in proptest::collection::vec(0usize..700, 1..8),
            rows in 1usize..900,
            bytes in prop_oneof![Just(usize::MAX), 2_000usize..40_000],
        ) {
            let mut reference = ArrowWriter::try_new(Vec::new(), schema(), Some(props(rows, bytes))).unwrap();
            let mut parallel = ParallelWriter::try_new(Vec::new(), schema(), props(rows, bytes)).unwrap();
            let mut start = 0;
            for n in &sizes {
                let b = batch(start, *n);
                start += *n as i64;
                reference.write(&b).unwrap();
                parallel.write(&b).unwrap();
                prop_assert_eq!(reference.in_progress_size(), parallel.in_progress_size());
                prop_assert_eq!(reference.bytes_written(), parallel.bytes_written());
            }
            let meta_a = reference.finish().unwrap();
            let meta_b = parallel.finish().unwrap();
            prop_assert_eq!(meta_a.num_row_groups(), meta_b.num_row_groups());
            prop_assert!(reference.inner() == parallel.file.inner(), "file bytes differ");
        }
    }
}
