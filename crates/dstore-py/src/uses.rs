//! Use records, expiry, gc and lineage for Python: `dstore.record_use`, `Store.uses`,
//! `Store.retire_use`, `Store.expire`, `Store.gc`, `Snapshot.lineage`, and the automatic
//! recording of pinned opens (`Pin.resolve`).

use std::sync::atomic::{AtomicBool, Ordering};

use dstore::uses::{Recorded, UseSpec};
use dstore::{SnapshotId, Store};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::json_to_py;
use crate::errors::{OrRaise, invalid};
use crate::store::default_author;

/// What a use was recorded of: a snapshot of a store, and the table a pin named.
pub(crate) struct Target {
    pub(crate) store: Store,
    pub(crate) id: SnapshotId,
    pub(crate) table: Option<String>,
}

/// A `record_use` call's arguments after extraction.
#[derive(Default)]
pub(crate) struct UseArgs {
    pub(crate) run: String,
    pub(crate) tables: Option<Vec<String>>,
    pub(crate) columns: Option<Vec<String>>,
    pub(crate) filter: Option<String>,
    pub(crate) seed: Option<u64>,
    pub(crate) lock: Option<String>,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) author: Option<String>,
}

fn recorded_to_py(py: Python<'_>, r: &Recorded) -> PyResult<Py<PyAny>> {
    let d = PyDict::new(py);
    d.set_item("key", &r.key)?;
    d.set_item("created", r.created)?;
    d.set_item(
        "retired",
        r.retired.as_ref().map(|t| {
            serde_json::json!({"author": t.author, "reason": t.reason, "time_micros": t.time_micros})
                .to_string()
        }),
    )?;
    d.set_item("live", r.retired.is_none())?;
    Ok(d.into_any().unbind())
}

/// Records the use; the lock hash is 64 hex digits.
pub(crate) fn record(py: Python<'_>, t: &Target, a: UseArgs) -> PyResult<Py<PyAny>> {
    let lock = match &a.lock {
        None => None,
        Some(h) => Some(
            SnapshotId::from_hex(h)
                .ok_or_else(|| {
                    invalid(
                        format!("lock={h:?} is not a BLAKE3 hash (64 hex digits)"),
                        Some("pass the lock file's hash, or the LockFile"),
                    )
                })?
                .0,
        ),
    };
    let spec = UseSpec {
        run: a.run,
        tables: a
            .tables
            .unwrap_or_else(|| t.table.iter().cloned().collect()),
        columns: a.columns.unwrap_or_default(),
        filter: a.filter,
        seed: a.seed,
        lock,
        author: a.author.unwrap_or_else(default_author),
        labels: a.labels,
        code: None,
    };
    let r = py.detach(|| t.store.record_use(&t.id, &spec)).or_raise()?;
    recorded_to_py(py, &r)
}

/// Set after the first warning about a use that could not be recorded: one per process.
static WARNED: AtomicBool = AtomicBool::new(false);

/// Records the use of a pinned open when a run id is known (from the environment) and
/// recording is on; a failure other than a bad run id is one Python warning per process,
/// never an error of the read.
pub(crate) fn record_automatically(py: Python<'_>, t: &Target) -> PyResult<()> {
    record_automatically_with(py, t, UseArgs::default())
}

/// [`record_automatically`] with what the reader knows of its read (tables, columns, filter,
/// seed, labels); `args.run` is ignored (the run id comes from the environment).
pub(crate) fn record_automatically_with(
    py: Python<'_>,
    t: &Target,
    mut args: UseArgs,
) -> PyResult<()> {
    if !dstore::uses::recording_enabled() {
        return Ok(());
    }
    let Some((run, _)) = dstore::uses::run_from_env() else {
        return Ok(());
    };
    args.run = run;
    if let Err(e) = record(py, t, args)
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        let warnings = py.import("warnings")?;
        warnings.call_method1(
            "warn",
            (format!(
                "dstore: could not record this run's use of {} ({e}); the read goes on. DSTORE_RECORD_USE=0 turns recording off",
                t.id.short(12)
            ),),
        )?;
    }
    Ok(())
}

/// `Store.uses(ref)` / `Store.uses(run=)`: a list of dicts.
pub(crate) fn uses(
    py: Python<'_>,
    store: &Store,
    r#ref: Option<&str>,
    run: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let list = py
        .detach(|| match (run, r#ref) {
            (Some(run), None) => store.uses_by_run(run),
            (Some(_), Some(_)) => Err(dstore::Error::InvalidInput {
                path: None,
                detail: "give a ref or run=, not both".into(),
                hint: None,
            }),
            (None, r) => {
                let id = store.resolve(r.unwrap_or("HEAD"))?.id;
                store.uses_of(&id)
            }
        })
        .or_raise()?;
    let v = serde_json::Value::Array(list.iter().map(dstore::uses::Use::to_json).collect());
    json_to_py(py, &v)
}

/// A duration as seconds (int or float), a `datetime.timedelta`, or text like `90d`.
pub(crate) fn duration_arg(v: &Bound<'_, PyAny>, what: &str) -> PyResult<std::time::Duration> {
    if let Ok(s) = v.extract::<String>() {
        return parse_age(&s).ok_or_else(|| {
            invalid(
                format!("{what}={s:?} is not a duration"),
                Some("give seconds, a datetime.timedelta, or text like \"90d\", \"12h\", \"30m\""),
            )
        });
    }
    let secs: f64 = if let Ok(f) = v.extract::<f64>() {
        f
    } else {
        v.call_method0("total_seconds")
            .and_then(|x| x.extract::<f64>())
            .map_err(|_| invalid(format!("{what} must be seconds, a timedelta or text"), None))?
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(invalid(
            format!("{what} must be a non-negative duration"),
            None,
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// `90d`, `12h`, `30m`, `45s`, `2w` (one number and one unit).
fn parse_age(s: &str) -> Option<std::time::Duration> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(n.checked_mul(secs)?))
}
