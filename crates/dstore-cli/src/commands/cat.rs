//! `dstore cat [REF] -t TABLE [--columns a,b] [--where EXPR] [--limit N] [--offset N]
//! [--shuffle SEED --epoch E] [--shard R/W] [--threads N] [--read-ahead N] [--no-verify]
//! [--format table|csv|jsonl] [--since OLD]`

use std::io::Write;

use anyhow::Result;
use dstore::scan::filter::Expr;

use super::{Context, RefArg, user_error};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Csv,
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    at: RefArg,
    /// The table.
    #[arg(short = 't', long = "table", value_name = "TABLE")]
    table: String,
    /// Columns to print, comma-separated (default all).
    #[arg(long, value_delimiter = ',')]
    columns: Vec<String>,
    /// Only rows matching, e.g. "x >= 3 AND (c IN ('a','b') OR y IS NULL)".
    #[arg(long = "where", value_name = "EXPR")]
    filter: Option<String>,
    /// At most N rows.
    #[arg(long)]
    limit: Option<u64>,
    /// Skip N rows.
    #[arg(long, default_value_t = 0)]
    offset: u64,
    /// Shuffle with this seed (docs/order.md).
    #[arg(long, value_name = "SEED")]
    shuffle: Option<u64>,
    /// Epoch of the shuffle.
    #[arg(long, default_value_t = 0)]
    epoch: u64,
    /// This rank's share: RANK/WORLD, e.g. 0/8.
    #[arg(long, value_name = "R/W")]
    shard: Option<String>,
    /// Row groups mixed together by the shuffle.
    #[arg(long, default_value_t = 4)]
    window: usize,
    /// Decode threads (never changes the output).
    #[arg(long)]
    threads: Option<usize>,
    /// Rows per batch.
    #[arg(long, default_value_t = 8192)]
    batch_size: usize,
    /// Windows decoded ahead in the background (never changes the output).
    #[arg(long, default_value_t = 1, value_name = "N")]
    read_ahead: usize,
    /// Do not check column chunks against their hashes (then --where also uses Parquet page
    /// indexes to read only the pages that may match).
    #[arg(long)]
    no_verify: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Only the rows this snapshot has and OLD has not (the added rows of `dstore diff OLD
    /// REF --rows`), in the exact order docs/order.md gives for scans since a snapshot.
    #[arg(long, value_name = "OLD")]
    since: Option<String>,
}

fn parse_shard(s: &str) -> Result<(u32, u32)> {
    let bad = || {
        user_error(
            format!("--shard {s}: expected RANK/WORLD such as 0/8"),
            Some("RANK counts from 0 and is below WORLD"),
        )
    };
    let (r, w) = s.split_once('/').ok_or_else(bad)?;
    let (r, w): (u32, u32) = (
        r.trim().parse().map_err(|_| bad())?,
        w.trim().parse().map_err(|_| bad())?,
    );
    if w == 0 || r >= w {
        return Err(bad());
    }
    Ok((r, w))
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let store = ctx.store()?;
    let snap = store.snapshot(&args.at.resolve(&store)?.id)?;
    let mut scan = snap
        .scan(&args.table)?
        .offset(args.offset)
        .epoch(args.epoch)
        .window(args.window)
        .batch_size(args.batch_size)
        .read_ahead(args.read_ahead)
        .verify(!args.no_verify);
    if !args.columns.is_empty() {
        scan = scan.columns(args.columns.iter().cloned());
    }
    if let Some(f) = &args.filter {
        let expr = Expr::parse(f).map_err(|e| {
            user_error(
                format!("--where: {e}"),
                Some("e.g. --where \"x >= 3 AND name IN ('a', 'b')\""),
            )
        })?;
        scan = scan.filter(expr);
    }
    if let Some(n) = args.limit {
        scan = scan.limit(n);
    }
    if let Some(s) = args.shuffle {
        scan = scan.shuffle(s);
    }
    if let Some(s) = &args.shard {
        let (r, w) = parse_shard(s)?;
        scan = scan.shard(r, w);
    }
    if let Some(t) = args.threads {
        scan = scan.threads(t);
    }
    if let Some(old) = &args.since {
        let old = store.snapshot(&store.resolve(old)?.id)?;
        scan = scan.since(&old);
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 16, super::stdout());
    let batches = scan.batches()?;
    match args.format {
        Format::Table => {
            for b in batches {
                let b = b?;
                writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(&[b])?)?;
            }
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in batches {
                w.write(&b?)?;
            }
        }
        Format::Jsonl => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            for b in batches {
                w.write(&b?)?;
            }
            w.finish()?;
        }
    }
    out.flush()?;
    Ok(())
}
