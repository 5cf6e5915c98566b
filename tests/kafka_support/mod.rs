//! A real Kafka-compatible broker for the tests (tansu, from `../shared/tools/kafka-broker.sh`),
//! started once per test process on an OS-chosen port, with a topic per test. A watchdog shell
//! stops the broker as soon as the test process is gone, so nothing outlives the tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

pub struct Broker {
    pub addr: String,
    port: u16,
    /// The watchdog shell; it ends with the broker when this process ends.
    _watchdog: std::process::Child,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/kafka-broker.sh")
}

fn tansu() -> PathBuf {
    let tools = std::env::var_os("SLUICE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/sluice-tools")
        });
    tools.join("bin/tansu")
}

/// The broker shared by every test of this process.
pub fn broker() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(|| {
        let script = script();
        assert!(
            script.exists(),
            "{} is missing: the Kafka tests need ../shared beside the repository",
            script.display()
        );
        // A no-op when tansu is installed; waits for scripts/test.sh's background install.
        let install = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/install-tansu.sh");
        let ok = Command::new("bash")
            .arg(&install)
            .status()
            .expect("run scripts/install-tansu.sh")
            .success();
        assert!(
            ok,
            "scripts/install-tansu.sh failed: no Kafka broker for the tests"
        );
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let me = std::process::id();
        let shell = format!(
            "\"$0\" broker --listener-url tcp://127.0.0.1:{port} \
             --advertised-listener-url tcp://127.0.0.1:{port} --storage-engine memory://tansu/ \
             >/dev/null 2>&1 </dev/null & b=$!; \
             while kill -0 {me} 2>/dev/null && kill -0 $b 2>/dev/null; do sleep 0.5; done; \
             kill $b 2>/dev/null"
        );
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(shell)
            .arg(tansu())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        let until = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "tansu did not open port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Broker {
            addr: format!("127.0.0.1:{port}"),
            port,
            _watchdog: watchdog,
        }
    })
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    format!("{prefix}-{}-{t}-{n}", std::process::id())
}

impl Broker {
    /// Creates a topic (tansu does not create them on first use).
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(tansu())
            .args(["topic", "create", name, "--partitions"])
            .arg(partitions.to_string())
            .arg("--broker")
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .output()
            .expect("tansu topic create");
        assert!(
            out.status.success(),
            "cannot create topic {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.addr);
        c
    }

    /// Produces `(key, payload)` records and waits until every one is acknowledged.
    pub fn produce(&self, topic: &str, records: &[(Option<String>, String)]) {
        let p: BaseProducer = self
            .client()
            .set("acks", "all")
            .set("linger.ms", "5")
            .create()
            .unwrap();
        for (k, v) in records {
            let mut r = BaseRecord::<str, str>::to(topic).payload(v.as_str());
            if let Some(k) = k {
                r = r.key(k.as_str());
            }
            let mut r = r;
            loop {
                match p.send(r) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        r = back;
                        p.poll(Duration::from_millis(10));
                    }
                }
            }
        }
        p.flush(Duration::from_secs(30)).expect("produce");
    }

    /// Reads every partition of `topic` from the start until `want` records have arrived (or
    /// 60 s pass): (partition, offset, key, payload).
    pub fn consume_all(&self, topic: &str, want: usize) -> Vec<(i32, i64, Option<String>, String)> {
        let c: BaseConsumer = self
            .client()
            .set("group.id", unique("reader"))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let md = c
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for t in md.topics() {
            for p in t.partitions() {
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                    .unwrap();
            }
        }
        c.assign(&tpl).unwrap();
        let mut out = Vec::new();
        let until = Instant::now() + Duration::from_secs(60);
        while out.len() < want && Instant::now() < until {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                out.push((
                    m.partition(),
                    m.offset(),
                    m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                ));
            }
        }
        // A little longer: anything beyond `want` is a duplicate the test must see.
        let extra = Instant::now() + Duration::from_millis(500);
        while Instant::now() < extra {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(50)) {
                out.push((
                    m.partition(),
                    m.offset(),
                    m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                ));
            }
        }
        out
    }

    /// The offsets `group` has committed on `topic`, by partition.
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> HashMap<i32, i64> {
        let c: BaseConsumer = self.client().set("group.id", group).create().unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let got = c
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        got.elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    }
}
