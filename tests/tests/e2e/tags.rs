//! Tags: name rules, moving only with --force (recorded in the log), deleting.

use serde_json::{Value, json};

use crate::{assert_store_unchanged, assert_user_error, log_json, new_store, resolve, store_files};

#[test]
fn invalid_tag_names_are_refused() {
    let (s, store) = new_store();
    s.write("a.csv", "id\n1\n");
    s.run(&["snapshot", "-t", "t", "a.csv"]).ok();
    let before = store_files(&store);
    let long = "a".repeat(256);
    for name in [
        "a..b",
        "/x",
        "x/",
        "has space",
        "",
        long.as_str(),
        "a~1",
        "HEAD",
        "deadbeef",
        "x:y",
        "@x",
    ] {
        let r = s.run(&["tag", name, "HEAD"]);
        assert_user_error(&r, &["invalid tag name"], true, &format!("tag {name:?}"));
        assert_store_unchanged(&store, &before, &format!("tag {name:?}"));
    }
    assert_eq!(log_json(&s).len(), 1);
    // The longest allowed name, and a slash inside, are fine.
    let longest = "g".repeat(255);
    s.run(&["tag", &longest]).ok();
    s.run(&["tag", "release/3"]).ok();
    assert_eq!(resolve(&s, "release/3"), resolve(&s, &longest));
}

#[test]
fn snapshot_with_invalid_tag_leaves_store_unchanged() {
    let (s, store) = new_store();
    s.write("a.csv", "id\n1\n");
    s.write("b.csv", "id\n2\n");
    s.run(&["snapshot", "-t", "t", "a.csv"]).ok();
    let before = store_files(&store);
    let r = s.run(&["snapshot", "-t", "t", "b.csv", "--tag", "a..b"]);
    assert_user_error(&r, &["a..b"], true, "snapshot --tag a..b");
    assert_store_unchanged(&store, &before, "snapshot --tag a..b");
}

#[test]
fn moving_a_tag_needs_force_and_is_logged() {
    let (s, _) = new_store();
    s.write("a.csv", "id\n1\n");
    s.write("b.csv", "id\n2\n");
    s.run(&["snapshot", "-t", "t", "a.csv", "--tag", "v1"]).ok();
    s.run(&["snapshot", "-t", "t", "b.csv"]).ok();
    let id1 = resolve(&s, "HEAD~1");
    let id2 = resolve(&s, "HEAD");

    // Without --force: refused, tag unchanged, nothing logged.
    let r = s.run(&["tag", "v1", "HEAD"]);
    assert_user_error(
        &r,
        &["v1", "already exists"],
        true,
        "re-tag without --force",
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(resolve(&s, "v1"), id1);
    assert_eq!(log_json(&s).len(), 2);

    // With --force: moved, and the log has a tag record naming the previous target.
    let out = s.run(&["tag", "v1", "HEAD", "--force"]).ok().to_owned();
    assert!(out.contains("as v1"), "{out}");
    assert_eq!(resolve(&s, "v1"), id2);
    let log = log_json(&s);
    assert_eq!(log.len(), 3);
    assert_eq!(log[0]["kind"], "tag");
    assert_eq!(log[0]["tag"], "v1");
    assert_eq!(log[0]["target"], id2.as_str());
    assert_eq!(log[0]["previous"], id1.as_str());
    let text = s.run(&["log", "-n", "1"]).ok().to_owned();
    assert!(
        text.contains(&format!("tag v1 moved {} -> {}", &id1[..12], &id2[..12])),
        "{text}"
    );

    // A tag on HEAD~1 by ref, then delete it.
    s.run(&["tag", "old", "HEAD~1"]).ok();
    assert_eq!(resolve(&s, "old"), id1);
    let out = s.run(&["tag", "-d", "old"]).ok().to_owned();
    assert!(out.contains("Deleted tag old"), "{out}");
    let log = log_json(&s);
    assert_eq!(log[0]["kind"], "tag");
    assert_eq!(log[0]["tag"], "old");
    assert_eq!(log[0]["target"], Value::Null);
    assert_eq!(log[0]["previous"], id1.as_str());
    assert_user_error(
        &s.run(&["show", "old"]),
        &["old"],
        true,
        "show a deleted tag",
    );
    assert_user_error(
        &s.run(&["tag", "-d", "old"]),
        &["old"],
        true,
        "delete a deleted tag",
    );
    assert_eq!(
        s.run(&["tag", "--json"]).json(),
        json!([{"tag": "v1", "snapshot": id2, "seq": 2}])
    );
    // A deleted tag can be created again without --force.
    s.run(&["tag", "old", "@1"]).ok();
    assert_eq!(resolve(&s, "old"), id1);

    // snapshot --tag of an existing tag moves it only with --force.
    s.write("c.csv", "id\n3\n");
    s.run(&["snapshot", "-t", "t", "c.csv", "--tag", "v1", "--force"])
        .ok();
    let id3 = resolve(&s, "HEAD");
    assert_eq!(resolve(&s, "v1"), id3);
    s.run(&["verify", "--all"]).ok();
}

/// A commit refused because its tag exists must not leave its segments behind.
#[test]
fn snapshot_with_existing_tag_leaves_store_unchanged() {
    let (s, store) = new_store();
    s.write("a.csv", "id\n1\n");
    s.write("b.csv", "id\n2\n");
    s.run(&["snapshot", "-t", "t", "a.csv", "--tag", "v1"]).ok();
    let id1 = resolve(&s, "v1");
    let before = store_files(&store);
    let r = s.run(&["snapshot", "-t", "t", "b.csv", "--tag", "v1"]);
    assert_user_error(
        &r,
        &["v1", "already exists"],
        true,
        "snapshot --tag of an existing tag",
    );
    assert_eq!(resolve(&s, "v1"), id1);
    assert_eq!(log_json(&s).len(), 1);
    assert_store_unchanged(&store, &before, "snapshot --tag of an existing tag");
}
