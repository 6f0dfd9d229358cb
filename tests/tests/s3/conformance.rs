//! One conformance suite for the storage layer, run against the local filesystem
//! ([`LocalStorage`]) and against the gateway ([`ObjectStorage`]): every backend must behave
//! the same to the engine above it.

use std::io::{Read, Write};

use super::*;

/// A deterministic buffer of `n` bytes (incompressible enough, different per seed).
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut x = u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn suite(s: &dyn Storage) {
    // Missing objects.
    assert!(
        s.get_opt("manifests/00/missing.manifest")
            .unwrap()
            .is_none()
    );
    assert!(s.size("manifests/00/missing.manifest").unwrap().is_none());
    let e = s.get("manifests/00/missing.manifest").unwrap_err();
    assert!(
        e.to_string().contains("missing.manifest"),
        "the error names the object: {e}"
    );

    // Content-addressed put: idempotent.
    let a = bytes(1000, 1);
    s.put("manifests/ab/a.manifest", &a).unwrap();
    s.put("manifests/ab/a.manifest", &a).unwrap();
    assert_eq!(s.get("manifests/ab/a.manifest").unwrap(), a);
    assert_eq!(s.size("manifests/ab/a.manifest").unwrap(), Some(1000));

    // Ranged reads.
    assert_eq!(
        s.get_range("manifests/ab/a.manifest", 10..250).unwrap(),
        &a[10..250]
    );
    assert_eq!(
        s.get_range("manifests/ab/a.manifest", 999..1000).unwrap(),
        &a[999..]
    );
    assert!(
        s.get_range("manifests/ab/a.manifest", 5..5)
            .unwrap()
            .is_empty()
    );

    // Put-if-absent: the first create wins, the second changes nothing.
    assert!(
        s.put_if_absent("log/00000000000000000001.rec", b"first")
            .unwrap()
    );
    assert!(
        !s.put_if_absent("log/00000000000000000001.rec", b"second")
            .unwrap()
    );
    assert_eq!(s.get("log/00000000000000000001.rec").unwrap(), b"first");

    // ... and of eight concurrent creates exactly one wins, and its bytes are what is stored.
    let winners: Vec<u8> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8u8)
            .map(|i| {
                sc.spawn(move || {
                    s.put_if_absent("log/00000000000000000002.rec", &[i])
                        .unwrap()
                        .then_some(i)
                })
            })
            .collect();
        hs.into_iter().filter_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(winners.len(), 1, "exactly one create wins: {winners:?}");
    assert_eq!(s.get("log/00000000000000000002.rec").unwrap(), [winners[0]]);

    // Listing: recursive under a directory prefix, sorted, sizes right, nothing from a
    // sibling prefix that merely starts with the same letters.
    s.put("logx/other", b"x").unwrap();
    let listed: Vec<(String, u64)> = s
        .list("log/")
        .unwrap()
        .into_iter()
        .map(|m| (m.key, m.size))
        .collect();
    assert_eq!(
        listed,
        [
            ("log/00000000000000000001.rec".to_owned(), 5),
            ("log/00000000000000000002.rec".to_owned(), 1)
        ]
    );
    assert!(s.list("nothing-here/").unwrap().is_empty());
    // Listing after a key (object storage lists; a local store probes instead).
    if let Some(after) = s
        .list_after("log/", "log/00000000000000000001.rec")
        .unwrap()
    {
        assert_eq!(after, ["log/00000000000000000002.rec"]);
        assert!(
            s.list_after("log/", "log/00000000000000000002.rec")
                .unwrap()
                .unwrap()
                .is_empty()
        );
    }
    // Several objects at once, in order, a missing one as None.
    let keys = [
        "log/00000000000000000002.rec".to_owned(),
        "log/00000000000000000009.rec".to_owned(),
        "log/00000000000000000001.rec".to_owned(),
    ];
    assert_eq!(
        s.get_many(&keys).unwrap(),
        [Some(vec![winners[0]]), None, Some(b"first".to_vec())]
    );

    // Delete: gone, and deleting again is fine.
    s.delete("logx/other").unwrap();
    s.delete("logx/other").unwrap();
    assert!(s.get_opt("logx/other").unwrap().is_none());

    // A staged large object (over the multipart threshold for object storage), placed under
    // its key and read back whole and in part.
    let big = bytes(dstore::storage::MULTIPART_THRESHOLD as usize + 3_000_001, 7);
    place(s, &big, "segments/cd/big.parquet");
    assert_eq!(
        s.size("segments/cd/big.parquet").unwrap(),
        Some(big.len() as u64)
    );
    let mid = big.len() as u64 / 2;
    assert_eq!(
        s.get_range("segments/cd/big.parquet", mid..mid + 4096)
            .unwrap(),
        &big[mid as usize..mid as usize + 4096]
    );
    let mut back = Vec::new();
    s.open_read("segments/cd/big.parquet")
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert!(back == big, "open_read returns the object's bytes");

    // Placing the same key again keeps the object there (a content-addressed name holds one
    // content): staged bytes that differ are dropped, not written over it.
    place(s, &bytes(big.len(), 8), "segments/cd/big.parquet");
    assert_eq!(
        s.get_range("segments/cd/big.parquet", mid..mid + 4096)
            .unwrap(),
        &big[mid as usize..mid as usize + 4096],
        "the existing object was kept"
    );
}

/// Stages `data` and places it under `key`, as an ingest does.
fn place(s: &dyn Storage, data: &[u8], key: &str) {
    let mut staged = s.stage().unwrap();
    staged.file().write_all(data).unwrap();
    s.sync_staged(&mut staged).unwrap();
    s.put_staged(staged, key, true).unwrap();
}

#[test]
fn local_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, _) = local_store(dir.path());
    suite(&storage);
}

#[test]
fn gateway() {
    let Some(env) = s3() else { return };
    let dir = tempfile::tempdir().unwrap();
    let storage = remote_storage(&env, "conformance", dir.path());
    suite(&storage);
    let c = storage.counts();
    assert!(c.puts.load(Ordering::Relaxed) > 0 && c.gets.load(Ordering::Relaxed) > 0);
}
