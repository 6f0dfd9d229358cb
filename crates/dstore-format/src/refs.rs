//! The ref grammar and the naming rules for tags and tables.
//!
//! ```text
//! ref    := base ("~" N)?
//! base   := "HEAD" | "@" SEQ | HEX64 | HEX8..63 | TAG
//! ```
//! `HEAD~2` is two commits before HEAD; `v3~1` is the commit before the one tagged `v3`.
//! A string of 8 to 63 hex digits is an id prefix; tag names that look like one are refused,
//! so a ref never means two things.

use crate::error::{Error, Result};
use crate::id::SnapshotId;

/// Longest tag name, in bytes.
pub const MAX_TAG_LEN: usize = 255;
/// Shortest id prefix accepted.
pub const MIN_PREFIX_LEN: usize = 8;

/// Where a ref starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefBase {
    /// The latest commit.
    Head,
    /// The commit record with this sequence number.
    Seq(u64),
    /// A full snapshot id.
    Id(SnapshotId),
    /// A unique prefix of a snapshot id, lowercase hex.
    Prefix(String),
    /// A tag.
    Tag(String),
}

/// A parsed ref: a base, then `back` steps to earlier commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefSpec {
    /// Where to start.
    pub base: RefBase,
    /// How many commits to step back.
    pub back: u64,
}

impl RefSpec {
    /// Parses a ref string.
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidRef {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(bad("empty ref"));
        }
        let (base, back) = match input.rsplit_once('~') {
            Some((b, n)) => {
                let n = if n.is_empty() {
                    1
                } else {
                    decimal(n)
                        .ok_or_else(|| bad("after `~` comes a number of commits, as in HEAD~2"))?
                };
                (b, n)
            }
            None => (input, 0),
        };
        let base = if base == "HEAD" {
            RefBase::Head
        } else if let Some(seq) = base.strip_prefix('@') {
            let n = decimal(seq)
                .ok_or_else(|| bad("`@` is followed by a sequence number, as in @12"))?;
            if n == 0 {
                return Err(bad("sequence numbers start at 1"));
            }
            RefBase::Seq(n)
        } else if let Some(id) = SnapshotId::from_hex(base) {
            RefBase::Id(id)
        } else if is_hex_prefix(base) {
            RefBase::Prefix(base.to_ascii_lowercase())
        } else {
            validate_tag_name(base.as_bytes()).map_err(|e| match e {
                Error::InvalidTagName { reason, .. } => bad(&format!(
                    "not HEAD, @SEQ, an id or id prefix (8+ hex digits), nor a valid tag name: {reason}"
                )),
                other => other,
            })?;
            RefBase::Tag(base.to_owned())
        };
        Ok(RefSpec { base, back })
    }
}

/// Decimal digits only: `u64::from_str` alone would also take a leading `+`.
fn decimal(s: &str) -> Option<u64> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn is_hex_prefix(s: &str) -> bool {
    (MIN_PREFIX_LEN..64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks a tag name. Takes bytes so invalid UTF-8 gets a proper message.
///
/// Rules: 1 to 255 bytes of UTF-8; no whitespace or control characters; none of
/// `~ ^ : ? * [ \ @{`; no `..`; no `/` at either end or twice in a row; does not start with `-`
/// or `.`; not `HEAD`; not 8+ hex digits (that would read as an id prefix).
pub fn validate_tag_name(name: &[u8]) -> Result<&str> {
    let lossy = || String::from_utf8_lossy(name).into_owned();
    let bad = |reason: &str| Error::InvalidTagName {
        name: lossy(),
        reason: reason.to_owned(),
    };
    let s = std::str::from_utf8(name).map_err(|_| bad("tag names must be valid UTF-8"))?;
    if s.is_empty() {
        return Err(bad("tag names cannot be empty"));
    }
    if s.len() > MAX_TAG_LEN {
        return Err(bad(&format!(
            "tag names are at most {MAX_TAG_LEN} bytes, this one is {}",
            s.len()
        )));
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(&format!(
            "tag names cannot contain whitespace or control characters ({c:?})"
        )));
    }
    if let Some(c) = s.chars().find(|c| "~^:?*[\\".contains(*c)) {
        return Err(bad(&format!("tag names cannot contain {c:?}")));
    }
    if s.contains("@{") {
        return Err(bad("tag names cannot contain \"@{\""));
    }
    if s.contains("..") {
        return Err(bad("tag names cannot contain \"..\""));
    }
    if s.starts_with('/') || s.ends_with('/') || s.contains("//") {
        return Err(bad(
            "tag names cannot start or end with '/' or contain \"//\"",
        ));
    }
    if s.starts_with('-') || s.starts_with('.') || s.starts_with('@') {
        return Err(bad("tag names cannot start with '-', '.' or '@'"));
    }
    if s == "HEAD" {
        return Err(bad("HEAD is reserved"));
    }
    if s.len() >= MIN_PREFIX_LEN && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(
            "8 or more hex digits would read as a snapshot id prefix",
        ));
    }
    Ok(s)
}

/// Checks a table name: 1 to 128 characters of `[A-Za-z0-9_.-]`, starting with a letter, digit
/// or `_`. Table names become directory names in a checkout, so they are kept portable.
pub fn validate_table_name(name: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidTableName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.is_empty() || name.len() > 128 {
        return Err(bad("table names are 1 to 128 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(bad("use only letters, digits, '_', '.' and '-'"));
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() && name.as_bytes()[0] != b'_' {
        return Err(bad("start with a letter, digit or '_'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(RefSpec::parse("HEAD").unwrap().base, RefBase::Head);
        let r = RefSpec::parse("HEAD~3").unwrap();
        assert_eq!((r.base, r.back), (RefBase::Head, 3));
        assert_eq!(RefSpec::parse("HEAD~").unwrap().back, 1);
        assert_eq!(RefSpec::parse("@12").unwrap().base, RefBase::Seq(12));
        assert_eq!(
            RefSpec::parse("DEADBEEF").unwrap().base,
            RefBase::Prefix("deadbeef".into())
        );
        assert_eq!(
            RefSpec::parse("v1.0~2").unwrap().base,
            RefBase::Tag("v1.0".into())
        );
        let full = "a".repeat(64);
        assert!(matches!(
            RefSpec::parse(&full).unwrap().base,
            RefBase::Id(_)
        ));
        assert!(RefSpec::parse("@0").is_err());
        assert!(RefSpec::parse("HEAD~x").is_err());
        assert!(RefSpec::parse("").is_err());
        assert!(RefSpec::parse("has space").is_err());
    }

    /// Found by review while writing the fuzz targets: `u64::from_str` took `@+12` and
    /// `HEAD~+2`.
    #[test]
    fn numbers_are_plain_digits() {
        for bad in ["@+12", "HEAD~+2", "@-1", "v1~ 2", "@1_000", "HEAD~0x2"] {
            assert!(RefSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(RefSpec::parse("@012").unwrap().base, RefBase::Seq(12));
        assert_eq!(RefSpec::parse("v1~0").unwrap().back, 0);
        assert!(RefSpec::parse("HEAD~18446744073709551616").is_err());
    }

    #[test]
    fn tag_rules() {
        for ok in ["v1", "release/3", "exp-2026.11", "abc", "λ"] {
            assert!(validate_tag_name(ok.as_bytes()).is_ok(), "{ok}");
        }
        let long = "a".repeat(256);
        for bad in [
            &b""[..],
            b"a..b",
            b"/a",
            b"a/",
            b"a//b",
            b"a b",
            b"a\tb",
            b"a\x01",
            b"HEAD",
            b"-x",
            b"deadbeef",
            b"a~1",
            b"\xff\xfe",
            long.as_bytes(),
        ] {
            assert!(
                validate_tag_name(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(validate_tag_name("g".repeat(255).as_bytes()).is_ok());
    }

    #[test]
    fn table_rules() {
        assert!(validate_table_name("train_v2").is_ok());
        assert!(validate_table_name("../x").is_err());
        assert!(validate_table_name(".hidden").is_err());
        assert!(validate_table_name("a/b").is_err());
    }
}
