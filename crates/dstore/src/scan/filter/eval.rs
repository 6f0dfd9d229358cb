//! Evaluation on Arrow record batches, with SQL's three-valued logic.

use std::fmt;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, Scalar};
use arrow::compute::kernels::cmp;
use arrow::compute::{and_kleene, cast_with_options, is_not_null, is_null, not, or_kleene, take};
use arrow::datatypes::{DataType, Float64Type};

use super::bind::{
    cast_error, cast_options, int_fits, is_float, is_integer, literal_array, unknown_column,
};
use super::{CmpOp, Expr, FilterError, Literal};

/// Applies `f` to the values a comparison sees: a dictionary's values (then mapped through its
/// keys), or the array itself.
fn on_values(
    arr: &ArrayRef,
    f: &dyn Fn(&ArrayRef) -> Result<BooleanArray, FilterError>,
) -> Result<BooleanArray, FilterError> {
    if let Some(d) = arr.as_any_dictionary_opt() {
        let on_dict = on_values(d.values(), f)?;
        let taken = take(&on_dict, d.keys(), None)?;
        return Ok(taken.as_boolean().clone());
    }
    f(arr)
}

/// `arr [NOT] LIKE pattern` per row (NULL where `arr` is NULL), `arr` a string array.
fn like_values(
    column: &str,
    arr: &ArrayRef,
    pattern: &str,
    negated: bool,
) -> Result<BooleanArray, FilterError> {
    let fail = |e: &dyn fmt::Display| FilterError::new(format!("`{column}` LIKE '{pattern}': {e}"));
    let pat: ArrayRef = std::sync::Arc::new(arrow::array::StringArray::from(vec![pattern]));
    let pat = arrow::compute::cast(&pat, arr.data_type()).map_err(|e| fail(&e))?;
    let rhs = Scalar::new(pat);
    let out = if negated {
        arrow::compute::kernels::comparison::nlike(arr, &rhs)
    } else {
        arrow::compute::kernels::comparison::like(arr, &rhs)
    };
    out.map_err(|e| fail(&e))
}

/// `arr op lit` per row (NULL where `arr` is NULL), `arr` not a dictionary.
fn compare(
    column: &str,
    arr: &ArrayRef,
    op: CmpOp,
    lit: &Literal,
) -> Result<BooleanArray, FilterError> {
    let dt = arr.data_type();
    if *dt == DataType::Null {
        return Ok(BooleanArray::new_null(arr.len()));
    }
    let fail = |e: &dyn fmt::Display| cast_error(column, dt, lit, e);
    let numeric = match lit {
        Literal::Int(v) if is_float(dt) || (is_integer(dt) && !int_fits(*v, dt)) => Some(*v as f64),
        Literal::Float(f) if is_float(dt) || is_integer(dt) => Some(*f),
        _ => None,
    };
    if let Some(f) = numeric {
        // IEEE comparison in f64 (exact for every float type; integers round monotonically).
        let col =
            cast_with_options(arr, &DataType::Float64, &cast_options()).map_err(|e| fail(&e))?;
        let col = col.as_primitive::<Float64Type>();
        return Ok(BooleanArray::from_unary(col, |x| {
            op.holds(x.partial_cmp(&f))
        }));
    }
    let rhs = Scalar::new(literal_array(lit, dt).map_err(|e| fail(&e))?);
    let out = match op {
        CmpOp::Eq => cmp::eq(arr, &rhs),
        CmpOp::Ne => cmp::neq(arr, &rhs),
        CmpOp::Lt => cmp::lt(arr, &rhs),
        CmpOp::Le => cmp::lt_eq(arr, &rhs),
        CmpOp::Gt => cmp::gt(arr, &rhs),
        CmpOp::Ge => cmp::gt_eq(arr, &rhs),
    };
    out.map_err(|e| fail(&e))
}

fn column_of<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, FilterError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| unknown_column(batch.schema_ref(), name))
}

/// NULL → false, for use as a filter mask.
fn null_as_false(a: &BooleanArray) -> BooleanArray {
    match a.nulls() {
        Some(n) if n.null_count() > 0 => BooleanArray::new(a.values() & n.inner(), None),
        _ => BooleanArray::new(a.values().clone(), None),
    }
}

impl Expr {
    /// Evaluates the filter on every row of `batch` (binding it to the batch's schema first).
    /// The mask is TRUE exactly where the filter is TRUE; rows where it is FALSE or NULL
    /// (unknown) are FALSE, so the mask can go straight to
    /// [`arrow::compute::filter_record_batch`].
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<BooleanArray, FilterError> {
        let bound = self.bind(batch.schema_ref())?;
        Ok(null_as_false(&bound.eval3(batch)?))
    }

    /// Three-valued evaluation: NULL where the filter's value is unknown.
    fn eval3(&self, batch: &RecordBatch) -> Result<BooleanArray, FilterError> {
        match self {
            Expr::Cmp { column, op, value } => {
                let arr = column_of(batch, column)?;
                on_values(arr, &|v| compare(column, v, *op, value))
            }
            Expr::In {
                column,
                values,
                negated,
            } => {
                let arr = column_of(batch, column)?;
                let found = if values.is_empty() {
                    BooleanArray::from(vec![false; arr.len()])
                } else {
                    on_values(arr, &|vals| {
                        let mut acc: Option<BooleanArray> = None;
                        for v in values {
                            let eq = compare(column, vals, CmpOp::Eq, v)?;
                            acc = Some(match acc {
                                None => eq,
                                Some(a) => or_kleene(&a, &eq)?,
                            });
                        }
                        Ok(acc.expect("non-empty list"))
                    })?
                };
                Ok(if *negated { not(&found)? } else { found })
            }
            Expr::IsNull { column, negated } => {
                let arr = column_of(batch, column)?;
                Ok(if *negated {
                    is_not_null(arr)?
                } else {
                    is_null(arr)?
                })
            }
            Expr::Like {
                column,
                pattern,
                negated,
            } => {
                let arr = column_of(batch, column)?;
                on_values(arr, &|vals| like_values(column, vals, pattern, *negated))
            }
            Expr::And(a, b) => Ok(and_kleene(&a.eval3(batch)?, &b.eval3(batch)?)?),
            Expr::Or(a, b) => Ok(or_kleene(&a.eval3(batch)?, &b.eval3(batch)?)?),
            Expr::Not(a) => Ok(not(&a.eval3(batch)?)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use arrow::array::{
        DictionaryArray, Float32Array, Int8Array, Int64Array, TimestampMicrosecondArray,
        UInt64Array,
    };
    use arrow::datatypes::{Int32Type, UInt8Type};

    use super::super::test_util::{and, batch, cmp, p, rows, sample};

    #[test]
    fn evaluates_with_three_valued_logic() {
        let b = sample();
        assert_eq!(rows("x > 1", &b), [1, 3]);
        assert_eq!(rows("NOT (x > 1)", &b), [0]); // the NULL row stays out
        assert_eq!(rows("x != 2", &b), [0, 3]);
        assert_eq!(rows("x > 1 OR s = 'c'", &b), [1, 2, 3]);
        assert_eq!(rows("NOT (x > 1 OR s = 'c')", &b), [0]);
        assert_eq!(rows("NOT (x > 1 AND s = 'b')", &b), [0, 2]); // row 1: NOT (TRUE AND NULL)
        assert_eq!(rows("x IN (1, 4)", &b), [0, 3]);
        assert_eq!(rows("x NOT IN (1, 4)", &b), [1]);
        assert_eq!(rows("s LIKE 'a%'", &b), [0]);
        assert_eq!(rows("s LIKE '_'", &b), [0, 2, 3]);
        assert_eq!(rows("s NOT LIKE 'b'", &b), [0, 2]);
        assert_eq!(rows("NOT (s LIKE 'b')", &b), [0, 2]); // the NULL row stays out
        assert_eq!(rows("x IS NULL", &b), [2]);
        assert_eq!(rows("x IS NOT NULL AND s IS NOT NULL", &b), [0, 3]);
        assert_eq!(rows("s >= 'b'", &b), [2, 3]);
        assert_eq!(rows("ok = true", &b), [0, 3]);
    }

    #[test]
    fn evaluates_numbers_by_value() {
        let b = sample();
        assert_eq!(rows("x < 2.5", &b), [0, 1]);
        assert_eq!(rows("x = 2.0", &b), [1]);
        assert_eq!(rows("x = 1.5", &b), Vec::<usize>::new());
        assert_eq!(rows("x != 1.5", &b), [0, 1, 3]);
        assert_eq!(rows("x = '4'", &b), [3]);
        // IEEE: NaN matches only !=; -0.0 = 0.0.
        assert_eq!(rows("f > 0", &b), [0]);
        assert_eq!(rows("f <= 1", &b), [0, 2]);
        assert_eq!(rows("f != 0.5", &b), [1, 2]);
        assert_eq!(rows("NOT (f > 0)", &b), [1, 2]);
        assert_eq!(rows("f = 0", &b), [2]);
        assert_eq!(rows("f = 'NaN'", &b), Vec::<usize>::new());
        assert_eq!(rows("f IN (0.5, 0)", &b), [0, 2]);
        assert_eq!(rows("f NOT IN (0.5, 0)", &b), [1]);

        let small = batch(vec![
            (
                "i8",
                Arc::new(Int8Array::from(vec![Some(-128), Some(0), Some(127), None])) as ArrayRef,
            ),
            (
                "u",
                Arc::new(UInt64Array::from(vec![
                    Some(0),
                    Some(u64::MAX),
                    Some(5),
                    None,
                ])),
            ),
            (
                "f32",
                Arc::new(Float32Array::from(vec![
                    Some(0.1),
                    Some(0.2),
                    None,
                    Some(1.0),
                ])),
            ),
        ]);
        assert_eq!(rows("i8 < 1000", &small), [0, 1, 2]);
        assert_eq!(rows("i8 > -1000", &small), [0, 1, 2]);
        assert_eq!(rows("i8 = 300", &small), Vec::<usize>::new());
        assert_eq!(rows("u > -1", &small), [0, 1, 2]);
        assert_eq!(rows("u > 5", &small), [1]);
        assert_eq!(rows("u = 5.0", &small), [2]);
        assert_eq!(rows("u > 1e19", &small), [1]);
        assert_eq!(rows("f32 = 0.1", &small), [0]);
        assert_eq!(rows("f32 >= 0.2", &small), [1, 3]);
        assert_eq!(rows("f32 = 1", &small), [3]);
    }

    #[test]
    fn evaluates_dictionary_columns_on_values() {
        let keys: DictionaryArray<Int32Type> =
            vec![Some("a"), None, Some("b"), Some("a"), Some("c")]
                .into_iter()
                .collect();
        let nums: DictionaryArray<UInt8Type> = DictionaryArray::new(
            arrow::array::UInt8Array::from(vec![Some(0), Some(1), None, Some(1)]),
            Arc::new(Int64Array::from(vec![Some(10), None])),
        );
        let b = batch(vec![
            ("tag", Arc::new(keys) as ArrayRef),
            ("n", Arc::new(arrow::array::NullArray::new(5)) as ArrayRef),
        ]);
        assert_eq!(rows("tag = 'a'", &b), [0, 3]);
        assert_eq!(rows("tag != 'a'", &b), [2, 4]);
        assert_eq!(rows("tag > 'a'", &b), [2, 4]);
        assert_eq!(rows("tag IN ('b', 'c')", &b), [2, 4]);
        assert_eq!(rows("tag NOT IN ('b', 'c')", &b), [0, 3]);
        assert_eq!(rows("tag IS NULL", &b), [1]);
        assert_eq!(rows("n IS NULL AND tag = 'c'", &b), [4]);
        assert_eq!(rows("n = 1", &b), Vec::<usize>::new());
        let b = batch(vec![("d", Arc::new(nums) as ArrayRef)]);
        assert_eq!(rows("d = 10", &b), [0]);
        // A null dictionary value is NULL too.
        assert_eq!(rows("d IS NULL", &b), [1, 2, 3]);
        assert_eq!(rows("NOT (d = 10)", &b), Vec::<usize>::new());
    }

    #[test]
    fn evaluates_timestamps_and_dates() {
        // 2024-01-01T00:00:00Z, +1 day, +2 days, NULL.
        let day = 86_400_000_000i64;
        let t0 = 1_704_067_200_000_000i64;
        let ts = TimestampMicrosecondArray::from(vec![
            Some(t0),
            Some(t0 + day),
            Some(t0 + 2 * day),
            None,
        ]);
        let b = batch(vec![
            ("ts", Arc::new(ts.clone()) as ArrayRef),
            ("tz", Arc::new(ts.with_timezone("UTC"))),
            (
                "d",
                Arc::new(arrow::array::Date32Array::from(vec![
                    Some(19723),
                    Some(19724),
                    None,
                    Some(19725),
                ])),
            ),
        ]);
        assert_eq!(rows("ts >= '2024-01-02'", &b), [1, 2]);
        assert_eq!(rows("ts < '2024-01-02T00:00:00'", &b), [0]);
        assert_eq!(rows(&format!("ts = {}", t0 + day), &b), [1]);
        assert_eq!(rows("tz > '2024-01-02T12:00:00Z'", &b), [2]);
        assert_eq!(rows("tz > '2024-01-02T12:00:00+13:00'", &b), [1, 2]);
        assert_eq!(
            rows("tz IN ('2024-01-01T00:00:00Z', '2024-01-03')", &b),
            [0, 2]
        );
        assert_eq!(rows("d = '2024-01-02'", &b), [1]);
        assert_eq!(rows("d > 19723", &b), [1, 3]);
        assert_eq!(rows("NOT (d > '2024-01-01')", &b), [0]);

        let bound = p("ts >= '2024-01-02' AND d < '2024-01-03'")
            .bind(&b.schema())
            .unwrap();
        assert_eq!(
            bound,
            and(
                cmp("ts", CmpOp::Ge, Literal::Int(t0 + day)),
                cmp("d", CmpOp::Lt, Literal::Int(19725))
            )
        );
        let e = p("ts > 'yesterday'").evaluate(&b).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "cannot compare column `ts` (Timestamp(µs)) with 'yesterday' (a string): "
            ),
            "{e}"
        );
        let e = p("d = 1.5").evaluate(&b).unwrap_err().to_string();
        assert!(
            e.starts_with("cannot compare column `d` (Date32) with 1.5 (a float): use a string"),
            "{e}"
        );
    }
}
