//! Helpers shared by the tests of the stages: parsing, building expressions and batches,
//! and proptest strategies for expressions.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use proptest::prelude::*;

use super::{CmpOp, Expr, Literal};

pub(super) fn p(s: &str) -> Expr {
    Expr::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

pub(super) fn cmp(c: &str, op: CmpOp, v: Literal) -> Expr {
    Expr::Cmp {
        column: c.into(),
        op,
        value: v,
    }
}

pub(super) fn and(a: Expr, b: Expr) -> Expr {
    Expr::And(Box::new(a), Box::new(b))
}

pub(super) fn or(a: Expr, b: Expr) -> Expr {
    Expr::Or(Box::new(a), Box::new(b))
}

pub(super) fn neg(a: Expr) -> Expr {
    Expr::Not(Box::new(a))
}

pub(super) fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).unwrap()
}

pub(super) fn rows(e: &str, b: &RecordBatch) -> Vec<usize> {
    let m = p(e).evaluate(b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.null_count(), 0);
    (0..m.len()).filter(|&i| m.value(i)).collect()
}

pub(super) fn sample() -> RecordBatch {
    batch(vec![
        (
            "x",
            Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(4)])) as ArrayRef,
        ),
        (
            "s",
            Arc::new(StringArray::from(vec![
                Some("a"),
                None,
                Some("c"),
                Some("b"),
            ])),
        ),
        (
            "f",
            Arc::new(Float64Array::from(vec![
                Some(0.5),
                Some(f64::NAN),
                Some(-0.0),
                None,
            ])),
        ),
        (
            "ok",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ])),
        ),
    ])
}

fn arb_lit() -> impl Strategy<Value = Literal> {
    prop_oneof![
        4 => (-4i64..5).prop_map(Literal::Int),
        3 => (-9i32..10).prop_map(|k| Literal::Float(f64::from(k) / 2.0)),
        1 => Just(Literal::Float(f64::NAN)),
        1 => Just(Literal::Float(-0.0)),
    ]
}

pub(super) fn arb_expr() -> impl Strategy<Value = Expr> {
    let col = || prop_oneof![Just("a".to_owned()), Just("b".to_owned())];
    let op = prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge),
    ];
    let leaf = prop_oneof![
        4 => (col(), op, arb_lit()).prop_map(|(column, op, value)| Expr::Cmp { column, op, value }),
        2 => (col(), proptest::collection::vec(arb_lit(), 0..4), any::<bool>())
            .prop_map(|(column, values, negated)| Expr::In { column, values, negated }),
        1 => (col(), any::<bool>()).prop_map(|(column, negated)| Expr::IsNull { column, negated }),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| and(a, b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| or(a, b)),
            inner.prop_map(neg),
        ]
    })
}
