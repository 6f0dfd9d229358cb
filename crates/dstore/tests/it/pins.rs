//! Pins (`dstore://PATH@REF[#TABLE]`) and lock files: grammar, serde in user configs,
//! resolution to full ids, and a lock that refuses to load data the store no longer holds.

use std::path::{Path, PathBuf};

use dstore::{CommitOptions, Error, LockFile, Pin, Store, WriteMode};
use proptest::prelude::*;

use super::common::{append, commit_batch, fresh_store, manifest_path};

fn parse(s: &str) -> Pin {
    s.parse()
        .unwrap_or_else(|e| panic!("`{s}` should parse: {e}"))
}

/// The detail and hint of an `InvalidInput` error, panicking on anything else.
fn invalid(e: &Error) -> (String, String) {
    match e {
        Error::InvalidInput { detail, hint, .. } => {
            (detail.clone(), hint.clone().unwrap_or_default())
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn parse_and_display_table() {
    let id = "3f9a".repeat(16);
    // (input, store, ref, table, canonical display)
    let cases: &[(&str, &str, &str, Option<&str>, &str)] = &[
        (
            "dstore:///abs/path/to/store@v3",
            "/abs/path/to/store",
            "v3",
            None,
            "dstore:///abs/path/to/store@v3",
        ),
        (
            "dstore://relative/store@HEAD#train",
            "relative/store",
            "HEAD",
            Some("train"),
            "dstore://relative/store@HEAD#train",
        ),
        (
            "dstore://s.dstore@HEAD~2",
            "s.dstore",
            "HEAD~2",
            None,
            "dstore://s.dstore@HEAD~2",
        ),
        (
            "dstore://s.dstore@@12",
            "s.dstore",
            "@12",
            None,
            "dstore://s.dstore@@12",
        ),
        (
            "dstore://../up/s.dstore@3f9a0c1e",
            "../up/s.dstore",
            "3f9a0c1e",
            None,
            "dstore://../up/s.dstore@3f9a0c1e",
        ),
        (
            "dstore://s@release/3~1#eval.v2",
            "s",
            "release/3~1",
            Some("eval.v2"),
            "dstore://s@release/3~1#eval.v2",
        ),
        (
            "dstore://s@{2026-11-24T10:00:00Z}",
            "s",
            "{2026-11-24T10:00:00Z}",
            None,
            "dstore://s@{2026-11-24T10:00:00Z}",
        ),
        (
            "dstore://s@{2026-11-24}#t",
            "s",
            "{2026-11-24}",
            Some("t"),
            "dstore://s@{2026-11-24}#t",
        ),
        // Escapes: @ # % in the path, # % in the ref; a tag may contain @ unescaped.
        (
            "dstore:///home/a%40b/x%23y%25z.dstore@v%231#t",
            "/home/a@b/x#y%z.dstore",
            "v#1",
            Some("t"),
            "dstore:///home/a%40b/x%23y%25z.dstore@v%231#t",
        ),
        ("dstore://s@a@b", "s", "a@b", None, "dstore://s@a@b"),
        // Unneeded escapes decode and print plainly.
        (
            "dstore://%73.dstore@v%31",
            "s.dstore",
            "v1",
            None,
            "dstore://s.dstore@v1",
        ),
        (
            "dstore://with space/s@λ",
            "with space/s",
            "λ",
            None,
            "dstore://with space/s@λ",
        ),
    ];
    for (input, store, reference, table, shown) in cases {
        let p = parse(input);
        assert_eq!(p.store(), Path::new(store), "{input}");
        assert_eq!(p.reference(), *reference, "{input}");
        assert_eq!(p.table(), *table, "{input}");
        assert_eq!(p.to_string(), *shown, "{input}");
        assert_eq!(parse(shown), p, "{input}: display does not parse back");
    }
    let full = parse(&format!("dstore:///a/s.dstore@{id}#t"));
    assert!(full.is_full());
    assert_eq!(full.full_id().unwrap().to_hex(), id);
    assert!(!parse(&format!("dstore://a/s.dstore@{id}")).is_full());
    assert!(!parse("dstore:///a/s.dstore@v1").is_full());
}

#[test]
fn invalid_pins_are_refused_with_what_is_wrong() {
    // (input, words the message must contain)
    let cases: &[(&str, &[&str])] = &[
        ("", &["dstore://"]),
        ("/abs/store@v3", &["must start with `dstore://`"]),
        ("dstore:/abs/store@v3", &["two slashes"]),
        ("DSTORE://s@v3", &["lowercase"]),
        ("dstore://s.dstore", &["no `@REF`"]),
        ("dstore://@v3", &["store path", "empty"]),
        ("dstore://s.dstore@", &["ref after `@` is empty"]),
        ("dstore://s.dstore@v3#", &["table after `#` is empty"]),
        ("dstore://s.dstore@v3#a/b", &["after `#`", "a/b"]),
        ("dstore://s.dstore@has space", &["bad ref"]),
        ("dstore://s.dstore@HEAD~x", &["bad ref", "~"]),
        ("dstore://s.dstore@@0", &["bad ref", "start at 1"]),
        ("dstore://s.dstore@{yesterday}", &["not a time"]),
        ("dstore://s.dstore@{2026-11-24", &["must end with `}`"]),
        ("dstore://s%zz.dstore@v3", &["store path", "%"]),
        ("dstore://s.dstore@v%ff", &["ref", "UTF-8"]),
    ];
    for (input, needles) in cases {
        let e = input.parse::<Pin>().expect_err(input);
        let (detail, hint) = invalid(&e);
        assert!(detail.contains(&format!("`{input}`")), "{input}: {detail}");
        for n in *needles {
            assert!(detail.contains(n), "{input}: `{detail}` does not say `{n}`");
        }
        // Every refusal shows an example of a good pin.
        assert!(hint.contains("dstore:///"), "{input}: hint `{hint}`");
    }
    assert!(Pin::new("", "v1", None).is_err());
    assert!(Pin::new("s", "v1", Some("../x".into())).is_err());
    assert!(Pin::new("s", "v 1", None).is_err());
}

fn arb_ref() -> impl Strategy<Value = String> {
    let tag = "[a-zA-Zλ_][a-zA-Z0-9_#%@./{}λ-]{0,12}(~[0-9]{1,2})?"
        .prop_filter("a valid ref", |t| dstore::format::RefSpec::parse(t).is_ok());
    prop_oneof![
        Just("HEAD".to_owned()),
        "HEAD~[0-9]{1,3}",
        "@[1-9][0-9]{0,5}",
        "[0-9a-f]{64}",
        "[0-9a-f]{8,63}",
        tag,
        Just("{2026-11-24T10:00:00+02:00}".to_owned()),
        Just("{2026-11-24}".to_owned()),
    ]
}

proptest! {
    #[test]
    fn display_parses_back(
        abs in any::<bool>(),
        path in "[a-zA-Z0-9_./@#% λ-]{1,24}",
        reference in arb_ref(),
        table in proptest::option::of("[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,10}"),
    ) {
        let path = if abs { format!("/{path}") } else { path };
        let pin = Pin::new(PathBuf::from(&path), reference.clone(), table.clone()).unwrap();
        let text = pin.to_string();
        prop_assert!(text.starts_with("dstore://"));
        let back: Pin = text.parse().unwrap();
        prop_assert_eq!(&back, &pin);
        prop_assert_eq!(back.to_string(), text);
        // Through serde as a string, too.
        let json = serde_json::to_string(&pin).unwrap();
        let from_json: Pin = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(from_json, pin);
    }
}

/// A user's experiment config, as they would write it.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Experiment {
    name: String,
    data: Data,
}

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Data {
    train: Pin,
    eval: Option<Pin>,
    extra: Vec<Pin>,
}

#[test]
fn user_config_structs_deserialize_pins_from_toml_yaml_and_json() {
    let toml_text = r#"
name = "exp1"
[data]
train = "dstore:///srv/corpus.dstore@v3#train"
eval = "dstore://corpus.dstore@HEAD~1#eval"
extra = ["dstore://corpus.dstore@@4"]
"#;
    let yaml_text = r#"
name: exp1
data:
  train: "dstore:///srv/corpus.dstore@v3#train"
  eval: dstore://corpus.dstore@HEAD~1#eval
  extra:
    - dstore://corpus.dstore@@4
"#;
    let json_text = r#"{"name": "exp1", "data": {
        "train": "dstore:///srv/corpus.dstore@v3#train",
        "eval": "dstore://corpus.dstore@HEAD~1#eval",
        "extra": ["dstore://corpus.dstore@@4"]}}"#;
    let configs: Vec<Experiment> = vec![
        toml::from_str(toml_text).expect("toml"),
        serde_norway::from_str(yaml_text).expect("yaml"),
        serde_json::from_str(json_text).expect("json"),
    ];
    for c in &configs {
        assert_eq!(c.name, "exp1");
        assert_eq!(c.data.train, parse("dstore:///srv/corpus.dstore@v3#train"));
        assert_eq!(c.data.train.store(), Path::new("/srv/corpus.dstore"));
        let eval = c.data.eval.as_ref().expect("eval");
        assert_eq!((eval.reference(), eval.table()), ("HEAD~1", Some("eval")));
        assert_eq!(c.data.extra[0].reference(), "@4");
    }
    // Serializing writes the pins back as plain strings.
    let again = toml::to_string(&configs[0]).expect("serialize");
    assert!(
        again.contains(r#"train = "dstore:///srv/corpus.dstore@v3#train""#),
        "{again}"
    );
    let back: Experiment = toml::from_str(&again).expect("reparse");
    assert_eq!(back.data.train, configs[0].data.train);

    // A bad pin in a config fails deserialization, saying what is wrong.
    let e = toml::from_str::<Experiment>(
        "name = \"x\"\n[data]\ntrain = \"dstore://corpus.dstore\"\nextra = []\n",
    )
    .expect_err("no ref");
    let msg = e.to_string();
    assert!(msg.contains("no `@REF`") && msg.contains("train"), "{msg}");
    let e =
        serde_json::from_str::<Experiment>(r#"{"name": "x", "data": {"train": 3, "extra": []}}"#)
            .expect_err("not a string");
    assert!(e.to_string().contains("dstore pin string"), "{e}");
}

/// A store with four commits: v1 (train 10 rows), @2 (train +5), v2 (eval 3 rows), HEAD
/// (train +1). Returns the ids of v1, v2 and HEAD.
fn three_commits() -> (tempfile::TempDir, Store, [dstore::SnapshotId; 3]) {
    let (dir, store) = fresh_store();
    let tag = |t: &str| CommitOptions {
        tags: vec![t.into()],
        ..CommitOptions::message("c")
    };
    let c1 = commit_batch(&store, "train", WriteMode::Append, 1, 10, &tag("v1")).unwrap();
    append(&store, "train", 2, 5);
    let c2 = commit_batch(&store, "eval", WriteMode::Append, 3, 3, &tag("v2")).unwrap();
    let c3 = append(&store, "train", 4, 1);
    (dir, store, [c1.id, c2.id, c3.id])
}

#[test]
fn resolve_gives_the_full_id_and_canonical_pin() {
    let (dir, store, [v1, v2, head]) = three_commits();
    let root = store.root().to_owned();
    let abs = std::fs::canonicalize(&root).unwrap();
    let at = |r: &str| Pin::new(&root, r, None).unwrap().resolve().unwrap();
    assert_eq!(at("v1").id, v1);
    assert_eq!(at("v2").id, v2);
    assert_eq!(at("HEAD").id, head);
    assert_eq!(at("HEAD~1").id, v2);
    assert_eq!(at("v2~1").id, at("@2").id);
    assert_eq!(at(&v1.to_hex()[..10]).id, v1);
    assert_eq!(at(&v1.to_hex()).id, v1);
    assert_eq!(at("{2999-01-01}").id, head);
    assert!(matches!(
        Pin::new(&root, "{1971-01-01}", None).unwrap().resolve(),
        Err(Error::NotFound { .. })
    ));

    let r = at("v1");
    assert_eq!(
        r.pin.to_string(),
        format!("dstore://{}@{}", abs.display(), v1.to_hex())
    );
    assert!(r.pin.is_full());
    assert_eq!(r.snapshot().unwrap().table("train").unwrap().rows, 10);
    // The canonical pin resolves to itself.
    let again = r.pin.resolve().unwrap();
    assert_eq!((again.id, again.pin.clone()), (v1, r.pin.clone()));

    // Relative paths resolve against the base given.
    let rel = parse("dstore://s.dstore@v2#eval")
        .resolve_from(dir.path())
        .unwrap();
    assert_eq!(rel.id, v2);
    assert_eq!(
        rel.to_string(),
        format!("dstore://{}@{}#eval", abs.display(), v2.to_hex())
    );

    // A table the snapshot does not have, a tag that does not exist, a directory that is not a
    // store: each refused.
    let e = parse("dstore://s.dstore@v1#eval")
        .resolve_from(dir.path())
        .unwrap_err();
    assert!(e.to_string().contains("eval"), "{e}");
    let e = parse("dstore://s.dstore@nosuch")
        .resolve_from(dir.path())
        .unwrap_err();
    assert!(e.to_string().contains("nosuch"), "{e}");
    let e = parse("dstore://elsewhere@v1")
        .resolve_from(dir.path())
        .unwrap_err();
    assert!(matches!(e, Error::NotAStore { .. }), "{e}");
}

fn pins(root: &Path) -> Vec<(String, Pin)> {
    let p = |r: &str, t: Option<&str>| Pin::new(root, r, t.map(str::to_owned)).unwrap();
    vec![
        ("data.train".into(), p("v1", Some("train"))),
        ("data.all".into(), p("v2", None)),
        ("data.head".into(), p("HEAD", None)),
    ]
}

#[test]
fn lock_then_check_and_load() {
    let (dir, store, [v1, v2, head]) = three_commits();
    let pins = pins(store.root());
    let mut lock = LockFile::lock(&pins).unwrap();
    assert_eq!(lock.version, 1);
    let train = lock.get("data.train").unwrap();
    assert_eq!(train.snapshot, v1.to_hex());
    assert_eq!(train.tables.len(), 1, "a table pin locks only its table");
    assert_eq!(train.tables["train"].rows, 10);
    assert_eq!(
        train.requested.as_deref(),
        Some(pins[0].1.to_string().as_str())
    );
    let all = lock.get("data.all").unwrap();
    assert_eq!(all.tables.keys().collect::<Vec<_>>(), ["eval", "train"]);
    assert_eq!((all.tables["train"].rows, all.tables["eval"].rows), (15, 3));
    assert_eq!(lock.get("data.head").unwrap().snapshot, head.to_hex());
    let schema_hash = dstore::lock::schema_blake3(&super::common::schema()).unwrap();
    assert_eq!(all.tables["train"].schema_blake3, schema_hash);
    lock.check().unwrap();

    // Written and read back: the same entries, still checking.
    let path = dir.path().join("dstore.lock");
    lock.write(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# Generated by `dstore lock`"), "{text}");
    assert!(
        text.contains("[pins.\"data.train\".tables.train]"),
        "{text}"
    );
    let read = LockFile::read(&path).unwrap();
    assert_eq!(read.pins, lock.pins);
    assert_eq!(read.path(), Some(path.as_path()));
    read.check().unwrap();
    read.check_config(&pins).unwrap();
    assert_eq!(read.snapshot("data.all").unwrap().id(), v2);
    let e = read.snapshot("data.nope").unwrap_err();
    assert!(e.to_string().contains("data.nope"), "{e}");

    // New commits moving the tags and HEAD: the lock pins full ids, so it still checks.
    commit_batch(
        &store,
        "train",
        WriteMode::Overwrite,
        9,
        7,
        &CommitOptions {
            tags: vec!["v1".into(), "v2".into()],
            force_tags: true,
            ..CommitOptions::message("rewrite")
        },
    )
    .unwrap();
    read.check().unwrap();
    assert_eq!(read.snapshot("data.train").unwrap().id(), v1);
    // Re-locking picks up the new data.
    let relocked = LockFile::lock(&pins).unwrap();
    assert_ne!(relocked.get("data.train").unwrap().snapshot, v1.to_hex());
    assert_eq!(relocked.get("data.train").unwrap().tables["train"].rows, 7);

    // Relative pins lock from the base given, to the same canonical pins.
    let rel = vec![("x".to_owned(), parse("dstore://s.dstore@v1"))];
    let l = LockFile::lock_from(&rel, dir.path()).unwrap();
    assert!(l.get("x").unwrap().pin.starts_with("dstore:///"));
    assert_eq!(
        l.get("x").unwrap().requested.as_deref(),
        Some("dstore://s.dstore@v1")
    );

    // The same name twice is refused.
    let twice = vec![
        pins[0].clone(),
        ("data.train".to_owned(), pins[1].1.clone()),
    ];
    let e = LockFile::lock(&twice).unwrap_err();
    assert!(e.to_string().contains("data.train"), "{e}");
}

/// Asserts `check` refuses as a stale lock, naming each of `needles`.
fn assert_refused(lock: &LockFile, needles: &[&str]) {
    let e = lock.check().expect_err("check should refuse");
    let msg = e.to_string();
    for n in needles {
        assert!(msg.contains(n), "`{msg}` does not mention `{n}`");
    }
    assert!(
        matches!(
            e,
            Error::Lock {
                problem: dstore::error::LockProblem::Stale,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn check_refuses_when_the_store_or_lock_changed() {
    let (dir, store, [v1, _, _]) = three_commits();
    let path = dir.path().join("dstore.lock");
    let mut lock = LockFile::lock(&pins(store.root())).unwrap();
    lock.write(&path).unwrap();
    let original = std::fs::read_to_string(&path).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(original.contains(from), "lock has no `{from}`");
        std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
        LockFile::read(&path).unwrap()
    };

    // Row count edited by hand.
    let l = edit("rows = 10", "rows = 11");
    assert_refused(
        &l,
        &[
            "data.train",
            "table `train`",
            "10 rows in the store",
            "the lock says 11",
            "dstore.lock",
        ],
    );
    assert!(l.snapshot("data.train").is_err());
    assert!(l.snapshot("data.all").is_ok(), "other entries still load");

    // Schema hash edited.
    let hash = dstore::lock::schema_blake3(&super::common::schema()).unwrap();
    let l = edit(&hash, &"0".repeat(64));
    assert_refused(&l, &["table `", "different schema"]);

    // A table removed from an entry, and one added.
    let l = edit(
        "[pins.\"data.all\".tables.eval]",
        "[pins.\"data.all\".tables.evil]",
    );
    assert_refused(
        &l,
        &[
            "data.all",
            "`eval` is in the snapshot but not in the lock",
            "`evil` is in the lock",
        ],
    );

    // The snapshot id edited so it no longer matches the pin.
    let l = edit(
        &format!("snapshot = \"{}\"", v1.to_hex()),
        &format!("snapshot = \"{}\"", "a".repeat(64)),
    );
    assert_refused(&l, &["data.train", "is not the id in `pin`"]);

    // A lock of another version, and one that is not TOML.
    std::fs::write(&path, original.replacen("version = 1", "version = 2", 1)).unwrap();
    let e = LockFile::read(&path).unwrap_err();
    assert!(e.to_string().contains("version 2"), "{e}");
    std::fs::write(&path, "pins = [").unwrap();
    let e = LockFile::read(&path).unwrap_err();
    assert!(e.to_string().contains("dstore.lock"), "{e}");
    std::fs::write(&path, &original).unwrap();
    LockFile::read(&path).unwrap().check().unwrap();

    // The pinned snapshot's manifest removed from the store: refused, offline, naming the entry.
    std::fs::remove_file(manifest_path(store.root(), &v1)).unwrap();
    let l = LockFile::read(&path).unwrap();
    assert_refused(
        &l,
        &[
            "entry `data.train`",
            &v1.short(16),
            "1 locked pin no longer matches",
        ],
    );
    let e = l.snapshot("data.train").unwrap_err();
    assert!(e.to_string().contains("data.train"), "{e}");

    // The store gone altogether.
    let moved = dir.path().join("moved.dstore");
    std::fs::rename(store.root(), &moved).unwrap();
    assert_refused(
        &l,
        &[
            "3 locked pins",
            "data.all",
            "data.head",
            "not a dstore store",
        ],
    );
}

#[test]
fn check_config_notices_an_edited_config() {
    let (_dir, store, _) = three_commits();
    let mut pins = pins(store.root());
    let lock = LockFile::lock(&pins).unwrap();
    lock.check_config(&pins).unwrap();
    pins[0].1 = Pin::new(store.root(), "v2", Some("train".into())).unwrap();
    pins.pop();
    pins.push((
        "data.new".into(),
        Pin::new(store.root(), "HEAD", None).unwrap(),
    ));
    let e = lock.check_config(&pins).unwrap_err();
    let msg = e.to_string();
    for n in [
        "`data.train` is now",
        "@v2#train",
        "`data.new`",
        "`data.head` is in the lock but not in the config",
    ] {
        assert!(msg.contains(n), "`{msg}` does not mention `{n}`");
    }
    assert!(
        matches!(
            e,
            Error::Lock {
                problem: dstore::error::LockProblem::ConfigChanged,
                ..
            }
        ),
        "{e:?}"
    );
}
