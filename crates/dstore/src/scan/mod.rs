//! Scans: projection, filters pushed down to statistics, verified reads, and the exact
//! shuffled and sharded order of `docs/order.md`.

mod batches;
mod builder;
pub mod filter;
mod order;
mod read;
mod selection;
mod take;

pub use batches::{ScanBatches, ScanCursor, ScanStats};
pub use builder::ScanBuilder;
pub use selection::SegmentRows;
