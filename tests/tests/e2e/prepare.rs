//! `dstore prepare` on several workers at once, then one `dstore commit`.

use std::process::Stdio;

use dstore_e2e::Scratch;
use serde_json::Value;

use crate::{
    STORE, assert_store_unchanged, assert_user_error, flights_csvs, flights_jsonl, log_json,
    new_store, resolve, rows_at, store_files,
};

/// Two workers prepare at the same time (separate processes, no lock), one commit lands both:
/// the same snapshot `dstore snapshot` makes of the same inputs in the same order. Once the
/// table exists, a worker converts text inputs to its schema (JSON lines' dates, which alone
/// would be inferred as strings).
#[test]
fn concurrent_prepares_commit_as_one_snapshot() {
    let (s, _store) = new_store();
    let [d1, d2] = flights_csvs();
    let day3 = flights_jsonl();
    let workers: Vec<_> = [vec![d1.clone()], vec![d2.clone()]]
        .iter()
        .enumerate()
        .map(|(i, inputs)| {
            let out = format!("p{i}.json");
            let mut args = vec!["--store", STORE, "prepare", "-t", "flights", "-o", &out];
            args.extend(inputs.iter().map(String::as_str));
            s.cmd(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for w in workers {
        let o = w.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // Prepared, not committed.
    assert!(log_json(&s).is_empty());
    let r = s.run(&[
        "--store", STORE, "commit", "p0.json", "p1.json", "-m", "days 1-2", "--json",
    ]);
    let out: Value = r.json();
    assert_eq!(out["changes"][0]["rows"], 3000, "{out}");
    s.run(&[
        "--store", STORE, "prepare", "-t", "flights", &day3, "-o", "p2.json",
    ])
    .ok();
    s.run(&["--store", STORE, "commit", "p2.json", "-m", "day 3"])
        .ok();
    assert_eq!(rows_at(&s, "HEAD", "flights"), 4500);
    assert_eq!(log_json(&s).len(), 2);

    let other = Scratch::new();
    other.run(&["init", STORE]).ok();
    other
        .run(&[
            "--store", STORE, "snapshot", "-t", "flights", &d1, &d2, "-m", "x",
        ])
        .ok();
    other
        .run(&[
            "--store", STORE, "snapshot", "-t", "flights", &day3, "-m", "y",
        ])
        .ok();
    assert_eq!(resolve(&s, "HEAD"), resolve(&other, "HEAD"));
    assert_eq!(
        s.run(&["--store", STORE, "verify", "--all"]).code,
        0,
        "verify after commit"
    );
}

/// A description on standard output is the whole output; it commits as a file.
#[test]
fn prepare_prints_the_description_to_stdout() {
    let (s, _store) = new_store();
    let [d1, _] = flights_csvs();
    let r = s.run(&["--store", STORE, "prepare", "-t", "flights", &d1]);
    let v: Value = serde_json::from_str(r.ok()).expect("stdout is the JSON description");
    assert_eq!(v["dstore_prepare"], 1);
    assert_eq!(v["tables"][0]["table"], "flights");
    assert!(
        r.stderr.contains("Prepared 1 segment(s), 1500 rows"),
        "{}",
        r.stderr
    );
    s.write("p.json", &r.stdout);
    s.run(&[
        "--store", STORE, "commit", "p.json", "-m", "m", "--tag", "v1",
    ])
    .ok();
    assert_eq!(rows_at(&s, "v1", "flights"), 1500);
}

/// Descriptions that do not match the store: exit 1, the description and segment named, and
/// the store left as it was.
#[test]
fn bad_descriptions_are_refused_and_change_nothing() {
    let (s, store) = new_store();
    let [d1, _] = flights_csvs();
    s.run(&[
        "--store", STORE, "prepare", "-t", "flights", &d1, "-o", "p.json",
    ])
    .ok();
    let good: Value =
        serde_json::from_str(&std::fs::read_to_string(s.path().join("p.json")).unwrap()).unwrap();
    let seg = good["tables"][0]["segments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = store_files(&store);

    // The segment removed (as gc does once the grace period has passed).
    let path = crate::segment_path(&store, &seg);
    let saved = std::fs::read(&path).unwrap();
    let mut perm = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&path, perm).unwrap();
    std::fs::remove_file(&path).unwrap();
    let gone = store_files(&store);
    let r = s.run(&["--store", STORE, "commit", "p.json"]);
    assert_user_error(
        &r,
        &["p.json", &seg[..16], "not in the store", "prepare"],
        true,
        "missing segment",
    );
    assert_store_unchanged(&store, &gone, "a commit of a missing segment");
    std::fs::write(&path, saved).unwrap();

    // Edited by hand: a size field no longer matching its entry.
    let mut v = good.clone();
    v["tables"][0]["segments"][0]["bytes"] = 5.into();
    s.write("edited.json", serde_json::to_string(&v).unwrap());
    let r = s.run(&["--store", STORE, "commit", "edited.json"]);
    assert_user_error(
        &r,
        &["edited.json", "tables[0].segments[0].bytes"],
        true,
        "edited size",
    );
    // Not JSON at all; not there at all.
    s.write("broken.json", "{\"dstore_prepare\": 1,\n \"tables\": [");
    let r = s.run(&["--store", STORE, "commit", "broken.json"]);
    assert_user_error(&r, &["broken.json", "line 2"], true, "broken JSON");
    let r = s.run(&["--store", STORE, "commit", "nope.json"]);
    assert_user_error(&r, &["nope.json"], false, "no such file");
    assert_store_unchanged(&store, &before, "refused commits");
    assert!(log_json(&s).is_empty());
}

/// Two workers preparing text inputs for a table that does not exist yet infer types on their
/// own (JSON lines dates are strings, CSV dates are dates): the commit refuses the second,
/// naming it and the column, and says how to prepare it instead.
#[test]
fn descriptions_of_different_schemas_are_refused_with_advice() {
    let (s, store) = new_store();
    let [d1, _] = flights_csvs();
    let day3 = flights_jsonl();
    s.run(&[
        "--store", STORE, "prepare", "-t", "flights", &d1, "-o", "csv.json",
    ])
    .ok();
    s.run(&[
        "--store",
        STORE,
        "prepare",
        "-t",
        "flights",
        &day3,
        "-o",
        "jsonl.json",
    ])
    .ok();
    let before = store_files(&store);
    let r = s.run(&["--store", STORE, "commit", "csv.json", "jsonl.json"]);
    assert_user_error(
        &r,
        &["jsonl.json", "date", "prepare them again"],
        true,
        "schemas differ",
    );
    assert_store_unchanged(&store, &before, "a refused commit");
}
