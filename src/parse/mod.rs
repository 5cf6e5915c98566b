//! Parsers: nom combinators over bytes, one module per format.

pub mod panos;
pub mod syslog;
pub mod winxml;
