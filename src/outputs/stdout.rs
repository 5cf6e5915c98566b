//! NDJSON on standard output.

use std::io::Write;

use tokio::sync::mpsc;

use super::OutputContext;
use crate::event::OutBatch;

pub fn run(mut rx: mpsc::Receiver<OutBatch>, ctx: OutputContext) {
    let (records, bytes) = ctx.sent_counters();
    let latency = ctx.write_latency();
    let end_to_end = ctx.end_to_end_latency();
    let mut out = std::io::stdout().lock();
    let mut buf = Vec::with_capacity(256 * 1024);
    while let Some(batch) = rx.blocking_recv() {
        buf.clear();
        for r in batch.records() {
            buf.extend_from_slice(batch.batch.json(r));
            buf.push(b'\n');
        }
        let started = std::time::Instant::now();
        match out.write_all(&buf).and_then(|()| out.flush()) {
            Ok(()) => {
                latency.observe_duration(started.elapsed());
                records.add(batch.len() as u64);
                bytes.add(buf.len() as u64);
                OutputContext::observe_end_to_end(&end_to_end, &batch);
                batch.ack.ack();
            }
            Err(e) => {
                // A closed stdout will not come back: fail the batch so it is not marked delivered.
                tracing::error!(output = %ctx.name, error = %e, "cannot write to stdout");
                ctx.health.failed(format!("cannot write to stdout: {e}"));
                batch.ack.fail();
            }
        }
    }
}
