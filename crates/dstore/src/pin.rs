//! [`Pin`]: a snapshot of a store (and optionally one table of it) named by one plain string,
//! for experiment configs.
//!
//! ```text
//! pin   := "dstore://" path "@" ref [ "#" table ]
//! path  := the store directory, 1+ characters. Starts with "/" = absolute
//!          ("dstore:///data/corpus.dstore"); anything else is relative to the current directory,
//!          or to the base directory given to `Pin::resolve_from` ("dstore://corpus.dstore",
//!          "dstore://../shared/corpus.dstore"). No `~` expansion. "@", "#" and "%" are written
//!          %40, %23 and %25; any other %XX escape of UTF-8 bytes is decoded too.
//! ref   := everything after the FIRST "@" up to "#": a store ref, as `dstore show` takes it
//!          (HEAD, HEAD~N, @SEQ, a 64-hex snapshot id, 8+ hex digits of one, a tag, each with an
//!          optional ~N), or a time in braces: "{2026-11-24T10:00:00Z}" (RFC 3339) or
//!          "{2026-11-24}" (the end of that day, UTC) = the snapshot that was HEAD then.
//!          "#" and "%" in a tag are written %23 and %25. A tag whose name starts with "{" can
//!          only be pinned by its id.
//!          Or a store URL: "dstore://s3://bucket/corpus.dstore@v3" names the store at
//!          s3://bucket/corpus.dstore (credentials and endpoint come from the environment, as
//!          for `dstore --store s3://…`; see docs/object-storage.md).
//! table := a table name ([A-Za-z0-9_.-], starting with a letter, digit or "_").
//! ```
//!
//! Examples: `dstore:///srv/data/corpus.dstore@v3#train`, `dstore://corpus.dstore@HEAD~1`,
//! `dstore://corpus.dstore@@12` (log record 12), `dstore://c.dstore@3f9a0c1e`,
//! `dstore://c.dstore@{2026-11-24T10:00:00Z}#eval`.
//!
//! [`Pin::resolve`] turns any pin into a [`ResolvedPin`], whose canonical form names the store by
//! its absolute, symlink-free path and the snapshot by its full id:
//! `dstore:///srv/data/corpus.dstore@<64 hex digits>#train`. That form never changes meaning.
//!
//! A `Pin` (de)serializes as that string, so a config struct holds one as an ordinary field:
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct Config { train: dstore::Pin }
//! let c: Config = serde_json::from_str(r#"{"train": "dstore://corpus.dstore@v3#train"}"#).unwrap();
//! assert_eq!(c.train.reference(), "v3");
//! assert_eq!(c.train.table(), Some("train"));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use dstore_format::{RefSpec, SnapshotId, validate_table_name};

use crate::error::{Error, Result};
use crate::snapshot::Snapshot;
use crate::store::Store;

/// The scheme every pin starts with.
pub const PIN_SCHEME: &str = "dstore://";

const PIN_HINT: &str = "pins look like dstore:///abs/path/data.dstore@v3#train or \
     dstore://data.dstore@HEAD (see docs/pins.md)";

/// A snapshot of a store, and optionally one of its tables, as an experiment config names it:
/// `dstore://PATH@REF[#TABLE]`.
///
/// `PATH` is the store directory: absolute when it starts with `/` (`dstore:///srv/c.dstore`),
/// else relative to the current directory or the base given to [`Pin::resolve_from`]; `@`, `#`
/// and `%` in it are written `%40`, `%23`, `%25`. `REF` is everything after the first `@` up to
/// `#`: HEAD, HEAD~N, @SEQ, a snapshot id or 8+ hex digits of one, a tag (each with an optional
/// `~N`), or a time `{2026-11-24T10:00:00Z}` / `{2026-11-24}` (end of that day, UTC); `#` and `%`
/// in it are written `%23`, `%25`. `TABLE` optionally names one table. The full grammar is in
/// `docs/pins.md`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pin {
    store: PathBuf,
    reference: String,
    table: Option<String>,
}

/// A pin resolved against its store: the snapshot it names now, for good.
#[derive(Debug, Clone)]
pub struct ResolvedPin {
    /// The canonical full pin: absolute store path, full snapshot id, the table if any.
    pub pin: Pin,
    /// The snapshot.
    pub id: SnapshotId,
    /// The commit record that made it, when resolving went through the log.
    pub seq: Option<u64>,
    /// The store, opened at its absolute path.
    pub store: Store,
}

impl ResolvedPin {
    /// Opens the pinned snapshot (reads its manifest; no catalog).
    pub fn snapshot(&self) -> Result<Snapshot> {
        self.store.snapshot(&self.id)
    }
}

impl fmt::Display for ResolvedPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.pin.fmt(f)
    }
}

fn bad_pin(input: &str, what: impl fmt::Display) -> Error {
    Error::InvalidInput {
        path: None,
        detail: format!("`{input}` is not a dstore pin: {what}"),
        hint: Some(PIN_HINT.into()),
    }
}

/// A time as refs, pins and `--as-of` take it: RFC 3339, or a date `YYYY-MM-DD` meaning the
/// last microsecond of that day in UTC. Returns UTC microseconds since the epoch.
pub fn parse_time(inner: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(inner) {
        return Some(t.timestamp_micros());
    }
    let d = chrono::NaiveDate::parse_from_str(inner, "%Y-%m-%d").ok()?;
    Some(
        d.and_hms_micro_opt(23, 59, 59, 999_999)?
            .and_utc()
            .timestamp_micros(),
    )
}

/// Checks a ref; `Err` says what is wrong with it.
fn check_ref(reference: &str) -> std::result::Result<(), String> {
    if let Some(rest) = reference.strip_prefix('{') {
        let inner = rest.strip_suffix('}').ok_or_else(|| {
            format!("the time ref `{reference}` must end with `}}`, as in {{2026-11-24T10:00:00Z}}")
        })?;
        return parse_time(inner).map(|_| ()).ok_or_else(|| {
            format!(
                "`{inner}` is not a time: use RFC 3339 ({{2026-11-24T10:00:00Z}}) or a date ({{2026-11-24}})"
            )
        });
    }
    RefSpec::parse(reference)
        .map(|_| ())
        .map_err(|e| format!("bad ref after `@`: {e}"))
}

fn percent_decode(input: &str, part: &str, s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            // Two hex digits exactly: `u8::from_str_radix` alone would also take "+f".
            let hex = b
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    bad_pin(
                        input,
                        format_args!(
                            "in the {part}, `%` must start an escape of two hex digits (%40 for @, %23 for #, %25 for %)"
                        ),
                    )
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        bad_pin(
            input,
            format_args!("the {part}'s %-escapes do not decode to UTF-8"),
        )
    })
}

fn percent_encode(s: &str, special: &[char], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for c in s.chars() {
        if special.contains(&c) {
            write!(f, "%{:02X}", c as u32)?;
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

impl Pin {
    /// A pin from its parts, checked like a parsed one. `store` must be valid UTF-8.
    pub fn new(
        store: impl Into<PathBuf>,
        reference: impl Into<String>,
        table: Option<String>,
    ) -> Result<Pin> {
        let pin = Pin {
            store: store.into(),
            reference: reference.into(),
            table,
        };
        let shown = || {
            format!(
                "{PIN_SCHEME}{}@{}{}",
                pin.store.display(),
                pin.reference,
                pin.table
                    .as_ref()
                    .map(|t| format!("#{t}"))
                    .unwrap_or_default()
            )
        };
        match pin.store.to_str() {
            None => return Err(bad_pin(&shown(), "the store path is not valid UTF-8")),
            Some("") => return Err(bad_pin(&shown(), "the store path is empty")),
            Some(_) => {}
        }
        check_ref(&pin.reference).map_err(|e| bad_pin(&shown(), e))?;
        if let Some(t) = &pin.table {
            validate_table_name(t)
                .map_err(|e| bad_pin(&shown(), format_args!("after `#`: {e}")))?;
        }
        Ok(pin)
    }

    /// The store path as written (relative paths are relative to the resolving directory).
    pub fn store(&self) -> &Path {
        &self.store
    }

    /// The ref: a tag, HEAD, HEAD~N, @SEQ, an id or prefix, or `{TIME}`.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The table, if the pin names one.
    pub fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }

    /// The same pin naming `table` (or no table).
    pub fn with_table(mut self, table: Option<String>) -> Result<Pin> {
        self.table = table;
        Pin::new(self.store, self.reference, self.table)
    }

    /// Whether this is a canonical full pin: an absolute store path and a full snapshot id.
    pub fn is_full(&self) -> bool {
        (self.store.is_absolute() || self.store_url().is_some()) && self.full_id().is_some()
    }

    /// The snapshot id, when the ref is a full id.
    pub fn full_id(&self) -> Option<SnapshotId> {
        SnapshotId::from_hex(&self.reference)
    }

    /// The store's URL, when the pin names a store in object storage.
    pub fn store_url(&self) -> Option<&str> {
        self.store.to_str().filter(|s| crate::storage::is_url(s))
    }

    /// The store directory, with a relative path taken relative to `base` (a store URL as
    /// it is).
    pub fn store_path(&self, base: &Path) -> PathBuf {
        if self.store.is_absolute() || self.store_url().is_some() {
            self.store.clone()
        } else {
            base.join(&self.store)
        }
    }

    /// Resolves the pin, a relative store path taken relative to the current directory.
    pub fn resolve(&self) -> Result<ResolvedPin> {
        let cwd = std::env::current_dir().map_err(Error::io("read", "the current directory"))?;
        self.resolve_from(&cwd)
    }

    /// Resolves the pin, a relative store path taken relative to `base`: opens the store,
    /// resolves the ref to a full snapshot id and, when the pin names a table, checks that the
    /// snapshot has it.
    pub fn resolve_from(&self, base: &Path) -> Result<ResolvedPin> {
        self.resolve_from_with(base, &crate::storage::RemoteOptions::from_env())
    }

    /// [`Pin::resolve_from`], reaching a store URL with `remote` (endpoint, path style)
    /// instead of the environment's options.
    pub fn resolve_from_with(
        &self,
        base: &Path,
        remote: &crate::storage::RemoteOptions,
    ) -> Result<ResolvedPin> {
        let path = self.store_path(base);
        let store = match self.store_url() {
            Some(url) => Store::open_url(url, remote)?,
            None => Store::open(&path)?,
        };
        let resolved = match self
            .reference
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
        {
            Some(time) => {
                let micros = parse_time(time).ok_or_else(|| {
                    bad_pin(&self.to_string(), format_args!("`{time}` is not a time"))
                })?;
                store.resolve_as_of(micros)?
            }
            None => store.resolve(&self.reference)?,
        };
        if let Some(t) = &self.table {
            store.snapshot(&resolved.id)?.table(t)?;
        }
        if let Some(url) = store.url() {
            return Ok(ResolvedPin {
                pin: Pin {
                    store: PathBuf::from(url),
                    reference: resolved.id.to_hex(),
                    table: self.table.clone(),
                },
                id: resolved.id,
                seq: resolved.seq,
                store,
            });
        }
        let abs =
            std::fs::canonicalize(&path).map_err(Error::io("find the real path of", &path))?;
        if abs.to_str().is_none() {
            return Err(Error::InvalidInput {
                path: Some(abs),
                detail: "the store's path is not valid UTF-8, so no pin can name it".into(),
                hint: Some("move or link the store to a UTF-8 path".into()),
            });
        }
        Ok(ResolvedPin {
            pin: Pin {
                store: abs.clone(),
                reference: resolved.id.to_hex(),
                table: self.table.clone(),
            },
            id: resolved.id,
            seq: resolved.seq,
            store: Store::open(&abs)?,
        })
    }
}

impl FromStr for Pin {
    type Err = Error;

    fn from_str(input: &str) -> Result<Pin> {
        let Some(rest) = input.strip_prefix(PIN_SCHEME) else {
            let what = if input.to_ascii_lowercase().starts_with(PIN_SCHEME) {
                "the scheme is written in lowercase: `dstore://`".to_owned()
            } else if input.starts_with("dstore:") {
                "it must start with `dstore://` (two slashes; three for an absolute path)"
                    .to_owned()
            } else {
                "it must start with `dstore://`".to_owned()
            };
            return Err(bad_pin(input, what));
        };
        let (rest, table) = match rest.split_once('#') {
            Some((r, t)) => (r, Some(t)),
            None => (rest, None),
        };
        let Some((path, reference)) = rest.split_once('@') else {
            return Err(bad_pin(
                input,
                "no `@REF` after the store path (a tag, HEAD, @SEQ, a snapshot id or prefix, or {TIME}), as in dstore://data.dstore@v3",
            ));
        };
        if path.is_empty() {
            return Err(bad_pin(
                input,
                "the store path before `@` is empty, as in dstore://@v3; write dstore://data.dstore@v3 or dstore:///abs/data.dstore@v3",
            ));
        }
        if reference.is_empty() {
            return Err(bad_pin(
                input,
                "the ref after `@` is empty; write a tag, HEAD, @SEQ, a snapshot id or prefix, or {TIME}, as in dstore://data.dstore@HEAD",
            ));
        }
        let table = match table {
            Some("") => {
                return Err(bad_pin(
                    input,
                    "the table after `#` is empty; drop the `#` or name a table, as in dstore://data.dstore@v3#train",
                ));
            }
            Some(t) => {
                validate_table_name(t)
                    .map_err(|e| bad_pin(input, format_args!("after `#`: {e}")))?;
                Some(t.to_owned())
            }
            None => None,
        };
        let path = percent_decode(input, "store path", path)?;
        let reference = percent_decode(input, "ref", reference)?;
        check_ref(&reference).map_err(|e| bad_pin(input, e))?;
        Ok(Pin {
            store: PathBuf::from(path),
            reference,
            table,
        })
    }
}

impl fmt::Display for Pin {
    /// The canonical text: `dstore://PATH@REF[#TABLE]` with `%`, `@` and `#` escaped in the path
    /// and `%` and `#` escaped in the ref.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PIN_SCHEME)?;
        // Pins are built from UTF-8 only (see `Pin::new`).
        percent_encode(&self.store.to_string_lossy(), &['%', '@', '#'], f)?;
        f.write_str("@")?;
        percent_encode(&self.reference, &['%', '#'], f)?;
        if let Some(t) = &self.table {
            write!(f, "#{t}")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for Pin {
    type Error = Error;
    fn try_from(s: String) -> Result<Pin> {
        s.parse()
    }
}

impl TryFrom<&str> for Pin {
    type Error = Error;
    fn try_from(s: &str) -> Result<Pin> {
        s.parse()
    }
}

impl From<Pin> for String {
    fn from(p: Pin) -> String {
        p.to_string()
    }
}

impl serde::Serialize for Pin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Pin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Pin, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Pin;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a dstore pin string such as \"dstore://data.dstore@v3#train\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Pin, E> {
                v.parse::<Pin>().map_err(|e| match e.hint() {
                    Some(h) => E::custom(format!("{e} ({h})")),
                    None => E::custom(e),
                })
            }
        }
        d.deserialize_str(V)
    }
}

// The fuzz targets' checks of pins, lock files and filters, shared with `fuzz/` so that the
// committed fuzz inputs run in the ordinary test suite (`committed_fuzz_inputs` below). They
// name the library `super::dstore`.
#[cfg(test)]
use crate as dstore;
#[cfg(test)]
#[allow(unreachable_pub)]
#[path = "../../../fuzz/src/dstore_checks.rs"]
mod fuzz_checks;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let p: Pin = "dstore:///a/b.dstore@v3#train".parse().unwrap();
        assert_eq!(p.store(), Path::new("/a/b.dstore"));
        assert_eq!(p.reference(), "v3");
        assert_eq!(p.table(), Some("train"));
        assert_eq!(p.to_string(), "dstore:///a/b.dstore@v3#train");
        let p: Pin = "dstore://x%40y/s.dstore@@12".parse().unwrap();
        assert_eq!(p.store(), Path::new("x@y/s.dstore"));
        assert_eq!(p.reference(), "@12");
        assert_eq!(p.to_string(), "dstore://x%40y/s.dstore@@12");
        let p: Pin = "dstore://s@{2026-11-24}".parse().unwrap();
        assert_eq!(p.reference(), "{2026-11-24}");
        assert!("dstore://s@{yesterday}".parse::<Pin>().is_err());
        assert!("dstore://s@v1#".parse::<Pin>().is_err());
        assert!("dstore://s".parse::<Pin>().is_err());
        assert!("dstore://s@bad%zz".parse::<Pin>().is_err());
    }

    /// Found by review while writing the fuzz targets: `%+f` was taken as the escape of 0x0f,
    /// because `u8::from_str_radix` accepts a sign.
    #[test]
    fn percent_escapes_are_two_hex_digits() {
        for bad in [
            "dstore://a%+fb@v1",
            "dstore://s@a%+5",
            "dstore://s@a%-1",
            "dstore://%2@v",
        ] {
            assert!(bad.parse::<Pin>().is_err(), "{bad}");
        }
        let p: Pin = "dstore://a%2Fb%2f@v1".parse().unwrap();
        assert_eq!(p.store(), Path::new("a/b/"));
    }

    /// The committed inputs of a fuzz target: its seed corpus and the inputs that once found a
    /// bug.
    fn fuzz_inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let mut out = Vec::new();
        for kind in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
                continue;
            };
            for e in entries {
                let path = e.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn committed_fuzz_inputs() {
        type Check = fn(&[u8]);
        let targets: [(&str, Check); 3] = [
            ("pin", super::fuzz_checks::pin),
            ("lock", super::fuzz_checks::lock),
            ("filter", super::fuzz_checks::filter),
        ];
        for (target, check) in targets {
            let inputs = fuzz_inputs(target);
            assert!(inputs.len() >= 3, "{target}: {} inputs", inputs.len());
            for (path, bytes) in &inputs {
                if let Err(e) = std::panic::catch_unwind(|| check(bytes)) {
                    std::panic::resume_unwind(Box::new(format!("{}: {e:?}", path.display())));
                }
            }
        }
    }
}
