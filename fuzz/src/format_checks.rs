//! Checks for the decoders of `dstore-format`: every file the store reads (manifest, segment list
//! page, log record, format marker), the canonical schema encoding, and the ref and name rules.
//!
//! Binary formats: whatever a decoder accepts must re-encode to exactly the input. Each object
//! has one canonical encoding and is named by the BLAKE3 of it, so a decoder that accepted a
//! second spelling of a value would give the same content two ids.

use dstore_format::codec::Decoder;
use dstore_format::manifest::SEGLIST_MAGIC;
use dstore_format::marker::{decode_marker, encode_marker};
use dstore_format::schema::{decode_schema, schema_bytes};
use dstore_format::{
    LogRecord, Manifest, ObjectKind, PageId, RecordHash, RecordKind, RefBase, RefSpec, SegmentList,
    SnapshotId, validate_table_name, validate_tag_name,
};

/// The manifest target: a segment list page when the input starts with its magic, else a
/// snapshot manifest (the two files of `manifests/`).
pub fn manifest_or_page(data: &[u8]) {
    if data.starts_with(&SEGLIST_MAGIC) {
        seglist(data);
    } else {
        manifest(data);
    }
}

/// A snapshot manifest: decode → encode gives the input bytes back (so the id of the decoded
/// manifest, BLAKE3 of its canonical encoding, is the BLAKE3 of the file), and decodes to the
/// same value.
pub fn manifest(data: &[u8]) {
    let Ok(m) = Manifest::decode(data) else {
        return;
    };
    let (id, bytes) = m.encode_with_id().expect("a decoded manifest must encode");
    assert!(
        bytes == data,
        "the decoder accepted a non-canonical manifest"
    );
    assert_eq!(id, SnapshotId::of(data));
    assert_eq!(Manifest::decode(&bytes).expect("re-encoding decodes"), m);
    for t in &m.tables {
        assert_eq!(m.table(&t.name), Some(t));
    }
}

/// A segment list page: decode → encode is the identity on bytes, and its `PageRef` totals are
/// computable (no overflow) and consistent with the entries.
pub fn seglist(data: &[u8]) {
    let Ok(page) = SegmentList::decode(data) else {
        return;
    };
    let (id, bytes) = page.encode_with_id();
    assert!(bytes == data, "the decoder accepted a non-canonical page");
    assert_eq!(id, PageId::of(data));
    assert_eq!(
        SegmentList::decode(&bytes).expect("re-encoding decodes"),
        page
    );
    let r = page.page_ref(id);
    assert_eq!(r.segments as usize, page.entries.len());
    for s in &page.entries {
        for rg in &s.row_groups {
            assert_eq!(rg.chunks.len(), s.columns.len());
        }
    }
}

/// A log record: decode → encode is the identity on bytes, and what the decoder promises holds.
/// The input is tried as a whole file and, so that the fuzzer gets past the checksum, as a body
/// with its checksum appended.
pub fn record(data: &[u8]) {
    record_file(data);
    let mut sealed = data.to_vec();
    sealed.extend_from_slice(RecordHash::of(data).as_bytes());
    record_file(&sealed);
}

fn record_file(data: &[u8]) {
    let Ok(r) = LogRecord::decode(data) else {
        return;
    };
    let bytes = r.encode();
    assert!(bytes == data, "the decoder accepted a non-canonical record");
    assert_eq!(LogRecord::decode(&bytes).expect("re-encoding decodes"), r);
    assert_eq!(RecordHash::of(&bytes), RecordHash::of(data));
    assert!(r.seq >= 1);
    match &r.kind {
        RecordKind::Commit {
            parent_commit,
            changes,
            tags,
            ..
        } => {
            assert!(parent_commit.is_none_or(|p| p >= 1 && p < r.seq));
            assert!(changes.windows(2).all(|w| w[0].table < w[1].table));
            for t in tags {
                assert!(validate_tag_name(t.as_bytes()).is_ok(), "{t:?}");
            }
        }
        RecordKind::Expire { snapshots, .. } => {
            assert!(!snapshots.is_empty());
            assert!(snapshots.windows(2).all(|w| w[0].0 < w[1].0));
        }
        RecordKind::Tag {
            name,
            target,
            previous,
        } => {
            assert!(validate_tag_name(name.as_bytes()).is_ok(), "{name:?}");
            assert!(target.is_some() || previous.is_some());
            assert!(
                [target, previous]
                    .into_iter()
                    .flatten()
                    .all(|t| t.seq < r.seq)
            );
        }
    }
}

/// The format marker: the only bytes accepted are the ones this build writes.
pub fn marker(data: &[u8]) {
    if let Ok(v) = decode_marker(data) {
        assert_eq!(v, dstore_format::FORMAT_VERSION);
        assert!(
            data == encode_marker(),
            "the decoder accepted a non-canonical marker"
        );
    }
}

/// A schema on its own: decode (with nothing left over) → encode is the identity on bytes.
pub fn schema(data: &[u8]) {
    let mut d = Decoder::new(data, ObjectKind::Schema);
    let Ok(s) = decode_schema(&mut d) else {
        return;
    };
    if d.finish().is_err() {
        return;
    }
    let bytes = schema_bytes(&s).expect("a decoded schema must encode");
    assert!(bytes == data, "the decoder accepted a non-canonical schema");
    let mut d = Decoder::new(&bytes, ObjectKind::Schema);
    assert_eq!(decode_schema(&mut d).expect("re-encoding decodes"), s);
}

/// The text a [`RefSpec`] is written as.
fn ref_text(r: &RefSpec) -> String {
    let base = match &r.base {
        RefBase::Head => "HEAD".to_owned(),
        RefBase::Seq(n) => format!("@{n}"),
        RefBase::Id(id) => id.to_hex(),
        RefBase::Prefix(p) | RefBase::Tag(p) => p.clone(),
    };
    if r.back == 0 {
        base
    } else {
        format!("{base}~{}", r.back)
    }
}

/// Refs and names: a parsed ref written back parses to the same ref; a valid tag name parses
/// as a ref to that very tag (a ref never means two things); names that pass the rules keep
/// them.
pub fn refs(data: &[u8]) {
    if let Ok(name) = validate_tag_name(data) {
        assert!(!name.is_empty() && name.len() <= 255);
        let r = RefSpec::parse(name).expect("a valid tag name is a valid ref");
        assert_eq!(r.base, RefBase::Tag(name.to_owned()), "{name:?}");
        assert_eq!(r.back, 0);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if validate_table_name(text).is_ok() {
        assert!((1..=128).contains(&text.len()));
        assert!(!text.starts_with(['.', '-']));
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        );
    }
    let Ok(r) = RefSpec::parse(text) else {
        return;
    };
    match &r.base {
        RefBase::Head | RefBase::Id(_) => {}
        RefBase::Seq(n) => assert!(*n >= 1),
        RefBase::Prefix(p) => {
            assert!((8..64).contains(&p.len()));
            assert!(p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
        RefBase::Tag(t) => assert!(validate_tag_name(t.as_bytes()).is_ok(), "{t:?}"),
    }
    let again = ref_text(&r);
    assert_eq!(
        RefSpec::parse(&again).expect("a written ref parses"),
        r,
        "{text:?} → {again:?}"
    );
}
