//! Helpers for tests that run the real `sluice` binary against real files and signals.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// A running `sluice run`, killed when dropped so no test leaves a process behind.
pub struct Agent {
    pub child: Child,
    pub dir: PathBuf,
}

impl Agent {
    pub fn start(dir: &Path, config: &Path) -> Agent {
        let child = Command::new(BIN)
            .args(["run", "-c"])
            .arg(config)
            .current_dir(dir)
            .env("SLUICE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("sluice-{}.log", now_ms()))).unwrap())
            .spawn()
            .expect("start sluice");
        Agent {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// Waits until the topology runs (signals sent before that would find no handler).
    pub fn wait_ready(&self) {
        wait_for("sluice to start", Duration::from_secs(30), || {
            self.logs().contains("topology started")
        });
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        self.signal("TERM");
        wait_exit(&mut self.child, Duration::from_secs(30))
    }

    pub fn kill9(mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }

    /// Peak resident memory in KiB (VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    pub fn logs(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(&self.dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("sluice-") && name.ends_with(".log") {
                out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        out
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Ok(Some(s)) = child.try_wait() {
            return s.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Waits until `cond` holds; panics with `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// Every JSON document in the NDJSON files under `dir` (rotated ones included).
pub fn read_docs(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        if e.path().is_dir() {
            out.extend(read_docs(&e.path()));
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for line in text.lines() {
            // A line being written right now may be incomplete; only count whole ones.
            if let Ok(v) = serde_json::from_str(line) {
                out.push(v);
            }
        }
    }
    out
}

/// How often each `message` appears in the output.
pub fn message_counts(dir: &Path) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for d in read_docs(dir) {
        if let Some(s) = d["message"].as_str() {
            *m.entry(s.to_string()).or_insert(0) += 1;
        }
    }
    m
}

/// Appends lines `prefix-i` for i in range, flushing each chunk.
pub fn append_lines(path: &Path, prefix: &str, range: std::ops::Range<usize>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut buf = String::new();
    for i in range {
        buf.push_str(&format!("{prefix}-{i}\n"));
    }
    f.write_all(buf.as_bytes()).unwrap();
}

/// Asserts every `prefix-i` is present at least once.
pub fn assert_all_present(
    counts: &HashMap<String, usize>,
    prefix: &str,
    range: std::ops::Range<usize>,
) {
    let missing: Vec<usize> = range
        .filter(|i| !counts.contains_key(&format!("{prefix}-{i}")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} lines missing, first: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}

/// A config with one file input and one file output.
pub fn file_to_file_config(dir: &Path, extra_input: &str) -> PathBuf {
    let cfg = format!(
        r#"data_dir: {data}
inputs:
  app:
    type: file
    include: ["{logs}/*.log"]
    read_from: beginning
    poll_interval: 50ms
    partial_line_timeout: 300ms
{extra_input}
outputs:
  local:
    type: file
    inputs: [app]
    path: "{out}/{{source_type}}.ndjson"
shutdown_timeout: 10s
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
