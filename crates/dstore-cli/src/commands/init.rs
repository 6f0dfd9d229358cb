//! `dstore init PATH`

use std::path::PathBuf;

use anyhow::Result;
use dstore::Store;

use super::{Context, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory to create the store in (must be new or empty), or a URL such as
    /// s3://bucket/prefix (which must hold no object yet).
    path: PathBuf,
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let store = match args.path.to_str() {
        Some(loc) => Store::init_location(loc, &ctx.remote)?,
        None => Store::init(&args.path)?,
    };
    if ctx.json {
        print_json(&serde_json::json!({ "store": store.location() }))?;
    } else {
        outln!("Initialized empty dstore store in {}", store.location())?;
    }
    Ok(())
}
