//! Text inputs as they are stored: plain, gzip (`.gz`, every member of a multi-member file, as
//! `gzip -d` reads it) or zstd (`.zst`, every frame). The readers decompress as they go, so a
//! compressed input is read in the same bounded memory as a plain one, and CSV and JSON lines
//! errors count lines of the decompressed text.
//!
//! A failure inside the decompressor (a truncated or corrupt stream) reaches the CSV and JSON
//! readers as an I/O error, which they wrap in their own messages; [`Source`] keeps the first
//! such failure so the error reported names the file as damaged, whatever the reader made of it.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// How an input file is compressed, from its last extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (`.gz`), one member or several concatenated.
    Gzip,
    /// Zstandard (`.zst`), one frame or several.
    Zstd,
}

impl Compression {
    /// The compression a file extension names (`gz`, `zst`, any case).
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "gz" => Some(Compression::Gzip),
            "zst" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Read buffer of the text readers, plain or decompressed.
const BUFFER: usize = 1 << 20;

/// An input file to be read (maybe several times: schema inference, then parsing) as text.
pub(crate) struct Source {
    path: PathBuf,
    compression: Option<Compression>,
    /// The first error the decompressor returned, if any.
    failure: Arc<Mutex<Option<String>>>,
}

impl Source {
    pub(crate) fn new(path: &Path, compression: Option<Compression>) -> Self {
        Source {
            path: path.to_owned(),
            compression,
            failure: Arc::default(),
        }
    }

    /// The text from its start, decompressed.
    pub(crate) fn open(&self) -> Result<Box<dyn BufRead + Send>> {
        let file = File::open(&self.path).map_err(Error::io("open", &self.path))?;
        let failure = self.failure.clone();
        Ok(match self.compression {
            None => Box::new(BufReader::with_capacity(BUFFER, file)),
            Some(Compression::Gzip) => Box::new(BufReader::with_capacity(
                BUFFER,
                Tracked {
                    inner: flate2::read::MultiGzDecoder::new(BufReader::new(file)),
                    failure,
                },
            )),
            Some(Compression::Zstd) => {
                let dec = zstd::stream::read::Decoder::new(file)
                    .map_err(|e| self.damage_error(&e.to_string()))?;
                Box::new(BufReader::with_capacity(
                    BUFFER,
                    Tracked {
                        inner: dec,
                        failure,
                    },
                ))
            }
        })
    }

    /// The error to report instead of `e`: the damage, when the decompressor failed, or when
    /// `e` is about the text and the whole stream does not decompress (gzip checks its CRC
    /// only at the end of a member, so damage can first show as text that does not parse).
    pub(crate) fn or_damaged(&self, e: Error) -> Error {
        let failure = || self.failure.lock().map(|f| f.clone()).unwrap_or_default();
        if failure().is_none()
            && self.compression.is_some()
            && matches!(e, Error::InvalidInput { .. })
            && let Ok(mut r) = self.open()
        {
            // The error path only: decompress the whole file once more (a failure is kept).
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        }
        match failure() {
            Some(msg) => self.damage_error(&msg),
            None => e,
        }
    }

    fn damage_error(&self, msg: &str) -> Error {
        let kind = self.compression.map_or("compressed", Compression::name);
        Error::input(
            &self.path,
            format!("the {kind} data is damaged or cut short: {msg}"),
        )
        .with_hint(format!(
            "the file is not complete {kind} data; re-export or re-download it (`{} -t FILE` tests it)",
            match self.compression {
                Some(Compression::Zstd) => "zstd",
                _ => "gzip",
            }
        ))
    }
}

/// A decompressor that remembers its first failure for [`Source::or_damaged`].
struct Tracked<R> {
    inner: R,
    failure: Arc<Mutex<Option<String>>>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if let Ok(mut f) = self.failure.lock()
                && f.is_none()
            {
                *f = Some(e.to_string());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(p).unwrap();
            out.extend(e.finish().unwrap());
        }
        out
    }

    /// Frames with a content checksum, as the `zstd` tool writes them by default (without
    /// one, a flipped byte in a literal decodes to a different byte without an error).
    fn zstd(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            let mut e = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
            e.include_checksum(true).unwrap();
            e.write_all(p).unwrap();
            out.extend(e.finish().unwrap());
        }
        out
    }

    fn read_all(path: &Path, c: Compression) -> (Source, std::io::Result<Vec<u8>>) {
        let src = Source::new(path, Some(c));
        let mut out = Vec::new();
        let r = src.open().unwrap().read_to_end(&mut out).map(|_| out);
        (src, r)
    }

    #[test]
    fn every_member_and_frame_is_read() {
        let dir = tempfile::tempdir().unwrap();
        for (c, bytes) in [
            (Compression::Gzip, gzip(&[b"id\n1\n", b"2\n", b""])),
            (Compression::Zstd, zstd(&[b"id\n1\n", b"2\n"])),
        ] {
            let p = dir.path().join("x");
            std::fs::write(&p, bytes).unwrap();
            let (_, got) = read_all(&p, c);
            assert_eq!(got.unwrap(), b"id\n1\n2\n", "{c:?}");
        }
    }

    #[test]
    fn truncated_and_corrupt_streams_fail_and_are_named_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("{i},x\n").into_bytes())
            .collect();
        for (c, whole) in [
            (Compression::Gzip, gzip(&[&text])),
            (Compression::Zstd, zstd(&[&text])),
        ] {
            let mut flipped = whole.clone();
            let mid = flipped.len() / 2;
            flipped[mid] ^= 0x55;
            for (what, bytes) in [
                ("truncated", whole[..whole.len() - 9].to_vec()),
                ("cut in half", whole[..whole.len() / 2].to_vec()),
                ("a flipped byte", flipped),
            ] {
                let p = dir.path().join("x");
                std::fs::write(&p, &bytes).unwrap();
                let (src, got) = read_all(&p, c);
                assert!(got.is_err(), "{c:?} {what}: read without an error");
                let e = src
                    .or_damaged(Error::invalid("csv reader failed"))
                    .to_string();
                assert!(
                    e.contains("damaged") && e.contains(c.name()),
                    "{c:?} {what}: {e}"
                );
            }
        }
    }

    #[test]
    fn a_plain_failure_is_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, gzip(&[b"a\n"])).unwrap();
        let (src, got) = read_all(&p, Compression::Gzip);
        assert_eq!(got.unwrap(), b"a\n");
        let e = src.or_damaged(Error::invalid("bad value"));
        assert_eq!(e.to_string(), "bad value");
    }
}
