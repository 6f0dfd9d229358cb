//! `dstore tag [NAME [REF]] [--force] [-d NAME]`

use anyhow::Result;
use serde_json::json;

use std::ffi::OsString;

use super::{Context, print_json, tag_name, user_error};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Tag to create or move; with no name, list tags.
    name: Option<OsString>,
    /// What it points at (default HEAD).
    #[arg(value_name = "REF")]
    target: Option<String>,
    /// Move the tag if it exists (the move is recorded in the log).
    #[arg(long, short)]
    force: bool,
    /// Delete the tag (recorded in the log).
    #[arg(long, short, conflicts_with_all = ["target", "force"])]
    delete: bool,
    /// Author recorded in the log.
    #[arg(long)]
    author: Option<String>,
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let store = ctx.store()?;
    let author = Context::author(args.author.as_ref());
    let Some(raw) = &args.name else {
        if args.delete {
            return Err(user_error(
                "--delete needs a tag name",
                Some("dstore tag -d NAME"),
            ));
        }
        let tags = store.tags()?;
        if ctx.json {
            print_json(
                &tags
                    .iter()
                    .map(|(n, t)| json!({"tag": n, "snapshot": t.snapshot.to_hex(), "seq": t.seq}))
                    .collect(),
            )?;
        } else {
            for (n, t) in tags {
                outln!("{n:<24} {}  @{}", t.snapshot.short(12), t.seq)?;
            }
        }
        return Ok(());
    };
    let name = &tag_name(raw)?;
    if args.delete {
        let old = store.delete_tag(name, &author)?;
        if ctx.json {
            print_json(&json!({"deleted": name, "was": old.snapshot.to_hex()}))?;
        } else {
            outln!("Deleted tag {name} (was {})", old.snapshot.short(12))?;
        }
        return Ok(());
    }
    let t = store.set_tag(
        name,
        args.target.as_deref().unwrap_or("HEAD"),
        args.force,
        &author,
    )?;
    if ctx.json {
        print_json(&json!({"tag": name, "snapshot": t.snapshot.to_hex(), "seq": t.seq}))?;
    } else {
        outln!("Tagged {} (@{}) as {name}", t.snapshot.short(12), t.seq)?;
    }
    Ok(())
}
