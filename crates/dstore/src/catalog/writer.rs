//! A writer session: the catalog open for writing under `catalog.lock`, caught up with the log,
//! and the commit protocol every writer of the log uses.

use dstore_format::LogRecord;

use super::{CATALOG_WAIT, Catalog, IndexedLog, IndexedRecord, LogView};
use crate::error::{Error, Result};

/// Attempts at a free sequence number before an append gives up.
pub(crate) const MAX_ATTEMPTS: u32 = 1000;

/// The catalog open for writing, from [`IndexedLog::write`]. Holding one means holding the
/// catalog lock: commits, tag events, pushes and gc are serialised on this machine (other
/// machines sharing an object-storage log are serialised by put-if-absent alone).
pub(crate) struct Writer<'a> {
    index: &'a IndexedLog,
    cat: Catalog,
}

/// A record that landed, what the builder attached to it, and how many sequence numbers were
/// lost to concurrent writers first.
pub(crate) struct Appended<T> {
    pub(crate) record: LogRecord,
    pub(crate) value: T,
    pub(crate) conflicts: u32,
}

impl IndexedLog {
    /// Runs `f` with the catalog open for writing and caught up with the log, holding the
    /// catalog lock only for the duration of `f`.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Writer<'_>) -> Result<T>) -> Result<T> {
        self.storage.check_writable()?;
        let _lock = self.lock()?;
        let path = self.catalog_path();
        let open = || -> Result<Option<Catalog>> {
            match Catalog::open_writable(&path, CATALOG_WAIT) {
                Ok(c) if c.is_current()? && self.matches_log(c.last()?)? => Ok(Some(c)),
                Ok(_) => Ok(None),
                Err(e) => {
                    tracing::warn!("catalog unusable ({e}); rebuilding it from the log");
                    Ok(None)
                }
            }
        };
        let cat = if let Some(c) = open()? {
            c
        } else {
            self.rebuild_locked()?;
            self.count_rebuild();
            Catalog::open_writable(&path, CATALOG_WAIT)?
        };
        self.catch_up(&cat)?;
        f(&Writer { index: self, cat })
    }
}

impl Writer<'_> {
    /// The catalog, caught up with the log.
    pub(crate) fn catalog(&self) -> &Catalog {
        &self.cat
    }

    /// A view of the log as of now.
    pub(crate) fn view(&self) -> LogView<'_> {
        LogView::of_writer(&self.cat)
    }

    /// Appends one record to the log: the commit protocol, written once.
    ///
    /// `build` sees the log as it is (its head, tags, last record) and returns the next record
    /// (from [`LogView::next_record`]) with a value for the caller, or `None` when there is
    /// nothing to write. The record is written put-if-absent on its sequence number; if another
    /// writer took that number, the catalog catches up with what they wrote and `build` runs
    /// again on the new head (appends commute, so a change is re-applied, not lost). After
    /// [`MAX_ATTEMPTS`] lost races it gives up with [`Error::CommitConflict`].
    pub(crate) fn append<T>(
        &self,
        mut build: impl FnMut(&LogView<'_>) -> Result<Option<(LogRecord, T)>>,
    ) -> Result<Option<Appended<T>>> {
        let mut conflicts = 0;
        loop {
            let Some((record, value)) = build(&self.view())? else {
                return Ok(None);
            };
            if self.put(&record)? {
                return Ok(Some(Appended {
                    record,
                    value,
                    conflicts,
                }));
            }
            conflicts += 1;
            if conflicts >= MAX_ATTEMPTS {
                return Err(Error::CommitConflict {
                    attempts: conflicts,
                });
            }
            self.index.catch_up(&self.cat)?;
        }
    }

    /// Writes a record put-if-absent and, when it lands, indexes it. `false` if another writer
    /// took the sequence number first.
    fn put(&self, rec: &LogRecord) -> Result<bool> {
        let Some(bytes) = self.index.log.put_if_absent(rec)? else {
            return Ok(false);
        };
        // The record is durable: the commit has happened. Indexing it is a cache update, so a
        // failure here must not report the commit as failed; the next reader or writer indexes
        // the record from the log (`view`, `catch_up`).
        let indexed = self
            .index
            .added_segments(rec, |s| self.cat.record(s))
            .and_then(|added| {
                self.cat.apply(&[IndexedRecord {
                    record: rec.clone(),
                    hash: dstore_format::RecordHash::of(&bytes),
                    bytes,
                    added,
                }])
            });
        if let Err(e) = indexed {
            tracing::warn!("record {} is committed but not indexed yet: {e}", rec.seq);
        }
        Ok(true)
    }
}
