//! A store on the Ceph gateway, driven through the CLI and the library.

use std::fmt::Write as _;
use std::sync::Arc;

use super::*;

fn rows_at(s: &Scratch, url: &str, cache: &str, r: &str, table: &str) -> u64 {
    let show = remote_run(s, url, cache, &["show", r, "--json"]).json();
    show["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"] == table)
        .unwrap_or_else(|| panic!("no table `{table}` at {r}: {show}"))["rows"]
        .as_u64()
        .expect("rows")
}

/// Keys under `prefix` of the store at `url`.
fn keys(env: &S3Env, url: &str, prefix: &str) -> Vec<String> {
    let _ = env;
    let dir = tempfile::tempdir().unwrap();
    let s = ObjectStorage::new(url, &opts(dir.path()), dir.path().join("c")).unwrap();
    s.list(prefix).unwrap().into_iter().map(|m| m.key).collect()
}

/// init, snapshot, log, show, cat, verify, checkout, pin: the everyday commands on an s3://
/// store, and what they leave in the bucket.
#[test]
fn cli_round_trip() {
    let Some(env) = s3() else { return };
    let s = Scratch::new();
    let url = unique_url(&env, "cli");
    let [day1, day2] = [
        fixture("flights/2026-11-01.csv"),
        fixture("flights/2026-11-02.csv"),
    ];
    let init = remote_run(&s, &url, "a", &["init", &url]);
    assert!(init.ok().contains(&url), "{}", init.stdout);
    // The bucket holds the marker and nothing else yet.
    assert_eq!(keys(&env, &url, ""), ["DSTORE"]);
    // A second init of the same URL is refused.
    let again = remote_run(&s, &url, "b", &["init", &url]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    remote_run(
        &s,
        &url,
        "a",
        &[
            "snapshot", "-t", "flights", &day1, "-m", "day 1", "--tag", "v1",
        ],
    )
    .ok();
    remote_run(
        &s,
        &url,
        "a",
        &["snapshot", "-t", "flights", &day2, "-m", "day 2"],
    )
    .ok();
    assert_eq!(rows_at(&s, &url, "a", "HEAD", "flights"), 3000);
    assert_eq!(rows_at(&s, &url, "a", "v1", "flights"), 1500);
    let log = log_json(&s, &url, "a");
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["message"], "day 2");

    // Identical data again: a new commit, not a new segment.
    let segments_before = keys(&env, &url, "segments/");
    remote_run(
        &s,
        &url,
        "a",
        &["snapshot", "-t", "flights", &day2, "--mode", "overwrite"],
    )
    .ok();
    let segments_after = keys(&env, &url, "segments/");
    assert_eq!(segments_before, segments_after);

    // cat reads through range requests; verify re-hashes every object in the bucket.
    let cat = remote_run(
        &s,
        &url,
        "a",
        &["cat", "v1", "-t", "flights", "--format", "csv"],
    );
    assert_eq!(cat.ok().lines().count(), 1501, "header + 1500 rows");
    remote_run(&s, &url, "a", &["verify", "--all"]).ok();
    // gc in a bucket: the overwritten table's segments stay (older snapshots name them), and
    // an unreferenced object past the grace period goes.
    let stray = "segments/ff/".to_owned() + &"f".repeat(64) + ".parquet";
    {
        let dir = tempfile::tempdir().unwrap();
        let raw = ObjectStorage::new(&url, &opts(dir.path()), dir.path().join("c")).unwrap();
        raw.put(&stray, b"not referenced").unwrap();
    }
    let gc = remote_run(&s, &url, "a", &["--json", "gc", "--grace", "0s"]).json();
    assert!(gc.to_string().contains(&"f".repeat(64)), "{gc}");
    assert!(!keys(&env, &url, "segments/").contains(&stray));
    assert_eq!(keys(&env, &url, "segments/"), segments_after);
    remote_run(&s, &url, "a", &["verify", "--all"]).ok();

    // Checkout downloads and verifies; each file hashes to its segment's name.
    remote_run(&s, &url, "a", &["checkout", "v1", "-o", "out"]).ok();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(s.path().join("out/dstore-checkout.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["store"], url.as_str());
    let files = manifest["tables"]["flights"]["files"].as_array().unwrap();
    assert!(!files.is_empty());
    for f in files {
        let bytes = std::fs::read(s.path().join("out").join(f["path"].as_str().unwrap())).unwrap();
        assert_eq!(
            blake3::hash(&bytes).to_hex().as_str(),
            f["segment"].as_str().unwrap()
        );
    }

    // A pin names the store by URL and resolves from another "machine" (cache).
    let pin = remote_run(&s, &url, "a", &["pin", "v1", "--table", "flights"]);
    let pin = pin.ok().trim().to_owned();
    assert!(pin.starts_with(&format!("dstore://{url}@")), "{pin}");
    assert!(pin.ends_with("#flights"), "{pin}");
    let p: dstore::Pin = pin.parse().unwrap();
    assert_eq!(p.store_url(), Some(url.as_str()));
    let resolved = p.resolve().unwrap();
    assert_eq!(resolved.pin.to_string(), pin);
}

/// The catalog of a remote store is a local cache: a second client builds its own from the
/// log, and deleting one costs only time.
#[test]
fn a_lost_cache_costs_only_time() {
    let Some(env) = s3() else { return };
    let s = Scratch::new();
    let url = unique_url(&env, "cache");
    remote_run(&s, &url, "a", &["init", &url]).ok();
    for i in 0..3 {
        let f = s.write(&format!("in{i}.csv"), format!("id,v\n{i},x{i}\n"));
        remote_run(&s, &url, "a", &["snapshot", "-t", "t", f.to_str().unwrap()]).ok();
    }
    let from_a = log_json(&s, &url, "a");
    let from_b = log_json(&s, &url, "b");
    assert_eq!(from_a, from_b, "a fresh cache sees the same log");
    std::fs::remove_dir_all(s.path().join("cache-a")).unwrap();
    assert_eq!(log_json(&s, &url, "a"), from_b);
    assert_eq!(rows_at(&s, &url, "a", "HEAD", "t"), 3);
    // Each cache is keyed by the URL and says which store it belongs to.
    let dirs: Vec<_> = std::fs::read_dir(s.path().join("cache-b"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1);
    assert_eq!(
        std::fs::read_to_string(dirs[0].join("url")).unwrap().trim(),
        url
    );
}

/// Two "machines" (processes with separate caches) commit to one store at once, five
/// commits each: every commit lands, the sequence is dense, nothing is lost.
#[test]
fn two_machines_commit_concurrently() {
    const EACH: u64 = 5;
    let Some(env) = s3() else { return };
    let s = Scratch::new();
    let url = unique_url(&env, "race");
    remote_run(&s, &url, "setup", &["init", &url]).ok();
    let mut files = Vec::new();
    for m in ["a", "b"] {
        for i in 0..EACH {
            let mut csv = String::from("id,machine\n");
            for r in 0..=i {
                writeln!(csv, "{r},{m}").unwrap();
            }
            files.push((m, i, s.write(&format!("{m}{i}.csv"), csv)));
        }
    }
    std::thread::scope(|sc| {
        for m in ["a", "b"] {
            let files = &files;
            let s = &s;
            let url = &url;
            sc.spawn(move || {
                for (_, i, f) in files.iter().filter(|(mm, _, _)| *mm == m) {
                    let r = remote_run(
                        s,
                        url,
                        m,
                        &[
                            "snapshot",
                            "-t",
                            "t",
                            f.to_str().unwrap(),
                            "-m",
                            &format!("{m} {i}"),
                        ],
                    );
                    assert_eq!(r.code, 0, "machine {m} commit {i}:\n{}", r.stderr);
                }
            });
        }
    });
    let log = log_json(&s, &url, "c");
    let mut seqs: Vec<u64> = log.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=2 * EACH).collect::<Vec<_>>(), "dense: {log:?}");
    let mut messages: Vec<String> = log
        .iter()
        .map(|r| r["message"].as_str().unwrap().to_owned())
        .collect();
    messages.sort();
    let mut want: Vec<String> = ["a", "b"]
        .iter()
        .flat_map(|m| (0..EACH).map(move |i| format!("{m} {i}")))
        .collect();
    want.sort();
    assert_eq!(messages, want, "every commit landed once");
    let total: u64 = 2 * (1..=EACH).sum::<u64>();
    assert_eq!(
        rows_at(&s, &url, "c", "HEAD", "t"),
        total,
        "no commit's rows lost"
    );
    remote_run(&s, &url, "c", &["verify", "--all"]).ok();
}

/// The gateway is stopped in the middle of a segment's multipart upload and started again:
/// the upload's retries carry the commit through, and no object the log names is partial.
#[test]
fn gateway_stopped_mid_upload() {
    let Some(env) = s3_exclusive() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = unique_url(&env, "outage");
    let o = opts(dir.path());
    Store::init_url(&url, &o).unwrap();
    let store = Store::open_url(&url, &o).unwrap();

    // A Parquet file large enough for a multipart upload of several parts.
    let rows = 3_000_000usize;
    let ids =
        arrow::array::Int64Array::from_iter_values((0..rows as i64).map(|i| i * 7919 % 1_000_003));
    let vals = arrow::array::Float64Array::from_iter_values((0..rows).map(|i| (i as f64).sin()));
    let batch = arrow::array::RecordBatch::try_from_iter([
        ("id", Arc::new(ids) as arrow::array::ArrayRef),
        ("v", Arc::new(vals) as arrow::array::ArrayRef),
    ])
    .unwrap();
    let input = dir.path().join("big.parquet");
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::UNCOMPRESSED)
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&input).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let size = std::fs::metadata(&input).unwrap().len();
    assert!(
        size > 2 * dstore::storage::MULTIPART_THRESHOLD,
        "{size} bytes"
    );

    // Stop the gateway when the second part is handed to the upload; start it again 3 s
    // later, from another thread, while the upload retries.
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let restarter: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>> = Arc::default();
    {
        let stopped = stopped.clone();
        let restarter = restarter.clone();
        let storage = (store.storage() as &dyn std::any::Any)
            .downcast_ref::<ObjectStorage>()
            .expect("remote store");
        storage.set_part_hook(move |part| {
            if part == 2 && !stopped.swap(true, Ordering::SeqCst) {
                // SIGKILL, like a crash: parts in flight are cut off.
                let st = Command::new(ceph_script())
                    .args(["gateway-stop", "--kill"])
                    .status()
                    .unwrap();
                assert!(st.success(), "scripts/ceph.sh gateway-stop --kill");
                *restarter.lock().unwrap() = Some(std::thread::spawn(|| {
                    std::thread::sleep(Duration::from_secs(3));
                    let st = Command::new(ceph_script())
                        .arg("gateway-start")
                        .status()
                        .unwrap();
                    assert!(st.success(), "scripts/ceph.sh gateway-start");
                }));
            }
        });
    }
    let mut tx = store.begin();
    tx.add_files(
        "t",
        std::slice::from_ref(&input),
        &dstore::IngestOptions::default(),
    )
    .unwrap();
    let outcome = tx.commit(&dstore::CommitOptions::default());
    if let Some(h) = restarter.lock().unwrap().take() {
        h.join().unwrap();
    }
    assert!(
        stopped.load(Ordering::SeqCst),
        "the hook stopped the gateway mid-upload"
    );
    // Retried by hand if the client's own retries gave up: a retry must succeed.
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("commit failed while the gateway was down ({e}); retrying");
            let mut tx = store.begin();
            tx.add_files("t", &[input], &dstore::IngestOptions::default())
                .unwrap();
            tx.commit(&dstore::CommitOptions::default()).unwrap()
        }
    };
    // Every object the log names is whole: a fresh client verifies the store.
    let fresh = Store::open_url(&url, &opts(&dir.path().join("fresh"))).unwrap();
    let report = fresh
        .verify(
            &dstore::verify::VerifyOptions {
                all: true,
                ..dstore::verify::VerifyOptions::default()
            },
            &|_| {},
        )
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let snap = fresh.snapshot(&outcome.id).unwrap();
    assert_eq!(snap.table("t").unwrap().rows, rows as u64);
    // No segment in the bucket is partial: each hashes to its name.
    let s = fresh.storage();
    for m in s.list("segments/").unwrap() {
        let mut h = blake3::Hasher::new();
        std::io::copy(&mut s.open_read(&m.key).unwrap(), &mut h).unwrap();
        assert!(
            m.key.contains(h.finalize().to_hex().as_str()),
            "{} is partial",
            m.key
        );
    }
}

/// push sends a local store's snapshots to the gateway, only what is missing; pull brings
/// them into another local store. Ids survive both ways.
#[test]
fn push_and_pull_copy_only_missing_objects() {
    let Some(env) = s3() else { return };
    let s = Scratch::new();
    let url = unique_url(&env, "push");
    s.run(&["init", "local.dstore"]).ok();
    let local = |args: &[&str]| {
        let mut full = vec!["--store", "local.dstore"];
        full.extend_from_slice(args);
        let mut c = s.cmd(&full);
        c.env("DSTORE_REMOTE_CACHE", s.path().join("cache-local"));
        Run::of(&c.output().unwrap())
    };
    let [day1, day2] = [
        fixture("flights/2026-11-01.csv"),
        fixture("flights/2026-11-02.csv"),
    ];
    local(&["snapshot", "-t", "flights", &day1, "--tag", "v1"]).ok();
    local(&["snapshot", "-t", "flights", &day2]).ok();
    let head = local(&["--json", "show", "HEAD"]).json()["snapshot"].clone();
    let v1 = local(&["--json", "show", "v1"]).json()["snapshot"].clone();

    remote_run(&s, &url, "r", &["init", &url]).ok();
    let pushed = local(&["--json", "push", &url, "v1", "HEAD"]).json();
    assert_eq!(pushed["snapshots"], 2, "{pushed}");
    assert_eq!(pushed["commits"], 2, "{pushed}");
    assert!(pushed["segments_copied"].as_u64().unwrap() >= 2, "{pushed}");
    assert_eq!(pushed["tags"], serde_json::json!(["v1"]));
    assert_eq!(
        remote_run(&s, &url, "r", &["--json", "show", "HEAD"]).json()["snapshot"],
        head
    );
    assert_eq!(
        remote_run(&s, &url, "r", &["--json", "show", "v1"]).json()["snapshot"],
        v1
    );

    // Again: nothing travels, nothing is committed.
    let again = local(&["--json", "push", &url, "v1", "HEAD"]).json();
    assert_eq!(again["segments_copied"], 0, "{again}");
    assert_eq!(again["commits"], 0, "{again}");
    assert_eq!(log_json(&s, &url, "r").len(), 2);

    // Pull into a fresh local store: same snapshot, verified, same rows.
    s.run(&["init", "copy.dstore"]).ok();
    let mut c = s.cmd(&[
        "--store",
        "copy.dstore",
        "--json",
        "pull",
        &url,
        "v1",
        "HEAD",
    ]);
    c.env("DSTORE_REMOTE_CACHE", s.path().join("cache-copy"));
    let pulled = Run::of(&c.output().unwrap()).json();
    assert_eq!(pulled["commits"], 2, "{pulled}");
    let show = s
        .run(&["--store", "copy.dstore", "--json", "show", "HEAD"])
        .json();
    assert_eq!(show["snapshot"], head);
    s.run(&["--store", "copy.dstore", "verify", "--all"]).ok();
}

/// Two machines prepare into one bucket at once (no lock), a third commits both descriptions
/// once; a description naming a segment the bucket lacks is refused and commits nothing.
#[test]
fn prepare_on_two_machines_commit_on_a_third() {
    let Some(env) = s3() else { return };
    let s = Scratch::new();
    let url = unique_url(&env, "prepare");
    remote_run(&s, &url, "setup", &["init", &url]).ok();
    let days = [
        fixture("flights/2026-11-01.csv"),
        fixture("flights/2026-11-02.csv"),
    ];
    std::thread::scope(|sc| {
        for (m, day) in ["a", "b"].iter().zip(&days) {
            let (s, url) = (&s, &url);
            sc.spawn(move || {
                let out = format!("{m}.json");
                let r = remote_run(s, url, m, &["prepare", "-t", "flights", day, "-o", &out]);
                assert_eq!(r.code, 0, "machine {m}:\n{}", r.stderr);
            });
        }
    });
    assert!(
        log_json(&s, &url, "c").is_empty(),
        "prepared, not committed"
    );
    // A description edited to name a segment the bucket does not hold: refused, nothing lands.
    let text = std::fs::read_to_string(s.path().join("a.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    let seg = v["tables"][0]["segments"][0].clone();
    let mut forged = seg.clone();
    forged["bytes"] = (seg["bytes"].as_u64().unwrap() + 1).into();
    let list = hex::decode(seg["entry"].as_str().unwrap()).unwrap();
    let mut list = dstore::format::SegmentList::decode(&list).unwrap();
    list.entries[0].bytes += 1;
    forged["entry"] = hex::encode(list.encode()).into();
    v["tables"][0]["segments"][0] = forged;
    s.write("forged.json", serde_json::to_string(&v).unwrap());
    let r = remote_run(&s, &url, "c", &["commit", "forged.json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("forged.json") && r.stderr.contains("bytes"),
        "{}",
        r.stderr
    );
    assert!(log_json(&s, &url, "c").is_empty());

    let r = remote_run(
        &s,
        &url,
        "c",
        &["--json", "commit", "a.json", "b.json", "-m", "days"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(rows_at(&s, &url, "c", "HEAD", "flights"), 3000);
    remote_run(&s, &url, "c", &["verify", "--all"]).ok();
}

/// `s3://` inputs: a prefix ingests as the same files in a local directory do (same skip rules,
/// same order, same snapshot id), into a local store and into a store in the bucket; a single
/// object too; a missing object and an object of unknown type are refused naming the URL.
#[test]
fn inputs_in_object_storage_ingest_as_the_same_local_files() {
    let Some(env) = s3() else { return };
    let s = Scratch::new();
    let base = unique_url(&env, "inputs");
    let day1 = std::fs::read(fixture("flights/2026-11-01.csv")).unwrap();
    let day2 = std::fs::read(fixture("flights/2026-11-02.csv")).unwrap();
    // The same tree locally and under the prefix: `b-x.csv` sorts after `b/…` in a walk.
    let tree: [(&str, &[u8]); 5] = [
        ("raw/b/2026-11-01.csv", &day1),
        ("raw/b-x.csv", &day2),
        ("raw/_SUCCESS", b""),
        ("raw/.hidden.csv", b"junk"),
        ("raw/b/part.csv.crc", b"junk"),
    ];
    let cache = s.path().join("upload-cache");
    let bucket = ObjectStorage::new(&base, &opts(&cache), cache.join("c")).unwrap();
    for (k, v) in tree {
        s.write(k, v);
        bucket.put(k, v).unwrap();
    }
    s.run(&["init", "local.dstore"]).ok();
    s.run(&[
        "--store",
        "local.dstore",
        "snapshot",
        "-t",
        "flights",
        "raw",
        "-m",
        "local",
    ])
    .ok();
    let want = s.run(&["--store", "local.dstore", "show", "--json"]).json()["snapshot"].clone();

    s.run(&["init", "from-s3.dstore"]).ok();
    let prefix = format!("{base}/raw/");
    let r = remote_run(
        &s,
        "from-s3.dstore",
        "x",
        &["snapshot", "-t", "flights", &prefix, "-m", "s3"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = s
        .run(&["--store", "from-s3.dstore", "show", "--json"])
        .json()["snapshot"]
        .clone();
    assert_eq!(got, want, "a prefix ingests as the local directory does");

    let store_url = unique_url(&env, "inputs-store");
    remote_run(&s, &store_url, "y", &["init", &store_url]).ok();
    remote_run(
        &s,
        &store_url,
        "y",
        &["snapshot", "-t", "flights", &prefix, "-m", "s3"],
    )
    .ok();
    let got = remote_run(&s, &store_url, "y", &["show", "--json"]).json()["snapshot"].clone();
    assert_eq!(got, want, "into a store in the bucket too");
    remote_run(&s, &store_url, "y", &["verify", "--all"]).ok();

    // One object.
    s.run(&["init", "one.dstore"]).ok();
    let one = format!("{base}/raw/b-x.csv");
    let r = remote_run(
        &s,
        "one.dstore",
        "z",
        &["snapshot", "-t", "t", &one, "-m", "one"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        s.run(&["--store", "one.dstore", "show", "--json"]).json()["tables"][0]["rows"],
        1500
    );
    // Refusals name the URL; nothing is committed.
    let missing = format!("{base}/raw/nope/");
    let r = remote_run(&s, "one.dstore", "z", &["snapshot", "-t", "t", &missing]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(&missing), "{}", r.stderr);
    bucket.put("raw/notes.txt", b"hello").unwrap();
    let r = remote_run(&s, "one.dstore", "z", &["snapshot", "-t", "t2", &prefix]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("notes.txt") && r.stderr.contains("--skip-unknown"),
        "{}",
        r.stderr
    );
    let log = s.run(&["--store", "one.dstore", "log", "--json"]).json();
    assert_eq!(log.as_array().unwrap().len(), 1);
}

/// A folder as a files table in a store on the gateway: a re-run keeps the unchanged segments
/// (checked to be in the bucket under the commit lock, by HEAD requests), the diff by path reads
/// only what differs, and the checkout gives the folder back byte for byte. A second machine
/// (another catalog cache, so no state cache) reads every file and gets the same snapshot.
#[test]
fn files_table_round_trip() {
    let Some(env) = s3() else { return };
    let s = Scratch::new();
    let url = unique_url(&env, "files");
    remote_run(&s, &url, "a", &["init", &url]).ok();
    let dir = s.path().join("photos");
    let old = std::time::SystemTime::now() - std::time::Duration::from_hours(1);
    let put = |rel: &str, bytes: &[u8]| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(old)
            .unwrap();
    };
    for i in 0..300 {
        put(
            &format!("c{}/{i:04}.jpg", i % 3),
            &vec![(i % 256) as u8; 1000 + i * 40],
        );
    }
    let d = dir.to_str().unwrap();
    // Old enough for the state cache (docs/format.md §19.4).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let snap = |cache: &str, m: &str| {
        remote_run(
            &s,
            &url,
            cache,
            &[
                "--json",
                "snapshot",
                "-t",
                "photos",
                d,
                "--files",
                "--segment-mib",
                "1",
                "-m",
                m,
            ],
        )
        .json()
    };
    let v1 = snap("a", "v1");
    assert_eq!(v1["inputs"][0]["files_read"], 300);
    put("c1/0001.jpg", b"changed");
    let v2 = snap("a", "v2");
    let kept = v2["inputs"][0]["segments_kept"].as_u64().unwrap();
    assert!(kept > 0, "{v2}");
    assert!(
        v2["inputs"][0]["files_read"].as_u64().unwrap() < 300,
        "{v2}"
    );
    // Another machine: no state cache, every file read, the same snapshot (nothing to change).
    let again = snap("b", "v2 elsewhere");
    assert_eq!(again["inputs"][0]["files_read"], 300);
    assert_eq!(again["snapshot"], v2["snapshot"]);
    assert_eq!(again["unchanged"], true);
    let diff = remote_run(&s, &url, "a", &["diff", "HEAD~2", "HEAD", "-t", "photos"]);
    assert!(
        diff.ok().starts_with("M\tphotos/c1/0001.jpg\n"),
        "{}",
        diff.stdout
    );
    remote_run(
        &s,
        &url,
        "a",
        &["checkout", "HEAD", "-o", "out", "--format", "files"],
    )
    .ok();
    assert_eq!(
        dstore_e2e::tree(&s.path().join("out/photos")),
        dstore_e2e::tree(&dir)
    );
    remote_run(&s, &url, "a", &["verify", "--all"]).ok();
}
