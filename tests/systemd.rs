//! Running under systemd, with the real binary: the `sd_notify` messages a `Type=notify` unit
//! gets (on a datagram socket this test listens on, as systemd does), journal-style logs when
//! stderr is the journal stream, and `sluice health` as a container health check uses it.

mod common;
mod http_support;

use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{wait_for, Agent, BIN};

/// A config with a file input, a file output and the API on an OS-chosen port.
fn config(dir: &Path) -> std::path::PathBuf {
    let cfg = common::file_to_file_config(dir, "");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("api:\n  listen: 127.0.0.1:0\n");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn spawn(dir: &Path, cfg: &Path, env: &[(&str, String)]) -> Agent {
    let log = std::fs::File::create(dir.join("sluice-run.log")).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "-c"])
        .arg(cfg)
        .current_dir(dir)
        .env("SLUICE_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Agent {
        child: cmd.spawn().unwrap(),
        dir: dir.to_path_buf(),
    }
}

/// Receives notification datagrams until one contains `want`; returns them all.
fn until(sock: &UnixDatagram, want: &str, seen: &mut Vec<String>) -> String {
    let limit = Instant::now() + Duration::from_secs(30);
    let mut buf = vec![0u8; 4096];
    while Instant::now() < limit {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                seen.push(msg.clone());
                if msg.lines().any(|l| l == want) {
                    return msg;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("recv: {e}"),
        }
    }
    panic!("no `{want}` among {seen:?}");
}

#[test]
fn notify_ready_watchdog_reload_and_stopping_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let agent = spawn(
        dir.path(),
        &cfg,
        &[
            ("NOTIFY_SOCKET", sock_path.display().to_string()),
            // 300 ms: pings every 150 ms.
            ("WATCHDOG_USEC", "300000".into()),
        ],
    );
    let mut seen = Vec::new();
    let ready = until(&sock, "READY=1", &mut seen);
    assert!(
        ready.contains(&format!("MAINPID={}", agent.child.id())),
        "{ready}"
    );
    // READY=1 comes once the topology runs: the log says so already.
    assert!(
        agent.logs().contains("topology started"),
        "{}",
        agent.logs()
    );
    until(&sock, "WATCHDOG=1", &mut seen);
    until(&sock, "WATCHDOG=1", &mut seen);

    // A reload: RELOADING=1 with the monotonic clock, then READY=1 again.
    let before = seen.len();
    agent.signal("HUP");
    let reloading = until(&sock, "RELOADING=1", &mut seen);
    let usec: u64 = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"))
        .parse()
        .unwrap();
    assert!(usec > 0);
    until(&sock, "READY=1", &mut seen);
    let order: Vec<&String> = seen[before..]
        .iter()
        .filter(|m| !m.starts_with("WATCHDOG"))
        .collect();
    assert!(order[0].starts_with("RELOADING=1"), "{order:?}");
    assert!(order[1].starts_with("READY=1"), "{order:?}");

    // SIGTERM: STOPPING=1 before the process exits 0.
    let mut agent = agent;
    agent.signal("TERM");
    until(&sock, "STOPPING=1", &mut seen);
    let status = agent.child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{}", agent.logs());
    // No watchdog configured for another pid means none sent: see the next test.
}

#[test]
fn abstract_socket_and_no_watchdog_for_another_pid() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let name = format!("sluice-test-notify-{}-{}", std::process::id(), line!());
    let addr = {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap()
    };
    let sock = UnixDatagram::bind_addr(&addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let agent = spawn(
        dir.path(),
        &cfg,
        &[
            ("NOTIFY_SOCKET", format!("@{name}")),
            ("WATCHDOG_USEC", "100000".into()),
            // The watchdog belongs to another process (a wrapper script): not ours to feed.
            ("WATCHDOG_PID", "1".into()),
        ],
    );
    let mut seen = Vec::new();
    until(&sock, "READY=1", &mut seen);
    // Trigger one more message after a while; nothing in between may be a watchdog ping.
    std::thread::sleep(Duration::from_millis(600));
    agent.signal("HUP");
    until(&sock, "READY=1", &mut seen);
    assert!(!seen.iter().any(|m| m.contains("WATCHDOG=1")), "{seen:?}");
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn logs_carry_priorities_and_no_timestamps_on_the_journal_stream() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    // The stream is identified by the device and inode of stderr, as systemd sets it.
    let log_path = dir.path().join("sluice-run.log");
    std::fs::File::create(&log_path).unwrap();
    let m = std::fs::metadata(&log_path).unwrap();
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(&log_path)
        .unwrap();
    let child = Command::new(BIN)
        .args(["run", "-c"])
        .arg(&cfg)
        .current_dir(dir.path())
        .env("SLUICE_LOG", "info")
        .env("JOURNAL_STREAM", format!("{}:{}", m.dev(), m.ino()))
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let agent = Agent {
        child,
        dir: dir.path().to_path_buf(),
    };
    wait_for("start", Duration::from_secs(30), || {
        agent.logs().contains("topology started")
    });
    let logs = agent.logs();
    assert_eq!(agent.stop(), Some(0));
    let line = logs
        .lines()
        .find(|l| l.contains("topology started"))
        .unwrap();
    // `<6>` (info), then the level: no timestamp, journald adds its own.
    assert!(line.starts_with("<6> INFO "), "{line}");
    assert!(
        !logs.contains('\u{1b}'),
        "colour codes in the journal: {logs}"
    );
}

#[test]
fn health_subcommand_probes_health_and_ready() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let agent = spawn(dir.path(), &cfg, &[]);
    let mut addr = None;
    wait_for("the API", Duration::from_secs(30), || {
        addr = http_support::logged_address(&agent.logs(), "API listening");
        addr.is_some()
    });
    let url = format!("http://{}", addr.unwrap());
    let health = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("health")
            .args(args)
            .env_remove("SLUICE_HEALTH_URL")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, _) = health(&["--url", &url]);
    assert_eq!(code, Some(0));
    assert_eq!(out.trim(), r#"{"status":"ok"}"#);
    wait_for("ready", Duration::from_secs(30), || {
        health(&["--ready", "--url", &url]).0 == Some(0)
    });
    let (_, out, _) = health(&["--ready", "--url", &url]);
    assert!(out.contains(r#""status":"ready""#), "{out}");

    // Nobody listening: exit 1 with the reason.
    let port = http_support::free_port();
    let (code, _, err) = health(&["--url", &format!("http://127.0.0.1:{port}")]);
    assert_eq!(code, Some(1));
    assert!(err.starts_with("unhealthy: 127.0.0.1:"), "{err}");

    // Not ready (stopping) is exit 1 too: /ready answers 503 while draining. A path that is
    // not a probe gives 404, which is also a failure.
    let (code, _, err) = health(&["--url", &format!("{url}/nope")]);
    assert_eq!(code, Some(1));
    assert!(err.contains("404"), "{err}");
    assert_eq!(agent.stop(), Some(0));
}
