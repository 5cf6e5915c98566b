//! Sluice: a streaming log agent that detects the source of every record and normalizes it to ECS.
#![forbid(unsafe_code)]

pub mod config;
pub mod doc;
pub mod event;
pub mod framing;
pub mod metrics;
pub mod normalize;
pub mod pipeline;
pub mod source_type;
