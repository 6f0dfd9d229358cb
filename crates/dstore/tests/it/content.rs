//! Content addressing: the same data gets the same segment and snapshot ids in any store,
//! whatever the history, message, author or time; different data gets different ids.

use dstore::{CommitOptions, IngestOptions, Store, WriteMode, format::SegmentEntry};

use super::common::{self, append, commit_batch, fresh_store};

fn segments(store: &Store, id: &dstore::SnapshotId, table: &str) -> Vec<SegmentEntry> {
    store
        .snapshot(id)
        .expect("snapshot")
        .segments(table)
        .expect("segments")
}

#[test]
fn same_batches_same_ids_in_two_fresh_stores() {
    let (_d1, s1) = fresh_store();
    let (_d2, s2) = fresh_store();
    // (table, mode, seed, rows)
    let steps = [
        ("a", WriteMode::Append, 1, 3),
        ("b", WriteMode::Append, 2, 2),
        ("a", WriteMode::Append, 3, 1),
        ("b", WriteMode::Overwrite, 4, 5),
        ("a", WriteMode::Append, 1, 3),
    ];
    for (i, (table, mode, seed, rows)) in steps.into_iter().enumerate() {
        let o1 =
            commit_batch(&s1, table, mode, seed, rows, &CommitOptions::message("one")).unwrap();
        // Message, author and tags are in the log record, not in the snapshot.
        let opts2 = CommitOptions {
            message: format!("another message {i}"),
            author: "someone else".into(),
            tags: vec![format!("t{i}")],
            force_tags: false,
            upstream: Vec::new(),
        };
        let o2 = commit_batch(&s2, table, mode, seed, rows, &opts2).unwrap();
        assert_eq!(o1.id, o2.id, "step {i}: snapshot ids");
        assert_eq!(o1.seq, o2.seq, "step {i}: seqs");
        assert_eq!(o1.changes, o2.changes, "step {i}: changes");
        assert_eq!(
            segments(&s1, &o1.id, table),
            segments(&s2, &o2.id, table),
            "step {i}"
        );
    }
    // The segment files are byte for byte the same.
    let h1 = s1.resolve("HEAD").unwrap().id;
    for t in ["a", "b"] {
        for e in segments(&s1, &h1, t) {
            let b1 = std::fs::read(common::segment_path(s1.root(), &e.id)).unwrap();
            let b2 = std::fs::read(common::segment_path(s2.root(), &e.id)).unwrap();
            assert_eq!(b1, b2, "segment {}", e.id);
            assert_eq!(
                dstore::SegmentId::of(&b1),
                e.id,
                "a segment is named by its BLAKE3"
            );
        }
    }
    let m = std::fs::read(common::manifest_path(s1.root(), &h1)).unwrap();
    assert_eq!(
        dstore::SnapshotId::of(&m),
        h1,
        "a snapshot is named by its manifest's BLAKE3"
    );
}

#[test]
fn one_transaction_or_two_commits_give_the_same_table() {
    // Two batches in one transaction: two segments, one commit.
    let (_d1, one) = fresh_store();
    let mut tx = one.begin();
    for seed in [7, 8] {
        tx.add_reader(
            "t",
            common::reader(vec![common::batch(seed, 4)]),
            &IngestOptions::default(),
        )
        .unwrap();
    }
    let single = tx.commit(&CommitOptions::message("both")).unwrap();
    // The same batches in two commits.
    let (_d2, two) = fresh_store();
    let first = append(&two, "t", 7, 4);
    let second = append(&two, "t", 8, 4);

    assert_eq!(one.log(usize::MAX).unwrap().len(), 1);
    assert_eq!(two.log(usize::MAX).unwrap().len(), 2, "a different history");
    assert_ne!(first.id, second.id);
    let l1 = segments(&one, &single.id, "t");
    let l2 = segments(&two, &second.id, "t");
    assert_eq!(l1.len(), 2);
    assert_eq!(l1, l2, "the same segments in the same order");
    assert_eq!(
        common::segment_values(one.root(), &l1[0].id, "x")[0],
        7_000_000
    );
    assert_eq!(
        common::segment_values(one.root(), &l1[1].id, "x")[0],
        8_000_000
    );
    // Pages are cut at fixed positions, so the same list is the same manifest.
    assert_eq!(single.id, second.id, "same table content, same snapshot id");
    assert_eq!(two.resolve("HEAD~1").unwrap().id, first.id);

    // One reader yielding both batches writes one segment: different content, different id.
    let (_d3, three) = fresh_store();
    let mut tx = three.begin();
    let r = common::reader(vec![common::batch(7, 4), common::batch(8, 4)]);
    tx.add_reader("t", r, &IngestOptions::default()).unwrap();
    let merged = tx.commit(&CommitOptions::message("one reader")).unwrap();
    let l3 = segments(&three, &merged.id, "t");
    assert_eq!(l3.len(), 1);
    assert_eq!(l3[0].rows, 8);
    assert_ne!(merged.id, single.id);
}

#[test]
fn order_of_tables_does_not_change_the_snapshot() {
    let (_d1, s1) = fresh_store();
    let (_d2, s2) = fresh_store();
    append(&s1, "a", 1, 1);
    let x = append(&s1, "b", 2, 2);
    append(&s2, "b", 2, 2);
    let y = append(&s2, "a", 1, 1);
    assert_eq!(x.id, y.id);
    // In one transaction, in either order of adding.
    let (_d3, s3) = fresh_store();
    let mut tx = s3.begin();
    tx.add_reader(
        "b",
        common::reader(vec![common::batch(2, 2)]),
        &IngestOptions::default(),
    )
    .unwrap();
    tx.add_reader(
        "a",
        common::reader(vec![common::batch(1, 1)]),
        &IngestOptions::default(),
    )
    .unwrap();
    let z = tx.commit(&CommitOptions::message("both")).unwrap();
    assert_eq!(z.id, x.id);
    let names: Vec<&str> = z.changes.iter().map(|c| c.table.as_str()).collect();
    assert_eq!(names, ["a", "b"], "changes are sorted by table");
}

#[test]
fn returning_to_earlier_content_returns_to_the_earlier_id() {
    let (_d, store) = fresh_store();
    let c1 = append(&store, "t", 1, 2);
    let c2 = append(&store, "t", 2, 2);
    assert_ne!(c1.id, c2.id);
    // Overwriting with the first batch again: the first snapshot again.
    let c3 = commit_batch(
        &store,
        "t",
        WriteMode::Overwrite,
        1,
        2,
        &CommitOptions::message("back"),
    )
    .unwrap();
    assert_eq!(c3.id, c1.id);
    assert!(!c3.unchanged, "HEAD changed");
    assert_eq!(c3.seq, 3);
    // The same again changes nothing but is still recorded.
    let c4 = commit_batch(
        &store,
        "t",
        WriteMode::Overwrite,
        1,
        2,
        &CommitOptions::message("same"),
    )
    .unwrap();
    assert_eq!(c4.id, c1.id);
    assert!(c4.unchanged, "nothing changed");
    assert_eq!(c4.seq, 4);
    // Refs to the snapshot name its first commit; HEAD and @N name their own.
    let head = store.resolve("HEAD").unwrap();
    assert_eq!((head.id, head.seq), (c1.id, Some(4)));
    assert_eq!(store.resolve("@3").unwrap().seq, Some(3));
    assert_eq!(store.resolve(&c1.id.short(10)).unwrap().seq, Some(1));
    assert_eq!(store.resolve(&c1.id.to_hex()).unwrap().id, c1.id);
    assert_eq!(store.resolve("HEAD~1").unwrap().seq, Some(3));
    assert_eq!(store.resolve("HEAD~2").unwrap().id, c2.id);
    let (rec, _) = store.describe(&c1.id).unwrap();
    assert_eq!(rec.map(|r| r.seq), Some(1));
    // The diff between equal snapshots is empty; between different ones it names the segments.
    let s1 = store.snapshot(&c1.id).unwrap();
    let s2 = store.snapshot(&c2.id).unwrap();
    assert!(
        dstore::snapshot::diff(&s1, &store.snapshot(&c3.id).unwrap())
            .unwrap()
            .is_empty()
    );
    let d = dstore::snapshot::diff(&s1, &s2).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].rows, (2, 4));
    let added: Vec<_> = s2.segments("t").unwrap()[1..]
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(d[0].segments_added, added);
    assert!(d[0].segments_removed.is_empty());
}
