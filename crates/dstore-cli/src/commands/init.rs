//! `dstore init PATH`

use std::path::PathBuf;

use anyhow::Result;
use dstore::Store;

use super::{Context, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory to create the store in (must be new or empty).
    path: PathBuf,
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let store = Store::init(&args.path)?;
    if ctx.json {
        print_json(&serde_json::json!({ "store": store.root() }));
    } else {
        println!(
            "Initialized empty dstore store in {}",
            store.root().display()
        );
    }
    Ok(())
}
