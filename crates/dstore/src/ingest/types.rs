//! Which Arrow types a converted segment can hold so that a Parquet reader gives them back, and
//! the conversions (`--cast`) for the ones it cannot. `docs/inputs.md` has the table.
//!
//! Converted segments are written by arrow-rs's Parquet writer, which also stores the Arrow
//! schema (`ARROW:schema`). pyarrow (like the other Arrow-based readers) rebuilds a column's
//! type from the Parquet type and uses that schema only for what it knows how to restore: time
//! zones, durations, large offsets, dictionaries of strings and binaries, list variants,
//! extension types, field metadata. A type outside that set would come back as something
//! else — `date64` and `timestamp[s]` as `int64`, `time32[s]` as `int32`, a dictionary of
//! integers as its integers, intervals as `fixed_size_binary[12]` — so it is refused, with the
//! conversion that stores it exactly where there is one. Types arrow-rs cannot write to Parquet
//! at all (unions, and the layouts dstore's schema encoding does not hold: list views, run-end
//! encoding) are refused the same way.
//!
//! Type names are pyarrow's (`timestamp[ms, tz=UTC]`, `dictionary<values=string,
//! indices=int32>`), so a message's type can be pasted into `--cast`; [`parse_type`] reads
//! them back.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{
    DataType, Field, FieldRef, Fields, IntervalUnit, Schema, SchemaRef, TimeUnit,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Error, Result};

/// A requested conversion of one column: `COLUMN=TYPE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cast {
    /// The top-level column it applies to.
    pub column: String,
    /// The type to store it as.
    pub to: DataType,
}

impl std::str::FromStr for Cast {
    type Err = Error;

    /// `COLUMN=TYPE`, the type spelled as pyarrow prints it (see [`parse_type`]).
    fn from_str(s: &str) -> Result<Cast> {
        let (column, ty) = s.split_once('=').ok_or_else(|| {
            Error::invalid(format!("cast `{s}`: expected COLUMN=TYPE, e.g. `d=date32`"))
        })?;
        if column.is_empty() {
            return Err(Error::invalid(format!(
                "cast `{s}`: the column name is empty"
            )));
        }
        let to = parse_type(ty).map_err(|e| Error::invalid(format!("cast `{s}`: {e}")))?;
        Ok(Cast {
            column: column.to_owned(),
            to,
        })
    }
}

impl std::fmt::Display for Cast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.column, type_name(&self.to))
    }
}

fn unit(u: TimeUnit) -> &'static str {
    match u {
        TimeUnit::Second => "s",
        TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    }
}

/// A field inside a nested type: `name: TYPE`, with ` not null` when it is not nullable.
fn field_name(f: &Field) -> String {
    let nn = if f.is_nullable() { "" } else { " not null" };
    format!("{}: {}{nn}", f.name(), type_name(f.data_type()))
}

/// The name pyarrow gives `dt` (`str(pa_type)`), for messages and `--cast`.
pub fn type_name(dt: &DataType) -> String {
    use DataType as D;
    match dt {
        D::Null => "null".into(),
        D::Boolean => "bool".into(),
        D::Int8 => "int8".into(),
        D::Int16 => "int16".into(),
        D::Int32 => "int32".into(),
        D::Int64 => "int64".into(),
        D::UInt8 => "uint8".into(),
        D::UInt16 => "uint16".into(),
        D::UInt32 => "uint32".into(),
        D::UInt64 => "uint64".into(),
        D::Float16 => "halffloat".into(),
        D::Float32 => "float".into(),
        D::Float64 => "double".into(),
        D::Timestamp(u, None) => format!("timestamp[{}]", unit(*u)),
        D::Timestamp(u, Some(tz)) => format!("timestamp[{}, tz={tz}]", unit(*u)),
        D::Date32 => "date32[day]".into(),
        D::Date64 => "date64[ms]".into(),
        D::Time32(u) => format!("time32[{}]", unit(*u)),
        D::Time64(u) => format!("time64[{}]", unit(*u)),
        D::Duration(u) => format!("duration[{}]", unit(*u)),
        D::Interval(IntervalUnit::YearMonth) => "month_interval".into(),
        D::Interval(IntervalUnit::DayTime) => "day_time_interval".into(),
        D::Interval(IntervalUnit::MonthDayNano) => "month_day_nano_interval".into(),
        D::Binary => "binary".into(),
        D::LargeBinary => "large_binary".into(),
        D::BinaryView => "binary_view".into(),
        D::FixedSizeBinary(n) => format!("fixed_size_binary[{n}]"),
        D::Utf8 => "string".into(),
        D::LargeUtf8 => "large_string".into(),
        D::Utf8View => "string_view".into(),
        D::List(f) => format!("list<{}>", field_name(f)),
        D::LargeList(f) => format!("large_list<{}>", field_name(f)),
        D::ListView(f) => format!("list_view<{}>", field_name(f)),
        D::LargeListView(f) => format!("large_list_view<{}>", field_name(f)),
        D::FixedSizeList(f, n) => format!("fixed_size_list<{}>[{n}]", field_name(f)),
        D::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| field_name(f))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        D::Map(entries, sorted) => {
            let (k, v) = map_key_value(entries);
            let mut s = format!("map<{}, {}", type_name(k), type_name(v));
            if *sorted {
                s.push_str(", keys_sorted");
            }
            s.push('>');
            s
        }
        D::Dictionary(k, v) => {
            format!(
                "dictionary<values={}, indices={}>",
                type_name(v),
                type_name(k)
            )
        }
        D::Decimal32(p, s) => format!("decimal32({p}, {s})"),
        D::Decimal64(p, s) => format!("decimal64({p}, {s})"),
        D::Decimal128(p, s) => format!("decimal128({p}, {s})"),
        D::Decimal256(p, s) => format!("decimal256({p}, {s})"),
        D::RunEndEncoded(r, v) => format!(
            "run_end_encoded<run_ends: {}, values: {}>",
            type_name(r.data_type()),
            type_name(v.data_type())
        ),
        D::Union(fields, mode) => {
            let kind = match mode {
                arrow::datatypes::UnionMode::Sparse => "sparse_union",
                arrow::datatypes::UnionMode::Dense => "dense_union",
            };
            let mut s = format!("{kind}<");
            for (i, (id, f)) in fields.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                let _ = write!(s, "{}={id}", field_name(f));
            }
            s.push('>');
            s
        }
    }
}

/// The key and value types of a map's entries (a struct of two fields).
fn map_key_value(entries: &Field) -> (&DataType, &DataType) {
    match entries.data_type() {
        DataType::Struct(f) if f.len() == 2 => (f[0].data_type(), f[1].data_type()),
        other => (other, other),
    }
}

/// Reads a type name as [`type_name`] writes it (and pyarrow prints it). Nested field names
/// may not contain `,`, `:`, `<` or `>`. `date32`, `float32`, `float64`, `float16`, `utf8`,
/// `large_utf8` and `list<TYPE>` are accepted too.
pub fn parse_type(s: &str) -> std::result::Result<DataType, String> {
    let mut p = TypeParser { s, pos: 0 };
    let dt = p.ty()?;
    p.space();
    if p.pos != s.len() {
        return Err(format!(
            "unexpected `{}` after the type `{}`",
            &s[p.pos..],
            &s[..p.pos]
        ));
    }
    Ok(dt)
}

struct TypeParser<'a> {
    s: &'a str,
    pos: usize,
}

impl TypeParser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn space(&mut self) {
        while self.rest().starts_with(' ') {
            self.pos += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.space();
        if self.rest().starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &str) -> std::result::Result<(), String> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(format!("expected `{tok}` at `{}`", self.rest()))
        }
    }

    /// A run of characters other than the delimiters of the grammar.
    fn word(&mut self) -> &str {
        self.space();
        let start = self.pos;
        let len = self
            .rest()
            .find([',', ':', '<', '>', '[', ']', '(', ')', '=', ' '])
            .unwrap_or(self.rest().len());
        self.pos += len;
        &self.s[start..start + len]
    }

    fn number<T: std::str::FromStr>(&mut self) -> std::result::Result<T, String> {
        let w = self.word().to_owned();
        w.parse()
            .map_err(|_| format!("expected a number, found `{w}`"))
    }

    fn time_unit(&mut self) -> std::result::Result<TimeUnit, String> {
        Ok(match self.word() {
            "s" => TimeUnit::Second,
            "ms" => TimeUnit::Millisecond,
            "us" => TimeUnit::Microsecond,
            "ns" => TimeUnit::Nanosecond,
            other => return Err(format!("unknown time unit `{other}` (s, ms, us, ns)")),
        })
    }

    /// `[UNIT]`.
    fn bracket_unit(&mut self) -> std::result::Result<TimeUnit, String> {
        self.expect("[")?;
        let u = self.time_unit()?;
        self.expect("]")?;
        Ok(u)
    }

    /// `name: TYPE[ not null]`, or (`list<TYPE>`) a bare type named `item`.
    fn field(&mut self, allow_bare: bool) -> std::result::Result<Field, String> {
        let save = self.pos;
        let name = self.word().to_owned();
        let (name, dt) = if self.eat(":") {
            (name, self.ty()?)
        } else if allow_bare {
            self.pos = save;
            ("item".to_owned(), self.ty()?)
        } else {
            return Err(format!("expected `name: TYPE` at `{}`", &self.s[save..]));
        };
        let nullable = !self.eat("not null");
        Ok(Field::new(name, dt, nullable))
    }

    fn decimal(&mut self) -> std::result::Result<(u8, i8), String> {
        self.expect("(")?;
        let p = self.number()?;
        self.expect(",")?;
        let s = self.number()?;
        self.expect(")")?;
        Ok((p, s))
    }

    fn ty(&mut self) -> std::result::Result<DataType, String> {
        use DataType as D;
        let name = self.word().to_owned();
        Ok(match name.as_str() {
            "null" => D::Null,
            "bool" | "boolean" => D::Boolean,
            "int8" => D::Int8,
            "int16" => D::Int16,
            "int32" => D::Int32,
            "int64" => D::Int64,
            "uint8" => D::UInt8,
            "uint16" => D::UInt16,
            "uint32" => D::UInt32,
            "uint64" => D::UInt64,
            "halffloat" | "float16" => D::Float16,
            "float" | "float32" => D::Float32,
            "double" | "float64" => D::Float64,
            "string" | "utf8" => D::Utf8,
            "large_string" | "large_utf8" => D::LargeUtf8,
            "string_view" => D::Utf8View,
            "binary" => D::Binary,
            "large_binary" => D::LargeBinary,
            "binary_view" => D::BinaryView,
            "month_interval" => D::Interval(IntervalUnit::YearMonth),
            "day_time_interval" => D::Interval(IntervalUnit::DayTime),
            "month_day_nano_interval" => D::Interval(IntervalUnit::MonthDayNano),
            "date32" => {
                if self.eat("[") {
                    self.expect("day")?;
                    self.expect("]")?;
                }
                D::Date32
            }
            "date64" => {
                if self.eat("[") {
                    self.expect("ms")?;
                    self.expect("]")?;
                }
                D::Date64
            }
            "time32" => D::Time32(self.bracket_unit()?),
            "time64" => D::Time64(self.bracket_unit()?),
            "duration" => D::Duration(self.bracket_unit()?),
            "timestamp" => {
                self.expect("[")?;
                let u = self.time_unit()?;
                let tz = if self.eat(",") {
                    self.expect("tz")?;
                    self.expect("=")?;
                    self.space();
                    let len = self
                        .rest()
                        .find(']')
                        .ok_or("expected `]` after the time zone")?;
                    let tz = self.rest()[..len].trim().to_owned();
                    self.pos += len;
                    Some(tz.into())
                } else {
                    None
                };
                self.expect("]")?;
                D::Timestamp(u, tz)
            }
            "fixed_size_binary" => {
                self.expect("[")?;
                let n = self.number()?;
                self.expect("]")?;
                D::FixedSizeBinary(n)
            }
            "decimal32" | "decimal64" | "decimal128" | "decimal256" => {
                let (p, s) = self.decimal()?;
                match name.as_str() {
                    "decimal32" => D::Decimal32(p, s),
                    "decimal64" => D::Decimal64(p, s),
                    "decimal128" => D::Decimal128(p, s),
                    _ => D::Decimal256(p, s),
                }
            }
            "list" | "large_list" | "fixed_size_list" | "list_view" | "large_list_view" => {
                self.expect("<")?;
                let f = Arc::new(self.field(true)?);
                self.expect(">")?;
                match name.as_str() {
                    "list" => D::List(f),
                    "large_list" => D::LargeList(f),
                    "list_view" => D::ListView(f),
                    "large_list_view" => D::LargeListView(f),
                    _ => {
                        self.expect("[")?;
                        let n = self.number()?;
                        self.expect("]")?;
                        D::FixedSizeList(f, n)
                    }
                }
            }
            "struct" => {
                self.expect("<")?;
                let mut fields = Vec::new();
                if !self.eat(">") {
                    loop {
                        fields.push(self.field(false)?);
                        if self.eat(">") {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                D::Struct(Fields::from(fields))
            }
            "map" => {
                self.expect("<")?;
                let k = self.ty()?;
                self.expect(",")?;
                let v = self.ty()?;
                let sorted = self.eat(",") && {
                    self.expect("keys_sorted")?;
                    true
                };
                self.expect(">")?;
                let entries = Field::new(
                    "entries",
                    D::Struct(Fields::from(vec![
                        Field::new("key", k, false),
                        Field::new("value", v, true),
                    ])),
                    false,
                );
                D::Map(Arc::new(entries), sorted)
            }
            "dictionary" => {
                self.expect("<")?;
                self.expect("values")?;
                self.expect("=")?;
                let v = self.ty()?;
                self.expect(",")?;
                self.expect("indices")?;
                self.expect("=")?;
                let k = self.ty()?;
                if self.eat(",") {
                    // pyarrow prints `ordered=0`; an ordered dictionary is a field property
                    // dstore keeps from the input, not a type a cast could set.
                    self.expect("ordered")?;
                    self.expect("=")?;
                    self.expect("0")?;
                }
                self.expect(">")?;
                if !k.is_dictionary_key_type() {
                    return Err(format!(
                        "dictionary indices must be an integer type, not {}",
                        type_name(&k)
                    ));
                }
                D::Dictionary(Box::new(k), Box::new(v))
            }
            "" => return Err(format!("expected a type at `{}`", self.rest())),
            other => return Err(format!("unknown type `{other}`")),
        })
    }
}

/// Why a type cannot be stored, and the conversion that would store it, if any.
struct Refusal {
    /// What a reader would do with it, or why it cannot be written.
    why: String,
    /// The type to `--cast` the column to (a type of the whole top-level column).
    cast_to: Option<DataType>,
    /// Advice about the data, for the message's hint.
    advice: String,
}

/// The refusal for a type (not looking inside nested types), if it is refused.
fn refuse(dt: &DataType) -> Option<Refusal> {
    use DataType as D;
    let lost = |back: &str| format!("Parquet has no such type: readers get it back as {back}");
    Some(match dt {
        D::Date64 => Refusal {
            why: lost("int64"),
            cast_to: Some(D::Date32),
            advice: "store it as date32 (exact when every value is a whole day, as the Arrow \
                     format asks of date64), or as timestamp[ms]"
                .into(),
        },
        D::Time32(TimeUnit::Second) => Refusal {
            why: lost("int32"),
            cast_to: Some(D::Time32(TimeUnit::Millisecond)),
            advice: "store it as time32[ms], which holds every value exactly".into(),
        },
        D::Timestamp(TimeUnit::Second, tz) => {
            let to = D::Timestamp(TimeUnit::Millisecond, tz.clone());
            Refusal {
                why: lost("int64"),
                advice: format!(
                    "store it as {}, which holds every value exactly (as pyarrow does when it \
                     writes Parquet)",
                    type_name(&to)
                ),
                cast_to: Some(to),
            }
        }
        D::Interval(u) => Refusal {
            why: lost("fixed_size_binary[12]"),
            cast_to: (*u == IntervalUnit::MonthDayNano)
                .then_some(D::Duration(TimeUnit::Nanosecond)),
            advice: "Parquet readers have no interval type: store it as a duration (exact when \
                     no value has months or days), or as separate integer columns"
                .into(),
        },
        D::Dictionary(k, v) if !matches!(**v, D::Utf8 | D::Binary) => {
            let back = parquet_value_type(v);
            if back == **v {
                Refusal {
                    why: format!(
                        "readers rebuild dictionaries of string and binary only, and would give \
                         back plain {}",
                        type_name(v)
                    ),
                    cast_to: Some((**v).clone()),
                    advice: format!("store its values, {}, without the dictionary", type_name(v)),
                }
            } else {
                // Large or view values (pandas writes categoricals of strings as
                // dictionary<values=large_string>): the dictionary comes back, its values as
                // string or binary.
                let to = D::Dictionary(k.clone(), Box::new(back.clone()));
                Refusal {
                    why: format!(
                        "readers give dictionaries back with {} values",
                        type_name(&back)
                    ),
                    advice: format!(
                        "store it as {} (pandas reads it back as the same categorical)",
                        type_name(&to)
                    ),
                    cast_to: Some(to),
                }
            }
        }
        D::ListView(f) | D::LargeListView(f) => {
            let to = if matches!(dt, D::ListView(_)) {
                D::List(f.clone())
            } else {
                D::LargeList(f.clone())
            };
            Refusal {
                why: "Parquet has no list views: they are stored as lists".into(),
                advice: format!("store it as {}, the same values", type_name(&to)),
                cast_to: Some(to),
            }
        }
        D::RunEndEncoded(_, v) => Refusal {
            why: "Parquet has no run-end encoding: readers get the values back decoded".into(),
            cast_to: Some(v.data_type().clone()),
            advice: format!(
                "store its values, {}, without the run-end encoding",
                type_name(v.data_type())
            ),
        },
        D::Union(..) => Refusal {
            why: "Parquet has no union type".into(),
            cast_to: None,
            advice: "split it at its source into one column per member type (or a struct of \
                     them), or leave it out"
                .into(),
        },
        D::Map(entries, _) if entries_key_nullable(entries) => {
            let (k, _) = map_key_value(entries);
            let to = DataType::Map(
                Arc::new(Field::new(
                    entries.name(),
                    D::Struct(Fields::from(vec![
                        Field::new(key_name(entries), k.clone(), false),
                        value_field(entries),
                    ])),
                    false,
                )),
                matches!(dt, D::Map(_, true)),
            );
            Refusal {
                why: "its keys are declared nullable, and Parquet readers refuse maps whose keys \
                      may be null"
                    .into(),
                advice: "declare the keys non-nullable (map keys cannot be null)".into(),
                cast_to: Some(to),
            }
        }
        _ => return None,
    })
}

fn entries_key_nullable(entries: &Field) -> bool {
    matches!(entries.data_type(), DataType::Struct(f) if f.first().is_some_and(|k| k.is_nullable()))
}

fn key_name(entries: &Field) -> String {
    match entries.data_type() {
        DataType::Struct(f) if !f.is_empty() => f[0].name().clone(),
        _ => "key".into(),
    }
}

fn value_field(entries: &Field) -> Field {
    match entries.data_type() {
        DataType::Struct(f) if f.len() == 2 => f[1].as_ref().clone(),
        other => Field::new("value", other.clone(), true),
    }
}

/// The type Parquet stores a dictionary's values as (what a reader gives back).
fn parquet_value_type(v: &DataType) -> DataType {
    match v {
        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
        other => other.clone(),
    }
}

/// The children of a nested type, as fields, with the name each has in a column path.
fn children(dt: &DataType) -> Vec<FieldRef> {
    use DataType as D;
    match dt {
        D::List(f)
        | D::LargeList(f)
        | D::ListView(f)
        | D::LargeListView(f)
        | D::FixedSizeList(f, _)
        | D::Map(f, _) => vec![f.clone()],
        D::Struct(fields) => fields.iter().cloned().collect(),
        D::Dictionary(_, v) => vec![Arc::new(Field::new("values", (**v).clone(), true))],
        D::RunEndEncoded(_, v) => vec![v.clone()],
        D::Union(fields, _) => fields.iter().map(|(_, f)| f.clone()).collect(),
        _ => Vec::new(),
    }
}

/// The first type inside `dt` (itself included) that is refused, with its path below `dt`.
fn first_refused(dt: &DataType, path: &str) -> Option<(String, DataType, Refusal)> {
    if let Some(r) = refuse(dt) {
        return Some((path.to_owned(), dt.clone(), r));
    }
    for c in children(dt) {
        let p = format!("{path}.{}", c.name());
        if let Some(found) = first_refused(c.data_type(), &p) {
            return Some(found);
        }
    }
    None
}

/// A column refused by [`check_storable`], for [`Error::UnstorableType`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unstorable {
    /// The top-level column.
    pub column: String,
    /// Its type, as pyarrow names it (and, for a nested type, the part that is refused).
    pub data_type: String,
    /// What a reader would make of it, or why it cannot be written.
    pub detail: String,
    /// What to store instead, in terms of the data.
    pub advice: String,
    /// The conversion that stores the column exactly, when there is one.
    pub cast_to: Option<Cast>,
}

/// The message of [`Error::UnstorableType`]: one line per column.
pub(crate) fn describe(columns: &[Unstorable]) -> String {
    let line = |u: &Unstorable| format!("column `{}` is {}: {}", u.column, u.data_type, u.detail);
    match columns {
        [one] => line(one),
        many => format!(
            "{} columns have types that Parquet readers would not give back as they are:\n  {}",
            many.len(),
            many.iter().map(line).collect::<Vec<_>>().join("\n  ")
        ),
    }
}

/// Refuses a schema a converted segment cannot hold so that Parquet readers give it back as it
/// is (see the module doc). The error names every such column, its type, and the conversion
/// to apply.
pub(crate) fn check_storable(schema: &Schema, path: &Path) -> Result<()> {
    let mut columns = Vec::new();
    for f in schema.fields() {
        let Some((at, inner, r)) = first_refused(f.data_type(), f.name()) else {
            continue;
        };
        let nested = at != *f.name();
        // A cast applies to a top-level column: for a nested type, the column's whole type
        // with the inner one replaced.
        let cast_to = r.cast_to.as_ref().and_then(|to| {
            if nested {
                replace_inner(f.data_type(), &inner, to)
            } else {
                Some(to.clone())
            }
        });
        let data_type = if nested {
            format!(
                "{} (`{at}` is {})",
                type_name(f.data_type()),
                type_name(&inner)
            )
        } else {
            type_name(&inner)
        };
        columns.push(Unstorable {
            column: f.name().clone(),
            data_type,
            detail: r.why,
            advice: r.advice,
            cast_to: cast_to.map(|t| Cast {
                column: f.name().clone(),
                to: t,
            }),
        });
    }
    if columns.is_empty() {
        return Ok(());
    }
    let advice = match columns.as_slice() {
        [one] => one.advice.clone(),
        many => many
            .iter()
            .map(|u| format!("`{}`: {}", u.column, u.advice))
            .collect::<Vec<_>>()
            .join("; "),
    };
    Err(Error::UnstorableType {
        path: path.to_owned(),
        columns,
        advice,
    })
}

/// `dt` with every occurrence of `from` replaced by `to`, if that changes anything.
fn replace_inner(dt: &DataType, from: &DataType, to: &DataType) -> Option<DataType> {
    fn go(dt: &DataType, from: &DataType, to: &DataType) -> DataType {
        use DataType as D;
        if dt == from {
            return to.clone();
        }
        let f = |f: &FieldRef| -> FieldRef {
            Arc::new(
                f.as_ref()
                    .clone()
                    .with_data_type(go(f.data_type(), from, to)),
            )
        };
        match dt {
            D::List(c) => D::List(f(c)),
            D::LargeList(c) => D::LargeList(f(c)),
            D::ListView(c) => D::ListView(f(c)),
            D::LargeListView(c) => D::LargeListView(f(c)),
            D::FixedSizeList(c, n) => D::FixedSizeList(f(c), *n),
            D::Map(c, s) => D::Map(f(c), *s),
            D::Struct(cs) => D::Struct(cs.iter().map(f).collect()),
            D::Dictionary(k, v) => D::Dictionary(k.clone(), Box::new(go(v, from, to))),
            other => other.clone(),
        }
    }
    let out = go(dt, from, to);
    (out != *dt).then_some(out)
}

/// The input schema with the casts that name its columns applied.
pub(crate) fn cast_schema(schema: &SchemaRef, casts: &[Cast]) -> SchemaRef {
    if !casts
        .iter()
        .any(|c| schema.field_with_name(&c.column).is_ok())
    {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match casts.iter().find(|c| c.column == *f.name()) {
            Some(c) => f.as_ref().clone().with_data_type(c.to.clone()),
            None => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` with the casts applied; each must be exact: converted back, every value is what it
/// was (or the column's layout-free form is, for dictionaries, run-end encoding and list
/// views). An inexact value is refused, naming its row (counted from `first_row`).
pub(crate) fn apply_casts(
    batch: &RecordBatch,
    target: &SchemaRef,
    casts: &[Cast],
    path: &Path,
    first_row: u64,
) -> Result<RecordBatch> {
    if casts.is_empty() {
        return Ok(batch.clone());
    }
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let mut cols = batch.columns().to_vec();
    for (i, f) in batch.schema().fields().iter().enumerate() {
        let Some(c) = casts.iter().find(|c| c.column == *f.name()) else {
            continue;
        };
        if f.data_type() == &c.to {
            continue;
        }
        let fail = |detail: String| Error::InvalidInput {
            path: Some(path.to_owned()),
            detail: format!(
                "column `{}`: cannot store {} as {}: {detail}",
                f.name(),
                type_name(f.data_type()),
                type_name(&c.to)
            ),
            hint: None,
        };
        let converted =
            cast_with_options(&cols[i], &c.to, &strict).map_err(|e| fail(e.to_string()))?;
        let plain = plain_type(f.data_type());
        let before =
            cast_with_options(&cols[i], &plain, &strict).map_err(|e| fail(e.to_string()))?;
        let back = cast_with_options(&converted, &plain, &strict)
            .map_err(|e| fail(format!("it does not convert back: {e}")))?;
        if before.to_data() != back.to_data() {
            let row = first_difference(&before, &back);
            return Err(fail(format!(
                "row {} holds {}, which would become {}",
                first_row + row as u64,
                show(&cols[i], row),
                show(&converted, row)
            )));
        }
        cols[i] = converted;
    }
    RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(
            batch
                .schema()
                .fields()
                .iter()
                .map(|f| {
                    target
                        .field_with_name(f.name())
                        .map_or_else(|_| f.as_ref().clone(), Clone::clone)
                })
                .collect::<Vec<_>>(),
            batch.schema().metadata().clone(),
        )),
        cols,
    )
    .map_err(|e| Error::internal("assembling a cast batch", e))
}

/// The type of a column's values without its layout: a dictionary's values, a run-end
/// encoding's values, a list view's list.
fn plain_type(dt: &DataType) -> DataType {
    match dt {
        DataType::Dictionary(_, v) => plain_type(v),
        DataType::RunEndEncoded(_, v) => plain_type(v.data_type()),
        DataType::ListView(f) => DataType::List(f.clone()),
        DataType::LargeListView(f) => DataType::LargeList(f.clone()),
        other => other.clone(),
    }
}

fn first_difference(a: &ArrayRef, b: &ArrayRef) -> usize {
    (0..a.len())
        .find(|&i| a.slice(i, 1).to_data() != b.slice(i, 1).to_data())
        .unwrap_or(0)
}

fn show(a: &ArrayRef, row: usize) -> String {
    let opts = FormatOptions::default().with_null("null");
    ArrayFormatter::try_new(a.as_ref(), &opts)
        .map_or_else(|_| "?".to_owned(), |f| f.value(row).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_read_back() {
        let names = [
            "null",
            "bool",
            "int8",
            "uint64",
            "halffloat",
            "double",
            "string",
            "large_binary",
            "string_view",
            "fixed_size_binary[3]",
            "date32[day]",
            "date64[ms]",
            "time32[s]",
            "time64[ns]",
            "timestamp[ms]",
            "timestamp[s, tz=America/New_York]",
            "timestamp[us, tz=+01:00]",
            "duration[us]",
            "month_day_nano_interval",
            "decimal128(38, -2)",
            "decimal32(5, 2)",
            "list<item: int32>",
            "list<x: int32 not null>",
            "large_list<item: list<item: string>>",
            "fixed_size_list<item: float>[4]",
            "list_view<item: int32>",
            "struct<a: int64, b: string not null>",
            "struct<>",
            "map<string, int32>",
            "map<string, list<item: int8>, keys_sorted>",
            "dictionary<values=string, indices=int8>",
        ];
        for n in names {
            let t = parse_type(n).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(type_name(&t), n);
        }
        assert_eq!(parse_type("date32").unwrap(), DataType::Date32);
        assert_eq!(
            parse_type("list<int64>").unwrap(),
            parse_type("list<item: int64>").unwrap()
        );
        assert_eq!(
            parse_type("timestamp[ms,tz=UTC]").unwrap(),
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
        for bad in [
            "",
            "int",
            "timestamp[h]",
            "list<int8",
            "dictionary<values=string, indices=string>",
            "int8 junk",
            "decimal128(5)",
        ] {
            assert!(parse_type(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refusals_name_the_column_and_the_cast() {
        let schema = Schema::new(vec![
            Field::new("ok", DataType::Int64, true),
            Field::new(
                "l",
                DataType::List(Arc::new(Field::new("item", DataType::Date64, true))),
                true,
            ),
        ]);
        let e = check_storable(&schema, Path::new("in.arrow")).unwrap_err();
        let Error::UnstorableType { columns, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(columns.len(), 1);
        assert_eq!(columns[0].column, "l");
        let cast = columns[0].cast_to.as_ref().unwrap();
        assert_eq!(cast.to_string(), "l=list<item: date32[day]>");
        assert_eq!(cast.to_string().parse::<Cast>().unwrap(), *cast);
        assert!(e.to_string().contains("`l.item` is date64[ms]"), "{e}");
        let two = Schema::new(vec![
            Field::new("a", DataType::Time32(TimeUnit::Second), true),
            Field::new(
                "u",
                DataType::Union(
                    arrow::datatypes::UnionFields::try_new(
                        vec![0],
                        vec![Field::new("x", DataType::Int8, true)],
                    )
                    .unwrap(),
                    arrow::datatypes::UnionMode::Sparse,
                ),
                true,
            ),
        ]);
        let e = check_storable(&two, Path::new("in.arrow")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("in.arrow: 2 columns have types"), "{msg}");
        assert!(
            msg.contains("\n  column `a` is time32[s]")
                && msg.contains("\n  column `u` is sparse_union<x: int8=0>"),
            "{msg}"
        );
        assert!(
            e.hint().unwrap().starts_with("`a`: store it as time32[ms]"),
            "{e:?}"
        );
        let ok = Schema::new(vec![Field::new(
            "d",
            DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8)),
            true,
        )]);
        check_storable(&ok, Path::new("in.arrow")).unwrap();
    }

    #[test]
    fn casts_are_exact_or_refused() {
        use arrow::array::Date64Array;
        let day = 86_400_000;
        let schema = Arc::new(Schema::new(vec![Field::new("d", DataType::Date64, true)]));
        let casts = vec!["d=date32".parse::<Cast>().unwrap()];
        let target = cast_schema(&schema, &casts);
        let whole = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Date64Array::from(vec![
                Some(0),
                None,
                Some(-3 * day),
            ]))],
        )
        .unwrap();
        let out = apply_casts(&whole, &target, &casts, Path::new("x"), 0).unwrap();
        assert_eq!(out.schema(), target);
        assert_eq!(out.column(0).null_count(), 1);
        let partial = RecordBatch::try_new(
            schema,
            vec![Arc::new(Date64Array::from(vec![Some(day), Some(day + 1)]))],
        )
        .unwrap();
        let e = apply_casts(&partial, &target, &casts, Path::new("x"), 10).unwrap_err();
        assert!(e.to_string().contains("row 11 holds"), "{e}");
    }
}
