//! `dstore reindex`

use anyhow::Result;

use super::{Context, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: &Args, ctx: &Context) -> Result<()> {
    let store = ctx.store()?;
    let n = store.reindex()?;
    if ctx.json {
        print_json(&serde_json::json!({ "records": n }))?;
    } else {
        outln!("Rebuilt the catalog from {n} log records")?;
    }
    Ok(())
}
