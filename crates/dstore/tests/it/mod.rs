//! Integration test modules.

mod common;
mod concurrent;
mod content;
mod crash;
mod gc;
mod model;
mod pagination;
mod read;
mod schema;
mod verify;
