//! Bad use of the store itself: commands outside a store, `init` on a busy directory. Bad
//! input files, one test per case, are in `hostile.rs`.

use dstore_e2e::Scratch;

use crate::assert_user_error;

#[test]
fn log_outside_a_store_points_at_init() {
    let s = Scratch::new();
    let r = s.run(&["log"]);
    assert_user_error(&r, &["dstore init"], true, "log outside a store");
    let r = s.run(&["log", "--store", "nowhere"]);
    assert_user_error(
        &r,
        &["nowhere", "dstore init"],
        true,
        "log --store at a missing directory",
    );
    s.write("plain/file.txt", "x");
    let r = s.run(&["show", "--store", "plain"]);
    assert_user_error(&r, &["plain"], true, "show --store at a plain directory");
}

#[test]
fn init_refuses_a_non_empty_directory() {
    let s = Scratch::new();
    s.write("busy/keep.txt", "mine");
    let r = s.run(&["init", "busy"]);
    assert_user_error(&r, &["busy"], true, "init on a non-empty directory");
    assert_eq!(
        dstore_e2e::tree(&s.path().join("busy")),
        [("keep.txt".to_owned(), b"mine".to_vec())]
    );
    // Nor an existing store.
    s.run(&["init", "data.dstore"]).ok();
    let before = dstore_e2e::tree(&s.path().join("data.dstore"));
    let r = s.run(&["init", "data.dstore"]);
    assert_user_error(&r, &["data.dstore"], true, "init on an existing store");
    assert_eq!(dstore_e2e::tree(&s.path().join("data.dstore")), before);
    // An empty directory is fine.
    std::fs::create_dir(s.path().join("empty")).unwrap();
    s.run(&["init", "empty"]).ok();
    assert!(s.path().join("empty/DSTORE").is_file());
}
