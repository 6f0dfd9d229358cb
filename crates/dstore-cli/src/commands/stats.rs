//! `dstore stats [REF] -t TABLE [--columns a,b] [--since OLD]`: the merged column profiles of
//! a table, or of just the rows it has that OLD lacks.

use anyhow::Result;
use dstore::profile::ColumnSummary;

use super::{Context, RefArg, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    at: RefArg,
    /// The table.
    #[arg(short = 't', long = "table", value_name = "TABLE")]
    table: String,
    /// Columns to show, comma-separated (default all; a struct or list includes its fields).
    #[arg(long, value_delimiter = ',')]
    columns: Vec<String>,
    /// Profile only the rows this snapshot has and OLD has not (the rows of `dstore cat
    /// --since OLD`): segments OLD lacks by their stored profiles, rewritten segments by
    /// profiling just their new rows.
    #[arg(long, value_name = "OLD")]
    since: Option<String>,
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let store = ctx.store()?;
    let snap = store.snapshot(&args.at.resolve(&store)?.id)?;
    let old = match &args.since {
        Some(r) => Some(store.snapshot(&super::since_ref(&store, r)?)?),
        None => None,
    };
    let profile = match &old {
        Some(old) => snap.profile_since(&args.table, old)?,
        None => snap.profile(&args.table)?,
    };
    let summary = profile.summary(&args.columns)?;
    if ctx.json {
        let mut v = serde_json::json!({
            "snapshot": snap.id().to_hex(),
            "table": profile.table,
            "rows": profile.rows,
            "segments": profile.segments,
            "profiles_computed": profile.computed,
            "columns": serde_json::to_value(&summary)?,
        });
        if let Some(old) = &old {
            v["since"] = old.id().to_hex().into();
            v["segments_partial"] = profile.partial.into();
        }
        return Ok(print_json(&v)?);
    }
    let mut notes = Vec::new();
    if profile.computed > 0 {
        notes.push(format!(
            "{} profile(s) computed now and stored",
            profile.computed
        ));
    }
    if profile.partial > 0 {
        notes.push(format!(
            "{} rewritten segment(s) profiled from their new rows",
            profile.partial
        ));
    }
    outln!(
        "{} @ {}{}: {} {}rows in {} segment(s){}",
        profile.table,
        snap.id().short(12),
        old.as_ref()
            .map_or_else(String::new, |o| format!(" since {}", o.id().short(12))),
        profile.rows,
        if old.is_some() { "new " } else { "" },
        profile.segments,
        if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join("; "))
        }
    )?;
    for c in &summary {
        print_column(c)?;
    }
    Ok(())
}

#[allow(clippy::float_cmp)] // integral values print without decimals
pub(crate) fn num(x: f64) -> String {
    if x.is_finite() && x == x.trunc() && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.is_finite() && (x.abs() >= 1e6 || (x != 0.0 && x.abs() < 1e-3)) {
        format!("{x:.4e}")
    } else if x.is_finite() {
        format!("{x:.4}")
    } else {
        format!("{x}")
    }
}

fn print_column(c: &ColumnSummary) -> std::io::Result<()> {
    let opt = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), num);
    outln!()?;
    outln!(
        "{} ({}): {} values, {} null ({:.2}%){}",
        c.column,
        dstore::profile::kind_name(c.kind),
        c.count,
        c.nulls,
        if c.count == 0 {
            0.0
        } else {
            c.nulls as f64 * 100.0 / c.count as f64
        },
        if c.nans > 0 {
            format!(", {} NaN", c.nans)
        } else {
            String::new()
        }
    )?;
    if c.min.is_some() {
        outln!(
            "  min {}  max {}  mean {}  std {}",
            opt(c.min),
            opt(c.max),
            opt(c.mean),
            opt(c.std)
        )?;
    }
    if !c.quantiles.is_empty() {
        let q: Vec<String> = dstore::profile::SUMMARY_RANKS
            .iter()
            .zip(&c.quantiles)
            .map(|(r, v)| format!("p{:02.0} {}", r * 100.0, opt(*v)))
            .collect();
        outln!(
            "  {}  (rank error ±{:.2}%)",
            q.join("  "),
            c.rank_error.unwrap_or(0.0) * 100.0
        )?;
    }
    if let Some(d) = c.distinct {
        outln!("  distinct ≈ {}", num(d.round()))?;
    }
    if let (Some(lo), Some(hi), Some(m)) = (c.len_min, c.len_max, c.len_mean) {
        outln!("  length min {lo}  max {hi}  mean {}", num(m))?;
    }
    if !c.top.is_empty() {
        let t: Vec<String> = c
            .top
            .iter()
            .map(|v| format!("{:?} {}", v.value, v.count))
            .collect();
        outln!(
            "  top {}{}",
            t.join(", "),
            if c.top_error > 0 {
                format!(" (counts ±{})", c.top_error)
            } else {
                String::new()
            }
        )?;
    }
    Ok(())
}
