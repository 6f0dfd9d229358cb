//! The canonical row hash (`docs/diff.md` states it byte for byte): a keyed BLAKE3 over a
//! canonical encoding of each value by logical type, so it depends on the values only — not
//! on the Parquet encoding, the page layout, dictionaries, nor how rows split into segments.
//!
//! Encoding of one value (concatenated over the compared columns, in order):
//! - null: `0x00`; present: `0x01` then the value's bytes:
//! - boolean: one byte, 0 or 1;
//! - integers, dates, times, timestamps, durations, intervals, decimals: their Arrow native
//!   little-endian bytes (an `int32` is 4 bytes, a `decimal128` 16);
//! - floats: their IEEE bit pattern, little-endian, with every NaN replaced by the canonical
//!   quiet NaN (`0x7e00`, `0x7fc00000`, `0x7ff8000000000000`); `-0.0` and `0.0` differ;
//! - strings and binaries (plain, large, view, fixed-size, or dictionary-encoded): the byte
//!   length as u64 LE, then the bytes;
//! - lists (plain, large, fixed-size) and maps: the element count as u64 LE, then each element
//!   encoded as a value (with its own null byte);
//! - structs: each child encoded as a value, in field order.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryViewArray, BooleanArray, FixedSizeBinaryArray,
    FixedSizeListArray, Float16Array, Float32Array, Float64Array, GenericBinaryArray,
    GenericListArray, GenericStringArray, MapArray, RecordBatch, StringViewArray, StructArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::DataType;

use crate::error::{Error, Result};

/// Bytes of a row hash kept (the first 16 of BLAKE3's 32): 128 bits.
pub(crate) const HASH_LEN: usize = 16;

/// A row or key hash.
pub(crate) type RowHash = [u8; HASH_LEN];

/// The BLAKE3 key of row hashes: `derive_key("dstore row hash v1", "")`.
fn row_key() -> &'static [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    KEY.get_or_init(|| blake3::derive_key("dstore row hash v1", b""))
}

/// The hash of one canonical row encoding.
pub(crate) fn hash_encoding(bytes: &[u8]) -> RowHash {
    let h = blake3::keyed_hash(row_key(), bytes);
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(&h.as_bytes()[..HASH_LEN]);
    out
}

/// The logical type of a column as the row hash sees it: types with the same encoding get the
/// same name (`string` for Utf8, LargeUtf8, Utf8View and string dictionaries; `list<..>` for
/// the list kinds), so two versions are comparable on a column when these names agree.
pub(crate) fn logical_type(dt: &DataType) -> Result<String> {
    Ok(match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "binary".into(),
        DataType::Dictionary(_, v) => logical_type(v)?,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            format!("list<{}>", logical_type(f.data_type())?)
        }
        DataType::Map(f, _) => format!("map<{}>", logical_type(f.data_type())?),
        DataType::Struct(fields) => {
            let parts = fields
                .iter()
                .map(|f| Ok(format!("{}: {}", f.name(), logical_type(f.data_type())?)))
                .collect::<Result<Vec<_>>>()?;
            format!("struct<{}>", parts.join(", "))
        }
        DataType::Null
        | DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Timestamp(_, _)
        | DataType::Date32
        | DataType::Date64
        | DataType::Time32(_)
        | DataType::Time64(_)
        | DataType::Duration(_)
        | DataType::Interval(_)
        | DataType::Decimal32(_, _)
        | DataType::Decimal64(_, _)
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => dt.to_string(),
        other => {
            return Err(Error::invalid(format!(
                "columns of type {other} cannot be compared row by row"
            )));
        }
    })
}

/// One column, resolved once per batch for fast per-value encoding.
enum Col {
    Null,
    Bool(BooleanArray),
    /// Fixed-width native values: the array (for nulls), its value bytes, the width.
    Fixed(Option<NullBuffer>, arrow::buffer::Buffer, usize),
    F16(Float16Array),
    F32(Float32Array),
    F64(Float64Array),
    Str(GenericStringArray<i32>),
    LStr(GenericStringArray<i64>),
    StrView(StringViewArray),
    Bin(GenericBinaryArray<i32>),
    LBin(GenericBinaryArray<i64>),
    BinView(BinaryViewArray),
    FixedBin(FixedSizeBinaryArray),
    List(GenericListArray<i32>, Box<Col>),
    LList(GenericListArray<i64>, Box<Col>),
    FixedList(FixedSizeListArray, Box<Col>),
    Map(MapArray, Box<Col>),
    Struct(StructArray, Vec<Col>),
}

impl Col {
    fn new(a: &ArrayRef) -> Result<Col> {
        let dt = a.data_type();
        Ok(match dt {
            DataType::Null => Col::Null,
            DataType::Boolean => Col::Bool(a.as_boolean().clone()),
            DataType::Float16 => Col::F16(a.as_primitive().clone()),
            DataType::Float32 => Col::F32(a.as_primitive().clone()),
            DataType::Float64 => Col::F64(a.as_primitive().clone()),
            DataType::Utf8 => Col::Str(a.as_string::<i32>().clone()),
            DataType::LargeUtf8 => Col::LStr(a.as_string::<i64>().clone()),
            DataType::Utf8View => Col::StrView(a.as_string_view().clone()),
            DataType::Binary => Col::Bin(a.as_binary::<i32>().clone()),
            DataType::LargeBinary => Col::LBin(a.as_binary::<i64>().clone()),
            DataType::BinaryView => Col::BinView(a.as_binary_view().clone()),
            DataType::FixedSizeBinary(_) => Col::FixedBin(a.as_fixed_size_binary().clone()),
            DataType::Dictionary(_, v) => {
                let plain = arrow::compute::cast(a, v)
                    .map_err(|e| Error::internal("decoding a dictionary column", e))?;
                Col::new(&plain)?
            }
            DataType::List(_) => {
                let l = a.as_list::<i32>();
                Col::List(l.clone(), Box::new(Col::new(l.values())?))
            }
            DataType::LargeList(_) => {
                let l = a.as_list::<i64>();
                Col::LList(l.clone(), Box::new(Col::new(l.values())?))
            }
            DataType::FixedSizeList(_, _) => {
                let l = a.as_fixed_size_list();
                Col::FixedList(l.clone(), Box::new(Col::new(l.values())?))
            }
            DataType::Map(_, _) => {
                let m = a.as_map();
                let entries: ArrayRef = Arc::new(m.entries().clone());
                Col::Map(m.clone(), Box::new(Col::new(&entries)?))
            }
            DataType::Struct(_) => {
                let s = a.as_struct();
                let children = s.columns().iter().map(Col::new).collect::<Result<_>>()?;
                Col::Struct(s.clone(), children)
            }
            _ => {
                logical_type(dt)?;
                let width = dt.primitive_width().ok_or_else(|| {
                    Error::invalid(format!(
                        "columns of type {dt} cannot be compared row by row"
                    ))
                })?;
                let data = a.to_data();
                let start = data.offset() * width;
                let values = data.buffers()[0].slice_with_length(start, a.len() * width);
                Col::Fixed(a.logical_nulls(), values, width)
            }
        })
    }

    fn is_null(&self, i: usize) -> bool {
        match self {
            Col::Null => true,
            Col::Bool(a) => a.is_null(i),
            Col::Fixed(n, _, _) => n.as_ref().is_some_and(|n| n.is_null(i)),
            Col::F16(a) => a.is_null(i),
            Col::F32(a) => a.is_null(i),
            Col::F64(a) => a.is_null(i),
            Col::Str(a) => a.is_null(i),
            Col::LStr(a) => a.is_null(i),
            Col::StrView(a) => a.is_null(i),
            Col::Bin(a) => a.is_null(i),
            Col::LBin(a) => a.is_null(i),
            Col::BinView(a) => a.is_null(i),
            Col::FixedBin(a) => a.is_null(i),
            Col::List(a, _) => a.is_null(i),
            Col::LList(a, _) => a.is_null(i),
            Col::FixedList(a, _) => a.is_null(i),
            Col::Map(a, _) => a.is_null(i),
            Col::Struct(a, _) => a.is_null(i),
        }
    }

    /// Appends the canonical encoding of value `i`.
    fn encode(&self, i: usize, out: &mut Vec<u8>) {
        fn bytes(out: &mut Vec<u8>, b: &[u8]) {
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        }
        fn range(out: &mut Vec<u8>, child: &Col, a: usize, b: usize) {
            out.extend_from_slice(&((b - a) as u64).to_le_bytes());
            for j in a..b {
                child.encode(j, out);
            }
        }
        if self.is_null(i) {
            out.push(0);
            return;
        }
        out.push(1);
        match self {
            Col::Null => unreachable!("a null column has only nulls"),
            Col::Bool(a) => out.push(u8::from(a.value(i))),
            Col::Fixed(_, v, w) => out.extend_from_slice(&v[i * w..(i + 1) * w]),
            Col::F16(a) => {
                let v = a.value(i);
                let bits = if v.is_nan() { 0x7e00 } else { v.to_bits() };
                out.extend_from_slice(&bits.to_le_bytes());
            }
            Col::F32(a) => {
                let v = a.value(i);
                let bits = if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() };
                out.extend_from_slice(&bits.to_le_bytes());
            }
            Col::F64(a) => {
                let v = a.value(i);
                let bits = if v.is_nan() {
                    0x7ff8_0000_0000_0000
                } else {
                    v.to_bits()
                };
                out.extend_from_slice(&bits.to_le_bytes());
            }
            Col::Str(a) => bytes(out, a.value(i).as_bytes()),
            Col::LStr(a) => bytes(out, a.value(i).as_bytes()),
            Col::StrView(a) => bytes(out, a.value(i).as_bytes()),
            Col::Bin(a) => bytes(out, a.value(i)),
            Col::LBin(a) => bytes(out, a.value(i)),
            Col::BinView(a) => bytes(out, a.value(i)),
            Col::FixedBin(a) => bytes(out, a.value(i)),
            Col::List(a, c) => {
                let o = a.value_offsets();
                range(out, c, o[i] as usize, o[i + 1] as usize);
            }
            Col::LList(a, c) => {
                let o = a.value_offsets();
                range(out, c, o[i] as usize, o[i + 1] as usize);
            }
            Col::FixedList(a, c) => {
                let n = a.value_length() as usize;
                range(out, c, i * n, (i + 1) * n);
            }
            Col::Map(a, c) => {
                let o = a.value_offsets();
                range(out, c, o[i] as usize, o[i + 1] as usize);
            }
            Col::Struct(_, children) => {
                for c in children {
                    c.encode(i, out);
                }
            }
        }
    }
}

/// Row hashes of `batch` over its columns `cols` (indices), one per row.
pub(crate) fn hash_rows(batch: &RecordBatch, cols: &[usize]) -> Result<Vec<RowHash>> {
    use rayon::prelude::*;
    let resolved = cols
        .iter()
        .map(|&c| Col::new(batch.column(c)))
        .collect::<Result<Vec<_>>>()?;
    let n = batch.num_rows();
    let mut out = vec![[0u8; HASH_LEN]; n];
    out.par_chunks_mut(1024).enumerate().for_each(|(k, chunk)| {
        let mut buf = Vec::with_capacity(256);
        for (j, h) in chunk.iter_mut().enumerate() {
            buf.clear();
            for c in &resolved {
                c.encode(k * 1024 + j, &mut buf);
            }
            *h = hash_encoding(&buf);
        }
    });
    Ok(out)
}

/// The canonical encoding of row `i` over `cols` (for tests and documentation examples).
#[cfg(test)]
pub(crate) fn encode_row(batch: &RecordBatch, cols: &[usize], i: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    for &c in cols {
        Col::new(batch.column(c))?.encode(i, &mut buf);
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        DictionaryArray, Int32Array, Int64Array, LargeStringArray, ListArray, StringArray,
    };
    use arrow::datatypes::{Field, Int32Type, Schema};

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> = cols
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            cols.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    #[test]
    fn encoding_is_as_documented() {
        let b = batch(vec![
            ("i", Arc::new(Int32Array::from(vec![Some(5), None]))),
            ("s", Arc::new(StringArray::from(vec![Some("ab"), Some("")]))),
            ("f", Arc::new(Float64Array::from(vec![f64::NAN, -0.0]))),
        ]);
        let e0 = encode_row(&b, &[0, 1, 2], 0).unwrap();
        let mut want = vec![1, 5, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, b'a', b'b', 1];
        want.extend_from_slice(&0x7ff8_0000_0000_0000u64.to_le_bytes());
        assert_eq!(e0, want);
        let e1 = encode_row(&b, &[0, 1, 2], 1).unwrap();
        let mut want = vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        want.extend_from_slice(&(-0.0f64).to_bits().to_le_bytes());
        assert_eq!(e1, want);
    }

    #[test]
    fn nulls_differ_from_empty_and_nans_are_one() {
        let b = batch(vec![
            ("s", Arc::new(StringArray::from(vec![None, Some("")]))),
            (
                "f",
                Arc::new(Float64Array::from(vec![
                    f64::NAN,
                    f64::from_bits(0x7ff8_dead_beef_0001),
                ])),
            ),
        ]);
        let s = hash_rows(&b, &[0]).unwrap();
        assert_ne!(s[0], s[1], "null and empty string differ");
        let f = hash_rows(&b, &[1]).unwrap();
        assert_eq!(f[0], f[1], "every NaN hashes alike");
        let z = batch(vec![("f", Arc::new(Float64Array::from(vec![0.0, -0.0])))]);
        let z = hash_rows(&z, &[0]).unwrap();
        assert_ne!(z[0], z[1], "floats compare by bit pattern");
    }

    #[test]
    fn string_kinds_and_dictionaries_hash_alike() {
        let plain = batch(vec![(
            "s",
            Arc::new(StringArray::from(vec!["x", "yy", "x"])) as ArrayRef,
        )]);
        let large = batch(vec![(
            "s",
            Arc::new(LargeStringArray::from(vec!["x", "yy", "x"])) as ArrayRef,
        )]);
        let dict: DictionaryArray<Int32Type> = vec!["x", "yy", "x"].into_iter().collect();
        let dict = batch(vec![("s", Arc::new(dict) as ArrayRef)]);
        let a = hash_rows(&plain, &[0]).unwrap();
        assert_eq!(a, hash_rows(&large, &[0]).unwrap());
        assert_eq!(a, hash_rows(&dict, &[0]).unwrap());
        assert_eq!(logical_type(dict.column(0).data_type()).unwrap(), "string");
    }

    #[test]
    fn slices_hash_like_their_rows() {
        let b = batch(vec![
            (
                "i",
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as ArrayRef,
            ),
            (
                "l",
                Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                    Some(vec![Some(1)]),
                    None,
                    Some(vec![]),
                    Some(vec![None, Some(2)]),
                ])),
            ),
        ]);
        let all = hash_rows(&b, &[0, 1]).unwrap();
        let tail = hash_rows(&b.slice(2, 2), &[0, 1]).unwrap();
        assert_eq!(&all[2..], &tail[..]);
        assert_ne!(all[1], all[2], "null list differs from empty list");
    }
}
