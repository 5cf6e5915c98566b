//! ECS normalization per source type (see `../shared/docs/NORMALIZATION.md`).

pub mod cloudtrail;
pub mod context;
pub mod panos;
pub mod syslog;
pub mod windows;

pub use context::{Context, ParseFailure};
