//! Refs: HEAD, HEAD~N, @SEQ, ids and prefixes, tags, --as-of, and unknown refs.

use dstore_e2e::Scratch;

use crate::{assert_user_error, log_json, new_store, resolve, rfc3339_micros};

/// Two commits with a tag event between them: @1 commit (tagged v1), @2 tag `mid` -> @1,
/// @3 commit. Returns (id of @1, time of @1, id of @3, time of @3, time of @2).
fn two_commits() -> (Scratch, String, i64, String, i64, i64) {
    let (s, _) = new_store();
    s.write("a.csv", "id,v\n1,a\n");
    s.write("b.csv", "id,v\n2,b\n");
    s.run(&["snapshot", "-t", "t", "a.csv", "-m", "one", "--tag", "v1"])
        .ok();
    s.run(&["tag", "mid", "HEAD"]).ok();
    s.run(&["snapshot", "-t", "t", "b.csv", "-m", "two"]).ok();
    let log = log_json(&s);
    let kinds: Vec<&str> = log.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["commit", "tag", "commit"]);
    let id = |i: usize| log[i]["snapshot"].as_str().unwrap().to_owned();
    let t = |i: usize| log[i]["time_micros"].as_i64().unwrap();
    // The helper's RFC 3339 agrees with dstore's own (seconds) rendering.
    for r in &log {
        let mine = rfc3339_micros(r["time_micros"].as_i64().unwrap(), 0);
        assert_eq!(format!("{}Z", &mine[..19]), r["time"].as_str().unwrap());
    }
    (s, id(2), t(2), id(0), t(0), t(1))
}

#[test]
fn every_ref_form_resolves() {
    let (s, id1, _, id2, _, _) = two_commits();
    assert_ne!(id1, id2);
    let upper_prefix = id1[..12].to_uppercase();
    let upper_full = id2.to_uppercase();
    let cases: Vec<(&str, &str)> = vec![
        ("HEAD", &id2),
        ("HEAD~0", &id2),
        ("HEAD~1", &id1),
        ("HEAD~", &id1),
        ("@1", &id1),
        ("@3", &id2),
        ("@3~1", &id1),
        (&id1, &id1),
        (&id2, &id2),
        (&id1[..12], &id1),
        (&id2[..12], &id2),
        (&id1[..8], &id1),
        (&upper_prefix, &id1),
        (&upper_full, &id2),
        ("v1", &id1),
        ("mid", &id1),
    ];
    for (r, want) in cases {
        assert_eq!(resolve(&s, r), want, "ref `{r}`");
    }
    // Refs work the same in checkout and diff.
    s.run(&["checkout", "HEAD~1", "-o", "old"]).ok();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path().join("old/dstore-checkout.json")).unwrap())
            .unwrap();
    assert_eq!(m["snapshot"], id1.as_str());
    let out = s.run(&["diff", &id1[..12], "@3"]).ok().to_owned();
    assert!(out.contains("changed  t: rows 1 -> 2 (+1)"), "{out}");
}

#[test]
fn unknown_and_invalid_refs_are_user_errors() {
    let (s, id1, _, id2, _, _) = two_commits();
    // A 12-hex prefix of no snapshot in this store.
    let absent = ["0123456789ab", "fedcba987654", "a1b2c3d4e5f6"]
        .into_iter()
        .find(|p| !id1.starts_with(p) && !id2.starts_with(p))
        .unwrap();
    let absent_full = "ab".repeat(32);
    for r in [
        "nosuchtag",
        "HEAD~2",
        "v1~1",
        "@2",
        "@99",
        "@0",
        "HEAD~x",
        absent,
        absent_full.as_str(),
        "bad..ref",
    ] {
        let run = s.run(&["show", r]);
        assert_user_error(&run, &[], true, &format!("show {r}"));
        assert!(run.stdout.is_empty(), "show {r} printed {}", run.stdout);
    }
    let run = s.run(&["show", "nosuchtag"]);
    assert!(run.stderr.contains("nosuchtag"), "{}", run.stderr);
    let run = s.run(&["show", absent]);
    assert!(run.stderr.contains(absent), "{}", run.stderr);
    // Same for the other commands that take refs.
    for args in [
        &["checkout", "nosuchtag", "-o", "x"][..],
        &["diff", "nosuchtag"],
        &["verify", "nosuchtag"],
        &["tag", "newtag", "nosuchtag"],
    ] {
        assert_user_error(&s.run(args), &["nosuchtag"], true, &args.join(" "));
    }
    assert!(
        !s.path().join("x").exists(),
        "a failed checkout created its directory"
    );
}

#[test]
fn as_of_resolves_by_time() {
    let (s, id1, t1, id2, t2, t_tag) = two_commits();
    assert!(
        t1 <= t_tag && t_tag <= t2,
        "times go back: {t1} {t_tag} {t2}"
    );
    assert!(t2 > t1, "two commits in the same microsecond: {t1}");
    let as_of = |micros: i64, offset: i64| resolve_as_of(&s, &rfc3339_micros(micros, offset));
    assert_eq!(as_of(t1, 0), id1, "exactly at the first commit");
    assert_eq!(as_of(t1 + (t2 - t1) / 2, 0), id1, "between the commits");
    assert_eq!(as_of(t_tag, 0), id1, "at the tag event");
    assert_eq!(as_of(t2 - 1, 0), id1, "just before the second commit");
    assert_eq!(as_of(t2, 0), id2, "exactly at the second commit");
    assert_eq!(as_of(t2 + 3_600_000_000, 0), id2, "an hour later");
    // The same instants written with a UTC offset.
    assert_eq!(as_of(t2 - 1, 90), id1);
    assert_eq!(as_of(t2, -300), id2);
    // A date means the end of that day (UTC).
    let day = &rfc3339_micros(t2, 0)[..10];
    assert_eq!(resolve_as_of(&s, day), id2);
    // Before the first commit: nothing.
    let before = rfc3339_micros(t1 - 1, 0);
    let r = s.run(&["show", "--as-of", &before]);
    assert_user_error(&r, &[], true, "as-of before the first commit");
    let r = s.run(&["show", "--as-of", "yesterday-ish"]);
    assert_user_error(&r, &["yesterday-ish"], true, "as-of with a non-time");
}

/// Too many steps back: the message reads as a sentence (it used to end in "... before the base
/// of that ref not found").
#[test]
fn too_many_steps_back_reads_as_a_sentence() {
    let (s, _, _, _, _, _) = two_commits();
    let r = s.run(&["show", "HEAD~7"]);
    assert_user_error(&r, &["HEAD~7"], true, "show HEAD~7");
    let first = r.stderr.lines().next().unwrap();
    assert!(
        !first.ends_with("of that ref not found"),
        "garbled message: {first}"
    );
}

fn resolve_as_of(s: &Scratch, t: &str) -> String {
    let r = s.run(&["show", "--as-of", t, "--json"]);
    assert_eq!(r.code, 0, "show --as-of {t} failed:\n{}", r.stderr);
    r.json()["snapshot"].as_str().unwrap().to_owned()
}
