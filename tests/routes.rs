//! `routes:` end to end: the real binary routes records by source type and field, counts what
//! goes nowhere, and keeps the running configuration when a reload is invalid.

mod common;
mod http_support;

use std::path::Path;
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(60);

fn config(dir: &Path, routes: &str) -> String {
    format!(
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
outputs:
  firewall:
    type: file
    path: "{out}/firewall.ndjson"
  auth:
    type: file
    path: "{out}/auth.ndjson"
  everything:
    type: file
    inputs: [app]
    path: "{out}/everything.ndjson"
{routes}
shutdown_timeout: 5s
"#,
        data = dir.join("data").display(),
        logs = dir.join("logs").display(),
        out = dir.join("out").display(),
    )
}

const ROUTES: &str = r#"routes:
  - name: fw
    when: {source_type: panos}
    to: [firewall]
  - name: ssh-failures
    when:
      all:
        - {field: process.name, equals: sshd}
        - {field: message, regex: "^Failed password"}
    to: [auth]
"#;

fn count(out: &Path, file: &str) -> usize {
    std::fs::read_to_string(out.join(file))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn metric(dir: &Path, line_start: &str) -> u64 {
    let logs = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("sluice-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    let addr = http_support::logged_address(&logs, "API listening").unwrap();
    let body = http_support::curl(&[&format!("http://{addr}/metrics")]).body;
    body.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn records_go_where_their_routes_say_and_inputs_lists_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("logs")).unwrap();
    let cfg = d.join("sluice.yaml");
    std::fs::write(&cfg, config(d, ROUTES)).unwrap();
    let agent = Agent::start(d, &cfg);
    agent.wait_ready();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/samples");
    let panos = std::fs::read_to_string(samples.join("panos.log")).unwrap();
    let syslog = std::fs::read_to_string(samples.join("syslog.log")).unwrap();
    let n_panos = panos.lines().count();
    let n_failed = syslog
        .lines()
        .filter(|l| l.contains("sshd[") && l.contains(": Failed password"))
        .count();
    let total = n_panos + syslog.lines().count();
    assert!(n_panos > 0 && n_failed > 0);
    // Interleaved: a batch is processed one source type after another, and each record must
    // still be routed by its own document and written in input order.
    let (mut p, mut s) = (panos.lines(), syslog.lines());
    let mut input = Vec::with_capacity(total);
    loop {
        let (a, b) = (p.next(), s.next());
        if a.is_none() && b.is_none() {
            break;
        }
        input.extend(a.into_iter().chain(b));
    }
    std::fs::write(d.join("logs/app.log"), input.join("\n") + "\n").unwrap();
    let out = d.join("out");
    wait_for("every record in `everything`", T, || {
        count(&out, "everything.ndjson") == total
    });
    wait_for("the routed records", T, || {
        count(&out, "firewall.ndjson") == n_panos && count(&out, "auth.ndjson") == n_failed
    });
    let originals = |file: &str| -> Vec<(String, String)> {
        std::fs::read_to_string(out.join(file))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let text = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_owned();
                (
                    text(&v["event"]["original"]),
                    text(&v["sluice"]["source_type"]),
                )
            })
            .collect()
    };
    let everything: Vec<String> = originals("everything.ndjson")
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    assert_eq!(everything, input);
    let firewall = originals("firewall.ndjson");
    assert!(firewall.iter().all(|(_, t)| t == "panos"), "{firewall:?}");
    let want: Vec<&str> = panos.lines().collect();
    assert_eq!(
        firewall.iter().map(|(o, _)| o.as_str()).collect::<Vec<_>>(),
        want
    );
    for l in std::fs::read_to_string(out.join("auth.ndjson"))
        .unwrap()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["message"]
            .as_str()
            .unwrap()
            .starts_with("Failed password"));
    }
    assert_eq!(
        metric(d, "sluice_routed_records_total{route=\"fw\"}"),
        n_panos as u64
    );
    assert_eq!(
        metric(
            d,
            "sluice_dropped_records_total{component=\"router\",reason=\"unrouted\"}"
        ),
        0
    );
    // A reload with a bad regular expression is refused; the routes keep working.
    std::fs::write(
        &cfg,
        config(d, &ROUTES.replace("^Failed password", "(Failed")),
    )
    .unwrap();
    agent.signal("HUP");
    wait_for("the refused reload", T, || {
        agent.logs().contains("routes[1].when.all[1].regex")
    });
    append_lines(&d.join("logs/app.log"), "plain", 0..10);
    wait_for("records after the refused reload", T, || {
        count(&out, "everything.ndjson") == total + 10
    });
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn records_no_output_takes_are_counted_or_sent_to_unrouted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("logs")).unwrap();
    let cfg = d.join("sluice.yaml");
    // `everything` takes no input here: only routes feed outputs.
    let text = config(d, ROUTES).replace("    inputs: [app]\n", "");
    let text = text.replacen("routes:\n", "unrouted: everything\nroutes:\n", 1);
    std::fs::write(&cfg, &text).unwrap();
    let agent = Agent::start(d, &cfg);
    agent.wait_ready();
    append_lines(&d.join("logs/app.log"), "plain", 0..50);
    let out = d.join("out");
    wait_for("the unrouted records", T, || {
        count(&out, "everything.ndjson") == 50
    });
    assert_eq!(
        metric(d, "sluice_routed_records_total{route=\"unrouted\"}"),
        50
    );
    assert_eq!(agent.stop(), Some(0));
    // Without `unrouted`, they are dropped and counted.
    std::fs::write(
        &cfg,
        text.replace("unrouted: everything\n", "")
            .replace("  - name: fw\n", "  - name: fw\n    continue: true\n")
            .replace("    to: [firewall]\n", "    to: [firewall, everything]\n"),
    )
    .unwrap();
    for e in std::fs::read_dir(d).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("sluice-") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let agent = Agent::start(d, &cfg);
    agent.wait_ready();
    append_lines(&d.join("logs/app.log"), "plain", 50..80);
    wait_for("the drops counted", T, || {
        metric(
            d,
            "sluice_dropped_records_total{component=\"router\",reason=\"unrouted\"}",
        ) == 30
    });
    assert_eq!(count(&out, "everything.ndjson"), 50);
    assert_eq!(agent.stop(), Some(0));
}
