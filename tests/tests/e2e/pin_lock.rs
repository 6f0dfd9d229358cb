//! `dstore pin` and `dstore lock` / `dstore lock --check` with real configs.

use dstore::LockFile;

use crate::{STORE, assert_user_error, new_store, resolve};

/// The store's canonical path, as a pin names it.
fn canonical_store(s: &dstore_e2e::Scratch) -> String {
    std::fs::canonicalize(s.path().join(STORE))
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn pin_prints_the_canonical_full_pin() {
    let (s, _) = new_store();
    s.write("a.csv", "id,v\n1,a\n2,b\n");
    s.write("b.csv", "id,v\n3,c\n");
    s.run(&["snapshot", "-t", "train", "a.csv", "--tag", "v1"])
        .ok();
    s.run(&["snapshot", "-t", "eval", "b.csv"]).ok();
    let (v1, head) = (resolve(&s, "v1"), resolve(&s, "HEAD"));
    let store = canonical_store(&s);

    let out = s.run(&["pin", "v1"]);
    assert_eq!(out.ok().trim(), format!("dstore://{store}@{v1}"));
    assert_eq!(
        s.run(&["pin"]).ok().trim(),
        format!("dstore://{store}@{head}")
    );
    assert_eq!(
        s.run(&["pin", &v1[..10], "-t", "train"]).ok().trim(),
        format!("dstore://{store}@{v1}#train")
    );
    // A whole pin, relative to the current directory, is canonicalized.
    assert_eq!(
        s.run(&["pin", "dstore://data.dstore@HEAD~1#train"])
            .ok()
            .trim(),
        format!("dstore://{store}@{v1}#train")
    );
    let j = s.run(&["pin", "HEAD", "--table", "eval", "--json"]).json();
    assert_eq!(j["pin"], format!("dstore://{store}@{head}#eval"));
    assert_eq!(j["snapshot"], head.as_str());
    assert_eq!(j["store"], store.as_str());
    assert_eq!(j["seq"], 2);
    assert_eq!(j["table"], "eval");
    let j = s.run(&["pin", "--as-of", "2999-01-01", "--json"]).json();
    assert_eq!(j["snapshot"], head.as_str());

    // Unknown refs and tables, and bad pins, are user errors with a hint.
    assert_user_error(&s.run(&["pin", "nosuch"]), &["nosuch"], true, "pin nosuch");
    assert_user_error(
        &s.run(&["pin", "v1", "-t", "eval"]),
        &["eval"],
        true,
        "pin v1 -t eval",
    );
    assert_user_error(
        &s.run(&["pin", "dstore://data.dstore"]),
        &["@REF", "dstore://data.dstore"],
        true,
        "pin without a ref",
    );
}

const CONFIG: &str = r#"
name = "exp1"
lr = 0.001

[data]
train = "dstore://data.dstore@v1#train"
all = "dstore://data.dstore@HEAD"

[[runs]]
eval = "dstore://data.dstore@HEAD#eval"
note = "not a pin"
"#;

/// A store with `train` (v1) then `eval`, and `exp.toml` pinning them.
fn locked_setup() -> (dstore_e2e::Scratch, std::path::PathBuf) {
    let (s, store) = new_store();
    s.write("a.csv", "id,v\n1,a\n2,b\n");
    s.write("b.csv", "id,v\n3,c\n");
    s.run(&["snapshot", "-t", "train", "a.csv", "--tag", "v1"])
        .ok();
    s.run(&["snapshot", "-t", "eval", "b.csv"]).ok();
    s.write("exp.toml", CONFIG);
    (s, store)
}

#[test]
fn lock_writes_and_check_verifies() {
    let (s, store) = locked_setup();
    let (v1, head) = (resolve(&s, "v1"), resolve(&s, "HEAD"));
    let canonical = canonical_store(&s);

    let out = s.run(&["lock", "exp.toml"]);
    let text = out.ok();
    assert!(
        text.contains("data.train") && text.contains("runs[0].eval"),
        "{text}"
    );
    assert!(text.contains("Wrote dstore.lock (3 pins)"), "{text}");
    let lock = LockFile::read(s.path().join("dstore.lock")).unwrap();
    let names: Vec<&str> = lock.pins.keys().map(String::as_str).collect();
    assert_eq!(names, ["data.all", "data.train", "runs[0].eval"]);
    let train = &lock.pins["data.train"];
    assert_eq!(train.pin, format!("dstore://{canonical}@{v1}#train"));
    assert_eq!(
        train.requested.as_deref(),
        Some("dstore://data.dstore@v1#train")
    );
    assert_eq!(train.tables["train"].rows, 2);
    assert_eq!(lock.pins["data.all"].snapshot, head);
    assert_eq!(lock.pins["data.all"].tables.len(), 2);

    let ok = s.run(&["lock", "--check", "exp.toml"]);
    assert!(ok.ok().contains("3 pins match"), "{}", ok.stdout);
    let j = s.run(&["lock", "--check", "exp.toml", "--json"]).json();
    assert_eq!(j["ok"], true);

    // New data, the tag moved: the lock pins full ids, so it still checks.
    s.write("c.csv", "id,v\n4,d\n");
    s.run(&["snapshot", "-t", "train", "c.csv", "--tag", "v1", "--force"])
        .ok();
    s.run(&["lock", "--check", "exp.toml"]).ok();

    // A row count edited by hand: refused, naming the entry and the table.
    let path = s.path().join("dstore.lock");
    let original = std::fs::read_to_string(&path).unwrap();
    let edited = original.replacen("rows = 2", "rows = 20", 1);
    assert_ne!(edited, original);
    std::fs::write(&path, edited).unwrap();
    let r = s.run(&["lock", "--check", "exp.toml"]);
    assert_user_error(
        &r,
        &[
            "entry `data.all`",
            "table `train`",
            "2 rows in the store",
            "the lock says 20",
        ],
        true,
        "check after editing rows",
    );
    assert!(r.stderr.contains("re-run `dstore lock`"), "{}", r.stderr);

    // Re-locking accepts the new data and says what moved.
    let out = s.run(&["lock", "exp.toml"]);
    assert!(out.ok().contains("(was "), "{}", out.stdout);
    s.run(&["lock", "--check", "exp.toml"]).ok();
    let relocked = LockFile::read(&path).unwrap();
    assert_ne!(relocked.pins["data.train"].snapshot, v1);

    // The pinned snapshot's manifest removed: refused.
    let pinned = relocked.pins["data.train"].snapshot.clone();
    let manifest = store
        .join("manifests")
        .join(&pinned[..2])
        .join(format!("{pinned}.manifest"));
    std::fs::remove_file(&manifest).unwrap();
    assert_user_error(
        &s.run(&["lock", "--check", "exp.toml"]),
        &["entry `data.train`", &pinned[..16]],
        true,
        "check after removing a manifest",
    );
}

#[test]
fn check_notices_config_changes_and_missing_locks() {
    let (s, _) = locked_setup();
    assert_user_error(
        &s.run(&["lock", "--check", "exp.toml"]),
        &["no lock file", "dstore.lock"],
        true,
        "check without a lock",
    );
    s.run(&["lock", "exp.toml", "-o", "locks/exp.lock"]).ok();
    assert!(s.path().join("locks/exp.lock").is_file());
    s.run(&["lock", "--check", "exp.toml", "--output", "locks/exp.lock"])
        .ok();
    s.write("exp.toml", CONFIG.replace("@v1#train", "@HEAD#train"));
    assert_user_error(
        &s.run(&["lock", "--check", "exp.toml", "-o", "locks/exp.lock"]),
        &["`data.train` is now", "dstore://data.dstore@HEAD#train"],
        true,
        "check after editing the config",
    );
}

#[test]
fn yaml_and_json_configs_and_bad_ones() {
    let (s, _) = locked_setup();
    let head = resolve(&s, "HEAD");
    s.write(
        "exp.yaml",
        "data:\n  all: dstore://data.dstore@HEAD\n  list:\n    - dstore://data.dstore@v1#train\n",
    );
    s.write(
        "exp.json",
        r#"{"data": {"all": "dstore://data.dstore@HEAD", "list": ["dstore://data.dstore@v1#train"]}}"#,
    );
    for (config, lock) in [("exp.yaml", "y.lock"), ("exp.json", "j.lock")] {
        s.run(&["lock", config, "-o", lock]).ok();
        let l = LockFile::read(s.path().join(lock)).unwrap();
        let names: Vec<&str> = l.pins.keys().map(String::as_str).collect();
        assert_eq!(names, ["data.all", "data.list[0]"], "{config}");
        assert_eq!(l.pins["data.all"].snapshot, head, "{config}");
        s.run(&["lock", "--check", config, "-o", lock]).ok();
    }

    s.write("none.toml", "x = 1\n");
    assert_user_error(
        &s.run(&["lock", "none.toml"]),
        &["none.toml", "dstore://"],
        true,
        "config without pins",
    );
    s.write("bad.toml", "[data]\ntrain = \"dstore://data.dstore\"\n");
    assert_user_error(
        &s.run(&["lock", "bad.toml"]),
        &["bad.toml", "data.train", "@REF"],
        true,
        "config with a bad pin",
    );
    s.write("broken.yaml", "data: [unclosed\n");
    assert_user_error(
        &s.run(&["lock", "broken.yaml"]),
        &["broken.yaml", "YAML"],
        false,
        "broken YAML",
    );
    s.write("exp.ini", "x=1\n");
    assert_user_error(
        &s.run(&["lock", "exp.ini"]),
        &["exp.ini", ".toml"],
        true,
        "unknown config format",
    );
    s.write("gone.toml", "d = \"dstore://nowhere.dstore@v1\"\n");
    assert_user_error(
        &s.run(&["lock", "gone.toml"]),
        &["nowhere.dstore"],
        true,
        "pin of a store that does not exist",
    );
}
