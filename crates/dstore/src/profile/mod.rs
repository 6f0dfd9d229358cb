//! Column profiles: one per segment and column, computed from the segment's bytes (while
//! ingest decodes them anyway, or on first use), stored as derived objects
//! (`derived/<aa>/<segment id>.profile`, docs/format.md §16) and merged for any snapshot's
//! table; and the drift report between two snapshots, computed from merged profiles.
//!
//! - `kll.rs`: the deterministic KLL quantile sketch (why not the datasketches one: there).
//! - `column.rs`: [`ColumnProfile`]: counts, moments, lengths, KLL, HyperLogLog and frequent
//!   items (the latter two from the `datasketches` crate), and their merge.
//! - `build.rs`: Arrow arrays to profiles, schema paths depth first, rows in blocks;
//!   `block.rs`: one block's values folded into the profiles (repeats counted first).
//! - `segment.rs`: [`SegmentProfile`], row groups merged in file order; `codec.rs` its bytes.
//! - `table.rs`: [`TableProfile`], load or compute (and cache) each segment's, merge;
//!   `dstore stats`' summary.
//! - `stattest.rs`: the tests on sketches; `drift.rs`: test choice, rules, the report;
//!   `html.rs`: the self-contained HTML report.
//!
//! Determinism: the same segment gives the same profile bytes on any machine. Every sketch
//! has fixed parameters and fixed hash seeds (MurmurHash3 seed 9001 in datasketches), the KLL
//! coins come from a generator seeded with a constant, values are folded in row order in blocks
//! counted from a row group's first row, row groups are merged in file order, and nothing else
//! (no time, no host) is written.
//!
//! May call: `derived`, `storage`, `objects`, `snapshot`, `layout`, `diff` and `scan` (the
//! rows a profile since another snapshot counts), the format crate.

mod block;
pub(crate) mod build;
mod codec;
mod column;
pub mod drift;
mod html;
pub mod kll;
mod segment;
mod stattest;
mod table;

pub use codec::PROFILE_MAGIC;
pub use column::{
    ColumnProfile, FREQ_MAP, FrequentValue, HLL_LG_K, HLL_RSE, Lengths, Moments,
    SMALL_INT_DISTINCT, ValueKind,
};
pub use drift::{DriftReport, DriftRules, TableDrift};
pub use html::to_html;
pub use segment::SegmentProfile;
pub(crate) use segment::SegmentProfiler;
pub use table::{ColumnSummary, SUMMARY_RANKS, TableProfile, kind_name};

#[cfg(test)]
mod tests;
