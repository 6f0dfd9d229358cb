//! The CLI's text output, pinned with insta snapshots. Ids, times and temporary paths are
//! replaced by placeholders so the snapshots are stable.

use dstore_e2e::Scratch;

use crate::{flights_csvs, flights_jsonl, new_store};

/// Escapes regex metacharacters.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Runs `check` with filters for this scratch directory's path, ids and times.
fn with_filters(s: &Scratch, check: impl FnOnce()) {
    let path = regex_escape(s.path().to_str().unwrap());
    let canonical = regex_escape(std::fs::canonicalize(s.path()).unwrap().to_str().unwrap());
    insta::with_settings!({
        filters => vec![
            (canonical.as_str(), "[TMP]"),
            (path.as_str(), "[TMP]"),
            (r"\b[0-9a-f]{64}\b", "[ID]"),
            (r"\b[0-9a-f]{12}\b", "[SHORT_ID]"),
            (r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", "[TIME]"),
        ],
        omit_expression => true,
        // Relative to this file: tests/tests/snapshots/.
        snapshot_path => "../snapshots",
    }, {
        check();
    });
}

/// A store with two commits and a tag event, like the README's.
fn store() -> Scratch {
    let (s, _) = new_store();
    let [d1, d2] = flights_csvs();
    s.run(&[
        "snapshot",
        "-t",
        "flights",
        &d1,
        &d2,
        "-m",
        "first import",
        "--tag",
        "v1",
    ])
    .ok();
    s.run(&["snapshot", "-t", "flights", &flights_jsonl(), "-m", "day 2"])
        .ok();
    s.write("train.csv", "x,label\n1,a\n2,b\n3,a\n");
    s.write("eval.csv", "x,label\n4,b\n5,a\n");
    s.run(&[
        "snapshot",
        "-t",
        "train",
        "train.csv",
        "-t",
        "eval",
        "eval.csv",
        "-m",
        "split",
    ])
    .ok();
    s.run(&["tag", "release-3", "HEAD"]).ok();
    s
}

#[test]
fn log_text() {
    let s = store();
    let out = s.run(&["log"]).ok().to_owned();
    with_filters(&s, || insta::assert_snapshot!("log_text", out));
}

#[test]
fn show_head_text() {
    let s = store();
    let out = s.run(&["show", "HEAD"]).ok().to_owned();
    with_filters(&s, || insta::assert_snapshot!("show_head_text", out));
}

#[test]
fn unknown_ref_error() {
    let s = store();
    let r = s.run(&["show", "v2"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    let r2 = s.run(&["show", "@9"]);
    assert_eq!(r2.code, 1);
    let text = format!(
        "$ dstore show v2\n{}$ dstore show @9\n{}",
        r.stderr, r2.stderr
    );
    with_filters(&s, || insta::assert_snapshot!("unknown_ref_error", text));
}

#[test]
fn bad_input_error() {
    let s = store();
    s.write("ragged.csv", "x,label\n6,a\n7\n");
    let r = s.run(&["snapshot", "-t", "train", "ragged.csv"]);
    assert_eq!(r.code, 1);
    with_filters(&s, || insta::assert_snapshot!("bad_input_error", r.stderr));
}
