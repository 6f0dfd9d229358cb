//! Converting row-oriented and Arrow inputs into zstd Parquet segments, streaming, in bounded
//! memory: at most one batch being parsed plus one row group being encoded (capped by
//! `max_row_group_bytes`) are in memory at a time.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchReader};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::compress::{self, Source};
use super::contain::{PANICKED, contain};
use super::segment::{chunk_ranges, hash_stream, segment_entry};
use super::types;
use super::writer::ParallelWriter;
use super::{IngestOptions, InputFormat, StagedSegment, csv, jsonl, schema_differences};
use crate::error::{Error, Result};
use crate::storage::{StagedFile, Storage};

/// Writes batches of one schema into staged Parquet segments, cutting a new segment when the
/// current one reaches the target size. Output bytes depend only on the batches and options:
/// no timestamps, host names or random ids are written (`created_by` is fixed).
pub(crate) struct SegmentWriter<'a> {
    storage: &'a dyn Storage,
    schema: SchemaRef,
    props: WriterProperties,
    target: u64,
    cur: Option<(ParallelWriter<File>, StagedFile)>,
    done: Vec<StagedSegment>,
    cancel: super::Cancel,
    profile: bool,
}

/// The `created_by` string of converted segments. Part of their bytes, so fixed.
pub(crate) const CREATED_BY: &str = "dstore segment writer 1";

impl<'a> SegmentWriter<'a> {
    pub(crate) fn new(
        storage: &'a dyn Storage,
        schema: SchemaRef,
        opts: &IngestOptions,
    ) -> Result<Self> {
        let level = ZstdLevel::try_new(opts.zstd_level).map_err(|e| Error::InvalidInput {
            path: None,
            detail: format!("zstd level {}: {e}", opts.zstd_level),
            hint: Some("use a level from 1 to 22".into()),
        })?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(opts.row_group_rows.max(1)))
            .set_max_row_group_bytes(Some(64 << 20))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_created_by(CREATED_BY.to_owned())
            .build();
        Ok(Self {
            storage,
            schema,
            props,
            target: opts.target_segment_bytes.max(1),
            cur: None,
            done: Vec::new(),
            cancel: opts.cancel.clone(),
            profile: opts.profile,
        })
    }

    /// A writer of one segment (never cut by size) with its own writer properties: a files
    /// table's segments (`files/ingest.rs`), whose cut points are chosen before writing.
    pub(crate) fn one_segment(
        storage: &'a dyn Storage,
        schema: SchemaRef,
        props: WriterProperties,
        profile: bool,
        cancel: super::Cancel,
    ) -> Self {
        Self {
            storage,
            schema,
            props,
            target: u64::MAX,
            cur: None,
            done: Vec::new(),
            cancel,
            profile,
        }
    }

    /// Appends a batch whose schema is the writer's.
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.cancel.check()?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.cur.is_none() {
            let mut staged = self.storage.stage()?;
            let file = staged
                .file()
                .try_clone()
                .map_err(Error::io("open", staged.path().to_owned()))?;
            // ArrowWriter's own bytes, its columns encoded in parallel (see writer.rs).
            let w = ParallelWriter::try_new(file, self.schema.clone(), self.props.clone())
                .map_err(|e| Self::write_error(&staged, e))?;
            let w = if self.profile { w.with_profile() } else { w };
            self.cur = Some((w, staged));
        }
        let (w, staged) = self.cur.as_mut().expect("opened above");
        w.write(batch).map_err(|e| Self::write_error(staged, e))?;
        if (w.bytes_written() + w.in_progress_size()) as u64 >= self.target {
            self.close_current()?;
        }
        Ok(())
    }

    /// Keeps the OS error (disk full, file too large) when parquet wraps one, so the hint can
    /// say what to do; any other failure of the encoder is dstore's own (the batches it is given
    /// were already checked against the table's schema).
    fn write_error(staged: &StagedFile, e: parquet::errors::ParquetError) -> Error {
        let io = match e {
            parquet::errors::ParquetError::External(inner) => {
                match inner.downcast::<std::io::Error>() {
                    Ok(io) => *io,
                    Err(other) => return Error::internal("encoding a segment", other),
                }
            }
            other => return Error::internal("encoding a segment", other),
        };
        Error::Io {
            op: "write segment",
            path: staged.path().to_owned(),
            source: io,
        }
    }

    fn close_current(&mut self) -> Result<()> {
        let Some((mut w, mut staged)) = self.cur.take() else {
            return Ok(());
        };
        let meta = w.finish().map_err(|e| Self::write_error(&staged, e))?;
        let profiler = w.take_profile();
        drop(w);
        let path = staged.path().to_owned();
        let file = staged.file();
        file.seek(SeekFrom::Start(0))
            .map_err(Error::io("seek in", &path))?;
        let len = file.metadata().map_err(Error::io("stat", &path))?.len();
        let ranges = chunk_ranges(&meta, len).map_err(|e| Error::Corrupted {
            path: path.clone(),
            detail: e,
        })?;
        let hashed = hash_stream(file, None, &ranges).map_err(Error::io("read", &path))?;
        let entry = segment_entry(hashed.id, hashed.len, &meta, &hashed.range_hashes);
        let profile = profiler.map(|p| p.finish(hashed.id, hashed.len));
        self.done.push(StagedSegment {
            staged,
            entry,
            outboard: hashed.outboard,
            profile,
        });
        Ok(())
    }

    /// Closes the last segment and returns all of them.
    pub(crate) fn finish(mut self) -> Result<Vec<StagedSegment>> {
        self.close_current()?;
        Ok(self.done)
    }
}

/// Reorders and casts `batch` to `target` by column name.
pub(super) fn conform(batch: &RecordBatch, target: &SchemaRef, path: &Path) -> Result<RecordBatch> {
    if batch.schema().fields() == target.fields() {
        return RecordBatch::try_new(target.clone(), batch.columns().to_vec())
            .map_err(|e| Error::input(path, e.to_string()));
    }
    let cols = target
        .fields()
        .iter()
        .map(|f| {
            let col = batch
                .column_by_name(f.name())
                .ok_or_else(|| Error::input(path, format!("column `{}` is missing", f.name())))?;
            if col.data_type() == f.data_type() {
                Ok(col.clone())
            } else {
                // Not `safe`: a value that does not fit is an error, never a null.
                let strict = CastOptions {
                    safe: false,
                    ..CastOptions::default()
                };
                cast_with_options(col, f.data_type(), &strict).map_err(|e| {
                    Error::input(
                        path,
                        format!(
                            "column `{}`: cannot convert to {}: {e}",
                            f.name(),
                            f.data_type()
                        ),
                    )
                })
            }
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    RecordBatch::try_new(target.clone(), cols).map_err(|e| Error::input(path, e.to_string()))
}

/// Converts one input file into segments. `table` is the table's schema when it exists; the
/// file is parsed as that schema (CSV, JSON) or must match it (Arrow, Parquet). Returns the
/// schema of the segments written, and no segment for an input without rows. Text inputs are
/// decompressed as they are read (`compression`).
pub(crate) fn convert_file(
    storage: &dyn Storage,
    path: &Path,
    format: InputFormat,
    compression: Option<compress::Compression>,
    table: Option<&SchemaRef>,
    table_name: &str,
    opts: &IngestOptions,
) -> Result<(SchemaRef, Vec<StagedSegment>)> {
    convert_file_inner(storage, path, format, compression, table, table_name, opts)
        .map_err(Error::ingesting(path))
}

fn convert_file_inner(
    storage: &dyn Storage,
    path: &Path,
    format: InputFormat,
    compression: Option<compress::Compression>,
    table: Option<&SchemaRef>,
    table_name: &str,
    opts: &IngestOptions,
) -> Result<(SchemaRef, Vec<StagedSegment>)> {
    let file = File::open(path).map_err(Error::io("open", path))?;
    let len = file.metadata().map_err(Error::io("stat", path))?.len();
    if len == 0 && !super::empty_file_is_valid(format, compression) {
        return Err(super::empty_file(path));
    }
    let text = Source::new(path, compression);
    let (schema, segs) = match format {
        InputFormat::Csv { delimiter } => {
            csv::convert_csv(storage, path, &text, delimiter, table, table_name, opts)
                .map_err(|e| text.or_damaged(e))?
        }
        InputFormat::JsonLines => jsonl::convert_json(storage, path, &text, table, opts)
            .map_err(|e| text.or_damaged(e))?,
        InputFormat::ArrowIpc => {
            let r = super::ipc::IpcReader::open(path, file)?;
            let schema = r.schema();
            convert_batches(storage, path, schema, r, table, table_name, opts, false)?
        }
        InputFormat::Parquet => {
            let parquet_err = |e: &dyn std::fmt::Display| {
                Error::input(path, format!("not a readable Parquet file ({e})"))
                    .with_hint("the file is damaged or cut short; re-export it from its source")
            };
            let b = contain(|| ParquetRecordBatchReaderBuilder::try_new(file))
                .map_err(|p| parquet_err(&format!("{PANICKED}{p}")))?
                .map_err(|e| parquet_err(&e))?;
            let schema = b.schema().clone();
            let mut r = b
                .with_batch_size(opts.batch_rows)
                .build()
                .map_err(|e| parquet_err(&e))?;
            // The page decoders under containment (see contain.rs): a panic in one is an error
            // naming the file.
            let batches = std::iter::from_fn(move || match contain(|| r.next()) {
                Ok(b) => b.map(|b| b.map_err(|e| parquet_err(&e))),
                Err(p) => Some(Err(parquet_err(&format!("{PANICKED}{p}")))),
            });
            convert_batches(
                storage, path, schema, batches, table, table_name, opts, true,
            )?
        }
    };
    Ok((schema, segs))
}

/// Converts any Arrow batch stream. `path` names the input in messages.
pub(crate) fn convert_reader(
    storage: &dyn Storage,
    path: &Path,
    reader: impl RecordBatchReader,
    table: Option<&SchemaRef>,
    table_name: &str,
    opts: &IngestOptions,
) -> Result<(SchemaRef, Vec<StagedSegment>)> {
    let input = reader.schema();
    let batches = reader.map(|b| {
        b.map_err(|e| {
            Error::input(path, format!("cannot read: {e}"))
                .with_hint("the file is damaged or cut short; re-export it from its source")
        })
    });
    convert_batches(
        storage, path, input, batches, table, table_name, opts, false,
    )
    .map_err(Error::ingesting(path))
}

/// [`convert_reader`] with the input schema given apart from the batches (a Parquet reader's
/// own schema drops the file's schema metadata; its builder's keeps it). The input's columns
/// named by `opts.casts` are converted (exactly, or refused); then its types must be ones a
/// converted segment holds so that readers give them back (`types::check_storable`).
// Internal helper: every argument is a distinct input of one conversion; `input` is taken by
// value as the callers have it (an `Arc`).
#[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
pub(crate) fn convert_batches(
    storage: &dyn Storage,
    path: &Path,
    input: SchemaRef,
    reader: impl Iterator<Item = Result<RecordBatch>>,
    table: Option<&SchemaRef>,
    table_name: &str,
    opts: &IngestOptions,
    cast: bool,
) -> Result<(SchemaRef, Vec<StagedSegment>)> {
    let casts = &opts.casts;
    let input = types::cast_schema(&input, casts);
    types::check_storable(&input, path)?;
    let target = if let Some(t) = table {
        // With `cast`, columns of another type are cast to the table's (a value that does
        // not fit fails with the column named); missing or extra columns are still refused.
        let diff: Vec<String> = schema_differences(t, &input)
            .into_iter()
            .filter(|d| !(cast && d.contains(": table has")))
            .collect();
        if !diff.is_empty() {
            return Err(Error::SchemaMismatch {
                table: table_name.to_owned(),
                path: path.to_owned(),
                differences: diff,
            });
        }
        t.clone()
    } else {
        dstore_format::schema::schema_bytes(&input)
            .map_err(|e| Error::input(path, e.to_string()))?;
        input.clone()
    };
    let mut w = SegmentWriter::new(storage, target.clone(), opts)?;
    let mut row = 0u64;
    for batch in reader {
        let batch = types::apply_casts(&batch?, &input, casts, path, row)?;
        row += batch.num_rows() as u64;
        w.write(&conform(&batch, &target, path)?)?;
    }
    Ok((target, w.finish()?))
}
