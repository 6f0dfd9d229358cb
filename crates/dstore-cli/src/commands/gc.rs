//! `dstore gc [--dry-run] [--grace DURATION]`

use anyhow::Result;
use dstore::gc::GcOptions;

use super::{Context, print_json, user_error};
use crate::output;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Show what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep unreferenced objects younger than this (e.g. 1h, 30m, 0s), so a concurrent
    /// ingest's not yet committed segments survive.
    #[arg(long, default_value = "1h")]
    grace: String,
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let grace = humantime::parse_duration(&args.grace).map_err(|e| {
        user_error(
            format!("--grace {}: {e}", args.grace),
            Some("write durations like 1h, 30m or 0s"),
        )
    })?;
    let store = ctx.store()?;
    let r = store.gc(&GcOptions {
        dry_run: args.dry_run,
        grace,
    })?;
    if ctx.json {
        print_json(&serde_json::to_value(&r)?)?;
        return Ok(());
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for (k, n) in &r.removed {
        outln!("{verb} {k} ({})", output::bytes(*n))?;
    }
    for e in &r.expired {
        outln!(
            "expired {}: {verb} {} segment(s) ({}) only expired snapshots reach; kept {} a live snapshot shares",
            &e.snapshot[..12],
            e.segments_removed,
            output::bytes(e.bytes_removed),
            e.segments_shared
        )?;
    }
    for (id, why) in &r.kept_expired {
        outln!("kept {}: {why}", &id[..12])?;
    }
    outln!(
        "{} {} object(s), {} freed; {} reachable; {} unreferenced kept (younger than {})",
        if args.dry_run {
            "Would remove"
        } else {
            "Removed"
        },
        r.removed.len(),
        output::bytes(r.bytes),
        r.reachable,
        r.kept_young,
        args.grace
    )?;
    Ok(())
}
