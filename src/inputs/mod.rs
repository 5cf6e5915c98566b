//! Inputs: where records come from. Each runs on its own task and hands batches to the processors.

pub mod checkpoint;
pub mod cri;
pub mod evtx;
pub mod file;
pub mod http;
mod http_common;
pub mod kafka;
pub mod offsets;
pub mod splunk_hec;
pub mod stdin;
pub mod syslog;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::InputConfig;
use crate::metrics::Metrics;
use crate::pipeline::BatchSender;
use crate::readiness::ComponentHealth;

/// What every input gets from the topology.
#[derive(Debug, Clone)]
pub struct InputContext {
    pub name: Arc<str>,
    pub sender: BatchSender,
    pub data_dir: PathBuf,
    pub batch_size: usize,
    /// Stop reading new data; finish what is in flight.
    pub stop: CancellationToken,
    /// Give up on in-flight data (shutdown timeout passed); it will be read again.
    pub abort: CancellationToken,
    pub metrics: Metrics,
    /// This input's entry in `GET /ready`: mark it failed while it cannot take records (a
    /// listener that cannot accept) and ready again once it can.
    pub health: ComponentHealth,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Io(String),
    #[error("the pipeline is stopping")]
    Stopped,
}

/// Starts an input on the blocking pool (file and stdin reads are blocking system calls).
pub fn start(cfg: &InputConfig, ctx: InputContext) -> Result<JoinHandle<()>, InputError> {
    match cfg {
        InputConfig::File(c) => {
            let input = file::FileInput::new(c.clone(), ctx)?;
            Ok(tokio::task::spawn_blocking(move || input.run()))
        }
        InputConfig::Evtx(c) => {
            let input = evtx::EvtxInput::new(c.clone(), ctx)?;
            Ok(tokio::task::spawn_blocking(move || input.run()))
        }
        InputConfig::Stdin(c) => {
            let c = c.clone();
            Ok(tokio::task::spawn_blocking(move || stdin::run(c, ctx)))
        }
        InputConfig::Syslog(c) => syslog::start(c, ctx),
        InputConfig::Http(c) => http::start(c.clone(), ctx),
        InputConfig::SplunkHec(c) => splunk_hec::start(c.clone(), ctx),
        InputConfig::Kafka(c) => kafka::start(c.clone(), ctx),
    }
}

/// Compiles `exclude` patterns; they match the full path or the file name.
pub(crate) fn exclude_set(patterns: &[String]) -> Result<globset::GlobSet, InputError> {
    let mut b = globset::GlobSetBuilder::new();
    for pat in patterns {
        b.add(
            globset::Glob::new(pat)
                .map_err(|e| InputError::Config(format!("exclude `{pat}`: {e}")))?,
        );
    }
    b.build()
        .map_err(|e| InputError::Config(format!("exclude: {e}")))
}

/// Regular files matching `include` and not `exclude`, by identity.
pub(crate) fn matching_files(
    include: &[String],
    exclude: &globset::GlobSet,
    input: &str,
) -> HashMap<checkpoint::FileId, PathBuf> {
    let mut seen = HashMap::new();
    for pattern in include {
        let paths = match glob::glob(pattern) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(input, pattern, error = %e, "bad include pattern");
                continue;
            }
        };
        for path in paths.flatten() {
            if exclude.is_match(&path) || path.file_name().is_some_and(|n| exclude.is_match(n)) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_file() {
                let id = checkpoint::FileId {
                    dev: meta.dev(),
                    ino: meta.ino(),
                };
                seen.insert(id, path);
            }
        }
    }
    seen
}
