//! `outputs.<name>.buffer`: where batches wait for their output.

use std::time::Duration;

use serde::Deserialize;

use super::model::{duration, WhenFull};

/// An output's buffer: the bounded in-memory queue (default) or segment files on disk.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BufferConfig {
    /// `queue_batches` batches in memory; lost on a crash, re-read by inputs that can.
    #[default]
    Memory,
    Disk(DiskBufferConfig),
}

/// `buffer: {type: disk}`: append-only segment files under `data_dir/buffers/<output>/`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskBufferConfig {
    /// Disk space the segment files may use.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// What happens to a batch that does not fit.
    #[serde(default)]
    pub when_full: WhenFull,
    /// When written batches are synced to disk, and so when they are acknowledged upstream.
    #[serde(default)]
    pub fsync: FsyncPolicy,
    /// With `fsync: interval`: the longest time between syncs.
    #[serde(default = "default_fsync_interval", with = "duration")]
    pub fsync_interval: Duration,
}

/// When the disk buffer syncs, and so what survives a power loss. A `kill -9` loses nothing
/// acknowledged under any policy: written bytes are in the page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// Sync before acknowledging; batches queued together share one sync (group commit).
    #[default]
    Always,
    /// Sync at most every `fsync_interval`; acknowledgements wait for the sync.
    Interval,
    /// Never sync: acknowledged once written; survives a crash of Sluice, not of the machine.
    Never,
}

fn default_max_bytes() -> u64 {
    1024 * 1024 * 1024
}

fn default_fsync_interval() -> Duration {
    Duration::from_millis(100)
}
