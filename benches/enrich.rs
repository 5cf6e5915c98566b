//! Enrichment cost, and the load time and memory of a large indicator list.
//!
//! `cargo bench --bench enrich`.
//! - `enrich_batch/plain` and `enrich_batch/geoip_ioc_asset`: the processor on the same batch of the
//!   mixed workload (syslog 40, PAN-OS 40, CloudTrail 10, Windows 10) without and with geoip + ioc +
//!   asset; both print time per record (elements), and their difference is the added cost per record
//!   (target: under 400 ns); before them, the same difference is printed from the fastest of 300
//!   interleaved runs of each, which other work on the machine disturbs less. The workload comes from `../shared/bench/gen_workload.py` when it and
//!   `python3` are there (then the GeoIP databases are MaxMind's test databases from
//!   `../shared/corpus/mmdb`, which know 30% of its addresses), otherwise from records written here.
//! - `enrich_lookup/*`: one lookup against a one-million-indicator list.
//! - `ioc_load_1m`: loading that list (text, 1,000,000 indicators of every kind); before the
//!   benchmarks, the resident memory it adds is printed.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{Criterion, Throughput};
use sluice::config::{
    AssetConfig, EnrichConfig, GeoipConfig, GeoipDatabase, IocConfig, PipelineConfig,
};
use sluice::doc::Doc;
use sluice::enrich::ioc::IocTable;
use sluice::enrich::Enrichers;
use sluice::event::{Origin, RawBatch};
use sluice::metrics::Metrics;
use sluice::pipeline::ack::AckRef;
use sluice::pipeline::processor::Processor;

const ONE_MILLION: usize = 1_000_000;
/// Interleaved runs of each processor for the added-cost figure.
const ROUNDS: usize = 300;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Records written here, when the shared workload generator is not available.
const FALLBACK: &[&str] = &[
    "<38>Mar  5 10:02:11 bastion-01 sshd[4121]: Accepted publickey for deploy from 81.2.69.142 port 50122 ssh2",
    "Mar  5 10:02:12 bastion-01 sshd[4121]: Failed password for root from 10.20.30.40 port 50122 ssh2",
    "<14>Mar  5 10:11:12 fw-edge-01 1,2026/03/05 10:11:12,013201001234,TRAFFIC,end,2561,2026/03/05 10:11:12,10.20.30.40,93.184.216.34,203.0.113.10,93.184.216.34,allow-web-outbound,corp\\jdoe,,ssl,vsys1,trust,untrust,ethernet1/2,ethernet1/1,log-fwd-siem,2026/03/05 10:11:12,401234,1,52311,443,40123,443,0x400053,tcp,allow,8451,1203,7248,24,2026/03/05 10:10:55,15,computer-and-internet-info,0,7300123456,0x0,10.0.0.0-10.255.255.255,United States,0,12,12,tcp-fin,0,0,0,0,,fw-edge-01,from-policy,,,0,,0,,N/A,0,0,0,0",
    "1,2026/03/05 10:11:12,013201001234,TRAFFIC,end,2561,2026/03/05 10:11:12,172.16.4.5,8.8.8.8,0.0.0.0,0.0.0.0,allow-dns,,,dns,vsys1,trust,untrust,ethernet1/2,ethernet1/1,log-fwd-siem,2026/03/05 10:11:12,401235,1,53000,53,0,0,0x0,udp,allow,200,100,100,2,2026/03/05 10:11:10,1,any,0,7300123457,0x0,172.16.0.0-172.31.255.255,United States,0,1,1,aged-out,0,0,0,0,,fw-edge-01,from-policy,,,0,,0,,N/A,0,0,0,0",
    r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"alice"},"eventTime":"2026-03-05T10:11:12Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","sourceIPAddress":"1.1.1.1","userAgent":"aws-cli/2","eventID":"1","eventType":"AwsApiCall","recipientAccountId":"111122223333"}"#,
];

fn workload() -> (Vec<Vec<u8>>, bool) {
    let gen = root().join("../shared/bench/gen_workload.py");
    if gen.is_file() {
        if let Ok(dir) = tempfile::tempdir() {
            let out = dir.path().join("w.log");
            let ok = std::process::Command::new("python3")
                .arg(&gen)
                .args(["--count", "4096", "--out"])
                .arg(&out)
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                if let Ok(text) = std::fs::read(&out) {
                    let lines: Vec<Vec<u8>> = text
                        .split(|&b| b == b'\n')
                        .filter(|l| !l.is_empty())
                        .map(<[u8]>::to_vec)
                        .collect();
                    return (lines, true);
                }
            }
        }
    }
    eprintln!("enrich bench: ../shared/bench/gen_workload.py not usable; built-in records");
    let lines = FALLBACK
        .iter()
        .cycle()
        .take(4096)
        .map(|l| l.as_bytes().to_vec())
        .collect();
    (lines, false)
}

/// A text list of `n` indicators: IPv4 addresses, CIDRs, domains, SHA-256 hashes and URLs.
fn indicator_list(path: &Path, n: usize) {
    use std::fmt::Write;
    let mut s = String::with_capacity(n * 40);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..n {
        // xorshift: varied, reproducible values.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let a = x.to_be_bytes();
        let _ = match i % 20 {
            0..=8 => writeln!(s, "{}.{}.{}.{}", a[0], a[1], a[2], a[3]),
            9 => writeln!(s, "{}.{}.{}.0/24", a[0], a[1], a[2]),
            10..=15 => writeln!(s, "h{x:x}.example-{}.com", i % 1000),
            16..=18 => writeln!(s, "{x:016x}{:016x}{:016x}{:016x}", !x, x ^ 0xff, i),
            _ => writeln!(s, "http://u{x:x}.example.net/p/{i}"),
        };
    }
    std::fs::write(path, s).expect("write the indicator list");
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn batch_of(lines: &[Vec<u8>]) -> RawBatch {
    let mut b = RawBatch::new(Arc::new(Origin::input("bench".into())), AckRef::none());
    for l in lines {
        b.push(l, None, false);
    }
    b
}

fn enrich_config(corpus: bool, ioc: PathBuf) -> EnrichConfig {
    let mmdb = root().join("../shared/corpus/mmdb/maxmind-MaxMind-DB/test-data");
    let db = |p: PathBuf| GeoipDatabase {
        path: p,
        mmap: true,
        mapping: Default::default(),
    };
    let databases = if corpus && mmdb.is_dir() {
        vec![
            db(mmdb.join("GeoIP2-City-Test.mmdb")),
            db(mmdb.join("GeoLite2-ASN-Test.mmdb")),
        ]
    } else {
        vec![db(root().join("enrichment-data/geoip-example.csv"))]
    };
    EnrichConfig {
        geoip: Some(GeoipConfig {
            databases,
            fields: [
                "source.ip",
                "destination.ip",
                "client.ip",
                "server.ip",
                "host.ip",
            ]
            .map(String::from)
            .to_vec(),
        }),
        ioc: Some(IocConfig {
            files: vec![ioc, root().join("enrichment-data/ioc-example.csv")],
            fields: [
                "source.ip",
                "destination.ip",
                "url.domain",
                "url.full",
                "dns.question.name",
                "destination.domain",
                "file.hash.md5",
                "file.hash.sha1",
                "file.hash.sha256",
                "process.hash.md5",
                "process.hash.sha1",
                "process.hash.sha256",
            ]
            .map(String::from)
            .to_vec(),
        }),
        asset: Some(AssetConfig {
            files: vec![root().join("enrichment-data/assets-example.csv")],
            fields: ["host.name", "host.hostname", "host.ip"]
                .map(String::from)
                .to_vec(),
        }),
        user: None,
        rdns: None,
        watch: false,
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let list = dir.path().join("iocs-1m.txt");
    indicator_list(&list, ONE_MILLION);
    let ioc_cfg = IocConfig {
        files: vec![list.clone()],
        fields: vec![],
    };

    // Memory: resident set before and after loading the list (the file text is freed by then).
    let before = rss_bytes();
    let started = std::time::Instant::now();
    let (table, report) = IocTable::load(&ioc_cfg).expect("load the 1M list");
    let took = started.elapsed();
    let after = rss_bytes();
    println!(
        "ioc 1M list: {} indicators ({} skipped) loaded in {:.2} s, resident memory +{:.1} MiB ({:.0} bytes/indicator)",
        report.entries,
        report.skipped,
        took.as_secs_f64(),
        (after.saturating_sub(before)) as f64 / 1048576.0,
        (after.saturating_sub(before)) as f64 / report.entries.max(1) as f64
    );
    drop(table);

    let mut c = Criterion::default().configure_from_args();
    let (lines, generated) = workload();
    let batch = batch_of(&lines[..lines.len().min(1024)]);
    let metrics = Metrics::new();
    let plain = Processor::new(&PipelineConfig::default(), &metrics).expect("plain processor");
    let cfg = PipelineConfig {
        enrich: enrich_config(generated, list.clone()),
        ..Default::default()
    };
    let enriched = Processor::new(&cfg, &metrics).expect("enriching processor");
    // The added cost, robust to other work on the machine: both variants interleaved, the fastest
    // run of each kept (interference only ever adds time).
    let (mut best_plain, mut best_enriched) = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        let t = std::time::Instant::now();
        black_box(plain.process(black_box(&batch)));
        best_plain = best_plain.min(t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        black_box(enriched.process(black_box(&batch)));
        best_enriched = best_enriched.min(t.elapsed().as_secs_f64());
    }
    let per = |s: f64| s * 1e9 / batch.len() as f64;
    println!(
        "per record (fastest of {ROUNDS} interleaved runs): plain {:.0} ns, with geoip+ioc+asset {:.0} ns: added {:.0} ns/record",
        per(best_plain),
        per(best_enriched),
        per(best_enriched - best_plain)
    );
    {
        let mut g = c.benchmark_group("enrich_batch");
        g.throughput(Throughput::Elements(batch.len() as u64));
        g.bench_function("plain", |b| b.iter(|| plain.process(black_box(&batch))));
        g.bench_function("geoip_ioc_asset", |b| {
            b.iter(|| enriched.process(black_box(&batch)))
        });
        g.finish();
    }
    let hits = |e: &str| {
        metrics.counter_value("sluice_enrich_hits_total", &[("enricher", e)]) as f64
            / metrics
                .counter_value("sluice_enrich_lookups_total", &[("enricher", e)])
                .max(1) as f64
    };
    println!(
        "workload: {} records ({}); hit rate geoip {:.0}%, ioc {:.1}%, asset {:.1}%",
        batch.len(),
        if generated {
            "gen_workload.py, MaxMind test databases"
        } else {
            "built-in records, example GeoIP data"
        },
        100.0 * hits("geoip"),
        100.0 * hits("ioc"),
        100.0 * hits("asset")
    );

    // Single lookups against the 1M list, through the same path as the processor.
    let e = Enrichers::new(
        &EnrichConfig {
            ioc: Some(IocConfig {
                files: vec![list],
                fields: vec!["source.ip".into(), "url.domain".into()],
            }),
            watch: false,
            ..Default::default()
        },
        &Metrics::new(),
    )
    .expect("1M list");
    {
        let mut g = c.benchmark_group("enrich_lookup");
        let mut doc = Doc::new();
        for (name, field, value) in [
            ("ioc_ip_miss", "source.ip", "10.1.2.3"),
            (
                "ioc_domain_miss",
                "url.domain",
                "www.some.where.example.org",
            ),
        ] {
            g.bench_function(name, |b| {
                let mut batch = e.batch();
                b.iter(|| {
                    doc.clear();
                    doc.insert(field, value);
                    batch.apply(black_box(&mut doc));
                })
            });
        }
        g.finish();
    }
    {
        let mut g = c.benchmark_group("ioc_load_1m");
        g.sample_size(10);
        g.bench_function("text", |b| {
            b.iter(|| IocTable::load(black_box(&ioc_cfg)).map(|t| t.1.entries))
        });
        g.finish();
    }
    c.final_summary();
}
