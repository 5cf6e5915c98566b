//! `sluice health`: probes a running agent's `/health` or `/ready`, for container `HEALTHCHECK`s
//! and scripts on images that have no curl. Plain HTTP/1.1 over a blocking socket with a
//! deadline; exit status 0 only on a `200`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("`{0}`: expected a URL such as http://127.0.0.1:8686")]
    BadUrl(String),
    #[error("`{0}`: https is not supported by `sluice health`; probe a plain-HTTP API listener")]
    Https(String),
    #[error("{addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr}: no answer within {secs} s")]
    Timeout { addr: String, secs: u64 },
    #[error("{url}: answered `{status}`: {body}")]
    Status {
        url: String,
        status: String,
        body: String,
    },
    #[error("{0}: not an HTTP answer")]
    NotHttp(String),
}

/// The URL to probe: `--url`, else the configuration's `api.listen` (a wildcard address becomes
/// loopback), else the default port on loopback.
pub fn base_url(url: Option<&str>, listen: Option<&str>) -> String {
    if let Some(u) = url {
        return u.trim_end_matches('/').to_string();
    }
    let Some(listen) = listen else {
        return "http://127.0.0.1:8686".to_string();
    };
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "8686"));
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1",
        "[::]" => "[::1]",
        h => h,
    };
    format!("http://{host}:{port}")
}

/// GETs `base/health` (or `/ready`) and returns the body of a `200`.
pub fn probe(base: &str, ready: bool, timeout: Duration) -> Result<String, HealthError> {
    if base.starts_with("https://") {
        return Err(HealthError::Https(base.to_string()));
    }
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| HealthError::BadUrl(base.to_string()))?;
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(HealthError::BadUrl(base.to_string()));
    }
    let addr_str = if authority.rsplit_once(':').is_some_and(|(_, p)| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !authority.ends_with(']')
    }) {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let io = |source| HealthError::Io {
        addr: addr_str.clone(),
        source,
    };
    let deadline = Instant::now() + timeout;
    let addrs: Vec<_> = addr_str.to_socket_addrs().map_err(io)?.collect();
    let mut last = None;
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut stream = match (stream, last) {
        (Some(s), _) => s,
        (None, Some(e)) => return Err(io(e)),
        (None, None) => return Err(HealthError::BadUrl(base.to_string())),
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let timed_out = || HealthError::Timeout {
        addr: addr_str.clone(),
        secs: timeout.as_secs(),
    };
    if left.is_zero() {
        return Err(timed_out());
    }
    stream.set_read_timeout(Some(left)).map_err(io)?;
    stream.set_write_timeout(Some(left)).map_err(io)?;
    let path = format!("{prefix}{}", if ready { "/ready" } else { "/health" });
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: sluice-health\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).map_err(io)?;
    // Bounded: probes answer a few hundred bytes.
    let mut answer = Vec::new();
    match stream.take(64 * 1024).read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            return Err(timed_out())
        }
        Err(e) => return Err(io(e)),
    }
    let text = String::from_utf8_lossy(&answer);
    let url = format!("http://{authority}{path}");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| HealthError::NotHttp(url.clone()))?;
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some(proto), Some(code)) = (parts.next(), parts.next()) else {
        return Err(HealthError::NotHttp(url));
    };
    if !proto.starts_with("HTTP/") {
        return Err(HealthError::NotHttp(url));
    }
    if code != "200" {
        return Err(HealthError::Status {
            url,
            status: format!("{code} {}", parts.next().unwrap_or_default()),
            body: body.trim().to_string(),
        });
    }
    Ok(body.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_from_listen_addresses() {
        assert_eq!(base_url(None, None), "http://127.0.0.1:8686");
        assert_eq!(
            base_url(None, Some("0.0.0.0:9000")),
            "http://127.0.0.1:9000"
        );
        assert_eq!(base_url(None, Some("[::]:9000")), "http://[::1]:9000");
        assert_eq!(base_url(Some("http://h:1/"), Some("x:2")), "http://h:1");
    }

    #[test]
    fn refused_connections_and_bad_urls_fail() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let e = probe(
            &format!("http://127.0.0.1:{port}"),
            false,
            Duration::from_secs(2),
        )
        .unwrap_err();
        assert!(matches!(e, HealthError::Io { .. }), "{e}");
        assert!(matches!(
            probe("ftp://x", false, Duration::from_secs(1)),
            Err(HealthError::BadUrl(_))
        ));
        assert!(matches!(
            probe("https://x", false, Duration::from_secs(1)),
            Err(HealthError::Https(_))
        ));
    }
}
