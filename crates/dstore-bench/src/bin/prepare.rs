//! Prepare / commit at scale (issue 17): `--workers` threads, each with its own transaction,
//! prepare `--segments` small segments between them; one process then checks and commits every
//! description as one snapshot. Prints one JSON line per phase.
//!
//! ```text
//! prepare [--segments 10000] [--workers 2] [--rows 100] [--check footer|trust|full]
//!         [--store PATH|s3://bucket/prefix]
//! ```
//!
//! Without `--store`, a fresh store in a temporary directory; an `s3://` store takes its
//! endpoint and credentials from the environment (`AWS_*`, `DSTORE_S3_*`) and must be empty.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use arrow::array::{Int64Array, RecordBatch, RecordBatchIterator, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use clap::Parser;
use dstore::{CommitOptions, IngestOptions, Prepared, PreparedCheck, Store};
use serde_json::json;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    segments: usize,
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Rows per segment.
    #[arg(long, default_value_t = 100)]
    rows: usize,
    #[arg(long, default_value = "footer")]
    check: String,
    #[arg(long)]
    store: Option<String>,
}

fn batch(seg: usize, rows: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
    ]));
    let ids: Vec<i64> = (0..rows).map(|r| (seg * rows + r) as i64).collect();
    let names: Vec<String> = ids.iter().map(|i| format!("row-{i}")).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(names)),
        ],
    )
    .expect("batch")
}

/// Requests so far (object storage only).
fn requests(store: &Store) -> serde_json::Value {
    use std::sync::atomic::Ordering::Relaxed;
    store.storage().request_counts().map_or(json!(null), |c| {
        json!({"gets": c.gets.load(Relaxed), "heads": c.heads.load(Relaxed),
               "puts": c.puts.load(Relaxed), "lists": c.lists.load(Relaxed)})
    })
}

/// Segment list pages in the store.
fn seglists(store: &Store) -> Result<usize> {
    Ok(store
        .storage()
        .list("manifests/")?
        .iter()
        .filter(|o| o.key.ends_with(".seglist"))
        .count())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let check = match args.check.as_str() {
        "footer" => PreparedCheck::Footer,
        "trust" => PreparedCheck::Trust,
        "full" => PreparedCheck::Full,
        other => bail!("--check {other}: use footer, trust or full"),
    };
    let tmp = tempfile::tempdir()?;
    let location = args
        .store
        .clone()
        .unwrap_or_else(|| tmp.path().join("s.dstore").display().to_string());
    let remote = dstore::storage::RemoteOptions::from_env();
    let store = Store::init_location(&location, &remote)?;

    // Phase 1: the workers, each its own transaction over its share of the segments.
    let start = Instant::now();
    let per = args.segments.div_ceil(args.workers.max(1));
    let done: Vec<(String, f64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.workers.max(1))
            .map(|w| {
                let location = location.clone();
                let remote = remote.clone();
                s.spawn(move || -> Result<(String, f64)> {
                    let store = Store::open_location(&location, &remote)?;
                    let mut tx = store.begin();
                    for seg in (w * per)..((w + 1) * per).min(args.segments) {
                        let b = batch(seg, args.rows);
                        let schema = b.schema();
                        tx.add_reader(
                            "t",
                            RecordBatchIterator::new([Ok(b)], schema),
                            &IngestOptions::default(),
                        )?;
                    }
                    let placing = Instant::now();
                    let json = tx.prepare()?.to_json()?;
                    Ok((json, placing.elapsed().as_secs_f64()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect::<Result<Vec<_>>>()
    })?;
    let prepare_s = start.elapsed().as_secs_f64();
    let place_s = done.iter().map(|d| d.1).fold(0.0, f64::max);
    let descriptions: Vec<String> = done.into_iter().map(|d| d.0).collect();
    let json_bytes: usize = descriptions.iter().map(String::len).sum();
    println!(
        "{}",
        json!({"phase": "prepare", "segments": args.segments, "workers": args.workers,
               "rows_per_segment": args.rows, "seconds": prepare_s,
               "segments_per_s": args.segments as f64 / prepare_s,
               "placing_s_slowest_worker": place_s,
               "description_bytes": json_bytes, "store": location})
    );

    // Phase 2: one process reads the descriptions, checks them, commits once.
    let before = requests(&store);
    let pages_before = seglists(&store)?;
    let start = Instant::now();
    let parsed: Vec<Prepared> = descriptions
        .iter()
        .enumerate()
        .map(|(i, d)| Prepared::from_json(d, std::path::Path::new(&format!("p{i}.json"))))
        .collect::<dstore::Result<_>>()?;
    let read_s = start.elapsed().as_secs_f64();
    let mut tx = store.begin();
    for p in &parsed {
        tx.add_prepared(p, check)?;
    }
    let check_s = start.elapsed().as_secs_f64() - read_s;
    let out = tx.commit(&CommitOptions::message("prepared"))?;
    let total_s = start.elapsed().as_secs_f64();
    let pages = seglists(&store)? - pages_before;
    println!(
        "{}",
        json!({"phase": "commit", "segments": out.changes.first().map_or(0, |c| c.segments),
               "check": args.check, "read_descriptions_s": read_s, "check_s": check_s,
               "commit_s": total_s - read_s - check_s, "total_s": total_s,
               "pages_written": pages, "requests_before": before, "requests_after": requests(&store),
               "snapshot": out.id.to_hex()})
    );
    Ok(())
}
