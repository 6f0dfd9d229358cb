//! Ingest: turning input files and Arrow streams into staged segments.
//!
//! Parquet inputs are adopted as they are (copied byte for byte by the kernel while the copy is
//! hashed, then its column chunks hashed and decoded in parallel to validate them). CSV, JSON
//! lines and Arrow IPC inputs, and Parquet inputs when `rewrite` is set, are converted to zstd
//! Parquet segments by `convert::SegmentWriter`, streaming, cut at a target size; CSV and JSON
//! lines may be gzip or zstd compressed (`compress.rs`, read as they are decompressed).

mod cancel;
mod compat;
pub mod compress;
pub(crate) mod contain;
pub(crate) mod convert;
mod csv;
mod ipc;
mod jsonl;
pub(crate) mod remote;
pub(crate) mod segment;
pub mod types;
mod writer;

pub use types::Cast;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef};
use dstore_format::SegmentEntry;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::ParquetMetaDataReader;
use rayon::prelude::*;

use dstore_format::outboard::OutboardHasher;

pub use self::compress::Compression;
use crate::error::{Error, Result};
use crate::storage::{StagedFile, Storage};
pub use cancel::Cancel;
use contain::{PANICKED, contain};

/// How thoroughly Parquet inputs are checked before they are adopted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validation {
    /// Decode every page of every column (checking page CRCs where present), in parallel with
    /// hashing. A file that would fail at training time is refused at ingest.
    #[default]
    Full,
    /// Check the footer and schema only. For inputs you trust.
    FooterOnly,
}

/// How an empty field of a CSV string column is read. In every other column an empty field
/// (quoted or not) is null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvEmpty {
    /// An unquoted empty field is null, a quoted `""` is the empty string: PostgreSQL's CSV
    /// convention, and how pyarrow's CSV writer writes null and `""`.
    #[default]
    Quoted,
    /// Every empty field is null, quoted or not (as pandas reads by default; pandas writes
    /// both null and `""` as an empty field).
    Null,
    /// Every empty field is the empty string, quoted or not (as pyarrow reads by default).
    EmptyString,
}

/// Options for turning inputs into segments.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Parquet validation level.
    pub validation: Validation,
    /// Re-encode Parquet inputs with dstore's writer settings instead of adopting them.
    pub rewrite: bool,
    /// Converted output is cut into segments of about this many bytes.
    pub target_segment_bytes: u64,
    /// Rows per row group in converted segments.
    pub row_group_rows: usize,
    /// Rows read to infer a CSV or JSON schema for a new table (0 reads the whole file).
    pub infer_rows: usize,
    /// zstd level for converted segments (default 1, as pyarrow's writer: at 2,000,000 rows of
    /// the benchmark table, level 3 took 2.9 s and level 1 1.7 s for a 3.5% larger output).
    pub zstd_level: i32,
    /// Rows per batch while converting.
    pub batch_rows: usize,
    /// Stops the ingest from another thread ([`Cancel`]); never set by default.
    pub cancel: Cancel,
    /// Skip files of unknown type found in directories (and named ones), reporting them,
    /// instead of refusing the input ([`Error::UnknownFiles`]).
    pub skip_unknown: bool,
    /// Append data the table already holds (the same segment, by BLAKE3) instead of refusing
    /// it ([`Error::DuplicateData`]).
    pub allow_duplicates: bool,
    /// How empty fields of CSV string columns are read.
    pub csv_empty: CsvEmpty,
    /// Profile the columns of each new segment while ingest decodes them (docs/drift.md); off,
    /// `stats` and `diff --stats` profile the segment on first use instead.
    pub profile: bool,
    /// Columns of converted inputs (Arrow IPC, Arrow readers, Parquet with `rewrite`) to store
    /// as another type, each conversion checked to be exact. Inputs without the column are
    /// unaffected; adopted Parquet inputs are never changed.
    pub casts: Vec<Cast>,
    /// How to reach `s3://` inputs (endpoint, path style); credentials and region come from
    /// the `AWS_*` environment, as for stores in object storage.
    pub remote: crate::storage::RemoteOptions,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            validation: Validation::Full,
            rewrite: false,
            target_segment_bytes: 256 << 20,
            row_group_rows: 128 * 1024,
            infer_rows: 100_000,
            zstd_level: 1,
            batch_rows: 8192,
            cancel: Cancel::default(),
            skip_unknown: false,
            allow_duplicates: false,
            profile: true,
            csv_empty: CsvEmpty::Quoted,
            casts: Vec::new(),
            remote: crate::storage::RemoteOptions::default(),
        }
    }
}

/// The formats dstore reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Apache Parquet (`.parquet`, `.pq`, `.parq`).
    Parquet,
    /// Comma-separated values with a header row (`.csv`), or tab-separated (`.tsv`).
    Csv {
        /// Field delimiter.
        delimiter: u8,
    },
    /// JSON lines: one object per line (`.jsonl`, `.ndjson`, `.json`).
    JsonLines,
    /// Arrow IPC file or stream (`.arrow`, `.feather`, `.ipc`, `.arrows`).
    ArrowIpc,
}

/// Extensions [`InputFormat::from_path`] knows, for messages.
pub const KNOWN_EXTENSIONS: &str = ".parquet .pq .parq .csv .tsv .jsonl .ndjson .json .arrow .feather .ipc .arrows (CSV, TSV and JSON lines also compressed: .csv.gz, .jsonl.zst, ...)";

impl InputFormat {
    /// The format a file name's extension says, if known (compressed names are
    /// [`InputFile::classify`]'s).
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?;
        Self::from_extension(ext)
    }

    fn from_extension(ext: &str) -> Option<Self> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "parquet" | "pq" | "parq" => InputFormat::Parquet,
            "csv" => InputFormat::Csv { delimiter: b',' },
            "tsv" => InputFormat::Csv { delimiter: b'\t' },
            "jsonl" | "ndjson" | "json" => InputFormat::JsonLines,
            "arrow" | "feather" | "ipc" | "arrows" => InputFormat::ArrowIpc,
            _ => return None,
        })
    }

    /// Whether the format is text, read through [`Compression`] when compressed.
    pub fn is_text(self) -> bool {
        matches!(self, InputFormat::Csv { .. } | InputFormat::JsonLines)
    }
}

/// One input file: its path, format and compression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// The file.
    pub path: PathBuf,
    /// What it holds.
    pub format: InputFormat,
    /// How it is compressed (text formats only).
    pub compression: Option<Compression>,
}

/// What a file name says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileType {
    /// A file dstore reads.
    Data(InputFormat, Option<Compression>),
    /// A known format in a form dstore does not read, and why (compressed Parquet or IPC).
    Refused(String),
    /// Not a format dstore knows.
    Unknown,
}

impl InputFile {
    /// What `path`'s name says: `x.csv`, `x.csv.gz`, `x.jsonl.zst` are data; `x.parquet.gz` is
    /// refused (Parquet and Arrow IPC compress their own pages and buffers, and a reader needs
    /// to seek in them); anything else is unknown.
    pub fn classify(path: &Path) -> FileType {
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            return FileType::Unknown;
        };
        if let Some(format) = InputFormat::from_extension(ext) {
            return FileType::Data(format, None);
        }
        let Some(c) = Compression::from_extension(ext) else {
            return FileType::Unknown;
        };
        let inner = Path::new(path.file_stem().unwrap_or_default())
            .extension()
            .and_then(|e| e.to_str())
            .and_then(InputFormat::from_extension);
        match inner {
            Some(f) if f.is_text() => FileType::Data(f, Some(c)),
            Some(_) => FileType::Refused(format!(
                "a {} compressed Parquet or Arrow IPC file is not read: these formats compress their own data, and a reader must seek in them",
                c.name()
            )),
            None => FileType::Unknown,
        }
    }
}

/// Inputs found by [`expand_inputs`].
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The files to read, in order.
    pub files: Vec<InputFile>,
    /// Files of unknown type that were skipped (with `skip_unknown`), in order.
    pub skipped: Vec<PathBuf>,
}

/// Whether a directory entry is left out without a word: hidden files and files starting with
/// `_` (Hadoop's and Spark's markers and summaries: `_SUCCESS`, `_committed_*`, `_started_*`,
/// `_metadata`; pyarrow.dataset ignores the same prefixes), and `.crc` checksum files.
fn silently_skipped(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('_')
        || Path::new(name)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("crc"))
}

/// Expands input paths: files are taken as given; directories are walked recursively in sorted
/// order, taking data files (see [`InputFile::classify`]) and leaving out hidden files, `_*`
/// files and `.crc` files. A file of unknown type (named, or found in a directory) is refused
/// with [`Error::UnknownFiles`] unless `skip_unknown`, when it is skipped and listed in
/// [`Inputs::skipped`].
pub fn expand_inputs(paths: &[PathBuf], skip_unknown: bool) -> Result<Inputs> {
    let mut out = Inputs::default();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::input(p, "no such file or directory").with_hint("check the path")
            } else {
                Error::io("read", p)(e)
            }
        })?;
        if meta.is_dir() {
            let before = out.files.len();
            let mut unknown = Vec::new();
            walk(p, &mut out.files, &mut unknown)?;
            if !unknown.is_empty() && !skip_unknown {
                return Err(Error::UnknownFiles {
                    dir: p.clone(),
                    files: unknown,
                });
            }
            if out.files.len() == before {
                let detail = if unknown.is_empty() {
                    "directory holds no data files".to_owned()
                } else {
                    format!(
                        "directory holds no data files (only {} of unknown type)",
                        unknown.len()
                    )
                };
                return Err(Error::input(p, detail)
                    .with_hint(format!("dstore reads files ending in {KNOWN_EXTENSIONS}")));
            }
            out.skipped.extend(unknown);
        } else {
            match InputFile::classify(p) {
                FileType::Data(format, compression) => out.files.push(InputFile {
                    path: p.clone(),
                    format,
                    compression,
                }),
                FileType::Refused(why) => {
                    return Err(Error::input(p, why)
                        .with_hint("decompress it first (e.g. `gunzip -k FILE`, `zstd -d FILE`)"));
                }
                FileType::Unknown if skip_unknown => out.skipped.push(p.clone()),
                FileType::Unknown => {
                    return Err(Error::input(p, "unknown file type").with_hint(format!(
                        "dstore reads files ending in {KNOWN_EXTENSIONS}; rename the file if it is one of these"
                    )));
                }
            }
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<InputFile>, unknown: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(Error::io("list", dir))?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(Error::io("list", dir))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name();
        if silently_skipped(&name.to_string_lossy()) {
            continue;
        }
        let path = e.path();
        if path.is_dir() {
            walk(&path, out, unknown)?;
            continue;
        }
        match InputFile::classify(&path) {
            FileType::Data(format, compression) => out.push(InputFile {
                path,
                format,
                compression,
            }),
            FileType::Refused(_) | FileType::Unknown => unknown.push(path),
        }
    }
    Ok(())
}

/// Whether a 0-byte file is a file of its format: only plain JSON lines (no records). Parquet
/// and Arrow IPC have at least a footer or schema, CSV a header, gzip and zstd a header.
pub(crate) fn empty_file_is_valid(format: InputFormat, compression: Option<Compression>) -> bool {
    format == InputFormat::JsonLines && compression.is_none()
}

/// The refusal of a 0-byte file that is not one of its format.
pub(crate) fn empty_file(path: &Path) -> Error {
    Error::input(path, "file is empty (0 bytes)").with_hint(
        "even with no rows, a Parquet or Arrow IPC file has a footer or schema and a CSV file a header; leave empty files out of the input",
    )
}

/// A segment written to the staging area, not yet part of the store.
#[derive(Debug)]
pub(crate) struct StagedSegment {
    pub(crate) staged: StagedFile,
    pub(crate) entry: SegmentEntry,
    /// Its outboard, placed beside it at commit (docs/format.md §15).
    pub(crate) outboard: dstore_format::Outboard,
    /// Its column profiles (docs/format.md §16), when ingest decoded its values; placed beside
    /// it at commit. `None` after `--no-validate`: computed on first use instead.
    pub(crate) profile: Option<crate::profile::SegmentProfile>,
}

fn parquet_input_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::input(path, format!("not a readable Parquet file: {e}"))
        .with_hint("the file may be truncated or not Parquet at all; re-export it from its source")
}

/// Reads a Parquet file's footer and its Arrow schema (the parquet crate's decoding of them
/// contained: see contain.rs).
pub(crate) fn read_parquet_footer(path: &Path, file: &File) -> Result<ArrowReaderMetadata> {
    contain(|| {
        let meta = ParquetMetaDataReader::new()
            .parse_and_finish(file)
            .map_err(|e| parquet_input_error(path, e))?;
        ArrowReaderMetadata::try_new(Arc::new(meta), ArrowReaderOptions::default())
            .map_err(|e| parquet_input_error(path, e))
    })
    .unwrap_or_else(|p| Err(parquet_input_error(path, format!("{PANICKED}{p}"))))
}

/// Adopts a Parquet file: copies it into the staging area byte for byte while hashing it and
/// its column chunks, and (with [`Validation::Full`]) decodes every row group in parallel. A
/// file with no rows gives its schema and no segment.
pub(crate) fn adopt_parquet(
    storage: &dyn Storage,
    path: &Path,
    validation: Validation,
    profile: bool,
    cancel: &Cancel,
) -> Result<(SchemaRef, Option<StagedSegment>)> {
    adopt_parquet_inner(storage, path, validation, profile, cancel).map_err(Error::ingesting(path))
}

fn adopt_parquet_inner(
    storage: &dyn Storage,
    path: &Path,
    validation: Validation,
    profile: bool,
    cancel: &Cancel,
) -> Result<(SchemaRef, Option<StagedSegment>)> {
    let mut file = File::open(path).map_err(Error::io("open", path))?;
    let len = file.metadata().map_err(Error::io("stat", path))?.len();
    // The footer reader looks at the last bytes only; a segment is a whole Parquet file
    // (`PAR1` at both ends, format.md §5), so the leading magic is checked here.
    let mut magic = [0u8; 4];
    let head = std::io::Read::read_exact(&mut file, &mut magic);
    if head.is_err() || &magic != b"PAR1" {
        return Err(parquet_input_error(
            path,
            "the file does not start with the Parquet magic `PAR1`",
        ));
    }
    // Refuse a bad footer before copying anything.
    let source_meta = read_parquet_footer(path, &file)?;
    let group_rows: i64 = source_meta
        .metadata()
        .row_groups()
        .iter()
        .map(parquet::file::metadata::RowGroupMetaData::num_rows)
        .sum();
    if group_rows != source_meta.metadata().file_metadata().num_rows() {
        // Readers disagree on such a file (pyarrow reads the row groups, others the total):
        // adopting it as empty, or as it is, would change what a reader gets.
        return Err(parquet_input_error(
            path,
            format!(
                "the footer says {} rows but its row groups hold {group_rows}",
                source_meta.metadata().file_metadata().num_rows()
            ),
        )
        .with_hint(
            "the file is damaged or written by a buggy writer; re-export it from its source",
        ));
    }
    if source_meta.metadata().file_metadata().num_rows() == 0 {
        // No rows, no segment: the footer's schema is still checked against the table.
        return Ok((source_meta.schema().clone(), None));
    }
    segment::chunk_ranges(source_meta.metadata(), len).map_err(|e| parquet_input_error(path, e))?;
    if validation == Validation::Full
        && let Some(r) =
            compat::refused_by_arrow_cpp(source_meta.metadata().file_metadata().schema())
    {
        return Err(Error::ReadersRefuse {
            path: path.to_owned(),
            column: r.column,
            problem: r.problem.to_owned(),
        });
    }
    drop(source_meta);
    // Copy in the kernel (copy_file_range) while another thread hashes what has landed; from
    // here on everything reads the staged copy, so the footer, the hashes and the validation all
    // describe exactly the bytes the store keeps, even if the input changes meanwhile.
    let mut staged = storage.stage()?;
    let staged_path = staged.path().to_owned();
    let whole = copy_and_hash(&file, staged.file(), &staged_path, cancel).map_err(|e| {
        cancel
            .check()
            .err()
            .unwrap_or_else(|| Error::io("copy into the store", &staged_path)(e))
    })?;
    if whole.1 != len {
        return Err(Error::input(path, "file changed while it was being read")
            .with_hint("ingest files that no other process is writing"));
    }
    let copy = File::open(&staged_path).map_err(Error::io("open", &staged_path))?;
    let reader_meta = read_parquet_footer(path, &copy)?;
    let meta = reader_meta.metadata().clone();
    let ranges = segment::chunk_ranges(&meta, len).map_err(|e| parquet_input_error(path, e))?;
    // Start making the copy durable now (the commit syncs it again, cheaply, before placing
    // it): the disk works while the column chunks are hashed and validated.
    let (synced, (hashes, validated)) = std::thread::scope(|s| {
        let sync = s.spawn(|| copy.sync_data());
        let rest = rayon::join(
            || segment::hash_ranges(&copy, &ranges),
            || match validation {
                Validation::Full => {
                    decode_all(path, &staged_path, &reader_meta, profile, cancel).map(Some)
                }
                Validation::FooterOnly => Ok(None),
            },
        );
        (sync.join().expect("sync thread panicked"), rest)
    });
    synced.map_err(Error::io("sync", &staged_path))?;
    let hashes = hashes.map_err(Error::io("read", &staged_path))?;
    let groups = validated?;
    let (id, _, outboard) = whole;
    let entry = segment::segment_entry(id, len, &meta, &hashes);
    let profile = groups.filter(|_| profile).map(|groups| {
        let mut p = crate::profile::SegmentProfiler::new(reader_meta.schema());
        for (rows, cols) in groups {
            p.push_row_group(rows, cols.unwrap_or_default());
        }
        p.finish(id, len)
    });
    Ok((
        reader_meta.schema().clone(),
        Some(StagedSegment {
            staged,
            entry,
            outboard,
            profile,
        }),
    ))
}

/// Copies `src` (from its start) to `dst` with the kernel's copy, in steps, while a second
/// thread reads back and hashes what each step wrote. Returns the BLAKE3 of the copy, its
/// length and its outboard; stops with an error after the step during which `cancel` was set.
fn copy_and_hash(
    src: &File,
    dst: &mut File,
    dst_path: &Path,
    cancel: &Cancel,
) -> std::io::Result<(dstore_format::SegmentId, u64, dstore_format::Outboard)> {
    use std::io::{Read, Seek};
    use std::os::unix::fs::FileExt;
    const STEP: u64 = 16 << 20;
    let mut src = src;
    src.seek(std::io::SeekFrom::Start(0))?;
    let back = File::open(dst_path)?;
    let syncing = File::open(dst_path)?;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(16);
        // Write-back starts while the copy goes on: each step's bytes are synced behind it, so
        // little is left for the final sync.
        let (sync_tx, sync_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let syncer = s.spawn(move || -> std::io::Result<()> {
            for () in sync_rx {
                syncing.sync_data()?;
            }
            Ok(())
        });
        let hasher = s.spawn(move || -> std::io::Result<(OutboardHasher, u64)> {
            let mut h = OutboardHasher::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut pos = 0u64;
            for upto in rx {
                while pos < upto {
                    let n = ((upto - pos) as usize).min(buf.len());
                    back.read_exact_at(&mut buf[..n], pos)?;
                    h.update(&buf[..n]);
                    pos += n as u64;
                }
            }
            Ok((h, pos))
        });
        let mut total = 0u64;
        let copied = loop {
            if cancel.is_cancelled() {
                break Err(std::io::ErrorKind::Interrupted.into());
            }
            match std::io::copy(&mut src.take(STEP), dst) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    total += n;
                    if tx.send(total).is_err() {
                        break Ok(()); // the hasher failed; its error is reported below
                    }
                    // Never waits: a sync already pending covers these bytes too.
                    let _ = sync_tx.try_send(());
                }
                Err(e) => break Err(e),
            }
        };
        drop(tx);
        drop(sync_tx);
        let hashed = hasher.join().expect("hash thread panicked");
        syncer.join().expect("sync thread panicked")?;
        copied?;
        let (h, len) = hashed?;
        let (id, outboard) = h.finalize();
        Ok((id, len, outboard))
    })
}

/// Decodes every row group of the staged copy of `path` to Arrow, in parallel, so damage is found
/// now rather than in training; profiles each row group's columns on the way (the values are
/// decoded anyway) and returns the row groups' profiles in file order.
fn decode_all(
    path: &Path,
    copy: &Path,
    meta: &ArrowReaderMetadata,
    profile: bool,
    cancel: &Cancel,
) -> Result<Vec<RowGroupProfile>> {
    let groups = meta.metadata().num_row_groups();
    (0..groups)
        .into_par_iter()
        .map(|g| {
            cancel.check()?;
            let file = File::open(copy).map_err(Error::io("open", copy))?;
            let fail = |e: &dyn std::fmt::Display| {
                Error::input(path, format!("row group {g} does not decode: {e}"))
                    .with_hint("the file is damaged; re-export it from its source")
            };
            // The page decoders run under containment (see contain.rs), on the rayon thread that
            // decodes this row group.
            contain(|| {
                let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta.clone())
                    .with_row_groups(vec![g])
                    .with_batch_size(64 * 1024)
                    .build()
                    .map_err(|e| fail(&e))?;
                let mut profiler =
                    profile.then(|| crate::profile::build::RowGroupProfiler::new(meta.schema()));
                let mut rows = 0u64;
                for batch in reader {
                    let batch = batch.map_err(|e| fail(&e))?;
                    rows += batch.num_rows() as u64;
                    if let Some(p) = &mut profiler {
                        p.update(batch.columns());
                    }
                }
                Ok((
                    rows,
                    profiler.map(crate::profile::build::RowGroupProfiler::finish),
                ))
            })
            .unwrap_or_else(|p| Err(fail(&format!("{PANICKED}{p}"))))
        })
        .collect()
}

/// A row group's rows and column profiles.
type RowGroupProfile = (u64, Option<Vec<crate::profile::ColumnProfile>>);

/// Differences between a table's schema and an input's, one line each; empty if they match.
/// Columns match by name (order may differ) and must have the same type; an input column that
/// may hold nulls cannot go into a non-nullable table column.
pub(crate) fn schema_differences(table: &Schema, input: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for f in table.fields() {
        match input.field_with_name(f.name()) {
            Err(_) => out.push(format!(
                "column `{}` ({}) is missing from the input",
                f.name(),
                f.data_type()
            )),
            Ok(g) if g.data_type() != f.data_type() => out.push(format!(
                "column `{}`: table has {}, input has {}",
                f.name(),
                f.data_type(),
                g.data_type()
            )),
            Ok(g) if g.is_nullable() && !f.is_nullable() => out.push(format!(
                "column `{}`: table column is non-nullable, input column is nullable",
                f.name()
            )),
            Ok(_) => {}
        }
    }
    for g in input.fields() {
        if table.field_with_name(g.name()).is_err() {
            out.push(format!(
                "column `{}` ({}) is not in the table",
                g.name(),
                g.data_type()
            ));
        }
    }
    out
}

/// The type CSV or JSON text is parsed as before being cast to `dt` (readers cannot produce
/// dictionaries directly).
pub(crate) fn parse_type(dt: &DataType) -> DataType {
    match dt {
        DataType::Dictionary(_, v) => parse_type(v),
        other => other.clone(),
    }
}
