//! `dstore prepare -t TABLE INPUT... [-o FILE]` and `dstore commit DESCRIPTION... -m MESSAGE`:
//! a write split over workers (docs/distributed.md).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::ArgMatches;
use dstore::{Prepared, PreparedCheck, WriteMode};

use super::snapshot::{
    CommitFlags, IngestArgs, Mode, changes_json, group, print_changes, record_derived,
};
use super::{Context, print_json, user_error};
use crate::output;

#[derive(Debug, clap::Args)]
pub(crate) struct PrepareArgs {
    /// Table that the inputs after it go to; repeat for several tables.
    #[arg(short = 't', long = "table", value_name = "TABLE", required = true)]
    tables: Vec<String>,
    /// Input files or directories, or `s3://` objects and prefixes, as for `snapshot`.
    #[arg(value_name = "INPUT", required = true)]
    inputs: Vec<PathBuf>,
    /// Write the description to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Append to the tables, or overwrite them, when the description is committed.
    #[arg(long, value_enum, default_value = "append")]
    mode: Mode,
    #[command(flatten)]
    ingest: IngestArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CommitArgs {
    /// Descriptions written by `dstore prepare` (any number; committed as one snapshot, in the
    /// order given).
    #[arg(value_name = "DESCRIPTION", required = true)]
    descriptions: Vec<PathBuf>,
    /// Check only that each described segment is in the store with its size (no footer
    /// reads).
    #[arg(long, conflicts_with = "check_bytes")]
    trust: bool,
    /// Also re-hash every described segment (reads every byte): the id and each column
    /// chunk's hash.
    #[arg(long)]
    check_bytes: bool,
    #[command(flatten)]
    commit: CommitFlags,
}

pub(crate) fn prepare(args: &PrepareArgs, ctx: &Context, m: &ArgMatches) -> Result<()> {
    let groups = group(&args.tables, &args.inputs, m)?;
    let store = ctx.store()?;
    let interrupts = crate::interrupt::Interrupts::install()?;
    let opts = args.ingest.options(interrupts.cancel(), &ctx.remote)?;
    let inputs: Vec<PathBuf> = groups.iter().flat_map(|(_, v)| v.iter().cloned()).collect();
    let total = super::snapshot::local_bytes(&inputs, args.ingest.skip_unknown)?;
    let pb = ctx.progress(total, "prepare");
    let mut tx = store.begin();
    for (table, paths) in &groups {
        if matches!(args.mode, Mode::Overwrite) {
            tx.set_mode(table, WriteMode::Overwrite)?;
        }
        tx.add_files_with_progress(table, paths, &opts, &|_, n| pb.inc(n))?;
    }
    pb.finish_and_clear();
    let prepared = tx.prepare()?;
    let summary = format!(
        "Prepared {} segment(s), {} rows, {} in {}",
        prepared.segments(),
        prepared.rows(),
        output::bytes(prepared.bytes()),
        prepared.store
    );
    let Some(path) = &args.output else {
        let mut out = super::stdout();
        out.write_all(prepared.to_json()?.as_bytes())?;
        out.flush()?;
        // The description is the output; the summary goes to stderr.
        let _ = writeln!(std::io::stderr().lock(), "{summary}");
        return Ok(());
    };
    prepared.write(path)?;
    if ctx.json {
        print_json(&serde_json::json!({
            "description": path.display().to_string(),
            "segments": prepared.segments(),
            "rows": prepared.rows(),
            "bytes": prepared.bytes(),
        }))?;
    } else {
        outln!("{summary}: {}", path.display())?;
    }
    Ok(())
}

pub(crate) fn commit(args: &CommitArgs, ctx: &Context) -> Result<()> {
    let tags = args.commit.tags()?;
    let descriptions = args
        .descriptions
        .iter()
        .map(|p| Prepared::read(p))
        .collect::<dstore::Result<Vec<Prepared>>>()?;
    let store = ctx.store()?;
    let sources = args.commit.sources(ctx)?;
    let check = if args.trust {
        PreparedCheck::Trust
    } else if args.check_bytes {
        PreparedCheck::Full
    } else {
        PreparedCheck::Footer
    };
    let mut tx = store.begin();
    for d in &descriptions {
        tx.add_prepared(d, check).map_err(|e| match e {
            // The snapshot hint (convert the input, --mode overwrite, --rewrite) is about
            // inputs; a description's schema was fixed when it was prepared.
            dstore::Error::SchemaMismatch { .. } => user_error(
                e.to_string(),
                Some(
                    "the table's schema is not the one these inputs were prepared with (the table \
                     changed, or workers inferred their text inputs' types differently): prepare \
                     them again now that the table exists, or with --cast",
                ),
            ),
            other => other.into(),
        })?;
    }
    let commit_opts = args.commit.options(&tags, &sources);
    let out = match tx.commit(&commit_opts) {
        Err(dstore::Error::NothingToCommit) => {
            return Err(user_error(
                "nothing to commit: the descriptions hold no segments and create no table",
                Some("prepare inputs with rows, or leave this commit out"),
            ));
        }
        other => other?,
    };
    record_derived(&store, &out.id, &sources, &commit_opts.author);
    if ctx.json {
        print_json(&serde_json::json!({
            "snapshot": out.id.to_hex(),
            "seq": out.seq,
            "committed": true,
            "unchanged": out.unchanged,
            "conflicts": out.conflicts,
            "tags": tags,
            "descriptions": args.descriptions.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "changes": changes_json(&out.changes),
        }))?;
    } else {
        outln!(
            "Committed @{} snapshot {} from {} description(s)",
            out.seq,
            out.id,
            descriptions.len()
        )?;
        print_changes(&out.changes)?;
        if !tags.is_empty() {
            outln!("  tagged {}", tags.join(", "))?;
        }
    }
    Ok(())
}
