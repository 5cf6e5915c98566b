//! `sluice normalize`: one-shot normalization of files or stdin, no configuration needed.
//!
//! A reader thread frames input into batches, the processor pool works on them in parallel, and the
//! writer puts results back in input order.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Framing, PipelineConfig};
use crate::event::{Origin, ProcessedBatch, RawBatch};
use crate::framing::Framer;
use crate::metrics::Metrics;
use crate::pipeline::ack::AckRef;
use crate::pipeline::processor::Processor;

/// Totals of a run, printed to stderr at the end.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub records: u64,
    pub bytes_in: u64,
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
    let sources: Vec<PathBuf> = if inputs.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        inputs.to_vec()
    };
    let batch_size = pipeline.batch_size;
    let reader = std::thread::spawn(move || read_all(&sources, batch_size, &raw_tx));
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
                write_err = out.write_all(&b.data).err();
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

/// Reads every source in order; returns the bytes read.
fn read_all(
    sources: &[PathBuf],
    batch_size: usize,
    tx: &crossbeam_channel::Sender<(u64, RawBatch)>,
) -> anyhow::Result<u64> {
    let mut seq = 0u64;
    let mut total = 0u64;
    for src in sources {
        let (mut reader, name, len): (Box<dyn Read>, String, Option<u64>) =
            if src.as_os_str() == "-" {
                (Box::new(std::io::stdin().lock()), "stdin".into(), None)
            } else {
                let f = std::fs::File::open(src)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", src.display()))?;
                let len = f.metadata().ok().map(|m| m.len());
                (Box::new(f), src.display().to_string(), len)
            };
        let origin = Arc::new(Origin {
            file: (src.as_os_str() != "-").then(|| Arc::from(name.as_str())),
            ..Origin::input(Arc::from("normalize"))
        });
        let bar = progress(len, &name);
        let mut framer: Option<Framer> = None;
        let mut buf = vec![0u8; 1 << 20];
        let new_batch = || RawBatch::new(Arc::clone(&origin), AckRef::none());
        let mut batch = new_batch();
        loop {
            let n = reader.read(&mut buf)?;
            total += n as u64;
            if let Some(b) = &bar {
                b.inc(n as u64);
            }
            let eof = n == 0;
            // JSON documents, XML events or lines, recognised by content.
            let f = framer.get_or_insert_with(|| Framer::new(Framing::Auto, 16 << 20, 0));
            f.feed(&buf[..n]);
            while let Some((frame, rec)) = f.next_record(eof) {
                batch.push(rec, Some(frame.offset), frame.truncated);
                if batch.len() >= batch_size {
                    let full = std::mem::replace(&mut batch, new_batch());
                    if tx.send((seq, full)).is_err() {
                        return Ok(total);
                    }
                    seq += 1;
                }
            }
            if eof {
                break;
            }
        }
        if !batch.is_empty() {
            let _ = tx.send((seq, batch));
            seq += 1;
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    }
    Ok(total)
}

fn progress(len: Option<u64>, name: &str) -> Option<indicatif::ProgressBar> {
    let len = len?;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
    ) {
        bar.set_style(style);
    }
    bar.set_message(name.to_string());
    Some(bar)
}
