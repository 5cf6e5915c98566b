//! Sluice: a streaming log agent that detects the source of every record and normalizes it to ECS.
#![deny(unsafe_code)]

pub mod api;
pub mod app;
pub mod buffer;
pub mod cli;
pub mod config;
pub mod detect;
pub mod doc;
pub mod enrich;
pub mod event;
pub mod framing;
pub mod inputs;
pub mod ip;
pub(crate) mod json_str;
pub mod kafka;
pub mod metrics;
pub mod normalize;
pub mod outputs;
pub mod parse;
pub mod pipeline;
pub mod readiness;
pub mod scan;
pub mod source_type;
pub mod systemd;
#[cfg(test)]
mod testing;
pub mod text;
pub mod tls;
