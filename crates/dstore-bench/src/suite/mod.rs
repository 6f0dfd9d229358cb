//! `dstore-bench suite <op>`: the dstore side of the comparison suite (`bench/suite.py`).
//!
//! Each op does one measured thing in a fresh process and prints one JSON object on stdout, so
//! that the driver can read the process's own peak RSS (`wait4`) beside the figure. Times are
//! taken inside the process around the library calls, from opening the store to the last byte
//! (the peers are timed the same way inside their Python worker). Setup that a user would not
//! repeat (creating an empty store) is outside the timed region.

pub(crate) mod data;
pub(crate) mod history;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use dstore::{CommitOptions, IngestOptions, Store, checkout::CheckoutOptions, ingest::Validation};
use serde_json::{Value, json};

use crate::{blake3_file, median};

#[derive(Subcommand)]
pub(crate) enum SuiteOp {
    /// Generate the suite's Parquet and CSV files (cached by size); prints their paths.
    Gen {
        #[arg(long)]
        rows: usize,
        #[arg(long)]
        dir: PathBuf,
    },
    /// BLAKE3 over a file, one thread, 1 MiB reads (what `b3sum --num-threads 1` does).
    Hash { file: PathBuf },
    /// Ingest files as one new commit of table `t`.
    Ingest {
        #[arg(long)]
        store: PathBuf,
        /// Delete and re-create the store first (outside the timed region).
        #[arg(long)]
        fresh: bool,
        /// Footer and schema checks only (`dstore snapshot --no-validate`).
        #[arg(long)]
        no_validate: bool,
        /// Rows per row group of converted (CSV) segments.
        #[arg(long)]
        row_group_rows: Option<usize>,
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Scan table `t` of a snapshot to Arrow batches (verified unless --no-verify).
    Scan {
        #[arg(long)]
        store: PathBuf,
        #[arg(long, default_value = "HEAD")]
        at: String,
        /// Comma-separated projection.
        #[arg(long)]
        columns: Option<String>,
        /// A dstore filter expression, e.g. `id < 20000`.
        #[arg(long)]
        filter: Option<String>,
        #[arg(long)]
        no_verify: bool,
        /// Decode every projected column of a read row group before filtering
        /// (`ScanBuilder::late_materialization(false)`).
        #[arg(long)]
        no_late: bool,
    },
    /// Open the store, resolve a ref and open its snapshot (median of --repeats, in process).
    Open {
        #[arg(long)]
        store: PathBuf,
        #[arg(long)]
        at: String,
        #[arg(long, default_value_t = 20)]
        repeats: usize,
    },
    /// Check a snapshot out to plain files (hard links), into a directory that must not exist.
    Checkout {
        #[arg(long)]
        store: PathBuf,
        #[arg(long)]
        at: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Checkout time per segment for tables of --segments segments of each --segment-rows size.
    CheckoutSegments {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, value_delimiter = ',', default_values_t = [1_000, 100_000])]
        segment_rows: Vec<usize>,
        #[arg(long, default_value_t = 10)]
        segments: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
    /// Commit latency, resolve and time travel at each history level, in one growing store.
    History {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, value_delimiter = ',', default_values_t = [10, 1_000, 10_000, 100_000])]
        levels: Vec<usize>,
        /// The dstore binary, for `dstore show HEAD` as a whole process.
        #[arg(long)]
        dstore: Option<PathBuf>,
    },
}

pub(crate) fn run(op: SuiteOp) -> Result<()> {
    let out = match op {
        SuiteOp::Gen { rows, dir } => {
            let (pq, csv) = data::generate(&dir, rows)?;
            json!({
                "rows": rows,
                "parquet": pq, "parquet_bytes": size(&pq)?,
                "csv": csv, "csv_bytes": size(&csv)?,
                "row_group_rows": data::ROW_GROUP_ROWS,
                "embedding_dim": data::EMBEDDING_DIM,
            })
        }
        SuiteOp::Hash { file } => {
            let t = Instant::now();
            let h = blake3_file(&file)?;
            json!({"seconds": secs(t.elapsed()), "bytes": size(&file)?, "blake3": h.to_hex().as_str()})
        }
        SuiteOp::Ingest {
            store,
            fresh,
            no_validate,
            row_group_rows,
            inputs,
        } => ingest(&store, fresh, no_validate, row_group_rows, &inputs)?,
        SuiteOp::Scan {
            store,
            at,
            columns,
            filter,
            no_verify,
            no_late,
        } => scan(
            &store,
            &at,
            columns.as_deref(),
            filter.as_deref(),
            no_verify,
            no_late,
        )?,
        SuiteOp::Open { store, at, repeats } => open(&store, &at, repeats.max(1))?,
        SuiteOp::Checkout { store, at, out } => {
            let t = Instant::now();
            let s = Store::open(&store)?;
            let snap = s.snapshot(&s.resolve(&at)?.id)?;
            let r = s.checkout(&snap, &out, &CheckoutOptions::default(), &|_| {})?;
            json!({"seconds": secs(t.elapsed()), "files": r.files, "linked": r.linked,
                   "bytes": r.bytes, "rows": r.rows})
        }
        SuiteOp::CheckoutSegments {
            dir,
            segment_rows,
            segments,
            repeats,
        } => checkout_segments(&dir, &segment_rows, segments.max(1), repeats.max(1))?,
        SuiteOp::History {
            dir,
            levels,
            dstore,
        } => history::run(&dir, &levels, dstore)?,
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn size(p: &Path) -> Result<u64> {
    Ok(std::fs::metadata(p)
        .with_context(|| format!("stat {}", p.display()))?
        .len())
}

fn ingest(
    store: &Path,
    fresh: bool,
    no_validate: bool,
    row_group_rows: Option<usize>,
    inputs: &[PathBuf],
) -> Result<Value> {
    if fresh {
        match std::fs::remove_dir_all(store) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("remove {}", store.display()));
            }
            _ => {}
        }
        Store::init(store)?;
    }
    let mut opts = IngestOptions {
        validation: if no_validate {
            Validation::FooterOnly
        } else {
            Validation::Full
        },
        // The re-ingest row appends the same file a second time, as the peers' second append
        // does, to count the bytes that adds.
        allow_duplicates: true,
        ..IngestOptions::default()
    };
    if let Some(n) = row_group_rows {
        opts.row_group_rows = n;
    }
    let t = Instant::now();
    let s = Store::open(store)?;
    let mut tx = s.begin();
    tx.add_files("t", inputs, &opts)?;
    let out = tx.commit(&CommitOptions::message("bench ingest"))?;
    Ok(json!({
        "seconds": secs(t.elapsed()),
        "snapshot": out.id.to_hex(),
        "seq": out.seq,
        "unchanged": out.unchanged,
        "rows": s.snapshot(&out.id)?.table("t")?.rows,
    }))
}

fn scan(
    store: &Path,
    at: &str,
    columns: Option<&str>,
    filter: Option<&str>,
    no_verify: bool,
    no_late: bool,
) -> Result<Value> {
    let t = Instant::now();
    let s = Store::open(store)?;
    let snap = s.snapshot(&s.resolve(at)?.id)?;
    let mut b = snap
        .scan("t")?
        .verify(!no_verify)
        .late_materialization(!no_late);
    if let Some(c) = columns {
        b = b.columns(c.split(',').map(str::trim));
    }
    if let Some(f) = filter {
        b = b.filter(dstore::scan::filter::Expr::parse(f).map_err(|e| anyhow!("{e}"))?);
    }
    let mut it = b.batches()?;
    let (mut rows, mut batches) = (0usize, 0usize);
    for batch in it.by_ref() {
        rows += batch?.num_rows();
        batches += 1;
    }
    let d = t.elapsed();
    let st = it.stats();
    Ok(json!({
        "seconds": secs(d),
        "rows": rows,
        "batches": batches,
        "bytes_read": st.bytes_read,
        "row_groups_read": st.row_groups_read,
        "row_groups_pruned": st.row_groups_pruned,
        "page_rows_skipped": st.page_rows_skipped,
        "late_rows_skipped": st.late_rows_skipped,
    }))
}

fn open(store: &Path, at: &str, repeats: usize) -> Result<Value> {
    let mut runs = Vec::with_capacity(repeats);
    let mut id = String::new();
    for _ in 0..repeats {
        let t = Instant::now();
        let s = Store::open(store)?;
        let snap = s.snapshot(&s.resolve(at)?.id)?;
        runs.push(t.elapsed());
        id = snap.id().to_hex();
    }
    Ok(json!({"seconds": secs(median(runs)), "snapshot": id, "repeats": repeats}))
}

fn checkout_segments(
    dir: &Path,
    segment_rows: &[usize],
    segments: usize,
    repeats: usize,
) -> Result<Value> {
    let mut out = Vec::new();
    for &rows in segment_rows {
        let files = data::segment_files(&dir.join("segments"), rows, segments)?;
        let bytes: u64 = files.iter().map(|f| size(f)).sum::<Result<u64>>()?;
        let store_dir = dir.join(format!("store-segments-{rows}"));
        let _ = std::fs::remove_dir_all(&store_dir);
        let store = Store::init(&store_dir)?;
        let mut tx = store.begin();
        tx.add_files(
            "t",
            &files,
            &IngestOptions {
                validation: Validation::FooterOnly,
                ..IngestOptions::default()
            },
        )?;
        let id = tx.commit(&CommitOptions::message("segments"))?.id;
        let snap = store.snapshot(&id)?;
        let target = dir.join(format!("checkout-segments-{rows}"));
        let mut runs = Vec::with_capacity(repeats);
        let mut linked = 0;
        for _ in 0..repeats {
            let _ = std::fs::remove_dir_all(&target);
            let t = Instant::now();
            // Hard links only (`checkout --no-verify`): the per-segment cost of linking; the
            // default checkout also hashes each linked segment.
            let opts = CheckoutOptions {
                trust_links: true,
                ..CheckoutOptions::default()
            };
            let r = store.checkout(&snap, &target, &opts, &|_| {})?;
            runs.push(t.elapsed());
            linked = r.linked;
        }
        let _ = std::fs::remove_dir_all(&target);
        let _ = std::fs::remove_dir_all(&store_dir);
        let m = median(runs);
        out.push(json!({
            "segment_rows": rows,
            "segments": segments,
            "linked": linked,
            "segment_bytes": bytes / segments as u64,
            "seconds": secs(m),
            "ms_per_segment": secs(m) * 1e3 / segments as f64,
        }));
    }
    Ok(json!({ "sizes": out }))
}
