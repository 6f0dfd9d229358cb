//! Segment lists longer than a page: pages are cut at fixed positions whatever history made
//! the list, so the same list gives the same pages and the same snapshot id.

use dstore::format::PAGE_SEGMENTS;
use dstore::{CommitOptions, IngestOptions};

use super::common::{self, append, fresh_store};

const N: usize = PAGE_SEGMENTS + 2;

#[test]
fn pages_are_canonical_whatever_the_history() {
    // One commit per segment.
    let (_d1, many) = fresh_store();
    let mut outcomes = Vec::new();
    for i in 0..N {
        outcomes.push(append(&many, "t", i as u64, 1));
    }
    // The same segments in one transaction.
    let (_d2, one) = fresh_store();
    let mut tx = one.begin();
    for i in 0..N {
        tx.add_reader(
            "t",
            common::reader(vec![common::batch(i as u64, 1)]),
            &IngestOptions::default(),
        )
        .expect("add");
    }
    let single = tx
        .commit(&CommitOptions::message("all at once"))
        .expect("commit");

    let head = many.resolve("HEAD").expect("HEAD");
    assert_eq!(head.seq, Some(N as u64));
    assert_eq!(head.id, outcomes[N - 1].id);
    let snap = many.snapshot(&head.id).expect("snapshot");
    let table = snap.table("t").expect("table");
    assert_eq!(table.segments, N as u64);
    assert_eq!(table.rows, N as u64);
    let page_sizes: Vec<u32> = table.pages.iter().map(|p| p.segments).collect();
    assert_eq!(page_sizes, [PAGE_SEGMENTS as u32, 2], "pages of the table");

    // segments() returns all of them in commit order.
    let segs = snap.segments("t").expect("segments");
    assert_eq!(segs.len(), N);
    for (i, e) in segs.iter().enumerate() {
        assert_eq!(
            common::segment_values(many.root(), &e.id, "x"),
            [i as i64 * 1_000_000],
            "segment {i} holds the data of commit {}",
            i + 1
        );
    }

    // The same list from one transaction: the same pages, the same snapshot.
    let snap1 = one.snapshot(&single.id).expect("snapshot");
    assert_eq!(snap1.table("t").unwrap().pages, table.pages, "page refs");
    assert_eq!(snap1.segments("t").unwrap(), segs, "segment entries");
    assert_eq!(single.id, head.id, "same segments, same snapshot id");

    // An append rewrites only the last page: the full first page is shared with the snapshot
    // that first filled it.
    let at_full = many
        .snapshot(&outcomes[PAGE_SEGMENTS - 1].id)
        .expect("snapshot");
    let full_pages = &at_full.table("t").unwrap().pages;
    assert_eq!(full_pages.len(), 1);
    assert_eq!(full_pages[0].segments, PAGE_SEGMENTS as u32);
    assert_eq!(full_pages[0], table.pages[0]);
    let before_full = many
        .snapshot(&outcomes[PAGE_SEGMENTS - 2].id)
        .expect("snapshot");
    assert_eq!(before_full.table("t").unwrap().pages.len(), 1);
    assert_eq!(
        before_full.table("t").unwrap().pages[0].segments,
        PAGE_SEGMENTS as u32 - 1
    );
    let after_full = many
        .snapshot(&outcomes[PAGE_SEGMENTS].id)
        .expect("snapshot");
    let pages = &after_full.table("t").unwrap().pages;
    assert_eq!(
        pages.iter().map(|p| p.segments).collect::<Vec<_>>(),
        [PAGE_SEGMENTS as u32, 1]
    );
    assert_eq!(pages[0], table.pages[0]);

    // Every snapshot of the history verifies, each page counted once.
    let report = common::verify_all(&many).expect("verify");
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.snapshots, N as u64);
    assert_eq!(report.files, N as u64);
    // Distinct pages: one per snapshot up to the one that filled the first page, then one new
    // last page per snapshot after it.
    assert_eq!(report.pages, N as u64);
}
