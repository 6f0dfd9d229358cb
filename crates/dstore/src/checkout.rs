//! Checkout: a snapshot's tables as plain files in a directory, plus a small manifest that
//! makes the directory self-describing and verifiable.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType, Schema};
use dstore_format::{SegmentId, SnapshotId};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ingest::segment::hash_stream;
use crate::layout::segment_key;
use crate::objects::check_segment;
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::verify::{Problem, VerifyReport};

/// Name of the manifest a checkout writes into its directory.
pub const CHECKOUT_MANIFEST: &str = "dstore-checkout.json";

/// File format of a checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckoutFormat {
    /// The segments themselves (hard-linked or copied).
    #[default]
    Parquet,
    /// CSV with a header row, converted.
    Csv,
    /// JSON lines, converted.
    Jsonl,
    /// Files tables as their files, each at its path under the table's directory and checked
    /// against its BLAKE3 (`crate::files`); other tables as with `Parquet`.
    Files,
}

impl CheckoutFormat {
    fn ext(self) -> &'static str {
        match self {
            CheckoutFormat::Parquet | CheckoutFormat::Files => "parquet",
            CheckoutFormat::Csv => "csv",
            CheckoutFormat::Jsonl => "jsonl",
        }
    }
}

/// Options for [`Store::checkout`].
#[derive(Debug, Clone, Default)]
pub struct CheckoutOptions {
    /// Tables to write; empty means all.
    pub tables: Vec<String>,
    /// Copy segments even where a hard link would do.
    pub copy: bool,
    /// Output format.
    pub format: CheckoutFormat,
    /// Write into a non-empty directory (files of an earlier checkout there are replaced).
    pub force: bool,
    /// Hard-link segments without hashing them first. A hard link shares the store's bytes, so
    /// by default each linked segment is hashed once to keep a damaged segment out of the
    /// checkout; with this set a checkout costs a link per segment, whatever its size, and
    /// damage is left to `dstore verify` (or `verify --checkout`). Copies and conversions are
    /// always verified.
    pub trust_links: bool,
}

/// The checkout's own manifest (`dstore-checkout.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckoutManifest {
    /// Version of this JSON layout.
    pub dstore_checkout: u32,
    /// The store it came from (absolute path).
    pub store: String,
    /// The snapshot.
    pub snapshot: SnapshotId,
    /// File format.
    pub format: CheckoutFormat,
    /// Tables written.
    pub tables: BTreeMap<String, CheckoutTable>,
}

/// One table of a checkout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckoutTable {
    /// Rows in the table.
    pub rows: u64,
    /// Files, in segment order.
    pub files: Vec<CheckoutFile>,
}

/// One file of a checkout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckoutFile {
    /// Path relative to the checkout directory.
    pub path: String,
    /// The segment it holds.
    pub segment: SegmentId,
    /// BLAKE3 of the file (equal to `segment` for Parquet checkouts).
    pub blake3: String,
    /// File size.
    pub bytes: u64,
    /// Rows.
    pub rows: u64,
}

/// What a checkout did.
#[derive(Debug, Clone, Default)]
pub struct CheckoutReport {
    /// Files written.
    pub files: usize,
    /// Files hard-linked (the rest were copied or converted).
    pub linked: usize,
    /// Bytes of the files written.
    pub bytes: u64,
    /// Rows over all tables.
    pub rows: u64,
}

fn write_json_atomically(path: &Path, value: &CheckoutManifest) -> Result<()> {
    let dir = path.parent().expect("inside the checkout directory");
    let mut tmp = tempfile::Builder::new()
        .permissions(crate::storage::default_permissions())
        .tempfile_in(dir)
        .map_err(Error::io("create a temporary file in", dir))?;
    serde_json::to_writer_pretty(&mut tmp, value)
        .map_err(std::io::Error::other)
        .and_then(|()| tmp.as_file().sync_data())
        .map_err(Error::io("write", path))?;
    tmp.persist(path)
        .map_err(|e| Error::io("rename into", path)(e.error))?;
    Ok(())
}

impl Store {
    /// Writes `snap` (or some of its tables) into `out` as plain files.
    pub fn checkout(
        &self,
        snap: &Snapshot,
        out: &Path,
        opts: &CheckoutOptions,
        progress: &dyn Fn(u64),
    ) -> Result<CheckoutReport> {
        let names: Vec<String> = if opts.tables.is_empty() {
            snap.tables().iter().map(|t| t.name.clone()).collect()
        } else {
            opts.tables.clone()
        };
        for n in &names {
            let t = snap.table(n)?;
            if opts.format == CheckoutFormat::Csv {
                check_csv_schema(n, &t.schema)?;
            }
            if opts.format == CheckoutFormat::Files
                && !opts.tables.is_empty()
                && !crate::files::is_files_table(&t.schema)
            {
                return Err(Error::invalid(format!(
                    "table `{n}` is not a files table, so it cannot be checked out as files"
                ))
                .with_hint("check it out as parquet, csv or jsonl"));
            }
        }
        prepare_dir(out, opts.force)?;
        let mut report = CheckoutReport::default();
        let mut manifest = CheckoutManifest {
            dstore_checkout: 1,
            store: match self.url() {
                Some(url) => url.to_owned(),
                None => fs::canonicalize(self.root())
                    .unwrap_or_else(|_| self.root().to_owned())
                    .display()
                    .to_string(),
            },
            snapshot: snap.id(),
            format: opts.format,
            tables: BTreeMap::new(),
        };
        for name in &names {
            let t = snap.table(name)?;
            let dir = out.join(name);
            fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
            let files_table =
                opts.format == CheckoutFormat::Files && crate::files::is_files_table(&t.schema);
            let files = if files_table {
                let (files, bytes) =
                    crate::files::checkout::write_table(snap, name, out, progress)?;
                report.files += files.len();
                report.bytes += bytes;
                files
            } else {
                self.checkout_segments(snap, name, out, opts, progress, &mut report)?
            };
            report.rows += t.rows;
            manifest.tables.insert(
                name.clone(),
                CheckoutTable {
                    rows: t.rows,
                    files,
                },
            );
        }
        // Written last: a checkout with a manifest is complete.
        write_json_atomically(&out.join(CHECKOUT_MANIFEST), &manifest)?;
        Ok(report)
    }

    /// Writes the segments of table `name` of `snap` under `out/<name>/` (linked, copied or
    /// converted); returns their checkout entries, counting them in `report`.
    fn checkout_segments(
        &self,
        snap: &Snapshot,
        name: &str,
        out: &Path,
        opts: &CheckoutOptions,
        progress: &dyn Fn(u64),
        report: &mut CheckoutReport,
    ) -> Result<Vec<CheckoutFile>> {
        let t = snap.table(name)?;
        let mut files = Vec::new();
        for (i, seg) in snap.segments(name)?.iter().enumerate() {
            let rel = format!("{name}/part-{i:05}.{}", opts.format.ext());
            let dest = out.join(&rel);
            let key = segment_key(&seg.id);
            let (hash, bytes, linked) = match self.storage().local_path(&key) {
                // A store in object storage: download, hashing as the bytes arrive.
                None => {
                    let url = self.storage().describe(&key);
                    let mut r = self.storage().open_read(&key)?;
                    match opts.format {
                        CheckoutFormat::Parquet | CheckoutFormat::Files => {
                            copy_verified_from(&mut *r, &url, &dest, &seg.id)?;
                            (seg.id.to_hex(), seg.bytes, false)
                        }
                        fmt => {
                            let tmp = dest.with_extension("download.parquet");
                            copy_verified_from(&mut *r, &url, &tmp, &seg.id)?;
                            let out = convert_segment(&tmp, &seg.id, &dest, &t.schema, fmt);
                            let _ = fs::remove_file(&tmp);
                            let (h, b) = out?;
                            (h, b, false)
                        }
                    }
                }
                Some(src) => {
                    check_segment_file(&src, seg.id)?;
                    match opts.format {
                        CheckoutFormat::Parquet | CheckoutFormat::Files => {
                            let linked = !opts.copy && fs::hard_link(&src, &dest).is_ok();
                            if !linked {
                                copy_verified(&src, &dest, &seg.id)?;
                            } else if !opts.trust_links {
                                check_linked(&src, &dest, &seg.id)?;
                            }
                            (seg.id.to_hex(), seg.bytes, linked)
                        }
                        fmt => {
                            let (h, b) = convert_segment(&src, &seg.id, &dest, &t.schema, fmt)?;
                            (h, b, false)
                        }
                    }
                }
            };
            report.files += 1;
            report.linked += usize::from(linked);
            report.bytes += bytes;
            progress(bytes);
            files.push(CheckoutFile {
                path: rel,
                segment: seg.id,
                blake3: hash,
                bytes,
                rows: seg.rows,
            });
        }
        Ok(files)
    }
}

fn check_csv_schema(table: &str, schema: &Schema) -> Result<()> {
    for f in schema.fields() {
        if matches!(
            f.data_type(),
            DataType::List(_)
                | DataType::LargeList(_)
                | DataType::FixedSizeList(..)
                | DataType::Struct(_)
                | DataType::Map(..)
        ) {
            return Err(Error::InvalidInput {
                path: None,
                detail: format!(
                    "table `{table}` column `{}` is {}, which CSV cannot hold",
                    f.name(),
                    f.data_type()
                ),
                hint: Some("check it out as parquet or jsonl".into()),
            });
        }
    }
    Ok(())
}

fn prepare_dir(out: &Path, force: bool) -> Result<()> {
    if out.exists() {
        let nonempty = fs::read_dir(out)
            .map_err(Error::io("read", out))?
            .next()
            .is_some();
        if nonempty && !force {
            return Err(Error::CheckoutTargetNotEmpty {
                dir: out.to_owned(),
                detail: "checkout target is not empty".into(),
            });
        }
        let old = out.join(CHECKOUT_MANIFEST);
        if let Ok(bytes) = fs::read(&old) {
            if let Ok(m) = serde_json::from_slice::<CheckoutManifest>(&bytes) {
                for f in m.tables.values().flat_map(|t| &t.files) {
                    // Never through a link: a directory of the old checkout replaced by a link
                    // must not make this delete files elsewhere.
                    if is_safe_relative(&f.path) && !crosses_link(out, &f.path) {
                        let _ = fs::remove_file(out.join(&f.path));
                    }
                }
            }
            fs::remove_file(&old).map_err(Error::io("remove", &old))?;
        }
    }
    fs::create_dir_all(out).map_err(Error::io("create directory", out))
}

/// Whether a directory between `out` and `out/rel` is a symbolic link (or cannot be read).
pub(crate) fn crosses_link(out: &Path, rel: &str) -> bool {
    let mut at = out.to_owned();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_dir() => {}
            _ => return true,
        }
    }
    false
}

fn is_safe_relative(p: &str) -> bool {
    let p = Path::new(p);
    p.is_relative()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// A segment must be a regular file of the store: missing is damage, and so is a symbolic
/// link (a hard link to it would put the link, pointing wherever it points, in the checkout).
fn check_segment_file(src: &Path, id: SegmentId) -> Result<()> {
    match fs::symlink_metadata(src) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(_) => Err(Error::Corrupted {
            path: src.to_owned(),
            detail:
                "is not a regular file (a symbolic link or something else has replaced the segment)"
                    .into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Corrupted {
            path: src.to_owned(),
            detail: format!("segment {} is missing", id.short(16)),
        }),
        Err(e) => Err(Error::io("read metadata of", src)(e)),
    }
}

/// A hard link shares the segment's bytes, so they are hashed once here: a damaged segment
/// must not land in a checkout silently (the link is removed again).
fn check_linked(src: &Path, dest: &Path, id: &SegmentId) -> Result<()> {
    let mut f = File::open(dest).map_err(Error::io("open", dest))?;
    let h = hash_stream(&mut f, None, &[]).map_err(Error::io("read", src))?;
    check_segment(src, id, &h.id).inspect_err(|_| {
        let _ = fs::remove_file(dest);
    })
}

/// Copies a segment, verifying on the way that it still hashes to its name.
fn copy_verified(src: &Path, dest: &Path, id: &SegmentId) -> Result<()> {
    let mut f = File::open(src).map_err(Error::io("open", src))?;
    copy_verified_from(&mut f, src, dest, id)
}

/// Copies `src` (named `src_name` in errors) to `dest`, hashing the bytes on the way; a copy
/// that does not hash to `id` is removed and reported as corruption of the source.
fn copy_verified_from(
    f: &mut dyn std::io::Read,
    src_name: &Path,
    dest: &Path,
    id: &SegmentId,
) -> Result<()> {
    let src = src_name;
    let mut out = BufWriter::new(File::create(dest).map_err(Error::io("create", dest))?);
    let h = hash_stream(f, Some(&mut out), &[]).map_err(Error::io("copy", src))?;
    out.flush().map_err(Error::io("write", dest))?;
    check_segment(src, id, &h.id).inspect_err(|_| {
        let _ = fs::remove_file(dest);
    })
}

/// Converts a segment to CSV or JSON lines with columns in table order; returns the output's
/// BLAKE3 and size.
fn convert_segment(
    src: &Path,
    id: &SegmentId,
    dest: &Path,
    schema: &Schema,
    fmt: CheckoutFormat,
) -> Result<(String, u64)> {
    let mut f = File::open(src).map_err(Error::io("open", src))?;
    let h = hash_stream(&mut f, None, &[]).map_err(Error::io("read", src))?;
    check_segment(src, id, &h.id)?;
    let corrupt = |e: &dyn std::fmt::Display| Error::Corrupted {
        path: src.to_owned(),
        detail: e.to_string(),
    };
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(File::open(src).map_err(Error::io("open", src))?)
            .and_then(ParquetRecordBatchReaderBuilder::build)
            .map_err(|e| corrupt(&e))?;
    let out = BufWriter::new(File::create(dest).map_err(Error::io("create", dest))?);
    let write_err = |e: &dyn std::fmt::Display| Error::Io {
        op: "write",
        path: dest.to_owned(),
        source: std::io::Error::other(e.to_string()),
    };
    let order = |b: arrow::array::RecordBatch| -> Result<arrow::array::RecordBatch> {
        let idx: Vec<usize> = schema
            .fields()
            .iter()
            .map(|f| b.schema().index_of(f.name()).map_err(|e| corrupt(&e)))
            .collect::<Result<_>>()?;
        b.project(&idx).map_err(|e| corrupt(&e))
    };
    match fmt {
        CheckoutFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            for b in reader {
                w.write(&order(b.map_err(|e| corrupt(&e))?)?)
                    .map_err(|e| write_err(&e))?;
            }
            w.into_inner().flush().map_err(Error::io("write", dest))?;
        }
        CheckoutFormat::Jsonl => {
            let mut w = arrow::json::LineDelimitedWriter::new(out);
            for b in reader {
                let b = order(b.map_err(|e| corrupt(&e))?)?;
                refuse_non_finite(&b, dest)?;
                w.write(&b).map_err(|e| write_err(&e))?;
            }
            w.finish().map_err(|e| write_err(&e))?;
            w.into_inner().flush().map_err(Error::io("write", dest))?;
        }
        CheckoutFormat::Parquet | CheckoutFormat::Files => {
            unreachable!("parquet checkouts link or copy")
        }
    }
    let mut f = File::open(dest).map_err(Error::io("open", dest))?;
    let h = hash_stream(&mut f, None, &[]).map_err(Error::io("read", dest))?;
    Ok((h.id.to_hex(), h.len))
}

/// JSON has no NaN or infinity; writing them as null would lose data silently.
fn refuse_non_finite(b: &arrow::array::RecordBatch, dest: &Path) -> Result<()> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float32Type, Float64Type};
    for (f, col) in b.schema().fields().iter().zip(b.columns()) {
        let bad = match f.data_type() {
            DataType::Float32 => col
                .as_primitive::<Float32Type>()
                .iter()
                .flatten()
                .any(|v| !v.is_finite()),
            DataType::Float64 => col
                .as_primitive::<Float64Type>()
                .iter()
                .flatten()
                .any(|v| !v.is_finite()),
            _ => false,
        };
        if bad && col.null_count() < col.len() {
            return Err(Error::InvalidInput {
                path: Some(dest.to_owned()),
                detail: format!(
                    "column `{}` holds NaN or infinity, which JSON cannot represent",
                    f.name()
                ),
                hint: Some("check it out as parquet (exact) or csv".into()),
            });
        }
    }
    Ok(())
}

/// Checks a checkout directory against its manifest: every file present, of the right size,
/// hashing to what the manifest says.
pub fn verify_checkout(dir: &Path) -> Result<VerifyReport> {
    let mpath = dir.join(CHECKOUT_MANIFEST);
    let bytes = fs::read(&mpath).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NotACheckout {
                dir: dir.to_owned(),
                detail: format!("is not a dstore checkout (no {CHECKOUT_MANIFEST})"),
            }
        } else {
            Error::io("read", &mpath)(e)
        }
    })?;
    let m: CheckoutManifest = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupted {
        path: mpath.clone(),
        detail: e.to_string(),
    })?;
    let mut report = VerifyReport::default();
    for f in m.tables.values().flat_map(|t| &t.files) {
        if !is_safe_relative(&f.path) {
            report.problems.push(Problem {
                path: mpath.clone(),
                detail: format!("unsafe path {:?}", f.path),
            });
            continue;
        }
        let p: PathBuf = dir.join(&f.path);
        match File::open(&p) {
            Err(e) => report.problems.push(Problem {
                path: p,
                detail: format!("cannot open: {e}"),
            }),
            Ok(mut file) => match hash_stream(&mut file, None, &[]) {
                Err(e) => report.problems.push(Problem {
                    path: p,
                    detail: format!("cannot read: {e}"),
                }),
                Ok(h) => {
                    report.files += 1;
                    report.bytes += h.len;
                    if h.id.to_hex() != f.blake3 || h.len != f.bytes {
                        report.problems.push(Problem {
                            path: p,
                            detail: format!(
                                "BLAKE3 {} ({} bytes), manifest says {} ({} bytes)",
                                h.id.short(16),
                                h.len,
                                &f.blake3[..16.min(f.blake3.len())],
                                f.bytes
                            ),
                        });
                    }
                }
            },
        }
    }
    Ok(report)
}
