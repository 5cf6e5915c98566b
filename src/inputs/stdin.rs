//! Standard input: records until end of file, then the input ends (and with it `sluice run` when it
//! was the only input).

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use super::InputContext;
use crate::config::StdinInputConfig;
use crate::event::{Origin, RawBatch};
use crate::framing::Framer;
use crate::pipeline::ack::AckRef;
use crate::source_type::SourceType;

/// Reads stdin on a helper thread (a blocked `read` cannot be interrupted), so the input itself
/// can still notice `stop`.
pub fn run(cfg: StdinInputConfig, ctx: InputContext) {
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(4);
    let spawned = std::thread::Builder::new()
        .name("sluice-stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            loop {
                let mut buf = vec![0u8; 256 * 1024];
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(buf).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read stdin");
                        break;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the stdin reader");
        return;
    }
    let origin = Arc::new(Origin {
        source_type: cfg.source_type.as_deref().map(SourceType::from_name),
        ..Origin::input(Arc::clone(&ctx.name))
    });
    let mut framer = Framer::new(cfg.framing, cfg.max_line_bytes, 0);
    let mut cri = (cfg.framing == crate::config::Framing::Cri)
        .then(|| super::cri::CriJoiner::new(cfg.max_line_bytes));
    loop {
        if ctx.stop.is_cancelled() {
            break;
        }
        let (chunk, eof) = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(c) => (Some(c), false),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => (None, true),
        };
        if let Some(c) = chunk {
            framer.feed(&c);
        }
        let mut batch = RawBatch::new(Arc::clone(&origin), AckRef::none());
        while let Some((frame, bytes)) = framer.next_record(eof) {
            match cri.as_mut() {
                None => batch.push(bytes, None, frame.truncated),
                Some(j) => j.push(bytes, frame.offset, frame.truncated, &mut |r| {
                    super::file::push_cri(&mut batch, r, false)
                }),
            }
            if batch.len() >= ctx.batch_size {
                let full = std::mem::replace(
                    &mut batch,
                    RawBatch::new(Arc::clone(&origin), AckRef::none()),
                );
                if ctx.sender.send_blocking(full, &ctx.abort).is_err() {
                    return;
                }
            }
        }
        if eof {
            if let Some(j) = cri.as_mut() {
                j.flush(&mut |r| super::file::push_cri(&mut batch, r, false));
            }
        }
        if !batch.is_empty() && ctx.sender.send_blocking(batch, &ctx.abort).is_err() {
            return;
        }
        if eof {
            break;
        }
    }
}
