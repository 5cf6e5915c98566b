//! The Kafka client's TLS, end to end: librdkafka (with the OpenSSL it was built against) connects
//! to a real TLS listener (rustls, a certificate from a test CA, client certificates required) and
//! must verify it, present its own certificate and send its first Kafka request inside the
//! session. The listener is not a broker: it reads that request and closes, which is all the TLS
//! layer needs. Guards the build: a librdkafka without SSL refuses `security.protocol=ssl`.

mod common;
mod http_support;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::{BaseProducer, Producer};
use rustls::AlertDescription;
use sluice::config::KafkaTls;
use sluice::kafka::{client_config, Connection};
use sluice::tls::{server_config, TlsConfig};

/// The first request the client sent inside the session, and whether it showed a certificate.
#[derive(Debug)]
struct Seen {
    api_key: i16,
    client_id: String,
    client_certificate: bool,
}

/// Accepts one connection on a loopback port with mutual TLS (`cert`, `key`; clients signed by
/// `client_ca`), runs a client with `tls` against `host:port`, and returns what the listener saw
/// or the TLS error that ended the handshake.
fn connect(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
    host: &str,
    tls: KafkaTls,
) -> Result<Seen, rustls::Error> {
    let server = server_config(&TlsConfig {
        cert_file: cert.to_path_buf(),
        key_file: key.to_path_buf(),
        client_ca_file: Some(client_ca.to_path_buf()),
    })
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut conn = rustls::ServerConnection::new(Arc::clone(&server)).unwrap();
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut sock) {
                let tls = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
                let _ = tx.send(Err(tls
                    .cloned()
                    .unwrap_or_else(|| rustls::Error::General(format!("handshake: {e}")))));
                return;
            }
        }
        let client_certificate = conn.peer_certificates().is_some_and(|c| !c.is_empty());
        let mut stream = rustls::StreamOwned::new(conn, sock);
        // A Kafka request: size, api_key, api_version, correlation_id, client_id (int16 + bytes).
        let mut size = [0u8; 4];
        let request = stream.read_exact(&mut size).and_then(|_| {
            let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
            stream.read_exact(&mut body).map(|_| body)
        });
        let seen = request
            .map(|b| {
                let id_len = i16::from_be_bytes([b[8], b[9]]) as usize;
                Seen {
                    api_key: i16::from_be_bytes([b[0], b[1]]),
                    client_id: String::from_utf8_lossy(&b[10..10 + id_len]).into_owned(),
                    client_certificate,
                }
            })
            .map_err(|e| rustls::Error::General(format!("reading the request: {e}")));
        let _ = tx.send(seen);
    });

    let brokers = vec![format!("{host}:{port}")];
    let mut properties = BTreeMap::new();
    // The listener is on 127.0.0.1: do not try ::1 for `localhost` first.
    properties.insert("broker.address.family".to_string(), "v4".to_string());
    let config = client_config(
        Connection {
            brokers: &brokers,
            tls: Some(&tls),
            sasl: None,
            properties: &properties,
        },
        &[("client.id", "sluice-tls-test".to_string())],
    )
    .unwrap();
    let producer: BaseProducer = config
        .create()
        .expect("librdkafka accepts security.protocol=ssl (built with OpenSSL)");
    // Asking for metadata makes the client connect now. The listener never answers, so this
    // call ends at its timeout, on its own thread, after the listener has reported.
    std::thread::spawn(move || {
        let _ = producer
            .client()
            .fetch_metadata(None, Duration::from_secs(20));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the client never connected")
}

fn tls(ca: &Path, cert: &Path, key: &Path) -> KafkaTls {
    KafkaTls {
        ca_file: Some(ca.to_path_buf()),
        cert_file: Some(cert.to_path_buf()),
        key_file: Some(key.to_path_buf()),
        key_password: None,
        verify_hostname: true,
    }
}

#[test]
fn the_client_verifies_the_broker_shows_its_certificate_and_speaks_kafka_inside_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = http_support::certificates(dir.path());
    let seen = connect(&cert, &key, &ca, "localhost", tls(&ca, &cert, &key)).unwrap();
    assert_eq!(
        seen.api_key, 18,
        "the first request is ApiVersions: {seen:?}"
    );
    assert_eq!(seen.client_id, "sluice-tls-test");
    assert!(seen.client_certificate, "no client certificate: {seen:?}");
}

#[test]
fn the_client_refuses_a_broker_its_ca_did_not_sign() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = http_support::certificates(dir.path());
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = http_support::certificates(other.path());
    let err = connect(&cert, &key, &ca, "localhost", tls(&other_ca, &cert, &key)).unwrap_err();
    // Both CAs have the same name, so OpenSSL finds the wrong one and its signature check fails
    // (decrypt_error); a CA it could not find at all would be unknown_ca.
    assert!(
        matches!(
            err,
            rustls::Error::AlertReceived(
                AlertDescription::DecryptError | AlertDescription::UnknownCA
            )
        ),
        "the client should abort the handshake: {err:?}"
    );
}

#[test]
fn the_client_checks_the_broker_name_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = http_support::certificates(dir.path());
    // The certificate names `localhost`, not 127.0.0.1.
    let err = connect(&cert, &key, &ca, "127.0.0.1", tls(&ca, &cert, &key)).unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::AlertReceived(AlertDescription::BadCertificate)
        ),
        "the client should refuse a certificate for another name: {err:?}"
    );
    let mut lax = tls(&ca, &cert, &key);
    lax.verify_hostname = false;
    let seen = connect(&cert, &key, &ca, "127.0.0.1", lax).unwrap();
    assert_eq!(seen.api_key, 18, "{seen:?}");
}
