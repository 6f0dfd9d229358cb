//! `dstore pin [REF] [-t TABLE] [--as-of TIME]`: the canonical full pin of a snapshot.

use anyhow::Result;
use dstore::{Pin, pin::PIN_SCHEME};
use serde_json::json;

use super::{Context, print_json, user_error};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// HEAD, HEAD~N, @SEQ, a snapshot id or 8+ hex digits of one, a tag, or {TIME}, in the
    /// current store (default HEAD); or a whole pin, dstore://PATH@REF[#TABLE], to canonicalize.
    #[arg(value_name = "REF")]
    r#ref: Option<String>,
    /// Pin one table of the snapshot.
    #[arg(long, short, value_name = "TABLE")]
    table: Option<String>,
    /// The snapshot that was HEAD at this time (RFC 3339, or a date: the end of that day, UTC).
    #[arg(long, value_name = "TIME", conflicts_with = "ref")]
    as_of: Option<String>,
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let pin = match args.r#ref.as_deref() {
        Some(text) if text.starts_with(PIN_SCHEME) => {
            let pin: Pin = text.parse()?;
            match (pin.table(), &args.table) {
                (Some(a), Some(b)) if a != b => {
                    return Err(user_error(
                        format!("the pin names table `{a}` but --table says `{b}`"),
                        Some("drop one of them"),
                    ));
                }
                (None, Some(t)) => pin.with_table(Some(t.clone()))?,
                _ => pin,
            }
        }
        r => {
            let store = ctx.store()?;
            let reference = match &args.as_of {
                Some(t) => {
                    super::parse_time(t)?;
                    format!("{{{t}}}")
                }
                None => r.unwrap_or("HEAD").to_owned(),
            };
            Pin::new(store.location(), reference, args.table.clone())?
        }
    };
    let resolved = pin.resolve_from_with(&std::env::current_dir()?, &ctx.remote)?;
    if ctx.json {
        print_json(&json!({
            "pin": resolved.pin.to_string(),
            "store": resolved.pin.store().to_string_lossy(),
            "snapshot": resolved.id.to_hex(),
            "seq": resolved.seq,
            "table": resolved.pin.table(),
        }))?;
    } else {
        outln!("{}", resolved.pin)?;
    }
    Ok(())
}
