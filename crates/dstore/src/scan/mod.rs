//! Scans: projection, filters pushed down to statistics, verified reads, and the exact
//! shuffled and sharded order of `docs/order.md`.

mod batches;
mod builder;
mod chunk_cache;
pub mod filter;
mod late;
mod order;
mod read;
mod selection;
mod take;

pub use batches::{ScanBatches, ScanCursor, ScanStats};
pub use builder::ScanBuilder;
pub use order::{DEFAULT_MEMORY_BUDGET, DEFAULT_ORDER_VERSION, ORDER_VERSIONS};
pub use selection::SegmentRows;
