//! `dstore lock CONFIG [--output PATH] [--check]`: resolve every pin of an experiment config
//! into a lock file, or check an existing lock against the config and the stores.

use std::path::{Path, PathBuf};

use anyhow::Result;
use dstore::{LockFile, Pin, lock::LOCK_FILE_NAME, pin::PIN_SCHEME};
use serde_json::{Value, json};

use super::{Context, print_json, user_error};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The experiment config: TOML (.toml), YAML (.yaml, .yml) or JSON (.json). Every string
    /// value in it that starts with dstore:// is a pin, named by its dotted key path.
    #[arg(value_name = "CONFIG")]
    config: PathBuf,
    /// The lock file [default: dstore.lock beside the config].
    #[arg(long, short, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Check the existing lock against the config and the stores instead of writing it; exit 1
    /// if anything differs.
    #[arg(long)]
    check: bool,
    /// Record that this run uses every locked snapshot (default: $DSTORE_RUN, else
    /// MLFLOW_RUN_ID, WANDB_RUN_ID, TORCHELASTIC_RUN_ID, SLURM_JOB_ID; none with
    /// DSTORE_RECORD_USE=0). `dstore uses REF` then lists the run; expire keeps the snapshot.
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
}

/// Records `run`'s use of every pin of `lock` (a warning, not a failure, for a store that
/// cannot be written).
fn record_lock_uses(lock: &LockFile, run: &str) -> Result<()> {
    for (name, r) in lock.record_uses(run, &Context::author(None))? {
        if let Err(e) = r {
            if matches!(e, dstore::Error::InvalidInput { .. }) {
                return Err(e.into());
            }
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr().lock(),
                format_args!("warning: could not record that run {run} uses `{name}`: {e}\n"),
            );
        }
    }
    Ok(())
}

fn config_error(path: &Path, detail: String, hint: Option<&str>) -> dstore::Error {
    dstore::Error::InvalidInput {
        path: Some(path.to_owned()),
        detail,
        hint: hint.map(str::to_owned),
    }
}

/// Parses a config file into a JSON-like tree, by its extension.
fn read_config(path: &Path) -> Result<Value> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let parse = |text: &str| -> std::result::Result<Value, String> {
        match ext.as_str() {
            "toml" => toml::from_str::<toml::Table>(text)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::to_value(t).map_err(|e| e.to_string())),
            "yaml" | "yml" => serde_norway::from_str::<serde_norway::Value>(text)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::to_value(t).map_err(|e| e.to_string())),
            _ => serde_json::from_str::<Value>(text).map_err(|e| e.to_string()),
        }
    };
    if !matches!(ext.as_str(), "toml" | "yaml" | "yml" | "json") {
        return Err(config_error(
            path,
            "cannot tell the config's format from its extension".into(),
            Some("name it *.toml, *.yaml, *.yml or *.json"),
        )
        .into());
    }
    let text = std::fs::read_to_string(path).map_err(|source| dstore::Error::Io {
        op: "read",
        path: path.to_owned(),
        source,
    })?;
    parse(&text).map_err(|e| {
        config_error(
            path,
            format!("not valid {}: {}", ext.to_uppercase(), e.trim_end()),
            None,
        )
        .into()
    })
}

/// One key of a dotted path: bare when it is `[A-Za-z0-9_-]+`, else quoted.
fn key_segment(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_owned()
    } else {
        serde_json::to_string(k).expect("strings serialize")
    }
}

/// Every string starting with `dstore://`, with its key path (`data.train`, `runs[0].eval`).
fn find_pins(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) if s.starts_with(PIN_SCHEME) => {
            let name = if at.is_empty() { "root" } else { at };
            out.push((name.to_owned(), s.clone()));
        }
        Value::Object(m) => {
            for (k, v) in m {
                let seg = key_segment(k);
                let next = if at.is_empty() {
                    seg
                } else {
                    format!("{at}.{seg}")
                };
                find_pins(v, &next, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                find_pins(v, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The config's pins, by key path.
fn config_pins(config: &Path) -> Result<Vec<(String, Pin)>> {
    let tree = read_config(config)?;
    let mut found = Vec::new();
    find_pins(&tree, "", &mut found);
    if found.is_empty() {
        return Err(config_error(
            config,
            format!("no string value in it starts with {PIN_SCHEME}"),
            Some("pins look like dstore://data.dstore@v3#train (see docs/pins.md)"),
        )
        .into());
    }
    found
        .into_iter()
        .map(|(name, text)| match text.parse::<Pin>() {
            Ok(p) => Ok((name, p)),
            Err(dstore::Error::InvalidInput { detail, hint, .. }) => {
                Err(config_error(config, format!("at `{name}`: {detail}"), hint.as_deref()).into())
            }
            Err(e) => Err(e.into()),
        })
        .collect()
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let run = super::run_id(args.run.as_ref())?;
    let pins = config_pins(&args.config)?;
    let out = args.output.clone().unwrap_or_else(|| {
        args.config
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(LOCK_FILE_NAME)
    });
    if args.check {
        if !out.exists() {
            return Err(user_error(
                format!("no lock file at {}", out.display()),
                Some("create it with `dstore lock CONFIG`"),
            ));
        }
        let lock = LockFile::read(&out)?;
        lock.check_config(&pins)?;
        lock.check()?;
        if let Some(run) = &run {
            record_lock_uses(&lock, run)?;
        }
        if ctx.json {
            print_json(&json!({"lock": out, "ok": true, "pins": lock.pins.len()}))?;
        } else {
            outln!(
                "{}: {} pin{} match the config and the stores",
                out.display(),
                lock.pins.len(),
                if lock.pins.len() == 1 { "" } else { "s" }
            )?;
        }
        return Ok(());
    }
    let old = LockFile::read(&out).ok();
    let mut lock = LockFile::lock(&pins)?;
    lock.write(&out)?;
    if let Some(run) = &run {
        record_lock_uses(&lock, run)?;
    }
    if ctx.json {
        print_json(&json!({
            "lock": out,
            "pins": lock.pins.iter().map(|(name, e)| (name.clone(), json!({
                "pin": e.pin,
                "requested": e.requested,
                "snapshot": e.snapshot,
                "tables": e.tables.iter().map(|(t, lt)| (t.clone(), json!({
                    "rows": lt.rows, "schema_blake3": lt.schema_blake3,
                }))).collect::<serde_json::Map<_, _>>(),
            }))).collect::<serde_json::Map<_, _>>(),
        }))?;
        return Ok(());
    }
    let width = lock.pins.keys().map(String::len).max().unwrap_or(0);
    for (name, e) in &lock.pins {
        let rows: u64 = e.tables.values().map(|t| t.rows).sum();
        let was = match old.as_ref().and_then(|o| o.get(name)) {
            None => " (new)".to_owned(),
            Some(o) if o.snapshot == e.snapshot => String::new(),
            Some(o) => format!(" (was {})", &o.snapshot[..12.min(o.snapshot.len())]),
        };
        outln!(
            "{name:<width$}  {}  {rows} rows  {}{was}",
            &e.snapshot[..12],
            e.requested.as_deref().unwrap_or(&e.pin),
        )?;
    }
    outln!(
        "Wrote {} ({} pin{}){}",
        out.display(),
        lock.pins.len(),
        if lock.pins.len() == 1 { "" } else { "s" },
        run.map_or_else(String::new, |r| format!(
            "; recorded that run {r} uses them"
        ))
    )?;
    Ok(())
}
