//! `gc`: remove objects that no snapshot in the log references and that are older than a grace
//! period (so a concurrent ingest's fresh, not yet committed segments are never swept).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use dstore_format::RecordKind;

use crate::derived::DerivedKind;
use crate::error::{Error, Result};
use crate::layout::{self, DERIVED_DIR, LOG_DIR, MANIFESTS_DIR, SEGMENTS_DIR, TMP_DIR};
use crate::store::Store;

/// Options for [`Store::gc`].
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Report what would be removed, remove nothing.
    pub dry_run: bool,
    /// Unreferenced objects younger than this are kept.
    pub grace: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            grace: Duration::from_hours(1),
        }
    }
}

/// What `gc` removed (or would remove).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GcReport {
    /// Keys removed, with their sizes.
    pub removed: Vec<(String, u64)>,
    /// Bytes freed.
    pub bytes: u64,
    /// Unreferenced objects kept because they are younger than the grace period.
    pub kept_young: usize,
    /// Objects referenced by some snapshot.
    pub reachable: usize,
}

impl Store {
    /// Mark and sweep from every commit in the log. Nothing reachable is ever removed; if any
    /// manifest or page cannot be read, nothing is removed at all.
    pub fn gc(&self, opts: &GcOptions) -> Result<GcReport> {
        // Under the catalog lock: commits place their segments under it too, so no segment can
        // be swept between its placement and the record that references it.
        self.index().write(|_| self.gc_locked(opts))
    }

    fn gc_locked(&self, opts: &GcOptions) -> Result<GcReport> {
        let mut live: HashSet<String> = HashSet::new();
        let mut derived: HashSet<String> = HashSet::new();
        // The whole chain is checked (dense, right names, hashes linked) before anything is
        // deleted: gc is the one command that removes data, so a damaged log stops it.
        let records = self.index().log().chain().map_err(|e| match e {
            Error::Corrupted { path, detail } => Error::Corrupted {
                path,
                detail: format!("{detail}; gc removes nothing from a damaged log"),
            },
            other => other,
        })?;
        for rec in records {
            if let RecordKind::Commit { snapshot, .. } = rec.kind {
                if !live.insert(layout::manifest_key(&snapshot)) {
                    continue;
                }
                let manifest = self.objects().manifest(&snapshot)?;
                for t in &manifest.tables {
                    for p in &t.pages {
                        if live.insert(layout::page_key(&p.id)) {
                            for e in self.objects().page(&p.id)?.entries {
                                live.insert(layout::segment_key(&e.id));
                                // A derived object lives as long as its segment.
                                derived.extend(DerivedKind::ALL.map(|k| k.key(&e.id)));
                            }
                        }
                    }
                }
            }
        }
        let now = SystemTime::now();
        let mut report = GcReport {
            reachable: live.len(),
            ..GcReport::default()
        };
        for dir in [SEGMENTS_DIR, MANIFESTS_DIR, DERIVED_DIR, TMP_DIR, LOG_DIR] {
            for obj in self.storage().list(&format!("{dir}/"))? {
                let name = obj.key.rsplit('/').next().unwrap_or("");
                // Log records are history: only stray temporary files in log/ are garbage.
                if dir == LOG_DIR && !name.starts_with(".tmp-") {
                    continue;
                }
                if live.contains(&obj.key) {
                    continue;
                }
                if derived.contains(&obj.key) {
                    report.reachable += 1;
                    continue;
                }
                let age = now.duration_since(obj.modified).unwrap_or_default();
                if age < opts.grace || (dir == TMP_DIR && self.storage().staged_in_use(&obj.key)?) {
                    report.kept_young += 1;
                    continue;
                }
                if !opts.dry_run {
                    self.storage().delete(&obj.key)?;
                }
                report.bytes += obj.size;
                report.removed.push((obj.key, obj.size));
            }
        }
        Ok(report)
    }
}
