//! Reads rt-app workload files the way real ones are written and resolves them into a typed
//! [`Workload`]: two stages (lenient JSON with positions, then the rt-app grammar), so that every
//! error names the file, the line and the key.

mod model;

pub use model::*;
