//! Scenario loading, runs, reports and the `repsim` command line.
//!
//! Data flows one way: a scenario file is loaded and validated ([`scenario`]), simulated
//! with its protocol and checked for anomalies ([`run`]), and reported ([`report`]). The
//! [`sweep`] runs many seeds in parallel and aggregates them. The [`cli`] module defines
//! the commands; `main.rs` only parses arguments and exits.
#![warn(missing_docs)]

pub mod charts;
pub mod cli;
pub mod compare;
pub mod diagram;
pub mod liveness;
pub mod panic;
pub mod report;
pub mod run;
pub mod scenario;
pub mod shrink;
pub mod sweep;
