//! `dstore expire [--keep-last N] [--keep-within AGE] [REF...] [--purge REF] [--keep-lock FILE]`

use std::path::PathBuf;

use anyhow::Result;
use dstore::expire::ExpireOptions;

use super::{Context, print_json, user_error};
use crate::output;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Snapshots to expire by name (protected ones are still kept).
    #[arg(value_name = "REF")]
    refs: Vec<String>,
    /// Keep the snapshots of the last N commits; expire older ones.
    #[arg(long, value_name = "N")]
    keep_last: Option<u64>,
    /// Keep snapshots committed within this age (e.g. 90d, 12h); expire older ones.
    #[arg(long, value_name = "AGE")]
    keep_within: Option<String>,
    /// Expire this snapshot even though it is tagged, used or locked (data that must be
    /// deleted); says which tags and runs that breaks. Repeatable.
    #[arg(long, value_name = "REF")]
    purge: Vec<String>,
    /// Keep every snapshot this lock file names. Repeatable.
    #[arg(long, value_name = "FILE")]
    keep_lock: Vec<PathBuf>,
    /// Show what would be expired and kept; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Why (the log record's message).
    #[arg(long, short, default_value = "")]
    message: String,
    /// Who expires (default: $DSTORE_AUTHOR, else $USER).
    #[arg(long)]
    author: Option<String>,
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let keep_within = args
        .keep_within
        .as_deref()
        .map(|s| {
            humantime::parse_duration(s).map_err(|e| {
                user_error(
                    format!("--keep-within {s}: {e}"),
                    Some("write ages like 90d, 12h or 30m"),
                )
            })
        })
        .transpose()?;
    if args.keep_last.is_none()
        && keep_within.is_none()
        && args.refs.is_empty()
        && args.purge.is_empty()
    {
        return Err(user_error(
            "say what to expire",
            Some(
                "dstore expire --keep-last 30 --keep-within 90d, or name snapshots: dstore expire REF...",
            ),
        ));
    }
    let store = ctx.store()?;
    let r = store.expire(&ExpireOptions {
        keep_last: args.keep_last,
        keep_within,
        refs: args.refs.clone(),
        purge: args.purge.clone(),
        keep_locks: args.keep_lock.clone(),
        dry_run: args.dry_run,
        author: Context::author(args.author.as_ref()),
        message: args.message.clone(),
    })?;
    if ctx.json {
        return Ok(print_json(&serde_json::to_value(&r)?)?);
    }
    let verb = if args.dry_run {
        "would expire"
    } else {
        "expired"
    };
    for e in &r.expired {
        let breaks: Vec<String> = e.keep.iter().map(ToString::to_string).collect();
        outln!(
            "{verb} {}  @{}  {}{}",
            &e.snapshot[..12],
            e.seq,
            output::time(e.time_micros),
            if breaks.is_empty() {
                String::new()
            } else {
                format!("  PURGED, breaks: {}", breaks.join(", "))
            }
        )?;
    }
    for e in &r.protected {
        let why: Vec<String> = e.keep.iter().map(ToString::to_string).collect();
        outln!(
            "kept {}  @{}  {}  ({})",
            &e.snapshot[..12],
            e.seq,
            output::time(e.time_micros),
            why.join(", ")
        )?;
    }
    outln!(
        "{} {} snapshot(s){}; kept {} protected; {} expired before{}",
        if args.dry_run {
            "Would expire"
        } else {
            "Expired"
        },
        r.expired.len(),
        r.seq.map_or_else(String::new, |s| format!(" (@{s})")),
        r.protected.len(),
        r.already,
        if r.expired.is_empty() || args.dry_run {
            String::new()
        } else {
            "; `dstore gc` removes the data only they reach".into()
        }
    )?;
    Ok(())
}
