//! Write transactions: stage segments for tables, then commit them as one new snapshot.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatchReader;
use arrow::datatypes::SchemaRef;
use dstore_format::{
    LogRecord, Manifest, PageRef, RecordKind, SegmentEntry, SegmentId, SnapshotId, TableChange,
    TableManifest, TableOp, manifest::paginate, validate_table_name, validate_tag_name,
};

use crate::catalog::LogView;
use crate::error::{Error, Result};
use crate::ingest::{
    self, IngestOptions, InputFile, InputFormat, StagedSegment, convert, schema_differences,
};
use crate::layout;
use crate::store::Store;

mod folder;
mod prepare;

pub use prepare::{PREPARE_VERSION, Prepared, PreparedCheck, PreparedSegment, PreparedTable};

/// How a transaction changes a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Add segments after the table's existing ones (creates the table if new).
    #[default]
    Append,
    /// Replace the table's segments; history keeps the old ones.
    Overwrite,
}

/// Message, author and tags of a commit.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Free-text message.
    pub message: String,
    /// Who commits.
    pub author: String,
    /// Tags to set on the new snapshot, atomically with the commit.
    pub tags: Vec<String>,
    /// Move tags that already exist.
    pub force_tags: bool,
    /// The snapshots this commit was made from (`--from`), recorded in the commit as its
    /// lineage.
    pub upstream: Vec<dstore_format::Upstream>,
}

impl CommitOptions {
    /// Options with a message.
    pub fn message(m: impl Into<String>) -> Self {
        Self {
            message: m.into(),
            ..Self::default()
        }
    }
}

/// What a commit produced.
#[derive(Debug, Clone)]
pub struct CommitOutcome {
    /// The new snapshot.
    pub id: SnapshotId,
    /// Its commit record's sequence number.
    pub seq: u64,
    /// What changed per table.
    pub changes: Vec<TableChange>,
    /// Sequence numbers lost to concurrent writers before this one landed.
    pub conflicts: u32,
    /// Whether the snapshot equals its parent (the commit changed no data).
    pub unchanged: bool,
}

/// What [`Transaction::add_files`] read.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AddedFiles {
    /// Segments staged.
    pub segments: usize,
    /// Rows in them.
    pub rows: u64,
    /// Input files read, empty ones included.
    pub files: usize,
    /// Input files with no rows: read and checked against the table, adding no segment.
    pub empty: Vec<PathBuf>,
    /// Files of unknown type that were skipped (`IngestOptions::skip_unknown`).
    pub skipped: Vec<PathBuf>,
}

/// A segment for a commit and the input it came from.
#[derive(Debug)]
struct PendingSegment {
    data: SegmentData,
    source: PathBuf,
    allow_duplicate: bool,
}

/// Where a pending segment's bytes are.
#[derive(Debug)]
enum SegmentData {
    /// Staged by this process; placed at commit.
    Staged(StagedSegment),
    /// Placed in the store already by a prepare ([`Transaction::add_prepared`]), described by
    /// the file `description`; checked again under the commit lock.
    Placed {
        entry: SegmentEntry,
        description: PathBuf,
    },
    /// A segment of the table at the base, kept as it is by a folder ingest whose files in it
    /// did not change ([`Transaction::add_folder`]); checked to be there under the commit lock.
    Kept(SegmentEntry),
}

impl PendingSegment {
    fn entry(&self) -> &SegmentEntry {
        match &self.data {
            SegmentData::Staged(s) => &s.entry,
            SegmentData::Placed { entry, .. } | SegmentData::Kept(entry) => entry,
        }
    }
}

#[derive(Debug, Default)]
struct PendingTable {
    mode: WriteMode,
    /// Whether `set_mode` chose the mode (a description of another mode is then refused).
    mode_set: bool,
    schema: Option<SchemaRef>,
    /// Where the schema came from, for messages.
    schema_source: PathBuf,
    segments: Vec<PendingSegment>,
    /// Headers of empty CSV inputs read while the table's schema was unknown (their column
    /// types cannot be inferred): checked against the schema once it is known.
    unchecked_headers: Vec<(PathBuf, SchemaRef)>,
    /// The segments of the table at the base, loaded when a duplicate is suspected.
    base_segments: Option<HashSet<SegmentId>>,
    /// A files table given a folder ([`Transaction::add_folder`]): where its state cache goes
    /// and what it holds, saved once the commit has landed. No other input may join it.
    files: Option<(PathBuf, crate::files::state::State)>,
}

/// A write transaction. Segments are staged as inputs are added; nothing is visible until
/// [`Transaction::commit`]. Dropping the transaction discards the staged files.
pub struct Transaction<'s> {
    store: &'s Store,
    // Lazily loaded: `None` = not read yet; `Some(None)` = read, the store has no commits.
    #[allow(clippy::option_option)]
    base: Option<Option<Manifest>>,
    tables: BTreeMap<String, PendingTable>,
    /// The log as of the first duplicate check, reused by later ones (on object storage a view
    /// lists the log's tail): data committed by others after it is refused at commit, under
    /// the lock, as before.
    dup_view: Option<LogView<'static>>,
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("tables", &self.tables.keys())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Starts a write transaction.
    pub fn begin(&self) -> Transaction<'_> {
        Transaction::new(self)
    }
}

impl<'s> Transaction<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        Self {
            store,
            base: None,
            tables: BTreeMap::new(),
            dup_view: None,
        }
    }

    /// HEAD's manifest as of the first use (schemas are checked against it while staging and
    /// again at commit).
    fn base(&mut self) -> Result<Option<&Manifest>> {
        if self.base.is_none() {
            let head = self.store.view()?.head()?;
            let m = match head.and_then(|r| r.snapshot()) {
                Some(id) => Some(self.store.objects().manifest(&id)?),
                None => None,
            };
            self.base = Some(m);
        }
        Ok(self.base.as_ref().expect("set").as_ref())
    }

    fn pending(&mut self, table: &str) -> Result<&mut PendingTable> {
        validate_table_name(table).map_err(|e| Error::invalid(e.to_string()))?;
        if !self.tables.contains_key(table) {
            self.tables
                .insert(table.to_owned(), PendingTable::default());
        }
        Ok(self.tables.get_mut(table).expect("inserted"))
    }

    /// Refuses an ordinary input (`path`) for `table` when the table is a files table: given a
    /// folder in this transaction, or one at the base that the input would append to.
    fn refuse_files_table(&mut self, table: &str, path: &Path) -> Result<()> {
        let p = self.pending(table)?;
        let given = p.files.is_some();
        let append = p.mode == WriteMode::Append;
        let at_base = append
            && self
                .base()?
                .and_then(|m| m.table(table))
                .is_some_and(|t| crate::files::is_files_table(&t.schema));
        if given || at_base {
            return Err(Error::input(
                path,
                format!(
                    "table `{table}` is a files table: it takes only a whole folder, nothing else"
                ),
            )
            .with_hint("give the table its folder again, or write this data to another table"));
        }
        Ok(())
    }

    /// Sets how `table` is changed. Call before adding data to it.
    pub fn set_mode(&mut self, table: &str, mode: WriteMode) -> Result<()> {
        if self.pending(table)?.files.is_some() && mode != WriteMode::Overwrite {
            return Err(Error::invalid(format!(
                "table `{table}` was given a folder: a files table is always replaced whole"
            )));
        }
        let p = self.pending(table)?;
        p.mode = mode;
        p.mode_set = true;
        Ok(())
    }

    /// The schema new data for `table` must have: staged data's, else HEAD's (when appending).
    fn table_schema(&mut self, table: &str) -> Result<Option<(SchemaRef, PathBuf)>> {
        let p = self.pending(table)?;
        if let Some(s) = &p.schema {
            return Ok(Some((s.clone(), p.schema_source.clone())));
        }
        let mode = p.mode;
        if mode == WriteMode::Overwrite {
            return Ok(None);
        }
        let root = self.store.root().to_owned();
        Ok(self
            .base()?
            .and_then(|m| m.table(table))
            .map(|t| (t.schema.clone(), root)))
    }

    /// Stages `segs` from `path` for `table`; `schema` (when the input says it exactly) becomes
    /// the table's if it has none yet.
    fn stage(
        &mut self,
        table: &str,
        path: &Path,
        schema: Option<SchemaRef>,
        segs: Vec<PendingSegment>,
    ) -> Result<()> {
        if let Some(schema) = &schema {
            self.check_stage(table, path, schema)?;
        }
        let p = self.pending(table)?;
        if p.schema.is_none()
            && let Some(schema) = schema
        {
            p.unchecked_headers.clear();
            p.schema = Some(schema);
            path.clone_into(&mut p.schema_source);
        }
        p.segments.extend(segs);
        Ok(())
    }

    /// What [`Transaction::stage`] refuses about `schema` from `path`, checked without
    /// changing anything: a repeated column name, and (when it becomes the table's schema)
    /// the header of an empty CSV read before that does not match it.
    fn check_stage(&mut self, table: &str, path: &Path, schema: &SchemaRef) -> Result<()> {
        if let Some(dup) = duplicate_column(schema) {
            // pyarrow, polars and DuckDB cannot read a Parquet file with two columns of one name
            // back, and columns are matched by name when appending.
            return Err(Error::input(
                path,
                format!(
                    "column `{dup}` appears more than once; dstore tables need unique column names"
                ),
            )
            .with_hint("rename the duplicates at the source"));
        }
        let p = self.pending(table)?;
        if p.schema.is_none() {
            // The empty CSVs read before: their columns must be the table's.
            for (source, header) in &p.unchecked_headers {
                let diff: Vec<String> = schema_differences(schema, header)
                    .into_iter()
                    .filter(|d| !d.contains(": table has") && !d.contains("non-nullable"))
                    .collect();
                if !diff.is_empty() {
                    return Err(Error::SchemaMismatch {
                        table: table.to_owned(),
                        path: source.clone(),
                        differences: diff,
                    });
                }
            }
        }
        Ok(())
    }

    /// Refuses segments `table` already holds: staged for it earlier in this transaction, or in
    /// it at the base (when appending). The catalog's segment index answers "never committed"
    /// without reading the table; its pages are read only for a segment committed before.
    fn refuse_duplicates(&mut self, table: &str, segs: &[(&SegmentEntry, &Path)]) -> Result<()> {
        let p = self.pending(table)?;
        let mode = p.mode;
        if !p.segments.is_empty() {
            let earlier: std::collections::HashMap<SegmentId, &PathBuf> = p
                .segments
                .iter()
                .map(|s| (s.entry().id, &s.source))
                .collect();
            for (seg, path) in segs {
                if let Some(prev) = earlier.get(&seg.id) {
                    let earlier = Some((*prev).clone());
                    return Err(duplicate(table, path, seg, None, earlier));
                }
            }
        }
        if mode != WriteMode::Append {
            return Ok(());
        }
        // One read view for the whole transaction (on object storage, each view lists the
        // log's tail).
        let ids: Vec<SegmentId> = segs.iter().map(|(s, _)| s.id).collect();
        if self.dup_view.is_none() {
            self.dup_view = Some(self.store.view()?);
        }
        let view = self.dup_view.as_ref().expect("set above");
        let infos = self.store.index().segment_infos_in(view, &ids)?;
        for ((seg, path), info) in segs.iter().zip(infos) {
            let Some((_, _, first)) = info else {
                continue;
            };
            if self.base_holds(table, &seg.id)? {
                let view = self.dup_view.as_ref().expect("set above");
                let snapshot = view.record(first)?.and_then(|r| r.snapshot());
                let committed = snapshot.map(|s| (first, s));
                return Err(duplicate(table, path, seg, committed, None));
            }
        }
        Ok(())
    }

    /// Whether `table` at the base holds segment `id` (its pages read once per transaction).
    fn base_holds(&mut self, table: &str, id: &SegmentId) -> Result<bool> {
        if self.pending(table)?.base_segments.is_none() {
            let store = self.store;
            let held = match self.base()?.and_then(|m| m.table(table)) {
                Some(t) => segments_of(store, t)?,
                None => HashSet::new(),
            };
            self.pending(table)?.base_segments = Some(held);
        }
        Ok(self
            .pending(table)?
            .base_segments
            .as_ref()
            .is_some_and(|h| h.contains(id)))
    }

    /// Adds files or directories to `table`. Returns what was read.
    pub fn add_files(
        &mut self,
        table: &str,
        paths: &[PathBuf],
        opts: &IngestOptions,
    ) -> Result<AddedFiles> {
        self.add_files_with_progress(table, paths, opts, &|_, _| {})
    }

    /// [`Transaction::add_files`], calling `progress(path, bytes)` after each file.
    ///
    /// An input with no rows (a Parquet or Arrow IPC file with a schema and no rows, a CSV file
    /// with only a header, JSON lines without records) adds no segment; it is checked against
    /// the table's schema and listed in [`AddedFiles::empty`]. Its schema becomes a new table's
    /// when it states the column types (Parquet, Arrow IPC), so that committing only empty
    /// inputs to a new table creates it with no rows.
    pub fn add_files_with_progress(
        &mut self,
        table: &str,
        paths: &[PathBuf],
        opts: &IngestOptions,
        progress: &dyn Fn(&Path, u64),
    ) -> Result<AddedFiles> {
        self.pending(table)?;
        if let Some(first) = paths.first() {
            self.refuse_files_table(table, first)?;
        }
        let mut added = AddedFiles::default();
        // Local inputs are all found before anything is read; each `s3://` input is listed
        // when its turn comes.
        let mut local = Vec::new();
        for p in paths {
            if p.to_str().is_some_and(crate::storage::is_url) {
                local.push(None);
            } else {
                let inputs = ingest::expand_inputs(std::slice::from_ref(p), opts.skip_unknown)?;
                added.skipped.extend(inputs.skipped);
                local.push(Some(inputs.files));
            }
        }
        for (p, files) in paths.iter().zip(local) {
            if let Some(files) = files {
                for f in files {
                    opts.cancel.check()?;
                    let bytes = std::fs::metadata(&f.path)
                        .map_err(Error::io("stat", &f.path))?
                        .len();
                    self.add_one(table, &f.path, &f, bytes, opts, &mut added)?;
                    progress(&f.path, bytes);
                }
                continue;
            }
            let url = p.to_str().expect("URLs are UTF-8");
            let (client, objects) =
                ingest::remote::expand(url, &opts.remote, opts.skip_unknown, &mut added.skipped)?;
            for o in objects {
                opts.cancel.check()?;
                let (staged, bytes) =
                    ingest::remote::download(&client, &o, self.store.storage(), &opts.cancel)?;
                let copy = InputFile {
                    path: staged.path().to_owned(),
                    format: o.file.format,
                    compression: o.file.compression,
                };
                self.add_one(table, &o.url, &copy, bytes, opts, &mut added)
                    .map_err(|e| ingest::remote::relabel(e, &copy.path, &o.url))?;
                drop(staged);
                progress(&o.url, bytes);
            }
        }
        Ok(added)
    }

    /// Reads one input file (`file.path`, `bytes` long) for `table`; `label` names it (the
    /// path itself, or the URL of the object it was read from).
    fn add_one(
        &mut self,
        table: &str,
        label: &Path,
        file: &InputFile,
        bytes: u64,
        opts: &IngestOptions,
        added: &mut AddedFiles,
    ) -> Result<()> {
        let InputFile {
            path,
            format,
            compression,
        } = file;
        let (path, format, compression) = (path.as_path(), *format, *compression);
        if bytes == 0 && !ingest::empty_file_is_valid(format, compression) {
            return Err(ingest::empty_file(label));
        }
        let current = self.table_schema(table)?;
        let storage = self.store.storage();
        let (schema, segs, exact) = if format == InputFormat::Parquet && !opts.rewrite {
            let (schema, seg) =
                ingest::adopt_parquet(storage, path, opts.validation, opts.profile, &opts.cancel)?;
            if let Some((t, _)) = &current {
                let diff = schema_differences(t, &schema);
                if !diff.is_empty() {
                    return Err(Error::SchemaMismatch {
                        table: table.to_owned(),
                        path: label.to_owned(),
                        differences: diff,
                    });
                }
            } else {
                dstore_format::schema::schema_bytes(&schema)
                    .map_err(|e| Error::input(label, e.to_string()))?;
            }
            let schema = current.map_or(schema, |(t, _)| t);
            (schema, seg.into_iter().collect::<Vec<_>>(), true)
        } else {
            let t = current.as_ref().map(|(t, _)| t);
            let (schema, segs) =
                convert::convert_file(storage, path, format, compression, t, table, opts)?;
            // Text without rows says nothing about column types (a header's are inferred
            // from no value at all).
            let exact = !segs.is_empty() || !format.is_text() || current.is_some();
            (schema, segs, exact)
        };
        if !opts.allow_duplicates {
            let entries: Vec<(&SegmentEntry, &Path)> =
                segs.iter().map(|s| (&s.entry, label)).collect();
            self.refuse_duplicates(table, &entries)?;
        }
        added.files += 1;
        added.segments += segs.len();
        added.rows += segs.iter().map(|s| s.entry.rows).sum::<u64>();
        if segs.is_empty() {
            added.empty.push(label.to_owned());
        }
        if exact {
            let segs = pending(segs, label, opts.allow_duplicates);
            self.stage(table, label, Some(schema), segs)?;
        } else if !schema.fields().is_empty() {
            self.pending(table)?
                .unchecked_headers
                .push((label.to_owned(), schema));
        }
        Ok(())
    }

    /// Adds the batches of any Arrow reader to `table`, converted to segments. Returns the
    /// number of segments staged: none for a reader without rows, whose schema is checked
    /// against the table's (and becomes a new table's).
    pub fn add_reader(
        &mut self,
        table: &str,
        reader: impl RecordBatchReader,
        opts: &IngestOptions,
    ) -> Result<usize> {
        let label = PathBuf::from(format!("<record batches for {table}>"));
        self.refuse_files_table(table, &label)?;
        let current = self.table_schema(table)?;
        let (schema, segs) = convert::convert_reader(
            self.store.storage(),
            &label,
            reader,
            current.as_ref().map(|(t, _)| t),
            table,
            opts,
        )?;
        if !opts.allow_duplicates {
            let entries: Vec<(&SegmentEntry, &Path)> =
                segs.iter().map(|s| (&s.entry, label.as_path())).collect();
            self.refuse_duplicates(table, &entries)?;
        }
        let n = segs.len();
        let segs = pending(segs, &label, opts.allow_duplicates);
        self.stage(table, &label, Some(schema), segs)?;
        Ok(n)
    }

    /// Commits the staged data as a new snapshot on top of HEAD. If another writer commits
    /// first, the change is applied again on top of theirs (appends commute) and the next
    /// sequence number is tried.
    ///
    /// A table given only inputs without rows is left as it is, or, when it does not exist,
    /// created with their schema and no rows; when that leaves nothing to change, the commit
    /// fails with [`Error::NothingToCommit`]. A segment the table already holds at the HEAD the
    /// change lands on is refused ([`Error::DuplicateData`]) unless it was added with
    /// `allow_duplicates`.
    pub fn commit(mut self, opts: &CommitOptions) -> Result<CommitOutcome> {
        for t in &opts.tags {
            validate_tag_name(t.as_bytes()).map_err(|e| Error::invalid(e.to_string()))?;
        }
        if self.tables.values().all(|p| p.segments.is_empty()) {
            // Only empty inputs: what is left to do is creating new tables.
            self.base()?;
            let base = self.base.as_ref().and_then(Option::as_ref);
            let creates = self
                .tables
                .iter()
                .any(|(name, p)| p.schema.is_some() && base.and_then(|m| m.table(name)).is_none());
            if !creates {
                return Err(Error::NothingToCommit);
            }
        }
        let store = self.store;
        // Refuse an existing tag before anything is placed (checked again at commit time).
        if !opts.force_tags && !opts.tags.is_empty() {
            let view = store.view()?;
            for t in &opts.tags {
                if let Some(old) = view.tag(t)? {
                    return Err(Error::TagExists {
                        name: t.clone(),
                        target: old.snapshot.to_hex(),
                    });
                }
            }
        }
        // Sync the staged bytes now, outside the lock (the slow part for large segments).
        let mut staged_tables: Vec<(String, PendingTable)> = self.tables.into_iter().collect();
        for (_, p) in &mut staged_tables {
            for s in &mut p.segments {
                if let SegmentData::Staged(s) = &mut s.data {
                    store.storage().sync_staged(&mut s.staged)?;
                }
            }
        }
        // The state caches of folder ingests, saved once the commit has landed (a failed commit
        // leaves them as they were).
        let states: Vec<(PathBuf, crate::files::state::State)> = staged_tables
            .iter_mut()
            .filter_map(|(_, p)| p.files.take())
            .collect();
        let outcome = store.index().write(|w| {
            // Duplicates of what HEAD holds now are refused before anything is placed.
            let view = w.view();
            let planned: BTreeMap<String, TableWrite> = staged_tables
                .iter()
                .filter_map(|(name, p)| {
                    let schema = p.schema.clone()?;
                    Some((
                        name.clone(),
                        TableWrite {
                            mode: p.mode,
                            schema,
                            source: p.schema_source.clone(),
                            segments: p
                                .segments
                                .iter()
                                .map(|s| Placed {
                                    entry: s.entry().clone(),
                                    source: s.source.clone(),
                                    allow_duplicate: s.allow_duplicate,
                                })
                                .collect(),
                        },
                    ))
                })
                .collect();
            refuse_held(store, &view, None, &planned)?;
            // Segments placed by a prepare must still be there: `gc` holds this lock too, so
            // one found now stays until the record that references it.
            let prepared: Vec<prepare::Described<'_>> = staged_tables
                .iter()
                .filter_map(|(_, p)| Some((p.schema.as_deref()?, &p.segments)))
                .flat_map(|(schema, segs)| segs.iter().map(move |s| (schema, s)))
                .filter_map(|(schema, s)| match &s.data {
                    SegmentData::Placed { entry, description } => Some(prepare::Described {
                        entry,
                        input: &s.source,
                        description,
                        schema,
                    }),
                    SegmentData::Staged(_) | SegmentData::Kept(_) => None,
                })
                .collect();
            prepare::check_placed(store, &prepared)?;
            // So must segments a folder ingest kept from the base (an expire and gc since then
            // could have removed them).
            let kept: Vec<(&SegmentEntry, &Path)> = staged_tables
                .iter()
                .flat_map(|(_, p)| &p.segments)
                .filter_map(|s| match &s.data {
                    SegmentData::Kept(e) => Some((e, s.source.as_path())),
                    _ => None,
                })
                .collect();
            folder::check_kept(store, &kept)?;
            // ... and be held by the table at the HEAD the commit lands on: HEAD is always
            // live, so no gc (on any machine) removes them before the record names them.
            let kept_ids: BTreeMap<String, Vec<SegmentId>> = staged_tables
                .iter()
                .map(|(name, p)| {
                    let ids = p.segments.iter().filter_map(|s| match &s.data {
                        SegmentData::Kept(e) => Some(e.id),
                        _ => None,
                    });
                    (name.clone(), ids.collect::<Vec<_>>())
                })
                .filter(|(_, ids)| !ids.is_empty())
                .collect();
            // Place the segments under their names while holding the catalog lock: `gc` holds
            // it too, so it can never sweep a segment between its placement and the record
            // that references it (even one whose name already existed as old garbage).
            let mut to_place = Vec::new();
            for (_, p) in staged_tables {
                for s in p.segments {
                    if let SegmentData::Staged(s) = s.data {
                        let referenced = w.catalog().segment(&s.entry.id)?.is_some();
                        to_place.push((s, referenced));
                    }
                }
            }
            prepare::place_all(store, to_place)?;
            let appended = w.append(|view| {
                let head = view.head()?;
                let base = store
                    .objects()
                    .manifest_or_empty(head.as_ref().and_then(LogRecord::snapshot))?;
                for t in &opts.tags {
                    if let Some(old) = view.tag(t)?
                        && !opts.force_tags
                    {
                        return Err(Error::TagExists {
                            name: t.clone(),
                            target: old.snapshot.to_hex(),
                        });
                    }
                }
                // After a lost race, the winner may have added the same data.
                refuse_held(store, view, Some(&base), &planned)?;
                folder::check_kept_in(store, &base, &kept_ids)?;
                let (manifest, changes) = apply(store, &base, &planned)?;
                if changes.is_empty() {
                    // Only empty inputs, and their new tables exist by now.
                    return Ok(None);
                }
                let (id, bytes) = manifest
                    .encode_with_id()
                    .map_err(|e| Error::invalid(e.to_string()))?;
                store.storage().put(&layout::manifest_key(&id), &bytes)?;
                let rec = view.next_record(
                    &opts.author,
                    &opts.message,
                    RecordKind::Commit {
                        snapshot: id,
                        parent_commit: head.as_ref().map(|h| h.seq),
                        changes: changes.clone(),
                        tags: opts.tags.clone(),
                        upstream: opts.upstream.clone(),
                    },
                )?;
                let unchanged = head.and_then(|h| h.snapshot()) == Some(id);
                Ok(Some((rec, (id, changes, unchanged))))
            })?;
            let a = appended.ok_or(Error::NothingToCommit)?;
            let (id, changes, unchanged) = a.value;
            Ok(CommitOutcome {
                id,
                seq: a.record.seq,
                changes,
                conflicts: a.conflicts,
                unchanged,
            })
        })?;
        // A hint only: a cache that cannot be written means the next run reads every file.
        for (path, st) in states {
            let _ = st.save(&path);
        }
        Ok(outcome)
    }
}

/// Staged segments from `source` as pending ones.
fn pending(segs: Vec<StagedSegment>, source: &Path, allow_duplicate: bool) -> Vec<PendingSegment> {
    segs.into_iter()
        .map(|staged| PendingSegment {
            data: SegmentData::Staged(staged),
            source: source.to_owned(),
            allow_duplicate,
        })
        .collect()
}

/// Places a staged segment under its name, then its derived objects (docs/format.md §15):
/// a derived object never names a segment that is not there (gc keeps both for as long as a
/// commit names the segment). `referenced`: a commit names the segment already, so gc keeps it
/// whatever its age; otherwise the backend makes sure its time is fresh (gc's grace period
/// counts from it).
fn place(store: &Store, s: StagedSegment, referenced: bool) -> Result<()> {
    let key = layout::segment_key(&s.entry.id);
    if referenced {
        store.storage().put_staged(s.staged, &key, true)?;
    } else {
        store
            .storage()
            .put_staged_unreferenced(s.staged, &key, true)?;
    }
    crate::derived::put_outboard(store.storage(), &s.outboard)?;
    if let Some(p) = &s.profile {
        crate::derived::put_profile(store.storage(), p)?;
    }
    Ok(())
}

/// A segment placed in the store for a commit, and the input it came from.
struct Placed {
    entry: SegmentEntry,
    source: PathBuf,
    allow_duplicate: bool,
}

/// What a commit does to one table.
struct TableWrite {
    mode: WriteMode,
    schema: SchemaRef,
    /// Where the schema came from, for messages.
    source: PathBuf,
    segments: Vec<Placed>,
}

/// The error for an input whose segment `table` already holds.
fn duplicate(
    table: &str,
    path: &Path,
    entry: &SegmentEntry,
    committed: Option<(u64, SnapshotId)>,
    earlier: Option<PathBuf>,
) -> Error {
    Error::DuplicateData(Box::new(crate::error::DuplicateData {
        table: table.to_owned(),
        path: path.to_owned(),
        segment: entry.id,
        rows: entry.rows,
        committed,
        earlier,
    }))
}

/// The ids of every segment of `table` (all its pages).
fn segments_of(store: &Store, table: &TableManifest) -> Result<HashSet<SegmentId>> {
    let mut ids = HashSet::new();
    for p in &table.pages {
        ids.extend(store.objects().page(&p.id)?.entries.iter().map(|e| e.id));
    }
    Ok(ids)
}

/// Refuses an appended segment its table holds at `base` (HEAD's manifest when `None`). Only
/// segments the catalog knows were ever committed are looked for, so an append of new data
/// reads no page.
fn refuse_held(
    store: &Store,
    view: &LogView<'_>,
    base: Option<&Manifest>,
    tables: &BTreeMap<String, TableWrite>,
) -> Result<()> {
    let mut head: Option<Manifest> = None;
    for (name, t) in tables {
        if t.mode != WriteMode::Append {
            continue;
        }
        let mut known = Vec::new();
        for p in t.segments.iter().filter(|p| !p.allow_duplicate) {
            if let Some(cat) = &view.cat
                && let Some((_, _, first)) = cat.segment(&p.entry.id)?
            {
                known.push((p, first));
            }
        }
        if known.is_empty() {
            continue;
        }
        let base = if let Some(b) = base {
            b
        } else {
            if head.is_none() {
                let snap = view.head()?.and_then(|r| r.snapshot());
                head = Some(store.objects().manifest_or_empty(snap)?);
            }
            head.as_ref().expect("loaded above")
        };
        let Some(table) = base.table(name) else {
            continue;
        };
        let held = segments_of(store, table)?;
        if let Some((p, first)) = known.into_iter().find(|(p, _)| held.contains(&p.entry.id)) {
            let committed = view
                .record(first)?
                .and_then(|r| r.snapshot())
                .map(|s| (first, s));
            return Err(duplicate(name, &p.source, &p.entry, committed, None));
        }
    }
    Ok(())
}

/// The manifest that results from applying staged tables to `base`, writing the pages that
/// change. Re-run on top of a newer base after losing a race. A table given no segments is
/// created empty when `base` lacks it and left alone otherwise (not listed in the changes).
fn apply(
    store: &Store,
    base: &Manifest,
    tables: &BTreeMap<String, TableWrite>,
) -> Result<(Manifest, Vec<TableChange>)> {
    let mut out = base.clone();
    let mut changes = Vec::new();
    for (
        name,
        TableWrite {
            mode,
            schema,
            source,
            segments,
        },
    ) in tables
    {
        let existing = base.table(name);
        if segments.is_empty() && existing.is_some() {
            continue;
        }
        let (op, kept_pages, mut list, schema) = match (existing, mode) {
            (None, _) => (TableOp::Create, Vec::new(), Vec::new(), schema.clone()),
            (Some(_), WriteMode::Overwrite) => {
                (TableOp::Overwrite, Vec::new(), Vec::new(), schema.clone())
            }
            (Some(t), WriteMode::Append) => {
                let diff = schema_differences(&t.schema, schema);
                if !diff.is_empty() {
                    return Err(Error::SchemaMismatch {
                        table: name.clone(),
                        path: source.clone(),
                        differences: diff,
                    });
                }
                // Only the last page can be partial; it is rewritten with the new entries.
                let mut pages = t.pages.clone();
                let mut list = Vec::new();
                if pages
                    .last()
                    .is_some_and(|p| (p.segments as usize) < dstore_format::PAGE_SEGMENTS)
                {
                    let last = pages.pop().expect("checked");
                    list = store.objects().page(&last.id)?.entries;
                }
                (TableOp::Append, pages, list, t.schema.clone())
            }
        };
        list.extend(segments.iter().map(|p| p.entry.clone()));
        let mut pages: Vec<PageRef> = kept_pages;
        for page in paginate(&list) {
            let (pid, bytes) = page.encode_with_id();
            store.storage().put(&layout::page_key(&pid), &bytes)?;
            pages.push(page.page_ref(pid));
        }
        let table = TableManifest {
            name: name.clone(),
            schema: Arc::clone(&schema),
            rows: pages.iter().map(|p| p.rows).sum(),
            bytes: pages.iter().map(|p| p.bytes).sum(),
            segments: pages.iter().map(|p| u64::from(p.segments)).sum(),
            pages,
        };
        changes.push(TableChange {
            table: name.clone(),
            op,
            segments: segments.len() as u64,
            rows: segments.iter().map(|p| p.entry.rows).sum(),
            bytes: segments.iter().map(|p| p.entry.bytes).sum(),
        });
        match out.tables.binary_search_by(|t| t.name.cmp(name)) {
            Ok(i) => out.tables[i] = table,
            Err(i) => out.tables.insert(i, table),
        }
    }
    Ok((out, changes))
}

/// A top-level column name that occurs more than once in `schema`.
fn duplicate_column(schema: &SchemaRef) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    schema
        .fields()
        .iter()
        .find(|f| !seen.insert(f.name().as_str()))
        .map(|f| f.name().clone())
}
