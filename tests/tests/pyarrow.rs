//! Placeholder; written by the pyarrow helper.
