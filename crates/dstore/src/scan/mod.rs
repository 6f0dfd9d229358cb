//! Scans: projection, filters pushed down to statistics, verified reads, and the exact
//! shuffled and sharded order of `docs/order.md`.

mod builder;
pub mod filter;
mod order;
mod read;

pub use builder::{ScanBatches, ScanBuilder, ScanCursor, ScanStats};
