//! `sluice detect`: the detected source type and confidence of every record, or a summary.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use crate::config::PipelineConfig;
use crate::detect::Detector;
use crate::framing::split_json_batch;
use crate::source_type::SourceType;

/// Prints `type<TAB>confidence<TAB>record start` per record, or with `summary` a count per type.
pub fn run(
    inputs: &[PathBuf],
    summary: bool,
    pipeline: &PipelineConfig,
    out: &mut dyn Write,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let detector = match &pipeline.detect.rules_dir {
        Some(dir) => Detector::from_dir(dir)?,
        None => Detector::builtin()?,
    };
    let min = pipeline.detect.min_confidence;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut err = None;
    let mut line = |t: &SourceType, conf: f32, raw: &[u8], counts: &mut BTreeMap<String, u64>| {
        *counts.entry(t.as_str().to_string()).or_default() += 1;
        if !summary && err.is_none() {
            let text = String::from_utf8_lossy(&raw[..raw.len().min(100)])
                .replace(['\n', '\r', '\t'], " ");
            err = writeln!(out, "{t}\t{conf:.2}\t{text}").err();
        }
    };
    super::source::read_batches(inputs, 512, &mut |batch| {
        let fixed = batch.origin.source_type.clone();
        let verdict = |raw: &[u8]| {
            let d = match &fixed {
                Some(t) => crate::detect::Detection::fixed(t.clone()),
                None => detector.detect(raw).at_least(min),
            };
            (d.source_type, d.confidence)
        };
        for rec in &batch.records {
            let raw = batch.raw(rec);
            // A JSON batch (`{"Records": [...]}`) counts as the records in it.
            match split_json_batch(raw) {
                Some(elements) => {
                    for e in elements {
                        let (t, conf) = verdict(e.get().as_bytes());
                        line(&t, conf, e.get().as_bytes(), &mut counts);
                    }
                }
                None => {
                    let (t, conf) = verdict(raw);
                    line(&t, conf, raw, &mut counts);
                }
            }
        }
        true
    })?;
    if let Some(e) = err {
        return Err(e.into());
    }
    if summary {
        let total: u64 = counts.values().sum();
        for (t, n) in &counts {
            writeln!(
                out,
                "{t}\t{n}\t{:.1}%",
                *n as f64 * 100.0 / total.max(1) as f64
            )?;
        }
        writeln!(out, "total\t{total}")?;
    }
    Ok(counts)
}
