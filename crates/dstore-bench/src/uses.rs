//! The cost of use records (issue: who uses what): recording a use in-process and through the
//! CLI, `dstore uses REF` with 10 use records in the store and with 100,000 (flat: the uses of
//! other snapshots are never listed), and gc's mark phase with 100,000 uses.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use dstore::uses::UseSpec;
use dstore::{CommitOptions, IngestOptions, SnapshotId, Store, gc::GcOptions};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn spec(run: String) -> UseSpec {
    UseSpec {
        run,
        tables: vec!["t".into()],
        author: "bench".into(),
        code: Some(String::new()),
        ..UseSpec::default()
    }
}

fn cli(dstore: &Path, store: &Path, args: &[&str], env: Option<(&str, &str)>) -> Result<f64> {
    let mut c = Command::new(dstore);
    c.arg("--store")
        .arg(store)
        .args(args)
        .env_remove("DSTORE_RUN");
    if let Some((k, v)) = env {
        c.env(k, v);
    }
    let t = Instant::now();
    let out = c.output().context("running dstore")?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("dstore {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(secs)
}

fn time_uses(store: &Store, dstore: &Path, target: &SnapshotId) -> Result<(f64, f64, usize)> {
    let mut lib = Vec::new();
    let mut n = 0;
    for _ in 0..21 {
        let t = Instant::now();
        n = store.uses_of(target)?.len();
        lib.push(t.elapsed().as_secs_f64());
    }
    let mut bin = Vec::new();
    for _ in 0..5 {
        bin.push(cli(
            dstore,
            store.root(),
            &["uses", &target.to_hex(), "--json"],
            None,
        )?);
    }
    Ok((median(lib), median(bin), n))
}

pub(crate) fn run(
    uses: usize,
    snapshots: usize,
    dir: &Path,
    dstore: Option<PathBuf>,
) -> Result<()> {
    let dstore = match dstore {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("exe dir")?
            .join("dstore"),
    };
    let root = dir.join("uses-bench.dstore");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(dir)?;
    let store = Store::init(&root)?;
    let mut ids = Vec::new();
    for i in 0..=snapshots {
        let mut tx = store.begin();
        let b = crate::rowdiff::small_batch(i as u64);
        tx.add_reader(
            "t",
            arrow::array::RecordBatchIterator::new(vec![Ok(b.clone())], b.schema()),
            &IngestOptions::default(),
        )?;
        ids.push(tx.commit(&CommitOptions::message("v"))?.id);
    }
    let target = ids[0];
    // The target snapshot: 10 uses, the whole store's only ones.
    let mut rec = Vec::new();
    for r in 0..10 {
        let t = Instant::now();
        store.record_use(&target, &spec(format!("target-{r}")))?;
        rec.push(t.elapsed().as_secs_f64());
    }
    let (lib10, bin10, n10) = time_uses(&store, &dstore, &target)?;
    let t = Instant::now();
    let again = store.record_use(&target, &spec("target-0".into()))?;
    let repeat = t.elapsed().as_secs_f64();
    assert!(!again.created);
    // The CLI: a one-row read with and without recording.
    let read = ["cat", "-t", "t", "--limit", "1", "--format", "csv"];
    let mut plain = Vec::new();
    let mut recorded = Vec::new();
    for i in 0..7 {
        plain.push(cli(&dstore, &root, &read, None)?);
        let run = format!("cli-{i}");
        recorded.push(cli(
            &dstore,
            &root,
            &read,
            Some(("DSTORE_RUN", run.as_str())),
        )?);
    }
    // Fill: `uses` records on the other snapshots, from 4 threads.
    let started = Instant::now();
    let per = uses.div_ceil(snapshots);
    std::thread::scope(|s| -> Result<()> {
        let hs: Vec<_> = (0..4)
            .map(|w| {
                let (store, ids) = (&store, &ids);
                s.spawn(move || -> Result<()> {
                    for k in (w..uses).step_by(4) {
                        let snap = ids[1 + k / per];
                        store.record_use(&snap, &spec(format!("fill-{k}")))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in hs {
            h.join().expect("filler thread")?;
        }
        Ok(())
    })?;
    let fill = started.elapsed().as_secs_f64();
    let (lib_big, bin_big, n_big) = time_uses(&store, &dstore, &target)?;
    let t = Instant::now();
    let by_run = store.uses_by_run("fill-77")?.len();
    let run_lookup = t.elapsed().as_secs_f64();
    let mut gcs = Vec::new();
    let mut reachable = 0;
    let mut listed = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let r = store.gc(&GcOptions {
            dry_run: true,
            ..GcOptions::default()
        })?;
        gcs.push(t.elapsed().as_secs_f64());
        reachable = r.reachable;
        listed = r.use_objects;
    }
    println!(
        "use records: {} snapshots, target snapshot {} ({n10} uses)",
        snapshots + 1,
        target.short(12)
    );
    println!(
        "record a use in-process: median {:.2} ms of 10 (temp file, fsync, link, fsync dir; plus the run index entry); again (exists): {:.2} ms",
        median(rec) * 1e3,
        repeat * 1e3
    );
    println!(
        "record through the CLI: `dstore cat -t t --limit 1` {:.1} ms, with DSTORE_RUN {:.1} ms (median of 7 each)",
        median(plain) * 1e3,
        median(recorded) * 1e3
    );
    println!(
        "filled {uses} use records over {snapshots} snapshots in {fill:.1} s ({:.2} ms each, 4 threads)",
        fill * 1e3 / uses as f64 * 4.0
    );
    println!(
        "uses of the target ({n10} records of {n10} in the store):  library {:.3} ms, `dstore uses --json` {:.1} ms",
        lib10 * 1e3,
        bin10 * 1e3
    );
    println!(
        "uses of the target ({n_big} records of {} in the store): library {:.3} ms, `dstore uses --json` {:.1} ms",
        listed,
        lib_big * 1e3,
        bin_big * 1e3
    );
    println!(
        "uses --run (1 of {listed}): {:.3} ms, {by_run} found",
        run_lookup * 1e3
    );
    println!(
        "gc --dry-run with {listed} use objects (mark reads their names in one listing): median {:.3} s of 3, {reachable} objects reachable",
        median(gcs)
    );
    Ok(())
}
