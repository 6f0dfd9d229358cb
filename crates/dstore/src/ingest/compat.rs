//! Parquet schemas that the readers training jobs use would refuse.
//!
//! An adopted Parquet file is kept byte for byte, so whatever a reader makes of the input it
//! makes of the checkout. A file arrow-rs reads but pyarrow (Arrow C++, under pandas, polars'
//! pyarrow path, Ray, Hugging Face datasets) refuses would be a snapshot no job can train on;
//! such files are refused at ingest (unless validation is off), with `--rewrite` as the way in:
//! dstore's writer emits the standard layout.
//!
//! The rules are Arrow C++'s (`parquet/arrow/schema.cc`, `ListToSchemaField` and
//! `MapToSchemaField`), checked on the same nodes it checks them on, with its messages: a
//! group annotated LIST or MAP is examined wherever the schema conversion meets one (as a
//! column, a struct field, a list element, a map key or value).

use parquet::basic::{ConvertedType, LogicalType, Repetition};
use parquet::schema::types::Type;

/// A node that Arrow C++ refuses: its column path and Arrow C++'s message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) column: String,
    pub(crate) problem: &'static str,
}

/// The first node under the schema root `root` that Arrow C++ refuses, if any.
pub(crate) fn refused_by_arrow_cpp(root: &Type) -> Option<Refused> {
    root.get_fields().iter().find_map(|f| visit(f, f.name()))
}

fn is_list(t: &Type) -> bool {
    matches!(
        t.get_basic_info().logical_type_ref(),
        Some(LogicalType::List)
    ) || t.get_basic_info().converted_type() == ConvertedType::LIST
}

fn is_map(t: &Type) -> bool {
    matches!(
        t.get_basic_info().logical_type_ref(),
        Some(LogicalType::Map)
    ) || t.get_basic_info().converted_type() == ConvertedType::MAP
}

fn repetition(t: &Type) -> Option<Repetition> {
    let info = t.get_basic_info();
    info.has_repetition().then(|| info.repetition())
}

// `Option` for the callers, each of which returns it as its verdict.
#[allow(clippy::unnecessary_wraps)]
fn refuse(column: &str, problem: &'static str) -> Option<Refused> {
    Some(Refused {
        column: column.to_owned(),
        problem,
    })
}

fn visit(t: &Type, path: &str) -> Option<Refused> {
    if !t.is_group() {
        return None;
    }
    let fields = t.get_fields();
    let child = |c: &Type| visit(c, &format!("{path}.{}", c.name()));
    if is_list(t) {
        if fields.len() != 1 {
            return refuse(path, "LIST-annotated groups must have a single child.");
        }
        if repetition(t) == Some(Repetition::REPEATED) {
            return refuse(path, "LIST-annotated groups must not be repeated.");
        }
        let list = &fields[0];
        if repetition(list) != Some(Repetition::REPEATED) {
            return refuse(
                path,
                "Non-repeated nodes in a LIST-annotated group are not supported.",
            );
        }
        if !list.is_group() {
            return None;
        }
        let items = list.get_fields();
        // One child, not named as a list of structs: the child is the element.
        let struct_name = list.name() == "array" || list.name().ends_with("_tuple");
        return if items.len() == 1 && !struct_name {
            child(&items[0])
        } else {
            items.iter().find_map(|c| child(c))
        };
    }
    if is_map(t) {
        if fields.len() != 1 {
            return refuse(path, "MAP-annotated groups must have a single child.");
        }
        if repetition(t) == Some(Repetition::REPEATED) {
            return refuse(path, "MAP-annotated groups must not be repeated.");
        }
        let kv = &fields[0];
        if repetition(kv) != Some(Repetition::REPEATED) {
            return refuse(
                path,
                "Non-repeated key value in a MAP-annotated group are not supported.",
            );
        }
        if !kv.is_group() {
            return refuse(path, "Key-value node must be a group.");
        }
        let kv_fields = kv.get_fields();
        if kv_fields.is_empty() || kv_fields.len() > 2 {
            return refuse(path, "Key-value map node must have 1 or 2 child elements.");
        }
        if repetition(&kv_fields[0]) != Some(Repetition::REQUIRED) {
            return refuse(path, "Map keys must be annotated as required.");
        }
        return kv_fields.iter().find_map(|c| child(c));
    }
    fields.iter().find_map(|c| child(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::schema::parser::parse_message_type;

    fn check(schema: &str) -> Option<Refused> {
        refused_by_arrow_cpp(&parse_message_type(schema).unwrap())
    }

    #[test]
    fn standard_layouts_pass() {
        let ok = "message m {
            optional group l (LIST) { repeated group list { optional int32 element; } }
            optional group legacy (LIST) { repeated int32 element; }
            required group m (MAP) { repeated group key_value {
                required binary key (UTF8); optional int32 value; } }
            optional group s { optional group inner (LIST) { repeated group array {
                optional int32 a; } } }
            repeated int32 bare;
        }";
        assert_eq!(check(ok), None);
    }

    #[test]
    fn arrow_cpp_refusals_are_found_where_it_looks() {
        let optional_key = "message m { optional group s { optional group my_map (MAP) {
            repeated group key_value { optional binary key (UTF8); optional binary value (UTF8); }
        } } }";
        assert_eq!(
            check(optional_key),
            Some(Refused {
                column: "s.my_map".into(),
                problem: "Map keys must be annotated as required."
            })
        );
        let in_list = "message m { optional group l (LIST) { repeated group list {
            optional group element (MAP) { repeated group kv { optional int32 key; } } } } }";
        assert_eq!(check(in_list).unwrap().column, "l.element");
        let two_children = "message m { optional group l (LIST) {
            repeated int32 a; repeated int32 b; } }";
        assert_eq!(
            check(two_children).unwrap().problem,
            "LIST-annotated groups must have a single child."
        );
        let not_repeated = "message m { optional group l (LIST) { optional int32 a; } }";
        assert!(
            check(not_repeated)
                .unwrap()
                .problem
                .starts_with("Non-repeated nodes")
        );
    }
}
