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
//! cmp     := = | == | != | <> | < | <= | > | >=
//! ident   := [A-Za-z_][A-Za-z0-9_.]*  |  "any name" (a `"` inside is written `""`)
//! literal := integer (optional sign) | float (1.5, -2e3, .5) | 'string' ('' for a quote)
//!          | true | false
//! ```
//!
//! Keywords (`AND OR NOT IN IS NULL TRUE FALSE`) cannot name a column unquoted.
//!
//! # Semantics
//!
//! A comparison with a NULL value is NULL (unknown); `AND`, `OR` and `NOT` follow SQL's
//! three-valued logic, and a row is kept only when the whole filter is TRUE, so `NOT (x > 1)`
//! drops rows where `x` is NULL. `x IN (a, b)` is `x = a OR x = b` and `x NOT IN (a, b)` is
//! `x != a AND x != b`.
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

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch,
    Scalar, StringArray,
};
use arrow::compute::kernels::cmp;
use arrow::compute::{
    CastOptions, and_kleene, cast_with_options, is_not_null, is_null, not, or_kleene, take,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Schema};
use arrow::error::ArrowError;
use dstore_format::ColumnStats;

/// Deepest nesting of parentheses and `NOT`s [`Expr::parse`] accepts, and deepest tree of
/// `AND`/`OR`/`NOT` it builds. Chains of `AND`/`OR` are built as balanced trees, so a chain of
/// n terms adds about log2(n) levels.
const MAX_DEPTH: usize = 128;

/// Words that cannot be used as bare column names.
const KEYWORDS: [&str; 8] = ["AND", "OR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE"];

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
    /// Both hold.
    And(Box<Expr>, Box<Expr>),
    /// Either holds.
    Or(Box<Expr>, Box<Expr>),
    /// Does not hold (NULL stays NULL).
    Not(Box<Expr>),
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

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare identifier or keyword.
    Word(String),
    /// A double-quoted identifier (never a keyword).
    Quoted(String),
    Lit(Literal),
    LParen,
    RParen,
    Comma,
    Op(CmpOp),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based column in characters.
    pos: usize,
    /// The token's source text, for messages.
    text: String,
}

impl Token {
    fn describe(&self) -> String {
        match &self.tok {
            Tok::End => "the end of the filter".to_owned(),
            Tok::Word(w) if is_keyword(w) => format!("keyword `{}`", w.to_ascii_uppercase()),
            _ => format!("`{}`", self.text),
        }
    }

    fn is_keyword(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let len = chars.len();
    let at = |i: usize| chars.get(i).copied();
    let digit_at = |i: usize| at(i).is_some_and(|x| x.is_ascii_digit());
    let mut out = Vec::new();
    let mut i = 0;
    while i < len {
        let ch = chars[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match ch {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += if at(i + 1) == Some('=') { 2 } else { 1 };
                Tok::Op(CmpOp::Eq)
            }
            '!' if at(i + 1) == Some('=') => {
                i += 2;
                Tok::Op(CmpOp::Ne)
            }
            '<' => match at(i + 1) {
                Some('=') => {
                    i += 2;
                    Tok::Op(CmpOp::Le)
                }
                Some('>') => {
                    i += 2;
                    Tok::Op(CmpOp::Ne)
                }
                _ => {
                    i += 1;
                    Tok::Op(CmpOp::Lt)
                }
            },
            '>' => {
                if at(i + 1) == Some('=') {
                    i += 2;
                    Tok::Op(CmpOp::Ge)
                } else {
                    i += 1;
                    Tok::Op(CmpOp::Gt)
                }
            }
            '\'' | '"' => {
                let quote = ch;
                let mut s = String::new();
                i += 1;
                loop {
                    match at(i) {
                        None => {
                            let what = if quote == '\'' {
                                "string"
                            } else {
                                "quoted column name"
                            };
                            return Err(FilterError::at(
                                start + 1,
                                format!("unterminated {what}: add the closing {quote}"),
                            ));
                        }
                        Some(q) if q == quote => {
                            if at(i + 1) == Some(quote) {
                                s.push(quote);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(x) => {
                            s.push(x);
                            i += 1;
                        }
                    }
                }
                if quote == '\'' {
                    Tok::Lit(Literal::Str(s))
                } else {
                    Tok::Quoted(s)
                }
            }
            _ if digit_at(i)
                || (ch == '.' && digit_at(i + 1))
                || ((ch == '-' || ch == '+')
                    && (digit_at(i + 1) || (at(i + 1) == Some('.') && digit_at(i + 2)))) =>
            {
                if ch == '-' || ch == '+' {
                    i += 1;
                }
                while digit_at(i) {
                    i += 1;
                }
                let mut float = false;
                if at(i) == Some('.') {
                    float = true;
                    i += 1;
                    while digit_at(i) {
                        i += 1;
                    }
                }
                if matches!(at(i), Some('e' | 'E')) {
                    float = true;
                    i += 1;
                    if matches!(at(i), Some('+' | '-')) {
                        i += 1;
                    }
                    if !digit_at(i) {
                        let s: String = chars[start..=i.min(len - 1)].iter().collect();
                        return Err(FilterError::at(
                            start + 1,
                            format!("malformed number `{s}`: expected digits after the exponent"),
                        ));
                    }
                    while digit_at(i) {
                        i += 1;
                    }
                }
                if at(i).is_some_and(|x| is_ident_char(x) || x == '.') {
                    let mut j = i;
                    while at(j).is_some_and(is_ident_char) {
                        j += 1;
                    }
                    let s: String = chars[start..j].iter().collect();
                    return Err(FilterError::at(
                        start + 1,
                        format!("malformed number `{s}`"),
                    ));
                }
                let s: String = chars[start..i].iter().collect();
                if float {
                    match s.parse::<f64>() {
                        Ok(v) if v.is_finite() => Tok::Lit(Literal::Float(v)),
                        _ => {
                            return Err(FilterError::at(
                                start + 1,
                                format!("number `{s}` is out of range"),
                            ));
                        }
                    }
                } else {
                    match s.parse::<i64>() {
                        Ok(v) => Tok::Lit(Literal::Int(v)),
                        Err(_) => {
                            return Err(FilterError::at(
                                start + 1,
                                format!(
                                    "integer `{s}` does not fit in 64 bits; write it as a float (`{s}.0`) to compare approximately"
                                ),
                            ));
                        }
                    }
                }
            }
            _ if is_ident_start(ch) => {
                while at(i).is_some_and(is_ident_char) {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                if s.eq_ignore_ascii_case("true") {
                    Tok::Lit(Literal::Bool(true))
                } else if s.eq_ignore_ascii_case("false") {
                    Tok::Lit(Literal::Bool(false))
                } else {
                    Tok::Word(s)
                }
            }
            _ => {
                return Err(FilterError::at(
                    start + 1,
                    format!("unexpected character `{ch}`"),
                ));
            }
        };
        out.push(Token {
            tok,
            pos: start + 1,
            text: chars[start..i].iter().collect(),
        });
    }
    out.push(Token {
        tok: Tok::End,
        pos: len + 1,
        text: String::new(),
    });
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser {
    toks: Vec<Token>,
    i: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.i]
    }

    fn advance(&mut self) -> Token {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn enter(&mut self, pos: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::at(
                pos,
                format!("the filter nests parentheses and NOTs more than {MAX_DEPTH} deep"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut terms = vec![self.and()?];
        while self.peek().is_keyword("OR") {
            self.advance();
            terms.push(self.and()?);
        }
        Ok(balanced(terms, Expr::Or))
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut terms = vec![self.not()?];
        while self.peek().is_keyword("AND") {
            self.advance();
            terms.push(self.not()?);
        }
        Ok(balanced(terms, Expr::And))
    }

    fn not(&mut self) -> Result<Expr, FilterError> {
        let mut nots = 0;
        while self.peek().is_keyword("NOT") {
            let t = self.advance();
            self.enter(t.pos)?;
            nots += 1;
        }
        let mut e = self.primary()?;
        for _ in 0..nots {
            e = Expr::Not(Box::new(e));
        }
        self.depth -= nots;
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        let t = self.advance();
        let column = match t.tok {
            Tok::LParen => {
                self.enter(t.pos)?;
                let e = self.or()?;
                let close = self.advance();
                if close.tok != Tok::RParen {
                    return Err(FilterError::at(
                        close.pos,
                        format!(
                            "expected `)` to close the `(` at column {}, found {}",
                            t.pos,
                            close.describe()
                        ),
                    ));
                }
                self.depth -= 1;
                return Ok(e);
            }
            Tok::Word(ref w) if !is_keyword(w) => w.clone(),
            Tok::Quoted(ref w) => w.clone(),
            Tok::Word(ref w) => {
                return Err(FilterError::at(
                    t.pos,
                    format!(
                        "expected a column name or `(`, found {}; quote a column with that name: \"{w}\"",
                        t.describe()
                    ),
                ));
            }
            _ => {
                return Err(FilterError::at(
                    t.pos,
                    format!("expected a column name or `(`, found {}", t.describe()),
                ));
            }
        };
        let next = self.advance();
        match next.tok {
            Tok::Op(op) => {
                let value = self.literal(&format!("after `{}`", next.text))?;
                Ok(Expr::Cmp { column, op, value })
            }
            Tok::Word(ref w) if w.eq_ignore_ascii_case("IN") => self.in_list(column, false),
            Tok::Word(ref w) if w.eq_ignore_ascii_case("NOT") => {
                let in_kw = self.advance();
                if !in_kw.is_keyword("IN") {
                    return Err(FilterError::at(
                        in_kw.pos,
                        format!("expected IN after NOT, found {}", in_kw.describe()),
                    ));
                }
                self.in_list(column, true)
            }
            Tok::Word(ref w) if w.eq_ignore_ascii_case("IS") => {
                let mut t = self.advance();
                let negated = t.is_keyword("NOT");
                if negated {
                    t = self.advance();
                }
                if !t.is_keyword("NULL") {
                    let after = if negated { "IS NOT" } else { "IS" };
                    return Err(FilterError::at(
                        t.pos,
                        format!("expected NULL after {after}, found {}", t.describe()),
                    ));
                }
                Ok(Expr::IsNull { column, negated })
            }
            _ => Err(FilterError::at(
                next.pos,
                format!(
                    "expected a comparison (=, !=, <>, <, <=, >, >=), IN, NOT IN or IS after column `{column}`, found {}",
                    next.describe()
                ),
            )),
        }
    }

    fn in_list(&mut self, column: String, negated: bool) -> Result<Expr, FilterError> {
        let open = self.advance();
        if open.tok != Tok::LParen {
            return Err(FilterError::at(
                open.pos,
                format!("expected `(` after IN, found {}", open.describe()),
            ));
        }
        let mut values = vec![self.literal("in the IN list")?];
        loop {
            let t = self.advance();
            match t.tok {
                Tok::Comma => values.push(self.literal("after `,` in the IN list")?),
                Tok::RParen => break,
                _ => {
                    return Err(FilterError::at(
                        t.pos,
                        format!(
                            "expected `,` or `)` in the IN list opened at column {}, found {}",
                            open.pos,
                            t.describe()
                        ),
                    ));
                }
            }
        }
        Ok(Expr::In {
            column,
            values,
            negated,
        })
    }

    fn literal(&mut self, context: &str) -> Result<Literal, FilterError> {
        let t = self.advance();
        match t.tok {
            Tok::Lit(l) => Ok(l),
            _ if t.is_keyword("NULL") => Err(FilterError::at(
                t.pos,
                format!(
                    "expected a value {context}, found NULL; test for missing values with `column IS NULL`"
                ),
            )),
            _ => Err(FilterError::at(
                t.pos,
                format!("expected a value {context}, found {}", t.describe()),
            )),
        }
    }
}

/// Joins `terms` (non-empty) into a balanced tree, so long `OR`/`AND` chains stay shallow.
fn balanced(mut terms: Vec<Expr>, join: fn(Box<Expr>, Box<Expr>) -> Expr) -> Expr {
    if terms.len() == 1 {
        return terms.pop().expect("one term");
    }
    let right = terms.split_off(terms.len() / 2);
    join(
        Box::new(balanced(terms, join)),
        Box::new(balanced(right, join)),
    )
}

/// A column name as filter text: bare when it can be, else double-quoted.
fn quote_ident(name: &str) -> Cow<'_, str> {
    let bare = name.chars().next().is_some_and(is_ident_start)
        && name.chars().all(is_ident_char)
        && !is_keyword(name);
    if bare {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("\"{}\"", name.replace('"', "\"\"")))
    }
}

// ---------------------------------------------------------------------------------------------
// Types and literal conversion

fn cast_options() -> CastOptions<'static> {
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

fn is_integer(dt: &DataType) -> bool {
    dt.is_integer()
}

fn is_float(dt: &DataType) -> bool {
    dt.is_floating()
}

/// Whether `v` is a value of the integer type `dt`.
fn int_fits(v: i64, dt: &DataType) -> bool {
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
fn literal_array(lit: &Literal, target: &DataType) -> Result<ArrayRef, ArrowError> {
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

fn cast_error(
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

fn unknown_column(schema: &Schema, name: &str) -> FilterError {
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

// ---------------------------------------------------------------------------------------------
// Evaluation

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
    /// Parses filter text (see the module documentation for the grammar).
    pub fn parse(text: &str) -> Result<Expr, FilterError> {
        let toks = lex(text)?;
        let mut p = Parser {
            toks,
            i: 0,
            depth: 0,
        };
        let e = p.or()?;
        let t = p.peek();
        if t.tok != Tok::End {
            let msg = if t.tok == Tok::RParen {
                "unmatched `)`".to_owned()
            } else {
                format!(
                    "expected AND, OR or the end of the filter, found {}",
                    t.describe()
                )
            };
            return Err(FilterError::at(t.pos, msg));
        }
        // Display writes every AND/OR parenthesized, so a long chain inside deep parentheses
        // would print deeper than it was written; bounding the tree keeps every accepted filter
        // printable as text that parses back.
        if e.depth() > MAX_DEPTH {
            return Err(FilterError::at(
                1,
                format!(
                    "the filter nests parentheses, NOTs and AND/OR chains more than {MAX_DEPTH} deep"
                ),
            ));
        }
        Ok(e)
    }

    /// `AND`, `OR` and `NOT` nodes on the longest path from the root.
    fn depth(&self) -> usize {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => 1 + a.depth().max(b.depth()),
            Expr::Not(a) => 1 + a.depth(),
            Expr::Cmp { .. } | Expr::In { .. } | Expr::IsNull { .. } => 0,
        }
    }

    /// The columns the expression references.
    pub fn columns(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect_columns(&mut out);
        out
    }

    fn collect_columns(&self, out: &mut BTreeSet<String>) {
        match self {
            Expr::Cmp { column, .. } | Expr::In { column, .. } | Expr::IsNull { column, .. } => {
                out.insert(column.clone());
            }
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.collect_columns(out);
                b.collect_columns(out);
            }
            Expr::Not(a) => a.collect_columns(out),
        }
    }

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
            Expr::And(a, b) => Expr::And(Box::new(a.bind(schema)?), Box::new(b.bind(schema)?)),
            Expr::Or(a, b) => Expr::Or(Box::new(a.bind(schema)?), Box::new(b.bind(schema)?)),
            Expr::Not(a) => Expr::Not(Box::new(a.bind(schema)?)),
        })
    }

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
            Expr::And(a, b) => Ok(and_kleene(&a.eval3(batch)?, &b.eval3(batch)?)?),
            Expr::Or(a, b) => Ok(or_kleene(&a.eval3(batch)?, &b.eval3(batch)?)?),
            Expr::Not(a) => Ok(not(&a.eval3(batch)?)?),
        }
    }

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
        }
    }
}

impl FromStr for Expr {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Expr::parse(s)
    }
}

/// Writes the expression as filter text that [`Expr::parse`] reads back to an equal expression
/// (binary operators are fully parenthesized), except for non-finite floats (see
/// [`Literal`]'s `Display`) and empty `IN` lists, which have no syntax.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Cmp { column, op, value } => {
                write!(f, "{} {op} {value}", quote_ident(column))
            }
            Expr::In {
                column,
                values,
                negated,
            } => {
                write!(f, "{} ", quote_ident(column))?;
                if *negated {
                    f.write_str("NOT ")?;
                }
                f.write_str("IN (")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
            Expr::IsNull { column, negated } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{} IS {not}NULL", quote_ident(column))
            }
            Expr::And(a, b) => write!(f, "({a} AND {b})"),
            Expr::Or(a, b) => write!(f, "({a} OR {b})"),
            Expr::Not(a) => write!(f, "NOT {a}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pruning

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

    use arrow::array::{
        DictionaryArray, Float32Array, Int8Array, TimestampMicrosecondArray, UInt64Array,
    };
    use arrow::datatypes::{TimeUnit, UInt8Type};
    use proptest::prelude::*;

    fn p(s: &str) -> Expr {
        Expr::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn cmp(c: &str, op: CmpOp, v: Literal) -> Expr {
        Expr::Cmp {
            column: c.into(),
            op,
            value: v,
        }
    }

    fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Box::new(a), Box::new(b))
    }

    fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(Box::new(a), Box::new(b))
    }

    fn neg(a: Expr) -> Expr {
        Expr::Not(Box::new(a))
    }

    fn err(s: &str) -> String {
        match Expr::parse(s) {
            Ok(e) => panic!("{s:?} parsed as {e:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(cols).unwrap()
    }

    fn rows(e: &str, b: &RecordBatch) -> Vec<usize> {
        let m = p(e).evaluate(b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.null_count(), 0);
        (0..m.len()).filter(|&i| m.value(i)).collect()
    }

    #[test]
    fn parses_precedence_and_parentheses() {
        fn depth(e: &Expr) -> usize {
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => 1 + depth(a).max(depth(b)),
                Expr::Not(a) => 1 + depth(a),
                _ => 1,
            }
        }
        let (a, b, c) = (
            cmp("a", CmpOp::Eq, Literal::Int(1)),
            cmp("b", CmpOp::Eq, Literal::Int(2)),
            cmp("c", CmpOp::Eq, Literal::Int(3)),
        );
        assert_eq!(
            p("a = 1 OR b = 2 AND c = 3"),
            or(a.clone(), and(b.clone(), c.clone()))
        );
        assert_eq!(
            p("(a = 1 OR b = 2) AND c = 3"),
            and(or(a.clone(), b.clone()), c.clone())
        );
        assert_eq!(p("NOT a = 1 AND b = 2"), and(neg(a.clone()), b.clone()));
        assert_eq!(p("not not (a == 1)"), neg(neg(a.clone())));
        assert_eq!(
            p("a=1 and b=2 and c=3"),
            and(a.clone(), and(b.clone(), c.clone()))
        );
        assert_eq!(p("((((a = 1))))"), a);
        // Long chains are balanced, not a deep list.
        let long = vec!["x = 1"; 10_000].join(" OR ");
        assert!(depth(&p(&long)) <= 15);
    }

    /// Found by review while writing the fuzz targets (the `filter` target's round-trip check
    /// fails on it): a chain of ANDs inside 127 nested parentheses parsed, but its Display,
    /// which parenthesizes every AND, nested 129 deep and did not parse back.
    #[test]
    fn every_accepted_filter_prints_as_text_that_parses_back() {
        let nested = |levels: usize, chain: usize| {
            let inner = vec!["x = 1"; chain].join(" AND ");
            format!(
                "{}{inner}{}",
                "x = 1 OR (".repeat(levels),
                ")".repeat(levels)
            )
        };
        for (levels, chain) in [
            (126, 1),
            (126, 2),
            (126, 4),
            (127, 4),
            (128, 1),
            (60, 1 << 12),
        ] {
            let text = nested(levels, chain);
            if let Ok(e) = Expr::parse(&text) {
                let shown = e.to_string();
                assert_eq!(
                    Expr::parse(&shown).unwrap_or_else(|e| panic!("{levels}/{chain}: {e}")),
                    e
                );
            }
        }
        assert!(Expr::parse(&nested(126, 2)).is_ok());
        let err = Expr::parse(&nested(127, 4)).unwrap_err();
        assert!(err.message().contains("more than 128 deep"), "{err}");
    }

    #[test]
    fn parses_operators_and_literals() {
        for (text, op) in [
            ("=", CmpOp::Eq),
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<>", CmpOp::Ne),
            ("<", CmpOp::Lt),
            ("<=", CmpOp::Le),
            (">", CmpOp::Gt),
            (">=", CmpOp::Ge),
        ] {
            assert_eq!(p(&format!("x{text}5")), cmp("x", op, Literal::Int(5)));
        }
        for (text, lit) in [
            ("-7", Literal::Int(-7)),
            ("+7", Literal::Int(7)),
            ("1.5", Literal::Float(1.5)),
            ("-2e3", Literal::Float(-2000.0)),
            ("2E-2", Literal::Float(0.02)),
            (".5", Literal::Float(0.5)),
            ("-.5", Literal::Float(-0.5)),
            ("3.", Literal::Float(3.0)),
            ("-9223372036854775808", Literal::Int(i64::MIN)),
            ("'it''s'", Literal::Str("it's".into())),
            ("''", Literal::Str(String::new())),
            ("'ü ∑'", Literal::Str("ü ∑".into())),
            ("TRUE", Literal::Bool(true)),
            ("false", Literal::Bool(false)),
        ] {
            assert_eq!(
                p(&format!("x = {text}")),
                cmp("x", CmpOp::Eq, lit),
                "{text}"
            );
        }
        assert_eq!(p("a.b_c9 = 1"), cmp("a.b_c9", CmpOp::Eq, Literal::Int(1)));
        assert_eq!(
            p("\"my \"\"odd\"\" col\" >= 'x'"),
            cmp("my \"odd\" col", CmpOp::Ge, Literal::Str("x".into()))
        );
        assert_eq!(p("\"and\" = 1"), cmp("and", CmpOp::Eq, Literal::Int(1)));
    }

    #[test]
    fn parses_in_and_is_null() {
        assert_eq!(
            p("x IN (1, 'a', 2.5, true)"),
            Expr::In {
                column: "x".into(),
                values: vec![
                    Literal::Int(1),
                    Literal::Str("a".into()),
                    Literal::Float(2.5),
                    Literal::Bool(true)
                ],
                negated: false
            }
        );
        assert_eq!(
            p("x not in (1)"),
            Expr::In {
                column: "x".into(),
                values: vec![Literal::Int(1)],
                negated: true
            }
        );
        assert_eq!(
            p("NOT x IN (1)"),
            neg(Expr::In {
                column: "x".into(),
                values: vec![Literal::Int(1)],
                negated: false
            })
        );
        assert_eq!(
            p("x IS NULL"),
            Expr::IsNull {
                column: "x".into(),
                negated: false
            }
        );
        assert_eq!(
            p("x is Not null AND y Is Null"),
            and(
                Expr::IsNull {
                    column: "x".into(),
                    negated: true
                },
                Expr::IsNull {
                    column: "y".into(),
                    negated: false
                }
            )
        );
        assert_eq!(
            p("(a = 1 OR b IS NULL) AND c IN ('x') OR NOT d < 2").columns(),
            ["a", "b", "c", "d"].map(String::from).into()
        );
    }

    #[test]
    fn parse_errors_point_at_the_problem() {
        assert_eq!(
            err("score >= "),
            "at column 10: expected a value after `>=`, found the end of the filter"
        );
        assert_eq!(
            err("x >= )"),
            "at column 6: expected a value after `>=`, found `)`"
        );
        assert!(
            err("x = NULL").starts_with("at column 5: expected a value after `=`, found NULL; ")
        );
        assert_eq!(
            err("x = 1 AND"),
            "at column 10: expected a column name or `(`, found the end of the filter"
        );
        assert_eq!(
            err("x = 1 y = 2"),
            "at column 7: expected AND, OR or the end of the filter, found `y`"
        );
        assert_eq!(err("(x = 1))"), "at column 8: unmatched `)`");
        assert_eq!(
            err("(x = 1 OR y = 2"),
            "at column 16: expected `)` to close the `(` at column 1, found the end of the filter"
        );
        assert_eq!(
            err("x = 'abc"),
            "at column 5: unterminated string: add the closing '"
        );
        assert_eq!(
            err("\"abc = 1"),
            "at column 1: unterminated quoted column name: add the closing \""
        );
        assert_eq!(err("x = 1 # c"), "at column 7: unexpected character `#`");
        assert_eq!(err("x ! 1"), "at column 3: unexpected character `!`");
        assert_eq!(
            err("x IN 1"),
            "at column 6: expected `(` after IN, found `1`"
        );
        assert_eq!(
            err("x IN (1 2)"),
            "at column 9: expected `,` or `)` in the IN list opened at column 6, found `2`"
        );
        assert_eq!(
            err("x IN ()"),
            "at column 7: expected a value in the IN list, found `)`"
        );
        assert_eq!(
            err("x NOT 1"),
            "at column 7: expected IN after NOT, found `1`"
        );
        assert_eq!(
            err("x IS NOT 1"),
            "at column 10: expected NULL after IS NOT, found `1`"
        );
        assert_eq!(
            err("x LIKE 'a%'"),
            "at column 3: expected a comparison (=, !=, <>, <, <=, >, >=), IN, NOT IN or IS after column `x`, found `LIKE`"
        );
        assert!(
            err("in = 1").starts_with(
                "at column 1: expected a column name or `(`, found keyword `IN`; quote"
            )
        );
        assert_eq!(err("x = 12ab"), "at column 5: malformed number `12ab`");
        assert_eq!(
            err("x = 1e"),
            "at column 5: malformed number `1e`: expected digits after the exponent"
        );
        assert!(
            err("x = 99999999999999999999")
                .starts_with("at column 5: integer `99999999999999999999` does not fit")
        );
        assert_eq!(
            err("x = 1e999"),
            "at column 5: number `1e999` is out of range"
        );
        assert_eq!(
            err(""),
            "at column 1: expected a column name or `(`, found the end of the filter"
        );
        // Positions count characters, not bytes.
        assert_eq!(err("'é' = 1").split(':').next(), Some("at column 1"));
        assert_eq!(
            err("\"é\" = 1 AND ?"),
            "at column 13: unexpected character `?`"
        );
        let deep = format!("{}x = 1{}", "(".repeat(200), ")".repeat(200));
        assert!(err(&deep).contains("more than 128 deep"));
        let nots = format!("{}x = 1", "NOT ".repeat(200));
        assert!(err(&nots).contains("more than 128 deep"));
        let e = Expr::parse("x >").unwrap_err();
        assert_eq!(e.position(), Some(4));
        assert_eq!(
            e.message(),
            "expected a value after `>`, found the end of the filter"
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "x = 1",
            "\"a b\" != 'it''s' AND NOT (y < -2.5 OR z IS NOT NULL)",
            "x NOT IN (1, 2.0, 'a', false) OR \"in\" IS NULL",
            "NOT NOT x >= 1e300",
        ] {
            let e = p(s);
            assert_eq!(p(&e.to_string()), e, "{s} -> {e}");
        }
        assert_eq!(Literal::Float(f64::NAN).to_string(), "'NaN'");
    }

    fn sample() -> RecordBatch {
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

    fn arb_lit() -> impl Strategy<Value = Literal> {
        prop_oneof![
            4 => (-4i64..5).prop_map(Literal::Int),
            3 => (-9i32..10).prop_map(|k| Literal::Float(f64::from(k) / 2.0)),
            1 => Just(Literal::Float(f64::NAN)),
            1 => Just(Literal::Float(-0.0)),
        ]
    }

    fn arb_expr() -> impl Strategy<Value = Expr> {
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

    proptest! {
        #[test]
        fn display_parses_back(e in arb_expr()) {
            fn printable(e: &Expr) -> bool {
                match e {
                    Expr::Cmp { value, .. } => !matches!(value, Literal::Float(f) if f.is_nan()),
                    Expr::In { values, .. } => {
                        !values.is_empty()
                            && values.iter().all(|v| !matches!(v, Literal::Float(f) if f.is_nan()))
                    }
                    Expr::IsNull { .. } => true,
                    Expr::And(a, b) | Expr::Or(a, b) => printable(a) && printable(b),
                    Expr::Not(a) => printable(a),
                }
            }
            prop_assume!(printable(&e));
            let text = e.to_string();
            let back = Expr::parse(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err}")))?;
            prop_assert_eq!(back, e);
        }
    }
}
