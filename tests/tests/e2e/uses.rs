//! Who uses what: use records (`--run`, `DSTORE_RUN`), `dstore uses`, retirement, `expire`
//! and `gc` that never remove what a run uses, lineage across stores, and bad input around all
//! of them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{
    STORE, assert_store_unchanged, assert_user_error, flights_csvs, flights_jsonl, log_json,
    new_store, resolve, store_files,
};
use dstore_e2e::Scratch;

/// Every use record (`.use`) under `uses/` of the store.
fn use_files(store: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(store.join("uses")) else {
        return out;
    };
    for d in dirs {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "use") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn uses_json(s: &Scratch, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["uses", "--json"];
    a.extend_from_slice(args);
    match s.run(&a).json() {
        Value::Array(v) => v,
        other => panic!("uses --json is not an array: {other}"),
    }
}

/// Three commits of flights: v1 (day 1), v2 (+ day 2, tagged `v2`), v3 (+ day 3).
fn three_versions(s: &Scratch) -> [String; 3] {
    let [d1, d2] = flights_csvs();
    s.run(&["snapshot", "-t", "flights", &d1, "-m", "day 1"])
        .ok();
    s.run(&[
        "snapshot", "-t", "flights", &d2, "-m", "day 2", "--tag", "v2",
    ])
    .ok();
    s.run(&["snapshot", "-t", "flights", &flights_jsonl(), "-m", "day 3"])
        .ok();
    [
        resolve(s, "HEAD~2"),
        resolve(s, "HEAD~1"),
        resolve(s, "HEAD"),
    ]
}

/// 64 processes of one run read the same data at once while the test holds the writer lock:
/// every one succeeds, none waits for the lock, and together they leave exactly one use record.
#[test]
fn sixty_four_processes_of_a_run_record_one_use_without_the_writer_lock() {
    let (s, store) = new_store();
    let [d1, _] = flights_csvs();
    s.run(&["snapshot", "-t", "flights", &d1]).ok();
    // Opened once, so the catalog exists and readers need no rebuild.
    s.run(&["show"]).ok();
    let lock = std::fs::File::open(store.join("catalog.lock")).unwrap();
    lock.lock().unwrap();
    let children: Vec<_> = (0..64)
        .map(|_| {
            s.cmd(&[
                "cat",
                "-t",
                "flights",
                "--columns",
                "flight_id",
                "--limit",
                "1",
                "--shuffle",
                "7",
            ])
            .env("DSTORE_RUN", "exp-64")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dstore")
        })
        .collect();
    let deadline = Instant::now() + Duration::from_mins(2);
    let mut outputs = Vec::new();
    for mut c in children {
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(c.stderr.as_mut().unwrap(), &mut err).unwrap();
                outputs.push((st.code(), err));
                break;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("a reader waited for the writer lock (still running after 120 s)");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    drop(lock);
    for (code, err) in &outputs {
        assert_eq!(*code, Some(0), "a reader failed: {err}");
        assert!(err.is_empty(), "a reader warned: {err}");
    }
    let files = use_files(&store);
    assert_eq!(files.len(), 1, "{files:?}");
    let uses = uses_json(&s, &[]);
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0]["run"], "exp-64");
    assert_eq!(uses[0]["tables"], serde_json::json!(["flights"]));
    assert_eq!(uses[0]["columns"], serde_json::json!(["flight_id"]));
    assert_eq!(uses[0]["seed"], 7);
    assert_eq!(uses[0]["author"], "tester");
    assert_eq!(uses[0]["live"], true);
    // No commit was made: recording a use never touches the log.
    assert_eq!(log_json(&s).len(), 1);
}

/// `lock --run` records every pinned snapshot's use with the lock's hash; `uses --run` lists
/// what the run read; `DSTORE_RECORD_USE=0` turns automatic recording off.
#[test]
fn lock_run_and_environment_run_ids_record_uses() {
    let (s, _store) = new_store();
    let [v1, v2, _] = three_versions(&s);
    s.write(
        "train.toml",
        format!(
            "[data]\ntrain = \"dstore://{STORE}@v2#flights\"\neval = \"dstore://{STORE}@{}\"\n",
            &v1[..12]
        ),
    );
    s.run(&["lock", "train.toml", "--run", "exp-42"]).ok();
    let by_run = uses_json(&s, &["--run", "exp-42"]);
    assert_eq!(by_run.len(), 2, "{by_run:?}");
    let snaps: Vec<&str> = by_run
        .iter()
        .map(|u| u["snapshot"].as_str().unwrap())
        .collect();
    assert!(snaps.contains(&v1.as_str()) && snaps.contains(&v2.as_str()));
    assert!(
        by_run
            .iter()
            .all(|u| u["lock_blake3"].as_str().is_some_and(|h| h.len() == 64))
    );
    let at_v2 = uses_json(&s, &["v2"]);
    assert_eq!(at_v2.len(), 1);
    assert_eq!(at_v2[0]["labels"]["dstore.lock_entry"], "data.train");
    // From the environment (MLflow's run id here), for checkout too.
    let out = s.path().join("co");
    let r = s
        .cmd(&["checkout", "v2", "-o", out.to_str().unwrap()])
        .env("MLFLOW_RUN_ID", "mlflow-abc")
        .output()
        .unwrap();
    assert!(r.status.success());
    assert_eq!(uses_json(&s, &["--run", "mlflow-abc"]).len(), 1);
    // Turned off: no record.
    let r = s
        .cmd(&["cat", "-t", "flights", "--limit", "1"])
        .env("DSTORE_RUN", "quiet-run")
        .env("DSTORE_RECORD_USE", "0")
        .output()
        .unwrap();
    assert!(r.status.success());
    assert!(uses_json(&s, &["--run", "quiet-run"]).is_empty());
}

/// Expire by count and age keeps HEAD, tagged, used and locked snapshots; gc then removes
/// exactly the segments only expired snapshots reach; a retired use or a deleted tag lets the
/// next expire + gc take the snapshot too. Reading an expired snapshot says when, who and why.
#[test]
#[allow(clippy::many_single_char_names)] // the snapshots a..g of the history
fn expire_and_gc_never_remove_what_is_tagged_used_or_locked() {
    let (s, store) = new_store();
    for (name, first) in [
        ("a", 1),
        ("b", 10),
        ("c", 20),
        ("d", 30),
        ("e", 40),
        ("g", 50),
    ] {
        s.write(
            &format!("{name}.csv"),
            format!("id\n{first}\n{}\n", first + 1),
        );
    }
    let commit = |args: &[&str]| {
        let mut a = vec!["snapshot", "-t", "f"];
        a.extend_from_slice(args);
        s.run(&a).ok();
        resolve(&s, "HEAD")
    };
    // Segments A..G, one per file. v1 [A]; v2 [A B] tagged; v3 [C] used; v4 [D] locked;
    // v5 [A E]; HEAD [A E G].
    let v1 = commit(&["a.csv", "-m", "v1"]);
    let v2 = commit(&["b.csv", "-m", "v2", "--tag", "keep"]);
    let v3 = commit(&["--mode", "overwrite", "c.csv", "-m", "v3"]);
    s.run(&["cat", "-t", "f", "--limit", "1", "--run", "exp-1"])
        .ok();
    let v4 = commit(&["--mode", "overwrite", "d.csv", "-m", "v4"]);
    s.write("old.toml", format!("x = \"dstore://{STORE}@{v4}\"\n"));
    s.run(&["lock", "old.toml"]).ok();
    let v5 = commit(&["--mode", "overwrite", "a.csv", "e.csv", "-m", "v5"]);
    let head = commit(&["g.csv", "-m", "v6"]);
    let seg = |id: &str| -> Vec<String> {
        let show = s.run(&["show", id, "--json", "--segments"]).json();
        show["tables"][0]["segment_list"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|e| e["id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let segs: Vec<(String, Vec<String>)> = [&v1, &v2, &v3, &v4, &head]
        .into_iter()
        .map(|id| (id.clone(), seg(id)))
        .collect();
    let segs_of = |id: &str| segs.iter().find(|(i, _)| i == id).unwrap().1.clone();
    let v3_segs = segs_of(&v3);
    assert_eq!(v3_segs.len(), 1);

    let dry = s
        .run(&[
            "expire",
            "--keep-last",
            "1",
            "--keep-lock",
            "dstore.lock",
            "--dry-run",
            "--json",
        ])
        .json();
    let expired: Vec<&str> = dry["expired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["snapshot"].as_str().unwrap())
        .collect();
    let before = store_files(&store);
    // v1 and v5 have nothing protecting them; v2 is tagged, v3 used, v4 locked, HEAD is HEAD.
    assert_eq!(
        {
            let mut e = expired.clone();
            e.sort_unstable();
            e
        },
        {
            let mut e = vec![v1.as_str(), v5.as_str()];
            e.sort_unstable();
            e
        }
    );
    let protected = dry["protected"].as_array().unwrap();
    let why = |id: &str| -> Vec<String> {
        protected
            .iter()
            .find(|p| p["snapshot"] == id)
            .map(|p| {
                p["keep"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| format!("{}", k["why"]))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(why(&v2), vec!["\"tag\""]);
    assert_eq!(why(&v3), vec!["\"use\""]);
    assert_eq!(why(&v4), vec!["\"lock\""]);
    assert_store_unchanged(&store, &before, "expire --dry-run");

    s.run(&[
        "expire",
        "--keep-last",
        "1",
        "--keep-lock",
        "dstore.lock",
        "-m",
        "nightly cleanup",
    ])
    .ok();
    // gc: v1's and v5's segments are all shared with HEAD: only their pages go, and within
    // the grace period not even those.
    let r = s.run(&["gc", "--json"]).json();
    assert_eq!(r["removed"].as_array().unwrap().len(), 0);
    assert_eq!(r["kept_expired"].as_array().unwrap().len(), 2);
    s.run(&["gc", "--grace", "0s"]).ok();
    for (id, ss) in &segs {
        for sg in ss {
            assert!(
                crate::segment_path(&store, sg).exists(),
                "{sg} of {id} was removed"
            );
        }
    }
    s.run(&["verify", "--all"]).ok();

    // Reading an expired snapshot names the expiry; history still lists it.
    let r = s.run(&["cat", &v1[..12], "-t", "f", "--limit", "1"]);
    assert_user_error(
        &r,
        &["expired on", "by tester", "nightly cleanup"],
        true,
        "cat v1",
    );
    let r = s.run(&["show", &v5]);
    assert_user_error(&r, &["expired on"], true, "show v5");
    assert!(log_json(&s).iter().any(|r| r["kind"] == "expire"));
    let _ = &v5;
    assert!(log_json(&s).iter().any(|r| r["snapshot"] == v1.as_str()));

    // Retire the use of v3: the next expire takes it, and gc removes its segment.
    s.run(&[
        "uses",
        &v3[..12],
        "--retire",
        "exp-1",
        "--reason",
        "model retired",
    ])
    .ok();
    let u = uses_json(&s, &[&v3[..12]]);
    assert_eq!(u[0]["live"], false);
    assert_eq!(u[0]["retired"]["reason"], "model retired");
    let e = s
        .run(&[
            "expire",
            "--keep-last",
            "1",
            "--keep-lock",
            "dstore.lock",
            "--json",
        ])
        .json();
    assert_eq!(e["expired"][0]["snapshot"], v3.as_str());
    s.run(&["gc", "--grace", "0s"]).ok();
    assert!(!crate::segment_path(&store, &v3_segs[0]).exists());
    // Day 1's segment is still there: v4 is locked.
    for sg in segs_of(&v4) {
        assert!(crate::segment_path(&store, &sg).exists());
    }
    s.run(&["verify", "--all"]).ok();
    // Untag v2: its own segment B goes, A (shared with HEAD) stays.
    s.run(&["tag", "-d", "keep"]).ok();
    s.run(&["expire", "--keep-last", "1", "--keep-lock", "dstore.lock"])
        .ok();
    let g = s.run(&["gc", "--grace", "0s", "--json"]).json();
    assert_eq!(g["expired"][0]["segments_removed"], 1, "{g}");
    assert_eq!(g["expired"][0]["segments_shared"], 1, "{g}");
    let b = segs_of(&v2)[1].clone();
    assert!(!crate::segment_path(&store, &b).exists());
    for sg in segs_of(&head) {
        assert!(crate::segment_path(&store, &sg).exists());
    }
    s.run(&["verify", "--all"]).ok();
}

/// A purge expires a tagged, used snapshot and says what it breaks; HEAD cannot be purged.
#[test]
fn purge_says_what_it_breaks_and_refuses_head() {
    let (s, store) = new_store();
    let [v1, v2, v3] = three_versions(&s);
    s.run(&[
        "cat", "v2", "-t", "flights", "--limit", "1", "--run", "exp-7",
    ])
    .ok();
    let before = store_files(&store);
    let r = s.run(&["expire", "--purge", "HEAD"]);
    assert_user_error(&r, &["is HEAD"], false, "purge HEAD");
    assert_store_unchanged(&store, &before, "purge HEAD");
    let r = s.run(&["expire", "--purge", "v2", "-m", "PII found"]);
    let out = r.ok();
    assert!(
        out.contains("PURGED, breaks: tag v2, used by run exp-7"),
        "{out}"
    );
    assert!(out.contains(&v2[..12]));
    let r = s.run(&["cat", "v2", "-t", "flights"]);
    assert_user_error(&r, &["expired on", "PII found"], true, "cat purged");
    // A purge ignores the use: gc removes the data only v2 reaches (none: v3 appends to it).
    let g = s.run(&["gc", "--grace", "0s", "--json"]).json();
    assert_eq!(g["kept_expired"].as_array().unwrap().len(), 0, "{g}");
    assert_eq!(resolve(&s, "HEAD"), v3);
    assert_ne!(v1, v3);
}

/// Deleting the catalog loses nothing: expiries come back from the log, uses from their objects.
#[test]
fn uses_and_expiries_survive_catalog_deletion() {
    let (s, store) = new_store();
    let [v1, _, _] = three_versions(&s);
    s.run(&[
        "cat", "v2", "-t", "flights", "--limit", "1", "--run", "exp-9",
    ])
    .ok();
    s.run(&["expire", &v1[..12], "-m", "old"]).ok();
    std::fs::remove_dir_all(store.join("catalog")).unwrap();
    assert_eq!(uses_json(&s, &["v2"])[0]["run"], "exp-9");
    let r = s.run(&["show", &v1[..12]]);
    assert_user_error(&r, &["expired on"], true, "show after reindex");
}

/// Lineage across two stores: `--from` records the source in the commit and a use in the
/// source store; `lineage` walks up and down, as text, JSON and Graphviz.
#[test]
fn lineage_across_two_stores() {
    let (s, _raw) = new_store();
    let [_, v2, _] = three_versions(&s);
    s.run(&["init", "feats.dstore"]).ok();
    s.write("f.csv", "k,v\n1,2\n");
    let r = s.run(&[
        "--store",
        "feats.dstore",
        "snapshot",
        "-t",
        "feats",
        "f.csv",
        "--from",
        &format!("dstore://{STORE}@v2#flights"),
        "-m",
        "features from v2",
        "--json",
    ]);
    let feats = r.json()["snapshot"].as_str().unwrap().to_owned();
    let up = s
        .run(&["--store", "feats.dstore", "lineage", "--json"])
        .json();
    assert_eq!(up["snapshot"], feats.as_str());
    assert_eq!(up["edges"][0]["snapshot"], v2.as_str());
    assert_eq!(up["edges"][0]["table"], "flights");
    assert_eq!(up["edges"][0]["message"], "day 2");
    let down = s
        .run(&["--store", STORE, "lineage", "v2", "--down", "--json"])
        .json();
    assert_eq!(down["edges"][0]["snapshot"], feats.as_str());
    assert!(
        down["edges"][0]["store"]
            .as_str()
            .unwrap()
            .ends_with("feats.dstore")
    );
    let dot = s.run(&["--store", STORE, "lineage", "v2", "--down", "--dot"]);
    let dot = dot.ok();
    assert!(dot.starts_with("digraph lineage {"), "{dot}");
    assert!(dot.contains(&format!("@{}\" -> \"", &v2[..12])), "{dot}");
    // The derived snapshot protects its source from expiry until that use is retired.
    let e = s
        .run(&["--store", STORE, "expire", "v2", "--dry-run", "--json"])
        .json();
    assert!(
        e["protected"][0]["keep"]
            .to_string()
            .contains("feats.dstore"),
        "{e}"
    );
    // The log of the feature store shows the upstream.
    let log = s.run(&["--store", "feats.dstore", "log", "--json"]).json();
    assert_eq!(log[0]["upstream"][0]["snapshot"], v2.as_str());
}

/// Bad input: a run id with control characters, a `--from` pin that does not resolve, a damaged
/// use record: each is a clear error naming it, and the store is left as it was.
#[test]
#[allow(clippy::many_single_char_names)]
fn bad_run_ids_pins_and_damaged_use_records_are_refused_clearly() {
    let (s, store) = new_store();
    let [_, _, _] = three_versions(&s);
    let before = store_files(&store);
    let r = s.run(&[
        "cat",
        "-t",
        "flights",
        "--limit",
        "1",
        "--run",
        "exp\u{1}42",
    ]);
    assert_user_error(
        &r,
        &["run id", "control characters"],
        false,
        "control run id",
    );
    assert_store_unchanged(&store, &before, "bad run id");
    s.write("c.toml", format!("x = \"dstore://{STORE}@HEAD\"\n"));
    let r = s.run(&["lock", "--run", " lead", "c.toml"]);
    assert_user_error(
        &r,
        &["--run", "whitespace"],
        false,
        "run id with a leading space",
    );
    assert!(!s.path().join("dstore.lock").exists());
    assert_store_unchanged(&store, &before, "lock with a bad run id");
    s.write("x.csv", "a\n1\n");
    for pin in [
        "dstore://nowhere.dstore@v1",
        "dstore://data.dstore@nope",
        "not-a-pin",
    ] {
        let r = s.run(&["snapshot", "-t", "x", "x.csv", "--from", pin]);
        assert_user_error(&r, &[pin], true, &format!("--from {pin}"));
        assert_store_unchanged(&store, &before, &format!("--from {pin}"));
    }
    let r = s.run(&["expire"]);
    assert_user_error(&r, &["say what to expire"], true, "bare expire");
    let r = s.run(&["expire", "--keep-last", "0"]);
    assert_user_error(&r, &["keep at least 1"], false, "keep-last 0");
    let r = s.run(&["expire", "--keep-within", "soon"]);
    assert_user_error(&r, &["--keep-within soon"], true, "bad age");
    assert_store_unchanged(&store, &before, "bad expire");
    // A damaged use record.
    s.run(&["cat", "-t", "flights", "--limit", "1", "--run", "exp-1"])
        .ok();
    let f = use_files(&store).pop().unwrap();
    let mut b = std::fs::read(&f).unwrap();
    let n = b.len();
    b[n / 2] ^= 0x20;
    std::fs::write(&f, b).unwrap();
    let before = store_files(&store);
    let r = s.run(&["uses"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(f.file_name().unwrap().to_str().unwrap()),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("corrupted"), "{}", r.stderr);
    let v = s.run(&["verify", "--all"]);
    assert_ne!(v.code, 0);
    assert!(
        v.stdout.contains("use record") || v.stderr.contains("use record"),
        "{}{}",
        v.stdout,
        v.stderr
    );
    // expire refuses to read around it silently? It names the snapshot's runs from the
    // records, so a damaged one stops it, naming the file, and nothing is written.
    let r = s.run(&["expire", "HEAD~0"]);
    assert_ne!(r.code, 0);
    assert_store_unchanged(&store, &before, "commands over a damaged use record");
}
