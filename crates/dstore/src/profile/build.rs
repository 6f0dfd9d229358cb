//! Profiling Arrow data: the columns of a schema in depth-first order (`a`, `a.b`, `l`, `l[]`),
//! each updated value by value. Batches of one row group go through [`RowGroupProfiler`]; a
//! segment's profile is its row groups' profiles merged in file order, the same whether the
//! batches come from the writer (ingest) or from reading the segment back.

// Statistics read best with their textbook names (a, b, p, q, x, ...).
#![allow(clippy::many_single_char_names)]

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use rayon::prelude::*;

use super::column::{ColumnProfile, ValueKind};

fn kind_of(dt: &DataType) -> (ValueKind, bool) {
    use DataType as D;
    match dt {
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 => {
            (ValueKind::Numeric, true)
        }
        D::UInt64 | D::Float16 | D::Float32 | D::Float64 => (ValueKind::Numeric, false),
        D::Decimal32(..) | D::Decimal64(..) | D::Decimal128(..) | D::Decimal256(..) => {
            (ValueKind::Numeric, false)
        }
        D::Date32 | D::Date64 | D::Time32(_) | D::Time64(_) | D::Timestamp(..) | D::Duration(_) => {
            (ValueKind::Temporal, false)
        }
        D::Boolean => (ValueKind::Boolean, false),
        D::Utf8 | D::LargeUtf8 | D::Utf8View => (ValueKind::String, false),
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => {
            (ValueKind::Binary, false)
        }
        D::List(_) | D::LargeList(_) | D::FixedSizeList(..) | D::Map(..) => {
            (ValueKind::List, false)
        }
        D::Struct(_) => (ValueKind::Struct, false),
        D::Dictionary(_, v) => kind_of(v),
        _ => (ValueKind::Other, false),
    }
}

fn list_child(dt: &DataType) -> Option<&Field> {
    match dt {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => Some(f),
        DataType::Dictionary(_, v) => list_child(v),
        _ => None,
    }
}

fn push_columns(dt: &DataType, path: &str, out: &mut Vec<ColumnProfile>) {
    let (kind, small_ints) = kind_of(dt);
    out.push(ColumnProfile::empty(path.to_owned(), kind, small_ints));
    match dt {
        DataType::Struct(fields) => {
            for f in fields {
                push_columns(f.data_type(), &format!("{path}.{}", f.name()), out);
            }
        }
        _ => {
            if let Some(child) = list_child(dt) {
                push_columns(child.data_type(), &format!("{path}[]"), out);
            }
        }
    }
}

/// The empty profiles of a schema's columns, depth first.
pub(crate) fn empty_columns(schema: &Schema) -> Vec<Vec<ColumnProfile>> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let mut v = Vec::new();
            push_columns(f.data_type(), f.name(), &mut v);
            v
        })
        .collect()
}

/// Profiles the batches of one row group; columns in parallel.
pub(crate) struct RowGroupProfiler {
    fields: Vec<Vec<ColumnProfile>>,
}

impl RowGroupProfiler {
    pub(crate) fn new(schema: &Schema) -> Self {
        RowGroupProfiler {
            fields: empty_columns(schema),
        }
    }

    /// Adds a batch whose columns are the schema's, in order.
    pub(crate) fn update(&mut self, columns: &[ArrayRef]) {
        self.fields
            .par_iter_mut()
            .zip(columns.par_iter())
            .for_each(|(cols, array)| {
                let mut i = 0;
                let mut buf = String::new();
                walk(array, None, cols, &mut i, &mut buf);
            });
    }

    /// The columns' profiles, depth first.
    pub(crate) fn finish(self) -> Vec<ColumnProfile> {
        self.fields.into_iter().flatten().collect()
    }
}

/// Merges `b` (later rows of the same columns) into `a`, column by column.
pub(crate) fn merge_columns(a: &mut [ColumnProfile], b: &[ColumnProfile]) {
    for (x, y) in a.iter_mut().zip(b) {
        debug_assert_eq!(x.path, y.path);
        x.merge(y);
    }
}

/// Validity as a reader of the Parquet file sees it: a value under a null parent is null.
fn effective_nulls(array: &dyn Array, parent: Option<&NullBuffer>) -> Option<NullBuffer> {
    NullBuffer::union(parent, array.logical_nulls().as_ref())
}

fn walk(
    array: &ArrayRef,
    parent: Option<&NullBuffer>,
    cols: &mut [ColumnProfile],
    i: &mut usize,
    buf: &mut String,
) {
    let array: ArrayRef = match array.data_type() {
        DataType::Dictionary(_, v) => cast(array, v).unwrap_or_else(|_| array.clone()),
        _ => array.clone(),
    };
    let nulls = effective_nulls(&array, parent);
    let is_valid = |j: usize| nulls.as_ref().is_none_or(|n| n.is_valid(j));
    let me = *i;
    *i += 1;
    let len = array.len();
    {
        let c = &mut cols[me];
        c.count += len as u64;
        c.nulls += nulls.as_ref().map_or(0, |n| n.null_count() as u64);
    }
    let kind = cols[me].kind;
    match (kind, array.data_type()) {
        (ValueKind::Numeric, dt) if kind_of(dt).1 => {
            if let Ok(a) = cast(&array, &DataType::Int64) {
                let a = a.as_primitive::<Int64Type>();
                for (j, x) in a.values().iter().enumerate() {
                    if is_valid(j) {
                        cols[me].add_int(*x, buf);
                    }
                }
            }
        }
        (ValueKind::Numeric | ValueKind::Temporal, _) => {
            let as_f64 = if kind == ValueKind::Temporal {
                cast(&array, &DataType::Int64).and_then(|a| cast(&a, &DataType::Float64))
            } else {
                cast(&array, &DataType::Float64)
            };
            if let Ok(a) = as_f64 {
                let a = a.as_primitive::<Float64Type>();
                for (j, x) in a.values().iter().enumerate() {
                    if is_valid(j) {
                        cols[me].add_number(*x);
                    }
                }
            }
        }
        (ValueKind::Boolean, _) => {
            let a = array.as_boolean();
            for j in 0..len {
                if is_valid(j) {
                    cols[me].add_bool(a.value(j));
                }
            }
        }
        (ValueKind::String, dt) => {
            let mut each = |s: &str| cols[me].add_str(s);
            match dt {
                DataType::Utf8 => {
                    strings(array.as_string::<i32>().iter(), &mut each, nulls.as_ref());
                }
                DataType::LargeUtf8 => {
                    strings(array.as_string::<i64>().iter(), &mut each, nulls.as_ref());
                }
                DataType::Utf8View => {
                    strings(array.as_string_view().iter(), &mut each, nulls.as_ref());
                }
                _ => {}
            }
        }
        (ValueKind::Binary, dt) => {
            let mut each = |b: &[u8]| cols[me].add_bytes(b);
            match dt {
                DataType::Binary => {
                    strings(array.as_binary::<i32>().iter(), &mut each, nulls.as_ref());
                }
                DataType::LargeBinary => {
                    strings(array.as_binary::<i64>().iter(), &mut each, nulls.as_ref());
                }
                DataType::BinaryView => {
                    strings(array.as_binary_view().iter(), &mut each, nulls.as_ref());
                }
                DataType::FixedSizeBinary(_) => {
                    strings(
                        array.as_fixed_size_binary().iter(),
                        &mut each,
                        nulls.as_ref(),
                    );
                }
                _ => {}
            }
        }
        (ValueKind::Struct, _) => {
            let s = array.as_struct();
            for child in s.columns() {
                walk(child, nulls.as_ref(), cols, i, buf);
            }
        }
        (ValueKind::List, dt) => {
            let (lens, values): (Vec<usize>, ArrayRef) = match dt {
                DataType::List(_) => {
                    let l = array.as_list::<i32>();
                    let o = l.value_offsets();
                    let (a, b) = (o[0] as usize, o[len] as usize);
                    (
                        o.windows(2).map(|w| (w[1] - w[0]) as usize).collect(),
                        l.values().slice(a, b - a),
                    )
                }
                DataType::LargeList(_) => {
                    let l = array.as_list::<i64>();
                    let o = l.value_offsets();
                    let (a, b) = (o[0] as usize, o[len] as usize);
                    (
                        o.windows(2).map(|w| (w[1] - w[0]) as usize).collect(),
                        l.values().slice(a, b - a),
                    )
                }
                DataType::FixedSizeList(_, n) => {
                    let l = array.as_fixed_size_list();
                    let n = *n as usize;
                    (vec![n; len], l.values().slice(l.offset() * n, len * n))
                }
                DataType::Map(..) => {
                    let m = array.as_map();
                    let o = m.value_offsets();
                    let (a, b) = (o[0] as usize, o[len] as usize);
                    let entries: ArrayRef = std::sync::Arc::new(m.entries().clone());
                    (
                        o.windows(2).map(|w| (w[1] - w[0]) as usize).collect(),
                        entries.slice(a, b - a),
                    )
                }
                _ => (Vec::new(), array.slice(0, 0)),
            };
            if let Some(l) = &mut cols[me].lengths {
                for (j, n) in lens.iter().enumerate() {
                    if is_valid(j) {
                        l.update(*n as u64);
                    }
                }
            }
            walk(&values, None, cols, i, buf);
        }
        _ => {}
    }
    // A column whose children were not walked (an unreadable cast) still advances past them.
    skip_children(&cols[me].path.clone(), cols, i);
}

fn skip_children(path: &str, cols: &[ColumnProfile], i: &mut usize) {
    while *i < cols.len() {
        let p = &cols[*i].path;
        let child = p.len() > path.len()
            && p.starts_with(path)
            && matches!(p.as_bytes()[path.len()], b'.' | b'[');
        if !child {
            break;
        }
        *i += 1;
    }
}

fn strings<'a, T: ?Sized + 'a>(
    it: impl Iterator<Item = Option<&'a T>>,
    each: &mut impl FnMut(&'a T),
    nulls: Option<&NullBuffer>,
) {
    for (j, v) in it.enumerate() {
        if nulls.is_none_or(|n| n.is_valid(j))
            && let Some(v) = v
        {
            each(v);
        }
    }
}
