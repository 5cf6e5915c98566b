//! Conformance against the real corpus in `../shared/corpus`: detection accuracy per source type,
//! false positives on `other/`, and key-field agreement with Elastic's `*-expected.json`.
//!
//! A plain program (`harness = false`) so its table is always printed. Skips, saying so, when the
//! corpus is absent. Thresholds: detection ≥ 99 % per type, ≤ 1 % false positives, key fields ≥ 90 %.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;
use sluice::config::PipelineConfig;
use sluice::metrics::Metrics;
use sluice::pipeline::processor::Processor;

const TYPES: [&str; 4] = ["windows", "syslog", "panos", "cloudtrail"];
/// The key fields of NORMALIZATION.md.
const KEY_FIELDS: &[&str] = &[
    "@timestamp",
    "event.kind",
    "event.category",
    "event.type",
    "event.action",
    "event.outcome",
    "event.code",
    "event.provider",
    "event.id",
    "source.ip",
    "source.port",
    "source.address",
    "destination.ip",
    "destination.port",
    "source.nat.ip",
    "user.name",
    "user.id",
    "user.domain",
    "user.effective.name",
    "host.name",
    "host.hostname",
    "process.name",
    "process.pid",
    "process.executable",
    "process.command_line",
    "network.transport",
    "network.application",
    "observer.serial_number",
    "observer.hostname",
    "observer.ingress.zone",
    "observer.egress.zone",
    "rule.name",
    "url.original",
    "cloud.account.id",
    "cloud.region",
    "log.syslog.priority",
    "log.syslog.hostname",
    "log.syslog.appname",
    "winlog.channel",
    "winlog.event_id",
    "winlog.record_id",
    "related.ip",
    "related.user",
];

#[derive(Default)]
struct Stats {
    records: u64,
    correct: u64,
    /// For `other/`: detected as one of the four.
    false_pos: u64,
    fields: u64,
    agree: u64,
    confusion: BTreeMap<String, u64>,
}

fn main() -> ExitCode {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if !corpus.join("MANIFEST.tsv").exists() {
        println!("conformance: skipped, {} not found", corpus.display());
        return ExitCode::SUCCESS;
    }
    let processor = match Processor::new(&PipelineConfig::default(), &Metrics::new()) {
        Ok(p) => p,
        Err(e) => {
            println!("conformance: cannot build the processor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).unwrap_or_default();
    let mut stats: BTreeMap<String, Stats> = BTreeMap::new();
    let mut mismatches: Vec<String> = Vec::new();
    let mut misdetected: Vec<String> = Vec::new();
    for row in manifest.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (Some(path), Some(role)) = (cols.first(), cols.get(8)) else {
            continue;
        };
        if !role.starts_with("input") {
            continue;
        }
        let mut label = path.split('/').next().unwrap_or("");
        // CloudTrail digest files describe log files; they are not events (NORMALIZATION.md).
        if label == "cloudtrail" && path.contains("digest") {
            label = "other";
        }
        if !TYPES.contains(&label) && label != "other" {
            continue;
        }
        let file = corpus.join(path);
        let docs = normalize_file(&processor, &file);
        let s = stats.entry(label.to_string()).or_default();
        for d in &docs {
            let got = d["sluice"]["source_type"]
                .as_str()
                .unwrap_or("?")
                .to_string();
            s.records += 1;
            if got == label {
                s.correct += 1;
            } else if label != "other" || TYPES.contains(&got.as_str()) {
                let text = d["event"]["original"].as_str().unwrap_or("");
                let text: String = text.chars().take(100).collect();
                misdetected.push(format!(
                    "{path}: {label} detected as {got}: {}",
                    text.replace('\n', " ")
                ));
            }
            if label == "other" && TYPES.contains(&got.as_str()) {
                s.false_pos += 1;
            }
            *s.confusion.entry(got).or_default() += 1;
        }
        let expected = PathBuf::from(format!("{}-expected.json", file.display()));
        if let Some(exp) = std::fs::read(&expected)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        {
            let list = exp["expected"].as_array().cloned().unwrap_or_default();
            for (i, e) in list.iter().enumerate() {
                let Some(got) = docs.get(i) else {
                    s.fields += 1;
                    mismatches.push(format!("{path}#{i}: no output record"));
                    continue;
                };
                for key in KEY_FIELDS {
                    // An empty string is no value.
                    let Some(want) =
                        lookup(e, key).filter(|v| !v.is_null() && v.as_str() != Some(""))
                    else {
                        continue;
                    };
                    s.fields += 1;
                    let have = lookup(got, key);
                    if have.is_some_and(|h| same(key, want, h)) {
                        s.agree += 1;
                    } else {
                        mismatches.push(format!(
                            "{path}#{i}: {key}: expected {want}, got {}",
                            have.map_or("nothing".into(), |h| h.to_string())
                        ));
                    }
                }
            }
        }
    }
    report(&stats, &mismatches, &misdetected)
}

/// Every output document of one corpus file, in input order.
fn normalize_file(processor: &Processor, file: &Path) -> Vec<Value> {
    let mut docs = Vec::new();
    let read = sluice::cli::source::read_batches(&[file.to_path_buf()], 512, &mut |batch| {
        let out = processor.process(&batch);
        for line in out.records.iter().map(|r| out.json(r)) {
            match serde_json::from_slice(line) {
                Ok(v) => docs.push(v),
                Err(e) => println!("invalid JSON output for {}: {e}", file.display()),
            }
        }
        true
    });
    if let Err(e) = read {
        println!("cannot read {}: {e}", file.display());
    }
    docs
}

fn lookup<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    // Elastic's expected files sometimes keep dotted keys flat.
    if let Some(flat) = v.get(dotted) {
        return Some(flat);
    }
    let mut cur = v;
    for seg in dotted.split('.') {
        cur = cur.get(seg)?;
    }
    Some(cur)
}

/// Times compare as instants at millisecond precision (Elasticsearch's `date`), arrays as sets,
/// numbers and numeric strings as numbers.
fn same(key: &str, want: &Value, have: &Value) -> bool {
    if key == "@timestamp" {
        let parse = |v: &Value| {
            v.as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.timestamp_millis())
        };
        return match (parse(want), parse(have)) {
            (Some(a), Some(b)) => a == b,
            _ => want == have,
        };
    }
    let as_set = |v: &Value| -> Vec<String> {
        let mut s: Vec<String> = match v {
            Value::Array(a) => a.iter().map(scalar).collect(),
            other => vec![scalar(other)],
        };
        s.sort();
        s.dedup();
        s
    };
    as_set(want) == as_set(have)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn report(
    stats: &BTreeMap<String, Stats>,
    mismatches: &[String],
    misdetected: &[String],
) -> ExitCode {
    println!("\nconformance against ../shared/corpus");
    println!(
        "{:<11} {:>8} {:>9} {:>11} {:>10}  detected as",
        "label", "records", "detected", "fields", "agreement"
    );
    let mut failed = Vec::new();
    for (label, s) in stats {
        let det = if label == "other" {
            100.0 * s.false_pos as f64 / s.records.max(1) as f64
        } else {
            100.0 * s.correct as f64 / s.records.max(1) as f64
        };
        let agree = 100.0 * s.agree as f64 / s.fields.max(1) as f64;
        let conf: Vec<String> = s
            .confusion
            .iter()
            .map(|(k, n)| format!("{k}:{n}"))
            .collect();
        let det_txt = if label == "other" {
            format!("FP {det:.2}%")
        } else {
            format!("{det:.2}%")
        };
        let agree_txt = if s.fields > 0 {
            format!("{agree:.1}%")
        } else {
            "-".into()
        };
        println!(
            "{label:<11} {:>8} {det_txt:>9} {:>5}/{:<5} {agree_txt:>10}  {}",
            s.records,
            s.agree,
            s.fields,
            conf.join(" ")
        );
        if label == "other" && det > 1.0 {
            failed.push(format!(
                "other: {det:.2}% detected as a known type (limit 1%)"
            ));
        } else if label != "other" && det < 99.0 {
            failed.push(format!("{label}: detection {det:.2}% (need 99%)"));
        }
        if s.fields > 0 && agree < 90.0 {
            failed.push(format!(
                "{label}: key-field agreement {agree:.1}% (need 90%)"
            ));
        }
    }
    let all = std::env::var_os("CONFORMANCE_VERBOSE").is_some();
    let limit = if all { usize::MAX } else { 40 };
    if !misdetected.is_empty() {
        println!("\nmisdetected records ({}):", misdetected.len());
        for m in misdetected.iter().take(limit) {
            println!("  {m}");
        }
    }
    if !mismatches.is_empty() {
        println!("\nkey-field mismatches ({}):", mismatches.len());
        for m in mismatches.iter().take(limit) {
            println!("  {m}");
        }
    }
    let checks = stats.len() * 2;
    println!(
        "\nconformance: {} passed, {} failed",
        checks - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        for f in &failed {
            println!("FAILED: {f}");
        }
        ExitCode::FAILURE
    }
}
