//! Commit latency, ref and time resolve, and opening an old version, at growing history sizes.
//!
//! One store grows commit by commit (10 rows appended to table `t` each, a tag every 1,000);
//! when it reaches each level L the figures are taken there, so levels 10 / 1,000 / 10,000 /
//! 100,000 cost 100,000 commits in all, not 111,010.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use arrow::array::{Int64Array, RecordBatch, RecordBatchIterator};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use dstore::{CommitOptions, IngestOptions, Store};
use serde_json::{Value, json};

use super::secs;
use crate::median;

const RESOLVE_REPEATS: usize = 20;

fn ms(d: Duration) -> f64 {
    secs(d) * 1e3
}

fn median_of(n: usize, mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    let mut runs = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        runs.push(t.elapsed());
    }
    Ok(median(runs))
}

pub(super) fn run(dir: &Path, levels: &[usize], dstore: Option<PathBuf>) -> Result<Value> {
    let mut levels = levels.to_vec();
    levels.sort_unstable();
    levels.dedup();
    let Some(&max) = levels.last() else {
        bail!("no history levels given")
    };
    if levels[0] < 2 {
        bail!("history levels start at 2 commits");
    }
    let store_dir = dir.join("store-history");
    let _ = std::fs::remove_dir_all(&store_dir);
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let store = Store::init(&store_dir)?;
    let bin = dstore.unwrap_or_else(|| {
        std::env::current_exe()
            .expect("exe")
            .with_file_name("dstore")
    });
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let mut lat: Vec<Duration> = Vec::with_capacity(max);
    // Per commit: its log sequence number and the wall-clock time just after it returned.
    let mut seqs: Vec<u64> = Vec::with_capacity(max);
    let mut times: Vec<i64> = Vec::with_capacity(max);
    let mut first_id = None;
    let mut out = Vec::new();
    let t0 = Instant::now();
    for i in 0..max {
        let t = Instant::now();
        let c = small_commit(&store, &schema, i)?;
        lat.push(t.elapsed());
        first_id.get_or_insert(c.id);
        seqs.push(c.seq);
        times.push(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)?
                .as_micros()
                .try_into()?,
        );
        if (i + 1) % 5000 == 0 {
            eprintln!(
                "history: {} commits, {:.0} s",
                i + 1,
                t0.elapsed().as_secs_f64()
            );
        }
        let level = i + 1;
        if levels.contains(&level) {
            let prefix = first_id.expect("one commit").short(12);
            out.push(figures(
                &store, &store_dir, &bin, level, &lat, &seqs, &times, &prefix,
            )?);
        }
    }
    let _ = std::fs::remove_dir_all(&store_dir);
    Ok(json!({ "levels": out }))
}

#[allow(clippy::too_many_arguments)]
fn figures(
    store: &Store,
    store_dir: &Path,
    bin: &Path,
    level: usize,
    lat: &[Duration],
    seqs: &[u64],
    times: &[i64],
    prefix: &str,
) -> Result<Value> {
    let commit = median(lat[level.saturating_sub(10)..level].to_vec());
    let back = 100.min(level - 1);
    // The version opened by the time-travel figures: the middle of the history.
    let mid = level / 2;
    let mid_seq = seqs[mid - 1];
    let mid_time = times[mid - 1];
    let mut resolve = serde_json::Map::new();
    for r in [
        "HEAD".to_owned(),
        format!("HEAD~{back}"),
        format!("@{mid_seq}"),
        "t0".to_owned(),
        prefix.to_owned(),
    ] {
        let d = median_of(RESOLVE_REPEATS, || {
            store.resolve(&r)?;
            Ok(())
        })?;
        resolve.insert(r, json!(ms(d)));
    }
    let as_of = median_of(RESOLVE_REPEATS, || {
        store.resolve_as_of(mid_time)?;
        Ok(())
    })?;
    resolve.insert("time".into(), json!(ms(as_of)));
    // What a reader of an old version pays from nothing: open the store, resolve, open the
    // snapshot's manifest. Comparable to DeltaTable(uri, version=k) and lance.dataset(uri, version=k).
    let at = format!("@{mid_seq}");
    let open_version = median_of(RESOLVE_REPEATS, || {
        let s = Store::open(store_dir)?;
        s.snapshot(&s.resolve(&at)?.id)?;
        Ok(())
    })?;
    let open_time = median_of(RESOLVE_REPEATS, || {
        let s = Store::open(store_dir)?;
        s.snapshot(&s.resolve_as_of(mid_time)?.id)?;
        Ok(())
    })?;
    let open_head = median_of(RESOLVE_REPEATS, || {
        let s = Store::open(store_dir)?;
        s.snapshot(&s.resolve("HEAD")?.id)?;
        Ok(())
    })?;
    let show = if bin.exists() {
        Some(ms(median_of(5, || {
            let o = Command::new(bin)
                .arg("--store")
                .arg(store_dir)
                .args(["show", "HEAD"])
                .output()
                .with_context(|| format!("run {}", bin.display()))?;
            if !o.status.success() {
                bail!("dstore show failed: {}", String::from_utf8_lossy(&o.stderr));
            }
            Ok(())
        })?))
    } else {
        None
    };
    let resolve_max = resolve
        .values()
        .filter_map(Value::as_f64)
        .fold(0.0, f64::max);
    Ok(json!({
        "level": level,
        "commit_ms": ms(commit),
        "resolve_ms": resolve,
        "resolve_max_ms": resolve_max,
        "open_version": mid,
        "open_version_ms": ms(open_version),
        "open_time_ms": ms(open_time),
        "open_head_ms": ms(open_head),
        "show_head_process_ms": show,
    }))
}

/// Commit `i` of a history benchmark: a 10-row append to table `t`, tagged `t{i}` every 1,000
/// commits.
pub(crate) fn small_commit(
    store: &Store,
    schema: &SchemaRef,
    i: usize,
) -> anyhow::Result<dstore::CommitOutcome> {
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int64Array::from(vec![i as i64; 10]))],
    )?;
    let mut tx = store.begin();
    tx.add_reader(
        "t",
        RecordBatchIterator::new([Ok(b)], schema.clone()),
        &IngestOptions::default(),
    )?;
    let tags = if i.is_multiple_of(1000) {
        vec![format!("t{i}")]
    } else {
        vec![]
    };
    Ok(tx.commit(&CommitOptions {
        tags,
        ..CommitOptions::message(format!("commit {i}"))
    })?)
}
