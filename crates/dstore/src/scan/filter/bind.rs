//! Binding: checking an expression against a table schema and converting its literals to
//! the form comparisons with each column use (see [`Expr::bind`]).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, StringArray,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Schema};
use arrow::error::ArrowError;

use super::parse::quote_ident;
use super::{Expr, FilterError, Literal};

pub(super) fn cast_options() -> CastOptions<'static> {
    CastOptions {
        safe: false,
        ..CastOptions::default()
    }
}

/// The type comparisons see: a dictionary's value type.
fn value_type(dt: &DataType) -> &DataType {
    match dt {
        DataType::Dictionary(_, v) => value_type(v),
        other => other,
    }
}

pub(super) fn is_integer(dt: &DataType) -> bool {
    dt.is_integer()
}

pub(super) fn is_float(dt: &DataType) -> bool {
    dt.is_floating()
}

/// Whether `v` is a value of the integer type `dt`.
pub(super) fn int_fits(v: i64, dt: &DataType) -> bool {
    match dt {
        DataType::Int8 => i8::try_from(v).is_ok(),
        DataType::Int16 => i16::try_from(v).is_ok(),
        DataType::Int32 => i32::try_from(v).is_ok(),
        DataType::Int64 => true,
        DataType::UInt8 => u8::try_from(v).is_ok(),
        DataType::UInt16 => u16::try_from(v).is_ok(),
        DataType::UInt32 => u32::try_from(v).is_ok(),
        DataType::UInt64 => v >= 0,
        _ => false,
    }
}

/// `f` as an `i64` when it is an integer in range.
fn float_as_int(f: f64) -> Option<i64> {
    // -2^63 is exact in f64; 2^63 is the first value above i64::MAX.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

/// A one-element array of `lit` in type `target`, via Arrow's (non-lossy-checked) cast.
pub(super) fn literal_array(lit: &Literal, target: &DataType) -> Result<ArrayRef, ArrowError> {
    let natural: ArrayRef = match lit {
        Literal::Int(v) if matches!(target, DataType::Date32 | DataType::Time32(_)) => {
            let v = i32::try_from(*v)
                .map_err(|_| ArrowError::CastError(format!("{v} is out of range for {target}")))?;
            Arc::new(Int32Array::from(vec![v]))
        }
        Literal::Int(v) => Arc::new(Int64Array::from(vec![*v])),
        Literal::Float(v) => Arc::new(Float64Array::from(vec![*v])),
        Literal::Str(s) => Arc::new(StringArray::from(vec![s.as_str()])),
        Literal::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
    };
    let out = cast_with_options(&natural, target, &cast_options())?;
    if out.is_null(0) {
        return Err(ArrowError::CastError(format!(
            "{lit} cannot be represented as {target}"
        )));
    }
    Ok(out)
}

pub(super) fn cast_error(
    column: &str,
    dt: &DataType,
    lit: &Literal,
    detail: &dyn fmt::Display,
) -> FilterError {
    FilterError::new(format!(
        "cannot compare column `{column}` ({dt}) with {lit} ({}): {detail}",
        lit.kind()
    ))
}

/// Converts `lit` to the form comparisons with a column of type `dt` use (see [`Expr::bind`]).
fn normalize(column: &str, dt: &DataType, lit: &Literal) -> Result<Literal, FilterError> {
    let vt = value_type(dt);
    let fail = |detail: &dyn fmt::Display| cast_error(column, vt, lit, detail);
    if is_integer(vt) {
        return match lit {
            Literal::Int(v) => Ok(Literal::Int(*v)),
            Literal::Float(f) => Ok(float_as_int(*f).map_or(Literal::Float(*f), Literal::Int)),
            Literal::Str(s) => {
                let s = s.trim();
                if let Ok(v) = s.parse::<i64>() {
                    Ok(Literal::Int(v))
                } else if let Ok(f) = s.parse::<f64>() {
                    Ok(float_as_int(f).map_or(Literal::Float(f), Literal::Int))
                } else {
                    Err(fail(&"not a number"))
                }
            }
            Literal::Bool(b) => Ok(Literal::Int(i64::from(*b))),
        };
    }
    if is_float(vt) {
        let f = match lit {
            Literal::Int(v) => *v as f64,
            Literal::Float(f) => *f,
            Literal::Str(s) => s.trim().parse::<f64>().map_err(|_| fail(&"not a number"))?,
            Literal::Bool(b) => f64::from(u8::from(*b)),
        };
        // Round to the column's precision, so comparisons and statistics agree.
        let a = literal_array(&Literal::Float(f), vt).map_err(|e| fail(&e))?;
        let a = cast_with_options(&a, &DataType::Float64, &cast_options()).map_err(|e| fail(&e))?;
        return Ok(Literal::Float(a.as_primitive::<Float64Type>().value(0)));
    }
    match vt {
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => match lit {
            Literal::Int(v) => {
                if *vt == DataType::Date32 && i32::try_from(*v).is_err() {
                    return Err(fail(&"out of range for Date32 (days since 1970-01-01)"));
                }
                Ok(Literal::Int(*v))
            }
            Literal::Str(_) => {
                let a = literal_array(lit, vt).map_err(|e| fail(&e))?;
                let raw = if *vt == DataType::Date32 {
                    let a = cast_with_options(&a, &DataType::Int32, &cast_options())
                        .map_err(|e| fail(&e))?;
                    i64::from(a.as_primitive::<Int32Type>().value(0))
                } else {
                    let a = cast_with_options(&a, &DataType::Int64, &cast_options())
                        .map_err(|e| fail(&e))?;
                    a.as_primitive::<Int64Type>().value(0)
                };
                Ok(Literal::Int(raw))
            }
            _ => Err(fail(
                &"use a string such as '2024-01-31' or '2024-01-31T12:00:00Z', or an integer in the column's units",
            )),
        },
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            if let Literal::Str(_) = lit {
                return Ok(lit.clone());
            }
            let a = literal_array(lit, &DataType::Utf8).map_err(|e| fail(&e))?;
            Ok(Literal::Str(a.as_string::<i32>().value(0).to_owned()))
        }
        DataType::Boolean => {
            if let Literal::Bool(_) = lit {
                return Ok(lit.clone());
            }
            let a = literal_array(lit, &DataType::Boolean).map_err(|e| fail(&e))?;
            Ok(Literal::Bool(a.as_boolean().value(0)))
        }
        DataType::Null => Ok(lit.clone()),
        _ => {
            literal_array(lit, vt).map_err(|e| fail(&e))?;
            Ok(lit.clone())
        }
    }
}

pub(super) fn unknown_column(schema: &Schema, name: &str) -> FilterError {
    const SHOWN: usize = 40;
    let names: Vec<Cow<'_, str>> = schema
        .fields()
        .iter()
        .take(SHOWN)
        .map(|f| quote_ident(f.name()))
        .collect();
    let list = if names.is_empty() {
        "the table has no columns".to_owned()
    } else {
        let more = schema.fields().len().saturating_sub(SHOWN);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!("available columns: {}{tail}", names.join(", "))
    };
    FilterError::new(format!("unknown column `{name}`; {list}"))
}

fn field<'a>(schema: &'a Schema, name: &str) -> Result<&'a Field, FilterError> {
    schema
        .field_with_name(name)
        .map_err(|_| unknown_column(schema, name))
}

impl Expr {
    /// Checks the expression against a table schema and converts its literals to the form
    /// comparisons with each column use, which [`Expr::may_match`] relies on:
    ///
    /// - timestamp and date columns (`Timestamp`, `Date32`, `Date64`): a string is parsed as a
    ///   timestamp/date in the column's type (naive times in the column's time zone) and
    ///   becomes an integer in the column's raw units; an integer is already in raw units;
    /// - float columns: the value becomes a float rounded to the column's precision (an
    ///   `f32` column compared with `0.1` compares with `0.1_f32`); strings such as `'NaN'`
    ///   are parsed;
    /// - integer columns: an integral float becomes an integer; a numeric string is parsed;
    /// - string and boolean columns: the value is cast to a string / boolean;
    /// - dictionary columns: as their value type;
    /// - other types: the literal is kept, after checking that Arrow can cast it.
    ///
    /// Binding a bound expression returns it unchanged.
    pub fn bind(&self, schema: &Schema) -> Result<Expr, FilterError> {
        Ok(match self {
            Expr::Cmp { column, op, value } => Expr::Cmp {
                column: column.clone(),
                op: *op,
                value: normalize(column, field(schema, column)?.data_type(), value)?,
            },
            Expr::In {
                column,
                values,
                negated,
            } => {
                let dt = field(schema, column)?.data_type();
                Expr::In {
                    column: column.clone(),
                    values: values
                        .iter()
                        .map(|v| normalize(column, dt, v))
                        .collect::<Result<_, _>>()?,
                    negated: *negated,
                }
            }
            Expr::IsNull { column, .. } => {
                field(schema, column)?;
                self.clone()
            }
            Expr::Like { column, .. } => {
                let dt = field(schema, column)?.data_type();
                let value_type = match dt {
                    DataType::Dictionary(_, v) => v.as_ref(),
                    other => other,
                };
                if !matches!(
                    value_type,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) {
                    return Err(FilterError::new(format!(
                        "LIKE needs a string column; `{column}` is {dt}"
                    )));
                }
                self.clone()
            }
            Expr::And(a, b) => Expr::And(Box::new(a.bind(schema)?), Box::new(b.bind(schema)?)),
            Expr::Or(a, b) => Expr::Or(Box::new(a.bind(schema)?), Box::new(b.bind(schema)?)),
            Expr::Not(a) => Expr::Not(Box::new(a.bind(schema)?)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::test_util::{p, rows, sample};

    #[test]
    fn reports_unknown_columns_and_bad_literals() {
        let b = sample();
        assert_eq!(
            p("y = 1 OR x = 2").evaluate(&b).unwrap_err().to_string(),
            "unknown column `y`; available columns: x, s, f, ok"
        );
        assert_eq!(
            p("x = 'abc'").evaluate(&b).unwrap_err().to_string(),
            "cannot compare column `x` (Int64) with 'abc' (a string): not a number"
        );
        assert_eq!(
            p("f < 'high'").evaluate(&b).unwrap_err().to_string(),
            "cannot compare column `f` (Float64) with 'high' (a string): not a number"
        );
        // Values that do convert: numbers and booleans to strings, 'true' to a boolean.
        assert_eq!(rows("s = 1", &b), Vec::<usize>::new());
        assert_eq!(rows("ok = 'false'", &b), [1]);
        let e = p("x IS NULL").bind(&Schema::empty()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown column `x`; the table has no columns"
        );
        assert_eq!(e.position(), None);
    }

    #[test]
    fn bind_normalizes_literals() {
        let schema = Schema::new(vec![
            Field::new("i", DataType::Int32, true),
            Field::new("f", DataType::Float32, true),
            Field::new("s", DataType::Utf8View, true),
            Field::new(
                "d",
                DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8)),
                true,
            ),
        ]);
        let e = p("i = 2.0 AND i < 2.5 AND f = 1 AND f > 0.1 AND s = 5 AND d IN (1, 'x')")
            .bind(&schema)
            .unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "((i = 2 AND (i < 2.5 AND f = 1.0)) AND (f > {:?} AND (s = '5' AND d IN ('1', 'x'))))",
                f64::from(0.1f32)
            )
        );
        assert_eq!(e.bind(&schema).unwrap(), e);
    }
}
