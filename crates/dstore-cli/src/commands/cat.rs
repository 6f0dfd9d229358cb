//! `dstore cat [REF] -t TABLE [--columns a,b] [--where EXPR] [--limit N] [--offset N]
//! [--shuffle SEED --epoch E] [--shard R/W] [--order 1|2] [--memory-budget BYTES] [--window N]
//! [--threads N] [--read-ahead N] [--no-verify] [--format table|csv|jsonl]
//! [--since OLD]`

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
    /// The scan order (docs/order.md): 2, the default, or 1, the order of earlier releases.
    #[arg(long = "order", value_name = "VERSION", default_value_t = dstore::scan::DEFAULT_ORDER_VERSION)]
    order: u32,
    /// Order 2: decoded bytes the scan holds at once, e.g. 512MiB (the default), 2GiB or
    /// 100000000. Part of the order: a larger budget mixes rows of more of the table together.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    memory_budget: Option<u64>,
    /// Order 1 only: row groups mixed together by the shuffle (default 4).
    #[arg(long, value_name = "N")]
    window: Option<usize>,
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
    /// Record that this run read the table (default: $DSTORE_RUN, else MLFLOW_RUN_ID,
    /// WANDB_RUN_ID, TORCHELASTIC_RUN_ID, SLURM_JOB_ID; none with DSTORE_RECORD_USE=0).
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
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

/// Bytes, plain or with a unit: `100000`, `64KiB`, `512MiB`, `2GiB`, `1GB`.
fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(format!(
                "`{s}`: expected bytes such as 512MiB, 2GiB or 100000000"
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{s}`: expected a positive size such as 512MiB, 2GiB or 100000000"))
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    if args.order != 1 && args.window.is_some() {
        return Err(user_error(
            format!(
                "--window is an option of scan order 1, but this scan uses order {}",
                args.order
            ),
            Some(
                "pass --order 1 to shuffle by windows of row groups, or --memory-budget BYTES to size order 2's windows",
            ),
        ));
    }
    if args.order == 1 && args.memory_budget.is_some() {
        return Err(user_error(
            "--memory-budget is an option of scan order 2, but this scan uses order 1".to_owned(),
            Some("drop --order 1 to use order 2, or --window N to size order 1's windows"),
        ));
    }
    let run = super::run_id(args.run.as_ref())?;
    let store = ctx.store()?;
    let snap = store.snapshot(&args.at.resolve(&store)?.id)?;
    let mut scan = snap
        .scan(&args.table)?
        .offset(args.offset)
        .epoch(args.epoch)
        .order_version(args.order)
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
    if let Some(w) = args.window {
        scan = scan.window(w);
    }
    if let Some(b) = args.memory_budget {
        scan = scan.memory_budget(b);
    }
    if let Some(old) = &args.since {
        let old = store.snapshot(&super::since_ref(&store, old)?)?;
        scan = scan.since(&old);
    }
    let batches = scan.batches()?;
    if let Some(run) = run {
        super::record_use(
            &store,
            &snap.id(),
            &dstore::uses::UseSpec {
                run,
                tables: vec![args.table.clone()],
                columns: args.columns.clone(),
                filter: args.filter.clone(),
                seed: args.shuffle,
                author: Context::author(None),
                ..Default::default()
            },
        )?;
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 16, super::stdout());
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
