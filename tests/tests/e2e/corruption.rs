//! Damage to a store: verify finds it (exit 2, naming the object); the catalog is derived and
//! rebuilt; a store written by a newer format is refused.

use dstore_e2e::{Run, Scratch};

use crate::{
    STORE, flights_csvs, flights_jsonl, flip_byte, log_json, new_store, segment_path, store_files,
};

/// A store with two commits on `flights` (tag v1 on the first).
fn two_commit_store() -> (Scratch, std::path::PathBuf) {
    let (s, store) = new_store();
    let [d1, d2] = flights_csvs();
    s.run(&["snapshot", "-t", "flights", &d1, &d2, "--tag", "v1"])
        .ok();
    s.run(&["snapshot", "-t", "flights", &flights_jsonl()]).ok();
    (s, store)
}

fn assert_corruption(r: &Run, needle: &str, what: &str) {
    assert_eq!(
        r.code, 2,
        "{what}: expected exit code 2\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    assert!(
        r.stdout.contains(needle) || r.stderr.contains(needle),
        "{what}: output does not name {needle}\nstdout:\n{}\nstderr:\n{}",
        r.stdout,
        r.stderr
    );
}

/// Segment ids of a table at a ref, from `show --segments --json`.
fn segments_at(s: &Scratch, r: &str) -> Vec<String> {
    let show = s.run(&["show", r, "--segments", "--json"]).json();
    show["tables"][0]["segment_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn flipped_segment_byte_is_found_by_verify() {
    let (s, store) = two_commit_store();
    let v1_segments = segments_at(&s, "v1");
    let head_segments = segments_at(&s, "HEAD");
    assert_eq!(v1_segments.len(), 2);
    let newest = head_segments
        .iter()
        .find(|x| !v1_segments.contains(x))
        .unwrap()
        .clone();
    let victim = segment_path(&store, &newest);
    flip_byte(&victim, None);
    let rel = format!("segments/{}/{newest}.parquet", &newest[..2]);

    let r = s.run(&["verify", "--all"]);
    assert_corruption(&r, &rel, "verify --all");
    assert!(r.stdout.contains("1 problem(s)"), "{}", r.stdout);
    let r = s.run(&["verify"]);
    assert_corruption(&r, &rel, "verify (HEAD)");
    // v1 does not reach the damaged segment.
    s.run(&["verify", "v1"]).ok();
    // Copying the damaged segment out is refused.
    let r = s.run(&["checkout", "--copy", "-o", "out"]);
    assert_corruption(&r, &rel, "checkout --copy");
    // A hard-linked checkout hashes the segment first and refuses it too...
    let r = s.run(&["checkout", "-o", "linked"]);
    assert_corruption(&r, &rel, "checkout (hard links)");
    // ...unless told to trust the store: then only links are made, and verifying the
    // checkout finds the damage.
    s.run(&["checkout", "--no-verify", "-o", "trusted"]).ok();
    let r = s.run(&["verify", "--checkout", "trusted"]);
    assert_eq!(
        r.code, 2,
        "verify --checkout of a damaged link: {}",
        r.stderr
    );
}

#[test]
fn missing_segment_is_found_by_verify() {
    let (s, store) = two_commit_store();
    let id = segments_at(&s, "v1").remove(0);
    std::fs::remove_file(segment_path(&store, &id)).unwrap();
    let r = s.run(&["verify", "--all"]);
    assert_corruption(&r, &id, "verify --all with a segment missing");
}

#[test]
fn deleted_or_damaged_catalog_is_rebuilt() {
    let (s, store) = two_commit_store();
    s.run(&["tag", "release", "HEAD~1"]).ok();
    let log = s.run(&["log"]).ok().to_owned();
    let log_json_before = log_json(&s);
    let head = crate::resolve(&s, "HEAD");

    std::fs::remove_dir_all(store.join("catalog")).unwrap();
    assert_eq!(s.run(&["log"]).ok(), log, "log after deleting the catalog");
    assert!(
        store.join("catalog").is_dir(),
        "the catalog was not rebuilt"
    );
    assert_eq!(crate::resolve(&s, "release"), crate::resolve(&s, "v1"));

    std::fs::remove_dir_all(store.join("catalog")).unwrap();
    let out = s.run(&["reindex"]).ok().to_owned();
    assert!(
        out.contains("Rebuilt the catalog from 3 log records"),
        "{out}"
    );
    assert_eq!(log_json(&s), log_json_before);
    let out = s.run(&["reindex"]).ok().to_owned();
    assert!(out.contains("from 3 log records"), "{out}");

    // Garbage in place of the catalog: rebuilt too.
    std::fs::remove_dir_all(store.join("catalog")).unwrap();
    s.write(&format!("{STORE}/catalog/CURRENT"), "garbage\n");
    s.write(&format!("{STORE}/catalog/MANIFEST-000001"), "garbage\n");
    assert_eq!(s.run(&["log"]).ok(), log, "log with a garbage catalog");
    assert_eq!(crate::resolve(&s, "HEAD"), head);

    // And writing works after a rebuild.
    std::fs::remove_dir_all(store.join("catalog")).unwrap();
    s.write("more.csv", "x\n1\n");
    s.run(&["snapshot", "-t", "more", "more.csv"]).ok();
    assert_eq!(log_json(&s).len(), 4);
    s.run(&["verify", "--all"]).ok();
}

#[test]
fn flipped_log_record_byte_is_found_by_verify() {
    let (s, store) = two_commit_store();
    let rec = store.join("log/00000000000000000002.rec");
    flip_byte(&rec, Some(70));
    let r = s.run(&["verify", "--all"]);
    assert_corruption(
        &r,
        "log/00000000000000000002.rec",
        "verify --all with a damaged record",
    );
    assert!(
        !r.stdout.contains("00000000000000000001.rec"),
        "{}",
        r.stdout
    );
    // Rebuilding the catalog from a damaged log is refused as corruption, naming the record.
    let r = s.run(&["reindex"]);
    assert_corruption(
        &r,
        "log/00000000000000000002.rec",
        "reindex with a damaged record",
    );
}

#[test]
fn flipped_manifest_byte_is_found() {
    let (s, store) = two_commit_store();
    let v1 = crate::resolve(&s, "v1");
    let manifest = store.join(format!("manifests/{}/{v1}.manifest", &v1[..2]));
    flip_byte(&manifest, Some(20));
    let rel = format!("{v1}.manifest");
    let r = s.run(&["show", &v1]);
    assert_corruption(&r, &rel, "show of a damaged manifest");
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    let r = s.run(&["verify", "--all"]);
    assert_corruption(&r, &rel, "verify --all with a damaged manifest");
    // HEAD does not need the old manifest.
    s.run(&["verify", "HEAD"]).ok();
}

#[test]
fn newer_format_version_is_refused() {
    let (s, store) = two_commit_store();
    let marker = store.join("DSTORE");
    let mut b = std::fs::read(&marker).unwrap();
    assert_eq!(&b[..8], b"DSTOREFM");
    assert_eq!(b[8..12], 1u32.to_le_bytes());
    b[8..12].copy_from_slice(&99u32.to_le_bytes());
    std::fs::write(&marker, &b).unwrap();
    let before = store_files(&store);
    s.write("x.csv", "flight_id\n1\n");
    for args in [
        &["log"][..],
        &["show", "HEAD"],
        &["show", "v1"],
        &["verify", "--all"],
        &["tag"],
        &["tag", "new", "HEAD"],
        &["diff", "v1"],
        &["checkout", "-o", "out"],
        &["gc", "--grace", "0s"],
        &["reindex"],
        &["snapshot", "-t", "flights", "x.csv"],
        &["log", "--store", STORE],
    ] {
        let r = s.run(args);
        let what = args.join(" ");
        assert!(r.code > 0, "{what}: exit code {}\n{}", r.code, r.stderr);
        assert!(r.stderr.starts_with("error: "), "{what}: {}", r.stderr);
        assert!(r.stderr.contains("version 99"), "{what}: {}", r.stderr);
        assert!(
            r.stderr.contains("reads versions 1 to 1"),
            "{what}: {}",
            r.stderr
        );
        assert_eq!(
            store_files(&store),
            before,
            "{what} wrote to a store of a newer format"
        );
    }
    assert!(!s.path().join("out").exists());
}

// ---- the corruption matrix ---------------------------------------------------------------

/// Kinds of stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    /// A segment, damaged inside a column chunk (its data pages).
    SegmentData,
    /// A segment, damaged in its Parquet footer.
    SegmentFooter,
    /// A segment list page (`*.seglist`).
    Page,
    /// A snapshot manifest.
    Manifest,
    /// A log record (`log/<seq>.rec`), one in the middle of the log.
    Record,
    /// The format marker `DSTORE`.
    Marker,
    /// The RocksDB catalog directory.
    Catalog,
}

/// Kinds of damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    /// One byte flipped.
    Flip,
    /// Cut to half its length.
    Truncate,
    /// Removed.
    Delete,
    /// Replaced by the bytes of another valid object of the same kind.
    Swap,
}

/// What must happen, per cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// `verify --all` exits 2 naming the object; reads of HEAD fail naming it.
    Detected,
    /// `verify --all` and `checkout` exit 2 naming the object; reads of HEAD either fail naming
    /// it or return exactly the right rows (damage to footer bytes that describe no row: reads
    /// check every column chunk against its hash and the footer's layout against the manifest,
    /// not the footer's other bytes, e.g. statistics the manifest already holds).
    DetectedReadsRightRows,
    /// Log records: `verify --all` exits 2 naming the record. Reads answered from the catalog
    /// (indexed before the damage) stay correct; once the catalog must be rebuilt, reads fail
    /// naming the record.
    DetectedOnRebuild,
    /// Marker: every command refuses the store, naming the marker (`Detected` for verify
    /// is impossible: verify needs to open the store first).
    StoreRefused,
    /// A deleted marker: the directory is no longer a store; commands say so, naming it.
    NotAStore,
    /// The catalog is derived: it is rebuilt from the log and every read stays correct.
    Rebuilt,
    /// The cell does not apply (the reason is in [`MATRIX`]).
    NotApplicable,
}

use Damage::{Delete, Flip, Swap, Truncate};
use Expect::{
    Detected, DetectedOnRebuild, DetectedReadsRightRows, NotAStore, NotApplicable, Rebuilt,
    StoreRefused,
};
use Object::{Catalog, Manifest, Marker, Page, Record, SegmentData, SegmentFooter};

/// Object kind × damage kind. Earlier single-cell tests above (flipped segment byte, missing
/// segment, flipped record, flipped manifest, newer marker, catalog loss) stay as the detailed
/// versions of their cells; this table runs every cell the same way.
const MATRIX: &[(Object, Damage, Expect)] = &[
    (SegmentData, Flip, Detected),
    (SegmentData, Truncate, Detected),
    (SegmentData, Delete, Detected),
    (SegmentData, Swap, Detected),
    (SegmentFooter, Flip, DetectedReadsRightRows),
    // Truncating, deleting or swapping a segment does not target its footer separately: those
    // are the SegmentData rows (a truncated segment loses its footer).
    (SegmentFooter, Truncate, NotApplicable),
    (SegmentFooter, Delete, NotApplicable),
    (SegmentFooter, Swap, NotApplicable),
    (Page, Flip, Detected),
    (Page, Truncate, Detected),
    (Page, Delete, Detected),
    (Page, Swap, Detected),
    (Manifest, Flip, Detected),
    (Manifest, Truncate, Detected),
    (Manifest, Delete, Detected),
    (Manifest, Swap, Detected),
    (Record, Flip, DetectedOnRebuild),
    (Record, Truncate, DetectedOnRebuild),
    (Record, Delete, DetectedOnRebuild),
    (Record, Swap, DetectedOnRebuild),
    // A flipped byte lands in the magic, the version or the reserved word: all refused (the
    // magic here; the version and reserved word in `marker_of_another_version_or_garbage...`).
    (Marker, Flip, StoreRefused),
    (Marker, Truncate, StoreRefused),
    (Marker, Delete, NotAStore),
    // Every version-1 marker has the same 16 bytes, so a swap with another store's marker
    // changes nothing. What does apply — a marker of another version, or garbage — is in
    // `marker_of_another_version_or_garbage_is_refused` and `newer_format_version_is_refused`.
    (Marker, Swap, NotApplicable),
    (Catalog, Flip, Rebuilt),
    (Catalog, Truncate, Rebuilt),
    (Catalog, Delete, Rebuilt),
    // Another store's catalog copied in: its last record does not match this log.
    (Catalog, Swap, Rebuilt),
];

/// A store for one cell: three commits on `flights` (v1 = first), a tag record, and what the
/// reads printed before any damage.
struct Cell {
    s: Scratch,
    store: std::path::PathBuf,
    rows: String,
    log: String,
    head: String,
    v1: String,
}

fn cell_store() -> Cell {
    let (s, store) = two_commit_store();
    s.run(&["tag", "release", "HEAD"]).ok();
    // A third commit on a second table, so HEAD~1 and HEAD have distinct pages and manifests.
    s.write("k.csv", "k\n1\n2\n");
    s.run(&["snapshot", "-t", "k", "k.csv"]).ok();
    let rows = s
        .run(&["cat", "-t", "flights", "--format", "csv"])
        .ok()
        .to_owned();
    let log = s.run(&["log"]).ok().to_owned();
    let head = crate::resolve(&s, "HEAD");
    let v1 = crate::resolve(&s, "v1");
    Cell {
        s,
        store,
        rows,
        log,
        head,
        v1,
    }
}

fn rel_segment(id: &str) -> String {
    format!("segments/{}/{id}.parquet", &id[..2])
}

fn rel_page(id: &str) -> String {
    format!("manifests/{}/{id}.seglist", &id[..2])
}

fn rel_manifest(id: &str) -> String {
    format!("manifests/{}/{id}.manifest", &id[..2])
}

/// Page ids of `flights` at a ref.
fn pages_at(s: &Scratch, r: &str) -> Vec<String> {
    let show = s.run(&["show", r, "--segments", "--json"]).json();
    let t = show["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "flights")
        .unwrap()
        .clone();
    t["pages"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|x| x["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Applies `damage` to the file `victim`; `other` is a valid object of the same kind.
fn damage_file(victim: &std::path::Path, damage: Damage, other: Option<&std::path::Path>) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(victim, std::fs::Permissions::from_mode(0o644));
    match damage {
        Flip => flip_byte(victim, None),
        Truncate => {
            let b = std::fs::read(victim).unwrap();
            std::fs::write(victim, &b[..b.len() / 2]).unwrap();
        }
        Delete => std::fs::remove_file(victim).unwrap(),
        Swap => {
            let o = other.expect("a second object to swap in");
            let b = std::fs::read(o).unwrap();
            assert_ne!(
                b,
                std::fs::read(victim).unwrap(),
                "swap with identical bytes"
            );
            std::fs::write(victim, b).unwrap();
        }
    }
}

/// A failed read: exit code `code`, the object named on stderr, and nothing printed that the
/// undamaged store would not have printed.
fn assert_read_fails(r: &Run, code: i32, needle: &str, good: &str, what: &str) {
    let head: String = r.stdout.chars().take(400).collect();
    assert_eq!(
        r.code, code,
        "{what}: exit code\nstderr:\n{}\nstdout (start):\n{head}",
        r.stderr
    );
    assert!(r.stderr.starts_with("error: "), "{what}: {}", r.stderr);
    assert!(
        r.stderr.contains(needle),
        "{what}: does not name {needle}:\n{}",
        r.stderr
    );
    for line in r.stdout.lines() {
        assert!(
            good.lines().any(|g| g == line),
            "{what}: printed a row the store does not hold: {line}"
        );
    }
}

fn run_cell(object: Object, damage: Damage, expect: Expect) {
    let cell = cell_store();
    let (s, store) = (&cell.s, &cell.store);
    let what = format!("{object:?} × {damage:?}");
    let cat = ["cat", "-t", "flights", "--format", "csv"];
    // Pick the victim (reached from HEAD) and, for swaps, another object of its kind.
    let (victim, other): (String, Option<String>) = match object {
        SegmentData | SegmentFooter => {
            let v1 = segments_at(s, "v1");
            let head = segments_at(s, "HEAD~1");
            let newest = head.iter().find(|x| !v1.contains(x)).unwrap().clone();
            (rel_segment(&newest), Some(rel_segment(&v1[0])))
        }
        Page => (
            rel_page(&pages_at(s, "HEAD")[0]),
            Some(rel_page(&pages_at(s, "v1")[0])),
        ),
        Manifest => (rel_manifest(&cell.head), Some(rel_manifest(&cell.v1))),
        Record => (
            "log/00000000000000000002.rec".into(),
            Some("log/00000000000000000003.rec".into()),
        ),
        Marker => ("DSTORE".into(), None),
        Catalog => ("catalog".into(), None),
    };
    let path = store.join(&victim);
    match (object, damage) {
        (SegmentData, Flip) => {
            // Inside the first column chunk, past the 4-byte magic.
            flip_byte(&path, Some(8));
        }
        (SegmentFooter, Flip) => {
            // The middle of the Thrift footer (row group and column metadata). A flip in bytes
            // no reader interprets (the `created_by` string near its end) is found by verify
            // only; reads then return the right rows, every chunk being checked by its hash.
            let b = std::fs::read(&path).unwrap();
            let n = b.len();
            let footer = u32::from_le_bytes(b[n - 8..n - 4].try_into().unwrap()) as usize;
            flip_byte(&path, Some(n - 8 - footer / 2));
        }
        (Marker, Flip) => {
            // In the magic. A flip in the version word reads as another format version (exit
            // 1, "upgrade dstore"): see `marker_of_another_version_or_garbage_is_refused`.
            flip_byte(&path, Some(2));
        }
        (Record, Swap) => {
            // Two records trade places.
            let next = store.join(other.as_deref().unwrap());
            let mine = std::fs::read(&path).unwrap();
            let theirs = std::fs::read(&next).unwrap();
            std::fs::write(&path, theirs).unwrap();
            std::fs::write(&next, mine).unwrap();
        }
        (Catalog, Flip | Truncate) => {
            for (rel, _) in dstore_e2e::tree(&path) {
                let f = path.join(&rel);
                if std::fs::metadata(&f).unwrap().len() < 2 {
                    continue;
                }
                if damage == Flip {
                    flip_byte(&f, None);
                } else {
                    damage_file(&f, Truncate, None);
                }
            }
        }
        (Catalog, Delete) => std::fs::remove_dir_all(&path).unwrap(),
        (Catalog, Swap) => {
            let (s2, store2) = new_store();
            s2.write("x.csv", "x\n1\n");
            s2.run(&["snapshot", "-t", "x", "x.csv"]).ok();
            s2.run(&["tag", "other"]).ok();
            std::fs::remove_dir_all(&path).unwrap();
            let copy = std::process::Command::new("cp")
                .arg("-r")
                .arg(store2.join("catalog"))
                .arg(&path)
                .status()
                .unwrap();
            assert!(copy.success());
        }
        _ => damage_file(&path, damage, other.map(|o| store.join(o)).as_deref()),
    }

    match expect {
        Detected => {
            let r = s.run(&["verify", "--all"]);
            assert_corruption(&r, &victim, &format!("{what}: verify --all"));
            let r = s.run(&cat);
            assert_read_fails(&r, 2, &victim, &cell.rows, &format!("{what}: cat"));
            let r = s.run(&["checkout", "-o", "out"]);
            assert_read_fails(&r, 2, &victim, "", &format!("{what}: checkout"));
            assert!(
                !s.path()
                    .join("out")
                    .join(dstore::checkout::CHECKOUT_MANIFEST)
                    .exists(),
                "{what}: a checkout was completed"
            );
            if matches!(object, Page | Manifest) {
                let r = s.run(&["show", "HEAD", "--segments", "--json"]);
                assert_read_fails(&r, 2, &victim, "", &format!("{what}: show"));
            }
        }
        DetectedReadsRightRows => {
            let r = s.run(&["verify", "--all"]);
            assert_corruption(&r, &victim, &format!("{what}: verify --all"));
            let r = s.run(&["checkout", "-o", "out"]);
            assert_read_fails(&r, 2, &victim, "", &format!("{what}: checkout"));
            let r = s.run(&cat);
            if r.code == 0 {
                assert!(r.stdout == cell.rows, "{what}: cat returned other rows");
            } else {
                assert_read_fails(&r, 2, &victim, &cell.rows, &format!("{what}: cat"));
            }
        }
        DetectedOnRebuild => {
            let r = s.run(&["verify", "--all"]);
            assert_corruption(&r, &victim, &format!("{what}: verify --all"));
            // Answered from the catalog, indexed before the damage: still the true log.
            let r = s.run(&["log"]);
            if r.code == 0 {
                assert_eq!(r.stdout, cell.log, "{what}: log from the catalog");
            } else {
                assert_read_fails(&r, 2, &victim, &cell.log, &format!("{what}: log"));
            }
            std::fs::remove_dir_all(store.join("catalog")).unwrap();
            let r = s.run(&["log"]);
            assert_read_fails(
                &r,
                2,
                &victim,
                &cell.log,
                &format!("{what}: log, no catalog"),
            );
            let r = s.run(&cat);
            assert_read_fails(
                &r,
                2,
                &victim,
                &cell.rows,
                &format!("{what}: cat, no catalog"),
            );
            // A full id needs no log: the snapshot itself is intact.
            let r = s.run(&["cat", &cell.head, "-t", "flights", "--format", "csv"]);
            assert_eq!(r.ok(), cell.rows, "{what}: cat by full id");
        }
        StoreRefused => {
            let r = s.run(&["verify", "--all"]);
            assert_corruption(&r, "DSTORE", &format!("{what}: verify --all"));
            for args in [&["log"][..], &cat, &["show", &cell.head]] {
                let r = s.run(args);
                assert_read_fails(&r, 2, "DSTORE", "", &format!("{what}: {}", args[0]));
            }
        }
        NotAStore => {
            for args in [
                &["verify", "--store", STORE][..],
                &["log", "--store", STORE],
            ] {
                let r = s.run(args);
                assert_read_fails(
                    &r,
                    1,
                    "no DSTORE marker",
                    "",
                    &format!("{what}: {}", args[0]),
                );
                assert!(r.stderr.contains(STORE), "{what}: {}", r.stderr);
            }
        }
        Rebuilt => {
            assert_eq!(s.run(&["log"]).ok(), cell.log, "{what}: log");
            assert_eq!(s.run(&cat).ok(), cell.rows, "{what}: cat");
            assert_eq!(crate::resolve(s, "v1"), cell.v1, "{what}: v1");
            assert_eq!(crate::resolve(s, "release"), crate::resolve(s, "HEAD~1"));
            s.run(&["verify", "--all"]).ok();
            s.run(&["reindex"]).ok();
            assert_eq!(s.run(&["log"]).ok(), cell.log, "{what}: log after reindex");
        }
        NotApplicable => unreachable!("filtered out"),
    }
}

#[test]
fn corruption_matrix() {
    let objects = [
        SegmentData,
        SegmentFooter,
        Page,
        Manifest,
        Record,
        Marker,
        Catalog,
    ];
    let damages = [Flip, Truncate, Delete, Swap];
    for o in objects {
        for d in damages {
            let n = MATRIX
                .iter()
                .filter(|(mo, md, _)| *mo == o && *md == d)
                .count();
            assert_eq!(n, 1, "cell {o:?} × {d:?} appears {n} times in MATRIX");
        }
    }
    for &(object, damage, expect) in MATRIX {
        if expect != NotApplicable {
            run_cell(object, damage, expect);
        }
    }
}

#[test]
fn marker_of_another_version_or_garbage_is_refused() {
    let (s, store) = two_commit_store();
    let marker = store.join("DSTORE");
    let good = std::fs::read(&marker).unwrap();
    let mut older = good.clone();
    older[8..12].copy_from_slice(&0u32.to_le_bytes());
    let mut reserved = good.clone();
    reserved[12] = 1;
    for (bytes, code, needle) in [
        (older, 1, "format version 0"),
        (reserved, 2, "DSTORE"),
        (b"garbage garbage!".to_vec(), 2, "DSTORE"),
        (b"DSTOREFM".to_vec(), 2, "DSTORE"),
        (Vec::new(), 2, "DSTORE"),
    ] {
        std::fs::write(&marker, &bytes).unwrap();
        for args in [&["log"][..], &["verify", "--all"]] {
            let r = s.run(args);
            assert_read_fails(
                &r,
                code,
                needle,
                "",
                &format!("marker {bytes:?}: {}", args[0]),
            );
            assert!(r.stderr.contains("DSTORE"), "{}", r.stderr);
        }
    }
    std::fs::write(&marker, &good).unwrap();
    s.run(&["verify", "--all"]).ok();
}
