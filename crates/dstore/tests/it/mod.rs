//! Integration test modules.

mod common;
mod concurrent;
mod content;
mod crash;
mod fuzz_inputs;
mod faults;
mod gc;
mod links;
mod model;
mod pagination;
mod pins;
mod read;
mod readonly;
mod scan;
mod schema;
mod verify;
