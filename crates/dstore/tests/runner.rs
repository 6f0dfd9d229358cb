//! The dstore library's integration tests: one test binary, modules under `it/`.

mod it;
