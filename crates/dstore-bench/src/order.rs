//! `dstore-bench order`: the quality of the shuffle (docs/order.md, "Quality"), measured from
//! outside on the scan's own output (the `id` column holds each row's storage position), for
//! order v1 and v2 at their default settings beside a uniform random permutation, on (a) a table
//! of 64 row groups sorted by `id` and (b) one of 2 huge row groups (pyarrow's default of
//! 1,048,576 rows). Prints figures; asserts nothing.

use std::fs::File;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::array::Int64Array;
use dstore::{CommitOptions, IngestOptions, ScanBuilder, Snapshot, Store, ingest::Validation};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{Rng, batch, schema};

/// A Parquet file of `groups` row groups of `rows` rows of the bench's generated rows (sorted
/// by `id`), written by arrow-rs with zstd as a user's file would be, and adopted as it is.
fn table(dir: &Path, name: &str, groups: usize, rows: usize) -> Result<Snapshot> {
    let store_dir = dir.join(name);
    let _ = std::fs::remove_dir_all(&store_dir);
    let file = dir.join(format!("{name}.parquet"));
    let total = groups * rows;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(rows))
        .build();
    let mut w = ArrowWriter::try_new(File::create(&file)?, schema(), Some(props))?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in (0..total).step_by(65_536) {
        w.write(&batch(&mut rng, i, (total - i).min(65_536)))?;
    }
    w.close()?;
    let store = Store::init(&store_dir)?;
    let mut tx = store.begin();
    tx.add_files(
        "t",
        std::slice::from_ref(&file),
        &IngestOptions {
            validation: Validation::FooterOnly,
            ..IngestOptions::default()
        },
    )?;
    let id = tx.commit(&CommitOptions::message("order bench"))?.id;
    std::fs::remove_file(&file)?;
    Ok(store.snapshot(&id)?)
}

/// mean |move| / N, storage neighbours still within 256 positions, row groups per run of 256
/// output rows.
pub(crate) fn quality(seq: &[usize], starts: &[u64]) -> (f64, f64, f64) {
    let n = seq.len();
    let mut pos = vec![0usize; n];
    for (p, &id) in seq.iter().enumerate() {
        pos[id] = p;
    }
    let nf = n as f64;
    let moved = seq
        .iter()
        .enumerate()
        .map(|(p, &id)| (p as f64 - id as f64).abs())
        .sum::<f64>()
        / nf
        / nf;
    let near = (0..n - 1)
        .filter(|&i| pos[i].abs_diff(pos[i + 1]) <= 256)
        .count() as f64
        / (nf - 1.0);
    let spread = seq
        .chunks(256)
        .map(|c| {
            let mut g: Vec<usize> = c
                .iter()
                .map(|&id| starts.partition_point(|&s| s <= id as u64) - 1)
                .collect();
            g.sort_unstable();
            g.dedup();
            g.len() as f64
        })
        .sum::<f64>()
        / n.div_ceil(256) as f64;
    (moved, near, spread)
}

/// Runs a scan of every column, keeping the ids: the sequence and the scan's statistics.
fn run(scan: ScanBuilder) -> Result<(Vec<usize>, dstore::scan::ScanStats, f64)> {
    let t = Instant::now();
    let mut it = scan.batches()?;
    let mut seq = Vec::new();
    for b in it.by_ref() {
        let b = b?;
        let ids = b
            .column_by_name("id")
            .context("id column")?
            .as_any()
            .downcast_ref::<Int64Array>()
            .context("id is int64")?;
        seq.extend(ids.values().iter().map(|&v| v as usize));
    }
    Ok((seq, it.stats(), t.elapsed().as_secs_f64()))
}

/// Prints the quality table of one snapshot's table `t`.
pub(crate) fn report(snap: &Snapshot, what: &str) -> Result<()> {
    let mut starts = Vec::new();
    let mut at = 0u64;
    for s in snap.segments("t")? {
        for g in &s.row_groups {
            starts.push(at);
            at += g.rows;
        }
    }
    let n = at as usize;
    println!(
        "{what}: {n} rows in {} row groups, {} MB in segments",
        starts.len(),
        snap.table("t")?.bytes / 1_000_000
    );
    println!(
        "  {:<34} {:>8} {:>12} {:>10} {:>14} {:>14} {:>8}",
        "order (seed 1, epoch 0)", "move/N", "near 256", "rg/256", "peak rows", "peak MB", "scan s"
    );
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let mut uniform: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        uniform.swap(i, j);
    }
    let (m, near, spread) = quality(&uniform, &starts);
    println!(
        "  {:<34} {m:>8.3} {near:>12.6} {spread:>10.2} {:>14} {:>14} {:>8}",
        "uniform permutation", "-", "-", "-"
    );
    let runs: [(&str, ScanBuilder); 5] = [
        (
            "v1, window 4 (v1 default)",
            snap.scan("t")?.order_version(1),
        ),
        ("v1, window 16", snap.scan("t")?.order_version(1).window(16)),
        ("v2, budget 512 MiB (default)", snap.scan("t")?),
        ("v2, budget 1 GiB", snap.scan("t")?.memory_budget(1 << 30)),
        (
            "v2, budget 128 MiB",
            snap.scan("t")?.memory_budget(128 << 20),
        ),
    ];
    for (label, scan) in runs {
        let (seq, stats, secs) = run(scan.shuffle(1))?;
        let (m, near, spread) = quality(&seq, &starts);
        println!(
            "  {label:<34} {m:>8.3} {near:>12.6} {spread:>10.2} {:>14} {:>14.1} {secs:>8.2}",
            stats.decoded_rows_peak,
            stats.decoded_bytes_peak as f64 / 1e6,
        );
    }
    Ok(())
}

/// Builds both tables under `dir` and prints their tables.
pub(crate) fn order_bench(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let sorted = table(dir, "order-sorted", 64, 32_768)?;
    report(&sorted, "(a) 64 row groups sorted by id")?;
    drop(sorted);
    let huge = table(dir, "order-huge", 2, 1 << 20)?;
    report(&huge, "(b) 2 row groups of 1,048,576 rows")?;
    Ok(())
}
