//! A bounded cache of verified column chunks, shared by the decodes of one scan: order v2 cuts
//! a row group into units that fall into different windows, and each window decodes only its
//! units' rows, so without it every window touching a row group would fetch and hash its
//! chunks again. Least recently used chunks are dropped first; a chunk larger than the whole
//! capacity is not kept.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

/// Chunks by (segment index, offset in the segment).
#[derive(Debug, Default)]
pub(crate) struct ChunkCache {
    capacity: u64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    chunks: HashMap<(usize, u64), (Bytes, u64)>,
    bytes: u64,
    tick: u64,
}

impl ChunkCache {
    /// A cache of at most `capacity` bytes (0: keeps nothing).
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            capacity,
            inner: Mutex::default(),
        }
    }

    /// The verified chunk at `offset` of segment `seg`, if kept.
    pub(crate) fn get(&self, seg: usize, offset: u64) -> Option<Bytes> {
        if self.capacity == 0 {
            return None;
        }
        let mut inner = self.inner.lock().expect("chunk cache lock");
        inner.tick += 1;
        let tick = inner.tick;
        inner.chunks.get_mut(&(seg, offset)).map(|(b, used)| {
            *used = tick;
            b.clone()
        })
    }

    /// Keeps a verified chunk, dropping the least recently used ones to make room.
    pub(crate) fn insert(&self, seg: usize, offset: u64, chunk: Bytes) {
        let len = chunk.len() as u64;
        if len > self.capacity {
            return;
        }
        let mut inner = self.inner.lock().expect("chunk cache lock");
        while inner.bytes + len > self.capacity {
            let Some((&key, _)) = inner.chunks.iter().min_by_key(|(_, (_, used))| *used) else {
                break;
            };
            if let Some((b, _)) = inner.chunks.remove(&key) {
                inner.bytes -= b.len() as u64;
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        if let Some((old, _)) = inner.chunks.insert((seg, offset), (chunk, tick)) {
            inner.bytes -= old.len() as u64;
        }
        inner.bytes += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_within_capacity_dropping_the_least_recently_used() {
        let c = ChunkCache::new(10);
        c.insert(0, 0, Bytes::from_static(b"aaaa"));
        c.insert(0, 4, Bytes::from_static(b"bbbb"));
        assert!(c.get(0, 0).is_some()); // 0/0 is now more recent than 0/4
        c.insert(1, 0, Bytes::from_static(b"cccc"));
        assert_eq!(c.get(0, 4), None, "least recently used dropped");
        assert_eq!(c.get(0, 0).as_deref(), Some(&b"aaaa"[..]));
        assert_eq!(c.get(1, 0).as_deref(), Some(&b"cccc"[..]));
        c.insert(2, 0, Bytes::from_static(b"too long for it"));
        assert_eq!(c.get(2, 0), None, "larger than the capacity: not kept");
        let off = ChunkCache::new(0);
        off.insert(0, 0, Bytes::from_static(b"a"));
        assert_eq!(off.get(0, 0), None);
    }
}
