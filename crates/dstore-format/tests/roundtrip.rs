//! Property tests of dstore-format's canonical encodings (docs/format.md).
//!
//! 1. Round trip: `decode(encode(x)) == x` for generated segment list pages, log records,
//!    manifests and Arrow schemas (recursive over every nested type the format stores).
//! 2. Canonical: encoding is deterministic and independent of the order tables are held in,
//!    changing any one field of a manifest changes its snapshot id, and decoders accept only
//!    canonical bytes (`decode(b) == Ok(x)` implies `encode(x) == b`).
//! 3. Robustness: arbitrary bytes, arbitrary bytes behind a valid header, a valid encoding with
//!    one byte flipped or cut short, and encodings of values that break the invariants never
//!    make a decoder panic. Log records and the marker reject every flip and every truncation.
//! 4. Refs: `RefSpec::parse` never panics, and every valid tag name parses as that tag.

use std::sync::Arc;

use arrow_schema::{
    DataType, Field, Fields, IntervalUnit, Metadata, Schema, TimeUnit, UnionFields,
};
use dstore_format::codec::{Decoder, Encoder};
use dstore_format::manifest::{MANIFEST_MAGIC, SEGLIST_MAGIC};
use dstore_format::marker::{MARKER_MAGIC, decode_marker, encode_marker};
use dstore_format::record::RECORD_MAGIC;
use dstore_format::schema::{decode_schema, encode_schema, schema_bytes};
use dstore_format::{
    ChunkEntry, ColumnInfo, ColumnStats, Error, FORMAT_VERSION, LogRecord, Manifest, ObjectKind,
    PAGE_SEGMENTS, PageId, PageRef, RecordHash, RecordKind, RefBase, RefSpec, RowGroupEntry,
    SegmentEntry, SegmentId, SegmentList, SnapshotId, TableChange, TableManifest, TableOp,
    TagTarget, Upstream, validate_table_name, validate_tag_name,
};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

/// Few enough cases for a debug build to finish in seconds. No failure persistence: the
/// regression file would be written outside this test file.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies for valid values
// ---------------------------------------------------------------------------------------------

/// Short strings: often plain (so names collide and sort in interesting ways), sometimes any
/// printable Unicode.
fn text() -> BoxedStrategy<String> {
    prop_oneof![3 => "[a-c_]{0,3}", 2 => "[a-z0-9_.-]{0,10}", 2 => "\\PC{0,8}"].boxed()
}

/// Valid table names (§10): `[A-Za-z0-9_][A-Za-z0-9_.-]*`, at most 128 bytes.
fn table_name() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-c_][a-c_.-]{0,2}",
        2 => "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
        1 => "[a-z][a-z0-9]{100,120}",
    ]
    .boxed()
}

/// Valid tag names (§10). Mixes alphabets near the rules' edges (hex digits, `@`, `{`, `/`,
/// `.`, `-`, Unicode, 255 bytes) and keeps what `validate_tag_name` accepts.
fn tag_name() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-zA-Z0-9_./@{}-]{1,12}",
        "[0-9a-fA-F]{1,9}[g-z]?",
        "[0-9a-fA-F/]{7,70}",
        "H?E?A?D?[a-z@{]?",
        "\\PC{1,10}",
        "[a-z]{250,256}",
    ]
    .prop_filter("valid tag name", |s| {
        validate_tag_name(s.as_bytes()).is_ok()
    })
    .boxed()
}

fn hash() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

/// Small counts most of the time, anything up to `max` (inclusive) the rest.
fn count(max: u64) -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0..=16u64, 2 => 0..=max, 1 => Just(max)]
}

fn opt_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    option::of(vec(any::<u8>(), 0..12))
}

fn stats() -> impl Strategy<Value = ColumnStats> {
    (option::of(any::<u64>()), opt_bytes(), opt_bytes()).prop_map(|(null_count, min, max)| {
        ColumnStats {
            null_count,
            min,
            max,
        }
    })
}

fn column() -> impl Strategy<Value = ColumnInfo> {
    (vec(text(), 0..4), 0u8..=7, stats()).prop_map(|(path, physical_type, stats)| ColumnInfo {
        path,
        physical_type,
        stats,
    })
}

/// A column chunk lying inside a `bytes`-byte segment, often touching either end.
fn chunk(bytes: u64) -> impl Strategy<Value = ChunkEntry> {
    prop_oneof![Just(0), Just(bytes), 0..=bytes]
        .prop_flat_map(move |offset| {
            let room = bytes - offset;
            (
                Just(offset),
                prop_oneof![Just(0), Just(room), 0..=room],
                hash(),
                stats(),
            )
        })
        .prop_map(|(offset, length, hash, stats)| ChunkEntry {
            offset,
            length,
            hash,
            stats,
        })
}

/// A segment entry of at most `max` bytes and `max` rows: one chunk per column in every row
/// group, chunks inside the file, rows the sum of the row groups' rows (at most 3 row groups of
/// at most max / 4: no overflow).
fn segment_entry(max: u64) -> impl Strategy<Value = SegmentEntry> {
    (
        hash(),
        prop_oneof![0..=4096u64, 0..=max, Just(max)],
        vec(column(), 0..4),
    )
        .prop_flat_map(move |(id, bytes, columns)| {
            let n = columns.len();
            let row_group = (count(max / 4), vec(chunk(bytes), n))
                .prop_map(|(rows, chunks)| RowGroupEntry { rows, chunks });
            (Just(id), Just(bytes), Just(columns), vec(row_group, 0..4))
        })
        .prop_map(|(id, bytes, columns, row_groups)| SegmentEntry {
            id: SegmentId(id),
            bytes,
            rows: row_groups.iter().map(|r| r.rows).sum(),
            columns,
            row_groups,
        })
}

/// 1 to PAGE_SEGMENTS entries, usually few, whose rows and bytes add up without overflow (a
/// page's totals must fit its `PageRef`): one entry of up to `u64::MAX`, or up to 128 entries of
/// up to `u64::MAX / 128`.
fn segment_list() -> impl Strategy<Value = SegmentList> {
    let small = u64::MAX / PAGE_SEGMENTS as u64;
    prop_oneof![
        2 => vec(segment_entry(u64::MAX), 1..=1),
        3 => vec(segment_entry(small), 1..=3),
        1 => vec(segment_entry(small), 1..=PAGE_SEGMENTS),
    ]
    .prop_map(|entries| SegmentList { entries })
}

fn time_unit() -> impl Strategy<Value = TimeUnit> {
    prop_oneof![
        Just(TimeUnit::Second),
        Just(TimeUnit::Millisecond),
        Just(TimeUnit::Microsecond),
        Just(TimeUnit::Nanosecond),
    ]
}

fn metadata() -> impl Strategy<Value = Metadata> {
    btree_map(text(), text(), 0..3).prop_map(Metadata::from)
}

fn int_type() -> impl Strategy<Value = DataType> {
    prop::sample::select(vec![
        DataType::Int8,
        DataType::Int16,
        DataType::Int32,
        DataType::Int64,
        DataType::UInt8,
        DataType::UInt16,
        DataType::UInt32,
        DataType::UInt64,
    ])
}

/// A FixedSizeBinary width or FixedSizeList length.
fn size() -> impl Strategy<Value = i32> {
    prop_oneof![0..=64i32, 0..=i32::MAX, Just(i32::MAX)]
}

/// Leaf types, with the parameters Arrow allows: Time32 in s/ms, Time64 in us/ns, decimal
/// precision 1 to the type's maximum and scale at most the precision, sizes not negative.
fn leaf_type() -> impl Strategy<Value = DataType> {
    let simple = prop::sample::select(vec![
        DataType::Null,
        DataType::Boolean,
        DataType::Float16,
        DataType::Float32,
        DataType::Float64,
        DataType::Date32,
        DataType::Date64,
        DataType::Binary,
        DataType::LargeBinary,
        DataType::Utf8,
        DataType::LargeUtf8,
        DataType::BinaryView,
        DataType::Utf8View,
    ]);
    let decimal = (0usize..4, any::<Index>(), any::<Index>()).prop_map(|(k, p, s)| {
        let p = 1 + p.index([9, 18, 38, 76][k]);
        let s = (s.index(2 * p + 1) as i32 - p as i32) as i8;
        let p = p as u8;
        match k {
            0 => DataType::Decimal32(p, s),
            1 => DataType::Decimal64(p, s),
            2 => DataType::Decimal128(p, s),
            _ => DataType::Decimal256(p, s),
        }
    });
    let tz = prop_oneof!["UTC", "[+-][01][0-9]:[0-5][0-9]", "\\PC{0,6}"];
    prop_oneof![
        3 => simple,
        2 => int_type(),
        1 => (time_unit(), option::of(tz))
            .prop_map(|(u, tz)| DataType::Timestamp(u, tz.map(Into::into))),
        1 => prop_oneof![Just(TimeUnit::Second), Just(TimeUnit::Millisecond)]
            .prop_map(DataType::Time32),
        1 => prop_oneof![Just(TimeUnit::Microsecond), Just(TimeUnit::Nanosecond)]
            .prop_map(DataType::Time64),
        1 => time_unit().prop_map(DataType::Duration),
        1 => prop_oneof![
            Just(IntervalUnit::YearMonth),
            Just(IntervalUnit::DayTime),
            Just(IntervalUnit::MonthDayNano),
        ]
        .prop_map(DataType::Interval),
        1 => size().prop_map(DataType::FixedSizeBinary),
        2 => decimal,
    ]
}

/// A field of type `dt`, with metadata; dictionary fields get a random ordered flag.
fn field_of(dt: impl Strategy<Value = DataType>) -> impl Strategy<Value = Field> {
    (text(), any::<bool>(), dt, metadata(), any::<bool>()).prop_map(
        |(name, nullable, dt, metadata, ordered)| {
            Field::new(name, dt, nullable)
                .with_metadata(metadata)
                .with_dict_is_ordered(ordered)
        },
    )
}

/// Any type the format stores, nested a few levels: list, large list, fixed size list,
/// struct, map (entries struct with a non-null key) and dictionary (integer keys).
fn data_type() -> BoxedStrategy<DataType> {
    leaf_type()
        .prop_recursive(4, 24, 4, |inner| {
            let child = || field_of(inner.clone()).prop_map(Arc::new);
            prop_oneof![
                child().prop_map(DataType::List),
                child().prop_map(DataType::LargeList),
                (child(), size()).prop_map(|(f, n)| DataType::FixedSizeList(f, n)),
                vec(field_of(inner.clone()), 0..4).prop_map(|fs| DataType::Struct(fs.into())),
                (
                    field_of(inner.clone()),
                    field_of(inner.clone()),
                    text(),
                    any::<bool>()
                )
                    .prop_map(|(k, v, name, sorted)| {
                        let entries = DataType::Struct(vec![k.with_nullable(false), v].into());
                        DataType::Map(Arc::new(Field::new(name, entries, false)), sorted)
                    }),
                (int_type(), inner.clone())
                    .prop_map(|(k, v)| DataType::Dictionary(Box::new(k), Box::new(v))),
            ]
        })
        .boxed()
}

fn schema() -> impl Strategy<Value = Schema> {
    (vec(field_of(data_type()), 0..5), metadata())
        .prop_map(|(fields, metadata)| Schema::new_with_metadata(fields, metadata))
}

/// Pages as a manifest holds them: every page but the last full, the last 1 to PAGE_SEGMENTS.
/// Rows and bytes stay small enough that the totals over at most 4 pages fit a u64.
fn pages() -> impl Strategy<Value = Vec<PageRef>> {
    let full = PAGE_SEGMENTS as u32;
    (
        vec((hash(), count(u64::MAX / 4), count(u64::MAX / 4)), 0..=4),
        prop_oneof![Just(full), 1..=full],
    )
        .prop_map(move |(raw, last)| {
            let n = raw.len();
            raw.into_iter()
                .enumerate()
                .map(|(i, (id, rows, bytes))| PageRef {
                    id: PageId(id),
                    segments: if i + 1 == n { last } else { full },
                    rows,
                    bytes,
                })
                .collect()
        })
}

/// A table whose totals are the sums of its pages.
fn table(name: &str, schema: Schema, pages: Vec<PageRef>) -> TableManifest {
    TableManifest {
        name: name.to_owned(),
        schema: Arc::new(schema),
        rows: pages.iter().map(|p| p.rows).sum(),
        bytes: pages.iter().map(|p| p.bytes).sum(),
        segments: pages.iter().map(|p| u64::from(p.segments)).sum(),
        pages,
    }
}

/// A valid manifest: tables sorted and unique by valid names, pages and totals consistent.
fn manifest() -> impl Strategy<Value = Manifest> {
    btree_map(table_name(), (schema(), pages()), 0..4).prop_map(|tables| Manifest {
        tables: tables
            .into_iter()
            .map(|(name, (schema, pages))| table(&name, schema, pages))
            .collect(),
    })
}

fn table_op() -> impl Strategy<Value = TableOp> {
    prop_oneof![
        Just(TableOp::Create),
        Just(TableOp::Append),
        Just(TableOp::Overwrite)
    ]
}

/// An upstream snapshot of a commit: a store, an id, maybe a table.
fn upstream() -> impl Strategy<Value = Upstream> {
    ("[a-z0-9:/._-]{1,12}", hash(), option::of(table_name())).prop_map(|(store, s, table)| {
        Upstream {
            store,
            snapshot: SnapshotId(s),
            table,
        }
    })
}

/// A tag target whose commit comes before record `seq`.
fn tag_target(seq: u64) -> impl Strategy<Value = TagTarget> {
    (hash(), prop_oneof![Just(seq - 1), 0..seq]).prop_map(|(s, seq)| TagTarget {
        snapshot: SnapshotId(s),
        seq,
    })
}

/// A valid record: seq >= 1; a commit's parent before seq, changes sorted by unique valid table
/// name, valid unique tag names; a tag record has a valid name and a target or a previous
/// target, whose commits come before seq.
fn log_record() -> impl Strategy<Value = LogRecord> {
    prop_oneof![3 => 1..=8u64, 2 => 1..=u64::MAX, 1 => Just(u64::MAX)]
        .prop_flat_map(|seq| {
            let parent = if seq > 1 {
                option::of(1..seq).boxed()
            } else {
                Just(None).boxed()
            };
            let change = (table_op(), any::<(u64, u64, u64)>());
            let commit = (
                hash(),
                parent,
                btree_map(table_name(), change, 0..4),
                btree_set(tag_name(), 0..3),
                btree_set(upstream(), 0..3),
            )
                .prop_map(|(snapshot, parent_commit, changes, tags, upstream)| {
                    RecordKind::Commit {
                        snapshot: SnapshotId(snapshot),
                        parent_commit,
                        changes: changes
                            .into_iter()
                            .map(|(table, (op, (segments, rows, bytes)))| TableChange {
                                table,
                                op,
                                segments,
                                rows,
                                bytes,
                            })
                            .collect(),
                        tags: tags.into_iter().collect(),
                        upstream: upstream.into_iter().collect(),
                    }
                });
            let expire = (btree_set(hash(), 1..4), any::<bool>()).prop_map(|(ids, purge)| {
                RecordKind::Expire {
                    snapshots: ids.into_iter().map(SnapshotId).collect(),
                    purge,
                }
            });
            let targets = prop_oneof![
                tag_target(seq).prop_map(|t| (Some(t), None)),
                tag_target(seq).prop_map(|p| (None, Some(p))),
                (tag_target(seq), tag_target(seq)).prop_map(|(t, p)| (Some(t), Some(p))),
            ];
            let tag =
                (tag_name(), targets).prop_map(|(name, (target, previous))| RecordKind::Tag {
                    name,
                    target,
                    previous,
                });
            (
                Just(seq),
                hash(),
                any::<i64>(),
                text(),
                text(),
                prop_oneof![3 => commit, 2 => tag, 1 => expire],
            )
        })
        .prop_map(
            |(seq, prev, time_micros, author, message, kind)| LogRecord {
                seq,
                prev: RecordHash(prev),
                time_micros,
                author,
                message,
                kind,
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Strategies for invalid values: well-formed bytes that break the rules a decoder checks
// ---------------------------------------------------------------------------------------------

/// Segment list pages with arbitrary numbers: entry rows unrelated to (or the wrapped sum of)
/// the row groups' rows, chunks anywhere, 0 to PAGE_SEGMENTS + 2 entries.
fn raw_segment_list() -> impl Strategy<Value = SegmentList> {
    let entry = (hash(), any::<u64>(), any::<u64>(), vec(column(), 0..3))
        .prop_flat_map(|(id, bytes, rows, columns)| {
            let n = columns.len();
            let chunk = (any::<u64>(), any::<u64>(), hash(), stats()).prop_map(
                |(offset, length, hash, stats)| ChunkEntry {
                    offset,
                    length,
                    hash,
                    stats,
                },
            );
            let row_group = (any::<u64>(), vec(chunk, n))
                .prop_map(|(rows, chunks)| RowGroupEntry { rows, chunks });
            (
                Just(id),
                Just(bytes),
                Just(rows),
                Just(columns),
                vec(row_group, 0..4),
                any::<bool>(),
            )
        })
        .prop_map(
            |(id, bytes, rows, columns, row_groups, wrapped)| SegmentEntry {
                id: SegmentId(id),
                bytes,
                // The wrapped sum is what a release build's `sum()` would compare equal.
                rows: if wrapped {
                    row_groups.iter().fold(0u64, |a, r| a.wrapping_add(r.rows))
                } else {
                    rows
                },
                columns,
                row_groups,
            },
        )
        .boxed();
    prop_oneof![
        4 => vec(entry.clone(), 0..=3),
        1 => vec(entry, PAGE_SEGMENTS..=PAGE_SEGMENTS + 2),
    ]
    .prop_map(|entries| SegmentList { entries })
}

/// Manifests with any names (repeated, invalid, in any order) and any page counts and totals.
fn raw_manifest() -> impl Strategy<Value = Manifest> {
    let page = |segments: BoxedStrategy<u32>| {
        (hash(), segments, any::<u64>(), any::<u64>()).prop_map(|(id, segments, rows, bytes)| {
            PageRef {
                id: PageId(id),
                segments,
                rows,
                bytes,
            }
        })
    };
    let full = PAGE_SEGMENTS as u32;
    // Mostly well-shaped pages (all full but the last) with any rows and bytes, so the decoder
    // gets as far as adding them up; sometimes any segment counts.
    let shaped = (
        vec(page(Just(full).boxed()), 0..3),
        option::of(page((1..=full).boxed())),
    )
        .prop_map(|(mut pages, last)| {
            pages.extend(last);
            pages
        });
    let pages = prop_oneof![3 => shaped, 1 => vec(page(any::<u32>().boxed()), 0..4)];
    let t = (
        prop_oneof![3 => table_name(), 1 => text()],
        schema(),
        pages,
        any::<bool>(),
        any::<(u64, u64, u64)>(),
    )
        .prop_map(|(name, schema, pages, wrapped, (rows, bytes, segments))| {
            let wsum =
                |f: fn(&PageRef) -> u64| pages.iter().fold(0u64, |a, p| a.wrapping_add(f(p)));
            let (rows, bytes, segments) = if wrapped {
                (
                    wsum(|p| p.rows),
                    wsum(|p| p.bytes),
                    wsum(|p| u64::from(p.segments)),
                )
            } else {
                (rows, bytes, segments)
            };
            TableManifest {
                name,
                schema: Arc::new(schema),
                rows,
                bytes,
                segments,
                pages,
            }
        });
    vec(t, 0..4).prop_map(|tables| Manifest { tables })
}

/// Records with any seq (0 too), any parent, changes in any order and repeated, any names,
/// tag records with no target or with targets at or after their own seq.
fn raw_log_record() -> impl Strategy<Value = LogRecord> {
    let name = || prop_oneof![tag_name(), table_name(), text()];
    let change = (name(), table_op(), any::<(u64, u64, u64)>()).prop_map(
        |(table, op, (segments, rows, bytes))| TableChange {
            table,
            op,
            segments,
            rows,
            bytes,
        },
    );
    let commit = (
        hash(),
        option::of(prop_oneof![0..=4u64, any::<u64>()]),
        vec(change, 0..4),
        vec(name(), 0..3),
        vec(
            (
                prop_oneof![Just(String::new()), text()],
                hash(),
                option::of(name()),
            )
                .prop_map(|(store, s, table)| Upstream {
                    store,
                    snapshot: SnapshotId(s),
                    table,
                }),
            0..3,
        ),
    )
        .prop_map(
            |(snapshot, parent_commit, changes, tags, upstream)| RecordKind::Commit {
                snapshot: SnapshotId(snapshot),
                parent_commit,
                changes,
                tags,
                upstream,
            },
        );
    let expire = (
        vec(prop_oneof![Just([0u8; 32]), hash()], 0..3),
        any::<bool>(),
    )
        .prop_map(|(ids, purge)| RecordKind::Expire {
            snapshots: ids.into_iter().map(SnapshotId).collect(),
            purge,
        });
    let target = || {
        option::of((hash(), prop_oneof![0..=4u64, any::<u64>()])).prop_map(|t| {
            t.map(|(s, seq)| TagTarget {
                snapshot: SnapshotId(s),
                seq,
            })
        })
    };
    let tag = (name(), target(), target()).prop_map(|(name, target, previous)| RecordKind::Tag {
        name,
        target,
        previous,
    });
    (
        prop_oneof![0..=4u64, any::<u64>()],
        hash(),
        any::<i64>(),
        text(),
        text(),
        prop_oneof![commit, tag, expire],
    )
        .prop_map(
            |(seq, prev, time_micros, author, message, kind)| LogRecord {
                seq,
                prev: RecordHash(prev),
                time_micros,
                author,
                message,
                kind,
            },
        )
}

/// A non-zero XOR mask: a single bit half the time, any byte otherwise.
fn flip_mask() -> impl Strategy<Value = u8> {
    prop_oneof![(0u32..8).prop_map(|b| 1u8 << b), 1u8..=255]
}

/// Strings from the ref grammar's alphabet, to reach deep into `RefSpec::parse`.
fn ref_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "(HEAD|@[0-9]{0,21}|[0-9a-fA-F]{0,66}|[a-z./@{-]{0,6})(~[0-9+-]{0,21})*",
        "[HEAD@~0-9a-fA-F./{}-]{0,16}",
        any::<String>(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The manifest layout of §6, written without any check, to give the decoder invalid input
/// (`Manifest::encode` may refuse to write it).
fn manifest_bytes_unchecked(m: &Manifest) -> Vec<u8> {
    let mut e = Encoder::new();
    e.raw(&MANIFEST_MAGIC);
    e.u32(FORMAT_VERSION);
    let mut tables: Vec<&TableManifest> = m.tables.iter().collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    e.len(tables.len());
    for t in tables {
        e.str(&t.name);
        encode_schema(&mut e, &t.schema).expect("generated schemas are supported");
        e.u64(t.rows);
        e.u64(t.bytes);
        e.u64(t.segments);
        e.len(t.pages.len());
        for p in &t.pages {
            e.hash(&p.id.0);
            e.u32(p.segments);
            e.u64(p.rows);
            e.u64(p.bytes);
        }
    }
    e.into_bytes()
}

fn decode_schema_bytes(bytes: &[u8]) -> dstore_format::Result<Schema> {
    let mut d = Decoder::new(bytes, ObjectKind::Schema);
    let s = decode_schema(&mut d)?;
    d.finish()?;
    Ok(s)
}

/// `Field: PartialEq` ignores `dict_is_ordered`; collect it for every field, depth first.
fn dict_flags(fields: &Fields, out: &mut Vec<Option<bool>>) {
    for f in fields {
        field_flags(f, out);
    }
}

fn field_flags(f: &Field, out: &mut Vec<Option<bool>>) {
    out.push(f.dict_is_ordered());
    match f.data_type() {
        DataType::List(c)
        | DataType::LargeList(c)
        | DataType::FixedSizeList(c, _)
        | DataType::Map(c, _) => field_flags(c, out),
        DataType::Struct(fs) => dict_flags(fs, out),
        _ => {}
    }
}

fn schema_flags(s: &Schema) -> Vec<Option<bool>> {
    let mut out = Vec::new();
    dict_flags(&s.fields, &mut out);
    out
}

/// A decoder must accept only canonical bytes: whatever it returns re-encodes to its input.
fn manifest_decode_is_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(m) = Manifest::decode(bytes) {
        let again = m.encode();
        prop_assert!(
            again.as_deref() == Ok(bytes),
            "Manifest::decode accepted {bytes:02x?} as {m:?}, which encodes to {again:02x?}"
        );
    }
    Ok(())
}

fn segment_list_decode_is_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(s) = SegmentList::decode(bytes) {
        prop_assert!(
            s.encode() == bytes,
            "SegmentList::decode accepted non-canonical bytes {bytes:02x?} as {s:?}"
        );
    }
    Ok(())
}

fn log_record_decode_is_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(r) = LogRecord::decode(bytes) {
        prop_assert!(
            r.encode() == bytes,
            "LogRecord::decode accepted non-canonical bytes {bytes:02x?} as {r:?}"
        );
    }
    Ok(())
}

fn schema_decode_is_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(s) = decode_schema_bytes(bytes) {
        let again = schema_bytes(&s);
        prop_assert!(
            again.as_deref() == Ok(bytes),
            "decode_schema accepted {bytes:02x?} as {s:?}, which encodes to {again:02x?}"
        );
    }
    Ok(())
}

/// Runs every decoder over `bytes`; none may panic, and any that succeeds must be canonical.
fn decode_everything(bytes: &[u8]) -> Result<(), TestCaseError> {
    manifest_decode_is_canonical(bytes)?;
    segment_list_decode_is_canonical(bytes)?;
    log_record_decode_is_canonical(bytes)?;
    schema_decode_is_canonical(bytes)?;
    if decode_marker(bytes).is_ok() {
        prop_assert_eq!(bytes, &encode_marker()[..]);
    }
    Ok(())
}

fn header(magic: [u8; 8]) -> Vec<u8> {
    let mut b = magic.to_vec();
    b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    b
}

/// Appends a log record's checksum so that the decoder gets past it to the structure.
fn with_checksum(mut body: Vec<u8>) -> Vec<u8> {
    let sum = *blake3::hash(&body).as_bytes();
    body.extend_from_slice(&sum);
    body
}

fn flipped(bytes: &[u8], at: Index, mask: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let i = at.index(b.len());
    b[i] ^= mask;
    b
}

/// A strict prefix.
fn truncated(bytes: &[u8], at: Index) -> &[u8] {
    &bytes[..at.index(bytes.len())]
}

/// What `LogRecord::decode` must make of the encoding of `r`: `Some(value)` when `r` obeys
/// every rule (§9, names §10), `None` when it must be refused. No parent is written as 0, and
/// the encoder sorts the changes by table name.
fn expected_decode(r: &LogRecord) -> Option<LogRecord> {
    let mut r = r.clone();
    let seq = r.seq;
    let valid_tag = |t: &str| validate_tag_name(t.as_bytes()).is_ok();
    let ok = seq >= 1
        && match &mut r.kind {
            RecordKind::Commit {
                parent_commit,
                changes,
                tags,
                upstream,
                ..
            } => {
                if *parent_commit == Some(0) {
                    *parent_commit = None;
                }
                changes.sort_by(|a, b| a.table.cmp(&b.table));
                upstream.sort();
                upstream.dedup();
                parent_commit.is_none_or(|p| p < seq)
                    && changes.windows(2).all(|w| w[0].table < w[1].table)
                    && tags.iter().all(|t| valid_tag(t))
                    && upstream.iter().all(|u| {
                        !u.store.is_empty()
                            && u.table
                                .as_ref()
                                .is_none_or(|t| validate_table_name(t).is_ok())
                    })
            }
            RecordKind::Expire { snapshots, .. } => {
                snapshots.sort_by_key(|s| s.0);
                snapshots.dedup();
                !snapshots.is_empty()
            }
            RecordKind::Tag {
                name,
                target,
                previous,
            } => {
                valid_tag(name)
                    && (target.is_some() || previous.is_some())
                    && [&*target, &*previous]
                        .into_iter()
                        .flatten()
                        .all(|t| t.seq < seq)
            }
        };
    ok.then_some(r)
}

/// Toggles `nullable` of the first leaf reached by always descending into the first child.
fn toggle_deepest_nullable(f: &Field) -> Field {
    let deeper = match f.data_type() {
        DataType::List(c) => Some(DataType::List(Arc::new(toggle_deepest_nullable(c)))),
        DataType::LargeList(c) => Some(DataType::LargeList(Arc::new(toggle_deepest_nullable(c)))),
        DataType::FixedSizeList(c, n) => Some(DataType::FixedSizeList(
            Arc::new(toggle_deepest_nullable(c)),
            *n,
        )),
        DataType::Map(c, sorted) => {
            Some(DataType::Map(Arc::new(toggle_deepest_nullable(c)), *sorted))
        }
        DataType::Struct(fs) if !fs.is_empty() => {
            let mut v: Vec<Field> = fs.iter().map(|f| f.as_ref().clone()).collect();
            v[0] = toggle_deepest_nullable(&v[0]);
            Some(DataType::Struct(v.into()))
        }
        _ => None,
    };
    match deeper {
        Some(dt) => f.clone().with_data_type(dt),
        None => f.clone().with_nullable(!f.is_nullable()),
    }
}

/// One change to a schema; the result is always a different schema.
fn mutate_schema(s: &Schema, kind: u8, pick: Index) -> (Schema, &'static str) {
    let mut s = s.clone();
    let mut fields: Vec<Field> = s.fields.iter().map(|f| f.as_ref().clone()).collect();
    let what = if fields.is_empty() || kind == 0 {
        fields.push(Field::new("", DataType::Null, false));
        "added a field"
    } else if kind == 1 {
        s.metadata.insert("\u{7f}k", "v");
        "schema metadata"
    } else if kind == 2 && fields.len() >= 2 && fields[0] != fields[1] {
        fields.swap(0, 1);
        "swapped two fields"
    } else {
        let i = pick.index(fields.len());
        let f = fields[i].clone();
        match kind {
            3 => {
                fields[i] = f.clone().with_nullable(!f.is_nullable());
                "field nullable"
            }
            4 => {
                let name = format!("{}_", f.name());
                fields[i] = f.with_name(name);
                "field name"
            }
            5 => {
                fields[i] = f.clone().with_data_type(DataType::List(Arc::new(f)));
                "field type"
            }
            6 => {
                let mut md = f.metadata().clone();
                md.insert("\u{7f}mutated", "");
                fields[i] = f.with_metadata(md);
                "field metadata"
            }
            7 => {
                fields[i] = toggle_deepest_nullable(&f);
                "nested field nullable"
            }
            _ => {
                fields.remove(i);
                "removed a field"
            }
        }
    };
    s.fields = fields.into();
    (s, what)
}

/// A name not yet used by any table of `m`.
fn unused_name(m: &Manifest, base: &str) -> String {
    let mut name = base.to_owned();
    while m.tables.iter().any(|t| t.name == name) {
        name.push('x');
    }
    name
}

/// One change to a manifest that keeps it valid (so it still encodes). Returns the changed
/// copy and what was changed.
fn mutate(m: &Manifest, kind: u8, pick: Index, pick2: Index) -> (Manifest, &'static str) {
    let mut out = m.clone();
    if out.tables.is_empty() || kind == 0 {
        let name = unused_name(m, "zz_new");
        out.tables.push(table(&name, Schema::empty(), vec![]));
        out.tables.sort_by(|a, b| a.name.cmp(&b.name));
        return (out, "added a table");
    }
    let ti = pick.index(out.tables.len());
    if kind == 1 {
        out.tables.remove(ti);
        return (out, "removed a table");
    }
    if kind == 2 {
        let name = unused_name(m, &format!("{}_", m.tables[ti].name));
        out.tables[ti].name = name;
        out.tables.sort_by(|a, b| a.name.cmp(&b.name));
        return (out, "renamed a table");
    }
    let t = &mut out.tables[ti];
    let np = t.pages.len();
    let pi = pick2.index(np.max(1));
    let what = match kind {
        3 if np > 0 => {
            t.pages[pi].id.0[pi % 32] ^= 0x80;
            "page id"
        }
        4 if np > 0 => {
            t.pages[pi].rows += 1;
            t.rows += 1;
            "page and table rows"
        }
        5 if np > 0 => {
            t.pages[pi].bytes += 1;
            t.bytes += 1;
            "page and table bytes"
        }
        6 if np > 0 => {
            let p = t.pages.pop().unwrap();
            t.rows -= p.rows;
            t.bytes -= p.bytes;
            t.segments -= u64::from(p.segments);
            "removed the last page"
        }
        7 if t.pages.iter().any(|p| p.rows > 0) && np > 1 => {
            // Same totals, different pages.
            let i = t.pages.iter().position(|p| p.rows > 0).unwrap();
            t.pages[i].rows -= 1;
            t.pages[(i + 1) % np].rows += 1;
            "moved a row between pages"
        }
        8..=16 => {
            let (s, what) = mutate_schema(&t.schema, kind - 8, pick2);
            t.schema = Arc::new(s);
            what
        }
        _ => {
            // One more segment: in a new page if the last is full.
            match t.pages.last_mut() {
                Some(p) if (p.segments as usize) < PAGE_SEGMENTS => p.segments += 1,
                _ => t.pages.push(PageRef {
                    id: PageId([9; 32]),
                    segments: 1,
                    rows: 0,
                    bytes: 0,
                }),
            }
            t.segments += 1;
            "one more segment"
        }
    };
    (out, what)
}

// ---------------------------------------------------------------------------------------------
// 1. Round trips
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn segment_list_roundtrips(list in segment_list()) {
        let bytes = list.encode();
        prop_assert_eq!(SegmentList::decode(&bytes), Ok(list.clone()));
        let (id, again) = list.encode_with_id();
        prop_assert_eq!(&again, &bytes);
        prop_assert_eq!(id, PageId::of(&bytes));
        // The PageRef a manifest holds, when its sums fit (generated sizes may not).
        let total = |f: fn(&SegmentEntry) -> u64| {
            list.entries.iter().map(f).try_fold(0u64, u64::checked_add)
        };
        if let (Some(rows), Some(bytes)) = (total(|e| e.rows), total(|e| e.bytes)) {
            let r = list.page_ref(id);
            prop_assert_eq!((r.id, r.segments as usize), (id, list.entries.len()));
            prop_assert_eq!((r.rows, r.bytes), (rows, bytes));
        }
    }

    #[test]
    fn schema_roundtrips(schema in schema()) {
        let bytes = schema_bytes(&schema).expect("every generated type is supported");
        let back = decode_schema_bytes(&bytes);
        prop_assert_eq!(back.as_ref(), Ok(&schema));
        let back = back.unwrap();
        // `Field: PartialEq` ignores the dictionary ordered flag; check it separately.
        prop_assert_eq!(schema_flags(&back), schema_flags(&schema));
        prop_assert_eq!(schema_bytes(&back).unwrap(), bytes);
    }

    #[test]
    fn manifest_roundtrips(m in manifest()) {
        let encoded = m.encode_with_id();
        prop_assert!(encoded.is_ok(), "a valid manifest does not encode: {:?}", encoded);
        let (id, bytes) = encoded.unwrap();
        prop_assert_eq!(id, SnapshotId::of(&bytes));
        // The bytes are exactly the layout of §6.
        prop_assert_eq!(&bytes, &manifest_bytes_unchecked(&m));
        let back = Manifest::decode(&bytes);
        prop_assert_eq!(back.as_ref(), Ok(&m));
        let back = back.unwrap();
        for (a, b) in back.tables.iter().zip(&m.tables) {
            prop_assert_eq!(schema_flags(&a.schema), schema_flags(&b.schema));
            prop_assert_eq!(back.table(&b.name), Some(a));
        }
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn log_record_roundtrips(r in log_record()) {
        let bytes = r.encode();
        prop_assert_eq!(LogRecord::decode(&bytes), Ok(r.clone()));
        let snapshot = match &r.kind {
            RecordKind::Commit { snapshot, .. } => Some(*snapshot),
            RecordKind::Tag { .. } | RecordKind::Expire { .. } => None,
        };
        prop_assert_eq!(r.version(), match &r.kind {
            RecordKind::Commit { upstream, .. } if !upstream.is_empty() => 2,
            RecordKind::Expire { .. } => 2,
            _ => 1,
        });
        prop_assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), r.version());
        prop_assert_eq!(r.snapshot(), snapshot);
        // The record hash chains the log: it covers the checksum too.
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        let expected = *blake3::hash(body).as_bytes();
        prop_assert_eq!(sum, &expected[..]);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Canonical encodings
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn encodings_are_deterministic(
        m in manifest(),
        list in segment_list(),
        r in log_record(),
    ) {
        prop_assert_eq!(m.encode().unwrap(), m.clone().encode().unwrap());
        prop_assert_eq!(list.encode(), list.clone().encode());
        prop_assert_eq!(r.encode(), r.clone().encode());
        prop_assert_eq!(encode_marker(), encode_marker());
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// The encoder sorts tables, so the order they are held in does not change the id.
    #[test]
    fn table_order_does_not_change_the_id(m in manifest(), rotate in any::<Index>()) {
        let mut shuffled = m.clone();
        shuffled.tables.reverse();
        if !shuffled.tables.is_empty() {
            let k = rotate.index(shuffled.tables.len());
            shuffled.tables.rotate_left(k);
        }
        prop_assert_eq!(shuffled.encode_with_id().unwrap().0, m.encode_with_id().unwrap().0);
    }

    /// Changing any one field of a manifest changes its snapshot id.
    #[test]
    fn any_change_changes_the_manifest_id(
        m in manifest(),
        kind in 0u8..=17,
        pick in any::<Index>(),
        pick2 in any::<Index>(),
    ) {
        let (changed, what) = mutate(&m, kind, pick, pick2);
        prop_assert_ne!(&changed, &m, "mutation {} was a no-op", what);
        let (a, _) = m.encode_with_id().unwrap();
        let b = changed.encode_with_id();
        prop_assert!(b.is_ok(), "after {}, a valid manifest does not encode: {:?}", what, b);
        prop_assert_ne!(a, b.unwrap().0, "{} did not change the snapshot id", what);
    }

    /// The dictionary ordered flag, which `Field: PartialEq` ignores, is part of the id too.
    #[test]
    fn dictionary_order_flag_changes_the_id(
        key in int_type(),
        value in data_type(),
        ordered in any::<bool>(),
    ) {
        let f = Field::new("d", DataType::Dictionary(Box::new(key), Box::new(value)), true);
        let a = Schema::new(vec![f.clone().with_dict_is_ordered(ordered)]);
        let b = Schema::new(vec![f.with_dict_is_ordered(!ordered)]);
        prop_assert_ne!(schema_bytes(&a).unwrap(), schema_bytes(&b).unwrap());
    }

    /// Records differing in one field have different bytes (and so different hashes).
    #[test]
    fn any_change_changes_the_record_hash(r in log_record(), kind in 0u8..6) {
        let mut c = r.clone();
        match kind {
            0 => c.seq = c.seq.wrapping_add(1).max(1),
            1 => c.prev.0[31] ^= 1,
            2 => c.time_micros = c.time_micros.wrapping_sub(1),
            3 => c.author.push('a'),
            4 => c.message.insert(0, 'm'),
            _ => match &mut c.kind {
                RecordKind::Commit { tags, .. } => tags.push("new".into()),
                RecordKind::Expire { purge, .. } => *purge = !*purge,
                RecordKind::Tag { target, .. } => {
                    *target = match target {
                        None => Some(TagTarget { snapshot: SnapshotId([0; 32]), seq: 0 }),
                        Some(_) => None,
                    };
                }
            },
        }
        prop_assume!(c != r);
        prop_assert_ne!(RecordHash::of(&c.encode()), RecordHash::of(&r.encode()));
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Robustness: decoders never panic, and accept only canonical bytes
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        decode_everything(&bytes)?;
    }

    /// Random bytes behind a valid magic and version, so decoders get past the header; for
    /// log records also with a valid checksum.
    #[test]
    fn arbitrary_bodies_never_panic(
        which in 0usize..4,
        body in prop_oneof![
            vec(any::<u8>(), 0..256),
            // Small numbers make plausible counts, lengths and tags.
            vec(prop_oneof![0u8..=3, any::<u8>()], 0..256),
        ],
    ) {
        let magic = [MANIFEST_MAGIC, SEGLIST_MAGIC, RECORD_MAGIC, MARKER_MAGIC][which];
        let mut bytes = header(magic);
        bytes.extend_from_slice(&body);
        decode_everything(&bytes)?;
        decode_everything(&with_checksum(bytes))?;
    }

    #[test]
    fn manifest_corruption_never_panics(
        m in manifest(),
        at in any::<Index>(),
        mask in flip_mask(),
    ) {
        let bytes = manifest_bytes_unchecked(&m);
        manifest_decode_is_canonical(&flipped(&bytes, at, mask))?;
        // A strict prefix of a decodable file never decodes.
        let cut = truncated(&bytes, at);
        let r = Manifest::decode(cut);
        if Manifest::decode(&bytes).is_ok() {
            prop_assert!(r.is_err(), "a {}-byte prefix of a manifest decoded", cut.len());
        }
    }

    #[test]
    fn schema_corruption_never_panics(
        schema in schema(),
        at in any::<Index>(),
        mask in flip_mask(),
    ) {
        let bytes = schema_bytes(&schema).unwrap();
        schema_decode_is_canonical(&flipped(&bytes, at, mask))?;
        prop_assert!(decode_schema_bytes(truncated(&bytes, at)).is_err());
    }

    /// Flags bit 1 (dictionary ordered) on a field that is not a dictionary: the decoder must
    /// refuse it, or it would drop the bit and one schema would have two encodings (and one
    /// snapshot two ids).
    #[test]
    fn ordered_flag_on_a_non_dictionary_field_is_refused(field in field_of(data_type())) {
        prop_assume!(!matches!(field.data_type(), DataType::Dictionary(..)));
        let mut bytes = schema_bytes(&Schema::new(vec![field.clone()])).unwrap();
        // u32 field count, then the field: u32 name length, name, flags.
        let flags_at = 4 + 4 + field.name().len();
        prop_assert_eq!(bytes[flags_at] & !1, 0);
        bytes[flags_at] |= 2;
        schema_decode_is_canonical(&bytes)?;
    }

    /// The trailing BLAKE3 makes every single flip and every truncation an error.
    #[test]
    fn log_record_corruption_is_always_an_error(
        r in log_record(),
        at in any::<Index>(),
        mask in flip_mask(),
    ) {
        let bytes = r.encode();
        let res = LogRecord::decode(&flipped(&bytes, at, mask));
        prop_assert!(res.is_err(), "flip at {} decoded: {:?}", at.index(bytes.len()), res);
        let cut = truncated(&bytes, at);
        let res = LogRecord::decode(cut);
        prop_assert!(res.is_err(), "{}-byte prefix decoded: {:?}", cut.len(), res);
    }

    #[test]
    fn marker_corruption_is_always_an_error(at in any::<Index>(), mask in flip_mask()) {
        let bytes = encode_marker();
        prop_assert_eq!(decode_marker(&bytes), Ok(FORMAT_VERSION));
        prop_assert!(decode_marker(&flipped(&bytes, at, mask)).is_err());
        prop_assert!(decode_marker(truncated(&bytes, at)).is_err());
    }

    /// Same for manifests (repeated or invalid names, bad page fill, totals that disagree or
    /// overflow). `Manifest::encode` writes exactly what `Manifest::decode` accepts.
    #[test]
    fn invalid_manifests_never_panic(m in raw_manifest()) {
        let bytes = manifest_bytes_unchecked(&m);
        manifest_decode_is_canonical(&bytes)?;
        let decoded = Manifest::decode(&bytes);
        let encoded = m.encode();
        prop_assert_eq!(
            encoded.is_ok(),
            decoded.is_ok(),
            "encode gives {:?}, decode gives {:?}",
            encoded,
            decoded
        );
        if let Ok(b) = encoded {
            prop_assert_eq!(b, bytes);
        }
        if let Ok(d) = decoded {
            for t in &d.tables {
                prop_assert!(validate_table_name(&t.name).is_ok(), "{:?}", t.name);
            }
        }
    }

    /// Same for log records (seq 0, parent not before seq, unsorted or repeated changes,
    /// invalid tag names, tag records with no target or a target not before seq): exactly the
    /// records breaking a rule are refused.
    #[test]
    fn invalid_log_records_never_panic(r in raw_log_record()) {
        let bytes = r.encode();
        log_record_decode_is_canonical(&bytes)?;
        let got = LogRecord::decode(&bytes);
        match expected_decode(&r) {
            Some(expected) => prop_assert_eq!(got, Ok(expected)),
            None => prop_assert!(got.is_err(), "invalid record decoded: {:?}", got),
        }
    }
}

// Segment list pages can hold 128 entries; fewer cases keep these fast.
proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn segment_list_corruption_never_panics(
        list in segment_list(),
        at in any::<Index>(),
        mask in flip_mask(),
    ) {
        let bytes = list.encode();
        segment_list_decode_is_canonical(&flipped(&bytes, at, mask))?;
        let cut = truncated(&bytes, at);
        let r = SegmentList::decode(cut);
        if SegmentList::decode(&bytes).is_ok() {
            prop_assert!(r.is_err(), "a {}-byte prefix of a segment list decoded", cut.len());
        }
    }

    /// Encodings of values that break the rules (counts that disagree or overflow, chunks
    /// outside the file, too many entries, ...) decode to an error or to a value that
    /// re-encodes to the same bytes; never to a panic.
    #[test]
    fn invalid_segment_lists_never_panic(list in raw_segment_list()) {
        segment_list_decode_is_canonical(&list.encode())?;
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Refs
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn ref_parse_never_panics(s in ref_like()) {
        if let Ok(RefSpec { base: RefBase::Tag(name), .. }) = RefSpec::parse(&s) {
            prop_assert!(validate_tag_name(name.as_bytes()).is_ok(), "parsed invalid tag {:?}", name);
        }
    }

    #[test]
    fn valid_tag_names_parse_as_tags(name in tag_name(), back in any::<u64>()) {
        prop_assert_eq!(
            RefSpec::parse(&name),
            Ok(RefSpec { base: RefBase::Tag(name.clone()), back: 0 })
        );
        prop_assert_eq!(
            RefSpec::parse(&format!("{name}~{back}")),
            Ok(RefSpec { base: RefBase::Tag(name.clone()), back })
        );
    }

    #[test]
    fn other_ref_forms_parse(
        seq in 1..=u64::MAX,
        id in hash(),
        back in any::<u64>(),
        len in 8usize..64,
    ) {
        prop_assert_eq!(
            RefSpec::parse(&format!("HEAD~{back}")),
            Ok(RefSpec { base: RefBase::Head, back })
        );
        prop_assert_eq!(
            RefSpec::parse(&format!("@{seq}")),
            Ok(RefSpec { base: RefBase::Seq(seq), back: 0 })
        );
        let id = SnapshotId(id);
        prop_assert_eq!(
            RefSpec::parse(&id.to_hex().to_uppercase()),
            Ok(RefSpec { base: RefBase::Id(id), back: 0 })
        );
        prop_assert_eq!(
            RefSpec::parse(&id.to_hex()[..len].to_uppercase()),
            Ok(RefSpec { base: RefBase::Prefix(id.short(len)), back: 0 })
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed cases pinning the properties to known bytes and known bugs
// ---------------------------------------------------------------------------------------------

/// The smallest values with content: a segment entry with no columns (56 bytes) and a table
/// with one page (a PageRef is 52 bytes).
#[test]
fn minimal_values_roundtrip() {
    let list = SegmentList {
        entries: vec![SegmentEntry {
            id: SegmentId([7; 32]),
            bytes: 0,
            rows: 0,
            columns: vec![],
            row_groups: vec![],
        }],
    };
    assert_eq!(SegmentList::decode(&list.encode()), Ok(list));

    let page = PageRef {
        id: PageId([1; 32]),
        segments: 1,
        rows: 0,
        bytes: 0,
    };
    let m = Manifest {
        tables: vec![table("t", Schema::empty(), vec![page])],
    };
    assert_eq!(m.encode().and_then(|b| Manifest::decode(&b)), Ok(m));
}

/// The example of §7: `x: Int64`, nullable, no metadata, in 19 bytes.
#[test]
fn schema_example_bytes() {
    let s = Schema::new(vec![Field::new("x", DataType::Int64, true)]);
    let bytes = schema_bytes(&s).unwrap();
    assert_eq!(
        bytes,
        [1, 0, 0, 0, 1, 0, 0, 0, b'x', 1, 5, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(decode_schema_bytes(&bytes), Ok(s));
}

/// Types §7 does not list are refused by the writer, not silently mangled.
#[test]
fn unsupported_types_are_refused() {
    let child = Arc::new(Field::new("item", DataType::Int32, true));
    for dt in [
        DataType::ListView(child.clone()),
        DataType::LargeListView(child.clone()),
        DataType::RunEndEncoded(
            Arc::new(Field::new("run_ends", DataType::Int32, false)),
            child.clone(),
        ),
        DataType::Union(
            UnionFields::try_new(vec![0], vec![child.as_ref().clone()]).unwrap(),
            arrow_schema::UnionMode::Dense,
        ),
        DataType::List(Arc::new(Field::new(
            "item",
            DataType::ListView(child),
            true,
        ))),
    ] {
        let s = Schema::new(vec![Field::new("f", dt.clone(), true)]);
        assert!(
            matches!(schema_bytes(&s), Err(Error::UnsupportedType { .. })),
            "{dt} was encoded"
        );
    }
}

/// Totals are checked against the sum of the parts. A sum that overflows u64 must be an
/// error: not a panic (debug build) nor a wrapped sum that happens to match (release build).
#[test]
fn overflowing_sums_are_an_error() {
    let half = 1u64 << 63;
    let page = |segments, bytes| PageRef {
        id: PageId([0; 32]),
        segments,
        rows: 0,
        bytes,
    };
    let mut a = table(
        "a",
        Schema::empty(),
        vec![page(PAGE_SEGMENTS as u32, half), page(1, 0)],
    );
    a.pages[1].bytes = half; // the pages' bytes now sum to 2^64, i.e. 0 when wrapped
    assert_eq!(a.bytes, half);
    a.bytes = 0;
    // A second table, so the page count bound of the first is not what refuses the file.
    let b = table("b", Schema::empty(), vec![page(1, 0)]);
    let bytes = manifest_bytes_unchecked(&Manifest { tables: vec![a, b] });
    let r = std::panic::catch_unwind(|| Manifest::decode(&bytes));
    assert!(
        matches!(r, Ok(Err(_))),
        "page bytes summing past u64::MAX: {}",
        r.map_or_else(|_| "decode panicked".into(), |r| format!("{r:?}"))
    );

    let list = SegmentList {
        entries: vec![SegmentEntry {
            id: SegmentId([0; 32]),
            bytes: 0,
            rows: 0, // half + half, wrapped
            columns: vec![],
            row_groups: vec![
                RowGroupEntry {
                    rows: half,
                    chunks: vec![],
                },
                RowGroupEntry {
                    rows: half,
                    chunks: vec![],
                },
            ],
        }],
    };
    let bytes = list.encode();
    let r = std::panic::catch_unwind(|| SegmentList::decode(&bytes));
    assert!(
        matches!(r, Ok(Err(_))),
        "row group rows summing past u64::MAX: {}",
        r.map_or_else(|_| "decode panicked".into(), |r| format!("{r:?}"))
    );
}
