//! Enrichment cost per record on the W1 workload, and the load time and memory of a large
//! indicator list.
//!
//! `cargo bench --bench enrich`.
//! - The workload is W1: `../shared/bench/gen_workload.py --mix syslog=40,panos=40,cloudtrail=10,
//!   windows=10 --count 20000` (records written here when the generator or `python3` is missing),
//!   normalized once, in batches of 512 (the default `batch_size`).
//! - Enrichers: geoip with a City + ASN database written by Sluice's own MaxMind DB writer from a
//!   generated CSV (the example networks plus one network per public /16, so every public address
//!   is located), memory-mapped as a real database is; ioc with the example lists plus a generated
//!   list of one million indicators; asset with the example inventory.
//! - `enrich_w1/apply`: enrichment alone (`EnrichBatch::apply` on the normalized documents, one
//!   `EnrichBatch` per 512 records), per record: this is the issue's "added cost per record"
//!   (target: under 400 ns). `process_w1/{plain,geoip_ioc_asset}`: the processor on the raw lines
//!   without and with enrichment. Before them, the fastest of several runs of each is printed per
//!   record, which other work on the machine disturbs less than criterion's mean.
//! - `enrich_lookup/*`: one lookup against the one-million-indicator list.
//! - `ioc_load_1m`: loading that list (text, 1,000,000 indicators of every kind); before the
//!   benchmarks, its load time and the resident memory it adds are printed.
//!
//! `SLUICE_ENRICH_LIST=N` enriches W1 with a generated list of N indicators instead of the
//! million, to tell the big tables' memory cost from the instructions.
//!
//! `SLUICE_ENRICH_PROFILE=N` runs enrichment alone N times over the workload and exits, for
//! `valgrind --tool=callgrind --toggle-collect='*EnrichBatch::apply'` (instructions per record =
//! collected Ir / (N × records)). No `*` after `apply`: a pattern that also matches a function
//! instantiated with one of `apply`'s closures (`each_str::<…EnrichBatch::apply::{closure#0}>`,
//! when the compiler does not inline it) toggles collection off inside it, and its cost is lost.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput};
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
const RECORDS: usize = 20_000;
const BATCH: usize = 512;
/// Runs of each variant for the fastest-run figures.
const ROUNDS: usize = 15;

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

/// The W1 lines, and whether they came from the shared generator.
fn workload(dir: &Path) -> (Vec<Vec<u8>>, bool) {
    let gen = root().join("../shared/bench/gen_workload.py");
    if gen.is_file() {
        let out = dir.join("w1.log");
        let ok = std::process::Command::new("python3")
            .arg(&gen)
            .args([
                "--mix",
                "syslog=40,panos=40,cloudtrail=10,windows=10",
                "--count",
                &RECORDS.to_string(),
                "--out",
            ])
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
    eprintln!("enrich bench: ../shared/bench/gen_workload.py not usable; built-in records");
    let lines = FALLBACK
        .iter()
        .cycle()
        .take(RECORDS)
        .map(|l| l.as_bytes().to_vec())
        .collect();
    (lines, false)
}

/// xorshift: varied, reproducible values.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// A text list of `n` indicators: IPv4 addresses, CIDRs, domains, SHA-256 hashes and URLs.
fn indicator_list(path: &Path, n: usize) {
    use std::fmt::Write;
    let mut s = String::with_capacity(n * 40);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..n {
        let x = next(&mut x);
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

/// A City + ASN database in the GeoIP2 schema, written by Sluice's MaxMind DB writer: the example
/// networks, and one network per public /16 with one of 400 made-up places and owners.
fn geoip_database(dir: &Path) -> PathBuf {
    use std::fmt::Write;
    let example = std::fs::read_to_string(root().join("enrichment-data/geoip-example.csv"))
        .expect("example GeoIP CSV");
    let mut s = example;
    let countries = [
        (
            "US",
            "United States",
            "NA",
            "North America",
            "America/New_York",
        ),
        ("DE", "Germany", "EU", "Europe", "Europe/Berlin"),
        ("SE", "Sweden", "EU", "Europe", "Europe/Stockholm"),
        ("JP", "Japan", "AS", "Asia", "Asia/Tokyo"),
        ("BR", "Brazil", "SA", "South America", "America/Sao_Paulo"),
        ("AU", "Australia", "OC", "Oceania", "Australia/Sydney"),
        ("KE", "Kenya", "AF", "Africa", "Africa/Nairobi"),
        ("GB", "United Kingdom", "EU", "Europe", "Europe/London"),
    ];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for a in 1u32..=223 {
        for b in 0u32..=255 {
            let place = (next(&mut x) % 400) as usize;
            let (iso, country, cc, continent, tz) = countries[place % countries.len()];
            let _ = writeln!(
                s,
                "{a}.{b}.0.0/16,City {place},{iso},{country},{cc},{continent},{iso}-R{r},Region {r},{p:05},{tz},{lat:.4},{lon:.4},{asn},Network Operator {place}",
                r = place % 37,
                p = place * 7,
                lat = (place as f64 * 0.37) % 90.0,
                lon = (place as f64 * 0.91) % 180.0,
                asn = 64_512 + place
            );
        }
    }
    let csv = dir.join("geoip-w1.csv");
    std::fs::write(&csv, s).expect("write the GeoIP CSV");
    let (image, report) = sluice::enrich::mmdb::compile_csv(&csv).expect("compile the GeoIP CSV");
    assert_eq!(report.skipped, 0);
    let path = dir.join("geoip-w1.mmdb");
    std::fs::write(&path, image).expect("write the database");
    path
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

fn enrich_config(geoip: PathBuf, ioc: PathBuf) -> EnrichConfig {
    EnrichConfig {
        geoip: Some(GeoipConfig {
            databases: vec![GeoipDatabase {
                path: geoip,
                mmap: true,
                mapping: Default::default(),
            }],
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
            files: vec![
                ioc,
                root().join("enrichment-data/ioc-example.csv"),
                root().join("enrichment-data/ioc-example.txt"),
                root().join("enrichment-data/ioc-example.stix.json"),
            ],
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

/// Copies of the normalized documents as the processor's reused document would be: with room
/// for more fields (a plain clone has none, and enrichment would time the reallocation).
fn working_copy(docs: &[Vec<Doc>]) -> Vec<Vec<Doc>> {
    docs.iter()
        .map(|batch| {
            batch
                .iter()
                .map(|src| {
                    let mut d = Doc::new();
                    for _ in 0..src.len() + 64 {
                        d.insert("", sluice::doc::Value::Null);
                    }
                    d.clear();
                    // Keys as the processor made them: static strings stay static.
                    for (k, v) in src.fields() {
                        d.insert(k.clone(), v.clone());
                    }
                    d
                })
                .collect()
        })
        .collect()
}

/// Enrichment alone over every batch of normalized documents.
fn enrich_all(e: &Enrichers, docs: &mut [Vec<Doc>]) {
    for batch in docs {
        let mut b = e.batch();
        for d in batch.iter_mut() {
            b.apply(black_box(d));
        }
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profile: Option<usize> = std::env::var("SLUICE_ENRICH_PROFILE")
        .ok()
        .and_then(|v| v.parse().ok());
    let list = dir.path().join("iocs-1m.txt");
    indicator_list(&list, ONE_MILLION);
    let ioc_cfg = IocConfig {
        files: vec![list.clone()],
        fields: vec![],
    };

    if profile.is_none() {
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
    }

    // `SLUICE_ENRICH_LIST=N`: the W1 runs use a generated list of N indicators instead of the
    // million (how much of the cost is the big tables' memory rather than instructions).
    let w1_list = match std::env::var("SLUICE_ENRICH_LIST")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(n) => {
            let small = dir.path().join("iocs-small.txt");
            indicator_list(&small, n);
            small
        }
        None => list.clone(),
    };
    let (lines, generated) = workload(dir.path());
    let batches: Vec<RawBatch> = lines.chunks(BATCH).map(batch_of).collect();
    let records: usize = batches.iter().map(RawBatch::len).sum();
    let metrics = Metrics::new();
    let plain = Processor::new(&PipelineConfig::default(), &metrics).expect("plain processor");
    let cfg = PipelineConfig {
        enrich: enrich_config(geoip_database(dir.path()), w1_list),
        ..Default::default()
    };
    let enriched = Processor::new(&cfg, &metrics).expect("enriching processor");
    let enrichers = Enrichers::new(&cfg.enrich, &metrics).expect("enrichers");
    // Normalized once; enrichment alone is then timed on copies.
    let docs: Vec<Vec<Doc>> = batches
        .iter()
        .map(|b| {
            let mut v = Vec::with_capacity(b.len());
            plain.process_with(b, &mut |_, d, _| v.push(d.clone()));
            v
        })
        .collect();
    let normalized: usize = docs.iter().map(Vec::len).sum();

    if let Some(n) = profile {
        for _ in 0..n {
            let mut copy = working_copy(&docs);
            enrich_all(&enrichers, &mut copy);
        }
        println!("profiled {n} × {normalized} records");
        return;
    }

    let per = |s: f64, n: usize| s * 1e9 / n as f64;
    let fastest = |f: &mut dyn FnMut() -> f64| (0..ROUNDS).map(|_| f()).fold(f64::MAX, f64::min);
    let apply_best = fastest(&mut || {
        let mut copy = working_copy(&docs);
        let t = std::time::Instant::now();
        enrich_all(&enrichers, &mut copy);
        t.elapsed().as_secs_f64()
    });
    let process_all = |p: &Processor| {
        for b in &batches {
            black_box(p.process(black_box(b)));
        }
    };
    let (mut best_plain, mut best_enriched) = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        let t = std::time::Instant::now();
        process_all(&plain);
        best_plain = best_plain.min(t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        process_all(&enriched);
        best_enriched = best_enriched.min(t.elapsed().as_secs_f64());
    }
    println!(
        "W1, {records} lines ({normalized} records), fastest of {ROUNDS} runs: enrichment alone (geoip+ioc+asset) {:.0} ns/record; processing plain {:.0} ns/record, with geoip+ioc+asset {:.0} ns/record (+{:.0})",
        per(apply_best, normalized),
        per(best_plain, normalized),
        per(best_enriched, normalized),
        per(best_enriched - best_plain, normalized)
    );

    let mut c = Criterion::default().configure_from_args();
    {
        let mut g = c.benchmark_group("enrich_w1");
        g.throughput(Throughput::Elements(normalized as u64));
        g.sample_size(20);
        g.bench_function("apply", |b| {
            b.iter_batched_ref(
                || working_copy(&docs),
                |d| enrich_all(&enrichers, d),
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("process_w1");
        g.throughput(Throughput::Elements(normalized as u64));
        g.sample_size(10);
        g.bench_function("plain", |b| b.iter(|| process_all(&plain)));
        g.bench_function("geoip_ioc_asset", |b| b.iter(|| process_all(&enriched)));
        g.finish();
    }
    let hits = |e: &str| {
        metrics.counter_value("sluice_enrich_hits_total", &[("enricher", e)]) as f64
            / metrics
                .counter_value("sluice_enrich_lookups_total", &[("enricher", e)])
                .max(1) as f64
    };
    println!(
        "workload: {normalized} records ({}); hit rate geoip {:.0}%, ioc {:.2}%, asset {:.1}%",
        if generated {
            "gen_workload.py W1"
        } else {
            "built-in records"
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
