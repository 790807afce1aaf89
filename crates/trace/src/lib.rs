//! Tracepoints.
