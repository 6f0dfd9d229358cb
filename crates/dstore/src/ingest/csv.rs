//! CSV and TSV inputs: a header row, types inferred for a new table or the table's types when
//! appending, parsed on a thread of their own (at most two batches ahead) into segments.
//!
//! Empty fields: in a string column, what an empty field means is [`CsvEmpty`]'s to say (by
//! default an unquoted empty field is null and a quoted `""` the empty string); in every other
//! column an empty field is null. arrow's CSV reader reads both kinds of empty field as null, so
//! for the default the bytes of each batch that holds nulls in a string column are tokenized a
//! second time, by the same tokenizer (`csv-core`, configured as arrow configures it), to find
//! which of those fields were quoted.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanBufferBuilder, RecordBatch, make_array};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;

use super::compress::Source;
use super::convert::{SegmentWriter, conform};
use super::{CsvEmpty, IngestOptions, StagedSegment, parse_type, schema_differences};
use crate::error::{Error, Result};
use crate::storage::Storage;

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

fn csv_error(path: &Path, e: &ArrowError) -> Error {
    let msg = file_lines(&e.to_string());
    let hint = if msg.contains("UTF-8") {
        "CSV input must be UTF-8: re-encode the file (e.g. iconv -t UTF-8)"
    } else if msg.contains("number of fields") {
        "every row needs as many fields as the header; fix or remove that row"
    } else {
        "fix the value, or for a new table raise --infer-rows (0 reads the whole file) so the column gets a wider type"
    };
    Error::input(path, msg).with_hint(hint)
}

/// Converts a CSV input (`src`, maybe compressed) into segments. Returns the schema of the
/// segments and the segments; none for a file with a header and no rows.
pub(super) fn convert_csv(
    storage: &dyn Storage,
    path: &Path,
    src: &Source,
    delimiter: u8,
    table: Option<&SchemaRef>,
    table_name: &str,
    opts: &IngestOptions,
) -> Result<(SchemaRef, Vec<StagedSegment>)> {
    let limit = (opts.infer_rows > 0).then_some(opts.infer_rows);
    let (inferred, _) = csv_format(delimiter)
        .infer_schema(src.open()?, if table.is_some() { Some(0) } else { limit })
        .map_err(|e| csv_error(path, &e))?;
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
    let batches = CsvBatches::new(path, src.open()?, &parse_schema, delimiter, opts);
    let mut w = SegmentWriter::new(storage, target.clone(), opts)?;
    parsed_ahead(batches, |batches| {
        for batch in batches {
            w.write(&conform(&batch?, &target, path)?)?;
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

fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// The batches of a CSV text, with empty fields of string columns read as `reading` says.
///
/// Drives arrow's push decoder as its own `Reader` does (fill, decode, consume; flush when the
/// batch is full or the input ends), keeping the bytes each batch was decoded from when they may
/// be needed: a batch's bytes start and end at record boundaries, the first batch's with the
/// header.
struct CsvBatches<'a> {
    path: &'a Path,
    decoder: arrow::csv::reader::Decoder,
    input: Box<dyn BufRead + Send>,
    reading: CsvEmpty,
    delimiter: u8,
    /// Per column of the file: whether it is parsed as a string type.
    strings: Vec<bool>,
    /// The bytes of the batch being decoded (kept only for [`CsvEmpty::Quoted`]).
    raw: Vec<u8>,
    keep_raw: bool,
    first: bool,
    done: bool,
}

impl<'a> CsvBatches<'a> {
    fn new(
        path: &'a Path,
        input: Box<dyn BufRead + Send>,
        schema: &SchemaRef,
        delimiter: u8,
        opts: &IngestOptions,
    ) -> Self {
        let strings: Vec<bool> = schema
            .fields()
            .iter()
            .map(|f| is_string(f.data_type()))
            .collect();
        let decoder = arrow::csv::ReaderBuilder::new(schema.clone())
            .with_header(true)
            .with_delimiter(delimiter)
            .with_batch_size(opts.batch_rows.max(1))
            .build_decoder();
        CsvBatches {
            path,
            decoder,
            input,
            reading: opts.csv_empty,
            delimiter,
            keep_raw: opts.csv_empty == CsvEmpty::Quoted && strings.contains(&true),
            strings,
            raw: Vec::new(),
            first: true,
            done: false,
        }
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            let buf = self
                .input
                .fill_buf()
                .map_err(|e| Error::input(self.path, format!("cannot read: {e}")))?;
            let n = self
                .decoder
                .decode(buf)
                .map_err(|e| csv_error(self.path, &e))?;
            if self.keep_raw {
                self.raw.extend_from_slice(&buf[..n]);
            }
            self.input.consume(n);
            if n == 0 || self.decoder.capacity() == 0 {
                break;
            }
        }
        let Some(batch) = self.decoder.flush().map_err(|e| csv_error(self.path, &e))? else {
            return Ok(None);
        };
        let fixed = self.read_empty_strings(batch);
        self.raw.clear();
        self.first = false;
        fixed.map(Some)
    }

    /// Applies [`CsvEmpty`] to the string columns of `batch` (arrow made every empty field
    /// null, and nothing else: no null token is set).
    fn read_empty_strings(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let with_nulls: Vec<usize> = (0..batch.num_columns())
            .filter(|&c| self.strings[c] && batch.column(c).null_count() > 0)
            .collect();
        if with_nulls.is_empty() || self.reading == CsvEmpty::Null {
            return Ok(batch);
        }
        let mut cols = batch.columns().to_vec();
        let rows: Vec<Vec<usize>> = match self.reading {
            CsvEmpty::Quoted => {
                quoted_empty_fields(&self.raw, self.first, self.delimiter, &self.strings)
                    .and_then(|(records, rows)| {
                        if records == batch.num_rows() {
                            Ok(rows)
                        } else {
                            Err(format!(
                                "{records} records where the reader found {}",
                                batch.num_rows()
                            ))
                        }
                    })
                    .map_err(|e| Error::internal("finding quoted empty CSV fields", e))?
            }
            _ => Vec::new(),
        };
        for c in with_nulls {
            let valid = match self.reading {
                CsvEmpty::EmptyString => None,
                _ => Some(rows[c].as_slice()),
            };
            cols[c] = set_valid(&cols[c], valid)
                .map_err(|e| Error::internal("reading empty CSV fields", e))?;
        }
        RecordBatch::try_new(batch.schema(), cols)
            .map_err(|e| Error::internal("reading empty CSV fields", e))
    }
}

impl Iterator for CsvBatches<'_> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.next_batch();
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r.transpose()
    }
}

/// `col` with the given rows made valid (`None`: every row). The rows must be null ones of a
/// string array, which arrow-csv leaves zero-length: they become `""`.
fn set_valid(col: &ArrayRef, rows: Option<&[usize]>) -> std::result::Result<ArrayRef, ArrowError> {
    let nulls = match (col.nulls(), rows) {
        (None, _) | (_, Some([])) => return Ok(col.clone()),
        (Some(_), None) => None,
        (Some(n), Some(rows)) => {
            let mut b = BooleanBufferBuilder::new(col.len());
            b.append_buffer(n.inner());
            for &r in rows {
                b.set_bit(r, true);
            }
            Some(NullBuffer::new(b.finish()))
        }
    };
    Ok(make_array(
        col.to_data().into_builder().nulls(nulls).build()?,
    ))
}

/// Tokenizes `raw` (whole CSV records, the header first when `header`) and returns the number
/// of data records and, for each column, the data records whose field in that column is a
/// quoted empty string (`""`), for the columns marked in `wanted`.
///
/// A field is a quoted empty string when the tokenizer gives no bytes for it although its input
/// holds a quote: the tokenizer (as arrow runs it: `"` quotes, doubled `""` escapes, no escape
/// character, no comments) outputs every byte of an unquoted field and every byte but the
/// quoting of a quoted one.
fn quoted_empty_fields(
    raw: &[u8],
    header: bool,
    delimiter: u8,
    wanted: &[bool],
) -> std::result::Result<(usize, Vec<Vec<usize>>), String> {
    const QUOTE: u8 = b'"';
    let mut rdr = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let mut out = vec![Vec::new(); wanted.len()];
    let mut scratch = [0u8; 4096];
    let (mut pos, mut record, mut col) = (0usize, 0usize, 0usize);
    let (mut produced, mut quoted) = (0usize, false);
    let mut at_eof = false;
    loop {
        let input = &raw[pos..];
        let (res, nin, nout) = rdr.read_field(input, &mut scratch);
        quoted |= input[..nin].contains(&QUOTE);
        produced += nout;
        pos += nin;
        match res {
            csv_core::ReadFieldResult::InputEmpty => {
                if at_eof {
                    return Err("the tokenizer wants input past the end".into());
                }
                // Every batch ends at a record end; the empty input ends a last record that
                // has no line terminator.
                at_eof = pos == raw.len();
            }
            csv_core::ReadFieldResult::OutputFull => {}
            csv_core::ReadFieldResult::Field { record_end } => {
                let data = record.checked_sub(usize::from(header));
                if let Some(row) = data
                    && produced == 0
                    && quoted
                    && wanted.get(col) == Some(&true)
                {
                    out[col].push(row);
                }
                (produced, quoted) = (0, false);
                if record_end {
                    (record, col) = (record + 1, 0);
                } else {
                    col += 1;
                }
            }
            csv_core::ReadFieldResult::End => break,
        }
    }
    Ok((record - usize::from(header && record > 0), out))
}

#[cfg(test)]
mod tests {
    use arrow::array::StringArray;

    use super::*;

    fn quoted(text: &str, header: bool, wanted: &[bool]) -> (usize, Vec<Vec<usize>>) {
        quoted_empty_fields(text.as_bytes(), header, b',', wanted).unwrap()
    }

    #[test]
    fn quoted_empty_fields_are_told_from_empty_ones() {
        let text = "a,b\n\"\",\n,\"\"\n\"x\",\"\"\"\"\n\"\"x,y\n";
        let (n, rows) = quoted(text, true, &[true, true]);
        assert_eq!(n, 4);
        assert_eq!(rows, vec![vec![0], vec![1]]);
        // Only wanted columns are reported.
        assert_eq!(quoted(text, true, &[false, true]).1, vec![vec![], vec![1]]);
    }

    #[test]
    fn line_endings_blank_lines_and_quoted_newlines_keep_records_aligned() {
        // CRLF, blank lines between records, a quoted field spanning lines, no final newline.
        let text = "a,b\r\n\r\n\"line\nbreak\",\"\"\r\n\n,x\r\n\"\",\"\"";
        let (n, rows) = quoted(text, true, &[true, true]);
        assert_eq!(n, 3);
        assert_eq!(rows, vec![vec![2], vec![0, 2]]);
        // A later batch: no header, starting at the `\n` of a CRLF.
        let (n, rows) = quoted("\n\"\",y\n", false, &[true, true]);
        assert_eq!((n, rows), (1, vec![vec![0], vec![]]));
    }

    #[test]
    fn a_utf8_byte_order_mark_is_not_a_field() {
        let (n, rows) = quoted("\u{feff}a\n\"\"\n", true, &[true]);
        assert_eq!((n, rows), (1, vec![vec![0]]));
    }

    #[test]
    fn set_valid_turns_chosen_nulls_into_empty_strings() {
        let col: ArrayRef = Arc::new(StringArray::from(vec![None, Some("x"), None, None]));
        let some = set_valid(&col, Some(&[2])).unwrap();
        let some = some.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(
            some.iter().collect::<Vec<_>>(),
            vec![None, Some("x"), Some(""), None]
        );
        let all = set_valid(&col, None).unwrap();
        assert_eq!(all.null_count(), 0);
        assert_eq!(
            all.as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            vec![Some(""), Some("x"), Some(""), Some("")]
        );
    }
}
