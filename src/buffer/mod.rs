//! Output buffers. `memory` is the output's bounded queue (no code here); `disk` puts segment
//! files between the processors and the output so that a crash or a long outage loses nothing
//! that was acknowledged upstream.

pub mod check;
pub mod disk;
pub mod segment;

use std::path::{Path, PathBuf};

/// Where the disk buffer of output `name` lives under `data_dir`.
pub fn dir_for(data_dir: &Path, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    data_dir.join("buffers").join(safe)
}

#[cfg(test)]
mod tests;
