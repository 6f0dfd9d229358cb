//! Write transactions: stage segments for tables, then commit them as one new snapshot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatchReader;
use arrow::datatypes::SchemaRef;
use dstore_format::{
    LogRecord, Manifest, PageRef, RecordKind, SegmentEntry, SnapshotId, TableChange, TableManifest,
    TableOp, manifest::paginate, validate_table_name, validate_tag_name,
};

use crate::error::{Error, Result};
use crate::ingest::{self, IngestOptions, InputFormat, StagedSegment, convert, schema_differences};
use crate::layout;
use crate::store::Store;

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

#[derive(Debug, Default)]
struct PendingTable {
    mode: WriteMode,
    schema: Option<SchemaRef>,
    /// Where the schema came from, for messages.
    schema_source: PathBuf,
    segments: Vec<StagedSegment>,
}

/// A write transaction. Segments are staged as inputs are added; nothing is visible until
/// [`Transaction::commit`]. Dropping the transaction discards the staged files.
pub struct Transaction<'s> {
    store: &'s Store,
    // Lazily loaded: `None` = not read yet; `Some(None)` = read, the store has no commits.
    #[allow(clippy::option_option)]
    base: Option<Option<Manifest>>,
    tables: BTreeMap<String, PendingTable>,
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

    /// Sets how `table` is changed. Call before adding data to it.
    pub fn set_mode(&mut self, table: &str, mode: WriteMode) -> Result<()> {
        self.pending(table)?.mode = mode;
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

    fn stage(
        &mut self,
        table: &str,
        path: &Path,
        schema: SchemaRef,
        segs: Vec<StagedSegment>,
    ) -> Result<()> {
        let p = self.pending(table)?;
        if p.schema.is_none() {
            p.schema = Some(schema);
            path.clone_into(&mut p.schema_source);
        }
        p.segments.extend(segs);
        Ok(())
    }

    /// Adds files or directories to `table`. Returns the number of segments staged.
    pub fn add_files(
        &mut self,
        table: &str,
        paths: &[PathBuf],
        opts: &IngestOptions,
    ) -> Result<usize> {
        self.add_files_with_progress(table, paths, opts, &|_, _| {})
    }

    /// [`Transaction::add_files`], calling `progress(path, bytes)` after each file.
    pub fn add_files_with_progress(
        &mut self,
        table: &str,
        paths: &[PathBuf],
        opts: &IngestOptions,
        progress: &dyn Fn(&Path, u64),
    ) -> Result<usize> {
        self.pending(table)?;
        let inputs = ingest::expand_inputs(paths)?;
        let mut n = 0;
        for (path, format) in inputs {
            opts.cancel.check()?;
            let current = self.table_schema(table)?;
            let storage = self.store.storage();
            let (schema, segs) = if format == InputFormat::Parquet && !opts.rewrite {
                let (schema, seg) =
                    ingest::adopt_parquet(storage, &path, opts.validation, &opts.cancel)?;
                if let Some((t, _)) = &current {
                    let diff = schema_differences(t, &schema);
                    if !diff.is_empty() {
                        return Err(Error::SchemaMismatch {
                            table: table.to_owned(),
                            path,
                            differences: diff,
                        });
                    }
                } else {
                    dstore_format::schema::schema_bytes(&schema)
                        .map_err(|e| Error::input(&path, e.to_string()))?;
                }
                (current.map_or(schema, |(t, _)| t), vec![seg])
            } else {
                let t = current.as_ref().map(|(t, _)| t);
                convert::convert_file(storage, &path, format, t, table, opts)?
            };
            n += segs.len();
            let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
            self.stage(table, &path, schema, segs)?;
            progress(&path, bytes);
        }
        Ok(n)
    }

    /// Adds the batches of any Arrow reader to `table`, converted to segments.
    pub fn add_reader(
        &mut self,
        table: &str,
        reader: impl RecordBatchReader,
        opts: &IngestOptions,
    ) -> Result<usize> {
        let current = self.table_schema(table)?;
        let label = PathBuf::from(format!("<record batches for {table}>"));
        let (schema, segs) = convert::convert_reader(
            self.store.storage(),
            &label,
            reader,
            current.as_ref().map(|(t, _)| t),
            table,
            opts,
        )?;
        if segs.is_empty() {
            return Err(Error::invalid(format!(
                "the reader for table `{table}` yielded no rows"
            )));
        }
        let n = segs.len();
        self.stage(table, &label, schema, segs)?;
        Ok(n)
    }

    /// Commits the staged data as a new snapshot on top of HEAD. If another writer commits
    /// first, the change is applied again on top of theirs (appends commute) and the next
    /// sequence number is tried.
    pub fn commit(self, opts: &CommitOptions) -> Result<CommitOutcome> {
        for t in &opts.tags {
            validate_tag_name(t.as_bytes()).map_err(|e| Error::invalid(e.to_string()))?;
        }
        if self.tables.values().all(|p| p.segments.is_empty()) {
            return Err(Error::NothingToCommit);
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
                store.storage().sync_staged(&mut s.staged)?;
            }
        }
        store.index().write(|w| {
            // Place the segments under their names while holding the catalog lock: `gc` holds
            // it too, so it can never sweep a segment between its placement and the record
            // that references it (even one whose name already existed as old garbage).
            let mut tables: BTreeMap<String, (WriteMode, SchemaRef, PathBuf, Vec<SegmentEntry>)> =
                BTreeMap::new();
            for (name, p) in staged_tables {
                let mut entries = Vec::with_capacity(p.segments.len());
                for s in p.segments {
                    let key = layout::segment_key(&s.entry.id);
                    if w.catalog().segment(&s.entry.id)?.is_some() {
                        // Committed before: kept by gc for as long as the log names it.
                        store.storage().put_staged(s.staged, &key, true)?;
                    } else {
                        store
                            .storage()
                            .put_staged_unreferenced(s.staged, &key, true)?;
                    }
                    // After its segment: a derived object never names a segment that is not
                    // there (gc keeps both for as long as a commit names the segment).
                    crate::derived::put_outboard(store.storage(), &s.outboard)?;
                    entries.push(s.entry);
                }
                if let Some(schema) = p.schema {
                    tables.insert(name, (p.mode, schema, p.schema_source, entries));
                }
            }
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
                let (manifest, changes) = apply(store, &base, &tables)?;
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
                    },
                )?;
                let unchanged = head.and_then(|h| h.snapshot()) == Some(id);
                Ok(Some((rec, (id, changes, unchanged))))
            })?;
            let a = appended.expect("a commit always builds a record");
            let (id, changes, unchanged) = a.value;
            Ok(CommitOutcome {
                id,
                seq: a.record.seq,
                changes,
                conflicts: a.conflicts,
                unchanged,
            })
        })
    }
}

/// The manifest that results from applying staged tables to `base`, writing the pages that
/// change. Re-run on top of a newer base after losing a race.
fn apply(
    store: &Store,
    base: &Manifest,
    tables: &BTreeMap<String, (WriteMode, SchemaRef, PathBuf, Vec<SegmentEntry>)>,
) -> Result<(Manifest, Vec<TableChange>)> {
    let mut out = base.clone();
    let mut changes = Vec::new();
    for (name, (mode, schema, source, entries)) in tables {
        let existing = base.table(name);
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
        list.extend(entries.iter().cloned());
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
            segments: entries.len() as u64,
            rows: entries.iter().map(|e| e.rows).sum(),
            bytes: entries.iter().map(|e| e.bytes).sum(),
        });
        match out.tables.binary_search_by(|t| t.name.cmp(name)) {
            Ok(i) => out.tables[i] = table,
            Err(i) => out.tables.insert(i, table),
        }
    }
    Ok((out, changes))
}
