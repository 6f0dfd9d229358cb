//! `dstore diff OLD NEW --stats [-t TABLE] [--rules drift.toml] [--html FILE] [--fail-on-drift]`:
//! the drift report between two snapshots, from their merged column profiles (docs/drift.md).

use std::path::PathBuf;

use anyhow::Result;
use dstore::Snapshot;
use dstore::profile::drift::{DriftReport, DriftRules, TableDrift};

use super::stats::num;
use super::{Context, Failed, print_json};

/// The flags of `diff` that belong to the drift report.
#[derive(Debug, clap::Args)]
pub(crate) struct DriftArgs {
    /// Compare the columns' distributions (drift tests on the merged profiles).
    #[arg(long)]
    pub(crate) stats: bool,
    /// Per-column tests and thresholds, and the dataset drift share (TOML; docs/drift.md).
    #[arg(long, value_name = "FILE", requires = "stats")]
    rules: Option<PathBuf>,
    /// Also write the report as one self-contained HTML file with a plot per column.
    #[arg(long, value_name = "FILE", requires = "stats")]
    html: Option<PathBuf>,
    /// Exit with code 3 when drift (or a schema change) is found.
    #[arg(long, requires = "stats")]
    fail_on_drift: bool,
}

pub(crate) fn stats(
    old: &Snapshot,
    new: &Snapshot,
    tables: &[String],
    args: &DriftArgs,
    ctx: &Context,
) -> Result<()> {
    let rules = match &args.rules {
        Some(p) => DriftRules::load(p)?,
        None => DriftRules::default(),
    };
    let report = dstore::profile::drift::diff_stats(old, new, tables, &rules)?;
    if let Some(path) = &args.html {
        write_html(path, &report)?;
    }
    let printed = if ctx.json {
        print_json(&serde_json::to_value(&report)?).map_err(anyhow::Error::from)
    } else {
        print_text(&report, args.html.as_deref())
    };
    if args.fail_on_drift && report.drifted {
        return Err(Failed {
            message: "drift found".into(),
            hint: None,
            code: 3,
        }
        .into());
    }
    printed
}

fn write_html(path: &std::path::Path, r: &DriftReport) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("--html {} names no file", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".tmp-");
    tmp_name.push(name);
    let tmp = path.with_file_name(tmp_name);
    // A temp file beside it, synced and renamed over it: a reader never sees half a report.
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, dstore::profile::to_html(r).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("could not write {}: {e}", path.display())
    })
}

fn print_text(r: &DriftReport, html: Option<&std::path::Path>) -> Result<()> {
    outln!("Drift {} -> {}", &r.old[..12], &r.new[..12])?;
    for t in &r.tables {
        print_table(t, r.drift_share_threshold)?;
    }
    if let Some(p) = html {
        outln!()?;
        outln!("Report written to {}", p.display())?;
    }
    Ok(())
}

fn print_table(t: &TableDrift, threshold: f64) -> std::io::Result<()> {
    outln!()?;
    outln!(
        "table {}: rows {} -> {}, {} segment(s) shared{}",
        t.table,
        t.rows.0,
        t.rows.1,
        t.segments_shared,
        if t.profiles_computed > 0 {
            format!(", {} profile(s) computed now", t.profiles_computed)
        } else {
            String::new()
        }
    )?;
    for s in &t.schema_changes {
        if s.column.is_empty() {
            outln!("  schema: {}", s.change)?;
        } else {
            outln!(
                "  schema: column `{}` {}{}",
                s.column,
                s.change,
                match (&s.old, &s.new) {
                    (Some(a), Some(b)) => format!(" ({a} -> {b})"),
                    (None, Some(b)) => format!(" ({b})"),
                    (Some(a), None) => format!(" (was {a})"),
                    _ => String::new(),
                }
            )?;
        }
    }
    let width = t
        .columns
        .iter()
        .map(|c| c.column.len())
        .max()
        .unwrap_or(6)
        .max(6);
    for c in &t.columns {
        let test = match (c.test, c.score, c.threshold) {
            (Some(k), Some(s), Some(th)) => format!(
                "{:<13} {:>10} {} {th}",
                k.name(),
                num(s),
                match (k.is_p_value(), c.drifted) {
                    (true, _) if s < th => "<",
                    (true, _) => "≥",
                    (false, _) if s >= th => "≥",
                    _ => "<",
                }
            ),
            _ => format!("{:<13} {:>10}", "-", "-"),
        };
        outln!(
            "  {:<6} {:<width$} {:<8} {test}  nulls {:.1}% -> {:.1}%{}",
            if c.drifted { "DRIFT" } else { "ok" },
            c.column,
            dstore::profile::kind_name(c.kind),
            c.null_rate.0 * 100.0,
            c.null_rate.1 * 100.0,
            if c.reasons.is_empty() {
                String::new()
            } else {
                format!("  [{}]", c.reasons.join("; "))
            }
        )?;
    }
    outln!(
        "  drifted columns: {} of {} tested ({:.0}%); dataset drift: {} (at {:.0}%)",
        t.drifted_columns,
        t.tested,
        t.drift_share * 100.0,
        if t.dataset_drift { "YES" } else { "no" },
        threshold * 100.0
    )
}
