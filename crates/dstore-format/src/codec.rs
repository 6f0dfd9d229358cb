//! The primitive canonical encoding every dstore object is built from.
//!
//! All integers are fixed width, little-endian. Strings and byte strings are a `u32` length
//! followed by the bytes. Sequences are a `u32` count followed by the elements. Options are a
//! `u8` tag (0 = absent, 1 = present) followed by the value when present. There is exactly one
//! encoding of every value, so equal values give equal bytes and equal BLAKE3 hashes.
//!
//! Hand-written rather than serde + a binary format because the bytes are a published contract
//! (`docs/format.md`) that must not move when a dependency changes its wire format.

use crate::error::{Error, ObjectKind, Result};

/// Appends canonical encodings to a byte buffer.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }
    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
    /// Bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
    /// Raw bytes, no length prefix.
    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// A boolean as one byte, 0 or 1.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    /// `u32`, little-endian.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// `i32`, little-endian two's complement.
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// `u64`, little-endian.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// `i64`, little-endian two's complement.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A sequence length as `u32`.
    ///
    /// # Panics
    /// If `n` exceeds `u32::MAX`; no dstore object comes near that.
    pub fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("sequence longer than u32::MAX"));
    }
    /// `u32` length, then the bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.raw(b);
    }
    /// `u32` byte length, then UTF-8.
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    /// 32 raw bytes (a BLAKE3 hash).
    pub fn hash(&mut self, h: &[u8; 32]) {
        self.raw(h);
    }
    /// `0` or `1` then the value.
    pub fn opt<T>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                f(self, v);
            }
        }
    }
}

/// Reads canonical encodings from a byte slice, naming the object and offset on failure.
#[derive(Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    object: ObjectKind,
}

impl<'a> Decoder<'a> {
    /// A decoder over `buf` for an object of kind `object`.
    pub fn new(buf: &'a [u8], object: ObjectKind) -> Self {
        Self {
            buf,
            pos: 0,
            object,
        }
    }
    /// Current offset.
    pub fn position(&self) -> usize {
        self.pos
    }
    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// An error at the current offset.
    pub fn error(&self, detail: impl Into<String>) -> Error {
        Error::Malformed {
            object: self.object,
            offset: self.pos,
            detail: detail.into(),
        }
    }
    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<()> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(self.error(format!("{} unexpected trailing bytes", self.remaining())))
        }
    }
    /// `n` raw bytes.
    pub fn raw(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.error(format!(
                "needed {n} bytes, only {} remain (truncated?)",
                self.remaining()
            )));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.raw(N)?);
        Ok(a)
    }
    /// One byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.raw(1)?[0])
    }
    /// A boolean byte; anything but 0 or 1 is an error.
    pub fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => {
                self.pos -= 1;
                Err(self.error(format!("boolean byte must be 0 or 1, found {b}")))
            }
        }
    }
    /// `u32`.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// `i32`.
    pub fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    /// `u64`.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    /// `i64`.
    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    /// A sequence count. Bounded by the bytes left (each element takes at least `min_elem`
    /// bytes), so a corrupt count cannot make the caller allocate gigabytes.
    pub fn len(&mut self, min_elem: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_elem.max(1)) > self.remaining() {
            self.pos -= 4;
            return Err(self.error(format!(
                "count {n} is larger than the {} bytes left allow",
                self.remaining()
            )));
        }
        Ok(n)
    }
    /// Length-prefixed bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len(1)?;
        self.raw(n)
    }
    /// Length-prefixed UTF-8.
    pub fn str(&mut self) -> Result<String> {
        let start = self.pos;
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|e| Error::Malformed {
                object: self.object,
                offset: start,
                detail: format!("string is not valid UTF-8: {e}"),
            })
    }
    /// 32 raw bytes.
    pub fn hash(&mut self) -> Result<[u8; 32]> {
        self.array()
    }
    /// An option tag, then the value.
    pub fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<Option<T>> {
        match self.u8()? {
            0 => Ok(None),
            1 => f(self).map(Some),
            b => {
                self.pos -= 1;
                Err(self.error(format!("option tag must be 0 or 1, found {b}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_are_little_endian_and_length_prefixed() {
        let mut e = Encoder::new();
        e.u32(1);
        e.str("ab");
        e.opt(Some(&7u64), |e, v| e.u64(*v));
        assert_eq!(
            e.into_bytes(),
            [
                1, 0, 0, 0, 2, 0, 0, 0, b'a', b'b', 1, 7, 0, 0, 0, 0, 0, 0, 0
            ]
        );
    }

    #[test]
    fn huge_count_is_rejected_without_allocating() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 0];
        let mut d = Decoder::new(&bytes, ObjectKind::Manifest);
        let err = d.len(1).unwrap_err();
        assert!(matches!(err, Error::Malformed { offset: 0, .. }), "{err}");
    }

    #[test]
    fn truncation_names_offset() {
        let mut d = Decoder::new(&[1, 2], ObjectKind::LogRecord);
        let err = d.u64().unwrap_err();
        assert!(err.to_string().contains("log record at byte 0"), "{err}");
    }
}
