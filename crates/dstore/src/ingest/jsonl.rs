//! JSON lines inputs: one object per line, a schema inferred for a new table (or the table's
//! when appending), decoded in batches; an error names the line (and, for inference, the
//! fields whose kind changed), found by decoding the failed batch line by line.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};

use super::compress::Source;
use super::convert::{SegmentWriter, conform};
use super::{IngestOptions, StagedSegment, parse_type};
use crate::error::{Error, Result};
use crate::storage::Storage;

/// Converts a JSON lines input (`src`, maybe compressed) into segments. Returns the schema of
/// the segments and the segments; none for a file without records.
pub(super) fn convert_json(
    storage: &dyn Storage,
    path: &Path,
    src: &Source,
    table: Option<&SchemaRef>,
    opts: &IngestOptions,
) -> Result<(SchemaRef, Vec<StagedSegment>)> {
    let target = if let Some(t) = table {
        t.clone()
    } else {
        let limit = (opts.infer_rows > 0).then_some(opts.infer_rows);
        let mut r = src.open()?;
        let (schema, _) = arrow::json::reader::infer_json_schema(&mut r, limit)
            .map_err(|e| locate_infer_error(path, src, limit, &e))?;
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
    let mut reader = src.open()?;
    let mut line_no = 0u64;
    let mut lines: Vec<(u64, Vec<u8>)> = Vec::with_capacity(opts.batch_rows);
    let mut eof = false;
    while !eof {
        lines.clear();
        while lines.len() < opts.batch_rows.max(1) {
            let mut buf = Vec::new();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
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

/// Schema inference over the first `records` JSON values of `src`.
fn infer_prefix(src: &Source, records: usize) -> Option<std::result::Result<Schema, String>> {
    let mut r = src.open().ok()?;
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
    src: &Source,
    limit: Option<usize>,
    e: &arrow::error::ArrowError,
) -> Error {
    let hint = "each line must be one JSON object, and a field must keep one kind of value (number, string, list, object) on every line";
    let whole = || {
        Error::input(path, format!("cannot infer a schema from JSON lines: {e}")).with_hint(hint)
    };
    // Records (non-blank lines) with their file line numbers, up to the inference limit.
    let mut lines: Vec<(u64, Vec<u8>)> = Vec::new();
    let Ok(mut r) = src.open() else {
        return whole();
    };
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
    let fails = |k: usize| infer_prefix(src, k).is_none_or(|r| r.is_err());
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
    let detail = match infer_prefix(src, lo) {
        Some(Err(msg)) => msg,
        _ => e.to_string(),
    };
    // Which fields changed kind: the schema of the lines before against this line's own.
    let before = if lo > 1 {
        infer_prefix(src, lo - 1)
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
