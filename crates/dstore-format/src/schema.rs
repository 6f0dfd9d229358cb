//! Canonical encoding of Arrow schemas.
//!
//! Arrow's own IPC schema message is a flatbuffer whose byte layout depends on the builder, so
//! it cannot feed a content hash. This encoding is one byte string per schema, fixed by
//! `docs/format.md` ("Schema").

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, IntervalUnit, Metadata, Schema, TimeUnit};

use crate::codec::{Decoder, Encoder};
use crate::error::{Error, ObjectKind, Result};

// Type tags. Never renumber: they are part of every snapshot id.
const T_NULL: u8 = 0;
const T_BOOL: u8 = 1;
const T_I8: u8 = 2;
const T_I16: u8 = 3;
const T_I32: u8 = 4;
const T_I64: u8 = 5;
const T_U8: u8 = 6;
const T_U16: u8 = 7;
const T_U32: u8 = 8;
const T_U64: u8 = 9;
const T_F16: u8 = 10;
const T_F32: u8 = 11;
const T_F64: u8 = 12;
const T_TIMESTAMP: u8 = 13;
const T_DATE32: u8 = 14;
const T_DATE64: u8 = 15;
const T_TIME32: u8 = 16;
const T_TIME64: u8 = 17;
const T_DURATION: u8 = 18;
const T_INTERVAL: u8 = 19;
const T_BINARY: u8 = 20;
const T_FIXED_BINARY: u8 = 21;
const T_LARGE_BINARY: u8 = 22;
const T_UTF8: u8 = 23;
const T_LARGE_UTF8: u8 = 24;
const T_BINARY_VIEW: u8 = 25;
const T_UTF8_VIEW: u8 = 26;
const T_LIST: u8 = 27;
const T_LARGE_LIST: u8 = 28;
const T_FIXED_LIST: u8 = 29;
const T_STRUCT: u8 = 30;
const T_MAP: u8 = 31;
const T_DICTIONARY: u8 = 32;
const T_DECIMAL128: u8 = 33;
const T_DECIMAL256: u8 = 34;
const T_DECIMAL32: u8 = 35;
const T_DECIMAL64: u8 = 36;

const FLAG_NULLABLE: u8 = 1;
const FLAG_DICT_ORDERED: u8 = 2;

/// Encodes `schema` canonically. Metadata maps are written sorted by key.
pub fn encode_schema(e: &mut Encoder, schema: &Schema) -> Result<()> {
    encode_fields(e, schema.fields())?;
    encode_metadata(e, schema.metadata());
    Ok(())
}

/// Decodes a schema written by [`encode_schema`].
pub fn decode_schema(d: &mut Decoder<'_>) -> Result<Schema> {
    let fields = decode_fields(d, 0)?;
    let metadata = decode_metadata(d)?;
    Ok(Schema::new_with_metadata(fields, metadata))
}

/// The canonical bytes of a schema alone (used for schema hashes).
pub fn schema_bytes(schema: &Schema) -> Result<Vec<u8>> {
    let mut e = Encoder::new();
    encode_schema(&mut e, schema)?;
    Ok(e.into_bytes())
}

/// Decodes the bytes [`schema_bytes`] wrote, all of them.
pub fn schema_from_bytes(bytes: &[u8]) -> Result<Schema> {
    let mut d = Decoder::new(bytes, ObjectKind::Schema);
    let schema = decode_schema(&mut d)?;
    d.finish()?;
    Ok(schema)
}

fn encode_metadata(e: &mut Encoder, m: &Metadata) {
    // `Metadata` is a BTreeMap: iteration is already sorted by key.
    let entries: Vec<_> = m.iter().collect();
    e.len(entries.len());
    for (k, v) in entries {
        e.str(k);
        e.str(v);
    }
}

fn decode_metadata(d: &mut Decoder<'_>) -> Result<BTreeMap<String, String>> {
    let count = d.len(8)?;
    let mut map = BTreeMap::new();
    let mut last: Option<String> = None;
    for _ in 0..count {
        let key = d.str()?;
        if last.as_ref().is_some_and(|l| *l >= key) {
            return Err(d.error("metadata keys must be unique and sorted"));
        }
        let value = d.str()?;
        last = Some(key.clone());
        map.insert(key, value);
    }
    Ok(map)
}

fn encode_fields(e: &mut Encoder, fields: &Fields) -> Result<()> {
    e.len(fields.len());
    for f in fields {
        encode_field(e, f)?;
    }
    Ok(())
}

fn decode_fields(d: &mut Decoder<'_>, depth: u32) -> Result<Vec<Field>> {
    let n = d.len(10)?;
    (0..n).map(|_| decode_field(d, depth)).collect()
}

fn encode_field(e: &mut Encoder, f: &Field) -> Result<()> {
    e.str(f.name());
    let mut flags = 0;
    if f.is_nullable() {
        flags |= FLAG_NULLABLE;
    }
    if f.dict_is_ordered() == Some(true) && matches!(f.data_type(), DataType::Dictionary(..)) {
        flags |= FLAG_DICT_ORDERED;
    }
    e.u8(flags);
    encode_type(e, f.name(), f.data_type())?;
    encode_metadata(e, f.metadata());
    Ok(())
}

// Nested types deeper than this are refused on decode so a hostile file cannot overflow the stack.
const MAX_DEPTH: u32 = 64;

fn decode_field(d: &mut Decoder<'_>, depth: u32) -> Result<Field> {
    if depth > MAX_DEPTH {
        return Err(d.error(format!("types nested deeper than {MAX_DEPTH}")));
    }
    let name = d.str()?;
    let flags = d.u8()?;
    if flags & !(FLAG_NULLABLE | FLAG_DICT_ORDERED) != 0 {
        return Err(d.error(format!("unknown field flags {flags:#x}")));
    }
    let dt = decode_type(d, depth)?;
    if flags & FLAG_DICT_ORDERED != 0 && !matches!(dt, DataType::Dictionary(..)) {
        return Err(d.error(format!(
            "field {name:?}: dictionary-ordered flag on a non-dictionary type"
        )));
    }
    let metadata = decode_metadata(d)?;
    let mut f = Field::new(name, dt.clone(), flags & FLAG_NULLABLE != 0).with_metadata(metadata);
    if matches!(dt, DataType::Dictionary(..)) {
        #[allow(deprecated)]
        {
            f = f.with_dict_is_ordered(flags & FLAG_DICT_ORDERED != 0);
        }
    }
    Ok(f)
}

fn time_unit(u: TimeUnit) -> u8 {
    match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    }
}

fn decode_time_unit(d: &mut Decoder<'_>) -> Result<TimeUnit> {
    Ok(match d.u8()? {
        0 => TimeUnit::Second,
        1 => TimeUnit::Millisecond,
        2 => TimeUnit::Microsecond,
        3 => TimeUnit::Nanosecond,
        b => return Err(d.error(format!("unknown time unit {b}"))),
    })
}

fn encode_type(e: &mut Encoder, field: &str, dt: &DataType) -> Result<()> {
    match dt {
        DataType::Null => e.u8(T_NULL),
        DataType::Boolean => e.u8(T_BOOL),
        DataType::Int8 => e.u8(T_I8),
        DataType::Int16 => e.u8(T_I16),
        DataType::Int32 => e.u8(T_I32),
        DataType::Int64 => e.u8(T_I64),
        DataType::UInt8 => e.u8(T_U8),
        DataType::UInt16 => e.u8(T_U16),
        DataType::UInt32 => e.u8(T_U32),
        DataType::UInt64 => e.u8(T_U64),
        DataType::Float16 => e.u8(T_F16),
        DataType::Float32 => e.u8(T_F32),
        DataType::Float64 => e.u8(T_F64),
        DataType::Timestamp(u, tz) => {
            e.u8(T_TIMESTAMP);
            e.u8(time_unit(*u));
            e.opt(tz.as_ref(), |e, tz| e.str(tz));
        }
        DataType::Date32 => e.u8(T_DATE32),
        DataType::Date64 => e.u8(T_DATE64),
        DataType::Time32(u) => {
            e.u8(T_TIME32);
            e.u8(time_unit(*u));
        }
        DataType::Time64(u) => {
            e.u8(T_TIME64);
            e.u8(time_unit(*u));
        }
        DataType::Duration(u) => {
            e.u8(T_DURATION);
            e.u8(time_unit(*u));
        }
        DataType::Interval(u) => {
            e.u8(T_INTERVAL);
            e.u8(match u {
                IntervalUnit::YearMonth => 0,
                IntervalUnit::DayTime => 1,
                IntervalUnit::MonthDayNano => 2,
            });
        }
        DataType::Binary => e.u8(T_BINARY),
        DataType::FixedSizeBinary(n) => {
            e.u8(T_FIXED_BINARY);
            e.i32(*n);
        }
        DataType::LargeBinary => e.u8(T_LARGE_BINARY),
        DataType::Utf8 => e.u8(T_UTF8),
        DataType::LargeUtf8 => e.u8(T_LARGE_UTF8),
        DataType::BinaryView => e.u8(T_BINARY_VIEW),
        DataType::Utf8View => e.u8(T_UTF8_VIEW),
        DataType::List(f) => {
            e.u8(T_LIST);
            encode_field(e, f)?;
        }
        DataType::LargeList(f) => {
            e.u8(T_LARGE_LIST);
            encode_field(e, f)?;
        }
        DataType::FixedSizeList(f, n) => {
            e.u8(T_FIXED_LIST);
            e.i32(*n);
            encode_field(e, f)?;
        }
        DataType::Struct(fields) => {
            e.u8(T_STRUCT);
            encode_fields(e, fields)?;
        }
        DataType::Map(f, sorted) => {
            e.u8(T_MAP);
            e.bool(*sorted);
            encode_field(e, f)?;
        }
        DataType::Dictionary(k, v) => {
            e.u8(T_DICTIONARY);
            encode_type(e, field, k)?;
            encode_type(e, field, v)?;
        }
        DataType::Decimal32(p, s) => decimal(e, T_DECIMAL32, *p, *s),
        DataType::Decimal64(p, s) => decimal(e, T_DECIMAL64, *p, *s),
        DataType::Decimal128(p, s) => decimal(e, T_DECIMAL128, *p, *s),
        DataType::Decimal256(p, s) => decimal(e, T_DECIMAL256, *p, *s),
        other => {
            return Err(Error::UnsupportedType {
                field: field.to_owned(),
                data_type: other.to_string(),
            });
        }
    }
    Ok(())
}

fn decimal(e: &mut Encoder, tag: u8, p: u8, s: i8) {
    e.u8(tag);
    e.u8(p);
    e.raw(&s.to_le_bytes());
}

fn decode_type(d: &mut Decoder<'_>, depth: u32) -> Result<DataType> {
    if depth > MAX_DEPTH {
        return Err(d.error(format!("types nested deeper than {MAX_DEPTH}")));
    }
    let child = |d: &mut Decoder<'_>| decode_field(d, depth + 1).map(Arc::new);
    let tag = d.u8()?;
    Ok(match tag {
        T_NULL => DataType::Null,
        T_BOOL => DataType::Boolean,
        T_I8 => DataType::Int8,
        T_I16 => DataType::Int16,
        T_I32 => DataType::Int32,
        T_I64 => DataType::Int64,
        T_U8 => DataType::UInt8,
        T_U16 => DataType::UInt16,
        T_U32 => DataType::UInt32,
        T_U64 => DataType::UInt64,
        T_F16 => DataType::Float16,
        T_F32 => DataType::Float32,
        T_F64 => DataType::Float64,
        T_TIMESTAMP => {
            let u = decode_time_unit(d)?;
            let tz = d.opt(Decoder::str)?;
            DataType::Timestamp(u, tz.map(Into::into))
        }
        T_DATE32 => DataType::Date32,
        T_DATE64 => DataType::Date64,
        T_TIME32 => DataType::Time32(decode_time_unit(d)?),
        T_TIME64 => DataType::Time64(decode_time_unit(d)?),
        T_DURATION => DataType::Duration(decode_time_unit(d)?),
        T_INTERVAL => DataType::Interval(match d.u8()? {
            0 => IntervalUnit::YearMonth,
            1 => IntervalUnit::DayTime,
            2 => IntervalUnit::MonthDayNano,
            b => return Err(d.error(format!("unknown interval unit {b}"))),
        }),
        T_BINARY => DataType::Binary,
        T_FIXED_BINARY => DataType::FixedSizeBinary(d.i32()?),
        T_LARGE_BINARY => DataType::LargeBinary,
        T_UTF8 => DataType::Utf8,
        T_LARGE_UTF8 => DataType::LargeUtf8,
        T_BINARY_VIEW => DataType::BinaryView,
        T_UTF8_VIEW => DataType::Utf8View,
        T_LIST => DataType::List(child(d)?),
        T_LARGE_LIST => DataType::LargeList(child(d)?),
        T_FIXED_LIST => {
            let n = d.i32()?;
            DataType::FixedSizeList(child(d)?, n)
        }
        T_STRUCT => DataType::Struct(decode_fields(d, depth + 1)?.into()),
        T_MAP => {
            let sorted = d.bool()?;
            DataType::Map(child(d)?, sorted)
        }
        T_DICTIONARY => {
            let k = decode_type(d, depth + 1)?;
            let v = decode_type(d, depth + 1)?;
            DataType::Dictionary(Box::new(k), Box::new(v))
        }
        T_DECIMAL32 | T_DECIMAL64 | T_DECIMAL128 | T_DECIMAL256 => {
            let p = d.u8()?;
            let s = i8::from_le_bytes([d.u8()?]);
            match tag {
                T_DECIMAL32 => DataType::Decimal32(p, s),
                T_DECIMAL64 => DataType::Decimal64(p, s),
                T_DECIMAL128 => DataType::Decimal128(p, s),
                _ => DataType::Decimal256(p, s),
            }
        }
        other => {
            return Err(d.error(format!(
                "unknown type tag {other} at byte {}",
                d.position() - 1
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjectKind;

    fn roundtrip(s: &Schema) -> Schema {
        let b = schema_bytes(s).unwrap();
        let mut d = Decoder::new(&b, ObjectKind::Schema);
        let out = decode_schema(&mut d).unwrap();
        d.finish().unwrap();
        out
    }

    #[test]
    fn nested_types_roundtrip() {
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let s = Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("d", DataType::Decimal128(38, -2), false),
            Field::new("emb", DataType::FixedSizeList(item.clone(), 32), true),
            Field::new("l", DataType::List(item), true),
            Field::new(
                "s",
                DataType::Struct(vec![Field::new("a", DataType::Utf8, true)].into()),
                true,
            ),
            Field::new_dictionary("cat", DataType::Int32, DataType::Utf8, true),
        ])
        .with_metadata(Metadata::from([("b", "2"), ("a", "1")]));
        assert_eq!(roundtrip(&s), s);
    }

    #[test]
    fn metadata_order_does_not_change_bytes() {
        let a = Schema::new(vec![Field::new("x", DataType::Int64, true)])
            .with_metadata(Metadata::from([("k1", "v"), ("k2", "w")]));
        let b = Schema::new(vec![Field::new("x", DataType::Int64, true)])
            .with_metadata(Metadata::from([("k2", "w"), ("k1", "v")]));
        assert_eq!(schema_bytes(&a).unwrap(), schema_bytes(&b).unwrap());
    }

    #[test]
    fn unknown_tag_is_an_error() {
        // One field "x", flags 1, type tag 200.
        let mut e = Encoder::new();
        e.u32(1);
        e.str("x");
        e.u8(1);
        e.u8(200);
        e.u32(0);
        let b = e.into_bytes();
        let err = decode_schema(&mut Decoder::new(&b, ObjectKind::Schema)).unwrap_err();
        assert!(err.to_string().contains("unknown type tag 200"), "{err}");
    }
}
