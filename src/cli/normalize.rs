//! `sluice normalize`: one-shot normalization of files or stdin, no configuration needed.
//!
//! A reader thread frames input into batches, the processor pool works on them in parallel, and the
//! writer puts results back in input order.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::PipelineConfig;
use crate::event::{ProcessedBatch, RawBatch};
use crate::metrics::Metrics;
use crate::pipeline::processor::Processor;

/// Totals of a run, printed to stderr at the end.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub records: u64,
    pub bytes_in: u64,
}

/// Writes a batch's lines in record order. The processor writes them grouped by source type,
/// so `data` is in input order only for a batch of one type; runs of adjacent lines go out
/// whole.
fn write_in_order(out: &mut dyn Write, b: &ProcessedBatch) -> std::io::Result<()> {
    let mut run: Option<std::ops::Range<usize>> = None;
    for r in &b.records {
        // Each line is its JSON and the newline after it.
        let line = r.range.start..r.range.end + 1;
        run = match run {
            Some(cur) if cur.end == line.start => Some(cur.start..line.end),
            Some(cur) => {
                out.write_all(b.data.get(cur).unwrap_or_default())?;
                Some(line)
            }
            None => Some(line),
        };
    }
    if let Some(cur) = run {
        out.write_all(b.data.get(cur).unwrap_or_default())?;
    }
    Ok(())
}

/// Normalizes `inputs` (`-` or empty for stdin) into `out`.
pub fn run(
    inputs: &[PathBuf],
    out: &mut dyn Write,
    pipeline: &PipelineConfig,
) -> anyhow::Result<Summary> {
    let metrics = Metrics::new();
    let processor = Arc::new(Processor::new(pipeline, &metrics)?);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (raw_tx, raw_rx) = crossbeam_channel::bounded::<(u64, RawBatch)>(threads * 2);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<(u64, ProcessedBatch)>(threads * 2);
    let sources = inputs.to_vec();
    let batch_size = pipeline.batch_size;
    let reader = std::thread::spawn(move || {
        let mut seq = 0u64;
        super::source::read_batches(&sources, batch_size, &mut |b| {
            let ok = raw_tx.send((seq, b)).is_ok();
            seq += 1;
            ok
        })
    });
    let mut workers = Vec::new();
    for _ in 0..threads {
        let rx = raw_rx.clone();
        let tx = done_tx.clone();
        let p = Arc::clone(&processor);
        workers.push(std::thread::spawn(move || {
            while let Ok((seq, batch)) = rx.recv() {
                let processed = p.process(&batch);
                batch.ack.ack();
                if tx.send((seq, processed)).is_err() {
                    break;
                }
            }
        }));
    }
    drop(done_tx);
    drop(raw_rx);
    let mut summary = Summary::default();
    let mut next = 0u64;
    let mut waiting: BTreeMap<u64, ProcessedBatch> = BTreeMap::new();
    let mut write_err = None;
    for (seq, batch) in done_rx.iter() {
        waiting.insert(seq, batch);
        while let Some(b) = waiting.remove(&next) {
            summary.records += b.records.len() as u64;
            if write_err.is_none() {
                write_err = write_in_order(out, &b).err();
            }
            next += 1;
        }
    }
    for w in workers {
        let _ = w.join();
    }
    let read = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread failed"))??;
    summary.bytes_in = read;
    if let Some(e) = write_err {
        return Err(e.into());
    }
    out.flush()?;
    Ok(summary)
}
