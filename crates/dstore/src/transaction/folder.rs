//! [`Transaction::add_folder`]: a folder as a files table (`crate::files`).

use std::collections::HashMap;
use std::path::Path;

use dstore_format::SegmentEntry;

use super::{PendingSegment, SegmentData, Transaction, WriteMode};
use crate::error::{Error, Result};
use crate::files::ingest::{AddedFolder, Group, ingest_folder};
use crate::files::{FilesOptions, files_schema, is_files_table};
use crate::layout;
use crate::store::Store;

impl Transaction<'_> {
    /// Makes `table` a files table holding every file under `dir`, one row per file
    /// (docs/files.md): the table is replaced by the folder as it is now (history keeps the
    /// old versions). Segments whose files did not change since the base version keep their
    /// ids, and are not read again when the local state cache recognises their files
    /// ([`FilesOptions::rehash`] reads everything); the snapshot is the same either way.
    ///
    /// Refused: a table that exists and is not a files table, a table given other inputs in
    /// this transaction, links, special files, names a files table cannot hold
    /// ([`crate::files::valid_path`]), files over [`FilesOptions::max_file_bytes`], and an empty
    /// folder for a table that has rows (a table cannot be emptied).
    pub fn add_folder(
        &mut self,
        table: &str,
        dir: &Path,
        opts: &FilesOptions,
    ) -> Result<AddedFolder> {
        if dir.to_str().is_some_and(crate::storage::is_url) {
            return Err(Error::input(
                dir,
                "a files table is made from a local folder; folders in object storage are not read yet",
            )
            .with_hint("copy the folder to local disk first (e.g. `aws s3 sync`)"));
        }
        let p = self.pending(table)?;
        if !p.segments.is_empty() || p.schema.is_some() || !p.unchecked_headers.is_empty() {
            return Err(Error::input(
                dir,
                format!("table `{table}` was given other inputs in this transaction; a files table is made from one folder"),
            )
            .with_hint("put all the files under one folder"));
        }
        let store = self.store;
        let base_table = self.base()?.and_then(|m| m.table(table)).cloned();
        let mut base: HashMap<dstore_format::SegmentId, SegmentEntry> = HashMap::new();
        if let Some(t) = &base_table {
            if !is_files_table(&t.schema) {
                return Err(Error::input(
                    dir,
                    format!("table `{table}` exists and is not a files table, so a folder cannot replace it"),
                )
                .with_hint("give the files table another name"));
            }
            for page in &t.pages {
                for e in store.objects().page(&page.id)?.entries {
                    base.insert(e.id, e);
                }
            }
        }
        let (groups, added, state) =
            ingest_folder(store.storage(), store.root(), table, dir, &base, opts)?;
        if groups.is_empty() && base_table.as_ref().is_some_and(|t| t.rows > 0) {
            return Err(Error::input(
                dir,
                format!("the folder holds no files, and table `{table}` cannot be emptied"),
            )
            .with_hint("check the path; to drop the files, commit them to a new table name"));
        }
        let segs = groups
            .into_iter()
            .map(|g| PendingSegment {
                data: match g {
                    Group::Kept(e) => SegmentData::Kept(e),
                    Group::New(s) => SegmentData::Staged(s),
                },
                source: dir.to_owned(),
                allow_duplicate: false,
            })
            .collect();
        let p = self.pending(table)?;
        p.mode = WriteMode::Overwrite;
        p.mode_set = true;
        p.files = Some(state);
        self.stage(table, dir, Some(files_schema()), segs)?;
        Ok(added)
    }
}

/// Refuses a kept segment that is no longer in the store (called under the commit lock).
pub(super) fn check_kept(store: &Store, kept: &[(&SegmentEntry, &Path)]) -> Result<()> {
    if kept.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = kept
        .iter()
        .map(|(e, _)| layout::segment_key(&e.id))
        .collect();
    let found = store.storage().sizes_and_times(&keys)?;
    for ((entry, dir), f) in kept.iter().zip(found) {
        if f.map(|f| f.0) != Some(entry.bytes) {
            return Err(Error::input(
                *dir,
                format!(
                    "segment {} (files of this folder unchanged since the base version) is no longer in the store",
                    entry.id.short(16)
                ),
            )
            .with_hint("ingest the folder again, reading every file (rehash)"));
        }
    }
    Ok(())
}

/// Refuses a kept segment that the table at `head` (the HEAD the commit lands on) does not hold:
/// another writer replaced the table since the folder was read.
pub(super) fn check_kept_in(
    store: &Store,
    head: &dstore_format::Manifest,
    kept: &std::collections::BTreeMap<String, Vec<dstore_format::SegmentId>>,
) -> Result<()> {
    for (name, ids) in kept {
        let held = match head.table(name) {
            Some(t) => super::segments_of(store, t)?,
            None => std::collections::HashSet::new(),
        };
        if let Some(id) = ids.iter().find(|id| !held.contains(id)) {
            return Err(Error::invalid(format!(
                "table `{name}` changed since its folder was read: segment {} kept from it is no longer in the table",
                id.short(16)
            ))
            .with_hint("ingest the folder again"));
        }
    }
    Ok(())
}
