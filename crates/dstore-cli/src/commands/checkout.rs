//! `dstore checkout [REF] [-t TABLE]... -o DIR [--copy] [--no-verify] [--format parquet|csv|jsonl|files]
//! [--force]`

use std::path::PathBuf;

use anyhow::Result;
use dstore::{checkout::CheckoutFormat, checkout::CheckoutOptions};

use super::{Context, RefArg, print_json};
use crate::output;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Parquet,
    Csv,
    Jsonl,
    /// Files tables as their files (each checked against its BLAKE3), other tables as parquet.
    Files,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    at: RefArg,
    /// Tables to write (repeatable; default all).
    #[arg(short = 't', long = "table", value_name = "TABLE")]
    tables: Vec<String>,
    /// Directory to write into (must be empty unless --force).
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// Copy segments instead of hard-linking them.
    #[arg(long)]
    copy: bool,
    /// Hard-link segments without hashing them first (one link per segment, whatever its
    /// size; `dstore verify --checkout DIR` checks later). Copies are always verified.
    #[arg(long)]
    no_verify: bool,
    /// Output format; csv and jsonl convert; files writes the files of files tables back at
    /// their paths (under DIR/TABLE/).
    #[arg(long, value_enum, default_value = "parquet")]
    format: Format,
    /// Write into a non-empty directory, replacing an earlier checkout there.
    #[arg(long)]
    force: bool,
    /// Record that this run uses the snapshot (default: $DSTORE_RUN, else MLFLOW_RUN_ID,
    /// WANDB_RUN_ID, TORCHELASTIC_RUN_ID, SLURM_JOB_ID; none with DSTORE_RECORD_USE=0).
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let run = super::run_id(args.run.as_ref())?;
    let store = ctx.store()?;
    let res = args.at.resolve(&store)?;
    let snap = store.snapshot(&res.id)?;
    let total: u64 = snap
        .tables()
        .iter()
        .filter(|t| args.tables.is_empty() || args.tables.contains(&t.name))
        .map(|t| t.bytes)
        .sum();
    let pb = ctx.progress(total, "checkout");
    let opts = CheckoutOptions {
        tables: args.tables.clone(),
        copy: args.copy,
        format: match args.format {
            Format::Parquet => CheckoutFormat::Parquet,
            Format::Csv => CheckoutFormat::Csv,
            Format::Jsonl => CheckoutFormat::Jsonl,
            Format::Files => CheckoutFormat::Files,
        },
        force: args.force,
        trust_links: args.no_verify,
    };
    let report = store.checkout(&snap, &args.output, &opts, &|n| pb.inc(n))?;
    if let Some(run) = run {
        super::record_use(
            &store,
            &res.id,
            &dstore::uses::UseSpec {
                run,
                tables: args.tables.clone(),
                author: Context::author(None),
                ..Default::default()
            },
        )?;
    }
    pb.finish_and_clear();
    if ctx.json {
        print_json(&serde_json::json!({
            "snapshot": res.id.to_hex(),
            "directory": args.output,
            "files": report.files,
            "linked": report.linked,
            "bytes": report.bytes,
            "rows": report.rows,
        }))?;
    } else {
        outln!(
            "Checked out {} to {}: {} file(s) ({} hard-linked), {} rows, {}",
            res.id.short(12),
            args.output.display(),
            report.files,
            report.linked,
            report.rows,
            output::bytes(report.bytes)
        )?;
    }
    Ok(())
}
