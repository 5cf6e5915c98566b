//! Routing cost per record, and disk buffer throughput per fsync policy.
//!
//! `cargo bench --bench routes_buffer`. Routing is measured on a processed batch of syslog and
//! PAN-OS records with and without a four-route table; the disk buffer moves batches of 100
//! records (about 300 bytes each) from the writer to a consumer that acknowledges them.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice::config::{DiskBufferConfig, FsyncPolicy, PipelineConfig, WhenFull};
use sluice::doc::Doc;
use sluice::event::{Origin, OutBatch, OutRecord, ProcessedBatch, RawBatch};
use sluice::metrics::Metrics;
use sluice::pipeline::ack::AckRef;
use sluice::pipeline::processor::Processor;
use sluice::pipeline::routes::RouteTable;
use sluice::source_type::SourceType;
use tokio::sync::mpsc;

const SYSLOG: &str =
    "Mar  3 07:01:02 web01 sshd[4242]: Failed password for alice from 10.20.30.40 port 50522 ssh2";
const PANOS: &str = "1,2024/02/03 10:11:12,012345678901,TRAFFIC,end,2561,2024/02/03 10:11:12,10.0.0.5,198.51.100.7,203.0.113.10,198.51.100.7,allow-web,corp\\alice,,ssl,vsys1,trust,untrust,ethernet1/2,ethernet1/1,fwd-siem,2024/02/03 10:11:12,424242,1,51515,443,40001,443,0x40001c,tcp,allow,5120,1024,4096,12,2024/02/03 10:10:50,21,any,,7339220000,0x0,10.0.0.0-10.255.255.255,United States,,6,6,tcp-fin,0,0,0,0,,fw-edge-01,from-policy,,,0,,0,,N/A,0,0,0,0,a1b2c3d4-e5f6-7890-abcd-ef1234567890,0,0,,,,,,,,";

const CONFIG: &str = r#"
inputs:
  app: {type: stdin}
outputs:
  siem: {type: stdout}
  alerts: {type: stdout}
  archive: {type: stdout, inputs: [app]}
routes:
  - name: firewall
    when: {source_type: [panos, cloudtrail]}
    to: [siem]
  - name: failures
    when:
      any:
        - {field: event.outcome, equals: failure}
        - {field: message, regex: "(?i)denied"}
    to: [alerts]
    continue: true
  - name: admins
    when: {all: [{exists: user.name}, {not: {field: user.name, equals: root}}]}
    to: [siem]
  - name: default
    to: [archive]
"#;

fn routing(c: &mut Criterion) {
    let cfg = sluice::config::load_str(CONFIG, Path::new("bench.yaml"), &|_| None).unwrap();
    let table = RouteTable::compile(&cfg).unwrap();
    let p = Processor::new(&PipelineConfig::default(), &Metrics::new()).unwrap();
    let mut batch = RawBatch::new(Arc::new(Origin::input("app".into())), AckRef::none());
    for i in 0..1000 {
        let rec = if i % 2 == 0 { SYSLOG } else { PANOS };
        batch.push(rec.as_bytes(), None, false);
    }
    let mut g = c.benchmark_group("route");
    // The table alone on one normalized syslog and one PAN-OS document.
    let ctx = sluice::normalize::Context::default();
    let panos = sluice::normalize::panos::PanosNormalizer::new(
        sluice::parse::panos::PanosSchema::builtin().unwrap(),
    );
    let mut sys_doc = Doc::new();
    let _ = sluice::normalize::syslog::normalize(SYSLOG.as_bytes(), &ctx, &mut sys_doc);
    let mut fw_doc = Doc::new();
    let _ = panos.normalize(PANOS.as_bytes(), &ctx, &mut fw_doc);
    let base = table.input_mask("app");
    let mut tally = table.tally();
    g.throughput(Throughput::Elements(2));
    g.bench_function("eval_4_routes_2_records", |b| {
        b.iter(|| {
            let a = table.route(
                base,
                "app",
                &SourceType::Syslog,
                black_box(&sys_doc),
                &mut tally,
            );
            let f = table.route(
                base,
                "app",
                &SourceType::Panos,
                black_box(&fw_doc),
                &mut tally,
            );
            black_box((a, f))
        })
    });
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("process_1000_without_routes", |b| {
        b.iter(|| black_box(p.process(black_box(&batch))))
    });
    let mut masks = Vec::with_capacity(batch.len());
    g.bench_function("process_1000_with_4_routes", |b| {
        b.iter(|| {
            masks.clear();
            let mut tally = table.tally();
            let out = p.process_with(black_box(&batch), &mut |i, doc, st| {
                // As the pipeline does: records come grouped by type, each mask to its place.
                if masks.len() <= i {
                    masks.resize(i + 1, 0);
                }
                masks[i] = table.route(base, "app", st, doc, &mut tally);
            });
            black_box((out, &masks));
        })
    });
    g.finish();
}

fn records(n: usize) -> Arc<ProcessedBatch> {
    let mut data = Vec::new();
    let mut recs = Vec::new();
    for i in 0..n {
        let start = data.len();
        write!(
            data,
            r#"{{"@timestamp":"2024-02-03T10:11:12Z","message":"record {i:08} {}","host":{{"name":"web01"}},"event":{{"dataset":"syslog","kind":"event"}}}}"#,
            "x".repeat(150)
        )
        .unwrap();
        recs.push(OutRecord {
            range: start..data.len(),
            source_type: SourceType::Syslog,
            timestamp: chrono::Utc::now(),
            keys: Default::default(),
        });
        data.push(b'\n');
    }
    Arc::new(ProcessedBatch::new(
        Arc::new(Origin::input("app".into())),
        data,
        recs,
    ))
}

/// Moves `batches` batches through a fresh disk buffer; the time until the last one is
/// acknowledged by the consumer.
fn pump(fsync: FsyncPolicy, batches: u64, payload: &Arc<ProcessedBatch>) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let (tx, in_rx) = mpsc::channel(64);
    let (out_tx, mut out_rx) = mpsc::channel(64);
    let cfg = DiskBufferConfig {
        max_bytes: 1 << 30,
        when_full: WhenFull::Block,
        fsync,
        fsync_interval: Duration::from_millis(100),
    };
    let threads = sluice::buffer::disk::start(
        dir.path().join("b"),
        cfg,
        "bench".into(),
        &Metrics::new(),
        in_rx,
        out_tx,
    )
    .unwrap();
    let started = Instant::now();
    let consumer = std::thread::spawn(move || {
        for _ in 0..batches {
            let b: OutBatch = out_rx.blocking_recv().unwrap();
            b.ack.ack();
        }
        out_rx
    });
    for _ in 0..batches {
        tx.blocking_send(OutBatch {
            batch: Arc::clone(payload),
            selection: None,
            ack: AckRef::none(),
            received: Some(chrono::Utc::now()),
        })
        .unwrap();
    }
    let out_rx = consumer.join().unwrap();
    let took = started.elapsed();
    drop(tx);
    drop(out_rx);
    threads.join();
    took
}

fn disk_buffer(c: &mut Criterion) {
    let payload = records(100);
    let mut g = c.benchmark_group("disk_buffer");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(payload.data.len() as u64));
    for (name, policy) in [
        ("fsync_never", FsyncPolicy::Never),
        ("fsync_interval", FsyncPolicy::Interval),
        ("fsync_always", FsyncPolicy::Always),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| pump(policy, iters, &payload))
        });
    }
    g.finish();
}

criterion_group!(benches, routing, disk_buffer);
criterion_main!(benches);
