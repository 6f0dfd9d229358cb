//! Filter expressions for scans: a small SQL-like predicate language, evaluated on Arrow record
//! batches with SQL's three-valued logic, and checked against column statistics so that
//! segments and row groups that cannot hold a matching row are never read.
//!
//! ```text
//! label IN ('cat', 'dog') AND score >= 0.5 AND NOT (split = 'test' OR "source url" IS NULL)
//! ts >= '2024-01-01T00:00:00Z' AND lang NOT IN ('xx')
//! ```
//!
//! Grammar (keywords are case-insensitive):
//!
//! ```text
//! expr    := or
//! or      := and (OR and)*
//! and     := not (AND not)*
//! not     := NOT not | primary
//! primary := '(' expr ')'
//!          | ident cmp literal
//!          | ident [NOT] IN '(' literal (',' literal)* ')'
//!          | ident IS [NOT] NULL
//!          | ident [NOT] LIKE 'pattern'
//! cmp     := = | == | != | <> | < | <= | > | >=
//! ident   := [A-Za-z_][A-Za-z0-9_.]*  |  "any name" (a `"` inside is written `""`)
//! literal := integer (optional sign) | float (1.5, -2e3, .5) | 'string' ('' for a quote)
//!          | true | false
//! ```
//!
//! Keywords (`AND OR NOT IN IS NULL TRUE FALSE LIKE`) cannot name a column unquoted.
//!
//! # Semantics
//!
//! A comparison with a NULL value is NULL (unknown); `AND`, `OR` and `NOT` follow SQL's
//! three-valued logic, and a row is kept only when the whole filter is TRUE, so `NOT (x > 1)`
//! drops rows where `x` is NULL. `x IN (a, b)` is `x = a OR x = b` and `x NOT IN (a, b)` is
//! `x != a AND x != b`.
//!
//! `s LIKE 'cat/%'` matches strings as SQL does, on string columns only: `%` any run of
//! characters (none too), `_` exactly one character, `\` before `%`, `_` or `\` that character
//! itself; the whole string must match, case counts. Pruning uses the pattern's literal prefix.
//!
//! Literals are converted to the column's type ([`Expr::bind`]): for a timestamp or date column
//! a string is parsed as a timestamp/date (`'2024-01-31'`, `'2024-01-31T12:00:00Z'`) and an
//! integer is taken in the column's raw units (days, or the timestamp's unit since the epoch);
//! for a dictionary column the comparison is on the dictionary values.
//!
//! Numbers compare by value: an integer column compared with a fractional (or out-of-range)
//! literal, e.g. `n < 2.5` or an `Int8` column with `1000`, is compared in `f64`. Floating-point
//! columns follow IEEE 754 rather than Arrow's total order: NaN is neither equal to, smaller nor
//! greater than anything (only `!=` holds), and `-0.0 = 0.0`. That keeps pruning sound, since
//! Parquet leaves NaN out of column statistics.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;

use arrow::error::ArrowError;

mod bind;
mod eval;
mod lex;
mod parse;
mod prune;
#[cfg(test)]
mod test_util;

pub use prune::column_range;

/// A constant in a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// An integer, e.g. `42` or `-7`; for timestamp and date columns, raw units.
    Int(i64),
    /// A floating-point number, e.g. `1.5` or `-2e3`.
    Float(f64),
    /// A string, e.g. `'it''s'`.
    Str(String),
    /// `true` or `false`.
    Bool(bool),
}

impl Literal {
    fn kind(&self) -> &'static str {
        match self {
            Literal::Int(_) => "an integer",
            Literal::Float(_) => "a float",
            Literal::Str(_) => "a string",
            Literal::Bool(_) => "a boolean",
        }
    }
}

/// Writes the literal as filter text; non-finite floats, which have no literal syntax, are
/// written as strings (`'NaN'`, `'inf'`), which [`Expr::bind`] turns back into floats for
/// floating-point columns.
impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Int(v) => write!(f, "{v}"),
            // Debug always has a `.` or an exponent, so the text reads back as a float.
            Literal::Float(v) if v.is_finite() => write!(f, "{v:?}"),
            Literal::Float(v) => write!(f, "'{v}'"),
            Literal::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Literal::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=` (also `==`).
    Eq,
    /// `!=` (also `<>`).
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl CmpOp {
    /// The operator's canonical text.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The operator that holds exactly when this one does not, for totally ordered values
    /// (`<` gives `>=`). It is not the complement for NaN.
    #[must_use]
    pub fn negate(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::Lt => CmpOp::Ge,
            CmpOp::Le => CmpOp::Gt,
            CmpOp::Gt => CmpOp::Le,
            CmpOp::Ge => CmpOp::Lt,
        }
    }

    /// Whether `a op b` holds when `a` compares to `b` as `ord` (`None`: unordered, as with
    /// NaN, where only `!=` holds).
    fn holds(self, ord: Option<Ordering>) -> bool {
        match ord {
            None => self == CmpOp::Ne,
            Some(o) => match self {
                CmpOp::Eq => o.is_eq(),
                CmpOp::Ne => o.is_ne(),
                CmpOp::Lt => o.is_lt(),
                CmpOp::Le => o.is_le(),
                CmpOp::Gt => o.is_gt(),
                CmpOp::Ge => o.is_ge(),
            },
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// A filter expression over the columns of one table.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `column op value`.
    Cmp {
        /// Column name.
        column: String,
        /// Operator.
        op: CmpOp,
        /// Right-hand side.
        value: Literal,
    },
    /// `column IN (values)`, or `column NOT IN (values)` when `negated`.
    In {
        /// Column name.
        column: String,
        /// The list; when empty, `IN` is false and `NOT IN` true for every row (NULLs too).
        values: Vec<Literal>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `column IS NULL`, or `column IS NOT NULL` when `negated`.
    IsNull {
        /// Column name.
        column: String,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `column LIKE pattern`, or `column NOT LIKE pattern` when `negated` (string columns).
    Like {
        /// Column name.
        column: String,
        /// The pattern: `%` any characters, `_` one, `\` escapes.
        pattern: String,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// Both hold.
    And(Box<Expr>, Box<Expr>),
    /// Either holds.
    Or(Box<Expr>, Box<Expr>),
    /// Does not hold (NULL stays NULL).
    Not(Box<Expr>),
}

impl Expr {
    /// The columns the expression references.
    pub fn columns(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect_columns(&mut out);
        out
    }

    fn collect_columns(&self, out: &mut BTreeSet<String>) {
        match self {
            Expr::Cmp { column, .. }
            | Expr::In { column, .. }
            | Expr::IsNull { column, .. }
            | Expr::Like { column, .. } => {
                out.insert(column.clone());
            }
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.collect_columns(out);
                b.collect_columns(out);
            }
            Expr::Not(a) => a.collect_columns(out),
        }
    }
}

/// A filter that cannot be parsed, names an unknown column, or compares a column with a value
/// that cannot be converted to its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    position: Option<usize>,
    message: String,
}

impl FilterError {
    fn at(position: usize, message: impl Into<String>) -> Self {
        Self {
            position: Some(position),
            message: message.into(),
        }
    }

    fn new(message: impl Into<String>) -> Self {
        Self {
            position: None,
            message: message.into(),
        }
    }

    /// For parse errors, the 1-based column (in characters) of the filter text at fault.
    pub fn position(&self) -> Option<usize> {
        self.position
    }

    /// The message without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "at column {p}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for FilterError {}

impl From<ArrowError> for FilterError {
    fn from(e: ArrowError) -> Self {
        FilterError::new(e.to_string())
    }
}

/// What statistics say about one column over some rows (a segment or a row group), decoded by
/// [`column_range`] for [`Expr::may_match`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ColumnRange {
    /// Lower bound of the non-null values, when known.
    pub min: Option<Literal>,
    /// Upper bound of the non-null values, when known.
    pub max: Option<Literal>,
    /// Nulls in the rows, when known.
    pub null_count: Option<u64>,
    /// Rows.
    pub rows: u64,
}

/// The characters every string matching `pattern` (a LIKE pattern) starts with: the pattern up
/// to its first unescaped wildcard, escapes resolved.
pub(crate) fn like_prefix(pattern: &str) -> String {
    let mut out = String::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '%' | '_' => break,
            '\\' => match it.next() {
                Some(n) => out.push(n),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}
