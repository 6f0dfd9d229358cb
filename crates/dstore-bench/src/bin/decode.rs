//! The dstore side of the decode benchmark (issue 14; `bench/decode.py` drives it beside
//! pyarrow): one scan per process, timed from opening the store to the last batch, one JSON
//! line out.
//!
//! ```text
//! decode --store S [--columns a,b] [--threads N] [--no-verify] [--repeat K]
//! ```
//!
//! `--repeat K` scans K times in the process (for profiling) and reports each run.
//! `--raw FILE` reads a Parquet file with arrow-rs alone instead (no store, no verification,
//! no batch assembly; `--threads` ignored, `--batch-size` default the whole row group): what
//! arrow-rs's decoders cost by themselves on one thread.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use dstore::Store;
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// The store holding table `--table`.
    #[arg(long, required_unless_present = "raw")]
    store: Option<PathBuf>,
    #[arg(long, default_value = "t")]
    table: String,
    /// Comma-separated columns (default: all).
    #[arg(long)]
    columns: Option<String>,
    /// Scan threads (the scan's rayon pool).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[arg(long)]
    no_verify: bool,
    /// Rows per batch (the scan's default when absent).
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Read this Parquet file with arrow-rs alone (see the module docs).
    #[arg(long)]
    raw: Option<PathBuf>,
}

/// CPU time of the threads of this process alive now (Linux `schedstat`: nanoseconds on a CPU),
/// so figures on a busy machine show work done rather than time waiting for a core.
fn cpu_seconds() -> f64 {
    let mut ns = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
        }
    }
    ns as f64 / 1e9
}

/// Reads `path` with arrow-rs's `ParquetRecordBatchReader` over the file (each page read
/// from the file as the decoder asks).
fn raw(a: &Args, path: &std::path::Path) -> Result<()> {
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let t = Instant::now();
    let cpu0 = cpu_seconds();
    let mut b = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path)?)?;
    if let Some(c) = &a.columns {
        let names: Vec<&str> = c.split(',').map(str::trim).collect();
        let schema = b.schema().clone();
        let roots = names
            .iter()
            .map(|n| schema.index_of(n))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mask = ProjectionMask::roots(b.parquet_schema(), roots);
        b = b.with_projection(mask);
    }
    let rg_rows = b.metadata().row_group(0).num_rows() as usize;
    let reader = b.with_batch_size(a.batch_size.unwrap_or(rg_rows)).build()?;
    let mut rows = 0;
    for batch in reader {
        rows += batch?.num_rows();
    }
    println!(
        "{}",
        json!({"seconds": t.elapsed().as_secs_f64(), "cpu_seconds": cpu_seconds() - cpu0, "rows": rows})
    );
    Ok(())
}

#[allow(clippy::many_single_char_names)] // a(rgs), s(tore), b(uilder), t(ime) as in suite/mod.rs
fn main() -> Result<()> {
    let a = Args::parse();
    if let Some(p) = &a.raw {
        for _ in 0..a.repeat.max(1) {
            raw(&a, p)?;
        }
        return Ok(());
    }
    for _ in 0..a.repeat.max(1) {
        let t = Instant::now();
        let cpu0 = cpu_seconds();
        let s = Store::open(a.store.as_ref().expect("required without --raw"))?;
        let snap = s.snapshot(&s.resolve("HEAD")?.id)?;
        let mut b = snap.scan(&a.table)?.verify(!a.no_verify).threads(a.threads);
        if let Some(c) = &a.columns {
            b = b.columns(c.split(',').map(str::trim));
        }
        if let Some(n) = a.batch_size {
            b = b.batch_size(n);
        }
        let mut it = b.batches()?;
        let opened = t.elapsed();
        let (mut rows, mut batches) = (0usize, 0usize);
        let mut first = None;
        for batch in it.by_ref() {
            rows += batch?.num_rows();
            batches += 1;
            first.get_or_insert_with(|| t.elapsed());
        }
        let d = t.elapsed();
        // Before the scan (and its pool threads) is dropped: their CPU time still counts.
        let cpu = cpu_seconds() - cpu0;
        let st = it.stats();
        println!(
            "{}",
            json!({
                "seconds": d.as_secs_f64(),
                "cpu_seconds": cpu,
                "open_seconds": opened.as_secs_f64(),
                "first_batch_seconds": first.map(|f| f.as_secs_f64()),
                "rows": rows,
                "batches": batches,
                "bytes_read": st.bytes_read,
                "row_groups_read": st.row_groups_read,
            })
        );
    }
    Ok(())
}
