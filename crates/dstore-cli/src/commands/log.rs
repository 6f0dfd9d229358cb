//! `dstore log`

use anyhow::Result;

use super::{Context, print_json};
use crate::output;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// How many records to show, newest first.
    #[arg(short = 'n', long, default_value_t = 20)]
    limit: usize,
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let store = ctx.store()?;
    let records = store.log(args.limit)?;
    if ctx.json {
        print_json(&records.iter().map(output::record_json).collect())?;
    } else if records.is_empty() {
        outln!("No commits yet")?;
    } else {
        for r in &records {
            outln!("{}", output::log_line(r))?;
        }
    }
    Ok(())
}
