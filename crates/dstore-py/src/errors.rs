//! The Python exception hierarchy: one class per variant of [`dstore::Error`] that callers act
//! on, all under `dstore.DstoreError`. The message is the Rust error's `Display`; the hint is
//! the exception's `hint` attribute and a `hint: ...` note printed under the traceback, like the
//! CLI's hint line, but in Python's terms (methods and keyword arguments; [`py_hint`]): the
//! library's errors carry no front end's wording.
//!
//! The classes are made at import time with `type(name, bases, ns)` because some have two bases
//! (`NotFound` is a `DstoreError` and a `LookupError`, `InvalidInput` a `ValueError`), which
//! `create_exception!` cannot express.

use pyo3::BoundObject;
use pyo3::exceptions::{PyException, PyLookupError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// The exception classes, by what they mirror.
struct Classes {
    base: Py<PyType>,
    not_found: Py<PyType>,
    ambiguous: Py<PyType>,
    not_a_store: Py<PyType>,
    already_exists: Py<PyType>,
    corruption: Py<PyType>,
    catalog: Py<PyType>,
    unsupported: Py<PyType>,
    invalid: Py<PyType>,
    schema: Py<PyType>,
    tag_exists: Py<PyType>,
    conflict: Py<PyType>,
    io: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// A second base class from Python's own hierarchy.
#[derive(Clone, Copy)]
enum Also {
    Nothing,
    Lookup,
    Value,
}

/// (name, index of the dstore base in the list so far or `None` for the root, second base,
/// docstring), in an order where every base comes first.
type Spec = (&'static str, Option<usize>, Also, &'static str);

const SPECS: [Spec; 13] = [
    (
        "DstoreError",
        None,
        Also::Nothing,
        "Base class of every dstore error. `hint` says what to do next (or is None); `is_corruption` tells damage to the store from user errors.",
    ),
    (
        "NotFound",
        Some(0),
        Also::Lookup,
        "A ref, table, tag or snapshot that does not exist.",
    ),
    (
        "AmbiguousRef",
        Some(0),
        Also::Lookup,
        "An id prefix that matches more than one snapshot (`candidates` lists them).",
    ),
    (
        "NotAStore",
        Some(0),
        Also::Nothing,
        "The directory is not a dstore store (`path`).",
    ),
    (
        "AlreadyExists",
        Some(0),
        Also::Nothing,
        "`Store.init` on a directory that already holds something (`path`).",
    ),
    (
        "CorruptionError",
        Some(0),
        Also::Nothing,
        "A stored object does not match its name or does not decode (`path`): damage to the store.",
    ),
    (
        "CatalogError",
        Some(5),
        Also::Nothing,
        "The catalog (RocksDB) failed; it is derived from the log and `Store.reindex()` rebuilds it.",
    ),
    (
        "UnsupportedFormat",
        Some(0),
        Also::Nothing,
        "The store or an object was written by a newer dstore (`path`, `found`).",
    ),
    (
        "InvalidInput",
        Some(0),
        Also::Value,
        "Bad input: data that cannot be read, a bad name, pin, filter or argument (`path` when a file is involved).",
    ),
    (
        "SchemaMismatch",
        Some(8),
        Also::Nothing,
        "Input whose schema does not match the table's (`table`, `differences`).",
    ),
    (
        "TagExists",
        Some(0),
        Also::Nothing,
        "A tag that exists already (`tag`, `target`); pass `force=True` to move it.",
    ),
    (
        "CommitConflict",
        Some(0),
        Also::Nothing,
        "A commit lost the race for a sequence number too many times in a row.",
    ),
    (
        "IoError",
        Some(0),
        Also::Nothing,
        "An I/O operation on a path failed (`path`; `errno` is the OS error number).",
    ),
];

fn build(py: Python<'_>) -> PyResult<Classes> {
    let type_ = py.get_type::<PyType>();
    let mut made: Vec<Py<PyType>> = Vec::new();
    for (name, parent, extra, doc) in SPECS {
        let mut bases: Vec<Bound<'_, PyType>> = Vec::new();
        match parent {
            Some(i) => bases.push(made[i].bind(py).clone()),
            None => bases.push(py.get_type::<PyException>()),
        }
        match extra {
            Also::Nothing => {}
            Also::Lookup => bases.push(py.get_type::<PyLookupError>()),
            Also::Value => bases.push(py.get_type::<PyValueError>()),
        }
        let ns = PyDict::new(py);
        ns.set_item("__doc__", doc)?;
        ns.set_item("__module__", "dstore")?;
        let cls = type_.call1((name, PyTuple::new(py, bases)?, ns))?;
        made.push(cls.cast_into::<PyType>()?.unbind());
    }
    let mut it = made.into_iter();
    let mut next = || it.next().expect("one class per spec");
    Ok(Classes {
        base: next(),
        not_found: next(),
        ambiguous: next(),
        not_a_store: next(),
        already_exists: next(),
        corruption: next(),
        catalog: next(),
        unsupported: next(),
        invalid: next(),
        schema: next(),
        tag_exists: next(),
        conflict: next(),
        io: next(),
    })
}

fn classes(py: Python<'_>) -> &Classes {
    CLASSES.get_or_init(py, || {
        build(py).expect("creating the dstore exception classes")
    })
}

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let c = classes(m.py());
    for cls in [
        &c.base,
        &c.not_found,
        &c.ambiguous,
        &c.not_a_store,
        &c.already_exists,
        &c.corruption,
        &c.catalog,
        &c.unsupported,
        &c.invalid,
        &c.schema,
        &c.tag_exists,
        &c.conflict,
        &c.io,
    ] {
        let cls = cls.bind(m.py());
        m.add(cls.name()?, cls)?;
    }
    Ok(())
}

fn obj<'py, T: IntoPyObject<'py>>(py: Python<'py>, v: T) -> Py<PyAny> {
    v.into_pyobject(py)
        .map_or_else(|_| py.None(), |b| b.into_any().unbind())
}

fn path_str(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// Converts a library error into the matching Python exception.
pub(crate) fn to_py(e: dstore::Error) -> PyErr {
    use dstore::Error as E;
    Python::attach(|py| {
        let c = classes(py);
        let mut attrs: Vec<(&str, Py<PyAny>)> = Vec::new();
        let cls = match &e {
            E::NotFound { .. } => &c.not_found,
            E::Expired {
                snapshot,
                author,
                reason,
                ..
            } => {
                attrs.push(("snapshot", obj(py, snapshot.clone())));
                attrs.push(("expired_by", obj(py, author.clone())));
                attrs.push(("reason", obj(py, reason.clone())));
                &c.not_found
            }
            E::AmbiguousRef { candidates, .. } => {
                attrs.push(("candidates", obj(py, candidates.clone())));
                &c.ambiguous
            }
            E::NotAStore { path } => {
                attrs.push(("path", obj(py, path_str(path))));
                &c.not_a_store
            }
            E::AlreadyExists { path } => {
                attrs.push(("path", obj(py, path_str(path))));
                &c.already_exists
            }
            E::Corrupted { path, .. } => {
                attrs.push(("path", obj(py, path_str(path))));
                &c.corruption
            }
            E::Catalog { path, .. } => {
                attrs.push(("path", obj(py, path_str(path))));
                &c.catalog
            }
            E::UnsupportedFormat { path, found, .. } => {
                attrs.push(("path", obj(py, path_str(path))));
                attrs.push(("found", obj(py, *found)));
                &c.unsupported
            }
            E::InvalidInput { path, .. } | E::Lock { path, .. } => {
                attrs.push(("path", obj(py, path.as_deref().map(path_str))));
                &c.invalid
            }
            // Refusals of what was asked, raised as `InvalidInput` (a `ValueError`) as before
            // they had variants of their own.
            E::ReadersRefuse { path, column, .. } => {
                attrs.push(("path", obj(py, path_str(path))));
                attrs.push(("column", obj(py, column.clone())));
                &c.invalid
            }
            E::UnstorableType { path, columns, .. } => {
                attrs.push(("path", obj(py, path_str(path))));
                let names: Vec<String> = columns.iter().map(|c| c.column.clone()).collect();
                attrs.push(("columns", obj(py, names)));
                &c.invalid
            }
            E::SeveralStores { dir: path, .. }
            | E::CheckoutTargetNotEmpty { dir: path, .. }
            | E::NotACheckout { dir: path, .. } => {
                attrs.push(("path", obj(py, path_str(path))));
                &c.invalid
            }
            E::NotACommit { .. } | E::NothingToCommit | E::RemoteConfig { .. } => &c.invalid,
            E::UnknownFiles { dir, files } => {
                attrs.push(("path", obj(py, path_str(dir))));
                attrs.push((
                    "files",
                    obj(py, files.iter().map(|f| path_str(f)).collect::<Vec<_>>()),
                ));
                &c.invalid
            }
            E::PreparedMismatch {
                description,
                segment,
                input,
                problem,
                ..
            } => {
                use dstore::error::PreparedProblem as P;
                attrs.push(("path", obj(py, path_str(description))));
                attrs.push(("segment", obj(py, segment.to_hex())));
                attrs.push(("source", obj(py, path_str(input))));
                let problem = match problem {
                    P::Missing => "missing",
                    P::Size => "size",
                    P::Stale => "stale",
                    _ => "footer",
                };
                attrs.push(("problem", obj(py, problem)));
                &c.invalid
            }
            E::DuplicateData(d) => {
                attrs.push(("path", obj(py, path_str(&d.path))));
                attrs.push(("table", obj(py, d.table.clone())));
                &c.invalid
            }
            E::SchemaMismatch {
                table,
                path,
                differences,
            } => {
                attrs.push(("table", obj(py, table.clone())));
                attrs.push(("path", obj(py, path_str(path))));
                attrs.push(("differences", obj(py, differences.clone())));
                &c.schema
            }
            E::TagExists { name, target } => {
                attrs.push(("tag", obj(py, name.clone())));
                attrs.push(("target", obj(py, target.clone())));
                &c.tag_exists
            }
            E::CommitConflict { .. } => &c.conflict,
            E::Io { path, source, .. } | E::IngestIo { path, source, .. } => {
                attrs.push(("path", obj(py, path_str(path))));
                attrs.push(("errno", obj(py, source.raw_os_error())));
                &c.io
            }
            _ => &c.base,
        };
        let hint = py_hint(&e);
        attrs.push(("hint", obj(py, hint.clone())));
        attrs.push(("is_corruption", obj(py, e.is_corruption())));
        let err = PyErr::from_type(cls.bind(py).clone(), (e.to_string(),));
        let value = err.value(py);
        // Setting attributes and notes on a fresh exception cannot fail in practice; if it did,
        // the exception without them is still the right one to raise.
        for (name, v) in attrs {
            let _ = value.setattr(name, v);
        }
        if let Some(h) = hint {
            let _ = value.call_method1("add_note", (format!("hint: {h}"),));
        }
        err
    })
}

/// What to do next, in the terms of the Python API; else the library's advice about the input.
pub(crate) fn py_hint(e: &dstore::Error) -> Option<String> {
    use dstore::{Error as E, error::LockProblem as L, error::RemoteSetting as R};
    let h = match e {
        E::NotAStore { .. } => "create one with `dstore.Store.init(path)`, or open the right path",
        E::AlreadyExists { .. } => {
            "choose a new or empty directory (or a prefix that holds no object)"
        }
        E::Corrupted { .. } => {
            "`store.verify(all=True)` lists every damaged object; restore them from a copy of the store"
        }
        E::UnsupportedFormat { .. } => "upgrade dstore to a version that reads this format",
        E::NotFound { .. } => "`store.log()` lists commits, `store.tags()` lists tags",
        E::Expired { .. } => {
            "pin a snapshot that is not expired (`store.log()` lists expiries); `store.uses()` and `store.expire(keep_locks=)` protect the snapshots runs need"
        }
        E::AmbiguousRef { .. } => "give more hex digits of the id",
        E::SchemaMismatch { .. } => {
            "convert the input to the table's schema, `tx.set_mode(table, \"overwrite\")` to replace the table, or `rewrite=True` to cast Parquet input"
        }
        E::TagExists { .. } => "pass `force=True` to move it (the move is recorded in the log)",
        E::CommitConflict { .. } => "retry; other writers are committing to this store",
        E::UnsafeBackend { .. } => {
            "use a backend with conditional writes (AWS S3, Ceph RGW, MinIO, R2), or, if only one process ever writes to this store, set DSTORE_SINGLE_WRITER=1"
        }
        E::Catalog { .. } => "the catalog is derived from the log: `store.reindex()` rebuilds it",
        E::NotACommit { .. } => "`store.log()` shows which records are commits",
        E::SeveralStores { .. } => "open one of them with `dstore.Store.open(path)`",
        E::NothingToCommit => {
            "add data with `tx.add(table, data)` or `tx.add_files(table, paths)` (inputs without rows add nothing)"
        }
        E::UnknownFiles { .. } => {
            "pass `skip_unknown=True` to add the data files and skip these, or move them out of the directory"
        }
        E::DuplicateData(d) if d.earlier.is_some() => {
            "leave one of the two out; pass `allow_duplicates=True` to add both anyway"
        }
        E::DuplicateData(_) => {
            "it was committed already, so there is nothing to add; pass `allow_duplicates=True` to append it again anyway"
        }
        E::CheckoutTargetNotEmpty { .. } => {
            "choose an empty directory, or pass `force=True` to replace an earlier checkout there"
        }
        E::NotACheckout { .. } => "point it at a directory written by `store.checkout`",
        E::Lock { problem, .. } => match problem {
            L::Unreadable | L::Version | L::NoEntry | L::ConfigChanged => {
                "regenerate the lock with `dstore lock CONFIG`"
            }
            L::DuplicateEntry => "give every pin its own name",
            L::Stale => "re-run `dstore lock` to accept the new data, or restore the store",
            _ => return e.hint().map(str::to_owned),
        },
        E::RemoteConfig { setting, .. } => match setting {
            R::Client => {
                "set AWS_REGION, AWS_ENDPOINT_URL and credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) in the environment"
            }
            R::CacheDir => "set DSTORE_REMOTE_CACHE to a directory",
            _ => return e.hint().map(str::to_owned),
        },
        E::Interrupted => {
            "the ingest was stopped and its staged files removed; the store is as it was: add the data again"
        }
        E::Internal { .. } => {
            "this is a bug in dstore: please report it with the call that failed; nothing was committed"
        }
        _ => return e.hint().map(str::to_owned),
    };
    Some(h.to_owned())
}

/// Library results into Python ones.
pub(crate) trait OrRaise<T> {
    /// Maps the error to its Python exception.
    fn or_raise(self) -> PyResult<T>;
}

impl<T> OrRaise<T> for dstore::Result<T> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// An `InvalidInput` raised by the bindings themselves (a bad argument value).
pub(crate) fn invalid(detail: impl Into<String>, hint: Option<&str>) -> PyErr {
    to_py(dstore::Error::InvalidInput {
        path: None,
        detail: detail.into(),
        hint: hint.map(str::to_owned),
    })
}
