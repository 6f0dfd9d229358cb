//! Integration test modules.

mod common;
mod concurrent;
mod content;
mod crash;
mod gc;
mod model;
mod pagination;
mod read;
mod readonly;
mod schema;
mod verify;
