//! Throughput of the SIEM outputs against the test suite's receivers, and the time to recover
//! after an outage. Not a test: it prints figures. `cargo bench --bench siem_outputs`
//! (`RECORDS`, `OUTAGE_SECS` change the run). The receivers run in this process on the same
//! machine (counting, not parsing, in this mode), sharing its CPUs; Sluice's own CPU time per
//! record is the figure that least depends on the machine.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/http_support/mod.rs"]
mod http_support;
#[path = "../tests/siem_support/mod.rs"]
mod siem_support;

use std::time::{Duration, Instant};

use siem_support::*;

const TOKEN: &str = "11111111-2222-3333-4444-555555555555";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Target {
    name: &'static str,
    yaml: String,
    count: Box<dyn Fn() -> (usize, usize)>,
    down: Box<dyn Fn(Instant)>,
}

fn hec_target(ack: bool) -> (Target, Hec) {
    let h = hec(TOKEN, ack, 0, None);
    h.state.lock().unwrap().count_only = true;
    let yaml = format!(
        "type: splunk_hec\ninputs: [app]\nendpoint: {}\ntoken: {TOKEN}\ndlq: dead\nack: {ack}\nack_poll_interval: 20ms\nretry:\n  max_backoff: 5s",
        h.url("http")
    );
    let (s1, s2) = (h.state.clone(), h.state.clone());
    (
        Target {
            name: if ack {
                "splunk_hec (ack: true)"
            } else {
                "splunk_hec"
            },
            yaml,
            count: Box::new(move || {
                let s = s1.lock().unwrap();
                (s.count, s.bytes)
            }),
            down: Box::new(move |t| s2.lock().unwrap().down_until = Some(t)),
        },
        h,
    )
}

fn es_target() -> (Target, Es) {
    let e = elasticsearch(None, None);
    e.state.lock().unwrap().count_only = true;
    let yaml = format!(
        "type: elasticsearch\ninputs: [app]\nendpoint: {}\ndlq: dead\nretry:\n  max_backoff: 5s",
        e.url("http")
    );
    let (s1, s2) = (e.state.clone(), e.state.clone());
    (
        Target {
            name: "elasticsearch",
            yaml,
            count: Box::new(move || {
                let s = s1.lock().unwrap();
                (s.count, s.bytes)
            }),
            down: Box::new(move |t| s2.lock().unwrap().down_until = Some(t)),
        },
        e,
    )
}

/// Records/s and MB/s (request bytes before gzip) from the agent's start to the last record.
fn throughput(t: &Target, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    write_lines(dir.path(), n);
    let input = std::fs::metadata(dir.path().join("logs/app.log"))
        .unwrap()
        .len();
    let cfg = write_config(dir.path(), &t.yaml);
    let agent = common::Agent::start(dir.path(), &cfg);
    agent.wait_ready();
    let start = Instant::now();
    wait_logged_for(&agent, "every record", Duration::from_secs(600), || {
        (t.count)().0 >= n
    });
    let secs = start.elapsed().as_secs_f64();
    let (_, bytes) = (t.count)();
    let cpu = cpu_seconds(agent.child.id());
    println!(
        "{:<24} {n} records in {secs:.2} s: {:.0} records/s, {:.1} MB/s in, {:.1} MB/s of requests; Sluice used {cpu:.2} CPU-s ({:.0} records per CPU-second)",
        t.name,
        n as f64 / secs,
        input as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6,
        n as f64 / cpu
    );
    let _ = agent.stop();
}

/// User + system CPU time of a process so far (/proc/<pid>/stat, in clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// The service answers 503 for `outage` from the start; how long after it is back until the
/// backlog is delivered.
fn recovery(t: &Target, n: usize, outage: Duration) {
    let dir = tempfile::tempdir().unwrap();
    write_lines(dir.path(), n);
    let cfg = write_config(dir.path(), &t.yaml);
    let back = Instant::now() + outage;
    (t.down)(back);
    let agent = common::Agent::start(dir.path(), &cfg);
    while Instant::now() < back {
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_logged_for(
        &agent,
        "every record after the outage",
        Duration::from_secs(600),
        || (t.count)().0 >= n,
    );
    println!(
        "{:<24} outage {:?}, {n} records waiting: all delivered {:.2} s after the service was back",
        t.name,
        outage,
        back.elapsed().as_secs_f64()
    );
    let _ = agent.stop();
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it with nothing: skip then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n = env("RECORDS", 200_000) as usize;
    let outage = Duration::from_secs(env("OUTAGE_SECS", 20));
    let (hec_t, _h) = hec_target(false);
    throughput(&hec_t, n);
    let (ack_t, _a) = hec_target(true);
    throughput(&ack_t, n);
    let (es_t, _e) = es_target();
    throughput(&es_t, n);
    let (hec_t, _h2) = hec_target(false);
    recovery(&hec_t, n / 4, outage);
    let (es_t, _e2) = es_target();
    recovery(&es_t, n / 4, outage);
}
