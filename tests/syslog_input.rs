//! The syslog input end to end: the real binary fed by real clients (util-linux `logger`,
//! rsyslog's `omfwd`, a rustls client), on ports the OS picks.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// A config with the given inputs (YAML under `inputs:`, indented two spaces) and one file output
/// taking all of them. JSON logs, so tests can read the bound addresses.
fn write_config(dir: &Path, inputs: &str, names: &[&str]) -> PathBuf {
    let cfg = format!(
        r#"data_dir: {data}
log:
  format: json
pipeline:
  threads: 1
inputs:
{inputs}
outputs:
  local:
    type: file
    inputs: [{names}]
    path: "{out}/{{input}}-{{source_type}}.ndjson"
shutdown_timeout: 10s
"#,
        data = dir.join("data").display(),
        out = dir.join("out").display(),
        names = names.join(", "),
    );
    let path = dir.join("sluice.yaml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// The address input `name` logged that it listens on (the last one, after reloads).
fn listening(agent: &Agent, name: &str) -> String {
    logged_field(agent, "syslog input listening", Some(name))
}

/// The `address` of the last JSON log line with this message (and `input`).
fn logged_field(agent: &Agent, message: &str, input: Option<&str>) -> String {
    let mut found = None;
    wait_for(&format!("`{message}` {input:?}"), T, || {
        found = agent
            .logs()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| {
                v["fields"]["message"] == message && input.is_none_or(|i| v["fields"]["input"] == i)
            })
            .filter_map(|v| v["fields"]["address"].as_str().map(String::from))
            .next_back();
        found.is_some()
    });
    found.unwrap()
}

/// `/metrics` as `name{labels}` → value.
fn scrape(api: &str) -> HashMap<String, f64> {
    let mut s = TcpStream::connect(api).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

fn port_of(addr: &str) -> String {
    addr.rsplit_once(':').unwrap().1.to_string()
}

/// Runs `logger` with `args`, one message per line of `lines`.
fn logger(args: &[&str], lines: &str) {
    let mut child = Command::new("logger")
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run logger (util-linux)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "logger {args:?} failed");
}

fn numbered(prefix: &str, n: usize) -> String {
    (0..n).map(|i| format!("msg {prefix}-{i} end\n")).collect()
}

/// Output documents whose `event.original` holds `msg <prefix>-<i> end`, by `i`.
fn by_id<'a>(docs: &'a [Value], prefix: &str) -> HashMap<usize, Vec<&'a Value>> {
    let mut m: HashMap<usize, Vec<&Value>> = HashMap::new();
    let needle = format!("msg {prefix}-");
    for d in docs {
        let orig = d["event"]["original"].as_str().unwrap_or_default();
        if let Some(at) = orig.find(&needle) {
            let rest = &orig[at + needle.len()..];
            if let Some(Ok(i)) = rest.split(' ').next().map(str::parse) {
                m.entry(i).or_default().push(d);
            }
        }
    }
    m
}

fn wait_ids(out: &Path, prefix: &str, n: usize, copies: usize) -> Vec<Value> {
    let mut docs = Vec::new();
    wait_for(&format!("{n} × {copies} `{prefix}` records"), T, || {
        docs = read_docs(out);
        let ids = by_id(&docs, prefix);
        ids.len() >= n && ids.values().all(|v| v.len() >= copies)
    });
    docs
}

/// Checks every `prefix` record: `copies` of each, from `input`, normalized as syslog, with the
/// peer address.
fn assert_syslog_records(docs: &[Value], prefix: &str, n: usize, copies: usize, input: &str) {
    let ids = by_id(docs, prefix);
    assert_eq!(ids.len(), n, "{prefix}: distinct messages");
    for (i, ds) in &ids {
        assert_eq!(ds.len(), copies, "{prefix}-{i}: copies");
        for d in ds {
            assert_eq!(d["sluice"]["input"], input, "{d}");
            assert_eq!(d["sluice"]["source_type"], "syslog", "{d}");
            let addr = d["log"]["source"]["address"].as_str().unwrap_or_default();
            assert!(addr.starts_with("127.0.0.1:"), "{prefix}-{i}: {d}");
        }
    }
}

#[test]
fn logger_over_udp_and_tcp_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        r#"  udp:
    type: syslog
    mode: udp
    listen: 127.0.0.1:0
  tcp:
    type: syslog
    mode: tcp
    listen: 127.0.0.1:0"#,
        &["udp", "tcp"],
    );
    let agent = Agent::start(dir.path(), &cfg);
    agent.wait_ready();
    let udp = port_of(&listening(&agent, "udp"));
    let tcp = port_of(&listening(&agent, "tcp"));
    let n = 100;
    let server = ["--server", "127.0.0.1", "--port"];
    let sends: [(&str, &str, &[&str]); 5] = [
        ("u3164", &udp, &["--udp", "--rfc3164"]),
        ("u5424", &udp, &["--udp", "--rfc5424"]),
        ("t3164", &tcp, &["--tcp", "--rfc3164"]),
        ("t5424", &tcp, &["--tcp", "--rfc5424"]),
        ("toct", &tcp, &["--tcp", "--rfc5424", "--octet-count"]),
    ];
    for (prefix, port, flags) in sends {
        let mut args: Vec<&str> = server.to_vec();
        args.push(port);
        args.extend(flags);
        args.extend(["-t", "sluicetest"]);
        logger(&args, &numbered(prefix, n));
    }
    let out = dir.path().join("out");
    for (prefix, _, _) in sends {
        wait_ids(&out, prefix, n, 1);
    }
    assert_eq!(agent.stop(), Some(0));
    let docs = read_docs(&out);
    for (prefix, port, _) in sends {
        let input = if port == udp { "udp" } else { "tcp" };
        assert_syslog_records(&docs, prefix, n, 1, input);
    }
    // The syslog header was parsed, not just carried.
    let one = by_id(&docs, "t5424")[&0][0];
    assert_eq!(one["process"]["name"], "sluicetest", "{one}");
    assert_eq!(docs.len(), 5 * n, "nothing else, nothing twice");
}

#[test]
fn rsyslog_forwards_over_tcp_with_both_framings() {
    let rsyslogd = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("rsyslogd is missing: run scripts/test-deps.sh");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        r#"  fwd:
    type: syslog
    mode: tcp
    listen: 127.0.0.1:0"#,
        &["fwd"],
    );
    let agent = Agent::start(dir.path(), &cfg);
    agent.wait_ready();
    let sluice_port = port_of(&listening(&agent, "fwd"));
    // rsyslog takes messages on its own TCP port and forwards each twice to Sluice: once
    // octet-counted, once newline-framed (each action on its own connection).
    let rs_port = free_port();
    let work = dir.path().join("rsyslog");
    std::fs::create_dir_all(&work).unwrap();
    let conf = dir.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{rs_port}")
action(type="omfwd" target="127.0.0.1" port="{sluice_port}" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="{sluice_port}" protocol="tcp" TCP_Framing="traditional" template="RSYSLOG_ForwardFormat")
"#,
            work = work.display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("rsyslogd.out")).unwrap();
    let rs = Command::new(rsyslogd)
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(dir.path().join("rsyslogd.pid"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start rsyslogd");
    let rs = KillOnDrop(rs);
    wait_for("rsyslogd to listen", T, || {
        TcpStream::connect(("127.0.0.1", rs_port)).is_ok()
    });
    let n = 100;
    logger(
        &[
            "--tcp",
            "--server",
            "127.0.0.1",
            "--port",
            &rs_port.to_string(),
            "--rfc5424",
            "-t",
            "viarsyslog",
        ],
        &numbered("rs", n),
    );
    let out = dir.path().join("out");
    wait_ids(&out, "rs", n, 2);
    drop(rs);
    assert_eq!(agent.stop(), Some(0));
    let docs = read_docs(&out);
    assert_syslog_records(&docs, "rs", n, 2, "fwd");
    let framed: Vec<&str> = by_id(&docs, "rs")[&7]
        .iter()
        .map(|d| d["event"]["original"].as_str().unwrap())
        .collect();
    assert!(
        framed
            .iter()
            .all(|o| o.starts_with('<') && o.ends_with("end")),
        "{framed:?}"
    );
}

/// Picks a port that is free right now (for clients such as rsyslog that need a fixed one).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Ends a helper process however the test ends.
struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Generated PKI for the TLS test: a CA, a server certificate for localhost, a client certificate.
struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sluice test ca");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf = |name: &str, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca_pem: ca.pem(),
        server: leaf("localhost", ExtendedKeyUsagePurpose::ServerAuth),
        client: leaf("client", ExtendedKeyUsagePurpose::ClientAuth),
    }
}

/// Sends `payload` over TLS with tokio-rustls; Err if the server refuses us.
fn tls_send(
    addr: &str,
    ca_pem: &str,
    client: Option<&(String, String)>,
    payload: &[u8],
) -> std::io::Result<()> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await?;
        tls.write_all(payload).await?;
        tls.flush().await?;
        // With TLS 1.3 the server judges the client's certificate after the client thinks the
        // handshake is done: a refusal shows up as an alert on the next read, acceptance as the
        // server's close_notify once it has read everything.
        tls.shutdown().await?;
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut rest))
            .await
            .map_err(|_| std::io::Error::other("no answer"))??;
        Ok(())
    })
}

#[test]
fn tls_with_and_without_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (cert, key) = (
        write("server.pem", &pki.server.0),
        write("server.key", &pki.server.1),
    );
    let ca = write("ca.pem", &pki.ca_pem);
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"  tls:
    type: syslog
    mode: tcp
    listen: 127.0.0.1:0
    tls:
      cert_file: {cert}
      key_file: {key}
  mtls:
    type: syslog
    mode: tcp
    listen: 127.0.0.1:0
    tls:
      cert_file: {cert}
      key_file: {key}
      client_ca_file: {ca}"#
        ),
        &["tls", "mtls"],
    );
    let agent = Agent::start(dir.path(), &cfg);
    agent.wait_ready();
    let tls = listening(&agent, "tls");
    let mtls = listening(&agent, "mtls");
    let n = 50;
    let frames = |prefix: &str| -> Vec<u8> {
        let mut b = Vec::new();
        for i in 0..n {
            let m = format!("<13>1 2026-03-05T10:11:12Z host app - - - msg {prefix}-{i} end");
            b.extend(format!("{} {m}", m.len()).as_bytes());
        }
        b
    };
    // Refused: no client certificate where one is required.
    let refused = tls_send(&mtls, &pki.ca_pem, None, &frames("nocert"));
    assert!(refused.is_err(), "a client without a certificate got in");
    // Plain TLS, and mutual TLS with a certificate.
    tls_send(&tls, &pki.ca_pem, None, &frames("tls")).unwrap();
    tls_send(&mtls, &pki.ca_pem, Some(&pki.client), &frames("mtls")).unwrap();
    let out = dir.path().join("out");
    wait_ids(&out, "tls", n, 1);
    wait_ids(&out, "mtls", n, 1);
    assert_eq!(agent.stop(), Some(0));
    let docs = read_docs(&out);
    assert_syslog_records(&docs, "tls", n, 1, "tls");
    assert_syslog_records(&docs, "mtls", n, 1, "mtls");
    assert!(by_id(&docs, "nocert").is_empty());
    assert_eq!(docs.len(), 2 * n);
}

/// Connects and waits until the server has taken the connection (not refused it at the limit).
fn connect_accepted(addr: &str) -> TcpStream {
    let mut last = None;
    for _ in 0..40 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(250)))
            .unwrap();
        match s.read(&mut [0u8; 16]) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return s;
            }
            other => last = Some(other),
        }
    }
    panic!("never accepted: {last:?}");
}

/// True if the server closed the connection (read returns end of stream or a reset).
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    match s.read(&mut [0u8; 16]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn limits_garbage_and_disconnects() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        r#"  lim:
    type: syslog
    mode: tcp
    listen: 127.0.0.1:0
    max_message_bytes: 256
    max_connections: 3
    idle_timeout: 0
  idle:
    type: syslog
    mode: tcp
    listen: 127.0.0.1:0
    idle_timeout: 500ms
    batch_timeout: 1ms
  dgram:
    type: syslog
    mode: udp
    listen: 127.0.0.1:0
    max_message_bytes: 256"#,
        &["lim", "idle", "dgram"],
    );
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("api:\n  listen: 127.0.0.1:0\n");
    std::fs::write(&cfg, text).unwrap();
    let agent = Agent::start(dir.path(), &cfg);
    agent.wait_ready();
    let lim = listening(&agent, "lim");
    let idle = listening(&agent, "idle");
    let dgram = listening(&agent, "dgram");
    let out = dir.path().join("out");
    let long = "x".repeat(1000);

    // Over-long messages, octet-counted and newline-framed, and a datagram: cut and tagged; the
    // message after each is intact.
    let mut s = connect_accepted(&lim);
    let body = format!("<13>msg long-0 end {long}");
    write!(s, "{} {body}", body.len()).unwrap();
    write!(s, "<13>msg long-1 end {long}\n<13>msg long-2 end\n").unwrap();
    drop(s);
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(format!("<13>msg long-3 end {long}").as_bytes(), &dgram)
        .unwrap();
    u.send_to(b"<13>msg long-4 end\n", &dgram).unwrap();
    let docs = wait_ids(&out, "long", 5, 1);
    let ids = by_id(&docs, "long");
    for i in [0, 1, 3] {
        let d = ids[&i][0];
        assert_eq!(d["event"]["original"].as_str().unwrap().len(), 256, "{d}");
        assert!(d["tags"].to_string().contains("_sluice_truncated"), "{d}");
    }
    for i in [2, 4] {
        let d = ids[&i][0];
        assert_eq!(
            d["event"]["original"],
            "<13>msg long-2 end".replace('2', &i.to_string())
        );
        assert!(!d["tags"].to_string().contains("_sluice_truncated"), "{d}");
    }

    // Garbage bytes: delivered as something, never a crash; the input keeps working.
    let mut s = connect_accepted(&lim);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let garbage: Vec<u8> = (0..8192)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect();
    s.write_all(&garbage).unwrap();
    drop(s);
    u.send_to(&garbage[..1500], &dgram).unwrap();

    // A client that disconnects in the middle of an octet-counted frame: what arrived is
    // delivered, tagged; the next connection is unaffected.
    let mut s = connect_accepted(&lim);
    s.write_all(b"200 <13>msg cut-0 end and then the client goes away")
        .unwrap();
    drop(s);
    let mut s = connect_accepted(&lim);
    s.write_all(b"18 <13>msg cut-1 end").unwrap();
    drop(s);
    let docs = wait_ids(&out, "cut", 2, 1);
    let cut = by_id(&docs, "cut");
    assert!(cut[&0][0]["tags"].to_string().contains("_sluice_truncated"));
    assert_eq!(cut[&1][0]["event"]["original"], "<13>msg cut-1 end");

    // A connection flood beyond max_connections: the extra ones are closed, the allowed ones
    // keep working, and a freed slot takes a new connection.
    let mut allowed: Vec<TcpStream> = (0..3).map(|_| connect_accepted(&lim)).collect();
    let mut extra: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(&lim).unwrap()).collect();
    for s in &mut extra {
        assert!(closed_by_server(s, Duration::from_secs(10)), "not refused");
    }
    for (i, s) in allowed.iter_mut().enumerate() {
        writeln!(s, "<13>msg flood-{i} end").unwrap();
    }
    wait_ids(&out, "flood", 3, 1);
    drop(allowed.pop());
    let mut s = connect_accepted(&lim);
    writeln!(s, "<13>msg flood-3 end").unwrap();
    wait_ids(&out, "flood", 4, 1);

    // Idle connections are closed; busy ones are not.
    let mut quiet = connect_accepted(&idle);
    assert!(closed_by_server(&mut quiet, Duration::from_secs(10)));

    drop(allowed);
    drop(s);

    // Many datagram senders at once: a batch per peer, none dropped.
    let peers: Vec<UdpSocket> = (0..300)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for (i, p) in peers.iter().enumerate() {
        p.send_to(format!("<13>msg peers-{i} end").as_bytes(), &dgram)
            .unwrap();
    }
    wait_ids(&out, "peers", 300, 1);

    // The metrics tell the same story.
    let api = logged_field(&agent, "API listening", None);
    let open = r#"sluice_input_connections_open{component="lim"}"#;
    wait_for("connections to close", T, || {
        scrape(&api).get(open) == Some(&0.0)
    });
    let m = scrape(&api);
    let v = |k: &str| m.get(k).copied().unwrap_or(0.0);
    let refused = v(r#"sluice_input_connections_total{component="lim",result="refused"}"#);
    assert!(refused >= 10.0, "refused {refused}");
    let accepted = v(r#"sluice_input_connections_total{component="lim",result="accepted"}"#);
    assert!(accepted >= 8.0, "accepted {accepted}");
    assert_eq!(
        v(r#"sluice_input_connections_closed_total{component="idle",reason="idle"}"#),
        1.0
    );
    assert!(v(r#"sluice_input_partial_frames_total{component="lim"}"#) >= 1.0);
    assert!(v("sluice_records_truncated_total") >= 4.0);
    // Two datagrams, the garbage one and the peers'; none dropped.
    assert_eq!(
        v(r#"sluice_component_received_records_total{component="dgram",kind="input"}"#),
        303.0
    );
    assert_eq!(
        v(r#"sluice_dropped_records_total{component="dgram",reason="pipeline_full"}"#),
        0.0
    );
    assert_eq!(agent.stop(), Some(0));
    let docs = read_docs(&out);
    for d in &docs {
        let t = d["sluice"]["source_type"].as_str().unwrap();
        assert!(["syslog", "unknown"].contains(&t), "{d}");
    }
    assert_eq!(by_id(&docs, "flood").len(), 4);
    assert!(!agent_logs_panicked(dir.path()), "sluice logged a panic");
}

fn agent_logs_panicked(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("sluice-"))
        .any(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .contains("panicked")
        })
}

#[test]
fn panos_inside_syslog_is_panos() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        r#"  fw:
    type: syslog
    mode: tcp
    listen: 127.0.0.1:0
  fwu:
    type: syslog
    mode: udp
    listen: 127.0.0.1:0"#,
        &["fw", "fwu"],
    );
    let agent = Agent::start(dir.path(), &cfg);
    agent.wait_ready();
    let tcp = listening(&agent, "fw");
    let udp = listening(&agent, "fwu");
    let samples = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/samples/panos.log"),
    )
    .unwrap();
    let lines: Vec<&str> = samples.lines().filter(|l| !l.is_empty()).collect();
    let mut s = TcpStream::connect(&tcp).unwrap();
    for l in &lines {
        writeln!(s, "{l}").unwrap();
    }
    drop(s);
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    for l in &lines {
        u.send_to(l.as_bytes(), &udp).unwrap();
    }
    let out = dir.path().join("out");
    wait_for("PAN-OS records", T, || {
        read_docs(&out).len() >= 2 * lines.len()
    });
    assert_eq!(agent.stop(), Some(0));
    let docs = read_docs(&out);
    assert_eq!(docs.len(), 2 * lines.len());
    for d in &docs {
        assert_eq!(d["sluice"]["source_type"], "panos", "{d}");
        assert!(d["log"]["source"]["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")));
    }
}

#[test]
fn reload_rebinds_the_same_port_and_socket_paths() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let stream = dir.path().join("syslog.sock");
    let dgram = dir.path().join("log.sock");
    let inputs = |idle: &str| {
        format!(
            r#"  tcp:
    type: syslog
    mode: tcp
    listen: 127.0.0.1:{port}
    idle_timeout: {idle}
  local:
    type: syslog
    mode: unix
    listen: {stream}
    idle_timeout: {idle}
  devlog:
    type: syslog
    mode: unix_datagram
    listen: {dgram}
    idle_timeout: {idle}"#,
            stream = stream.display(),
            dgram = dgram.display(),
        )
    };
    let names = ["tcp", "local", "devlog"];
    let cfg = write_config(dir.path(), &inputs("5m"), &names);
    let agent = Agent::start(dir.path(), &cfg);
    agent.wait_ready();
    for n in names {
        listening(&agent, n);
    }
    let send = |round: usize| {
        let p = port.to_string();
        let tcp = ["--tcp", "--server", "127.0.0.1", "--port", &p];
        logger(&tcp, &numbered(&format!("tcp{round}"), 20));
        let s = stream.display().to_string();
        logger(&["-T", "-u", &s], &numbered(&format!("unix{round}"), 20));
        let d = dgram.display().to_string();
        logger(&["-d", "-u", &d], &numbered(&format!("dgram{round}"), 20));
    };
    send(0);
    let out = dir.path().join("out");
    for p in ["tcp0", "unix0", "dgram0"] {
        wait_ids(&out, p, 20, 1);
    }
    // Every input changes, so each is stopped and started again on the same address.
    write_config(dir.path(), &inputs("4m"), &names);
    agent.signal("HUP");
    wait_for("reload", T, || {
        agent.logs().contains("configuration reloaded")
    });
    send(1);
    for p in ["tcp1", "unix1", "dgram1"] {
        wait_ids(&out, p, 20, 1);
    }
    assert_eq!(agent.stop(), Some(0));
    let docs = read_docs(&out);
    assert_eq!(
        docs.len(),
        6 * 20,
        "nothing lost or doubled across the reload"
    );
    assert_eq!(by_id(&docs, "unix1")[&3][0]["sluice"]["input"], "local");
    assert!(!stream.exists() && !dgram.exists(), "socket files removed");
}

#[test]
fn a_blocked_output_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        r#"data_dir: {data}
log:
  format: json
pipeline:
  threads: 1
  batch_size: 64
  queue_batches: 1
inputs:
  tcp:
    type: syslog
    mode: tcp
    listen: 127.0.0.1:0
outputs:
  screen:
    type: stdout
    inputs: [tcp]
    queue_batches: 1
shutdown_timeout: 10s
"#,
        data = dir.path().join("data").display()
    );
    let path = dir.path().join("sluice.yaml");
    std::fs::write(&path, cfg).unwrap();
    // stdout is a pipe nobody reads for now: the output blocks once the pipe is full.
    let child = Command::new(BIN)
        .args(["run", "-c"])
        .arg(&path)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("sluice-0.log")).unwrap())
        .spawn()
        .unwrap();
    let mut agent = Agent {
        child,
        dir: dir.path().to_path_buf(),
    };
    agent.wait_ready();
    let addr = listening(&agent, "tcp");
    let n = 20_000;
    let writer = std::thread::spawn(move || {
        let mut s = TcpStream::connect(&addr).unwrap();
        let mut buf = String::new();
        for i in 0..n {
            buf.push_str(&format!("<13>Mar  5 10:11:12 host app: msg bp-{i} end\n"));
            if buf.len() > 16 * 1024 {
                s.write_all(buf.as_bytes()).unwrap();
                buf.clear();
            }
        }
        s.write_all(buf.as_bytes()).unwrap();
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut stdout = agent.child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut seen = std::collections::HashSet::new();
        let mut rest = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while seen.len() < n {
            let k = stdout.read(&mut buf).unwrap();
            assert!(k > 0, "stdout closed after {} records", seen.len());
            rest.extend_from_slice(&buf[..k]);
            while let Some(i) = rest.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = rest.drain(..=i).collect();
                let v: Value = serde_json::from_slice(&line).unwrap();
                let orig = v["event"]["original"].as_str().unwrap().to_string();
                assert!(seen.insert(orig), "a record came twice");
            }
        }
        seen.len()
    });
    writer.join().unwrap();
    assert_eq!(reader.join().unwrap(), n);
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn validate_names_the_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        r#"  a:
    type: syslog
    mode: udp
    listen: "514"
    tls: {cert_file: x.pem, key_file: x.key}
    max_connections: 0
  b:
    type: syslog
    mode: tcp
    listen: 127.0.0.1:0
    receive_buffer_bytes: 1000000"#,
        &["a", "b"],
    );
    let out = Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    for key in [
        "inputs.a.listen",
        "inputs.a.tls",
        "inputs.a.max_connections",
        "inputs.b.receive_buffer_bytes",
    ] {
        assert!(text.contains(key), "{key} not named in:\n{text}");
    }
}

/// One HTTP/1.1 request over a connection kept open: the status and the body.
fn http_get(s: &mut TcpStream, path: &str) -> (u16, String) {
    write!(s, "GET {path} HTTP/1.1\r\nHost: sluice\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .expect("a Content-Length");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (status, String::from_utf8_lossy(&body).to_string())
}

/// Out of file descriptors (Sluice started under a low `RLIMIT_NOFILE`), the TCP listener cannot
/// accept: `/ready` answers 503 naming the input and the error — asked over an API connection
/// opened before, since a new one could not be accepted either — and is ready again once the
/// connections holding the descriptors close and the listener accepts again.
#[test]
fn ready_reports_a_listener_out_of_file_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "  net:\n    type: syslog\n    mode: tcp\n    listen: 127.0.0.1:0\n",
        &["net"],
    );
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("api:\n  listen: 127.0.0.1:0\n");
    std::fs::write(&cfg, text).unwrap();
    let child = Command::new("prlimit")
        .args(["--nofile=96:96", common::BIN, "run", "-c"])
        .arg(&cfg)
        .current_dir(dir.path())
        .env("SLUICE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("sluice-fd.log")).unwrap())
        .spawn()
        .expect("prlimit (util-linux) runs sluice");
    let agent = Agent {
        child,
        dir: dir.path().to_path_buf(),
    };
    agent.wait_ready();
    let net = listening(&agent, "net");
    let api = logged_field(&agent, "API listening", None);
    let mut probe = TcpStream::connect(&api).unwrap();
    probe.set_read_timeout(Some(T)).unwrap();
    assert_eq!(http_get(&mut probe, "/ready").0, 200);

    // Far more connections than descriptors: the kernel completes them (the backlog), Sluice
    // cannot accept the ones past its limit.
    let mut held = Vec::new();
    let mut failed = String::new();
    wait_for("/ready to report the listener", T, || {
        for _ in 0..16 {
            if let Ok(c) = TcpStream::connect(&net) {
                held.push(c);
            }
        }
        let (status, body) = http_get(&mut probe, "/ready");
        failed = body;
        status == 503
    });
    assert!(
        failed.contains("net") && failed.contains("cannot accept connections"),
        "{failed}"
    );
    assert!(held.len() <= 1000, "connections opened: {}", held.len());

    // The descriptors come back as the connections close; the next accept makes it ready.
    drop(held);
    wait_for("/ready to recover", T, || {
        if let Ok(c) = TcpStream::connect(&net) {
            drop(c);
        }
        http_get(&mut probe, "/ready").0 == 200
    });
    let m = scrape(&api);
    let errors = m
        .get("sluice_component_errors_total{component=\"net\"}")
        .copied()
        .unwrap_or(0.0);
    assert!(errors >= 1.0, "no accept error counted: {m:?}");
    agent.stop();
}
