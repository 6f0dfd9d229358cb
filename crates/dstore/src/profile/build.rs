//! Profiling Arrow data: the columns of a schema in depth-first order (`a`, `a.b`, `l`, `l[]`).
//! Batches of one row group go through [`RowGroupProfiler`], which folds them in blocks of
//! [`BLOCK_ROWS`] rows (`block.rs`); a segment's profile is its row groups' profiles merged in
//! file order, the same whether the batches come from the writer (ingest) or from reading the
//! segment back.

// Statistics read best with their textbook names (a, b, p, q, x, ...).
#![allow(clippy::many_single_char_names)]

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use rayon::prelude::*;

use super::block::{Leaf, Values};
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

/// Top-level rows per block: a row group's rows are folded in blocks of this many rows counted
/// from its first row, whatever batches they arrive in (docs/format.md §16.2). Within a block,
/// moments are taken over the whole block and repeated values are counted before they reach
/// the distinct-count and frequent-item sketches.
pub(crate) const BLOCK_ROWS: usize = 4096;

/// Profiles the batches of one row group, in blocks of [`BLOCK_ROWS`] rows; columns in
/// parallel.
pub(crate) struct RowGroupProfiler {
    fields: Vec<Vec<ColumnProfile>>,
    /// The current block's pieces (each the batch's columns, sliced), in row order.
    pending: Vec<Vec<ArrayRef>>,
    pending_rows: usize,
}

impl RowGroupProfiler {
    pub(crate) fn new(schema: &Schema) -> Self {
        RowGroupProfiler {
            fields: empty_columns(schema),
            pending: Vec::new(),
            pending_rows: 0,
        }
    }

    /// Adds a batch whose columns are the schema's, in order.
    pub(crate) fn update(&mut self, columns: &[ArrayRef]) {
        let Some(n) = columns.first().map(Array::len) else {
            return;
        };
        let mut off = 0;
        while off < n {
            let take = (BLOCK_ROWS - self.pending_rows).min(n - off);
            self.pending
                .push(columns.iter().map(|c| c.slice(off, take)).collect());
            self.pending_rows += take;
            off += take;
            if self.pending_rows == BLOCK_ROWS {
                self.fold_block();
            }
        }
    }

    /// Folds the pending rows (a whole block, or the row group's last rows) into the profiles.
    fn fold_block(&mut self) {
        if self.pending_rows == 0 {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        self.fields
            .par_iter_mut()
            .enumerate()
            .for_each(|(f, cols)| {
                let mut leaves = Vec::new();
                for piece in &pending {
                    let mut i = 0;
                    walk(&piece[f], None, cols, &mut i, &mut leaves);
                }
                super::block::fold(cols, &leaves);
            });
    }

    /// The columns' profiles, depth first.
    pub(crate) fn finish(mut self) -> Vec<ColumnProfile> {
        self.fold_block();
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

/// Walks one column's array: counts, nulls and list lengths now; the values of each leaf
/// (numbers, booleans, strings, binaries) into `leaves`, for [`super::block::fold`].
fn walk(
    array: &ArrayRef,
    parent: Option<&NullBuffer>,
    cols: &mut [ColumnProfile],
    i: &mut usize,
    leaves: &mut Vec<Leaf>,
) {
    let array: ArrayRef = match array.data_type() {
        DataType::Dictionary(_, v) => cast(array, v).unwrap_or_else(|_| array.clone()),
        _ => array.clone(),
    };
    let nulls = effective_nulls(&array, parent);
    let me = *i;
    *i += 1;
    let len = array.len();
    {
        let c = &mut cols[me];
        c.count += len as u64;
        c.nulls += nulls.as_ref().map_or(0, |n| n.null_count() as u64);
    }
    let kind = cols[me].kind;
    let mut leaf = |values: Values, nulls: Option<NullBuffer>| {
        leaves.push(Leaf {
            col: me,
            values,
            nulls,
        });
    };
    match (kind, array.data_type()) {
        (ValueKind::Numeric, dt) if kind_of(dt).1 => {
            if let Ok(a) = cast(&array, &DataType::Int64) {
                leaf(Values::Int(a), nulls);
            }
        }
        (ValueKind::Numeric | ValueKind::Temporal, _) => {
            let as_f64 = if kind == ValueKind::Temporal {
                cast(&array, &DataType::Int64).and_then(|a| cast(&a, &DataType::Float64))
            } else {
                cast(&array, &DataType::Float64)
            };
            if let Ok(a) = as_f64 {
                leaf(Values::Float(a), nulls);
            }
        }
        (ValueKind::Boolean, _) => leaf(Values::Bool(array), nulls),
        (ValueKind::String, _) => leaf(Values::Str(array), nulls),
        (ValueKind::Binary, _) => leaf(Values::Bin(array), nulls),
        (ValueKind::Struct, _) => {
            let s = array.as_struct();
            for child in s.columns() {
                walk(child, nulls.as_ref(), cols, i, leaves);
            }
        }
        (ValueKind::List, dt) => {
            let is_valid = |j: usize| nulls.as_ref().is_none_or(|n| n.is_valid(j));
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
            walk(&values, None, cols, i, leaves);
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
