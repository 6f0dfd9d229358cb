//! Benchmarks that print figures (never timed assertions in tests).
//!
//! ```text
//! cargo run --release -p dstore-bench -- ingest  --rows 2000000     # ~300 MB Parquet, and CSV
//! cargo run --release -p dstore-bench -- history --commits 10000    # commit/resolve/show vs history
//! ```
//! Both print a table and write JSON next to their scratch data.
//!
//! `dstore-bench suite <op>` holds the dstore side of the suite against pyarrow, delta-rs and
//! Lance (`scripts/bench.sh`, `bench/suite.py`): one operation per process, one JSON line out.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use clap::{Parser, Subcommand};
use dstore::{CommitOptions, IngestOptions, Store, ingest::Validation};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::json;

mod order;
mod remote;
mod rowdiff;
mod suite;
mod uses;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Ingest a generated Parquet file and the same rows as CSV, beside cp and BLAKE3.
    Ingest {
        #[arg(long, default_value_t = 2_000_000)]
        rows: usize,
        #[arg(long, default_value = "bench-data")]
        dir: PathBuf,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// Scan throughput: full, 2-column projection, selective filter, shuffled and sharded;
    /// beside pyarrow reading the same Parquet files (`--python` with pyarrow installed).
    Scan {
        #[arg(long, default_value_t = 2_000_000)]
        rows: usize,
        #[arg(long, default_value = "bench-data")]
        dir: PathBuf,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// A Python with pyarrow (e.g. ~/.cache/dstore/venv/bin/python).
        #[arg(long)]
        python: Option<PathBuf>,
    },
    /// Shuffle quality of order v1 and v2 (docs/order.md) on a sorted table of 64 row groups and
    /// on one of 2 huge row groups, beside a uniform permutation, with peak decoded memory.
    Order {
        #[arg(long, default_value = "bench-data")]
        dir: PathBuf,
    },
    /// `dstore diff --rows` and `cat --since` of two versions differing in 1% of the rows.
    Rowdiff {
        #[arg(long, default_value_t = 2_000_000)]
        rows: u64,
        #[arg(long, default_value = "bench-data")]
        dir: PathBuf,
        /// The dstore binary (default: next to this one).
        #[arg(long)]
        dstore: Option<PathBuf>,
    },
    /// Use records: recording one (in-process, CLI), `dstore uses` at 10 and at N records,
    /// gc's mark phase with N.
    Uses {
        #[arg(long, default_value_t = 100_000)]
        uses: usize,
        #[arg(long, default_value_t = 100)]
        snapshots: usize,
        #[arg(long, default_value = "bench-data")]
        dir: PathBuf,
        /// The dstore binary (default: next to this one).
        #[arg(long)]
        dstore: Option<PathBuf>,
    },
    /// Commit latency, resolve and `dstore show HEAD` as history grows.
    History {
        #[arg(long, default_value_t = 10_000)]
        commits: usize,
        #[arg(long, default_value = "bench-data")]
        dir: PathBuf,
        /// The dstore binary for `show HEAD` (default: next to this one).
        #[arg(long)]
        dstore: Option<PathBuf>,
    },
    /// A local store beside a store in object storage (s3://…, from the AWS environment):
    /// ingest, full scan and a selective filter, with the requests each makes.
    Remote {
        /// Where the runs' stores go, e.g. s3://dstore-test/bench (each run uses a new prefix
        /// under it and deletes it afterwards).
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        #[arg(long, default_value = "target/bench-remote")]
        dir: PathBuf,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// The dstore side of the comparison suite (`scripts/bench.sh`): one operation per process,
    /// one JSON object on stdout.
    Suite {
        #[command(subcommand)]
        op: suite::SuiteOp,
    },
}

/// xorshift64*: deterministic test data without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn text(&mut self, n: usize) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ";
        (0..n)
            .map(|_| A[(self.next() % A.len() as u64) as usize] as char)
            .collect()
    }
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("user_id", DataType::Int64, false),
        Field::new("score", DataType::Float64, false),
        Field::new("label", DataType::Int32, true),
        Field::new("category", DataType::Utf8, false),
        Field::new("short_text", DataType::Utf8, false),
        Field::new("long_text", DataType::Utf8, false),
    ]))
}

fn batch(rng: &mut Rng, start: usize, n: usize) -> RecordBatch {
    let ids: Vec<i64> = (start..start + n).map(|i| i as i64).collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.clone())),
        Arc::new(
            TimestampMicrosecondArray::from(
                ids.iter()
                    .map(|i| 1_700_000_000_000_000 + i * 1_000)
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(Int64Array::from(
            (0..n)
                .map(|_| (rng.next() % 100_000) as i64)
                .collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            (0..n)
                .map(|_| (rng.next() % 1_000_000) as f64 / 1000.0)
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int32Array::from(
            (0..n)
                .map(|_| {
                    let v = rng.next() % 11;
                    (v < 10).then_some(v as i32)
                })
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            (0..n)
                .map(|_| format!("cat{:02}", rng.next() % 50))
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            (0..n).map(|_| rng.text(16)).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            (0..n).map(|_| rng.text(120)).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema(), cols).expect("consistent columns")
}

fn generate(dir: &Path, rows: usize) -> Result<(PathBuf, PathBuf)> {
    let pq = dir.join(format!("data-{rows}.parquet"));
    let csv = dir.join(format!("data-{rows}.csv"));
    if pq.exists() && csv.exists() {
        return Ok((pq, csv));
    }
    std::fs::create_dir_all(dir)?;
    // Written under temporary names and renamed, so an interrupted run is not mistaken for data.
    let (pq_tmp, csv_tmp) = (
        pq.with_extension("parquet.tmp"),
        csv.with_extension("csv.tmp"),
    );
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(128 * 1024))
        .build();
    let mut pq_writer = ArrowWriter::try_new(File::create(&pq_tmp)?, schema(), Some(props))?;
    let mut csv_writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(std::io::BufWriter::new(File::create(&csv_tmp)?));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut i = 0;
    while i < rows {
        let n = (rows - i).min(65_536);
        let b = batch(&mut rng, i, n);
        pq_writer.write(&b)?;
        csv_writer.write(&b)?;
        i += n;
    }
    pq_writer.close()?;
    drop(csv_writer);
    std::fs::rename(&pq_tmp, &pq)?;
    std::fs::rename(&csv_tmp, &csv)?;
    Ok((pq, csv))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(f: impl FnOnce() -> Result<T>) -> Result<(Duration, T)> {
    let t = Instant::now();
    let out = f()?;
    Ok((t.elapsed(), out))
}

fn blake3_file(p: &Path) -> Result<blake3::Hash> {
    let mut f = File::open(p)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize());
        }
        h.update(&buf[..n]);
    }
}

fn ingest_once(dir: &Path, input: &Path, validation: Validation) -> Result<Duration> {
    let store_dir = dir.join("store-ingest");
    let _ = std::fs::remove_dir_all(&store_dir);
    let store = Store::init(&store_dir)?;
    let (d, ()) = time(|| {
        let mut tx = store.begin();
        tx.add_files(
            "t",
            &[input.to_owned()],
            &IngestOptions {
                validation,
                ..IngestOptions::default()
            },
        )?;
        tx.commit(&CommitOptions::message("bench"))?;
        Ok(())
    })?;
    Ok(d)
}

fn mb_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn ingest(rows: usize, dir: &Path, repeats: usize) -> Result<()> {
    let (pq, csv) = generate(dir, rows)?;
    let pq_len = std::fs::metadata(&pq)?.len();
    let csv_len = std::fs::metadata(&csv)?.len();
    // Warm the page cache for every contestant alike.
    blake3_file(&pq)?;
    blake3_file(&csv)?;
    let mut results = Vec::new();
    let mut row = |name: &str, bytes: u64, runs: Vec<Duration>| {
        let m = median(runs);
        println!(
            "{name:<44} {:>9.3} s  {:>8.1} MB/s",
            m.as_secs_f64(),
            mb_s(bytes, m)
        );
        results.push(json!({"name": name, "seconds": m.as_secs_f64(), "bytes": bytes}));
        m
    };
    println!(
        "input: {} ({:.1} MB), {} ({:.1} MB), {rows} rows; median of {repeats}",
        pq.display(),
        pq_len as f64 / 1e6,
        csv.display(),
        csv_len as f64 / 1e6
    );
    let copy_to = dir.join("copy.tmp");
    let run_n = |f: &mut dyn FnMut() -> Result<Duration>| -> Result<Vec<Duration>> {
        (0..repeats).map(|_| f()).collect()
    };
    let cp = row(
        "cp parquet",
        pq_len,
        run_n(&mut || {
            let _ = std::fs::remove_file(&copy_to);
            let (d, st) = time(|| Ok(Command::new("cp").arg(&pq).arg(&copy_to).status()?))?;
            if !st.success() {
                bail!("cp failed")
            }
            Ok(d)
        })?,
    );
    let b3 = row(
        "blake3 parquet (1 thread, streaming)",
        pq_len,
        run_n(&mut || Ok(time(|| blake3_file(&pq))?.0))?,
    );
    let _ = std::fs::remove_file(&copy_to);
    let fast = row(
        "dstore ingest parquet --no-validate",
        pq_len,
        run_n(&mut || ingest_once(dir, &pq, Validation::FooterOnly))?,
    );
    let full = row(
        "dstore ingest parquet (full validation)",
        pq_len,
        run_n(&mut || ingest_once(dir, &pq, Validation::Full))?,
    );
    let cpc = row(
        "cp csv",
        csv_len,
        run_n(&mut || {
            let _ = std::fs::remove_file(&copy_to);
            let (d, _) = time(|| Ok(Command::new("cp").arg(&csv).arg(&copy_to).status()?))?;
            Ok(d)
        })?,
    );
    let b3c = row(
        "blake3 csv (1 thread, streaming)",
        csv_len,
        run_n(&mut || Ok(time(|| blake3_file(&csv))?.0))?,
    );
    let _ = std::fs::remove_file(&copy_to);
    let csvd = row(
        "dstore ingest csv (convert to zstd parquet)",
        csv_len,
        run_n(&mut || ingest_once(dir, &csv, Validation::Full))?,
    );
    let base = cp + b3;
    println!();
    println!(
        "parquet --no-validate / (cp + blake3): {:.2}x",
        fast.as_secs_f64() / base.as_secs_f64()
    );
    println!(
        "parquet full validation / (cp + blake3): {:.2}x",
        full.as_secs_f64() / base.as_secs_f64()
    );
    println!(
        "csv ingest / (cp + blake3 of the csv): {:.2}x",
        csvd.as_secs_f64() / (cpc + b3c).as_secs_f64()
    );
    let out = dir.join("ingest.json");
    std::fs::write(
        &out,
        serde_json::to_vec_pretty(&json!({"rows": rows, "results": results}))?,
    )?;
    println!("wrote {}", out.display());
    Ok(())
}

fn history(commits: usize, dir: &Path, dstore: Option<PathBuf>) -> Result<()> {
    let store_dir = dir.join(format!("store-history-{commits}"));
    let _ = std::fs::remove_dir_all(&store_dir);
    std::fs::create_dir_all(dir)?;
    let store = Store::init(&store_dir)?;
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let mut lat = Vec::with_capacity(commits);
    let mut first_id = None;
    let t0 = Instant::now();
    for i in 0..commits {
        let (d, out) = time(|| suite::history::small_commit(&store, &schema, i))?;
        first_id.get_or_insert(out.id);
        lat.push(d);
        if (i + 1) % 1000 == 0 {
            eprintln!("{} commits, {:.1} s", i + 1, t0.elapsed().as_secs_f64());
        }
    }
    let window = |r: std::ops::Range<usize>| median(lat[r].to_vec());
    let early = window(0..10.min(commits));
    let late = window(commits.saturating_sub(10)..commits);
    println!(
        "commit latency (median of 10), commits 1-10:         {:>8.2} ms",
        early.as_secs_f64() * 1e3
    );
    println!(
        "commit latency (median of 10), commits {}-{}: {:>8.2} ms",
        commits - 9,
        commits,
        late.as_secs_f64() * 1e3
    );
    let resolve = |r: &str| -> Result<Duration> {
        let runs: Vec<Duration> = (0..20)
            .map(|_| time(|| Ok(store.resolve(r)?)).map(|x| x.0))
            .collect::<Result<_>>()?;
        Ok(median(runs))
    };
    let prefix = first_id.expect("one commit").short(12);
    let mut figures = vec![];
    // HEAD~100 needs 101 commits; smaller histories go back as far as they can.
    let back = format!("HEAD~{}", 100.min(commits.saturating_sub(1)));
    for r in ["HEAD", back.as_str(), "@5", "t0", prefix.as_str()] {
        let d = resolve(r)?;
        println!(
            "resolve {r:<16} (catalog open + lookup, median of 20): {:>8.3} ms",
            d.as_secs_f64() * 1e3
        );
        figures.push(json!({"resolve": r, "ms": d.as_secs_f64() * 1e3}));
    }
    let bin = dstore.unwrap_or_else(|| {
        std::env::current_exe()
            .expect("exe")
            .with_file_name("dstore")
    });
    if bin.exists() {
        let runs: Vec<Duration> = (0..5)
            .map(|_| {
                time(|| {
                    Ok(Command::new(&bin)
                        .args(["--store"])
                        .arg(&store_dir)
                        .args(["show", "HEAD"])
                        .output()?)
                })
                .map(|x| x.0)
            })
            .collect::<Result<_>>()?;
        let d = median(runs);
        println!(
            "`dstore show HEAD` at {commits} snapshots (process wall time, median of 5): {:>8.2} ms",
            d.as_secs_f64() * 1e3
        );
        figures.push(json!({"show_head_ms": d.as_secs_f64() * 1e3}));
    } else {
        println!(
            "(no dstore binary at {}; build it with cargo build --release -p dstore-cli)",
            bin.display()
        );
    }
    let out = dir.join(format!("history-{commits}.json"));
    std::fs::write(
        &out,
        serde_json::to_vec_pretty(&json!({
            "commits": commits,
            "commit_ms_first10": early.as_secs_f64() * 1e3,
            "commit_ms_last10": late.as_secs_f64() * 1e3,
            "figures": figures,
        }))?,
    )
    .with_context(|| format!("write {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}

fn scan_bench(rows: usize, dir: &Path, repeats: usize, python: Option<PathBuf>) -> Result<()> {
    let (pq, _) = generate(dir, rows)?;
    let store_dir = dir.join("store-scan");
    let _ = std::fs::remove_dir_all(&store_dir);
    let store = Store::init(&store_dir)?;
    let mut tx = store.begin();
    tx.add_files(
        "t",
        std::slice::from_ref(&pq),
        &IngestOptions {
            validation: Validation::FooterOnly,
            ..IngestOptions::default()
        },
    )?;
    let id = tx.commit(&CommitOptions::message("scan bench"))?.id;
    let snap = store.snapshot(&id)?;
    let bytes = snap.table("t")?.bytes;
    let run =
        |name: &str, make: &dyn Fn() -> Result<dstore::ScanBuilder>| -> Result<(f64, u64, usize)> {
            let mut times = Vec::new();
            let (mut read, mut n) = (0, 0);
            for _ in 0..repeats {
                let t = Instant::now();
                let mut b = make()?.batches()?;
                n = 0;
                for batch in b.by_ref() {
                    n += batch?.num_rows();
                }
                times.push(t.elapsed());
                read = b.stats().bytes_read;
            }
            let m = median(times).as_secs_f64();
            println!(
                "{name:<52} {m:>8.3} s  {:>8.1} MB/s of table  rows {n:>9}  bytes read {:>6.1} MB",
                bytes as f64 / 1e6 / m,
                read as f64 / 1e6
            );
            Ok((m, read, n))
        };
    println!(
        "table: {rows} rows, {:.1} MB in 1 segment; median of {repeats}",
        bytes as f64 / 1e6
    );
    let full = run("dstore full scan (verified)", &|| Ok(snap.scan("t")?))?;
    run("dstore full scan, verify off", &|| {
        Ok(snap.scan("t")?.verify(false))
    })?;
    run("dstore 2-column projection (id, score)", &|| {
        Ok(snap.scan("t")?.columns(["id", "score"]))
    })?;
    let sel = run("dstore filter id < 20000 (1% of rows)", &|| {
        Ok(snap.scan("t")?.filter(
            dstore::scan::filter::Expr::parse("id < 20000").map_err(|e| anyhow::anyhow!("{e}"))?,
        ))
    })?;
    let paged = run("dstore filter id < 20000, verify off (page index)", &|| {
        Ok(snap.scan("t")?.verify(false).filter(
            dstore::scan::filter::Expr::parse("id < 20000").map_err(|e| anyhow::anyhow!("{e}"))?,
        ))
    })?;
    run("dstore full scan, no read-ahead", &|| {
        Ok(snap.scan("t")?.read_ahead(0))
    })?;
    run("dstore shuffled (seed 1, epoch 0), whole table", &|| {
        Ok(snap.scan("t")?.shuffle(1))
    })?;
    run("dstore shuffled, no read-ahead", &|| {
        Ok(snap.scan("t")?.shuffle(1).read_ahead(0))
    })?;
    run("dstore shuffled + shard 0/2", &|| {
        Ok(snap.scan("t")?.shuffle(1).shard(0, 2))
    })?;
    println!(
        "selective filter read {:.1} MB of {:.1} MB ({:.1}%); unverified with the page index {:.1} MB ({:.2}%)",
        sel.1 as f64 / 1e6,
        full.1 as f64 / 1e6,
        100.0 * sel.1 as f64 / full.1 as f64,
        paged.1 as f64 / 1e6,
        100.0 * paged.1 as f64 / full.1 as f64
    );
    order_quality(&snap, rows)?;
    if let Some(py) = python {
        let script = format!(
            "import time, pyarrow.parquet as pq, statistics as s\nts=[]\nfor _ in range({repeats}):\n    t=time.perf_counter(); tb=pq.read_table('{p}'); ts.append(time.perf_counter()-t)\nm=s.median(ts)\nprint(f'pyarrow read_table (same file)                       {{m:8.3f}} s  {{{b}/1e6/m:8.1f}} MB/s of table  rows {{tb.num_rows:9d}}')\nts=[]\nfor _ in range({repeats}):\n    t=time.perf_counter(); tb=pq.read_table('{p}', columns=['id','score']); ts.append(time.perf_counter()-t)\nm=s.median(ts)\nprint(f'pyarrow 2-column projection                          {{m:8.3f}} s')\n",
            p = pq.display(),
            b = bytes
        );
        let out = Command::new(py).arg("-c").arg(script).output()?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// How far a shuffled scan moves rows, measured from outside: the `id` column holds each row's
/// storage position, so the scan's output is the permutation.
fn order_quality(snap: &dstore::Snapshot, rows: usize) -> Result<()> {
    // First row (storage order) of each row group, to tell which group a row came from.
    let mut starts = Vec::new();
    let mut at = 0u64;
    for s in snap.segments("t")? {
        for g in &s.row_groups {
            starts.push(at);
            at += g.rows;
        }
    }
    let groups = starts.len();
    println!(
        "order quality ({rows} rows, {groups} row groups; a uniform random permutation gives mean |move|/N = 0.333, neighbours kept within 256 = {:.5}):",
        512.0 / rows as f64
    );
    println!(
        "  {:<10} {:>14} {:>22} {:>26}",
        "window", "mean |move|/N", "neighbours within 256", "row groups per 256 rows"
    );
    for window in [1usize, 4, 16] {
        let mut seq = Vec::with_capacity(rows);
        let it = snap
            .scan("t")?
            .shuffle(1)
            .order_version(1)
            .window(window)
            .columns(["id"])
            .batches()?;
        for b in it {
            let b = b?;
            let ids = b
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .context("id column")?;
            seq.extend(ids.values().iter().map(|&v| v as usize));
        }
        let (moved, near, spread) = order::quality(&seq, &starts);
        println!("  {window:<10} {moved:>14.3} {near:>22.5} {spread:>26.2}");
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Scan {
            rows,
            dir,
            repeats,
            python,
        } => scan_bench(rows, &dir, repeats.max(1), python),
        Cmd::Order { dir } => order::order_bench(&dir),
        Cmd::Ingest { rows, dir, repeats } => ingest(rows, &dir, repeats.max(1)),
        Cmd::History {
            commits,
            dir,
            dstore,
        } => history(commits, &dir, dstore),
        Cmd::Suite { op } => suite::run(op),
        Cmd::Rowdiff { rows, dir, dstore } => rowdiff::run(rows, &dir, dstore),
        Cmd::Uses {
            uses: n,
            snapshots,
            dir,
            dstore,
        } => uses::run(n, snapshots.max(1), &dir, dstore),
        Cmd::Remote {
            url,
            rows,
            dir,
            repeats,
        } => remote::run(&url, rows, &dir, repeats.max(1)),
    }
}
