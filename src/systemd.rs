//! The systemd service protocol (`sd_notify(3)`), without linking libsystemd: datagrams of
//! `KEY=value` lines sent to the socket named by `NOTIFY_SOCKET`. Lets a `Type=notify` unit know
//! when Sluice is ready, reloading and stopping, and feeds the watchdog (`WatchdogSec=`).
//!
//! Outside systemd (no `NOTIFY_SOCKET`) every call is a no-op, so the run loop calls it
//! unconditionally. A failed send is logged once and never stops the agent: the service manager
//! being away must not take the logs down with it.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Why `NOTIFY_SOCKET` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET `{0}`: expected an absolute path or `@abstract-name`")]
    BadAddress(String),
    #[error("NOTIFY_SOCKET `{addr}`: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
}

/// A connection to the service manager, or nothing when not started by one.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr, String)>,
    watchdog: Option<Duration>,
    warned: AtomicBool,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the environment.
    pub fn from_env() -> Self {
        let env = |k: &str| std::env::var(k).ok();
        match Self::from_vars(&env) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "systemd notifications disabled");
                Self::disabled()
            }
        }
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Self {
        Notifier {
            target: None,
            watchdog: None,
            warned: AtomicBool::new(false),
        }
    }

    fn from_vars(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, NotifyError> {
        let Some(addr) = env("NOTIFY_SOCKET").filter(|a| !a.is_empty()) else {
            return Ok(Self::disabled());
        };
        let sock_addr = socket_addr(&addr)?;
        let sock = UnixDatagram::unbound().map_err(|source| NotifyError::Io {
            addr: addr.clone(),
            source,
        })?;
        // The watchdog is ours only if WATCHDOG_PID is unset or names this process.
        let for_us = env("WATCHDOG_PID")
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let watchdog = env("WATCHDOG_USEC")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&us| us > 0 && for_us)
            .map(Duration::from_micros);
        Ok(Notifier {
            target: Some((sock, sock_addr, addr)),
            watchdog,
            warned: AtomicBool::new(false),
        })
    }

    /// Whether a service manager listens.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, as `sd_watchdog_enabled(3)` advises.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|d| (d / 2).max(Duration::from_millis(1)))
    }

    /// The topology runs.
    pub fn ready(&self, status: &str) {
        self.send(&format!(
            "READY=1\nSTATUS={status}\nMAINPID={}",
            std::process::id()
        ));
    }

    /// A reload starts; `READY=1` (through [`Notifier::ready`]) ends it.
    pub fn reloading(&self) {
        let msg = match monotonic_usec() {
            Some(us) => format!("RELOADING=1\nMONOTONIC_USEC={us}\nSTATUS=reloading"),
            None => "RELOADING=1\nSTATUS=reloading".to_string(),
        };
        self.send(&msg);
    }

    /// Shutdown started (SIGTERM/SIGINT), before draining.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=draining and stopping");
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    fn send(&self, msg: &str) {
        let Some((sock, addr, name)) = &self.target else {
            return;
        };
        if let Err(e) = sock.send_to_addr(msg.as_bytes(), addr) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(socket = %name, error = %e, "cannot notify systemd");
            }
        }
    }
}

/// `/run/systemd/notify` or `@name` (the Linux abstract namespace).
fn socket_addr(addr: &str) -> Result<SocketAddr, NotifyError> {
    let io = |source| NotifyError::Io {
        addr: addr.to_string(),
        source,
    };
    if let Some(name) = addr.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        return SocketAddr::from_abstract_name(name.as_bytes()).map_err(io);
    }
    if !addr.starts_with('/') {
        return Err(NotifyError::BadAddress(addr.to_string()));
    }
    SocketAddr::from_pathname(addr).map_err(io)
}

/// `CLOCK_MONOTONIC` in microseconds, which systemd wants beside `RELOADING=1`.
fn monotonic_usec() -> Option<u64> {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    Some(secs * 1_000_000 + nanos / 1_000)
}

/// Whether stderr is the journal stream systemd gave us (`JOURNAL_STREAM=dev:inode`), so logs
/// can leave timestamps to journald and carry `<N>` priority prefixes instead.
pub fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| owned.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn no_socket_means_disabled() {
        let n = Notifier::from_vars(&vars(&[])).unwrap();
        assert!(!n.enabled());
        n.ready("x"); // a no-op, not a panic
    }

    #[test]
    fn relative_paths_are_refused() {
        let e = Notifier::from_vars(&vars(&[("NOTIFY_SOCKET", "run/notify")])).unwrap_err();
        assert!(e.to_string().contains("run/notify"), "{e}");
    }

    #[test]
    fn watchdog_is_half_the_interval_and_only_for_this_pid() {
        let us = vars(&[("NOTIFY_SOCKET", "@x"), ("WATCHDOG_USEC", "2000000")]);
        let n = Notifier::from_vars(&us).unwrap();
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(1)));
        let other = vars(&[
            ("NOTIFY_SOCKET", "@x"),
            ("WATCHDOG_USEC", "2000000"),
            ("WATCHDOG_PID", "1"),
        ]);
        assert_eq!(
            Notifier::from_vars(&other).unwrap().watchdog_interval(),
            None
        );
    }

    #[test]
    fn messages_reach_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("sluice-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notifier::from_vars(&vars(&[("NOTIFY_SOCKET", &format!("@{name}"))])).unwrap();
        n.reloading();
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..len]).unwrap();
        assert!(msg.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{msg}");
        let us: u64 = msg.lines().nth(1).unwrap()["MONOTONIC_USEC=".len()..]
            .parse()
            .unwrap();
        assert!(us > 0);
    }
}
