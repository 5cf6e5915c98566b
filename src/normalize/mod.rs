//! ECS normalization per source type (see `../shared/docs/NORMALIZATION.md`).

pub mod context;

pub use context::{Context, ParseFailure};
