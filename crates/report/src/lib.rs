//! Sinks of the tracepoint stream that turn a run into figures: the metrics JSON and the
//! terminal tables.

mod batch;
pub mod html;
pub mod metrics;
pub mod table;
pub mod timeline;

pub use metrics::{CompareDoc, ConfigDoc, MetricsDoc, MetricsSink};
