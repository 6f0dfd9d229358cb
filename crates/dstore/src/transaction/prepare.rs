//! Prepare / commit: a write split over processes and machines (docs/format.md §18,
//! docs/distributed.md).
//!
//! *Prepare* ([`Transaction::prepare`]) runs anywhere, with no lock: it validates, hashes and
//! profiles inputs exactly as a commit would, places their segments (and derived objects) in the
//! store, and returns a [`Prepared`] description instead of committing. Until a commit names
//! them, prepared segments are unreferenced objects that gc keeps for its grace period.
//!
//! *Commit* ([`Transaction::add_prepared`], then [`Transaction::commit`]) runs in one process:
//! it checks that each described segment is in the store with the size described and (unless
//! trusted) that its footer matches the described entry, checks again under the commit lock that
//! each one is still there, and commits them all as one snapshot with the usual put-if-absent
//! and retry.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use dstore_format::{SegmentEntry, SegmentId, SegmentList, validate_table_name};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::file::metadata::ParquetMetaDataReader;
use serde::{Deserialize, Serialize};

use super::{AddedFiles, PendingSegment, SegmentData, Transaction, WriteMode, place};
use crate::error::{Error, PreparedProblem, Result};
use crate::ingest::{StagedSegment, schema_differences, segment};
use crate::layout;
use crate::store::Store;

/// The version of the description format this build writes and reads.
pub const PREPARE_VERSION: u32 = 1;

/// The oldest prepared segment a commit to a store in object storage takes: gc's default grace
/// period (1 hour) less a margin for the commit itself. There, another machine's gc does not take
/// this client's lock, and S3 cannot refresh an object's time without rewriting it.
const PREPARED_MAX_AGE: std::time::Duration = std::time::Duration::from_mins(45);

/// Footers fetched at once when checking prepared segments (bounds the memory held).
const FOOTER_BATCH: usize = 64;

/// Segments placed in a store by [`Transaction::prepare`], not yet committed: what
/// [`Transaction::add_prepared`] commits. Serialized with [`Prepared::to_json`] (docs/format.md
/// §18) to travel from the worker that prepared it to the process that commits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Prepared {
    /// The store the segments were placed in (its path or URL), for messages.
    pub store: String,
    /// What each table gets.
    pub tables: Vec<PreparedTable>,
    /// The file the description was read from, for messages (`None` when made in this
    /// process).
    pub origin: Option<PathBuf>,
}

/// What a [`Prepared`] description adds to one table.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PreparedTable {
    /// The table.
    pub name: String,
    /// Append to it or overwrite it.
    pub mode: WriteMode,
    /// The schema of the data (the table's, when it existed at prepare time).
    pub schema: SchemaRef,
    /// Where the schema came from, for messages.
    pub schema_source: PathBuf,
    /// The placed segments, in table order.
    pub segments: Vec<PreparedSegment>,
}

/// One placed segment of a [`PreparedTable`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PreparedSegment {
    /// Its manifest entry: id, size, rows, row groups, chunk hashes and statistics.
    pub entry: SegmentEntry,
    /// The input it was made from, for messages.
    pub source: PathBuf,
    /// Whether it was prepared with `allow_duplicates`.
    pub allow_duplicate: bool,
}

/// How much [`Transaction::add_prepared`] checks of each described segment before committing
/// it. Whatever the level, a segment missing from the store, or of another size, is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreparedCheck {
    /// Only that it is there with the described size (one HEAD request each on S3).
    Trust,
    /// Also that its footer matches the described entry: rows, row groups, column chunk
    /// offsets and lengths, statistics and schema (one range request each).
    #[default]
    Footer,
    /// Also re-hash its bytes: the id and every column chunk hash (reads every byte).
    Full,
}

impl Prepared {
    /// Segments in the description.
    pub fn segments(&self) -> usize {
        self.tables.iter().map(|t| t.segments.len()).sum()
    }

    /// Rows in the description.
    pub fn rows(&self) -> u64 {
        self.tables
            .iter()
            .flat_map(|t| &t.segments)
            .map(|s| s.entry.rows)
            .sum()
    }

    /// Bytes of the described segments.
    pub fn bytes(&self) -> u64 {
        self.tables
            .iter()
            .flat_map(|t| &t.segments)
            .map(|s| s.entry.bytes)
            .sum()
    }

    /// The name used for the description in messages: its file, or a label.
    pub fn label(&self) -> PathBuf {
        self.origin
            .clone()
            .unwrap_or_else(|| PathBuf::from("<prepared description>"))
    }

    /// The description as JSON (docs/format.md §18), one line per field.
    pub fn to_json(&self) -> Result<String> {
        let doc = Doc {
            dstore_prepare: PREPARE_VERSION,
            store: self.store.clone(),
            tables: self
                .tables
                .iter()
                .map(|t| {
                    let schema = dstore_format::schema::schema_bytes(&t.schema)
                        .map_err(|e| Error::invalid(format!("table `{}`: {e}", t.name)))?;
                    Ok(DocTable {
                        table: t.name.clone(),
                        mode: match t.mode {
                            WriteMode::Append => "append".into(),
                            WriteMode::Overwrite => "overwrite".into(),
                        },
                        schema: hex::encode(schema),
                        schema_source: t.schema_source.display().to_string(),
                        segments: t
                            .segments
                            .iter()
                            .map(|s| DocSegment {
                                id: s.entry.id.to_hex(),
                                bytes: s.entry.bytes,
                                rows: s.entry.rows,
                                source: s.source.display().to_string(),
                                allow_duplicate: s.allow_duplicate,
                                entry: hex::encode(
                                    SegmentList {
                                        entries: vec![s.entry.clone()],
                                    }
                                    .encode(),
                                ),
                            })
                            .collect(),
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        };
        let mut out = serde_json::to_string_pretty(&doc)
            .map_err(|e| Error::internal("writing a prepare description", e))?;
        out.push('\n');
        Ok(out)
    }

    /// Reads a description written by [`Prepared::to_json`]; `origin` names it in messages
    /// (and in those of the commit). Every field is checked: the entry against the plain `id`,
    /// `bytes` and `rows` beside it, so that a hand edit of either is refused.
    pub fn from_json(text: &str, origin: &Path) -> Result<Prepared> {
        let bad = |detail: String| {
            Error::input(origin, detail).with_hint(
                "use the description `dstore prepare` (or `Transaction::prepare`) wrote, unchanged",
            )
        };
        let version: VersionOnly = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "not a dstore prepare description (no `dstore_prepare` version): {e}"
            ))
        })?;
        if version.dstore_prepare != PREPARE_VERSION {
            return Err(Error::UnsupportedFormat {
                path: origin.to_owned(),
                found: version.dstore_prepare,
                min_supported: PREPARE_VERSION,
                max_supported: PREPARE_VERSION,
            });
        }
        let doc: Doc = serde_json::from_str(text)
            .map_err(|e| bad(format!("not a dstore prepare description: {e}")))?;
        let mut tables = Vec::with_capacity(doc.tables.len());
        let mut names = HashSet::new();
        for (ti, t) in doc.tables.into_iter().enumerate() {
            let at = format!("tables[{ti}]");
            validate_table_name(&t.table).map_err(|e| bad(format!("{at}.table: {e}")))?;
            if !names.insert(t.table.clone()) {
                return Err(bad(format!("{at}: table `{}` appears twice", t.table)));
            }
            let mode = match t.mode.as_str() {
                "append" => WriteMode::Append,
                "overwrite" => WriteMode::Overwrite,
                other => {
                    return Err(bad(format!(
                        "{at}.mode: `{other}` is not `append` or `overwrite`"
                    )));
                }
            };
            let schema = hex::decode(&t.schema)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    dstore_format::schema::schema_from_bytes(&b).map_err(|e| e.to_string())
                })
                .map_err(|e| bad(format!("{at}.schema: {e}")))?;
            let mut segments = Vec::with_capacity(t.segments.len());
            for (si, s) in t.segments.into_iter().enumerate() {
                let at = format!("{at}.segments[{si}]");
                let id = SegmentId::from_hex(&s.id)
                    .ok_or_else(|| bad(format!("{at}.id: `{}` is not 64 hex digits", s.id)))?;
                let list = hex::decode(&s.entry)
                    .map_err(|e| e.to_string())
                    .and_then(|b| SegmentList::decode(&b).map_err(|e| e.to_string()))
                    .map_err(|e| bad(format!("{at}.entry: {e}")))?;
                let [entry] = <[SegmentEntry; 1]>::try_from(list.entries)
                    .map_err(|l| bad(format!("{at}.entry: holds {} entries, not one", l.len())))?;
                for (field, described, in_entry) in [
                    ("id", s.id.clone(), entry.id.to_hex()),
                    ("bytes", s.bytes.to_string(), entry.bytes.to_string()),
                    ("rows", s.rows.to_string(), entry.rows.to_string()),
                ] {
                    if described != in_entry {
                        return Err(bad(format!(
                            "{at}.{field}: says {described}, but its entry says {in_entry}"
                        )));
                    }
                }
                debug_assert_eq!(id, entry.id);
                segments.push(PreparedSegment {
                    entry,
                    source: PathBuf::from(s.source),
                    allow_duplicate: s.allow_duplicate,
                });
            }
            tables.push(PreparedTable {
                name: t.table,
                mode,
                schema: Arc::new(schema),
                schema_source: PathBuf::from(t.schema_source),
                segments,
            });
        }
        Ok(Prepared {
            store: doc.store,
            tables,
            origin: Some(origin.to_owned()),
        })
    }

    /// Writes the description to a file, atomically and durably.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::storage::write_file_durably(path, self.to_json()?.as_bytes(), ".dstore-prepare.")
    }

    /// Reads a description from a file.
    pub fn read(path: &Path) -> Result<Prepared> {
        let text = std::fs::read_to_string(path).map_err(Error::io("read", path))?;
        Prepared::from_json(&text, path)
    }
}

/// The JSON description (docs/format.md §18).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    dstore_prepare: u32,
    store: String,
    tables: Vec<DocTable>,
}

/// Read first, so that a description of another version is told apart from a broken one.
#[derive(Deserialize)]
struct VersionOnly {
    dstore_prepare: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocTable {
    table: String,
    mode: String,
    /// Hex of the canonical schema encoding (docs/format.md §4).
    schema: String,
    schema_source: String,
    segments: Vec<DocSegment>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocSegment {
    id: String,
    bytes: u64,
    rows: u64,
    source: String,
    allow_duplicate: bool,
    /// Hex of a one-entry segment list page (docs/format.md §6).
    entry: String,
}

impl Transaction<'_> {
    /// Places the staged segments in the store and describes them, instead of committing.
    /// Takes no lock, so any number of processes prepare at once; nothing becomes visible
    /// until [`Transaction::add_prepared`] and [`Transaction::commit`] in one process commit the
    /// descriptions. Segments are placed as a commit places them (segment, then its outboard
    /// and profile), with a fresh time: gc keeps them for its grace period (one hour by
    /// default) while no commit names them, and removes them after it.
    ///
    /// A table given only text inputs without rows (whose column types are unknown) is left
    /// out of the description.
    pub fn prepare(self) -> Result<Prepared> {
        let store = self.store;
        let mut tables = Vec::new();
        let mut to_place = Vec::new();
        for (name, p) in self.tables {
            let Some(schema) = p.schema else {
                continue;
            };
            let mut segments = Vec::with_capacity(p.segments.len());
            for s in p.segments {
                let entry = match s.data {
                    SegmentData::Staged(staged) => {
                        let entry = staged.entry.clone();
                        to_place.push(staged);
                        entry
                    }
                    SegmentData::Placed { entry, .. } | SegmentData::Kept(entry) => entry,
                };
                segments.push(PreparedSegment {
                    entry,
                    source: s.source,
                    allow_duplicate: s.allow_duplicate,
                });
            }
            tables.push(PreparedTable {
                name,
                mode: p.mode,
                schema,
                schema_source: p.schema_source,
                segments,
            });
        }
        place_all(store, to_place.into_iter().map(|s| (s, false)).collect())?;
        Ok(Prepared {
            store: store.location(),
            tables,
            origin: None,
        })
    }

    /// Adds the segments of a [`Prepared`] description to this transaction, to be committed
    /// with everything else it holds. Each described segment must be in the store with the
    /// size described; `check` says what else is checked ([`PreparedCheck::Footer`] by
    /// default). Tables take the description's mode; its schema is checked against the
    /// table's as an input's would be, and segments the table already holds are refused
    /// unless prepared with `allow_duplicates`. On any error nothing of the description is
    /// added.
    pub fn add_prepared(
        &mut self,
        prepared: &Prepared,
        check: PreparedCheck,
    ) -> Result<AddedFiles> {
        let origin = prepared.label();
        // Modes and schemas first: no I/O.
        for t in &prepared.tables {
            let p = self.pending(&t.name)?;
            let fresh = !p.mode_set
                && p.segments.is_empty()
                && p.schema.is_none()
                && p.unchecked_headers.is_empty();
            if p.mode != t.mode && !fresh {
                return Err(Error::input(
                    &origin,
                    format!(
                        "table `{}` is to be {} by this description, but this commit {} it",
                        t.name,
                        mode_past(t.mode),
                        mode_verb(p.mode),
                    ),
                )
                .with_hint("commit descriptions prepared with the same mode together"));
            }
        }
        for t in &prepared.tables {
            let saved = self.pending(&t.name)?.mode;
            // The table's schema as this table's inputs would see it, under the description's
            // mode (restored below: nothing changes until every check passed).
            self.pending(&t.name)?.mode = t.mode;
            let current = self.table_schema(&t.name);
            self.pending(&t.name)?.mode = saved;
            if let Some((schema, _)) = current? {
                let diff = schema_differences(&schema, &t.schema);
                if !diff.is_empty() {
                    return Err(Error::SchemaMismatch {
                        table: t.name.clone(),
                        path: origin.clone(),
                        differences: diff,
                    });
                }
            }
        }
        // What staging would refuse, before anything is staged.
        for t in &prepared.tables {
            self.check_stage(&t.name, &origin, &t.schema)?;
        }
        let described: Vec<Described<'_>> = prepared
            .tables
            .iter()
            .flat_map(|t| {
                t.segments.iter().map(|s| Described {
                    entry: &s.entry,
                    input: &s.source,
                    description: &origin,
                    schema: &t.schema,
                })
            })
            .collect();
        check_placed(self.store, &described)?;
        if check != PreparedCheck::Trust {
            check_footers(self.store, &described)?;
        }
        if check == PreparedCheck::Full {
            check_bytes(self.store, &described)?;
        }
        // Duplicates: within the description, then against this transaction and the base.
        for t in &prepared.tables {
            let mut seen = HashSet::new();
            for s in &t.segments {
                if !seen.insert(s.entry.id) {
                    return Err(Error::input(
                        &origin,
                        format!(
                            "segment {}… appears twice for table `{}`",
                            s.entry.id.short(16),
                            t.name
                        ),
                    ));
                }
            }
            let saved = self.pending(&t.name)?.mode;
            self.pending(&t.name)?.mode = t.mode;
            let checked: Vec<(&SegmentEntry, &Path)> = t
                .segments
                .iter()
                .filter(|s| !s.allow_duplicate)
                .map(|s| (&s.entry, s.source.as_path()))
                .collect();
            let refused = self.refuse_duplicates(&t.name, &checked);
            self.pending(&t.name)?.mode = saved;
            refused?;
        }
        let mut added = AddedFiles::default();
        let mut inputs = HashSet::new();
        for t in &prepared.tables {
            self.pending(&t.name)?.mode = t.mode;
            let segs: Vec<PendingSegment> = t
                .segments
                .iter()
                .map(|s| PendingSegment {
                    data: SegmentData::Placed {
                        entry: s.entry.clone(),
                        description: origin.clone(),
                    },
                    source: s.source.clone(),
                    allow_duplicate: s.allow_duplicate,
                })
                .collect();
            added.segments += segs.len();
            added.rows += t.segments.iter().map(|s| s.entry.rows).sum::<u64>();
            inputs.extend(t.segments.iter().map(|s| s.source.clone()));
            self.stage(&t.name, &t.schema_source, Some(t.schema.clone()), segs)?;
        }
        added.files = inputs.len();
        Ok(added)
    }
}

/// Segments placed at once by a prepare: placing one is a few requests on object storage
/// (the segment, then its outboard and profile), each waiting on the network, not the CPU.
const PLACE_CONCURRENCY: usize = 16;

/// Syncs and places every staged segment (each as [`place`] does: segment, then its derived
/// objects; the flag is `place`'s `referenced`), several at once. Stops at the first error.
pub(super) fn place_all(store: &Store, staged: Vec<(StagedSegment, bool)>) -> Result<()> {
    let threads = staged.len().min(PLACE_CONCURRENCY);
    if threads <= 1 {
        for (mut s, referenced) in staged {
            store.storage().sync_staged(&mut s.staged)?;
            place(store, s, referenced)?;
        }
        return Ok(());
    }
    let queue = std::sync::Mutex::new(staged.into_iter());
    let failed = std::sync::Mutex::new(None::<Error>);
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| {
                loop {
                    if failed.lock().expect("lock").is_some() {
                        return;
                    }
                    let Some((mut s, referenced)) = queue.lock().expect("lock").next() else {
                        return;
                    };
                    let placed = store
                        .storage()
                        .sync_staged(&mut s.staged)
                        .and_then(|()| place(store, s, referenced));
                    if let Err(e) = placed {
                        failed.lock().expect("lock").get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    failed.into_inner().expect("lock").map_or(Ok(()), Err)
}

fn mode_past(m: WriteMode) -> &'static str {
    match m {
        WriteMode::Append => "appended to",
        WriteMode::Overwrite => "overwritten",
    }
}

fn mode_verb(m: WriteMode) -> &'static str {
    match m {
        WriteMode::Append => "appends to",
        WriteMode::Overwrite => "overwrites",
    }
}

/// A described segment being checked, with what its messages name.
pub(super) struct Described<'a> {
    pub(super) entry: &'a SegmentEntry,
    pub(super) input: &'a Path,
    pub(super) description: &'a Path,
    pub(super) schema: &'a Schema,
}

impl Described<'_> {
    fn refuse(&self, problem: PreparedProblem, detail: impl Into<String>) -> Error {
        Error::PreparedMismatch {
            description: self.description.to_owned(),
            segment: self.entry.id,
            input: self.input.to_owned(),
            problem,
            detail: detail.into(),
        }
    }
}

/// Refuses a described segment that the store does not hold with the described size (one
/// size request each, concurrent on object storage).
pub(super) fn check_placed(store: &Store, described: &[Described<'_>]) -> Result<()> {
    if described.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = described
        .iter()
        .map(|d| layout::segment_key(&d.entry.id))
        .collect();
    let stats = store.storage().sizes_and_times(&keys)?;
    let now = std::time::SystemTime::now();
    for ((d, stat), key) in described.iter().zip(stats).zip(&keys) {
        match stat {
            None => {
                return Err(d.refuse(
                    PreparedProblem::Missing,
                    format!(
                        "is not in the store (no {})",
                        store.storage().describe(key).display()
                    ),
                ));
            }
            Some((n, _)) if n != d.entry.bytes => {
                return Err(d.refuse(
                    PreparedProblem::Size,
                    format!(
                        "is described as {} bytes, but the store holds {n}",
                        d.entry.bytes
                    ),
                ));
            }
            Some((_, Some(t))) if now.duration_since(t).unwrap_or_default() > PREPARED_MAX_AGE => {
                let minutes = now.duration_since(t).unwrap_or_default().as_secs() / 60;
                return Err(d.refuse(
                    PreparedProblem::Stale,
                    format!(
                        "was placed {minutes} minutes ago; in object storage a gc run on another \
                         machine (which this commit's lock does not stop) may remove it once its \
                         grace period (1 hour by default) has passed, so a commit takes prepared \
                         segments up to {} minutes old",
                        PREPARED_MAX_AGE.as_secs() / 60
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Refuses a described segment whose stored footer does not match its entry. Reads each
/// segment's tail once (from the end of its last column chunk: the page index and the footer),
/// in batches, concurrently on object storage.
fn check_footers(store: &Store, described: &[Described<'_>]) -> Result<()> {
    for batch in described.chunks(FOOTER_BATCH) {
        let ranges: Vec<(String, std::ops::Range<u64>)> = batch
            .iter()
            .map(|d| {
                let end_of_chunks = d
                    .entry
                    .row_groups
                    .iter()
                    .flat_map(|g| &g.chunks)
                    .map(|c| c.offset.saturating_add(c.length))
                    .max()
                    .unwrap_or(4)
                    .max(4)
                    .min(d.entry.bytes);
                (
                    layout::segment_key(&d.entry.id),
                    end_of_chunks..d.entry.bytes,
                )
            })
            .collect();
        let tails = store.storage().get_ranges(&ranges)?;
        for (d, tail) in batch.iter().zip(tails) {
            footer_matches(&tail, d.entry, d.schema)
                .map_err(|detail| d.refuse(PreparedProblem::Footer, detail))?;
        }
    }
    Ok(())
}

/// Whether the tail of a segment (from the end of its column chunks) holds a footer that
/// describes exactly `entry` and columns of `schema`; what differs when it does not.
fn footer_matches(
    tail: &[u8],
    entry: &SegmentEntry,
    schema: &Schema,
) -> std::result::Result<(), String> {
    let n = tail.len();
    if n < 8 || &tail[n - 4..] != b"PAR1" {
        return Err(
            "does not end where its described column chunks say (no Parquet footer there)".into(),
        );
    }
    let len = u32::from_le_bytes(tail[n - 8..n - 4].try_into().expect("4 bytes")) as usize;
    if len > n - 8 {
        return Err(format!(
            "has a footer of {len} bytes, which overlaps the column chunks described"
        ));
    }
    let meta = crate::ingest::contain::contain(|| {
        ParquetMetaDataReader::decode_metadata(&tail[n - 8 - len..n - 8])
    })
    .map_err(|p| format!("footer: the decoder panicked: {p}"))?
    .map_err(|e| format!("footer: {e}"))?;
    let arrow = ArrowReaderMetadata::try_new(Arc::new(meta), ArrowReaderOptions::default())
        .map_err(|e| format!("footer: {e}"))?;
    let diff = schema_differences(schema, arrow.schema());
    if !diff.is_empty() {
        return Err(format!(
            "holds columns other than its table's: {}",
            diff.join("; ")
        ));
    }
    let meta = arrow.metadata();
    segment::chunk_ranges(meta, entry.bytes)?;
    let hashes: Vec<[u8; 32]> = entry
        .row_groups
        .iter()
        .flat_map(|g| g.chunks.iter().map(|c| c.hash))
        .collect();
    let chunks: usize = meta
        .row_groups()
        .iter()
        .map(parquet::file::metadata::RowGroupMetaData::num_columns)
        .sum();
    if hashes.len() != chunks {
        return Err(format!(
            "has {chunks} column chunks in its footer, but the description lists {}",
            hashes.len()
        ));
    }
    let stored = segment::segment_entry(entry.id, entry.bytes, meta, &hashes);
    if stored == *entry {
        return Ok(());
    }
    Err(entry_difference(&stored, entry))
}

/// What differs between the entry a stored footer gives and the described one.
fn entry_difference(stored: &SegmentEntry, described: &SegmentEntry) -> String {
    if stored.rows != described.rows {
        return format!(
            "holds {} rows, but the description says {}",
            stored.rows, described.rows
        );
    }
    if stored.row_groups.len() != described.row_groups.len() {
        return format!(
            "has {} row groups, but the description lists {}",
            stored.row_groups.len(),
            described.row_groups.len()
        );
    }
    for (g, (s, d)) in stored
        .row_groups
        .iter()
        .zip(&described.row_groups)
        .enumerate()
    {
        if s.rows != d.rows {
            return format!(
                "row group {g} holds {} rows, but the description says {}",
                s.rows, d.rows
            );
        }
        for (c, (sc, dc)) in s.chunks.iter().zip(&d.chunks).enumerate() {
            if (sc.offset, sc.length) != (dc.offset, dc.length) {
                return format!(
                    "row group {g}, column chunk {c} is bytes {}..{}, but the description says {}..{}",
                    sc.offset,
                    sc.offset + sc.length,
                    dc.offset,
                    dc.offset + dc.length
                );
            }
            if sc.stats != dc.stats {
                return format!(
                    "row group {g}, column chunk {c} has other statistics than described"
                );
            }
        }
    }
    "has other column statistics than described".into()
}

/// Refuses a described segment whose bytes do not hash to its id and described chunk hashes
/// (reads each one whole).
fn check_bytes(store: &Store, described: &[Described<'_>]) -> Result<()> {
    for d in described {
        let key = layout::segment_key(&d.entry.id);
        let chunks: Vec<&dstore_format::ChunkEntry> =
            d.entry.row_groups.iter().flat_map(|g| &g.chunks).collect();
        let ranges: Vec<std::ops::Range<u64>> = chunks
            .iter()
            .map(|c| c.offset..c.offset + c.length)
            .collect();
        let mut src = store.storage().open_read(&key)?;
        let hashed = segment::hash_stream(&mut src, None, &ranges)
            .map_err(Error::io("read", store.storage().describe(&key)))?;
        if hashed.id != d.entry.id || hashed.len != d.entry.bytes {
            // The store's object does not match its own name: damage, not a bad description.
            return Err(Error::Corrupted {
                path: store.storage().describe(&key),
                detail: format!("its bytes hash to {}, not to its name", hashed.id.short(16)),
            });
        }
        if let Some(i) = chunks
            .iter()
            .zip(&hashed.range_hashes)
            .position(|(c, h)| c.hash != *h)
        {
            return Err(d.refuse(
                PreparedProblem::Footer,
                format!("column chunk {i} does not hash to the hash described"),
            ));
        }
    }
    Ok(())
}
