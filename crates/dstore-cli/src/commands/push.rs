//! `dstore push DEST [REF]...` and `dstore pull SOURCE [REF]...`: copy snapshots between a
//! local and a remote store (or any two stores), transferring only the objects the
//! destination lacks.

use anyhow::Result;
use dstore::{Store, transfer::TransferOptions, transfer::TransferReport};

use super::{Context, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The other store: a directory or a URL such as s3://bucket/prefix.
    #[arg(value_name = "PATH|URL")]
    other: String,
    /// Snapshots to copy (HEAD, tags, ids, @SEQ…; default HEAD). Tags given here are set in
    /// the destination too.
    #[arg(value_name = "REF")]
    refs: Vec<String>,
    /// Message of the destination's commit records (default "copied from SOURCE").
    #[arg(short, long)]
    message: Option<String>,
    /// Move tags that exist in the destination with another target.
    #[arg(long)]
    force: bool,
    /// Who the destination's commit records name (default: $DSTORE_AUTHOR, else $USER).
    #[arg(long)]
    author: Option<String>,
}

/// Which way the snapshots go.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    /// From --store to the other store.
    Push,
    /// From the other store into --store.
    Pull,
}

pub(crate) fn run(args: &Args, ctx: &Context, dir: Direction) -> Result<()> {
    let here = ctx.store()?;
    let other = Store::open_location(&args.other, &ctx.remote)?;
    let (src, dst) = match dir {
        Direction::Push => (&here, &other),
        Direction::Pull => (&other, &here),
    };
    let opts = TransferOptions {
        refs: args.refs.clone(),
        author: Context::author(args.author.as_ref()),
        message: args.message.clone(),
        force_tags: args.force,
    };
    let pb = ctx.progress(0, "copying");
    let report = src.push_to(dst, &opts, &|n| pb.inc(n))?;
    pb.finish_and_clear();
    print_report(ctx, &report, src, dst)?;
    Ok(())
}

fn print_report(
    ctx: &Context,
    r: &TransferReport,
    src: &Store,
    dst: &Store,
) -> std::io::Result<()> {
    if ctx.json {
        let mut v = serde_json::to_value(r).expect("report serializes");
        v["from"] = src.location().into();
        v["to"] = dst.location().into();
        return print_json(&v);
    }
    outln!(
        "Copied {} snapshot{} from {} to {}: {} segment{} ({}) sent, {} already there; {} new commit{}",
        r.snapshots,
        plural(r.snapshots),
        src.location(),
        dst.location(),
        r.segments_copied,
        plural(r.segments_copied),
        crate::output::bytes(r.bytes_copied),
        r.segments_present,
        r.commits,
        plural(r.commits),
    )?;
    if !r.tags.is_empty() {
        outln!("Tags: {}", r.tags.join(", "))?;
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
