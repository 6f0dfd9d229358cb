//! The format marker: the `DSTORE` file at a store's root.
//!
//! ```text
//! offset  size  field
//! 0       8     magic  b"DSTOREFM"
//! 8       4     format version, u32 LE
//! 12      4     reserved, u32 LE, must be 0
//! ```

use crate::codec::{Decoder, Encoder};
use crate::error::{ObjectKind, Result};
use crate::{FORMAT_VERSION, check_magic_and_version};

/// Magic at the start of the marker.
pub const MARKER_MAGIC: [u8; 8] = *b"DSTOREFM";
/// Length of the marker file.
pub const MARKER_LEN: usize = 16;

/// The marker's bytes for this build's format version.
pub fn encode_marker() -> Vec<u8> {
    let mut e = Encoder::new();
    e.raw(&MARKER_MAGIC);
    e.u32(FORMAT_VERSION);
    e.u32(0);
    e.into_bytes()
}

/// Checks a marker and returns its format version.
pub fn decode_marker(bytes: &[u8]) -> Result<u32> {
    let mut d = Decoder::new(bytes, ObjectKind::Marker);
    let version = check_magic_and_version(&mut d, ObjectKind::Marker, MARKER_MAGIC)?;
    if d.u32()? != 0 {
        return Err(d.error("reserved field must be 0"));
    }
    d.finish()?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn newer_version_is_refused_with_supported_range() {
        let mut b = encode_marker();
        b[8] = 9;
        let err = decode_marker(&b).unwrap_err();
        assert!(matches!(err, Error::UnsupportedVersion { found: 9, .. }));
        assert!(err.to_string().contains("reads versions 1 to 1"), "{err}");
    }

    #[test]
    fn roundtrip() {
        assert_eq!(decode_marker(&encode_marker()).unwrap(), 1);
        assert_eq!(encode_marker().len(), MARKER_LEN);
    }
}
