//! Sluice: a streaming log agent that detects the source of every record and normalizes it to ECS.
#![forbid(unsafe_code)]

pub mod doc;
pub mod normalize;
pub mod source_type;
