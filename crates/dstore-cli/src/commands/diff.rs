//! `dstore diff OLD [NEW] [-t TABLE --rows [--key COL,..] [--output DIR]]`; with `--stats`,
//! the drift report (commands/drift.rs)

use std::path::PathBuf;

use anyhow::Result;
use serde_json::json;

use super::{Context, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The older snapshot.
    pub(super) old: String,
    /// The newer snapshot (default HEAD).
    #[arg(default_value = "HEAD")]
    pub(super) new: String,
    /// The table whose rows to compare (with --rows: exactly one); with --stats, only these
    /// tables (repeatable; default every table).
    #[arg(short = 't', long = "table", value_name = "TABLE")]
    pub(super) table: Vec<String>,
    /// Compare rows: counts of rows added and removed (and changed, with --key), reading
    /// only the segments that are not in both versions (docs/diff.md).
    #[arg(long)]
    pub(super) rows: bool,
    /// Key columns, comma-separated: rows with the same key are one row, "changed" when other
    /// values differ (with --rows).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "COL[,COL]",
        requires = "rows"
    )]
    pub(super) key: Vec<String>,
    /// Write added.parquet, removed.parquet (and changed.parquet with --key) into this new or
    /// empty directory (with --rows).
    #[arg(long, value_name = "DIR", requires = "rows")]
    pub(super) output: Option<PathBuf>,
    /// Memory for row records before they spill to the store's tmp/ (with --rows).
    #[arg(long, value_name = "MIB", default_value_t = 256, requires = "rows")]
    pub(super) memory_mib: usize,
    /// Do not check the bytes read against the segment ids (with --rows).
    #[arg(long, requires = "rows")]
    pub(super) no_verify: bool,
    // The drift report's flags (--stats, --rules, --html, --fail-on-drift): commands/drift.rs.
    #[command(flatten)]
    pub(super) drift: super::drift::DriftArgs,
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    if args.rows && args.drift.stats {
        return Err(super::user_error(
            "--rows and --stats are two reports",
            Some("run `dstore diff --rows` and `dstore diff --stats` separately"),
        ));
    }
    if args.rows {
        return super::rowdiff::run(args, ctx);
    }
    let store = ctx.store()?;
    let a = store.snapshot(&store.resolve(&args.old)?.id)?;
    let b = store.snapshot(&store.resolve(&args.new)?.id)?;
    if !args.table.is_empty() && !args.drift.stats {
        let is_files = |t: &str| {
            [&a, &b].iter().any(|s| {
                s.table(t)
                    .is_ok_and(|t| dstore::files::is_files_table(&t.schema))
            })
        };
        if !args.table.iter().all(|t| is_files(t)) {
            return Err(super::user_error(
                "-t/--table selects the table of a row diff, the tables of a drift report, or files tables",
                Some("add --rows to compare its rows, or --stats for drift"),
            ));
        }
        return files(&a, &b, &args.table, ctx);
    }
    if args.drift.stats {
        return super::drift::stats(&a, &b, &args.table, &args.drift, ctx);
    }
    let diffs = dstore::snapshot::diff(&a, &b)?;
    if ctx.json {
        print_json(&json!({
            "old": a.id().to_hex(),
            "new": b.id().to_hex(),
            "tables": diffs.iter().map(|d| json!({
                "table": d.table,
                "status": match (d.in_old, d.in_new) { (false, _) => "added", (_, false) => "removed", _ => "changed" },
                "schema_changed": d.schema_changed,
                "rows_old": d.rows.0,
                "rows_new": d.rows.1,
                "segments_added": d.segments_added.iter().map(dstore::SegmentId::to_hex).collect::<Vec<_>>(),
                "segments_removed": d.segments_removed.iter().map(dstore::SegmentId::to_hex).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }))?;
        return Ok(());
    }
    if diffs.is_empty() {
        outln!(
            "No differences between {} and {}",
            a.id().short(12),
            b.id().short(12)
        )?;
    }
    for d in &diffs {
        let status = match (d.in_old, d.in_new) {
            (false, _) => "added",
            (_, false) => "removed",
            _ => "changed",
        };
        outln!(
            "{status:<8} {}: rows {} -> {} ({:+}), segments +{} -{}{}",
            d.table,
            d.rows.0,
            d.rows.1,
            i128::from(d.rows.1) - i128::from(d.rows.0),
            d.segments_added.len(),
            d.segments_removed.len(),
            if d.schema_changed {
                ", schema changed"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

/// Files added, removed and changed in files tables, by path (`A`, `D`, `M` as `git diff
/// --name-status` prints them), then a summary per table.
fn files(
    a: &dstore::Snapshot,
    b: &dstore::Snapshot,
    tables: &[String],
    ctx: &Context,
) -> Result<()> {
    let diffs = tables
        .iter()
        .map(|t| dstore::files::files_diff(a, b, t))
        .collect::<dstore::Result<Vec<_>>>()?;
    if ctx.json {
        print_json(&json!({
            "old": a.id().to_hex(),
            "new": b.id().to_hex(),
            "tables": diffs,
        }))?;
        return Ok(());
    }
    for d in &diffs {
        for c in &d.changes {
            let tag = match c.kind {
                dstore::files::ChangeKind::Added => 'A',
                dstore::files::ChangeKind::Removed => 'D',
                dstore::files::ChangeKind::Changed => 'M',
            };
            outln!("{tag}\t{}/{}", d.table, c.path)?;
        }
        outln!(
            "{}: {} added, {} removed, {} changed, {} unchanged; {} segment(s) in both not read, {} read ({})",
            d.table,
            d.added,
            d.removed,
            d.changed,
            d.unchanged,
            d.segments_shared,
            d.segments_read.0 + d.segments_read.1,
            crate::output::bytes(d.bytes_read)
        )?;
    }
    Ok(())
}
