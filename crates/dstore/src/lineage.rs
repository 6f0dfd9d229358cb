//! Lineage: which snapshots a snapshot was made from, across stores, and which were made from it.
//!
//! Up is recorded in the commit itself (`--from PIN`: the upstream store and snapshot id in a
//! version-2 commit record, docs/format.md §9). Down is recorded in the upstream store as a use
//! (§17) whose run id is the canonical pin of the derived snapshot and whose label
//! `dstore.derived` is `1`: the upstream store learns who depends on it without any registry,
//! and the derived snapshot protects its sources from `expire` like any consumer until that use
//! is retired (`dstore uses SRC --retire PIN`).
//!
//! May call: `pin`, `uses`, `resolve`, `store`, the format crate.

use std::collections::HashSet;
use std::path::Path;

use dstore_format::{RecordKind, SnapshotId, Upstream};

use crate::error::{Error, Result};
use crate::pin::{Pin, ResolvedPin};
use crate::store::Store;
use crate::uses::UseSpec;

/// The label that marks a use as a derived snapshot's dependence on its source.
pub const DERIVED_LABEL: &str = "dstore.derived";

/// How deep `lineage` walks before it stops (a cycle cannot occur with content ids, but a
/// chain of thousands of stores could).
const MAX_DEPTH: usize = 64;

/// A `--from` pin, resolved: what the commit records and the store to tell.
#[derive(Debug, Clone)]
pub struct Source {
    /// What the commit records.
    pub upstream: Upstream,
    /// The pin, resolved.
    pub resolved: ResolvedPin,
}

/// Resolves `--from` pins (relative store paths relative to `base`): each must name an existing,
/// unexpired snapshot. A bad one is refused naming it, before anything is written.
pub fn resolve_sources(
    pins: &[String],
    base: &Path,
    remote: &crate::storage::RemoteOptions,
) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for p in pins {
        let wrap = |e: Error| match e {
            Error::InvalidInput { detail, hint, .. } => Error::InvalidInput {
                path: None,
                detail: format!("--from {p}: {detail}"),
                hint,
            },
            Error::NotFound { what } => Error::NotFound {
                what: format!("{what} (from --from {p})"),
            },
            e @ Error::NotAStore { .. } => Error::InvalidInput {
                path: None,
                detail: format!("--from {p}: {e}"),
                hint: Some(
                    "a pin's relative store path is taken from the current directory".into(),
                ),
            },
            other => other,
        };
        let pin: Pin = p.parse().map_err(wrap)?;
        let resolved = pin.resolve_from_with(base, remote).map_err(wrap)?;
        resolved.store.check_not_expired(&resolved.id)?;
        let store = resolved
            .pin
            .store()
            .to_str()
            .expect("pins hold UTF-8 store paths")
            .to_owned();
        out.push(Source {
            upstream: Upstream {
                store,
                snapshot: resolved.id,
                table: resolved.pin.table().map(str::to_owned),
            },
            resolved,
        });
    }
    Ok(out)
}

/// One snapshot in a lineage tree.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LineageNode {
    /// The store (absolute path or URL).
    pub store: String,
    /// The snapshot (hex).
    pub snapshot: String,
    /// The table, when the edge that reached this node named one.
    pub table: Option<String>,
    /// The commit's message, when the store could be opened and has the commit.
    pub message: Option<String>,
    /// Why the walk stopped here, if it could not go on (store unreachable, depth).
    pub note: Option<String>,
    /// Upstream (or downstream) snapshots.
    pub edges: Vec<LineageNode>,
}

impl Store {
    /// Records in each source's store that `derived` (in this store) was made from it: a use
    /// whose run is the derived snapshot's pin, labelled [`DERIVED_LABEL`]. Failures (a
    /// read-only source) are returned, not raised: the commit has happened.
    pub fn record_derived(
        &self,
        derived: &SnapshotId,
        sources: &[Source],
        author: &str,
    ) -> Vec<(String, Error)> {
        let run = format!("dstore://{}@{}", self.absolute_location(), derived.to_hex());
        let mut failed = Vec::new();
        for s in sources {
            let spec = UseSpec {
                run: run.clone(),
                tables: s.upstream.table.iter().cloned().collect(),
                author: author.to_owned(),
                labels: vec![(DERIVED_LABEL.into(), "1".into())],
                ..UseSpec::default()
            };
            if let Err(e) = s.resolved.store.record_use(&s.resolved.id, &spec) {
                failed.push((s.resolved.pin.to_string(), e));
            }
        }
        failed
    }

    /// The store's URL, or its directory as an absolute path (what pins name).
    pub fn absolute_location(&self) -> String {
        match self.url() {
            Some(u) => u.to_owned(),
            None => std::fs::canonicalize(self.root())
                .or_else(|_| std::path::absolute(self.root()))
                .map_or_else(|_| self.location(), |p| p.display().to_string()),
        }
    }

    /// The upstream snapshots the commit of `id` names (empty when none, or no commit).
    pub fn upstream_of(&self, id: &SnapshotId) -> Result<Vec<Upstream>> {
        let view = self.view()?;
        let mut out = Vec::new();
        for seq in view.commits_of(id)? {
            if let Some(r) = view.record(seq)?
                && let RecordKind::Commit { upstream, .. } = r.kind
            {
                for u in upstream {
                    if !out.contains(&u) {
                        out.push(u);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The lineage of `id`: upstream (or with `down`, downstream) snapshots, walked across
    /// every store that can be opened from here (`remote` for URLs). A store that cannot be
    /// opened ends its branch with a note instead of failing the walk.
    pub fn lineage(
        &self,
        id: &SnapshotId,
        down: bool,
        remote: &crate::storage::RemoteOptions,
    ) -> Result<LineageNode> {
        let mut seen = HashSet::new();
        self.lineage_node(id, None, down, remote, 0, &mut seen)
    }

    fn lineage_node(
        &self,
        id: &SnapshotId,
        table: Option<String>,
        down: bool,
        remote: &crate::storage::RemoteOptions,
        depth: usize,
        seen: &mut HashSet<(String, SnapshotId)>,
    ) -> Result<LineageNode> {
        let mut node = LineageNode {
            store: self.absolute_location(),
            snapshot: id.to_hex(),
            table,
            message: self.describe(id)?.0.map(|r| r.message),
            note: None,
            edges: Vec::new(),
        };
        if !seen.insert((node.store.clone(), *id)) {
            node.note = Some("shown above".into());
            return Ok(node);
        }
        if depth >= MAX_DEPTH {
            node.note = Some(format!("stopped after {MAX_DEPTH} levels"));
            return Ok(node);
        }
        let edges: Vec<(String, SnapshotId, Option<String>)> = if down {
            self.uses_of(id)?
                .into_iter()
                .filter(|u| {
                    u.record
                        .labels
                        .iter()
                        .any(|(k, v)| k == DERIVED_LABEL && v == "1")
                })
                .filter_map(|u| {
                    let pin: Pin = u.record.run.parse().ok()?;
                    let sid = pin.full_id()?;
                    Some((pin.store().to_str()?.to_owned(), sid, None))
                })
                .collect()
        } else {
            self.upstream_of(id)?
                .into_iter()
                .map(|u| (u.store, u.snapshot, u.table))
                .collect()
        };
        for (store, sid, table) in edges {
            let opened = if crate::storage::is_url(&store) {
                Store::open_url(&store, remote)
            } else {
                Store::open(&store)
            };
            match opened
                .and_then(|s| s.lineage_node(&sid, table.clone(), down, remote, depth + 1, seen))
            {
                Ok(n) => node.edges.push(n),
                Err(e) => node.edges.push(LineageNode {
                    store,
                    snapshot: sid.to_hex(),
                    table,
                    message: None,
                    note: Some(format!("cannot be opened: {e}")),
                    edges: Vec::new(),
                }),
            }
        }
        Ok(node)
    }
}
