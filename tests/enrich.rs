//! Enrichment through the real binary: `sluice build-mmdb`, then `sluice normalize -c` with geoip
//! (the built database) and ioc, and `sluice validate` refusing a broken database.

mod common;

use common::BIN;
use std::path::Path;
use std::process::Command;

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("enrichment-data")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn a_built_database_and_a_threat_list_enrich_normalized_records() {
    let dir = tempfile::tempdir().unwrap();
    let mmdb = dir.path().join("geo.mmdb");
    let out = Command::new(BIN)
        .args(["build-mmdb", &example("geoip-example.csv"), "-o"])
        .arg(&mmdb)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("5 networks"));

    let cfg = dir.path().join("sluice.yaml");
    std::fs::write(
        &cfg,
        format!(
            "inputs: {{i: {{type: stdin}}}}\noutputs: {{o: {{type: stdout, inputs: [i]}}}}\npipeline:\n  enrich:\n    geoip:\n      databases: [{{path: {}}}]\n    ioc:\n      files: [{}]\n",
            mmdb.display(),
            example("ioc-example.csv")
        ),
    )
    .unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(
        &log,
        "Mar  3 07:01:02 web01 sshd[42]: Failed password for root from 203.0.113.50 port 5022 ssh2\n\
         Mar  3 07:01:03 web01 sshd[42]: Accepted password for alice from 8.8.8.8 port 5022 ssh2\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["normalize", "-c"])
        .arg(&cfg)
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2);
    let m = &docs[0]["threat"]["enrichments"][0];
    assert_eq!(m["indicator"]["name"], "203.0.113.48/28");
    assert_eq!(m["matched"]["field"], "source.ip");
    assert_eq!(docs[0]["tags"], serde_json::json!(["ioc_match"]));
    assert_eq!(
        docs[1]["source"]["as"]["organization"]["name"],
        "Google LLC"
    );
    assert_eq!(docs[1]["source"]["geo"]["country_iso_code"], "US");
    assert!(docs[1].get("threat").is_none());
}

#[test]
fn validate_refuses_a_database_that_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.mmdb");
    std::fs::write(&junk, b"\xab\xcd\xefMaxMind.com\x00\x00").unwrap();
    let cfg = dir.path().join("sluice.yaml");
    std::fs::write(
        &cfg,
        format!(
            "inputs: {{i: {{type: stdin}}}}\noutputs: {{o: {{type: stdout, inputs: [i]}}}}\npipeline:\n  enrich:\n    geoip:\n      databases: [{{path: {}}}]\n",
            junk.display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pipeline.enrich.geoip.databases[0].path")
            && err.contains("junk.mmdb")
            && err.contains("not a usable MaxMind DB"),
        "{err}"
    );
}
