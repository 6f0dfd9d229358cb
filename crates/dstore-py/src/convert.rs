//! Small conversions between Rust values and Python ones (JSON values, times).

use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyDict, PyList, PyString};

use crate::errors::invalid;

/// A JSON value as the Python value `json.loads` would give.
pub(crate) fn json_to_py(py: Python<'_>, v: &serde_json::Value) -> PyResult<Py<PyAny>> {
    use serde_json::Value as V;
    Ok(match v {
        V::Null => py.None(),
        V::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        V::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any().unbind()
            } else if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any().unbind()
            } else {
                n.as_f64()
                    .unwrap_or(f64::NAN)
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()
            }
        }
        V::String(s) => PyString::new(py, s).into_any().unbind(),
        V::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(json_to_py(py, x)?)?;
            }
            l.into_any().unbind()
        }
        V::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, json_to_py(py, x)?)?;
            }
            d.into_any().unbind()
        }
    })
}

/// A Python value (dict, list, str, int, float, bool, None) as JSON, through `json.dumps`.
pub(crate) fn py_to_json(v: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    let text: String = if let Ok(s) = v.cast::<PyString>() {
        s.to_str()?.to_owned()
    } else {
        v.py()
            .import("json")?
            .call_method1("dumps", (v,))?
            .extract()?
    };
    serde_json::from_str(&text).map_err(|e| invalid(format!("not valid JSON: {e}"), None))
}

/// Microseconds since the Unix epoch as an aware UTC `datetime`.
pub(crate) fn micros_to_datetime(py: Python<'_>, micros: i64) -> PyResult<Bound<'_, PyAny>> {
    let dt = py.import("datetime")?;
    let utc = dt.getattr("timezone")?.getattr("utc")?;
    let epoch = dt
        .getattr("datetime")?
        .call1((1970, 1, 1, 0, 0, 0, 0, utc))?;
    let delta = dt
        .getattr("timedelta")?
        .call((), Some(&[("microseconds", micros)].into_py_dict(py)?))?;
    epoch.call_method1("__add__", (delta,))
}

/// A time given to `resolve_as_of` as microseconds since the epoch: an `int` (microseconds), a
/// `datetime` (naive = UTC), an RFC 3339 string, or a date `YYYY-MM-DD` (the end of that day,
/// UTC, like the CLI's `--as-of`).
pub(crate) fn parse_time(t: &Bound<'_, PyAny>) -> PyResult<i64> {
    let py = t.py();
    if let Ok(s) = t.cast::<PyString>() {
        let s = s.to_str()?;
        if let Some(t) = dstore::pin::parse_time(s) {
            return Ok(t);
        }
        return Err(invalid(
            format!("`{s}` is not a time"),
            Some("use RFC 3339 (2026-11-24T10:00:00Z) or a date (2026-11-24)"),
        ));
    }
    if let Ok(n) = t.extract::<i64>() {
        return Ok(n);
    }
    let dt = py.import("datetime")?;
    if t.is_instance(&dt.getattr("datetime")?)? {
        let utc = dt.getattr("timezone")?.getattr("utc")?;
        let aware = if t.getattr("tzinfo")?.is_none() {
            t.call_method("replace", (), Some(&[("tzinfo", &utc)].into_py_dict(py)?))?
        } else {
            t.clone()
        };
        let epoch = dt
            .getattr("datetime")?
            .call1((1970, 1, 1, 0, 0, 0, 0, utc))?;
        let one = dt
            .getattr("timedelta")?
            .call((), Some(&[("microseconds", 1)].into_py_dict(py)?))?;
        return aware
            .call_method1("__sub__", (epoch,))?
            .call_method1("__floordiv__", (one,))?
            .extract();
    }
    Err(invalid(
        "expected a datetime, an RFC 3339 string, a date string or microseconds since the epoch",
        None,
    ))
}
