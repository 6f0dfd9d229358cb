//! Runs every committed fuzz input of the format targets (the seed corpus in `fuzz/corpus/` and
//! the inputs that once found a bug, in `fuzz/regressions/`) through the same checks the fuzz
//! targets make, so the stable test suite exercises them without cargo-fuzz.

use std::path::{Path, PathBuf};

// `pub` there for the fuzz crate; here a private module.
#[allow(unreachable_pub)]
#[path = "../../../fuzz/src/format_checks.rs"]
mod format_checks;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The committed inputs of one target, with their paths.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            out.push((path, bytes));
        }
    }
    out.sort();
    out
}

fn run(target: &str, check: fn(&[u8]), min_seeds: usize) {
    let inputs = inputs(target);
    assert!(
        inputs.len() >= min_seeds,
        "expected at least {min_seeds} committed inputs for {target}, found {}",
        inputs.len()
    );
    for (path, bytes) in &inputs {
        if let Err(e) = std::panic::catch_unwind(|| check(bytes)) {
            std::panic::resume_unwind(Box::new(format!("{}: {e:?}", path.display())));
        }
    }
}

#[test]
fn manifest_corpus() {
    run("manifest", format_checks::manifest_or_page, 4);
    // The golden manifests and pages decode: the seeds reach the round-trip checks.
    let seeds = fuzz_dir().join("corpus/manifest");
    for (path, bytes) in inputs("manifest") {
        if path.starts_with(&seeds) {
            let name = path.file_name().unwrap().to_str().unwrap();
            if name.starts_with("seglist") {
                dstore_format::SegmentList::decode(&bytes).unwrap();
            } else {
                dstore_format::Manifest::decode(&bytes).unwrap();
            }
        }
    }
}

#[test]
fn record_corpus() {
    run("record", format_checks::record, 3);
}

#[test]
fn marker_corpus() {
    run("marker", format_checks::marker, 1);
}

#[test]
fn schema_corpus() {
    run("schema", format_checks::schema, 3);
}

#[test]
fn refs_corpus() {
    run("refs", format_checks::refs, 5);
}

/// Writes the schema seeds, which no store file holds on their own. Run with
/// `cargo test -p dstore-format --test fuzz_corpus -- --ignored` after changing them.
#[test]
#[ignore = "writes fuzz/corpus/schema"]
fn write_schema_seeds() {
    use std::sync::Arc;

    use arrow_schema::{DataType, Field, IntervalUnit, Schema, TimeUnit};
    use dstore_format::schema::schema_bytes;

    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let seeds = [
        (
            "int64",
            Schema::new(vec![Field::new("x", DataType::Int64, true)]),
        ),
        (
            "nested",
            Schema::new(vec![
                Field::new(
                    "ts",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                ),
                Field::new("d", DataType::Decimal128(38, -2), false),
                Field::new("emb", DataType::FixedSizeList(item.clone(), 32), true),
                Field::new("l", DataType::LargeList(item), true),
                Field::new(
                    "s",
                    DataType::Struct(vec![Field::new("a", DataType::Utf8View, true)].into()),
                    true,
                ),
                Field::new_dictionary("cat", DataType::Int32, DataType::Utf8, true),
            ]),
        ),
        (
            "metadata",
            Schema::new(vec![
                Field::new("i", DataType::Interval(IntervalUnit::MonthDayNano), true)
                    .with_metadata([("k", "v")]),
                Field::new(
                    "m",
                    DataType::Map(
                        Arc::new(Field::new(
                            "entries",
                            DataType::Struct(
                                vec![
                                    Field::new("key", DataType::Utf8, false),
                                    Field::new("value", DataType::Binary, true),
                                ]
                                .into(),
                            ),
                            false,
                        )),
                        true,
                    ),
                    true,
                ),
            ])
            .with_metadata([("a", "1")]),
        ),
    ];
    let dir = fuzz_dir().join("corpus/schema");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, schema) in seeds {
        std::fs::write(dir.join(name), schema_bytes(&schema).unwrap()).unwrap();
    }
}
