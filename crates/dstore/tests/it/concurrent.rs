//! concurrent
