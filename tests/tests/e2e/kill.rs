//! `kill -9` of real `dstore snapshot` processes at random moments.
//!
//! Each round starts a store and runs snapshots one after another, each appending one to three
//! generated CSV or Parquet files to table `t` (a third of them with `--tag`), and SIGKILLs
//! each after a random delay spread over a whole snapshot's run time, so kills land while
//! inputs are staged and hashed, while segments, pages and the manifest are placed, between
//! the record and the catalog update, and after the end. After every kill the store must
//! open; every acknowledged commit (exit 0, id printed) must be there, in order, with its
//! rows; every commit in the log must be whole (`dstore verify --all`); a tag must exist
//! exactly when its commit does. At the end of a round `dstore gc --grace 0s` must leave
//! exactly the objects the log reaches, and verify must still pass.
//!
//! `DSTORE_KILLS` sets the number of kills (default 100); `DSTORE_KILL_SEED` replays a run
//! (the seed is printed, and named in every failure).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use dstore::Store;
use dstore_e2e::Scratch;

use crate::{id_name_batch, write_parquet};

/// Kills per store: history (and so `verify --all`) stays small, whatever the total.
const KILLS_PER_ROUND: usize = 50;

/// splitmix64: a tiny seeded generator, so a failing schedule can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

/// An input file and its row count.
struct Input {
    path: String,
    rows: u64,
}

/// CSV and Parquet inputs of table `t` (`id`, `name`), from 20 to 6,000 rows.
fn inputs(s: &Scratch) -> Vec<Input> {
    let mut out = Vec::new();
    for (i, rows) in [20u64, 300, 1500, 6000].into_iter().enumerate() {
        let base = i64::try_from(i).unwrap() * 1_000_000;
        let ids: Vec<i64> = (0..i64::try_from(rows).unwrap())
            .map(|r| base + r)
            .collect();
        let p = s.path().join(format!("in{i}.parquet"));
        write_parquet(&p, &id_name_batch(&ids));
        out.push(Input {
            path: p.to_str().unwrap().to_owned(),
            rows,
        });
        let mut csv = String::from("id,name\n");
        for id in ids {
            writeln!(csv, "{},n{id}", id + 500_000).unwrap();
        }
        let p = s.write(&format!("in{i}.csv"), csv);
        out.push(Input {
            path: p.to_str().unwrap().to_owned(),
            rows,
        });
    }
    out
}

/// What one snapshot process was asked to do.
struct Attempt {
    rows: u64,
    tag: Option<String>,
}

/// How one run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ending {
    /// Exited 0 and printed its commit.
    Acknowledged,
    /// Killed, and its commit is not in the log; it left nothing (killed while starting).
    KilledBeforeCommit,
    /// Killed before its commit, leaving staged files in `tmp/` (staging, hashing).
    KilledStaging,
    /// Killed before its record, leaving new objects under `segments/` or `manifests/`
    /// (placing segments, pages, the manifest).
    KilledPlacing,
    /// Killed after its record landed (while updating the catalog or printing).
    KilledAfterCommit,
}

/// The commits in the log, oldest first: (seq, message, snapshot id, rows added, HEAD rows).
fn commits(store: &Store) -> Vec<(u64, String, dstore::SnapshotId, u64, u64)> {
    let mut out: Vec<_> = store
        .log(usize::MAX)
        .expect("log")
        .into_iter()
        .filter_map(|r| {
            let id = r.snapshot()?;
            let dstore::format::RecordKind::Commit { changes, .. } = &r.kind else {
                return None;
            };
            let added = changes.iter().map(|c| c.rows).sum();
            let total = store
                .snapshot(&id)
                .expect("a snapshot in the log opens")
                .table("t")
                .expect("table t")
                .rows;
            Some((r.seq, r.message.clone(), id, added, total))
        })
        .collect();
    out.reverse();
    out
}

/// Runs `dstore verify --all` and fails with its output unless it passes.
fn verify_all(s: &Scratch, store: &str, context: &str) {
    let r = s.run(&["verify", "--all", "--store", store]);
    assert_eq!(
        r.code, 0,
        "{context}: verify --all failed:\n{}{}",
        r.stdout, r.stderr
    );
}

/// Checks the store after a kill (or a completed run).
fn check(
    s: &Scratch,
    store_dir: &Path,
    attempts: &BTreeMap<String, Attempt>,
    acknowledged: &[(String, u64)],
    context: &str,
) -> Vec<(u64, String, dstore::SnapshotId, u64, u64)> {
    let store = Store::open(store_dir).unwrap_or_else(|e| panic!("{context}: won't open: {e}"));
    let log = commits(&store);
    // Every acknowledged commit, at the seq it printed, in order.
    let by_message: BTreeMap<&str, u64> = log.iter().map(|c| (c.1.as_str(), c.0)).collect();
    for (msg, seq) in acknowledged {
        assert_eq!(
            by_message.get(msg.as_str()),
            Some(seq),
            "{context}: acknowledged commit {msg} @{seq} is not in the log"
        );
    }
    // Every commit whole: its own rows, HEAD's running total, its tag exactly when it exists.
    let mut total = 0;
    for (seq, msg, id, added, rows) in &log {
        let a = &attempts[msg];
        assert_eq!(
            *added, a.rows,
            "{context}: @{seq} ({msg}) records the wrong rows"
        );
        total += added;
        assert_eq!(
            *rows, total,
            "{context}: @{seq} ({msg}) holds the wrong rows"
        );
        if let Some(t) = &a.tag {
            let r = store
                .resolve(t)
                .unwrap_or_else(|e| panic!("{context}: tag {t} of @{seq}: {e}"));
            assert_eq!(r.id, *id, "{context}: tag {t} is not on @{seq}");
        }
    }
    for (msg, a) in attempts {
        if let Some(t) = &a.tag
            && !by_message.contains_key(msg.as_str())
        {
            assert!(
                store.resolve(t).is_err(),
                "{context}: tag {t} exists but its commit does not"
            );
        }
    }
    verify_all(s, store_dir.to_str().unwrap(), context);
    log
}

/// Every object some commit reaches, relative to the store.
fn reachable(store: &Store) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in store.log(usize::MAX).unwrap() {
        let Some(id) = r.snapshot() else { continue };
        let h = id.to_hex();
        out.insert(format!("manifests/{}/{h}.manifest", &h[..2]));
        let snap = store.snapshot(&id).unwrap();
        for t in snap.tables() {
            for p in &t.pages {
                let h = p.id.to_hex();
                out.insert(format!("manifests/{}/{h}.seglist", &h[..2]));
            }
            for e in snap.segments(&t.name).unwrap() {
                let h = e.id.to_hex();
                out.insert(format!("segments/{}/{h}.parquet", &h[..2]));
            }
        }
    }
    out
}

/// Regular files under `dir` of the store, relative to the store.
fn files(store: &Path, dir: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![store.join(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(store).unwrap().to_owned();
                out.insert(rel.to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// One store, `kills` killed snapshots (and the ones that finish first). Returns how each run
/// ended.
fn round(s: &Scratch, rng: &mut Rng, seed: u64, round: usize, kills: usize) -> Vec<Ending> {
    let inputs = inputs(s);
    let name = format!("r{round}.dstore");
    s.run(&["init", &name]).ok();
    let store_dir = s.path().join(&name);
    let mut attempts: BTreeMap<String, Attempt> = BTreeMap::new();
    let mut acknowledged: Vec<(String, u64)> = Vec::new();
    let mut endings = Vec::new();
    // A snapshot's run time, measured on the first runs (never killed), sets the delay range.
    let mut durations: Vec<Duration> = Vec::new();
    let mut i = 0;
    while endings
        .iter()
        .filter(|e| **e != Ending::Acknowledged)
        .count()
        < kills
    {
        i += 1;
        let msg = format!("r{round}-k{i}");
        let mut args: Vec<String> = [
            // The same input files again and again: appending them twice is the point here.
            "snapshot",
            "--store",
            &name,
            "--json",
            "--allow-duplicates",
            "-m",
            &msg,
            "-t",
            "t",
        ]
        .map(str::to_owned)
        .to_vec();
        let mut rows = 0;
        // The first run creates the table from Parquet, fixing the schema CSVs are read with.
        let n = if i == 1 { 1 } else { 1 + rng.below(3) };
        for k in 0..n {
            let input = if i == 1 {
                &inputs[2 * usize::from(k == 0)]
            } else {
                &inputs[usize::try_from(rng.below(inputs.len() as u64)).unwrap()]
            };
            args.push(input.path.clone());
            rows += input.rows;
        }
        let tag = (rng.below(3) == 0).then(|| format!("tag-{msg}"));
        if let Some(t) = &tag {
            args.extend(["--tag".into(), t.clone()]);
        }
        attempts.insert(msg.clone(), Attempt { rows, tag });
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let staged_before = files(&store_dir, "tmp");
        let mut objects_before = files(&store_dir, "segments");
        objects_before.extend(files(&store_dir, "manifests"));
        let mut child = s
            .cmd(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dstore");
        let started = Instant::now();
        let measuring = durations.len() < 3;
        if !measuring {
            // Uniform over 0 .. 1.5 × the median run: most kills land mid-run, some after. (At
            // 1.2 × the later runs, with up to three inputs each, finished too rarely for the
            // check below on a busy machine: 12 of 100 in one run, under the 10 it wants.)
            let mut d = durations.clone();
            d.sort();
            let span = d[d.len() / 2].as_micros() * 3 / 2;
            let delay = u64::try_from(span).unwrap().max(1);
            std::thread::sleep(Duration::from_micros(rng.below(delay)));
            child.kill().expect("kill"); // SIGKILL; a no-op if it has exited already
        }
        let out = child.wait_with_output().expect("wait");
        let context = format!("seed {seed}, round {round}, run {msg}");
        let ending = if out.status.success() {
            if measuring {
                durations.push(started.elapsed());
            }
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{context}: bad JSON ({e})"));
            acknowledged.push((msg.clone(), v["seq"].as_u64().expect("seq")));
            Ending::Acknowledged
        } else {
            assert_eq!(
                out.status.code(),
                None,
                "{context}: failed without being killed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Ending::KilledBeforeCommit
        };
        let log = check(s, &store_dir, &attempts, &acknowledged, &context);
        let landed = log.iter().any(|c| c.1 == msg);
        let mut objects = files(&store_dir, "segments");
        objects.extend(files(&store_dir, "manifests"));
        endings.push(match ending {
            Ending::KilledBeforeCommit if landed => Ending::KilledAfterCommit,
            Ending::KilledBeforeCommit if objects != objects_before => Ending::KilledPlacing,
            Ending::KilledBeforeCommit if files(&store_dir, "tmp") != staged_before => {
                Ending::KilledStaging
            }
            e => e,
        });
    }
    // gc removes every leftover: staged files, unreferenced segments, pages and manifests.
    let context = format!("seed {seed}, round {round}, gc");
    s.run(&["gc", "--store", &name, "--grace", "0s"]).ok();
    let store = Store::open(&store_dir).unwrap();
    let mut left = files(&store_dir, "segments");
    left.extend(files(&store_dir, "manifests"));
    assert_eq!(left, reachable(&store), "{context}: gc left garbage");
    assert!(
        files(&store_dir, "tmp").is_empty(),
        "{context}: tmp/ not empty"
    );
    assert!(
        files(&store_dir, "log")
            .iter()
            .all(|f| !f.contains(".tmp-")),
        "{context}: temporary files left in log/"
    );
    verify_all(s, &name, &context);
    check(s, &store_dir, &attempts, &acknowledged, &context);
    endings
}

#[test]
fn snapshots_killed_at_random_moments() {
    let started = Instant::now();
    let kills = env_u64("DSTORE_KILLS").map_or(100, |n| usize::try_from(n).unwrap());
    let seed = env_u64("DSTORE_KILL_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        u64::try_from(t.as_nanos() % u128::from(u64::MAX)).unwrap()
    });
    println!("kill test: {kills} kills, seed {seed} (DSTORE_KILL_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let s = Scratch::new();
    let mut endings = Vec::new();
    let mut done = 0;
    let mut r = 0;
    while done < kills {
        let n = KILLS_PER_ROUND.min(kills - done);
        endings.extend(round(&s, &mut rng, seed, r, n));
        done += n;
        r += 1;
    }
    let count = |e: Ending| endings.iter().filter(|x| **x == e).count();
    let after = count(Ending::KilledAfterCommit);
    let before = kills - after;
    println!(
        "{} runs: {} finished and acknowledged; killed: {} while starting, {} while staging \
         and hashing, {} while placing objects, {after} after the record landed; {:.1} s",
        endings.len(),
        count(Ending::Acknowledged),
        count(Ending::KilledBeforeCommit),
        count(Ending::KilledStaging),
        count(Ending::KilledPlacing),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        endings.len() - count(Ending::Acknowledged),
        kills,
        "seed {seed}"
    );
    // The delays must actually spread: kills that stopped a commit, and runs that finished.
    assert!(
        before >= kills / 4,
        "seed {seed}: only {before} of {kills} kills landed before the commit"
    );
    assert!(
        count(Ending::Acknowledged) >= kills / 10,
        "seed {seed}: too few runs finished before their kill"
    );
}
