//! Checks for the readers of users' files: Arrow IPC (file and stream format) and Parquet. The
//! input is written to a file and staged into a store through the library, exactly as
//! `dstore snapshot` ingests it (decode, type checks, conversion or adoption with full
//! validation), then the transaction is dropped uncommitted.
//!
//! What must hold for any bytes: nothing panics, and a refusal is a user error (the input's
//! fault, exit code 1) that names the file, never an internal error or corruption. For Arrow
//! IPC, every message is validated before arrow-rs decodes it, so a panic that dstore had to
//! contain (`ingest/contain.rs`) is a failure too: validation missed something. For Parquet the
//! page decoders cannot be validated ahead (that would be decoding), so their contained panics
//! are the designed outcome and only an uncontained one fails.
//!
//! Compiled into the fuzz crate and into the dstore crate's integration tests
//! (`crates/dstore/tests/it/fuzz_inputs.rs`), which replay the committed corpus.

use std::cell::RefCell;
use std::path::PathBuf;

use dstore::{IngestOptions, Store};

/// The words the error of a contained panic starts its detail with (`contain::PANICKED`).
const PANICKED: &str = "the decoder panicked: ";

struct Scratch {
    _dir: tempfile::TempDir,
    store: Store,
    input: PathBuf,
}

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// What became of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Staged: it would have been committed.
    Taken,
    /// Refused with a user error naming the file.
    Refused,
}

fn ingest(data: &[u8], file_name: &str, contained_panic_ok: bool) -> Outcome {
    SCRATCH.with(|cell| {
        let mut cell = cell.borrow_mut();
        let s = cell.get_or_insert_with(|| {
            let dir = tempfile::tempdir().expect("temporary directory");
            let store = Store::init(dir.path().join("store")).expect("init a store");
            let input = dir.path().join("inputs");
            std::fs::create_dir(&input).expect("inputs directory");
            Scratch {
                _dir: dir,
                store,
                input,
            }
        });
        let path = s.input.join(file_name);
        std::fs::write(&path, data).expect("write the input");
        let mut tx = s.store.begin();
        let r = tx.add_files("t", std::slice::from_ref(&path), &IngestOptions::default());
        drop(tx);
        let Err(e) = r else {
            return Outcome::Taken;
        };
        let msg = e.to_string();
        assert!(
            !e.is_internal() && !e.is_corruption(),
            "an input file caused an internal error or was taken for corruption: {msg}"
        );
        assert!(
            msg.contains(file_name),
            "the refusal does not name the file: {msg}"
        );
        assert!(
            contained_panic_ok || !msg.contains(PANICKED),
            "a decoder panicked on input that passed validation: {msg}"
        );
        Outcome::Refused
    })
}

/// An Arrow IPC input: the file format when it starts with `ARROW1`, else the stream format.
pub fn ipc(data: &[u8]) -> Outcome {
    ingest(data, "input.arrow", false)
}

/// A Parquet input, adopted with full validation.
pub fn parquet(data: &[u8]) -> Outcome {
    ingest(data, "input.parquet", true)
}
