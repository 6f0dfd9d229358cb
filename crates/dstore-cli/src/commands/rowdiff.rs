//! `dstore diff OLD [NEW] -t TABLE --rows [--key COL[,COL]] [--output DIR] [--json]`: the
//! row-level diff of one table (docs/diff.md). The flags live in [`super::diff::Args`].

use anyhow::Result;
use dstore::diff::{RowDiffOptions, check_output_dir, row_diff};
use serde_json::json;

use super::diff::Args;
use super::{Context, print_json, user_error};

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let [table] = args.table.as_slice() else {
        return Err(user_error(
            "--rows compares the rows of one table",
            Some("name it with one -t TABLE"),
        ));
    };
    // A bad output directory is refused before any work.
    if let Some(dir) = &args.output {
        check_output_dir(dir)?;
    }
    let store = ctx.store()?;
    let old = store.snapshot(&store.resolve(&args.old)?.id)?;
    let new = store.snapshot(&store.resolve(&args.new)?.id)?;
    // SIGINT/SIGTERM stop the diff at its next batch: spill files and partial output are
    // removed, and the command ends as interrupted (130 / 143).
    let interrupts = crate::interrupt::Interrupts::install()?;
    let opts = RowDiffOptions {
        key: args.key.clone(),
        memory_budget: args.memory_mib.max(1) << 20,
        verify: !args.no_verify,
        cancel: interrupts.cancel(),
    };
    let started = std::time::Instant::now();
    let interrupted = |e: dstore::Error| -> anyhow::Error {
        if matches!(e, dstore::Error::Interrupted) {
            super::Failed {
                message: "interrupted; no --output file was left and the store is unchanged".into(),
                hint: Some("run it again to compare the rows".into()),
                code: crate::interrupt::exit_code(),
            }
            .into()
        } else {
            e.into()
        }
    };
    let d = row_diff(&old, &new, table, &opts).map_err(interrupted)?;
    let files = match &args.output {
        Some(dir) => Some(d.write_output(&old, &new, dir).map_err(interrupted)?),
        None => None,
    };
    let seconds = started.elapsed().as_secs_f64();
    if ctx.json {
        print_json(&json!({
            "old": d.old.to_hex(),
            "new": d.new.to_hex(),
            "table": d.table,
            "key": d.key,
            "added": d.added,
            "removed": d.removed,
            "changed": (!d.key.is_empty()).then_some(d.changed),
            "columns_compared": d.columns,
            "columns_only_old": d.columns_only_old,
            "columns_only_new": d.columns_only_new,
            "table_in_old": d.in_old,
            "table_in_new": d.in_new,
            "segments_shared": d.segments_shared,
            "segments_old_only": d.segments_old_only,
            "segments_new_only": d.segments_new_only,
            "rows_hashed": d.rows_hashed,
            "bytes_read_old": d.bytes_read_old,
            "bytes_read_new": d.bytes_read_new,
            "spilled_partitions": d.spilled_partitions,
            "seconds": seconds,
            "output": files.as_ref().map(|f| json!({
                "dir": f.dir.display().to_string(),
                "files": f.files.iter().map(|(n, r)| json!({"name": n, "rows": r})).collect::<Vec<_>>(),
            })),
        }))?;
        return Ok(());
    }
    let changed = if d.key.is_empty() {
        String::new()
    } else {
        format!(", {} changed (key {})", d.changed, d.key.join(", "))
    };
    let counts = format!("{} added, {} removed{changed}", d.added, d.removed);
    outln!(
        "{table}: {counts} ({} -> {})",
        d.old.short(12),
        d.new.short(12)
    )?;
    outln!(
        "segments: {} shared (not read), {} only in old, {} only in new; {} rows hashed, {} bytes read",
        d.segments_shared,
        d.segments_old_only,
        d.segments_new_only,
        d.rows_hashed,
        d.bytes_read_old + d.bytes_read_new
    )?;
    if !d.in_old || !d.in_new {
        outln!(
            "note: the table is not in the {} snapshot (compared as an empty table)",
            if d.in_old { "new" } else { "old" }
        )?;
    }
    if !d.columns_only_old.is_empty() || !d.columns_only_new.is_empty() {
        outln!(
            "note: compared on the {} columns both versions have; only in old: {}; only in new: {}",
            d.columns.len(),
            list(&d.columns_only_old),
            list(&d.columns_only_new)
        )?;
    }
    if let Some(f) = files {
        for (name, rows) in &f.files {
            outln!("wrote {} ({rows} rows)", f.dir.join(name).display())?;
        }
    }
    Ok(())
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
