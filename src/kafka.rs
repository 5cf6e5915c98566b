//! What the Kafka input and output share: turning the YAML connection keys into a librdkafka
//! configuration, and librdkafka's logs into Sluice's.

use std::collections::BTreeMap;

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};

use crate::config::{KafkaSasl, KafkaTls, Secret};

/// The connection settings of one client.
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    pub brokers: &'a [String],
    pub tls: Option<&'a KafkaTls>,
    pub sasl: Option<&'a KafkaSasl>,
    pub properties: &'a BTreeMap<String, String>,
}

/// Builds the librdkafka configuration: Sluice's settings first, then `properties`, which win
/// (the reserved ones were refused by validation). Reads `password_file` now, so a missing file is
/// a start-up error that names it.
pub fn client_config(conn: Connection<'_>, own: &[(&str, String)]) -> Result<ClientConfig, String> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", conn.brokers.join(","));
    c.set_log_level(RDKafkaLogLevel::Warning);
    let protocol = match (conn.tls.is_some(), conn.sasl.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    c.set("security.protocol", protocol);
    if let Some(t) = conn.tls {
        if let Some(ca) = &t.ca_file {
            c.set("ssl.ca.location", ca.display().to_string());
        }
        if let Some(cert) = &t.cert_file {
            c.set("ssl.certificate.location", cert.display().to_string());
        }
        if let Some(key) = &t.key_file {
            c.set("ssl.key.location", key.display().to_string());
        }
        if let Some(pw) = &t.key_password {
            c.set("ssl.key.password", pw.expose());
        }
        c.set(
            "ssl.endpoint.identification.algorithm",
            if t.verify_hostname { "https" } else { "none" },
        );
    }
    if let Some(s) = conn.sasl {
        let password = Secret::resolve(s.password.as_ref(), s.password_file.as_deref(), "sasl")?
            .ok_or("sasl: `password` or `password_file` is required")?;
        c.set("sasl.mechanism", &s.mechanism);
        c.set("sasl.username", &s.username);
        c.set("sasl.password", password.expose());
    }
    for (k, v) in own {
        c.set(*k, v);
    }
    for (k, v) in conn.properties {
        c.set(k, v);
    }
    Ok(c)
}

/// librdkafka's own log lines, at their level, tagged with the component.
pub fn log(component: &str, level: RDKafkaLogLevel, fac: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(component, facility = fac, "librdkafka: {message}")
        }
        RDKafkaLogLevel::Warning => {
            tracing::warn!(component, facility = fac, "librdkafka: {message}")
        }
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(component, facility = fac, "librdkafka: {message}")
        }
        RDKafkaLogLevel::Debug => {
            tracing::debug!(component, facility = fac, "librdkafka: {message}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_win_and_security_follows_tls_and_sasl() {
        let mut props = BTreeMap::new();
        props.insert("linger.ms".to_string(), "7".to_string());
        let brokers = vec!["a:9092".to_string(), "b:9092".to_string()];
        let sasl = KafkaSasl {
            mechanism: "SCRAM-SHA-512".into(),
            username: "u".into(),
            password: Some(Secret::new("p")),
            password_file: None,
        };
        let tls = KafkaTls {
            ca_file: Some("/ca.pem".into()),
            cert_file: None,
            key_file: None,
            key_password: None,
            verify_hostname: false,
        };
        let c = client_config(
            Connection {
                brokers: &brokers,
                tls: Some(&tls),
                sasl: Some(&sasl),
                properties: &props,
            },
            &[("linger.ms", "5".into())],
        )
        .unwrap();
        assert_eq!(c.get("bootstrap.servers"), Some("a:9092,b:9092"));
        assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(c.get("ssl.ca.location"), Some("/ca.pem"));
        assert_eq!(c.get("ssl.endpoint.identification.algorithm"), Some("none"));
        assert_eq!(c.get("linger.ms"), Some("7"));
    }

    /// The build links librdkafka with OpenSSL (TLS, SCRAM) and its compression libraries; a
    /// change of the rdkafka features or of the OpenSSL linking must not lose any of them.
    #[test]
    fn librdkafka_is_built_with_tls_scram_and_compression() {
        let features = ClientConfig::new()
            .create_native_config()
            .unwrap()
            .get("builtin.features")
            .unwrap();
        let features: Vec<&str> = features.split(',').collect();
        for f in ["ssl", "sasl_scram", "gzip", "zstd", "lz4"] {
            assert!(features.contains(&f), "{f} missing from {features:?}");
        }
    }

    #[test]
    fn a_missing_password_file_is_named() {
        let sasl = KafkaSasl {
            mechanism: "PLAIN".into(),
            username: "u".into(),
            password: None,
            password_file: Some("/nonexistent/pw".into()),
        };
        let e = client_config(
            Connection {
                brokers: &["a:1".into()],
                tls: None,
                sasl: Some(&sasl),
                properties: &BTreeMap::new(),
            },
            &[],
        )
        .unwrap_err();
        assert!(e.contains("/nonexistent/pw"), "{e}");
    }
}
