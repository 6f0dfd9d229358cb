//! The properties the fuzz targets check, one function per target. Each takes the raw fuzz
//! input, returns normally when the input is rejected or satisfies the property, and panics
//! otherwise.
//!
//! The same files are compiled into the stable test suite, which runs every committed corpus and
//! regression input through them: `format_checks` from
//! `crates/dstore-format/tests/fuzz_corpus.rs`, `dstore_checks` from `crates/dstore/src/pin.rs`,
//! `ingest_checks` from `crates/dstore/tests/it/fuzz_inputs.rs`.

pub mod dstore_checks;
pub mod format_checks;
pub mod ingest_checks;

// `dstore_checks` names the library as `super::dstore`, so that inside the dstore crate it can
// be `crate` instead.
use ::dstore;
