//! A training-loop-shaped program: a config names its data by a pin, a lock file fixes the
//! exact snapshot, and each rank iterates its shuffled share of an epoch, resumable.
//!
//! ```sh
//! scripts/demo.sh                                  # makes demo-out/data.dstore
//! cargo run -p dstore --example train_loop -- crates/dstore/examples/train.toml 0 2
//! ```
//! Arguments: CONFIG RANK WORLD. The first run writes `dstore.lock` beside the config; later
//! runs refuse to start if the store no longer holds exactly what the lock names.

use std::path::PathBuf;

use dstore::{LockFile, Pin};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {
    data: Data,
    train: Train,
}

#[derive(Deserialize)]
struct Data {
    /// e.g. "dstore://demo-out/data.dstore@v1#flights"
    train: Pin,
}

#[derive(Deserialize)]
struct Train {
    seed: u64,
    epochs: u64,
    batch_size: usize,
    columns: Vec<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let config_path = PathBuf::from(args.next().ok_or("usage: train_loop CONFIG RANK WORLD")?);
    let rank: u32 = args.next().unwrap_or_else(|| "0".into()).parse()?;
    let world: u32 = args.next().unwrap_or_else(|| "1".into()).parse()?;
    let config: Config = toml::from_str(&std::fs::read_to_string(&config_path)?)?;

    // Pin -> lock: the first run records the full snapshot id, rows and schema hash.
    let lock_path = config_path.with_file_name(dstore::lock::LOCK_FILE_NAME);
    let lock = if lock_path.exists() {
        let lock = LockFile::read(&lock_path)?;
        lock.check()?; // refuses to run if the store changed under the pin
        lock
    } else {
        let mut lock = LockFile::lock(&[("data.train".to_owned(), config.data.train.clone())])?;
        lock.write(&lock_path)?;
        lock
    };
    let snapshot = lock.snapshot("data.train")?;
    let table = config
        .data
        .train
        .table()
        .ok_or("the pin must name a table (#table)")?;
    println!(
        "rank {rank}/{world}: snapshot {} table {table}",
        snapshot.id()
    );

    for epoch in 0..config.train.epochs {
        let mut batches = snapshot
            .scan(table)?
            .columns(config.train.columns.iter().cloned())
            .shuffle(config.train.seed)
            .epoch(epoch)
            .shard(rank, world)
            .batch_size(config.train.batch_size)
            .batches()?;
        let (mut n, mut rows) = (0, 0);
        let mut first = None;
        while let Some(batch) = batches.next() {
            let batch = batch?;
            if first.is_none() {
                first = Some(arrow::util::display::array_value_to_string(
                    batch.column(0),
                    0,
                )?);
            }
            n += 1;
            rows += batch.num_rows();
            // A checkpoint would save this cursor (serde) to resume mid-epoch exactly.
            let _cursor = batches.cursor();
        }
        println!(
            "epoch {epoch}: {n} batches, {rows} rows, first {} = {}",
            config.train.columns[0],
            first.unwrap_or_default()
        );
    }
    Ok(())
}
