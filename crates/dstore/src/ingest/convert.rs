//! Converting row-oriented and Arrow inputs into zstd Parquet segments, streaming, in bounded
//! memory: at most one batch being parsed plus one row group being encoded (capped by
//! `max_row_group_bytes`) are in memory at a time.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchReader};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::contain::{PANICKED, contain};
use super::segment::{chunk_ranges, hash_stream, segment_entry};
use super::types;
use super::writer::ParallelWriter;
use super::{IngestOptions, InputFormat, StagedSegment, parse_type, schema_differences};
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
        })
    }

    /// Appends a batch whose schema is the writer's.
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
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
    /// say what to do.
    fn write_error(staged: &StagedFile, e: parquet::errors::ParquetError) -> Error {
        let source = match e {
            parquet::errors::ParquetError::External(inner) => {
                match inner.downcast::<std::io::Error>() {
                    Ok(io) => *io,
                    Err(other) => std::io::Error::other(other.to_string()),
                }
            }
            other => std::io::Error::other(other.to_string()),
        };
        Error::Io {
            op: "write segment",
            path: staged.path().to_owned(),
            source,
        }
    }

    fn close_current(&mut self) -> Result<()> {
        let Some((mut w, mut staged)) = self.cur.take() else {
            return Ok(());
        };
        let meta = w.finish().map_err(|e| Self::write_error(&staged, e))?;
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
        self.done.push(StagedSegment { staged, entry });
        Ok(())
    }

    /// Closes the last segment and returns all of them.
    pub(crate) fn finish(mut self) -> Result<Vec<StagedSegment>> {
        self.close_current()?;
        Ok(self.done)
    }
}

/// Reorders and casts `batch` to `target` by column name.
fn conform(batch: &RecordBatch, target: &SchemaRef, path: &Path) -> Result<RecordBatch> {
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

fn no_rows(path: &Path) -> Error {
    Error::input(path, "input has no rows").with_hint("leave empty files out of the input")
}

/// Converts one input file into segments. `table` is the table's schema when it exists; the
/// file is parsed as that schema (CSV, JSON) or must match it (Arrow, Parquet). Returns the
/// schema of the segments written.
pub(crate) fn convert_file(
    storage: &dyn Storage,
    path: &Path,
    format: InputFormat,
    table: Option<&SchemaRef>,
    table_name: &str,
    opts: &IngestOptions,
) -> Result<(SchemaRef, Vec<StagedSegment>)> {
    convert_file_inner(storage, path, format, table, table_name, opts)
        .map_err(Error::ingesting(path))
}

fn convert_file_inner(
    storage: &dyn Storage,
    path: &Path,
    format: InputFormat,
    table: Option<&SchemaRef>,
    table_name: &str,
    opts: &IngestOptions,
) -> Result<(SchemaRef, Vec<StagedSegment>)> {
    let file = File::open(path).map_err(Error::io("open", path))?;
    if file.metadata().map_err(Error::io("stat", path))?.len() == 0 {
        return Err(
            Error::input(path, "file is empty").with_hint("leave empty files out of the input")
        );
    }
    let (schema, segs) = match format {
        InputFormat::Csv { delimiter } => {
            convert_csv(storage, path, file, delimiter, table, table_name, opts)?
        }
        InputFormat::JsonLines => convert_json(storage, path, file, table, table_name, opts)?,
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
    if segs.is_empty() {
        return Err(no_rows(path));
    }
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

/// arrow-csv's value parse errors number data rows from 1 ("... at line N"); with the header
/// row that is file line N+1. (Its UTF-8 and field-count errors already give file lines.)
fn file_lines(msg: &str) -> String {
    let Some(i) = msg
        .find("at line ")
        .filter(|_| msg.contains("Error while parsing value"))
    else {
        return msg.to_owned();
    };
    let start = i + "at line ".len();
    let digits: String = msg[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    match digits.parse::<u64>() {
        Ok(n) => format!(
            "{}at line {}{}",
            &msg[..i],
            n + 1,
            &msg[start + digits.len()..]
        ),
        Err(_) => msg.to_owned(),
    }
}

/// Inferred types that Parquet cannot hold exactly are widened: timestamps in seconds become
/// microseconds (Parquet has no seconds unit, so readers would see bare integers).
fn widen_inferred(s: &Schema) -> Schema {
    let fields: Vec<Field> = s
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(arrow::datatypes::TimeUnit::Second, tz) => {
                f.as_ref().clone().with_data_type(DataType::Timestamp(
                    arrow::datatypes::TimeUnit::Microsecond,
                    tz.clone(),
                ))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, s.metadata().clone())
}

fn csv_format(delimiter: u8) -> arrow::csv::reader::Format {
    arrow::csv::reader::Format::default()
        .with_header(true)
        .with_delimiter(delimiter)
}

fn convert_csv(
    storage: &dyn Storage,
    path: &Path,
    mut file: File,
    delimiter: u8,
    table: Option<&SchemaRef>,
    table_name: &str,
    opts: &IngestOptions,
) -> Result<(SchemaRef, Vec<StagedSegment>)> {
    let csv_err = |e: arrow::error::ArrowError| {
        let msg = file_lines(&e.to_string());
        let hint = if msg.contains("UTF-8") {
            "CSV input must be UTF-8: re-encode the file (e.g. iconv -t UTF-8)"
        } else if msg.contains("number of fields") {
            "every row needs as many fields as the header; fix or remove that row"
        } else {
            "fix the value, or for a new table raise --infer-rows (0 reads the whole file) so the column gets a wider type"
        };
        Error::input(path, msg).with_hint(hint)
    };
    let limit = (opts.infer_rows > 0).then_some(opts.infer_rows);
    let (inferred, _) = csv_format(delimiter)
        .infer_schema(&mut file, if table.is_some() { Some(0) } else { limit })
        .map_err(csv_err)?;
    file.seek(SeekFrom::Start(0))
        .map_err(Error::io("seek in", path))?;
    if inferred.fields().is_empty() {
        return Err(Error::input(path, "file is empty"));
    }
    // Parse in the file's column order; for an existing table, with the table's types.
    let (parse_schema, target) = match table {
        None => {
            let s = Arc::new(widen_inferred(&inferred));
            (s.clone(), s)
        }
        Some(t) => {
            let header = inferred.fields();
            let header_schema = Schema::new(
                header
                    .iter()
                    .map(|f| Field::new(f.name(), DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            );
            let diff: Vec<String> = schema_differences(t, &header_schema)
                .into_iter()
                .filter(|d| !d.contains(": table has"))
                .collect();
            if !diff.is_empty() {
                return Err(Error::SchemaMismatch {
                    table: table_name.to_owned(),
                    path: path.to_owned(),
                    differences: diff,
                });
            }
            let fields: Vec<Field> = header
                .iter()
                .map(|h| {
                    let f = t.field_with_name(h.name()).expect("checked above");
                    Field::new(f.name(), parse_type(f.data_type()), true)
                })
                .collect();
            (Arc::new(Schema::new(fields)), t.clone())
        }
    };
    let reader = arrow::csv::ReaderBuilder::new(parse_schema)
        .with_header(true)
        .with_delimiter(delimiter)
        .with_batch_size(opts.batch_rows)
        .build(BufReader::with_capacity(1 << 20, file))
        .map_err(csv_err)?;
    let mut w = SegmentWriter::new(storage, target.clone(), opts)?;
    parsed_ahead(reader, |batches| {
        for batch in batches {
            let batch = batch.map_err(csv_err)?;
            w.write(&conform(&batch, &target, path)?)?;
        }
        Ok(())
    })?;
    Ok((target, w.finish()?))
}

/// Runs `consume` over `batches` parsed on a thread of their own, at most two batches ahead:
/// parsing text and encoding Parquet overlap, and memory stays bounded. When `consume` stops
/// early (an error), the parser stops at its next batch.
fn parsed_ahead<I, T>(
    batches: I,
    consume: impl FnOnce(&mut dyn Iterator<Item = I::Item>) -> Result<T>,
) -> Result<T>
where
    I: Iterator + Send,
    I::Item: Send,
{
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        scope.spawn(move || {
            for b in batches {
                if tx.send(b).is_err() {
                    break;
                }
            }
        });
        consume(&mut rx.into_iter())
    })
}

fn convert_json(
    storage: &dyn Storage,
    path: &Path,
    file: File,
    table: Option<&SchemaRef>,
    _table_name: &str,
    opts: &IngestOptions,
) -> Result<(SchemaRef, Vec<StagedSegment>)> {
    let target = if let Some(t) = table {
        t.clone()
    } else {
        let limit = (opts.infer_rows > 0).then_some(opts.infer_rows);
        let mut r = BufReader::new(&file);
        let (schema, _) = arrow::json::reader::infer_json_schema(&mut r, limit)
            .map_err(|e| locate_infer_error(path, &file, limit, &e))?;
        Arc::new(schema)
    };
    let parse_schema = Arc::new(Schema::new(
        target
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), parse_type(f.data_type()), f.is_nullable()))
            .collect::<Vec<_>>(),
    ));
    let build = || {
        arrow::json::ReaderBuilder::new(parse_schema.clone())
            .with_batch_size(opts.batch_rows)
            .with_strict_mode(table.is_some())
            // An inferred Utf8 column may hold numbers on some lines: keep them as text.
            .with_coerce_primitive(table.is_none())
            .build_decoder()
            .map_err(|e| Error::input(path, e.to_string()))
    };
    let mut w = SegmentWriter::new(storage, target.clone(), opts)?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader
        .seek(SeekFrom::Start(0))
        .map_err(Error::io("seek in", path))?;
    let mut line_no = 0u64;
    let mut lines: Vec<(u64, Vec<u8>)> = Vec::with_capacity(opts.batch_rows);
    let mut eof = false;
    while !eof {
        lines.clear();
        while lines.len() < opts.batch_rows.max(1) {
            let mut buf = Vec::new();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(Error::io("read", path))?;
            if n == 0 {
                eof = true;
                break;
            }
            line_no += 1;
            if let Err(e) = std::str::from_utf8(&buf) {
                return Err(Error::input(
                    path,
                    format!(
                        "line {line_no}, byte {}: invalid UTF-8",
                        e.valid_up_to() + 1
                    ),
                )
                .with_hint("JSON lines must be UTF-8; re-encode the file"));
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            lines.push((line_no, buf));
        }
        if lines.is_empty() {
            continue;
        }
        let mut dec = build()?;
        let decoded = lines
            .iter()
            .try_for_each(|(_, l)| dec.decode(l).map(drop))
            .and_then(|()| dec.flush());
        let batch = match decoded {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(_) => return Err(locate_json_error(path, &lines, &build)),
        };
        w.write(&conform(&batch, &target, path)?)?;
    }
    Ok((target, w.finish()?))
}

/// Schema inference over the first `records` JSON values of `file`.
fn infer_prefix(file: &File, records: usize) -> Option<std::result::Result<Schema, String>> {
    let mut r = BufReader::new(file);
    r.seek(SeekFrom::Start(0)).ok()?;
    Some(
        arrow::json::reader::infer_json_schema(&mut r, Some(records))
            .map(|(s, _)| s)
            .map_err(|e| e.to_string()),
    )
}

/// Names the line (and the fields) where schema inference failed: the smallest prefix of the
/// file that fails, by bisection (error path only; each step re-reads at most `limit` records).
fn locate_infer_error(
    path: &Path,
    file: &File,
    limit: Option<usize>,
    e: &arrow::error::ArrowError,
) -> Error {
    let hint = "each line must be one JSON object, and a field must keep one kind of value (number, string, list, object) on every line";
    let whole = || {
        Error::input(path, format!("cannot infer a schema from JSON lines: {e}")).with_hint(hint)
    };
    // Records (non-blank lines) with their file line numbers, up to the inference limit.
    let mut lines: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut r = BufReader::new(file);
    if r.seek(SeekFrom::Start(0)).is_err() {
        return whole();
    }
    let mut no = 0u64;
    loop {
        let mut buf = Vec::new();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        no += 1;
        if !buf.iter().all(u8::is_ascii_whitespace) {
            lines.push((no, buf));
            if limit.is_some_and(|l| lines.len() >= l) {
                break;
            }
        }
    }
    let fails = |k: usize| infer_prefix(file, k).is_none_or(|r| r.is_err());
    if lines.is_empty() || !fails(lines.len()) {
        return whole();
    }
    let (mut lo, mut hi) = (1, lines.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fails(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let (line_no, text) = &lines[lo - 1];
    let detail = match infer_prefix(file, lo) {
        Some(Err(msg)) => msg,
        _ => e.to_string(),
    };
    // Which fields changed kind: the schema of the lines before against this line's own.
    let before = if lo > 1 {
        infer_prefix(file, lo - 1)
    } else {
        None
    };
    let this = arrow::json::reader::infer_json_schema(&mut std::io::Cursor::new(text), None);
    let mut fields = Vec::new();
    if let (Some(Ok(before)), Ok((this, _))) = (before, this) {
        for f in this.fields() {
            if let Ok(b) = before.field_with_name(f.name())
                && b.data_type() != f.data_type()
            {
                fields.push(format!(
                    "field `{}` is {} on earlier lines but {} here",
                    f.name(),
                    b.data_type(),
                    f.data_type()
                ));
            }
        }
    }
    let what = if fields.is_empty() {
        detail
    } else {
        format!("{} ({detail})", fields.join("; "))
    };
    Error::input(path, format!("line {line_no}: {what}")).with_hint(hint)
}

/// Finds the first line of a failed batch that fails on its own, for an error naming the line.
fn locate_json_error(
    path: &Path,
    lines: &[(u64, Vec<u8>)],
    build: &dyn Fn() -> Result<arrow::json::reader::Decoder>,
) -> Error {
    for (no, l) in lines {
        let r = build().and_then(|mut d| {
            d.decode(l)
                .and_then(|_| d.flush())
                .map(drop)
                .map_err(|e| Error::input(path, format!("line {no}: {e}")))
        });
        if let Err(e) = r {
            return e.with_hint(
                "each line must be one JSON object whose fields match the table's types",
            );
        }
    }
    Error::input(
        path,
        format!(
            "lines {}..{} do not decode together",
            lines[0].0,
            lines[lines.len() - 1].0
        ),
    )
}
