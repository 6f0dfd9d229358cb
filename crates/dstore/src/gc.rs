//! `gc`: remove objects that no live snapshot references and that are older than a grace
//! period (so a concurrent ingest's fresh, not yet committed segments are never swept).
//!
//! Live is every committed snapshot except the expired ones (`expire.rs`); an expired snapshot
//! stays live while a run still uses it (a use recorded after the expiry wins: runs never
//! break), and for the grace period after its expiry. Of an expired snapshot, gc removes the
//! pages, segments and derived objects no live snapshot shares; its manifest, its log record
//! and its use records stay, so history still reads.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use dstore_format::{RecordKind, SegmentId, SnapshotId};

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
    /// Objects referenced by some live snapshot.
    pub reachable: usize,
    /// Expired snapshots whose data this gc removed (or would remove), with what it shares.
    pub expired: Vec<GcExpired>,
    /// Expired snapshots whose data is kept, and why.
    pub kept_expired: Vec<(String, String)>,
    /// Use records and retirements read (by name) to find the snapshots runs use.
    pub use_objects: usize,
}

/// An expired snapshot, in a [`GcReport`].
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GcExpired {
    /// The snapshot (hex).
    pub snapshot: String,
    /// Its segments that only expired snapshots reach (removed unless younger than the grace).
    pub segments_removed: usize,
    /// Bytes of those segments.
    pub bytes_removed: u64,
    /// Its segments a live snapshot shares (kept).
    pub segments_shared: usize,
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
        let expired = Store::expired_snapshots(&records);
        let uses = self.use_index()?;
        let now_micros = crate::log::now_micros();
        let grace_micros = i64::try_from(opts.grace.as_micros()).unwrap_or(i64::MAX);
        let mut kept_expired: Vec<(String, String)> = Vec::new();
        let mut removable: Vec<SnapshotId> = Vec::new();
        for rec in &records {
            if let RecordKind::Commit { snapshot, .. } = rec.kind {
                // Manifests are history: every committed one stays.
                if !live.insert(layout::manifest_key(&snapshot)) {
                    continue;
                }
                if let Some(&(_, t, purge)) = expired.get(&snapshot) {
                    let runs = uses.live(&snapshot);
                    if !purge && !runs.is_empty() {
                        kept_expired.push((
                            snapshot.to_hex(),
                            format!("expired, but {} run(s) still use it", runs.len()),
                        ));
                    } else if now_micros.saturating_sub(t) < grace_micros {
                        kept_expired
                            .push((snapshot.to_hex(), "expired within the grace period".into()));
                    } else {
                        removable.push(snapshot);
                        continue;
                    }
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
        let mut report = GcReport {
            reachable: live.len(),
            kept_expired,
            use_objects: uses.objects,
            ..GcReport::default()
        };
        // What each removable expired snapshot loses and shares. Its pages may be gone already
        // (an earlier gc): then there is nothing left of it to count.
        for id in &removable {
            let mut e = GcExpired {
                snapshot: id.to_hex(),
                ..GcExpired::default()
            };
            let manifest = self.objects().manifest(id)?;
            let mut seen: HashSet<SegmentId> = HashSet::new();
            let mut pages_left = false;
            for t in &manifest.tables {
                for p in &t.pages {
                    if live.contains(&layout::page_key(&p.id))
                        || self.storage().size(&layout::page_key(&p.id))?.is_none()
                    {
                        continue;
                    }
                    pages_left = true;
                    for s in self.objects().page(&p.id)?.entries {
                        if !seen.insert(s.id) {
                            continue;
                        }
                        if live.contains(&layout::segment_key(&s.id)) {
                            e.segments_shared += 1;
                        } else if self.storage().size(&layout::segment_key(&s.id))?.is_some() {
                            e.segments_removed += 1;
                            e.bytes_removed += s.bytes;
                        }
                    }
                }
            }
            // An earlier gc took everything it could: nothing to say about it again.
            if pages_left {
                report.expired.push(e);
            }
        }
        let now = SystemTime::now();
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
