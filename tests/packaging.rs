//! The files in `packaging/` checked with the real tools where they run here: `promtool` for the
//! alerts (rules and their unit tests), `systemd-analyze` for the unit, `sluice validate` for
//! every shipped configuration; the metric names used by the alerts and the dashboard against the
//! README's Metrics table; the Dockerfile against its configuration. The release build, the
//! `.deb` and the container root are checked by `scripts/check-packaging.sh`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::BIN;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn read(p: &str) -> String {
    std::fs::read_to_string(repo(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn tool(name: &str, package: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "`{name}` is needed: run `bash scripts/test-deps.sh` (Debian package `{package}`)"
    );
    String::from_utf8_lossy(&found.stdout).trim().to_string()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// `sluice_*` names in the README's `## Metrics` table (first column).
fn documented_metrics() -> BTreeSet<String> {
    let readme = read("README.md");
    let start = readme.find("\n## Metrics").expect("a Metrics section");
    let section = &readme[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let names = regex::Regex::new(r"`(sluice_[a-z0-9_]+)`").unwrap();
    section[..end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| {
            names
                .captures_iter(cell)
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Metric names in PromQL text; histogram series map to their family.
fn metric_names(promql: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\bsluice_[a-z0-9_]+").unwrap();
    re.find_iter(promql)
        .map(|m| {
            let n = m.as_str();
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| n.strip_suffix(s))
                .filter(|base| base.ends_with("_seconds"))
                .unwrap_or(n)
                .to_string()
        })
        .collect()
}

fn alert_exprs() -> Vec<(String, String)> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&read("packaging/prometheus/alerts.yml")).unwrap();
    let mut out = Vec::new();
    for g in doc["groups"].as_sequence().unwrap() {
        for r in g["rules"].as_sequence().unwrap() {
            out.push((
                r["alert"].as_str().unwrap().to_string(),
                r["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

fn dashboard_exprs() -> Vec<String> {
    let d: serde_json::Value =
        serde_json::from_str(&read("packaging/grafana/sluice.json")).unwrap();
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::String(e)) = m.get("expr") {
                    out.push(e.clone());
                }
                if let Some(serde_json::Value::String(q)) = m.get("definition") {
                    out.push(q.clone());
                }
                m.values().for_each(|v| walk(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&d, &mut out);
    out
}

#[test]
fn alerts_pass_promtool_check_and_unit_tests() {
    let promtool = tool("promtool", "prometheus");
    let dir = repo("packaging/prometheus");
    let out = run(Command::new(&promtool)
        .args(["check", "rules", "alerts.yml"])
        .current_dir(&dir));
    assert!(out.contains("SUCCESS"), "{out}");
    let out = run(Command::new(&promtool)
        .args(["test", "rules", "alerts_test.yml"])
        .current_dir(&dir));
    assert!(out.contains("SUCCESS"), "{out}");
    // Every alert has a unit test.
    let tests = read("packaging/prometheus/alerts_test.yml");
    for (alert, _) in alert_exprs() {
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "{alert} has no test"
        );
    }
}

#[test]
fn alerts_and_dashboard_use_documented_metrics_only() {
    let documented = documented_metrics();
    assert!(documented.len() > 20, "{documented:?}");
    let mut used = BTreeSet::new();
    for (alert, expr) in alert_exprs() {
        let names = metric_names(&expr);
        assert!(!names.is_empty() || expr.contains("up{"), "{alert}: {expr}");
        used.extend(names);
    }
    let exprs = dashboard_exprs();
    assert!(exprs.len() > 20);
    for e in &exprs {
        used.extend(metric_names(e));
    }
    let missing: Vec<&String> = used.iter().filter(|n| !documented.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "not in the README's Metrics table: {missing:?}"
    );
    // The dashboard covers what the issue asks for.
    for must in [
        "sluice_component_received_records_total",
        "sluice_component_sent_records_total",
        "sluice_detected_total",
        "sluice_dropped_records_total",
        "sluice_dlq_records_total",
        "sluice_queue_batches",
        "sluice_output_write_seconds",
    ] {
        assert!(
            exprs.iter().any(|e| e.contains(must)),
            "dashboard lacks {must}"
        );
    }
}

#[test]
fn every_alert_is_explained_in_the_operations_guide() {
    let guide = read("docs/operations.md");
    for (alert, _) in alert_exprs() {
        assert!(guide.contains(&format!("`{alert}`")), "{alert}");
    }
    let readme = read("README.md");
    assert!(
        readme.contains("(docs/operations.md)"),
        "README links the guide"
    );
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let analyze = tool("systemd-analyze", "systemd");
    let unit = read("packaging/systemd/sluice.service");
    for line in [
        "Type=notify",
        "ExecStartPre=/usr/bin/sluice validate -c /etc/sluice/sluice.yaml",
        "ExecStart=/usr/bin/sluice run -c /etc/sluice/sluice.yaml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "WatchdogSec=",
        "StateDirectory=sluice",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "RestrictAddressFamilies=",
        "SystemCallFilter=@system-service",
        "ReadOnlyPaths=/var/log",
    ] {
        assert!(
            unit.lines().any(|l| l.starts_with(line)),
            "missing `{line}`"
        );
    }
    // verify checks that the commands exist: point them at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.service");
    std::fs::write(&path, unit.replace("/usr/bin/sluice", BIN)).unwrap();
    let out = run(Command::new(&analyze).arg("verify").arg(&path));
    assert!(out.trim().is_empty(), "systemd-analyze verify: {out}");
    // The offline security review: below 3.0 ("OK") on systemd's 0–10 exposure scale.
    let out = run(Command::new(&analyze)
        .args(["security", "--offline=yes", "--threshold=30", "--no-pager"])
        .arg(&path));
    let score = out
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for sluice.service: ")
                .nth(1)
        })
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no score in {out}"));
    assert!(score < 3.0, "exposure {score}");
    // The config the unit runs is the one the package installs, and it validates.
    run(Command::new(BIN)
        .args(["validate", "-c"])
        .arg(repo("packaging/config/sluice.yaml")));
}

#[test]
fn the_dockerfile_matches_its_configuration() {
    let df = read("packaging/docker/Dockerfile");
    let cfg_text = read("packaging/docker/sluice.yaml");
    run(Command::new(BIN)
        .args(["validate", "-c"])
        .arg(repo("packaging/docker/sluice.yaml")));
    let cfg: serde_yaml::Value = serde_yaml::from_str(&cfg_text).unwrap();
    let instr = |name: &str| -> Vec<String> {
        // Joins continuation lines, then keeps the instructions of that name.
        df.replace("\\\n", " ")
            .lines()
            .filter_map(|l| l.trim().strip_prefix(&format!("{name} ")))
            .map(|s| s.trim().to_string())
            .collect()
    };
    let exposed: BTreeSet<String> = instr("EXPOSE")
        .iter()
        .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let port = |listen: &str| listen.rsplit_once(':').unwrap().1.to_string();
    let api_port = port(cfg["api"]["listen"].as_str().unwrap());
    assert!(exposed.contains(&format!("{api_port}/tcp")), "{exposed:?}");
    for (name, input) in cfg["inputs"].as_mapping().unwrap() {
        let Some(listen) = input["listen"].as_str() else {
            continue;
        };
        let proto = if input["mode"] == "udp" { "udp" } else { "tcp" };
        assert!(
            listen.starts_with("0.0.0.0:"),
            "{name:?}: not reachable from outside the container"
        );
        assert!(
            exposed.contains(&format!("{}/{proto}", port(listen))),
            "{name:?} {listen} not exposed: {exposed:?}"
        );
    }
    let health = instr("HEALTHCHECK").join(" ");
    assert!(
        health.contains(r#"CMD ["/usr/bin/sluice", "health", "--url", "http://127.0.0.1:"#)
            && health.contains(&format!(":{api_port}\"")),
        "{health}"
    );
    let volumes = instr("VOLUME").join(" ");
    assert!(volumes.contains("\"/etc/sluice\"") && volumes.contains("\"/var/lib/sluice\""));
    assert_eq!(cfg["data_dir"], "/var/lib/sluice");
    let user = instr("USER");
    assert!(
        !user.is_empty()
            && !user
                .iter()
                .any(|u| u.starts_with('0') || u.starts_with("root")),
        "{user:?}"
    );
    assert!(instr("CMD")
        .iter()
        .any(|c| c.contains(r#""run", "-c", "/etc/sluice/sluice.yaml""#)));
    // What the build stage copies from the repository exists.
    for src in [
        "packaging/docker/sluice.yaml",
        "enrichment-data",
        "Cargo.lock",
    ] {
        assert!(df.contains(src) || src == "Cargo.lock", "{src}");
        assert!(repo(src).exists(), "{src}");
    }
}

#[test]
fn the_debian_metadata_names_files_that_exist() {
    let manifest: toml_like::Manifest = toml_like::parse(&read("Cargo.toml"));
    assert!(!manifest.assets.is_empty());
    for (src, dest) in &manifest.assets {
        if src.starts_with("target/") {
            continue;
        }
        let matches = glob::glob(repo(src).to_str().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .count();
        assert!(matches > 0, "asset {src} -> {dest}: nothing there");
    }
    assert!(manifest.maintainer_scripts_exist, "maintainer scripts");
}

/// Just enough of `[package.metadata.deb]` to check its paths, without a TOML parser in the
/// dependencies: the `assets` array of `[source, destination, mode]` triples.
mod toml_like {
    pub struct Manifest {
        pub assets: Vec<(String, String)>,
        pub maintainer_scripts_exist: bool,
    }

    pub fn parse(text: &str) -> Manifest {
        let start = text
            .find("[package.metadata.deb]")
            .expect("[package.metadata.deb]");
        let section = &text[start..];
        let end = section[1..].find("\n[").map_or(section.len(), |i| i + 1);
        let section = &section[..end];
        let assets_at = section.find("assets = [").expect("assets");
        let re =
            regex::Regex::new(r#"\[\s*"([^"]+)"\s*,\s*"([^"]+)"\s*,\s*"[0-7]+"\s*\]"#).unwrap();
        let assets = re
            .captures_iter(&section[assets_at..])
            .map(|c| (c[1].to_string(), c[2].to_string()))
            .collect();
        let scripts = regex::Regex::new(r#"maintainer-scripts\s*=\s*"([^"]+)""#)
            .unwrap()
            .captures(section)
            .map(|c| c[1].to_string())
            .expect("maintainer-scripts");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(scripts);
        Manifest {
            assets,
            maintainer_scripts_exist: dir.join("postinst").exists() && dir.join("postrm").exists(),
        }
    }
}
