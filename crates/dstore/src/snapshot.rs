//! [`Snapshot`]: one immutable version of every table, and diffs between two of them.

use std::collections::HashMap;

use dstore_format::{Manifest, SegmentEntry, SegmentId, SnapshotId, TableManifest};

use crate::error::{Error, Result};
use crate::store::Store;

/// A snapshot opened from its manifest.
#[derive(Debug, Clone)]
pub struct Snapshot {
    store: Store,
    id: SnapshotId,
    manifest: Manifest,
}

impl Store {
    /// Opens a snapshot by full id: its manifest, after checking (in the catalog, read-only)
    /// that no expire record names it; an expired one is [`Error::Expired`]. A damaged log or
    /// catalog does not stop a read by full id: the snapshot's own objects are verified as
    /// they are read, and an expired one whose data gc removed fails on the missing objects.
    pub fn snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        match self.check_not_expired(id) {
            Err(e) if e.is_corruption() => {}
            other => other?,
        }
        Ok(Snapshot {
            store: self.clone(),
            id: *id,
            manifest: self.objects().manifest(id)?,
        })
    }
}

impl Snapshot {
    /// The snapshot id.
    pub fn id(&self) -> SnapshotId {
        self.id
    }

    /// The decoded manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The tables, sorted by name.
    pub fn tables(&self) -> &[TableManifest] {
        &self.manifest.tables
    }

    /// A table by name, or an error listing the tables there are.
    pub fn table(&self, name: &str) -> Result<&TableManifest> {
        self.manifest.table(name).ok_or_else(|| Error::NotFound {
            what: format!(
                "table `{name}` in snapshot {} (tables: {})",
                self.id.short(12),
                self.manifest
                    .tables
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// The ordered segments of a table, read from its pages (each verified against its id).
    pub fn segments(&self, table: &str) -> Result<Vec<SegmentEntry>> {
        let t = self.table(table)?;
        let mut out = Vec::with_capacity(t.segments as usize);
        for p in &t.pages {
            out.extend(self.store.objects().page(&p.id)?.entries);
        }
        Ok(out)
    }

    /// The local paths of a table's segment files, in the table's order: whole Parquet files
    /// any reader opens (reading them directly is not verified). `None` when the store is not
    /// a local directory.
    pub fn segment_files(&self, table: &str) -> Result<Option<Vec<std::path::PathBuf>>> {
        let storage = self.store.storage();
        Ok(self
            .segments(table)?
            .iter()
            .map(|e| storage.local_path(&crate::layout::segment_key(&e.id)))
            .collect())
    }

    /// Where a table's segment files are, in the table's order: local paths for a local store,
    /// object URLs (`s3://BUCKET/PREFIX/segments/…`) for a store in object storage. Whole Parquet
    /// files any engine reads (reading them directly is not verified).
    pub fn segment_locations(&self, table: &str) -> Result<Vec<String>> {
        let storage = self.store.storage();
        Ok(self
            .segments(table)?
            .iter()
            .map(|e| {
                let key = crate::layout::segment_key(&e.id);
                storage
                    .local_path(&key)
                    .unwrap_or_else(|| storage.describe(&key))
                    .to_string_lossy()
                    .into_owned()
            })
            .collect())
    }

    /// The store this snapshot belongs to.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// How one table differs between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDiff {
    /// The table.
    pub table: String,
    /// Present in the old snapshot.
    pub in_old: bool,
    /// Present in the new snapshot.
    pub in_new: bool,
    /// Whether the schemas differ.
    pub schema_changed: bool,
    /// Rows before and after.
    pub rows: (u64, u64),
    /// Segments only in the new snapshot (counted with multiplicity).
    pub segments_added: Vec<SegmentId>,
    /// Segments only in the old snapshot (counted with multiplicity).
    pub segments_removed: Vec<SegmentId>,
}

/// Table-by-table differences between two snapshots; unchanged tables are left out.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Result<Vec<TableDiff>> {
    let mut names: Vec<&str> = old
        .tables()
        .iter()
        .chain(new.tables())
        .map(|t| t.name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let (a, b) = (old.manifest.table(name), new.manifest.table(name));
        if let (Some(a), Some(b)) = (a, b)
            && a.pages == b.pages
            && a.schema == b.schema
        {
            continue;
        }
        let segs = |s: &Snapshot, t: Option<&TableManifest>| -> Result<Vec<SegmentId>> {
            Ok(match t {
                Some(_) => s.segments(name)?.into_iter().map(|e| e.id).collect(),
                None => Vec::new(),
            })
        };
        let (sa, sb) = (segs(old, a)?, segs(new, b)?);
        let mut count: HashMap<SegmentId, i64> = HashMap::new();
        for s in &sb {
            *count.entry(*s).or_default() += 1;
        }
        for s in &sa {
            *count.entry(*s).or_default() -= 1;
        }
        let mut added = Vec::new();
        let mut removed = Vec::new();
        for s in sb.iter().chain(&sa) {
            let c = count.get_mut(s).expect("counted");
            if *c > 0 {
                added.push(*s);
                *c -= 1;
            } else if *c < 0 {
                removed.push(*s);
                *c += 1;
            }
        }
        out.push(TableDiff {
            table: name.to_owned(),
            in_old: a.is_some(),
            in_new: b.is_some(),
            schema_changed: matches!((a, b), (Some(a), Some(b)) if a.schema != b.schema),
            rows: (a.map_or(0, |t| t.rows), b.map_or(0, |t| t.rows)),
            segments_added: added,
            segments_removed: removed,
        });
    }
    Ok(out)
}

/// Options for [`Snapshot::read_table`].
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Check every segment against its id before decoding it (on by default).
    pub verify: bool,
    /// Rows per batch.
    pub batch_size: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            verify: true,
            batch_size: 8192,
        }
    }
}

impl Snapshot {
    /// Reads a whole table in segment order as Arrow batches with the table's schema. Each
    /// segment is read whole and, unless `verify` is off, checked against its id before a
    /// single row of it is returned; memory holds one segment at a time.
    pub fn read_table(&self, table: &str, opts: &ReadOptions) -> Result<TableBatches> {
        let t = self.table(table)?;
        Ok(TableBatches {
            store: self.store.clone(),
            schema: t.schema.clone(),
            segments: self.segments(table)?.into(),
            current: None,
            opts: opts.clone(),
        })
    }
}

/// Batches of a table, segment after segment. See [`Snapshot::read_table`].
pub struct TableBatches {
    store: Store,
    schema: arrow::datatypes::SchemaRef,
    segments: std::collections::VecDeque<SegmentEntry>,
    current: Option<(
        std::path::PathBuf,
        parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    )>,
    opts: ReadOptions,
}

impl std::fmt::Debug for TableBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableBatches")
            .field("segments_left", &self.segments.len())
            .finish_non_exhaustive()
    }
}

impl TableBatches {
    fn open_next(&mut self) -> Result<bool> {
        let Some(seg) = self.segments.pop_front() else {
            return Ok(false);
        };
        let key = crate::layout::segment_key(&seg.id);
        let path = self.store.storage().describe(&key);
        let bytes = self.store.storage().get(&key)?;
        if self.opts.verify {
            crate::objects::check_segment(&path, &seg.id, &SegmentId::of(&bytes))?;
        }
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            bytes::Bytes::from(bytes),
        )
        .and_then(|b| b.with_batch_size(self.opts.batch_size.max(1)).build())
        .map_err(|e| Error::Corrupted {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        self.current = Some((path, reader));
        Ok(true)
    }

    fn conform(
        &self,
        path: &std::path::Path,
        b: &arrow::array::RecordBatch,
    ) -> Result<arrow::array::RecordBatch> {
        let corrupt = |e: arrow::error::ArrowError| Error::Corrupted {
            path: path.to_owned(),
            detail: e.to_string(),
        };
        let idx: Vec<usize> = self
            .schema
            .fields()
            .iter()
            .map(|f| b.schema().index_of(f.name()).map_err(corrupt))
            .collect::<Result<_>>()?;
        let cols = b.project(&idx).map_err(corrupt)?.columns().to_vec();
        arrow::array::RecordBatch::try_new(self.schema.clone(), cols).map_err(corrupt)
    }
}

impl Iterator for TableBatches {
    type Item = Result<arrow::array::RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((path, r)) = &mut self.current {
                match r.next() {
                    Some(Ok(b)) => {
                        let path = path.clone();
                        return Some(self.conform(&path, &b));
                    }
                    Some(Err(e)) => {
                        let path = path.clone();
                        self.current = None;
                        self.segments.clear();
                        return Some(Err(Error::Corrupted {
                            path,
                            detail: e.to_string(),
                        }));
                    }
                    None => self.current = None,
                }
            }
            match self.open_next() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    self.segments.clear();
                    return Some(Err(e));
                }
            }
        }
    }
}
