//! ECS normalization per source type (see `../shared/docs/NORMALIZATION.md`).

pub mod context;
pub mod panos;
pub mod syslog;

pub use context::{Context, ParseFailure};
