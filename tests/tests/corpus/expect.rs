//! `fixtures/corpus/expect.toml`: what each input's outcome must be, and that the entries cover
//! the corpus.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dstore_e2e::repo_root;
use serde::Deserialize;

/// Files of the corpus directory that are not inputs.
const NOT_INPUTS: [&str; 5] = [
    "make.py",
    "requirements.txt",
    "expect.toml",
    "README.md",
    "LICENSE.txt",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectFile {
    pub(crate) defaults: Defaults,
    pub(crate) inputs: BTreeMap<String, Expect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Defaults {
    pub(crate) rerun: Rerun,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    Roundtrip,
    Differs,
    Refused,
}

/// What the second, identical `dstore snapshot` does.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Rerun {
    /// Exit 0, the table as it was.
    Unchanged,
    /// Exit 1, the store byte for byte as it was, the message naming the input.
    Refused,
    /// Exit 0, the table changed: it holds the input twice.
    Duplicated,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expect {
    pub(crate) outcome: Outcome,
    /// `refused`: a short label for the summary.
    #[serde(default)]
    pub(crate) reason: Option<String>,
    /// `refused`: substrings the error must contain.
    #[serde(default)]
    pub(crate) message: Vec<String>,
    /// `differs`: exactly the differences the checker must find.
    #[serde(default)]
    pub(crate) differences: Differences,
    /// The re-run's outcome, if not `defaults.rerun`.
    #[serde(default)]
    pub(crate) rerun: Option<Rerun>,
}

/// The kinds of difference `corpus_check.py` names (its doc says what each means).
#[derive(Deserialize, Default, PartialEq, Eq, Debug, Clone)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Differences {
    pub(crate) missing_columns: BTreeSet<String>,
    pub(crate) extra_columns: BTreeSet<String>,
    pub(crate) column_order: bool,
    pub(crate) reads_as: BTreeMap<String, String>,
    pub(crate) values_differ: BTreeSet<String>,
    pub(crate) uncomparable: BTreeSet<String>,
    pub(crate) empty_string_is_null: BTreeSet<String>,
    pub(crate) nullability: BTreeSet<String>,
    pub(crate) field_metadata: BTreeSet<String>,
    pub(crate) schema_metadata: bool,
    pub(crate) rows: bool,
    pub(crate) input_unreadable: bool,
    pub(crate) checkout_unreadable: bool,
    pub(crate) not_adopted: bool,
}

impl Differences {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Differences::default()
    }

    /// As an inline TOML table, for a suggested expect.toml entry.
    pub(crate) fn to_toml(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).expect("string");
        let list = |v: &BTreeSet<String>| {
            let items: Vec<String> = v.iter().map(|s| q(s)).collect();
            format!("[{}]", items.join(", "))
        };
        let mut parts = Vec::new();
        for (key, set) in [
            ("missing_columns", &self.missing_columns),
            ("extra_columns", &self.extra_columns),
            ("values_differ", &self.values_differ),
            ("uncomparable", &self.uncomparable),
            ("empty_string_is_null", &self.empty_string_is_null),
            ("nullability", &self.nullability),
            ("field_metadata", &self.field_metadata),
        ] {
            if !set.is_empty() {
                parts.push(format!("{key} = {}", list(set)));
            }
        }
        if !self.reads_as.is_empty() {
            let items: Vec<String> = self
                .reads_as
                .iter()
                .map(|(k, v)| format!("{} = {}", q(k), q(v)))
                .collect();
            parts.push(format!("reads_as = {{ {} }}", items.join(", ")));
        }
        for (key, set) in [
            ("column_order", self.column_order),
            ("schema_metadata", self.schema_metadata),
            ("rows", self.rows),
            ("input_unreadable", self.input_unreadable),
            ("checkout_unreadable", self.checkout_unreadable),
            ("not_adopted", self.not_adopted),
        ] {
            if set {
                parts.push(format!("{key} = true"));
            }
        }
        format!("{{ {} }}", parts.join(", "))
    }
}

pub(crate) fn corpus_dir() -> PathBuf {
    repo_root().join("fixtures").join("corpus")
}

pub(crate) fn read_expectations() -> ExpectFile {
    let path = corpus_dir().join("expect.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under the corpus that is an input or part of one, relative, with `/`.
fn corpus_files(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry"))
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if e.file_type().expect("file type").is_dir() {
            corpus_files(&e.path(), &child, out);
        } else if !NOT_INPUTS.contains(&name.as_str()) {
            out.push(child);
        }
    }
}

/// Each file of the corpus is covered by exactly one entry (itself or a directory above it),
/// and each entry names something that exists and states what its outcome needs.
pub(crate) fn check_coverage(expect: &ExpectFile) -> Vec<String> {
    let mut files = Vec::new();
    corpus_files(&corpus_dir(), "", &mut files);
    let mut problems = Vec::new();
    for f in &files {
        let covering: Vec<&String> = expect
            .inputs
            .keys()
            .filter(|k| *k == f || f.starts_with(&format!("{k}/")))
            .collect();
        match covering.len() {
            1 => {}
            0 => problems.push(format!(
                "{f}: no entry in expect.toml covers this corpus file (add one: see the \
                 suggestions below, or run the test to get them)"
            )),
            _ => problems.push(format!("{f}: covered by several entries: {covering:?}")),
        }
    }
    for (k, e) in &expect.inputs {
        if !corpus_dir().join(k).exists() {
            problems.push(format!(
                "expect.toml names {k}, which is not in fixtures/corpus"
            ));
        }
        let stated = match e.outcome {
            Outcome::Refused => !e.message.is_empty() && e.reason.is_some(),
            Outcome::Differs => !e.differences.is_empty() && e.message.is_empty(),
            Outcome::Roundtrip => e.differences.is_empty() && e.message.is_empty(),
        };
        if !stated {
            problems.push(format!(
                "expect.toml: {k}: `refused` needs `reason` and `message`, `differs` needs \
                 `differences`, `roundtrip` takes neither"
            ));
        }
    }
    problems
}
