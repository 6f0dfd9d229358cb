//! Content ids: 32-byte BLAKE3 hashes, shown as 64 lowercase hex digits.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

macro_rules! hash_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The id of `bytes`: their BLAKE3 hash.
            pub fn of(bytes: &[u8]) -> Self {
                Self(*blake3::hash(bytes).as_bytes())
            }
            /// 64 lowercase hex digits.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// The first `n` hex digits.
            pub fn short(&self, n: usize) -> String {
                let mut s = self.to_hex();
                s.truncate(n);
                s
            }
            /// Parses exactly 64 hex digits (either case).
            pub fn from_hex(s: &str) -> Option<Self> {
                if s.len() != 64 {
                    return None;
                }
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).ok()?;
                Some(Self(out))
            }
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short(16))
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::from_hex(s).ok_or_else(|| Error::InvalidRef {
                    input: s.to_owned(),
                    reason: "expected 64 hex digits".into(),
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
            }
        }
    };
}

hash_id!(
    /// A segment: BLAKE3 of the Parquet file's bytes, which is also its file name.
    SegmentId
);
hash_id!(
    /// A snapshot: BLAKE3 of its manifest file's bytes (the canonical encoding).
    SnapshotId
);
hash_id!(
    /// A segment list page: BLAKE3 of the page file's bytes.
    PageId
);
hash_id!(
    /// A log record: BLAKE3 of the whole record file, chained into the next record.
    RecordHash
);

impl RecordHash {
    /// The all-zero hash that the first record names as its predecessor.
    pub const ZERO: RecordHash = RecordHash([0; 32]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_blake3_hex() {
        let id = SegmentId::of(b"abc");
        assert_eq!(
            id.to_hex(),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        assert_eq!(SegmentId::from_hex(&id.to_hex().to_uppercase()), Some(id));
        assert_eq!(SegmentId::from_hex("abc"), None);
    }
}
