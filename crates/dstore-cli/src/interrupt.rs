//! SIGINT and SIGTERM during `dstore snapshot` (and `dstore diff --rows`, which stops the same
//! way through its `RowDiffOptions::cancel`, removing its spill files and partial output).
//!
//! While inputs are ingested, the first signal sets the ingest's [`Cancel`] token: the library
//! stops at its next batch, copy step or file, the transaction's staged files are removed as it
//! is dropped, and the command ends with `error: interrupted; nothing was committed` and exit
//! code 130 (SIGTERM: 143). A second signal ends the process at once (what it staged is left in
//! `tmp/` for `dstore gc`). Once the commit has begun, signals are only noted: a commit is
//! never cut short, so it lands whole and is reported as usual.
//!
//! Other commands keep the default disposition (the signal ends them at once): what they write
//! is crash-safe on its own, and they have nothing staged to remove. A signal that was ignored
//! when the process started stays ignored: a non-interactive shell starts background jobs
//! with SIGINT ignored so that Ctrl-C reaches only the foreground.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use dstore::ingest::Cancel;
use signal_hook::consts::{SIGINT, SIGTERM};

/// The first signal received, 0 if none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The exit code for an interrupted command: 128 + the signal's number, as a shell reports a
/// process the signal ended (130 for SIGINT, 143 for SIGTERM).
pub(crate) fn exit_code() -> u8 {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => 128 + SIGINT as u8,
        sig => 128 + sig as u8,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Ingesting,
    Committing,
}

/// The signals ignored when the process started, as the kernel's mask (bit `n - 1` for signal
/// `n`). Read from `/proc/self/status` (Linux); elsewhere none are taken as ignored.
fn ignored_at_start() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Signal handling for one ingest and its commit (see the module docs).
pub(crate) struct Interrupts {
    cancel: Cancel,
    phase: Arc<Mutex<Phase>>,
}

impl Interrupts {
    /// Starts handling SIGINT and SIGTERM (those not ignored) on a thread of their own.
    pub(crate) fn install() -> std::io::Result<Interrupts> {
        let cancel = Cancel::new();
        let phase = Arc::new(Mutex::new(Phase::Ingesting));
        let ignored = ignored_at_start();
        let handled: Vec<i32> = [SIGINT, SIGTERM]
            .into_iter()
            .filter(|&sig| ignored & (1 << (sig - 1)) == 0)
            .collect();
        if handled.is_empty() {
            return Ok(Interrupts { cancel, phase });
        }
        let mut signals = signal_hook::iterator::Signals::new(handled)?;
        let (token, shared) = (cancel.clone(), phase.clone());
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    // Held while deciding, so the commit cannot begin in between.
                    let phase = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    let first = RECEIVED
                        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok();
                    match *phase {
                        Phase::Committing => {}
                        Phase::Ingesting if first => token.cancel(),
                        Phase::Ingesting => signal_hook::low_level::exit(128 + sig),
                    }
                }
            })?;
        Ok(Interrupts { cancel, phase })
    }

    /// The token to give the ingest.
    pub(crate) fn cancel(&self) -> Cancel {
        self.cancel.clone()
    }

    /// Ends the ingest phase: [`dstore::Error::Interrupted`] if a signal came, else from now on
    /// signals no longer stop the command.
    pub(crate) fn begin_commit(&self) -> dstore::Result<()> {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        if self.cancel.is_cancelled() {
            return Err(dstore::Error::Interrupted);
        }
        *phase = Phase::Committing;
        Ok(())
    }
}
