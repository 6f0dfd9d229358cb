//! The log: one record file per sequence number under `log/`, the source of truth for history
//! and tags (docs/format.md §9). This module reads it and checks its hash chain; writing the
//! next record (put-if-absent, with retry on a lost race) is the catalog writer's
//! [`crate::catalog::Writer::append`], because every record is indexed as it lands.
//!
//! May call: `storage`, `layout`, the format crate.

use std::collections::HashMap;
use std::sync::Arc;

use dstore_format::{LogRecord, RecordHash};

use crate::error::{Error, Result};
use crate::layout::{self, LOG_DIR, record_key};
use crate::storage::Storage;

/// The clock of the log: UTC microseconds since the epoch. A new record's time is never earlier
/// than its predecessor's ([`crate::catalog::LogView::next_record`]).
pub(crate) fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A record as read from the log: decoded, with the hash of its bytes (what the next record
/// names as its predecessor) and the bytes themselves.
pub(crate) struct ReadRecord {
    pub(crate) record: LogRecord,
    pub(crate) hash: RecordHash,
    pub(crate) bytes: Vec<u8>,
}

/// The log of a store.
#[derive(Debug, Clone)]
pub(crate) struct Log {
    storage: Arc<dyn Storage>,
}

impl Log {
    pub(crate) fn new(storage: Arc<dyn Storage>) -> Log {
        Log { storage }
    }

    /// Record `seq`, or `None` when no such file exists.
    pub(crate) fn read(&self, seq: u64) -> Result<Option<ReadRecord>> {
        let key = record_key(seq);
        let Some(bytes) = self.storage.get_opt(&key)? else {
            return Ok(None);
        };
        self.decode(seq, bytes).map(Some)
    }

    fn decode(&self, seq: u64, bytes: Vec<u8>) -> Result<ReadRecord> {
        let key = record_key(seq);
        let record =
            LogRecord::decode(&bytes).map_err(|e| Error::format(self.storage.describe(&key), e))?;
        if record.seq != seq {
            return Err(Error::Corrupted {
                path: self.storage.describe(&key),
                detail: format!("holds record {} instead of {seq}", record.seq),
            });
        }
        Ok(ReadRecord {
            record,
            hash: RecordHash::of(&bytes),
            bytes,
        })
    }

    /// Writes `rec` put-if-absent on its sequence number: `false` if another writer took that
    /// number first. Returns the bytes written.
    pub(crate) fn put_if_absent(&self, rec: &LogRecord) -> Result<Option<Vec<u8>>> {
        let bytes = rec.encode();
        Ok(self
            .storage
            .put_if_absent(&record_key(rec.seq), &bytes)?
            .then_some(bytes))
    }

    /// Whether record `seq` exists and its bytes hash to `hash`.
    pub(crate) fn has_record(&self, seq: u64, hash: RecordHash) -> Result<bool> {
        Ok(self
            .storage
            .get_opt(&record_key(seq))?
            .is_some_and(|b| RecordHash::of(&b) == hash))
    }

    /// Every log record from 1, checking names, density (including that no record lies past
    /// a gap) and the hash chain. Lists `log/`: O(history), for gc only.
    pub(crate) fn chain(&self) -> Result<Vec<LogRecord>> {
        let records: Vec<LogRecord> = self
            .records_after(None)?
            .into_iter()
            .map(|r| r.record)
            .collect();
        self.check_ends_at(records.last().map_or(0, |r| r.seq))?;
        Ok(records)
    }

    /// Sequence numbers of every record file in `log/` (one directory listing).
    pub(crate) fn listed_seqs(&self) -> Result<Vec<u64>> {
        Ok(self
            .storage
            .list(&format!("{LOG_DIR}/"))?
            .iter()
            .filter_map(|m| layout::parse_record_name(m.key.rsplit('/').next().unwrap_or("")))
            .collect())
    }

    /// Fails if a record exists past `last`, the end of the dense chain: a gap in the log is
    /// damage, not its end.
    pub(crate) fn check_ends_at(&self, last: u64) -> Result<()> {
        match self.listed_seqs()?.into_iter().find(|&s| s > last) {
            None => Ok(()),
            Some(extra) => Err(Error::Corrupted {
                path: self.storage.describe(&record_key(last + 1)),
                detail: format!(
                    "log record {} is missing but record {extra} exists",
                    last + 1
                ),
            }),
        }
    }

    /// Reads records after `last`, checking the hash chain.
    ///
    /// Locally it reads `last + 1`, `last + 2`, … until one is missing. In object storage,
    /// where each probe is a round trip, it lists the log after `last` (one request) and
    /// fetches the records listed concurrently; the chain is checked the same way.
    pub(crate) fn records_after(
        &self,
        mut last: Option<(u64, RecordHash)>,
    ) -> Result<Vec<ReadRecord>> {
        let mut out = Vec::new();
        let start = last.map_or(0, |(s, _)| s);
        let mut fetched: HashMap<u64, Vec<u8>> = HashMap::new();
        let listed = self
            .storage
            .list_after(&format!("{LOG_DIR}/"), &record_key(start))?;
        if let Some(keys) = &listed {
            // Dense from start + 1: anything past a gap is read (and reported) by the loop.
            let seqs: Vec<u64> = keys
                .iter()
                .filter_map(|k| layout::parse_record_name(k.rsplit('/').next().unwrap_or("")))
                .filter(|&s| s > start)
                .enumerate()
                .take_while(|&(i, s)| s == start + 1 + i as u64)
                .map(|(_, s)| s)
                .collect();
            let keys: Vec<String> = seqs.iter().map(|&s| record_key(s)).collect();
            fetched = seqs
                .into_iter()
                .zip(self.storage.get_many(&keys)?)
                .filter_map(|(s, b)| Some((s, b?)))
                .collect();
        }
        loop {
            let seq = last.map_or(1, |(s, _)| s + 1);
            let read = match fetched.remove(&seq) {
                Some(bytes) => Some(self.decode(seq, bytes)?),
                // The listing is the log as of now (listings are strongly consistent): a
                // record not in it is not there yet, and the next read sees it.
                None if listed.is_some() => None,
                None => self.read(seq)?,
            };
            let Some(read) = read else {
                return Ok(out);
            };
            let prev = last.map_or(RecordHash::ZERO, |(_, h)| h);
            if read.record.prev != prev {
                return Err(Error::Corrupted {
                    path: self.storage.describe(&record_key(seq)),
                    detail: format!(
                        "names predecessor {} but record {} hashes to {}",
                        read.record.prev.short(16),
                        seq - 1,
                        prev.short(16)
                    ),
                });
            }
            last = Some((seq, read.hash));
            out.push(read);
        }
    }
}
