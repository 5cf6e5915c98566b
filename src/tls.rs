//! Server-side TLS shared by every listener (syslog, HTTP, HEC, the API): certificates from PEM
//! files, optional client certificates for mutual TLS.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// `tls:` under a listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM CA bundle; when set, clients must present a certificate signed by it.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// `tls:` under an output that connects out (Splunk HEC, Elasticsearch).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsConfig {
    /// PEM CA bundle trusted besides the system's roots (a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Check the server's certificate and name. `false` is for tests only: it trusts anyone.
    #[serde(default = "default_verify")]
    pub verify: bool,
    /// Client certificate chain for mutual TLS (with `key_file`).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

fn default_verify() -> bool {
    true
}

/// Reads a PEM file whole, for the HTTP client's certificate and identity loaders.
pub fn read_pem(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| TlsError::Read {
        path: path.display().to_string(),
        what,
        message: e.to_string(),
    })?;
    // Parse once here, so a file with no certificate is named now, not on the first request.
    if what == "certificates" {
        certs(path)?;
    }
    Ok(pem)
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read {what}: {message}")]
    Read {
        path: String,
        what: &'static str,
        message: String,
    },
    #[error("{path}: no {what} found (expected PEM)")]
    Empty { path: String, what: &'static str },
    #[error("TLS setup: {0}")]
    Rustls(String),
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Read {
            path: path.display().to_string(),
            what: "certificates",
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            path: path.display().to_string(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// Builds the rustls server configuration, reading the files now so that a bad path or key is a
/// configuration error at start (or reload), not a failure on the first connection.
pub fn server_config(cfg: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certs(&cfg.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&cfg.key_file).map_err(|e| TlsError::Read {
        path: cfg.key_file.display().to_string(),
        what: "the private key",
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match &cfg.client_ca_file {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| TlsError::Rustls(format!("{}: {e}", ca.display())))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rustls(format!("{}: {e}", cfg.key_file.display())))?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_generated_certificates_and_rejects_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
        let cfg = TlsConfig {
            cert_file: cert.clone(),
            key_file: key.clone(),
            client_ca_file: Some(cert.clone()),
        };
        assert!(server_config(&cfg).is_ok());
        let bad = TlsConfig {
            cert_file: key.clone(),
            key_file: key,
            client_ca_file: None,
        };
        let e = server_config(&bad).unwrap_err().to_string();
        assert!(e.contains("key.pem") && e.contains("certificate"), "{e}");
        let missing = TlsConfig {
            cert_file: dir.path().join("nope.pem"),
            key_file: cert,
            client_ca_file: None,
        };
        assert!(server_config(&missing)
            .unwrap_err()
            .to_string()
            .contains("nope.pem"));
    }
}
