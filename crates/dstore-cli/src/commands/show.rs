//! `dstore show [REF]`

use anyhow::Result;
use serde_json::json;

use super::{Context, RefArg, print_json};
use crate::output;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    at: RefArg,
    /// List every segment of every table.
    #[arg(long)]
    segments: bool,
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let store = ctx.store()?;
    let res = args.at.resolve(&store)?;
    let snap = store.snapshot(&res.id)?;
    let (rec, tags) = store.describe(&res.id)?;
    if ctx.json {
        let mut tables = Vec::new();
        for t in snap.tables() {
            let mut v = json!({
                "name": t.name,
                "rows": t.rows,
                "bytes": t.bytes,
                "segments": t.segments,
                "schema": t.schema.fields().iter().map(|f| json!({
                    "name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable()
                })).collect::<Vec<_>>(),
            });
            if args.segments {
                v["pages"] = t
                    .pages
                    .iter()
                    .map(|p| json!({"id": p.id.to_hex(), "segments": p.segments, "rows": p.rows, "bytes": p.bytes}))
                    .collect();
                v["segment_list"] = snap
                    .segments(&t.name)?
                    .iter()
                    .map(|s| json!({"id": s.id.to_hex(), "rows": s.rows, "bytes": s.bytes, "row_groups": s.row_groups.len()}))
                    .collect();
            }
            tables.push(v);
        }
        print_json(&json!({
            "snapshot": res.id.to_hex(),
            "commit": rec.as_ref().map(output::record_json),
            "tags": tags,
            "tables": tables,
        }))?;
        return Ok(());
    }
    outln!("snapshot {}", res.id)?;
    if let Some(r) = &rec {
        outln!(
            "commit   @{}  {}  by {}",
            r.seq,
            output::time(r.time_micros),
            r.author
        )?;
        if !r.message.is_empty() {
            outln!("message  {}", r.message)?;
        }
    }
    if !tags.is_empty() {
        outln!("tags     {}", tags.join(", "))?;
    }
    for t in snap.tables() {
        outln!()?;
        outln!(
            "table {}: {} rows, {} segment(s), {}",
            t.name,
            t.rows,
            t.segments,
            output::bytes(t.bytes)
        )?;
        for f in t.schema.fields() {
            outln!(
                "    {:<24} {}{}",
                f.name(),
                f.data_type(),
                if f.is_nullable() { "" } else { " not null" }
            )?;
        }
        if args.segments {
            for s in snap.segments(&t.name)? {
                outln!(
                    "  segment {}  {} rows  {}  {} row group(s)",
                    s.id,
                    s.rows,
                    output::bytes(s.bytes),
                    s.row_groups.len()
                )?;
            }
        }
    }
    Ok(())
}
