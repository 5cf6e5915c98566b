//! Helpers for the HTTP and HEC input tests: a config with one network input and a file output,
//! the address the OS chose for it (read from Sluice's log), and `curl`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::common::{read_docs, wait_for, Agent};

pub const T: Duration = Duration::from_secs(30);

/// Writes `sluice.yaml` with `input_yaml` as input `web` (indented under it) and a file output
/// into `out/`, plus `extra` at the top level.
pub fn write_config(dir: &Path, input_yaml: &str, extra: &str) -> PathBuf {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let input: String = input_yaml.lines().map(|l| format!("    {l}\n")).collect();
    let cfg = format!(
        "data_dir: {data}\ninputs:\n  web:\n{input}outputs:\n  local:\n    type: file\n    inputs: [web]\n    path: \"{out}/{{source_type}}.ndjson\"\nshutdown_timeout: 5s\n{extra}\n",
        data = dir.join("data").display(),
        out = out.display(),
    );
    let path = dir.join("sluice.yaml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// Starts Sluice on `write_config`'s configuration and returns it with the input's `host:port`.
pub fn start(dir: &Path, input_yaml: &str, extra: &str) -> (Agent, String) {
    let path = write_config(dir, input_yaml, extra);
    let agent = Agent::start(dir, &path);
    let mut addr = None;
    wait_for("the input to listen", T, || {
        addr = listening_address(&agent.logs(), "web");
        addr.is_some()
    });
    (agent, addr.unwrap_or_default())
}

/// A port that was free a moment ago, for tests that need to know it before Sluice starts.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The address in the log line that contains `marker` (such as "API listening").
pub fn logged_address(logs: &str, marker: &str) -> Option<String> {
    let logs = strip_ansi(logs);
    logs.lines().filter(|l| l.contains(marker)).find_map(|l| {
        let rest = &l[l.find("address=")? + "address=".len()..];
        Some(rest.split_whitespace().next()?.to_string())
    })
}

/// Removes terminal colour codes, which the log has when ANSI output is on.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The `address=` of the input's "listening" log line.
pub fn listening_address(logs: &str, input: &str) -> Option<String> {
    let logs = strip_ansi(logs);
    logs.lines()
        .filter(|l| l.contains("listening") && l.contains(&format!("input={input}")))
        .find_map(|l| {
            let rest = &l[l.find("address=")? + "address=".len()..];
            Some(rest.split_whitespace().next()?.to_string())
        })
}

/// A curl response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: String,
    /// curl's own complaints (TLS failures, refused connections).
    pub stderr: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Runs curl with `args` (plus silence and the status code) and returns what the server said.
pub fn curl(args: &[&str]) -> Reply {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("headers");
    let out = Command::new("curl")
        .args(["-sS", "-H", "Expect:", "--max-time", "60", "-D"])
        .arg(&headers)
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    Reply {
        status: code.trim().parse().unwrap_or(0),
        body: body.to_string(),
        headers: std::fs::read_to_string(&headers).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// Writes `data` to a file for `--data-binary @file`.
pub fn body_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Waits until the output holds `n` records and returns them.
pub fn wait_docs(out: &Path, n: usize) -> Vec<serde_json::Value> {
    wait_for(&format!("{n} records in the output"), T, || {
        read_docs(out).len() >= n
    });
    read_docs(out)
}

/// A FIFO nobody reads at the output's path for `unknown` records: the output blocks on it.
pub fn block_output(out: &Path) {
    std::fs::create_dir_all(out).unwrap();
    assert!(Command::new("mkfifo")
        .arg(out.join("unknown.ndjson"))
        .status()
        .unwrap()
        .success());
}

/// A CA and a `localhost` certificate signed by it, as PEM files: (ca, cert, key).
pub fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    // Distinct names: a leaf named like its issuer looks self-signed to OpenSSL.
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Sluice test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let cert = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}
