//! Pruning: decoding column statistics into [`ColumnRange`]s and judging from them whether
//! any row of a segment, row group or page may match ([`Expr::may_match`]).

use std::cmp::Ordering;

use arrow::datatypes::DataType;
use dstore_format::ColumnStats;

use super::{CmpOp, ColumnRange, Expr, Literal};

/// Orders two literals: integers and floats by numeric value (an integer against a float in
/// `f64`, as evaluation does), strings by bytes, booleans `false < true`; `None` for other
/// pairs and NaN.
fn cmp_literals(a: &Literal, b: &Literal) -> Option<Ordering> {
    match (a, b) {
        (Literal::Int(x), Literal::Int(y)) => Some(x.cmp(y)),
        (Literal::Float(x), Literal::Float(y)) => x.partial_cmp(y),
        (Literal::Int(x), Literal::Float(y)) => (*x as f64).partial_cmp(y),
        (Literal::Float(x), Literal::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Literal::Str(x), Literal::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Literal::Bool(x), Literal::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

impl ColumnRange {
    /// No row has a non-null value.
    fn all_null(&self) -> bool {
        self.rows == 0 || self.null_count.is_some_and(|n| n >= self.rows)
    }

    /// Bounds of a float column: NaN values may exist beyond them.
    fn is_float(&self) -> bool {
        matches!(self.min, Some(Literal::Float(_))) || matches!(self.max, Some(Literal::Float(_)))
    }

    /// Whether some row may make `x op v` TRUE (`negated`: FALSE).
    fn may_cmp(&self, op: CmpOp, negated: bool, v: &Literal) -> bool {
        if self.all_null() {
            return false;
        }
        let op = if negated {
            // NOT (x op v) holds on NaN for every op but `!=`.
            if self.is_float() && op != CmpOp::Ne {
                return true;
            }
            op.negate()
        } else {
            op
        };
        self.may_hold(op, v)
    }

    /// Whether `x op v` may hold for a non-null `x` within the bounds.
    fn may_hold(&self, op: CmpOp, v: &Literal) -> bool {
        let lo = self.min.as_ref().and_then(|m| cmp_literals(m, v));
        let hi = self.max.as_ref().and_then(|m| cmp_literals(m, v));
        match op {
            CmpOp::Eq => lo != Some(Ordering::Greater) && hi != Some(Ordering::Less),
            // NaN != v holds, and NaN is not in the bounds.
            CmpOp::Ne => {
                self.is_float() || lo != Some(Ordering::Equal) || hi != Some(Ordering::Equal)
            }
            CmpOp::Lt => !matches!(lo, Some(Ordering::Greater | Ordering::Equal)),
            CmpOp::Le => lo != Some(Ordering::Greater),
            CmpOp::Gt => !matches!(hi, Some(Ordering::Less | Ordering::Equal)),
            CmpOp::Ge => hi != Some(Ordering::Less),
        }
    }

    /// Whether some row may make `x IN values` TRUE (`not_in`: `x NOT IN values`).
    fn may_in(&self, values: &[Literal], not_in: bool) -> bool {
        if values.is_empty() {
            // Constant: IN () is FALSE and NOT IN () TRUE on every row.
            return not_in && self.rows > 0;
        }
        if self.all_null() {
            return false;
        }
        if not_in {
            values.iter().all(|v| self.may_hold(CmpOp::Ne, v))
        } else {
            values.iter().any(|v| self.may_hold(CmpOp::Eq, v))
        }
    }

    /// Whether some row may make `x LIKE pattern` TRUE (`not_like`: `x NOT LIKE pattern`). Only
    /// the pattern's literal prefix is used: every match starts with it.
    fn may_like(&self, pattern: &str, not_like: bool) -> bool {
        if self.all_null() {
            return false;
        }
        if not_like {
            return true;
        }
        let prefix = super::like_prefix(pattern);
        if prefix.is_empty() {
            return true;
        }
        if let Some(Literal::Str(max)) = &self.max
            && max.as_str() < prefix.as_str()
        {
            return false;
        }
        if let Some(Literal::Str(min)) = &self.min
            && min.as_str() > prefix.as_str()
            && !min.starts_with(&prefix)
        {
            return false;
        }
        true
    }

    /// Whether some row may be NULL (`not_null`: non-null).
    fn may_null(&self, not_null: bool) -> bool {
        if self.rows == 0 {
            return false;
        }
        if not_null {
            self.null_count.is_none_or(|n| n < self.rows)
        } else {
            self.null_count != Some(0)
        }
    }
}

impl Expr {
    /// Whether some row of a unit (segment or row group) may match, judging by the statistics
    /// `stats` gives for each column (`None`: nothing known, so anything may match). False only
    /// when no row can match; it is sound for a bound expression ([`Expr::bind`]) with ranges
    /// from [`column_range`] and the same schema.
    ///
    /// `NOT` is pushed inward (De Morgan; `NOT (x < v)` is `x >= v` on non-null values), except
    /// over comparisons on float columns, where NaN rows satisfy `NOT (x < v)` but statistics
    /// do not count them.
    pub fn may_match(&self, stats: &dyn Fn(&str) -> Option<ColumnRange>) -> bool {
        self.may(false, stats)
    }

    /// Whether some row may make the expression TRUE (`negated`: FALSE).
    fn may(&self, negated: bool, stats: &dyn Fn(&str) -> Option<ColumnRange>) -> bool {
        match self {
            Expr::Not(a) => a.may(!negated, stats),
            Expr::And(a, b) if negated => a.may(true, stats) || b.may(true, stats),
            Expr::And(a, b) => a.may(false, stats) && b.may(false, stats),
            Expr::Or(a, b) if negated => a.may(true, stats) && b.may(true, stats),
            Expr::Or(a, b) => a.may(false, stats) || b.may(false, stats),
            Expr::Cmp { column, op, value } => {
                stats(column).is_none_or(|r| r.may_cmp(*op, negated, value))
            }
            Expr::In {
                column,
                values,
                negated: not_in,
            } => stats(column).is_none_or(|r| r.may_in(values, *not_in != negated)),
            Expr::IsNull {
                column,
                negated: not_null,
            } => stats(column).is_none_or(|r| r.may_null(*not_null != negated)),
            Expr::Like {
                column,
                pattern,
                negated: not_like,
            } => stats(column).is_none_or(|r| r.may_like(pattern, *not_like != negated)),
        }
    }
}

/// Decodes one PLAIN-encoded statistics value of a column of Arrow type `dt` stored as Parquet
/// physical type `pt`; `None` when the type is not supported or the bytes do not fit it.
fn decode_plain(dt: &DataType, pt: u8, b: &[u8]) -> Option<Literal> {
    const INT32: u8 = 1;
    const INT64: u8 = 2;
    const BOOLEAN: u8 = 0;
    const FLOAT: u8 = 4;
    const DOUBLE: u8 = 5;
    const BYTE_ARRAY: u8 = 6;
    const MS_PER_DAY: i64 = 86_400_000;
    fn le<const N: usize>(b: &[u8]) -> Option<[u8; N]> {
        b.try_into().ok()
    }
    match (dt, pt) {
        (DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Date32, INT32) => {
            Some(Literal::Int(i64::from(i32::from_le_bytes(le(b)?))))
        }
        (DataType::UInt8 | DataType::UInt16 | DataType::UInt32, INT32) => {
            Some(Literal::Int(i64::from(u32::from_le_bytes(le(b)?))))
        }
        // Date64 written as days (the Parquet writer's default coercion).
        (DataType::Date64, INT32) => i64::from(i32::from_le_bytes(le(b)?))
            .checked_mul(MS_PER_DAY)
            .map(Literal::Int),
        (DataType::Int64 | DataType::Date64 | DataType::Timestamp(_, _), INT64) => {
            Some(Literal::Int(i64::from_le_bytes(le(b)?)))
        }
        (DataType::UInt64, INT64) => i64::try_from(u64::from_le_bytes(le(b)?))
            .ok()
            .map(Literal::Int),
        (DataType::Float32, FLOAT) => {
            let v = f32::from_le_bytes(le(b)?);
            (!v.is_nan()).then(|| Literal::Float(f64::from(v)))
        }
        (DataType::Float64, DOUBLE) => {
            let v = f64::from_le_bytes(le(b)?);
            (!v.is_nan()).then_some(Literal::Float(v))
        }
        (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View, BYTE_ARRAY) => {
            String::from_utf8(b.to_vec()).ok().map(Literal::Str)
        }
        (DataType::Boolean, BOOLEAN) => match b {
            [0] => Some(Literal::Bool(false)),
            [1] => Some(Literal::Bool(true)),
            _ => None,
        },
        (DataType::Dictionary(_, v), _) => decode_plain(v, pt, b),
        _ => None,
    }
}

/// Decodes stats of a top-level column into a typed range for pruning, given the column's Arrow
/// type.
///
/// `physical_type` is the Parquet physical type of the column's leaf (see
/// [`dstore_format::ColumnInfo`]) and `rows` the rows the statistics cover. Bounds are decoded
/// for integer types (`UInt64` bounds above `i64::MAX` are dropped), `Float32`/`Float64` (NaN
/// bounds are dropped), strings (when valid UTF-8), `Boolean`, `Date32` (days), `Date64` (ms),
/// `Timestamp` (the column's unit) and dictionaries of those; for other types, or bytes that do
/// not fit the type, the bounds are `None` and only `null_count` and `rows` can prune.
pub fn column_range(
    data_type: &DataType,
    physical_type: u8,
    stats: &ColumnStats,
    rows: u64,
) -> ColumnRange {
    let decode = |b: &Option<Vec<u8>>| {
        b.as_deref()
            .and_then(|b| decode_plain(data_type, physical_type, b))
    };
    ColumnRange {
        min: decode(&stats.min),
        max: decode(&stats.max),
        null_count: stats.null_count,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;
    use std::sync::Arc;

    use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch};
    use arrow::datatypes::{Field, Schema, TimeUnit};
    use proptest::prelude::*;

    use super::super::test_util::{arb_expr, batch, p};

    fn range(
        min: Option<Literal>,
        max: Option<Literal>,
        nulls: Option<u64>,
        rows: u64,
    ) -> ColumnRange {
        ColumnRange {
            min,
            max,
            null_count: nulls,
            rows,
        }
    }

    fn may(e: &str, r: &ColumnRange) -> bool {
        p(e).may_match(&|c| (c == "x").then(|| r.clone()))
    }

    #[test]
    fn prunes_by_bounds() {
        let r = range(Some(Literal::Int(10)), Some(Literal::Int(20)), Some(0), 100);
        for (e, want) in [
            ("x = 15", true),
            ("x = 9", false),
            ("x = 21", false),
            ("x = 10.5", true),
            ("x = 20.5", false),
            ("x < 10", false),
            ("x <= 10", true),
            ("x > 20", false),
            ("x >= 20", true),
            ("x > 19.5", true),
            ("x != 15", true),
            ("x IN (1, 2, 30)", false),
            ("x IN (1, 12)", true),
            ("x NOT IN (1, 12)", true),
            ("x IS NULL", false),
            ("x IS NOT NULL", true),
            ("NOT (x < 30)", false),
            ("NOT (x >= 10)", false),
            ("NOT (x = 15)", true),
            ("NOT (x IS NOT NULL)", false),
            ("NOT (x > 5 AND x < 25)", false),
            ("NOT (x > 5 AND x < 15)", true),
            ("x < 5 OR x > 25", false),
            ("x < 5 OR y > 25", true), // nothing known about y
            ("x = 'a'", true),         // incomparable: no pruning
        ] {
            assert_eq!(may(e, &r), want, "{e}");
        }
        let one = range(Some(Literal::Int(7)), Some(Literal::Int(7)), Some(3), 10);
        assert!(!may("x != 7", &one));
        assert!(!may("x NOT IN (1, 7)", &one));
        assert!(!may("NOT (x = 7)", &one));
        assert!(!may("NOT (x IN (7))", &one));
        assert!(may("x != 8", &one));
        assert!(may("x IS NULL", &one));
        let nulls = range(None, None, Some(10), 10);
        assert!(!may("x = 1", &nulls));
        assert!(!may("NOT (x = 1)", &nulls));
        assert!(!may("x IS NOT NULL", &nulls));
        assert!(may("x IS NULL", &nulls));
        let unknown = range(None, None, None, 10);
        assert!(may("x = 1 AND x IS NULL AND NOT (x IS NOT NULL)", &unknown));
        let empty = range(None, None, None, 0);
        assert!(!may("x IS NULL", &empty));
        assert!(!may("x IS NOT NULL", &empty));
        let strs = range(
            Some(Literal::Str("b".into())),
            Some(Literal::Str("d".into())),
            None,
            5,
        );
        assert!(!may("x = 'a'", &strs));
        assert!(may("x = 'bz'", &strs));
        assert!(!may("x > 'd'", &strs));
        assert!(may("x >= 'd'", &strs));
        // Floats: NaN rows match `!=` and every negated comparison.
        let floats = range(
            Some(Literal::Float(-0.0)),
            Some(Literal::Float(0.0)),
            Some(0),
            5,
        );
        assert!(may("x = 0", &floats));
        assert!(may("x != 0", &floats));
        assert!(may("NOT (x = 0)", &floats));
        assert!(may("NOT (x < 1)", &floats));
        assert!(!may("NOT (x != 1)", &floats));
        assert!(!may("x > 0", &floats));
        assert!(!may("x < 0", &floats));
        assert!(!may("x = 1", &floats));
        assert!(may("x NOT IN (0)", &floats));
        // A missing column range prunes nothing.
        assert!(p("y = 1").may_match(&|_| None));
    }

    #[test]
    fn decodes_statistics() {
        let st = |min: &[u8], max: &[u8], nulls| ColumnStats {
            null_count: nulls,
            min: Some(min.to_vec()),
            max: Some(max.to_vec()),
        };
        let r = column_range(
            &DataType::Int16,
            1,
            &st(&(-5i32).to_le_bytes(), &7i32.to_le_bytes(), Some(2)),
            9,
        );
        assert_eq!(
            r,
            range(Some(Literal::Int(-5)), Some(Literal::Int(7)), Some(2), 9)
        );
        let r = column_range(&DataType::UInt32, 1, &st(&[0; 4], &[0xff; 4], None), 1);
        assert_eq!(r.max, Some(Literal::Int(i64::from(u32::MAX))));
        let r = column_range(
            &DataType::UInt64,
            2,
            &st(&5u64.to_le_bytes(), &u64::MAX.to_le_bytes(), None),
            1,
        );
        assert_eq!((r.min, r.max), (Some(Literal::Int(5)), None));
        let r = column_range(
            &DataType::Float32,
            4,
            &st(&1.5f32.to_le_bytes(), &f32::NAN.to_le_bytes(), None),
            1,
        );
        assert_eq!((r.min, r.max), (Some(Literal::Float(1.5)), None));
        let r = column_range(
            &DataType::Float64,
            5,
            &st(&(-2.0f64).to_le_bytes(), &3.0f64.to_le_bytes(), None),
            1,
        );
        assert_eq!(
            (r.min, r.max),
            (Some(Literal::Float(-2.0)), Some(Literal::Float(3.0)))
        );
        let r = column_range(&DataType::LargeUtf8, 6, &st(b"abc", &[0xff, 0xfe], None), 1);
        assert_eq!((r.min, r.max), (Some(Literal::Str("abc".into())), None));
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let r = column_range(&dict, 6, &st(b"a", b"z", Some(0)), 1);
        assert_eq!(
            (r.min, r.max),
            (
                Some(Literal::Str("a".into())),
                Some(Literal::Str("z".into()))
            )
        );
        let r = column_range(&DataType::Boolean, 0, &st(&[0], &[1], None), 1);
        assert_eq!(
            (r.min, r.max),
            (Some(Literal::Bool(false)), Some(Literal::Bool(true)))
        );
        let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        let r = column_range(
            &ts,
            2,
            &st(&1i64.to_le_bytes(), &2i64.to_le_bytes(), None),
            1,
        );
        assert_eq!(
            (r.min, r.max),
            (Some(Literal::Int(1)), Some(Literal::Int(2)))
        );
        // INT96 timestamps, wrong widths, wrong physical types, unsupported types: no bounds.
        for (dt, pt, stats) in [
            (ts.clone(), 3, st(&[0; 12], &[0; 12], Some(1))),
            (DataType::Int64, 2, st(&[0; 4], &[0; 4], Some(1))),
            (DataType::Int64, 1, st(&[0; 4], &[0; 4], Some(1))),
            (
                DataType::Decimal128(10, 2),
                7,
                st(&[0; 5], &[1; 5], Some(1)),
            ),
            (DataType::Binary, 6, st(b"a", b"b", Some(1))),
        ] {
            let r = column_range(&dt, pt, &stats, 4);
            assert_eq!(r, range(None, None, Some(1), 4), "{dt}");
        }
        let r = column_range(&DataType::Int8, 1, &ColumnStats::default(), 3);
        assert_eq!(r, range(None, None, None, 3));
        let r = column_range(
            &DataType::Date64,
            1,
            &st(&1i32.to_le_bytes(), &2i32.to_le_bytes(), None),
            1,
        );
        assert_eq!(
            (r.min, r.max),
            (
                Some(Literal::Int(86_400_000)),
                Some(Literal::Int(172_800_000))
            )
        );
    }

    /// Timestamp pruning works on a bound expression with ranges from `column_range`.
    #[test]
    fn prunes_bound_timestamps() {
        let schema = Schema::new(vec![Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        )]);
        let t0 = 1_704_067_200_000i64; // 2024-01-01
        let stats = ColumnStats {
            null_count: Some(0),
            min: Some(t0.to_le_bytes().to_vec()),
            max: Some((t0 + 3_600_000).to_le_bytes().to_vec()),
        };
        let r = column_range(schema.field(0).data_type(), 2, &stats, 10);
        let may = |s: &str| p(s).bind(&schema).unwrap().may_match(&|_| Some(r.clone()));
        assert!(may("ts >= '2024-01-01T00:30:00'"));
        assert!(!may("ts >= '2024-01-01T01:00:00.001'"));
        assert!(!may("ts < '2024-01-01'"));
        assert!(may("ts <= '2024-01-01'"));
    }

    // --- Property tests ------------------------------------------------------------------------

    /// A naive row-at-a-time evaluator: SQL three-valued logic, numbers by value, IEEE floats.
    trait NaiveValue: Copy {
        fn cmp_lit(self, v: &Literal) -> Option<Ordering>;
    }

    impl NaiveValue for i64 {
        fn cmp_lit(self, v: &Literal) -> Option<Ordering> {
            match v {
                Literal::Int(y) => Some(self.cmp(y)),
                Literal::Float(f) => (self as f64).partial_cmp(f),
                _ => panic!("unexpected literal {v:?}"),
            }
        }
    }

    impl NaiveValue for f64 {
        fn cmp_lit(self, v: &Literal) -> Option<Ordering> {
            match v {
                Literal::Int(y) => self.partial_cmp(&(*y as f64)),
                Literal::Float(f) => self.partial_cmp(f),
                _ => panic!("unexpected literal {v:?}"),
            }
        }
    }

    fn naive<T: NaiveValue>(e: &Expr, row: &HashMap<&str, Option<T>>) -> Option<bool> {
        match e {
            Expr::Cmp { column, op, value } => {
                let x = row[column.as_str()]?;
                Some(op.holds(x.cmp_lit(value)))
            }
            Expr::In {
                column,
                values,
                negated,
            } => {
                if values.is_empty() {
                    return Some(*negated);
                }
                let x = row[column.as_str()]?;
                let found = values.iter().any(|v| CmpOp::Eq.holds(x.cmp_lit(v)));
                Some(found != *negated)
            }
            Expr::IsNull { column, negated } => Some(row[column.as_str()].is_none() != *negated),
            // Not generated by these tests (eval.rs and the scan tests cover LIKE).
            Expr::Like { .. } => None,
            Expr::And(a, b) => match (naive(a, row), naive(b, row)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Expr::Or(a, b) => match (naive(a, row), naive(b, row)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Expr::Not(a) => naive(a, row).map(|v| !v),
        }
    }

    /// Which statistics a unit reports: min, max, null count.
    type Known = (bool, bool, bool);

    fn int_stats(v: &[Option<i64>], k: Known) -> ColumnStats {
        let vals: Vec<i64> = v.iter().flatten().copied().collect();
        ColumnStats {
            null_count: k.2.then(|| v.iter().filter(|x| x.is_none()).count() as u64),
            min: vals
                .iter()
                .min()
                .filter(|_| k.0)
                .map(|m| m.to_le_bytes().to_vec()),
            max: vals
                .iter()
                .max()
                .filter(|_| k.1)
                .map(|m| m.to_le_bytes().to_vec()),
        }
    }

    /// Bounds as Parquet writes them: over non-NaN values, the first of equal (±0) values.
    fn float_stats(v: &[Option<f64>], k: Known) -> ColumnStats {
        let vals: Vec<f64> = v
            .iter()
            .flatten()
            .copied()
            .filter(|x| !x.is_nan())
            .collect();
        let pick = |better: fn(f64, f64) -> bool| {
            vals.iter()
                .copied()
                .reduce(|m, x| if better(x, m) { x } else { m })
        };
        ColumnStats {
            null_count: k.2.then(|| v.iter().filter(|x| x.is_none()).count() as u64),
            min: pick(|x, m| x < m)
                .filter(|_| k.0)
                .map(|m| m.to_le_bytes().to_vec()),
            max: pick(|x, m| x > m)
                .filter(|_| k.1)
                .map(|m| m.to_le_bytes().to_vec()),
        }
    }

    fn check_columns<T: NaiveValue>(
        e: &Expr,
        batch: &RecordBatch,
        a: &[Option<T>],
        b: &[Option<T>],
        ranges: &HashMap<&str, ColumnRange>,
    ) -> Result<(), TestCaseError> {
        let mask = e
            .evaluate(batch)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(mask.null_count(), 0);
        let mut any = false;
        for i in 0..a.len() {
            let row = HashMap::from([("a", a[i]), ("b", b[i])]);
            let want = naive(e, &row) == Some(true);
            prop_assert_eq!(mask.value(i), want, "row {} of {}", i, e);
            any |= want;
        }
        if any {
            let stats = |c: &str| ranges.get(c).cloned();
            prop_assert!(e.may_match(&stats), "pruned a matching unit: {}", e);
            let bound = e
                .bind(batch.schema_ref())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(bound.may_match(&stats), "pruned a matching unit: {}", bound);
        }
        Ok(())
    }

    fn int_columns() -> impl Strategy<Value = (Vec<Option<i64>>, Vec<Option<i64>>)> {
        (0usize..9).prop_flat_map(|n| {
            let col = || proptest::collection::vec(proptest::option::of(-3i64..4), n);
            (col(), col())
        })
    }

    fn float_columns() -> impl Strategy<Value = (Vec<Option<f64>>, Vec<Option<f64>>)> {
        let v = prop_oneof![
            Just(-1.5),
            Just(-0.0),
            Just(0.0),
            Just(1.0),
            Just(2.5),
            Just(f64::NAN),
            Just(-f64::NAN),
            Just(f64::INFINITY),
        ];
        (0usize..9).prop_flat_map(move |n| {
            let col = || proptest::collection::vec(proptest::option::of(v.clone()), n);
            (col(), col())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn int_filters_match_naive_and_prune_soundly(
            (a, b) in int_columns(),
            e in arb_expr(),
            ka in any::<Known>(),
            kb in any::<Known>(),
        ) {
            let batch = batch(vec![
                ("a", Arc::new(Int64Array::from(a.clone())) as ArrayRef),
                ("b", Arc::new(Int64Array::from(b.clone())) as ArrayRef),
            ]);
            let n = a.len() as u64;
            let ranges = HashMap::from([
                ("a", column_range(&DataType::Int64, 2, &int_stats(&a, ka), n)),
                ("b", column_range(&DataType::Int64, 2, &int_stats(&b, kb), n)),
            ]);
            check_columns(&e, &batch, &a, &b, &ranges)?;
        }
    }

    proptest! {
        // More cases: float pruning has rare corners (NaN beside equal bounds).
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn float_filters_match_naive_and_prune_soundly(
            (a, b) in float_columns(),
            e in arb_expr(),
            ka in any::<Known>(),
            kb in any::<Known>(),
        ) {
            let batch = batch(vec![
                ("a", Arc::new(Float64Array::from(a.clone())) as ArrayRef),
                ("b", Arc::new(Float64Array::from(b.clone())) as ArrayRef),
            ]);
            let n = a.len() as u64;
            let ranges = HashMap::from([
                ("a", column_range(&DataType::Float64, 5, &float_stats(&a, ka), n)),
                ("b", column_range(&DataType::Float64, 5, &float_stats(&b, kb), n)),
            ]);
            check_columns(&e, &batch, &a, &b, &ranges)?;
        }
    }
}
