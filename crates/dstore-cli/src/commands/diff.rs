//! `dstore diff OLD [NEW]`; with `--stats`, the drift report (commands/drift.rs)

use anyhow::Result;
use serde_json::json;

use super::{Context, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The older snapshot.
    old: String,
    /// The newer snapshot (default HEAD).
    #[arg(default_value = "HEAD")]
    new: String,
    /// Only these tables (with --stats; default every table).
    #[arg(short = 't', long = "table", value_name = "TABLE")]
    table: Vec<String>,
    // The drift report's flags (--stats, --rules, --html, --fail-on-drift): commands/drift.rs.
    #[command(flatten)]
    drift: super::drift::DriftArgs,
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let store = ctx.store()?;
    let a = store.snapshot(&store.resolve(&args.old)?.id)?;
    let b = store.snapshot(&store.resolve(&args.new)?.id)?;
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
