//! `type: kafka` input and output settings. The connection keys (`brokers`, `tls`, `sasl`,
//! `properties`) are the same on both sides; librdkafka does the rest.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::delivery::{default_concurrency, delivery_problems};
use super::{default_output_queue, duration, WhenFull};
use crate::config::Secret;
use crate::outputs::kafka::template::Template;

/// `tls:` for a Kafka client: librdkafka's `ssl.*` settings (OpenSSL, PEM files).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTls {
    /// PEM CA bundle to verify the brokers; the system's when unset.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for brokers that require mutual TLS.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub key_password: Option<Secret>,
    /// Check that the broker's certificate names the host connected to.
    #[serde(default = "default_true")]
    pub verify_hostname: bool,
}

/// `sasl:` for a Kafka client.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSasl {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    pub username: String,
    #[serde(default)]
    pub password: Option<Secret>,
    /// The password's file (first line), so the YAML holds no secret.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// Compression of produced record batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KafkaCompression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl KafkaCompression {
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaCompression::None => "none",
            KafkaCompression::Gzip => "gzip",
            KafkaCompression::Snappy => "snappy",
            KafkaCompression::Lz4 => "lz4",
            KafkaCompression::Zstd => "zstd",
        }
    }
}

/// Where a consumer group starts on a partition that has no committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AutoOffsetReset {
    Earliest,
    #[default]
    Latest,
}

delivery_output_config!(
    /// Records produced to Kafka, acknowledged once the brokers confirmed every one (`acks=all`,
    /// idempotent producer). `batch`, `concurrency`, `retry` and `dlq` as for the HTTP outputs.
    KafkaOutputConfig {
        /// Bootstrap brokers, `host:port`.
        pub brokers: Vec<String>,
        /// Topic template: `{source_type}`, `{input}` and record fields such as `{event.dataset}`.
        pub topic: String,
        /// Key template, same placeholders; no key when unset or when it renders empty.
        #[serde(default)]
        pub key: Option<String>,
        #[serde(default)]
        pub compression: KafkaCompression,
        /// One attempt: how long librdkafka retries a record before reporting it failed
        /// (`message.timeout.ms`); then `retry` decides.
        #[serde(default = "default_message_timeout", with = "duration")]
        pub message_timeout: Duration,
        #[serde(default)]
        pub tls: Option<KafkaTls>,
        #[serde(default)]
        pub sasl: Option<KafkaSasl>,
        /// Any other librdkafka producer property (`linger.ms`, `batch.size`, …); these win.
        #[serde(default, deserialize_with = "properties")]
        pub properties: BTreeMap<String, String>,
    }
);

fn default_message_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `type: kafka` input: a consumer group member.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaInputConfig {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// Topic names; a name starting with `^` is a regular expression over topic names.
    pub topics: Vec<String>,
    /// The consumer group (`group.id`).
    pub group_id: String,
    #[serde(default)]
    pub auto_offset_reset: AutoOffsetReset,
    /// How often acknowledged offsets are committed (and always on revoke and on stop).
    #[serde(default = "default_commit_interval", with = "duration")]
    pub commit_interval: Duration,
    #[serde(default)]
    pub tls: Option<KafkaTls>,
    #[serde(default)]
    pub sasl: Option<KafkaSasl>,
    /// Any other librdkafka consumer property (`session.timeout.ms`, …); these win.
    #[serde(default, deserialize_with = "properties")]
    pub properties: BTreeMap<String, String>,
    /// Skip detection: every record is this source type.
    #[serde(default)]
    pub source_type: Option<String>,
}

fn default_commit_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_true() -> bool {
    true
}

/// librdkafka takes every property as text; YAML numbers and booleans are written as such.
fn properties<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Bool(bool),
        Int(i64),
        Float(f64),
        Text(String),
    }
    let raw = BTreeMap::<String, Scalar>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::Bool(b) => b.to_string(),
                Scalar::Int(i) => i.to_string(),
                Scalar::Float(f) => f.to_string(),
                Scalar::Text(t) => t,
            };
            (k, v)
        })
        .collect())
}

/// Problems serde cannot see, as (key, message); shared by the input and the output.
pub(crate) fn client_problems(
    brokers: &[String],
    sasl: Option<&KafkaSasl>,
    properties: &BTreeMap<String, String>,
    reserved: &[&str],
) -> Vec<(&'static str, String)> {
    let mut p = Vec::new();
    if brokers.is_empty() {
        p.push(("brokers", "expected at least one `host:port`".into()));
    }
    for b in brokers {
        if !b
            .rsplit_once(':')
            .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok())
        {
            p.push(("brokers", format!("expected `host:port`, found `{b}`")));
        }
    }
    if let Some(s) = sasl {
        if !matches!(
            s.mechanism.as_str(),
            "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"
        ) {
            p.push((
                "sasl.mechanism",
                format!(
                    "`{}` is not supported: expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                    s.mechanism
                ),
            ));
        }
        if s.password.is_some() == s.password_file.is_some() {
            p.push((
                "sasl.password",
                "set exactly one of `password` and `password_file`".into(),
            ));
        }
    }
    for k in properties.keys() {
        if reserved.contains(&k.as_str()) {
            p.push((
                "properties",
                format!("`{k}` is set by Sluice and cannot be changed here"),
            ));
        }
    }
    p
}

impl KafkaOutputConfig {
    /// Properties the acknowledgement depends on: changing them would break at-least-once.
    pub const RESERVED: &'static [&'static str] = &[
        "acks",
        "request.required.acks",
        "enable.idempotence",
        "bootstrap.servers",
    ];

    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = client_problems(
            &self.brokers,
            self.sasl.as_ref(),
            &self.properties,
            Self::RESERVED,
        );
        if self.topic.trim().is_empty() {
            p.push(("topic", "expected a topic name or template".into()));
        } else if let Err(e) = Template::parse(&self.topic) {
            p.push(("topic", e));
        }
        if let Some(Err(e)) = self.key.as_deref().map(Template::parse) {
            p.push(("key", e));
        }
        p.extend(delivery_problems(
            &self.retry,
            &self.batch,
            self.concurrency,
        ));
        if self.message_timeout.is_zero() {
            p.push(("message_timeout", "expected more than 0".into()));
        }
        p
    }
}

impl KafkaInputConfig {
    /// Properties the commit-after-acknowledgement design depends on.
    pub const RESERVED: &'static [&'static str] = &[
        "enable.auto.commit",
        "enable.auto.offset.store",
        "group.id",
        "bootstrap.servers",
    ];

    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = client_problems(
            &self.brokers,
            self.sasl.as_ref(),
            &self.properties,
            Self::RESERVED,
        );
        if self.topics.is_empty() {
            p.push((
                "topics",
                "expected at least one topic name or `^regex`".into(),
            ));
        }
        for t in &self.topics {
            if let Some(re) = t.strip_prefix('^') {
                if let Err(e) = regex::Regex::new(re) {
                    p.push(("topics", format!("`{t}` is not a valid regex: {e}")));
                }
            } else if t.trim().is_empty() {
                p.push(("topics", "a topic name is empty".into()));
            }
        }
        if self.group_id.trim().is_empty() {
            p.push(("group_id", "expected a consumer group name".into()));
        }
        if self.commit_interval.is_zero() {
            p.push(("commit_interval", "expected more than 0".into()));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{load_str, Config, InputConfig, OutputConfig};
    use std::path::Path;

    fn load(text: &str) -> Result<Config, String> {
        load_str(text, Path::new("sluice.yaml"), &|_| None).map_err(|e| e.to_string())
    }

    const EXAMPLE: &str = r#"
inputs:
  bus:
    type: kafka
    brokers: ["k1:9092", "k2:9092"]
    topics: ["logs", "^fw-.*"]
    group_id: sluice
    auto_offset_reset: earliest
    properties:
      session.timeout.ms: 10000
      client.rack: eu-1a
outputs:
  siem:
    type: kafka
    inputs: [bus]
    brokers: ["k1:9092"]
    topic: "ecs-{event.dataset}"
    key: "{host.name}"
    compression: zstd
    sasl: {mechanism: SCRAM-SHA-512, username: sluice, password: secret}
    tls: {ca_file: /etc/ssl/kafka-ca.pem}
    properties:
      linger.ms: 10
"#;

    #[test]
    fn the_documented_example_loads_with_dotted_property_keys() {
        let c = load(EXAMPLE).unwrap();
        let InputConfig::Kafka(i) = &c.inputs["bus"] else {
            panic!("not kafka")
        };
        assert_eq!(i.properties["session.timeout.ms"], "10000");
        assert_eq!(i.properties["client.rack"], "eu-1a");
        assert_eq!(i.topics, ["logs", "^fw-.*"]);
        let OutputConfig::Kafka(o) = &c.outputs["siem"] else {
            panic!("not kafka")
        };
        assert_eq!(o.properties["linger.ms"], "10");
        assert_eq!(o.key.as_deref(), Some("{host.name}"));
        assert_eq!(o.concurrency, 2);
        assert_eq!(o.retry, crate::config::RetryConfig::default());
    }

    #[test]
    fn problems_name_the_key() {
        let bad = EXAMPLE
            .replace("SCRAM-SHA-512", "GSSAPI")
            .replace("\"k2:9092\"", "\"k2\"")
            .replace("ecs-{event.dataset}", "ecs-{event.dataset")
            .replace("linger.ms: 10", "acks: \"1\"")
            .replace("^fw-.*", "^fw-(");
        let e = load(&bad).unwrap_err();
        for want in [
            "outputs.siem.sasl.mechanism: `GSSAPI` is not supported",
            "inputs.bus.brokers: expected `host:port`, found `k2`",
            "outputs.siem.topic: a `{` without its `}`",
            "outputs.siem.properties: `acks` is set by Sluice",
            "inputs.bus.topics: `^fw-(` is not a valid regex",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
        let e = load(&EXAMPLE.replace("group_id: sluice", "group_id: sluice\n    grup: x"))
            .unwrap_err();
        assert!(e.contains("inputs.bus.grup: unknown key `grup`"), "{e}");
    }
}
