//! `dstore-bench rowdiff`: `dstore diff --rows` (and `cat --since`) of two versions of a
//! table of N rows that differ in 1% of the rows, through rewritten segments (not appends):
//! wall time, bytes read, rows hashed and the peak RSS of the `dstore` process
//! (`/usr/bin/time -f %M`). Scenarios: the edits in 2 of 20 segments; spread over all 20 (also
//! with a 32 MiB record budget, which spills); the same with `--key id`; and an append of 1%
//! (no segment rewritten). Then `cat --since` and `stats --since` (the profile of just the
//! new rows) of the same versions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use dstore::{CommitOptions, IngestOptions, Store, WriteMode};

const SEGMENTS: usize = 20;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("a", DataType::Int64, false),
        Field::new("b", DataType::Float64, true),
        Field::new("c", DataType::Utf8, false),
        Field::new("d", DataType::Int64, false),
    ]))
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

/// Ten rows of the benchmark's schema, different for each `i` (a snapshot per commit).
pub(crate) fn small_batch(i: u64) -> RecordBatch {
    batch(i * 10, i * 10 + 10, &|_| false)
}

/// Rows `lo..hi`; rows `edited(id)` get another `a`.
fn batch(lo: u64, hi: u64, edited: &dyn Fn(u64) -> bool) -> RecordBatch {
    let ids: Vec<i64> = (lo..hi).map(|i| i as i64).collect();
    let a: Vec<i64> = (lo..hi)
        .map(|i| (mix(i) % 1_000_000) as i64 + if edited(i) { 7 } else { 0 })
        .collect();
    let b: Vec<Option<f64>> = (lo..hi)
        .map(|i| (i % 17 != 0).then(|| (mix(i ^ 9) % 10_000) as f64 / 7.0))
        .collect();
    let c: Vec<String> = (lo..hi).map(|i| format!("cat-{}", mix(i) % 50)).collect();
    let d: Vec<i64> = (lo..hi).map(|i| (mix(i ^ 3) % 1000) as i64).collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(Int64Array::from(a)),
        Arc::new(Float64Array::from(b)),
        Arc::new(StringArray::from(c)),
        Arc::new(Int64Array::from(d)),
    ];
    RecordBatch::try_new(schema(), cols).expect("batch")
}

fn commit(
    store: &Store,
    rows: u64,
    extra: u64,
    edited: &dyn Fn(u64) -> bool,
    tag: &str,
) -> Result<()> {
    let mut tx = store.begin();
    tx.set_mode("t", WriteMode::Overwrite)?;
    let per = rows / SEGMENTS as u64;
    let opts = IngestOptions {
        allow_duplicates: true,
        ..IngestOptions::default()
    };
    let mut add = |lo: u64, hi: u64| -> Result<()> {
        let batches: Vec<RecordBatch> = (lo..hi)
            .step_by(65_536)
            .map(|s| batch(s, (s + 65_536).min(hi), edited))
            .collect();
        let reader = arrow::array::RecordBatchIterator::new(batches.into_iter().map(Ok), schema());
        tx.add_reader("t", reader, &opts)?;
        Ok(())
    };
    for s in 0..SEGMENTS as u64 {
        add(s * per, (s + 1) * per)?;
    }
    if extra > 0 {
        add(rows, rows + extra)?;
    }
    tx.commit(&CommitOptions {
        tags: vec![tag.into()],
        ..CommitOptions::message(tag)
    })?;
    Ok(())
}

/// Runs `dstore ARGS` under `/usr/bin/time`: (stdout, seconds, peak RSS in MiB).
fn timed(dstore: &Path, store: &Path, args: &[&str]) -> Result<(String, f64, f64)> {
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg(dstore)
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .context("running /usr/bin/time dstore")?;
    let secs = started.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("dstore {args:?} failed: {err}");
    }
    let kib: f64 = err
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .context("no peak RSS from /usr/bin/time")?;
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        secs,
        kib / 1024.0,
    ))
}

pub(crate) fn run(rows: u64, dir: &Path, dstore: Option<PathBuf>) -> Result<()> {
    let dstore = match dstore {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("dstore"),
    };
    std::fs::create_dir_all(dir)?;
    let root = tempfile::tempdir_in(dir)?;
    let path = root.path().join("rowdiff.dstore");
    let store = Store::init(&path)?;
    let per = rows / SEGMENTS as u64;
    let t = Instant::now();
    commit(&store, rows, 0, &|_| false, "v1")?;
    // 1% of rows: every 10th row of segments 3 and 11 / every 100th row of every segment.
    commit(
        &store,
        rows,
        0,
        &|i| matches!(i / per, 3 | 11) && i % 10 == 0,
        "two",
    )?;
    commit(&store, rows, 0, &|i| i % 100 == 0, "spread")?;
    commit(&store, rows, rows / 100, &|_| false, "append")?;
    let size: u64 = store
        .snapshot(&store.resolve("v1")?.id)?
        .segments("t")?
        .iter()
        .map(|e| e.bytes)
        .sum();
    println!(
        "rowdiff: {rows} rows, {SEGMENTS} segments of {per} rows, 5 columns, {:.1} MB of Parquet per version (built in {:.1} s)",
        size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    println!(
        "  {:<34} {:>9} {:>9} {:>9} {:>10} {:>12} {:>10} {:>9}",
        "scenario", "added", "removed", "changed", "hashed", "bytes read", "time (s)", "RSS MiB"
    );
    let scenarios: [(&str, &str, &[&str]); 6] = [
        ("1% in 2 of 20 segments", "two", &[]),
        ("1% spread over all 20 segments", "spread", &[]),
        (
            "1% spread, --memory-mib 32 (spills)",
            "spread",
            &["--memory-mib", "32"],
        ),
        ("1% in 2 segments, --key id", "two", &["--key", "id"]),
        ("1% spread, --key id", "spread", &["--key", "id"]),
        ("append of 1%", "append", &[]),
    ];
    for (name, new, extra) in scenarios {
        let mut args = vec!["diff", "v1", new, "-t", "t", "--rows", "--json"];
        args.extend(extra);
        let (out, secs, rss) = timed(&dstore, &path, &args)?;
        let j: serde_json::Value = serde_json::from_str(&out)?;
        let num = |k: &str| j[k].as_u64().map_or("-".to_owned(), |v| v.to_string());
        let read =
            j["bytes_read_old"].as_u64().unwrap_or(0) + j["bytes_read_new"].as_u64().unwrap_or(0);
        println!(
            "  {name:<34} {:>9} {:>9} {:>9} {:>10} {:>12} {secs:>10.3} {rss:>9.1}",
            num("added"),
            num("removed"),
            num("changed"),
            num("rows_hashed"),
            read,
        );
    }
    for (name, new) in [
        ("cat --since, 2 segments", "two"),
        ("cat --since, append", "append"),
    ] {
        let (out, secs, rss) = timed(
            &dstore,
            &path,
            &["cat", new, "-t", "t", "--since", "v1", "--format", "csv"],
        )?;
        let lines = out.lines().count().saturating_sub(1);
        println!(
            "  {name:<34} {lines:>9} {:>9} {:>9} {:>10} {:>12} {secs:>10.3} {rss:>9.1}",
            "-", "-", "-", "-"
        );
    }
    // `stats --since`: the profile of just the new rows (the rewritten segments' new rows
    // profiled after the diff finds them; an append's new segment by its stored profile).
    for (name, new) in [
        ("stats --since, 2 segments", "two"),
        ("stats --since, spread", "spread"),
        ("stats --since, append", "append"),
    ] {
        let (out, secs, rss) = timed(
            &dstore,
            &path,
            &["stats", new, "-t", "t", "--since", "v1", "--json"],
        )?;
        let v: serde_json::Value = serde_json::from_str(&out)?;
        println!(
            "  {name:<34} {:>9} {:>9} {:>9} {:>10} {:>12} {secs:>10.3} {rss:>9.1}",
            v["rows"].as_u64().unwrap_or(0),
            "-",
            "-",
            "-",
            "-"
        );
    }
    Ok(())
}
