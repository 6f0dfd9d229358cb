//! Integration test modules.

mod common;
mod concurrent;
mod content;
mod crash;
mod decode;
mod derived;
mod expiry;
mod faults;
mod files;
mod fuzz_inputs;
mod gc;
mod inputs;
mod late;
mod links;
mod model;
mod order;
mod pagination;
mod pins;
mod prepare;
mod read;
mod readonly;
mod rowdiff;
mod scan;
mod schema;
mod stats_since;
mod verify;
