//! `dstore uses [REF] [--run RUN] [--retire RUN [--reason TEXT]]`

use anyhow::Result;
use dstore::uses::Use;
use serde_json::json;

use super::{Context, print_json, user_error};
use crate::output;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The snapshot whose uses to list (default HEAD, unless --run is given).
    #[arg(value_name = "REF")]
    r#ref: Option<String>,
    /// List what this run read, in every snapshot of the store.
    #[arg(long, value_name = "RUN", conflicts_with = "retire")]
    run: Option<String>,
    /// Record that this run no longer needs the snapshot (append-only; the use stays listed).
    #[arg(long, value_name = "RUN")]
    retire: Option<String>,
    /// Why, with --retire.
    #[arg(long, requires = "retire", default_value = "")]
    reason: String,
    /// Who retires (default: $DSTORE_AUTHOR, else $USER).
    #[arg(long)]
    author: Option<String>,
}

fn use_json(u: &Use) -> serde_json::Value {
    u.to_json()
}

fn print_uses(uses: &[Use], with_snapshot: bool) -> Result<()> {
    for u in uses {
        let r = &u.record;
        let tables = if r.tables.is_empty() {
            "(all tables)".to_owned()
        } else {
            r.tables.join(",")
        };
        let mut extra = Vec::new();
        if !r.columns.is_empty() {
            extra.push(format!("columns {}", r.columns.join(",")));
        }
        if let Some(f) = &r.filter {
            extra.push(format!("filter {f:?}"));
        }
        if let Some(s) = r.seed {
            extra.push(format!("seed {s}"));
        }
        if let Some(c) = &r.code {
            extra.push(format!("code {}", c.chars().take(12).collect::<String>()));
        }
        if r.lock.is_some() {
            extra.push("locked".into());
        }
        for (k, v) in &r.labels {
            extra.push(format!("{k}={v}"));
        }
        let status = match &u.retired {
            None => "live".to_owned(),
            Some(t) => format!(
                "retired {} by {}{}",
                output::time(t.time_micros),
                t.author,
                if t.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", t.reason)
                }
            ),
        };
        outln!(
            "{}{:<20} {}  {}@{}  {}{}  [{status}]",
            if with_snapshot {
                format!("{}  ", r.snapshot.short(12))
            } else {
                String::new()
            },
            r.run,
            output::time(r.time_micros),
            r.author,
            r.host,
            tables,
            if extra.is_empty() {
                String::new()
            } else {
                format!("  {}", extra.join("  "))
            }
        )?;
    }
    Ok(())
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let store = ctx.store()?;
    if let Some(run) = &args.run {
        if args.r#ref.is_some() {
            return Err(user_error(
                "give a snapshot or --run, not both",
                Some(
                    "`dstore uses REF` lists a snapshot's runs, `dstore uses --run RUN` a run's snapshots",
                ),
            ));
        }
        let uses = store.uses_by_run(run)?;
        if ctx.json {
            return Ok(print_json(&uses.iter().map(use_json).collect())?);
        }
        if uses.is_empty() {
            outln!("run {run} has recorded no use in this store")?;
        }
        return print_uses(&uses, true);
    }
    let id = store.resolve(args.r#ref.as_deref().unwrap_or("HEAD"))?.id;
    if let Some(run) = &args.retire {
        let author = Context::author(args.author.as_ref());
        let (r, created) = store.retire_use(&id, run, &author, &args.reason)?;
        if ctx.json {
            return Ok(print_json(&json!({
                "snapshot": id.to_hex(), "run": r.run, "retired": created,
                "time": output::time(r.time_micros), "author": r.author, "reason": r.reason,
            }))?);
        }
        if created {
            outln!("Retired run {run}'s use of {}", id.short(12))?;
        } else {
            outln!(
                "Run {run}'s use of {} was already retired on {} by {}",
                id.short(12),
                output::time(r.time_micros),
                r.author
            )?;
        }
        return Ok(());
    }
    let uses = store.uses_of(&id)?;
    if ctx.json {
        return Ok(print_json(&uses.iter().map(use_json).collect())?);
    }
    let live = uses.iter().filter(|u| u.live()).count();
    outln!(
        "snapshot {}: {} use(s), {live} live",
        id.short(12),
        uses.len()
    )?;
    print_uses(&uses, false)
}
