//! The HTTP client every SIEM output shares (reqwest on rustls with ring, like the listeners):
//! TLS options, gzip request bodies, timeouts, and the mapping of what went wrong onto
//! [`Failure`]: transient (connection, timeout, 408/429/5xx, and 401/403, which an operator fixes
//! without the records changing) or permanent (other 4xx).

use std::io::Write;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};

use super::retry::{is_transient_status, parse_retry_after, Failure};
use super::OutputError;
use crate::config::Compression;
use crate::tls::ClientTlsConfig;

/// What every HTTP output configures the same way.
#[derive(Debug, Clone)]
pub struct ClientSettings<'a> {
    pub tls: Option<&'a ClientTlsConfig>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

/// Builds the client, reading certificate files now so that a bad path is a start-up error.
pub fn client(s: &ClientSettings<'_>) -> Result<reqwest::Client, OutputError> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(s.timeout)
        .connect_timeout(s.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")));
    if let Some(t) = s.tls {
        if let Some(ca) = &t.ca_file {
            let pem = crate::tls::read_pem(ca, "certificates").map_err(tls_err)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| OutputError::Config(format!("tls.ca_file: {}: {e}", ca.display())))?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        match (&t.cert_file, &t.key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = crate::tls::read_pem(cert, "certificates").map_err(tls_err)?;
                pem.push(b'\n');
                pem.extend(crate::tls::read_pem(key, "the private key").map_err(tls_err)?);
                let id = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| OutputError::Config(format!("tls.cert_file/key_file: {e}")))?;
                b = b.identity(id);
            }
            (None, None) => {}
            _ => {
                return Err(OutputError::Config(
                    "tls: a client certificate needs both `cert_file` and `key_file`".into(),
                ))
            }
        }
        if !t.verify {
            tracing::warn!("tls.verify is off: the server's certificate is not checked");
            b = b.danger_accept_invalid_certs(true);
        }
    }
    b.build()
        .map_err(|e| OutputError::Config(format!("HTTP client: {e}")))
}

fn tls_err(e: crate::tls::TlsError) -> OutputError {
    OutputError::Config(format!("tls: {e}"))
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub retry_after: Option<Duration>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The failure a non-2xx reply means; `what` says what the body's error was.
    pub fn failure(&self, what: &str) -> Failure {
        let error = format!("HTTP {}: {what}", self.status);
        if is_transient_status(self.status) || matches!(self.status, 401 | 403) {
            Failure::Transient {
                error,
                retry_after: self.retry_after,
            }
        } else {
            Failure::Permanent(error)
        }
    }

    /// The body as text for error messages, shortened.
    pub fn snippet(&self) -> String {
        let s = String::from_utf8_lossy(&self.body);
        let s = s.trim();
        match s.char_indices().nth(300) {
            Some((i, _)) => format!("{}…", &s[..i]),
            None => s.to_string(),
        }
    }
}

/// POSTs `body` (compressed here when asked) and reads the whole answer. Network errors and
/// timeouts are transient; the status is left to the caller.
pub async fn post(
    client: &reqwest::Client,
    url: &reqwest::Url,
    headers: HeaderMap,
    content_type: &'static str,
    body: &[u8],
    compression: Compression,
) -> Result<Reply, Failure> {
    let mut req = client
        .post(url.clone())
        .headers(headers)
        .header(CONTENT_TYPE, HeaderValue::from_static(content_type));
    req = match compression {
        Compression::Gzip => req
            .header(CONTENT_ENCODING, HeaderValue::from_static("gzip"))
            .body(gzip(body).map_err(|e| Failure::Permanent(format!("gzip: {e}")))?),
        Compression::None => req.body(body.to_vec()),
    };
    let resp = req.send().await.map_err(net_failure)?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let body = resp.bytes().await.map_err(net_failure)?.to_vec();
    Ok(Reply {
        status,
        body,
        retry_after,
    })
}

/// Connection refused or reset, TLS failures, timeouts: all worth another attempt.
pub fn net_failure(e: reqwest::Error) -> Failure {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    // reqwest's Display hides the cause (refused, certificate unknown); show the chain.
    let mut msg = format!("{kind}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    Failure::transient(msg)
}

pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    enc.write_all(data)?;
    enc.finish()
}

/// The endpoint joined with an API path (`/services/collector/event`, `/_bulk`), keeping any
/// path prefix of the endpoint (a proxy's `/splunk`).
pub fn join(endpoint: &str, path: &str) -> Result<reqwest::Url, OutputError> {
    let base = endpoint.trim_end_matches('/');
    reqwest::Url::parse(&format!("{base}{path}"))
        .map_err(|e| OutputError::Config(format!("endpoint: {e}")))
}

/// A random GUID (version 4 layout), for Splunk's request channel.
pub fn random_guid(rng: &mut fastrand::Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
