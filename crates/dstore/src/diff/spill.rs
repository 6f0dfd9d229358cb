//! Row records partitioned by hash prefix, spilled to files under the store's `tmp/` when
//! they exceed a memory budget.
//!
//! A record is 40 bytes: the partition hash (the row hash, or the key hash with `--key`), the
//! row hash (zero without a key) and a location. Records with the same partition hash land in
//! the same partition, so each partition is compared on its own. The spill directory is a
//! [`tempfile::TempDir`]: it is removed when the partitioner is dropped, on every exit path
//! (success, error, panic); only a killed process leaves it, as garbage under `tmp/`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::hashing::{HASH_LEN, RowHash};
use crate::error::{Error, Result};

/// One row: what it is grouped by, what it is compared by, where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rec {
    pub(crate) part: RowHash,
    pub(crate) loc: u64,
    pub(crate) val: RowHash,
}

pub(crate) const REC_BYTES: usize = 2 * HASH_LEN + 8;

impl Rec {
    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(&self.part)?;
        out.write_all(&self.val)?;
        out.write_all(&self.loc.to_le_bytes())
    }
    fn read(b: &[u8; REC_BYTES]) -> Rec {
        let mut part = [0; HASH_LEN];
        let mut val = [0; HASH_LEN];
        part.copy_from_slice(&b[..HASH_LEN]);
        val.copy_from_slice(&b[HASH_LEN..2 * HASH_LEN]);
        let loc = u64::from_le_bytes(b[2 * HASH_LEN..].try_into().expect("8 bytes"));
        Rec { part, loc, val }
    }
}

struct Spill {
    dir: tempfile::TempDir,
    files: Vec<BufWriter<File>>,
}

/// Collects records in memory up to a budget, then in partition files.
pub(crate) struct Partitioner {
    tmp: PathBuf,
    budget_recs: usize,
    /// Partitions used if it spills (a power of two, 2..=256).
    parts: usize,
    mem: Vec<Rec>,
    spill: Option<Spill>,
}

impl Partitioner {
    /// `expected` records are coming (it sizes the partitions so each fits the budget).
    pub(crate) fn new(tmp: &Path, budget_bytes: usize, expected: u64) -> Partitioner {
        let budget_recs = (budget_bytes / REC_BYTES).max(1);
        let need = (expected as usize).div_ceil(budget_recs).saturating_mul(2);
        Partitioner {
            tmp: tmp.to_owned(),
            budget_recs,
            parts: need.next_power_of_two().clamp(2, 256),
            mem: Vec::new(),
            spill: None,
        }
    }

    fn partition_of(&self, r: &Rec) -> usize {
        let top = usize::from(u16::from_be_bytes([r.part[0], r.part[1]]));
        top >> (16 - self.parts.trailing_zeros())
    }

    pub(crate) fn push(&mut self, r: Rec) -> Result<()> {
        if self.spill.is_none() {
            self.mem.push(r);
            if self.mem.len() > self.budget_recs {
                self.start_spill()?;
            }
            return Ok(());
        }
        let p = self.partition_of(&r);
        let spill = self.spill.as_mut().expect("spilling");
        r.write(&mut spill.files[p]).map_err(Error::io(
            "write",
            spill.dir.path().join(format!("{p}.part")),
        ))
    }

    fn start_spill(&mut self) -> Result<()> {
        std::fs::create_dir_all(&self.tmp).map_err(Error::io("create", &self.tmp))?;
        let dir = tempfile::Builder::new()
            .prefix("rowdiff-")
            .tempdir_in(&self.tmp)
            .map_err(Error::io("create a spill directory in", &self.tmp))?;
        let mut files = Vec::with_capacity(self.parts);
        for p in 0..self.parts {
            let path = dir.path().join(format!("{p}.part"));
            let f = File::create(&path).map_err(Error::io("create", &path))?;
            files.push(BufWriter::with_capacity(8192, f));
        }
        self.spill = Some(Spill { dir, files });
        for r in std::mem::take(&mut self.mem) {
            self.push(r)?;
        }
        Ok(())
    }

    /// Partitions written to disk (0: everything stayed in memory).
    pub(crate) fn spilled(&self) -> usize {
        if self.spill.is_some() { self.parts } else { 0 }
    }

    /// Calls `f` with each partition's records, sorted.
    pub(crate) fn finish(mut self, mut f: impl FnMut(&[Rec]) -> Result<()>) -> Result<()> {
        let Some(mut spill) = self.spill.take() else {
            self.mem.sort_unstable();
            return f(&self.mem);
        };
        let root = spill.dir.path().to_owned();
        for (p, w) in spill.files.drain(..).enumerate() {
            let path = root.join(format!("{p}.part"));
            w.into_inner()
                .map_err(|e| Error::io("write", &path)(e.into_error()))?;
        }
        for p in 0..self.parts {
            let path = root.join(format!("{p}.part"));
            let file = File::open(&path).map_err(Error::io("read", &path))?;
            let len = file.metadata().map_err(Error::io("read", &path))?.len() as usize;
            let mut recs = Vec::with_capacity(len / REC_BYTES);
            let mut r = BufReader::with_capacity(1 << 16, file);
            let mut b = [0u8; REC_BYTES];
            for _ in 0..len / REC_BYTES {
                r.read_exact(&mut b).map_err(Error::io("read", &path))?;
                recs.push(Rec::read(&b));
            }
            // Done with the file: free its disk space before the next one is read.
            drop(r);
            std::fs::remove_file(&path).map_err(Error::io("remove", &path))?;
            recs.sort_unstable();
            f(&recs)?;
        }
        drop(spill);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u64) -> Rec {
        let h = super::super::hashing::hash_encoding(&i.to_le_bytes());
        Rec {
            part: h,
            loc: i,
            val: [0; HASH_LEN],
        }
    }

    #[test]
    fn spilled_partitions_hold_every_record_once_and_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = Partitioner::new(tmp.path(), 10 * REC_BYTES, 1000);
        for i in 0..1000 {
            p.push(rec(i)).unwrap();
        }
        assert!(p.spilled() >= 2);
        let mut seen = Vec::new();
        p.finish(|recs| {
            assert!(recs.windows(2).all(|w| w[0] <= w[1]));
            seen.extend(recs.iter().map(|r| r.loc));
            Ok(())
        })
        .unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_error_midway_removes_the_spill_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = Partitioner::new(tmp.path(), 4 * REC_BYTES, 100);
        for i in 0..100 {
            p.push(rec(i)).unwrap();
        }
        let r = p.finish(|_| Err(Error::invalid("stop")));
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
