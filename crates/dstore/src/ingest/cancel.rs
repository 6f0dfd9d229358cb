//! [`Cancel`]: stopping an ingest from another thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// A token that stops an ingest from another thread (a signal handler, a UI's cancel button).
///
/// The ingest looks at it before each batch it converts, each step of a Parquet copy and each
/// row group it validates, and before each input file; once it is set, the ingest returns
/// [`Error::Interrupted`] and its staged files are removed, as for any failed ingest (they are
/// removed when the [`crate::Transaction`] holding them is dropped). A commit never looks at
/// it: once a commit has started, it finishes. Clones share one flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A token that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the token: every ingest that holds it stops at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the token was set.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// [`Error::Interrupted`] once the token is set.
    pub(crate) fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let a = Cancel::new();
        let b = a.clone();
        assert!(a.check().is_ok());
        b.cancel();
        assert!(a.is_cancelled());
        assert!(matches!(a.check(), Err(Error::Interrupted)));
        assert!(!Cancel::default().is_cancelled());
    }
}
