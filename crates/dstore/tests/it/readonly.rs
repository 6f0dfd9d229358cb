//! A reader that cannot build the catalog (no write access, or the lock cannot be taken) still
//! resolves every ref, from the log in memory.

use dstore::{CommitOptions, Store};

use super::common::{append, fresh_store};

#[test]
fn refs_resolve_without_a_catalog_when_none_can_be_built() {
    let (_d, store) = fresh_store();
    let first = append(&store, "a", 1, 3);
    store
        .set_tag("v1", &first.id.to_hex(), false, "t")
        .expect("tag");
    let second = append(&store, "a", 2, 4);
    let root = store.root().to_owned();
    std::fs::remove_dir_all(root.join("catalog")).unwrap();
    // Make the lock impossible to take (running as root, permissions alone would not stop us).
    let _ = std::fs::remove_file(root.join("catalog.lock"));
    std::fs::create_dir(root.join("catalog.lock")).unwrap();

    let reader = Store::open(&root).unwrap();
    assert_eq!(reader.resolve("v1").unwrap().id, first.id);
    assert_eq!(reader.resolve("HEAD").unwrap().id, second.id);
    assert_eq!(reader.resolve("HEAD~1").unwrap().id, first.id);
    assert_eq!(reader.resolve(&second.id.short(10)).unwrap().id, second.id);
    assert_eq!(reader.resolve("@1").unwrap().id, first.id);
    assert_eq!(reader.log(10).unwrap().len(), 3);
    assert_eq!(reader.tags().unwrap().len(), 1);
    // Nothing was written: still no catalog.
    assert!(!root.join("catalog").exists());

    // A writer cannot commit without the lock, and says why.
    let mut tx = reader.begin();
    tx.add_reader(
        "a",
        super::common::reader(vec![super::common::batch(9, 2)]),
        &dstore::IngestOptions::default(),
    )
    .unwrap();
    let err = tx.commit(&CommitOptions::message("x")).unwrap_err();
    assert!(err.to_string().contains("catalog.lock"), "{err}");
}
