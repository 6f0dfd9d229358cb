//! `dstore-bench remote`: one table ingested and scanned in a local store and in a store in
//! object storage (an s3:// URL; `scripts/bench-s3.sh` runs it against the Ceph gateway of
//! `scripts/ceph.sh`), alternating, median of `--repeats`; with the requests each remote
//! operation makes.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use dstore::{CommitOptions, IngestOptions, Store, ingest::Validation, storage::RemoteOptions};
use serde_json::{Value, json};

use crate::suite::data;

/// The selective filter the suite uses: one row group's worth of the first rows.
const FILTER: &str = "id < 20000";

struct Op {
    seconds: Duration,
    requests: u64,
    bytes_in: u64,
    bytes_out: u64,
    rows: usize,
}

fn counts(s: &Store) -> (u64, u64, u64) {
    s.storage().request_counts().map_or((0, 0, 0), |c| {
        (
            c.total(),
            c.bytes_in.load(Ordering::Relaxed),
            c.bytes_out.load(Ordering::Relaxed),
        )
    })
}

fn measured(s: &Store, f: impl FnOnce() -> Result<usize>) -> Result<Op> {
    let (r0, i0, o0) = counts(s);
    let t = Instant::now();
    let rows = f()?;
    let seconds = t.elapsed();
    let (r1, i1, o1) = counts(s);
    Ok(Op {
        seconds,
        requests: r1 - r0,
        bytes_in: i1 - i0,
        bytes_out: o1 - o0,
        rows,
    })
}

fn ingest(s: &Store, file: &Path) -> Result<usize> {
    let mut tx = s.begin();
    tx.add_files(
        "t",
        &[file.to_owned()],
        &IngestOptions {
            validation: Validation::Full,
            ..IngestOptions::default()
        },
    )?;
    let id = tx.commit(&CommitOptions::message("bench"))?.id;
    Ok(s.snapshot(&id)?.table("t")?.rows as usize)
}

fn scan(s: &Store, filter: Option<&str>) -> Result<usize> {
    let snap = s.snapshot(&s.resolve("HEAD")?.id)?;
    let mut b = snap.scan("t")?;
    if let Some(f) = filter {
        b = b.filter(dstore::scan::filter::Expr::parse(f).map_err(|e| anyhow!("{e}"))?);
    }
    let mut rows = 0;
    for batch in b.batches()? {
        rows += batch?.num_rows();
    }
    Ok(rows)
}

fn median_op(mut v: Vec<Op>) -> Op {
    v.sort_by_key(|o| o.seconds);
    let mid = v.len() / 2;
    v.swap_remove(mid)
}

pub(crate) fn run(url: &str, rows: usize, dir: &Path, repeats: usize) -> Result<()> {
    let (pq, _) = data::generate(dir, rows)?;
    let bytes = std::fs::metadata(&pq)?.len();
    let remote_opts = RemoteOptions {
        cache_root: Some(dir.join("remote-cache")),
        ..RemoteOptions::from_env()
    };
    let names = ["ingest Parquet", "full scan", &format!("filter {FILTER}")];
    let mut local: Vec<Vec<Op>> = (0..3).map(|_| Vec::new()).collect();
    let mut remote: Vec<Vec<Op>> = (0..3).map(|_| Vec::new()).collect();
    for r in 0..repeats {
        eprintln!("[repeat {}/{repeats}]", r + 1);
        let ldir = dir.join("remote-bench-local.dstore");
        let _ = std::fs::remove_dir_all(&ldir);
        let l = Store::init(&ldir)?;
        let target = format!("{url}/run-{}-{r}", std::process::id());
        Store::init_url(&target, &remote_opts)?;
        let s = Store::open_url(&target, &remote_opts)?;
        local[0].push(measured(&l, || ingest(&l, &pq))?);
        remote[0].push(measured(&s, || ingest(&s, &pq))?);
        for (i, filter) in [(1, None), (2, Some(FILTER))] {
            // A fresh client each time: no footer or catalog kept from the ingest.
            let l = Store::open(&ldir)?;
            local[i].push(measured(&l, || scan(&l, filter))?);
            let s = Store::open_url(&target, &remote_opts)?;
            remote[i].push(measured(&s, || scan(&s, filter))?);
        }
        // Leave the bucket as it was: the gateway's memory is the OSD's whole capacity.
        for m in s.storage().list("")? {
            s.storage().delete(&m.key)?;
        }
    }
    let mut out = Vec::new();
    println!(
        "{rows} rows, Parquet {:.1} MB; local store vs {url} (median of {repeats})\n",
        bytes as f64 / 1e6
    );
    println!(
        "| operation | local s | local MB/s | remote s | remote MB/s | remote/local | requests | MB received | MB sent |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (i, name) in names.iter().enumerate() {
        let lo = median_op(std::mem::take(&mut local[i]));
        let ro = median_op(std::mem::take(&mut remote[i]));
        let mbps = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
        println!(
            "| {name} | {:.3} | {:.0} | {:.3} | {:.0} | {:.2}× | {} | {:.1} | {:.1} |",
            lo.seconds.as_secs_f64(),
            mbps(lo.seconds),
            ro.seconds.as_secs_f64(),
            mbps(ro.seconds),
            ro.seconds.as_secs_f64() / lo.seconds.as_secs_f64(),
            ro.requests,
            ro.bytes_in as f64 / 1e6,
            ro.bytes_out as f64 / 1e6,
        );
        out.push(json!({
            "operation": name,
            "rows": ro.rows,
            "local_seconds": lo.seconds.as_secs_f64(),
            "remote_seconds": ro.seconds.as_secs_f64(),
            "remote_requests": ro.requests,
            "remote_bytes_received": ro.bytes_in,
            "remote_bytes_sent": ro.bytes_out,
        }));
    }
    println!(
        "\nMB/s: the Parquet file's size over the time (a filtered scan reads a fraction of it)."
    );
    let report: Value = json!({
        "rows": rows, "parquet_bytes": bytes, "url": url, "repeats": repeats, "results": out,
    });
    let path = dir.join(format!("remote-{rows}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
