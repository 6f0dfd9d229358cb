//! `dstore verify [REF...] [--all] [--checkout DIR]`

use std::path::PathBuf;

use anyhow::Result;
use dstore::{verify::VerifyOptions, verify::VerifyReport};

use super::{Context, Failed, print_json};
use crate::output;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Snapshots to verify (default HEAD).
    #[arg(value_name = "REF")]
    refs: Vec<String>,
    /// Verify every snapshot in the log.
    #[arg(long, conflicts_with = "refs")]
    all: bool,
    /// Verify a checkout directory against its manifest instead.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["refs", "all"])]
    checkout: Option<PathBuf>,
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let report: VerifyReport = if let Some(dir) = &args.checkout {
        dstore::checkout::verify_checkout(dir)?
    } else {
        let store = ctx.store()?;
        let pb = ctx.progress(0, "verify");
        let r = store.verify(
            &VerifyOptions {
                refs: args.refs.clone(),
                all: args.all,
            },
            &|n| pb.inc(n),
        )?;
        pb.finish_and_clear();
        r
    };
    // The verdict is the exit code even when nobody reads the listing (`| head`).
    let printed = print(ctx, args, &report);
    if !report.ok() {
        return Err(Failed {
            message: format!("verification found {} problem(s)", report.problems.len()),
            hint: Some("restore the damaged objects from a copy of the store; `dstore reindex` rebuilds a damaged catalog".into()),
            code: 2,
        }
        .into());
    }
    printed
}

fn print(ctx: &Context, args: &Args, report: &VerifyReport) -> Result<()> {
    if ctx.json {
        print_json(&serde_json::to_value(report)?)?;
    } else {
        for p in &report.problems {
            outln!("problem: {}: {}", p.path.display(), p.detail)?;
        }
        let verdict = if report.ok() {
            "ok".to_owned()
        } else {
            format!("{} problem(s)", report.problems.len())
        };
        if let Some(dir) = &args.checkout {
            outln!(
                "Checked {} file(s) ({}) in {} against {}: {verdict}",
                report.files,
                output::bytes(report.bytes),
                dir.display(),
                dstore::checkout::CHECKOUT_MANIFEST
            )?;
        } else {
            let extra = if report.expired > 0 {
                format!(" ({} expired: manifest only)", report.expired)
            } else {
                String::new()
            };
            let uses = if report.uses > 0 {
                format!(", {} use record(s) and retirement(s)", report.uses)
            } else {
                String::new()
            };
            outln!(
                "Checked {} log record(s), {} snapshot(s){extra}, {} page(s), {} segment(s) ({}){uses}: {verdict}",
                report.records,
                report.snapshots,
                report.pages,
                report.files,
                output::bytes(report.bytes),
            )?;
        }
    }
    Ok(())
}
