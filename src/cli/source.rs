//! Records from the files named on the command line (or stdin), recognised by content: `.evtx`
//! files by their magic, then JSON documents, XML events or lines.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Framing;
use crate::event::{Origin, RawBatch};
use crate::framing::Framer;
use crate::pipeline::ack::AckRef;
use crate::source_type::SourceType;

const EVTX_MAGIC: &[u8] = b"ElfFile\0";
/// The CLI reads whole documents; this only bounds memory on garbage.
const MAX_RECORD: usize = 16 << 20;

/// Reads every source in order, handing out batches of up to `batch_size` records. Stops early
/// when `emit` returns false. Returns the bytes read.
pub fn read_batches(
    sources: &[PathBuf],
    batch_size: usize,
    emit: &mut dyn FnMut(RawBatch) -> bool,
) -> anyhow::Result<u64> {
    let mut total = 0u64;
    let stdin_only = [PathBuf::from("-")];
    let sources = if sources.is_empty() {
        &stdin_only[..]
    } else {
        sources
    };
    for src in sources {
        let is_stdin = src.as_os_str() == "-";
        let name = if is_stdin {
            "stdin".to_string()
        } else {
            src.display().to_string()
        };
        let mut origin = Origin {
            file: (!is_stdin).then(|| Arc::from(name.as_str())),
            ..Origin::input(Arc::from("cli"))
        };
        let (mut reader, len): (Box<dyn Read>, Option<u64>) = if is_stdin {
            (Box::new(std::io::stdin().lock()), None)
        } else {
            let mut f = std::fs::File::open(src).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            let mut magic = [0u8; 8];
            let is_evtx = f.read_exact(&mut magic).is_ok() && magic == EVTX_MAGIC;
            if is_evtx {
                origin.source_type = Some(SourceType::Windows);
                let (n, go_on) = read_evtx(src, Arc::new(origin), batch_size, emit)?;
                total += n;
                if !go_on {
                    return Ok(total);
                }
                continue;
            }
            let len = f.metadata().ok().map(|m| m.len());
            let f = std::fs::File::open(src).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            (Box::new(f), len)
        };
        let origin = Arc::new(origin);
        let bar = progress(len, &name);
        let mut framer = Framer::new(Framing::Auto, MAX_RECORD, 0);
        let mut buf = vec![0u8; 1 << 20];
        let new_batch =
            |bytes| RawBatch::with_capacity(Arc::clone(&origin), AckRef::none(), batch_size, bytes);
        let mut batch = new_batch(0);
        loop {
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(anyhow::anyhow!("{name}: {e}")),
            };
            total += n as u64;
            if let Some(b) = &bar {
                b.inc(n as u64);
            }
            let eof = n == 0;
            framer.feed(&buf[..n]);
            while let Some((frame, rec)) = framer.next_record(eof) {
                batch.push(rec, Some(frame.offset), frame.truncated);
                if batch.len() >= batch_size {
                    let next = new_batch(batch.buf.len());
                    if !emit(std::mem::replace(&mut batch, next)) {
                        return Ok(total);
                    }
                }
            }
            if eof {
                break;
            }
        }
        if !batch.is_empty() && !emit(batch) {
            return Ok(total);
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    }
    Ok(total)
}

/// Every readable record of an `.evtx` file, as rendered XML.
fn read_evtx(
    path: &PathBuf,
    origin: Arc<Origin>,
    batch_size: usize,
    emit: &mut dyn FnMut(RawBatch) -> bool,
) -> anyhow::Result<(u64, bool)> {
    let settings = evtx::ParserSettings::new().num_threads(1);
    let mut parser = evtx::EvtxParser::from_path(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        .with_configuration(settings);
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let new_batch = || RawBatch::new(Arc::clone(&origin), AckRef::none());
    let mut batch = new_batch();
    for r in parser.records() {
        match r {
            Ok(r) => batch.push(r.data.as_bytes(), None, false),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "unreadable evtx record skipped")
            }
        }
        if batch.len() >= batch_size && !emit(std::mem::replace(&mut batch, new_batch())) {
            return Ok((size, false));
        }
    }
    let go_on = batch.is_empty() || emit(batch);
    Ok((size, go_on))
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
