//! Disk buffers end to end: the real binary, `kill -9`, an output that is down, corrupt segments.
//!
//! The output is "down" while its directory path is a regular file: the file output cannot
//! create it, reports the error and retries with backoff until the file is removed.

mod common;
mod http_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn config(dir: &Path, fsync: &str) -> PathBuf {
    let cfg = format!(
        r#"data_dir: {data}
api:
  listen: 127.0.0.1:0
inputs:
  app:
    type: file
    include: ["{logs}/*.log"]
    read_from: beginning
    poll_interval: 50ms
    partial_line_timeout: 300ms
pipeline:
  normalize:
    keep_original: false
outputs:
  local:
    type: file
    inputs: [app]
    path: "{out}/records.ndjson"
    buffer:
      type: disk
      max_bytes: 268435456
      fsync: {fsync}
shutdown_timeout: 5s
"#,
        data = dir.join("data").display(),
        logs = dir.join("logs").display(),
        out = dir.join("out").display(),
    );
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let path = dir.join("sluice.yaml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn output_down(dir: &Path) {
    std::fs::write(dir.join("out"), b"not a directory").unwrap();
}

fn output_up(dir: &Path) {
    std::fs::remove_file(dir.join("out")).unwrap();
}

/// Bytes of frames in the buffer's segment files (their 8-byte headers not counted).
fn buffered_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir.join("data/buffers/local")) else {
        return 0;
    };
    rd.flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
        .map(|e| e.metadata().map_or(0, |m| m.len().saturating_sub(8)))
        .sum()
}

/// The API address of the newest run (the logs of earlier runs are in the same directory).
fn api_address(dir: &Path) -> Option<String> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("sluice-") && name.ends_with(".log")
        })
        .collect();
    logs.sort();
    let newest = std::fs::read_to_string(logs.last()?).ok()?;
    http_support::logged_address(&newest, "API listening")
}

fn metric(agent: &Agent, name: &str) -> u64 {
    let addr = api_address(&agent.dir).unwrap();
    let r = http_support::curl(&[&format!("http://{addr}/metrics")]);
    r.body
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn wait_api(agent: &Agent) {
    wait_for("the API", Duration::from_secs(30), || {
        api_address(&agent.dir).is_some()
    });
}

/// Waits until every `rec-i` is in the output; returns how many arrived more than once.
fn wait_all(dir: &Path, n: usize, limit: Duration) -> usize {
    let out = dir.join("out");
    let mut counts: HashMap<String, usize> = HashMap::new();
    let until = Instant::now() + limit;
    while Instant::now() < until {
        counts = message_counts(&out);
        if (0..n).all(|i| counts.contains_key(&format!("rec-{i}"))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_all_present(&counts, "rec", 0..n);
    counts.values().filter(|&&c| c > 1).count()
}

/// Appends `rec-i` lines in chunks, `pause` apart.
fn feed(logs: PathBuf, range: std::ops::Range<usize>, chunk: usize, pause: Duration) {
    let mut i = range.start;
    while i < range.end {
        let end = (i + chunk).min(range.end);
        append_lines(&logs.join("app.log"), "rec", i..end);
        i = end;
        std::thread::sleep(pause);
    }
}

#[test]
fn kill_9_mid_stream_then_restart_delivers_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = config(d, "always");
    let agent = Agent::start(d, &cfg);
    agent.wait_ready();
    let n = 20_000;
    let logs = d.join("logs");
    let writer = std::thread::spawn(move || feed(logs, 0..n, 500, Duration::from_millis(20)));
    wait_for("some records delivered", Duration::from_secs(60), || {
        read_docs(&d.join("out")).len() > 2_000
    });
    agent.kill9();
    writer.join().unwrap();
    let agent = Agent::start(d, &cfg);
    agent.wait_ready();
    let dups = wait_all(d, n, Duration::from_secs(120));
    eprintln!("{n} records, {dups} delivered more than once");
    drop(agent);
}

/// The chaos test: the output is down for 30 s under load, Sluice is killed with `kill -9`,
/// the output comes back and Sluice restarts: every record arrives.
#[test]
fn output_down_30s_under_load_then_kill_9_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    output_down(d);
    let cfg = config(d, "interval");
    let agent = Agent::start(d, &cfg);
    agent.wait_ready();
    wait_api(&agent);
    let n = 60_000;
    let logs = d.join("logs");
    let started = Instant::now();
    // 30 s of 200 records every 100 ms.
    feed(logs, 0..n, 200, Duration::from_millis(100));
    let outage = started.elapsed();
    wait_for(
        "the buffer to hold records",
        Duration::from_secs(60),
        || buffered_bytes(d) > 1_000_000,
    );
    assert!(agent.logs().contains("write failed; retrying"));
    let bytes = metric(&agent, "sluice_buffer_bytes{component=\"local\"}");
    assert!(bytes > 1_000_000, "{bytes}");
    assert_eq!(read_docs(&d.join("out")).len(), 0);
    agent.kill9();
    output_up(d);
    let restarted = Instant::now();
    let agent = Agent::start(d, &cfg);
    agent.wait_ready();
    let dups = wait_all(d, n, Duration::from_secs(300));
    eprintln!(
        "outage {:.1}s: {n} records, {dups} delivered more than once, all delivered {:.1}s after the restart",
        outage.as_secs_f64(),
        restarted.elapsed().as_secs_f64()
    );
    drop(agent);
}

#[test]
fn a_corrupt_segment_tail_is_cut_counted_and_sluice_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    output_down(d);
    let cfg = config(d, "always");
    let agent = Agent::start(d, &cfg);
    agent.wait_ready();
    append_lines(&d.join("logs/app.log"), "rec", 0..1000);
    let size = std::fs::metadata(d.join("logs/app.log")).unwrap().len();
    wait_for(
        "the buffer to hold the records",
        Duration::from_secs(60),
        || {
            // The input's checkpoint reaches the end once the buffer has acknowledged every record.
            std::fs::read_to_string(d.join("data/checkpoints/app.json"))
                .ok()
                .and_then(|c| serde_json::from_str::<serde_json::Value>(&c).ok())
                .is_some_and(|c| c["files"][0]["offset"] == size)
        },
    );
    agent.kill9();
    // A torn write after the last frame.
    let seg_dir = d.join("data/buffers/local");
    let mut segs: Vec<PathBuf> = std::fs::read_dir(&seg_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .filter(|p| std::fs::metadata(p).unwrap().len() > 8)
        .collect();
    segs.sort();
    let last = segs.last().expect("a segment with frames");
    let mut bytes = std::fs::read(last).unwrap();
    bytes.extend_from_slice(&[0x40, 0, 0, 0, 1, 2, 3, 4, b'{', b'x']);
    std::fs::write(last, &bytes).unwrap();
    let check = Command::new(BIN)
        .args(["buffer", "check"])
        .arg(d.join("data/buffers"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{report}");
    assert!(
        report.contains("torn frame (would cut 10 bytes)"),
        "{report}"
    );
    output_up(d);
    let agent = Agent::start(d, &cfg);
    agent.wait_ready();
    wait_api(&agent);
    wait_all(d, 1000, Duration::from_secs(60));
    let mut agent = agent;
    assert!(agent.logs().contains("cutting it there"));
    assert_eq!(
        metric(
            &agent,
            "sluice_buffer_corrupt_records_total{component=\"local\"}"
        ),
        1
    );
    // Still running and delivering.
    append_lines(&d.join("logs/app.log"), "rec", 1000..1100);
    wait_all(d, 1100, Duration::from_secs(60));
    assert!(agent.child.try_wait().unwrap().is_none(), "still running");
    drop(agent);
    let check = Command::new(BIN)
        .args(["buffer", "check"])
        .arg(d.join("data"))
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[test]
fn a_reload_that_changes_a_disk_buffered_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = config(d, "always");
    let agent = Agent::start(d, &cfg);
    agent.wait_ready();
    append_lines(&d.join("logs/app.log"), "rec", 0..100);
    wait_all(d, 100, Duration::from_secs(60));
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("fsync: always", "fsync: never")).unwrap();
    agent.signal("HUP");
    wait_for("the refused reload", Duration::from_secs(60), || {
        agent
            .logs()
            .contains("an output with a disk buffer is changed or removed only by a restart")
    });
    append_lines(&d.join("logs/app.log"), "rec", 100..200);
    wait_all(d, 200, Duration::from_secs(60));
    assert_eq!(agent.stop(), Some(0));
}
