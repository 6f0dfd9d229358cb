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

impl Snapshot {
    pub(crate) fn new(store: Store, id: SnapshotId, manifest: Manifest) -> Self {
        Self { store, id, manifest }
    }

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
                self.manifest.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        })
    }

    /// The ordered segments of a table, read from its pages (each verified against its id).
    pub fn segments(&self, table: &str) -> Result<Vec<SegmentEntry>> {
        let t = self.table(table)?;
        let mut out = Vec::with_capacity(t.segments as usize);
        for p in &t.pages {
            out.extend(self.store.load_page(&p.id)?.entries);
        }
        Ok(out)
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
        if let (Some(a), Some(b)) = (a, b) {
            if a.pages == b.pages && a.schema == b.schema {
                continue;
            }
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
