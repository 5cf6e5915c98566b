//! Inputs: where records come from. Each runs on its own task and hands batches to the processors.

pub mod checkpoint;
pub mod file;
pub mod stdin;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::InputConfig;
use crate::metrics::Metrics;
use crate::pipeline::BatchSender;

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
        InputConfig::Stdin(c) => {
            let c = c.clone();
            Ok(tokio::task::spawn_blocking(move || stdin::run(c, ctx)))
        }
    }
}
