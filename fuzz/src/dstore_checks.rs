//! Checks for the parsers of text users give the `dstore` library: pins (`Pin::from_str`),
//! lock files (`LockFile::from_toml`) and filter expressions (`Expr::parse`). Each writes what it
//! parsed back as text and checks that this text parses to the same value.
//!
//! Compiled into the fuzz crate and, as a test-only module, into `dstore` itself, so it names the
//! library `super::dstore` (the fuzz crate's root and `dstore::pin` both bring it in scope).

use super::dstore::LockFile;
use super::dstore::Pin;
use super::dstore::scan::filter::Expr;

/// A pin: parse → Display → parse gives the same pin, Display is a fixed point, and building
/// the pin from its parts with `Pin::new` accepts it.
pub fn pin(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = text.parse::<Pin>() else {
        return;
    };
    let shown = p.to_string();
    let again: Pin = shown
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} → {shown:?} does not parse: {e}"));
    assert_eq!(again, p, "{text:?} → {shown:?}");
    assert_eq!(again.to_string(), shown);
    let built = Pin::new(p.store(), p.reference(), p.table().map(str::to_owned))
        .unwrap_or_else(|e| panic!("Pin::new refuses the parts of {text:?}: {e}"));
    assert_eq!(built, p);
    assert_eq!(
        p.is_full(),
        p.store().is_absolute() && p.full_id().is_some()
    );
}

/// A lock file: parse → `to_toml` → parse gives the same version and entries.
pub fn lock(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(lock) = LockFile::from_toml(text) else {
        return;
    };
    let written = lock.to_toml().expect("a parsed lock must write");
    let again = LockFile::from_toml(&written)
        .unwrap_or_else(|e| panic!("{text:?} → {written:?} does not parse: {e}"));
    assert_eq!(again.version, lock.version);
    assert_eq!(again.pins, lock.pins, "{text:?} → {written:?}");
    assert_eq!(again.to_toml().expect("writes"), written);
}

/// A filter: parse → Display → parse gives the same expression, and Display is a fixed point.
pub fn filter(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(e) = Expr::parse(text) else {
        return;
    };
    let shown = e.to_string();
    let again = Expr::parse(&shown)
        .unwrap_or_else(|err| panic!("{text:?} → {shown:?} does not parse: {err}"));
    assert_eq!(again, e, "{text:?} → {shown:?}");
    assert_eq!(again.to_string(), shown);
    assert_eq!(again.columns(), e.columns());
}
