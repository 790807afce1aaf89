//! End-to-end tests of proxysched: workloads in, schedules and metrics out. One binary, one
//! module per area. Every simulation here runs with the core's invariants checked after every
//! event.

mod cli;
mod common;
mod compare;
mod conservation;
mod deadline;
mod examples;
mod fair;
mod locking;
mod proxy;
mod regressions;
mod rt;
mod sinks;
mod ticks;
mod torture;
mod traces;
