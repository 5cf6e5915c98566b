//! The evtx input on real `.evtx` files from the shared corpus (skipped, saying so, without it).

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

fn corpus_file(name: &str) -> Option<std::path::PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/windows/omerbenamram-evtx")
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipped: {} not found (needs ../shared/corpus)",
            p.display()
        );
        None
    }
}

fn config(dir: &Path) -> std::path::PathBuf {
    let cfg = format!(
        "data_dir: {d}/data\ninputs:\n  win:\n    type: evtx\n    include: [\"{d}/logs/*.evtx\"]\n    poll_interval: 200ms\noutputs:\n  local:\n    type: file\n    inputs: [win]\n    path: \"{d}/out/{{source_type}}.ndjson\"\n",
        d = dir.display()
    );
    let p = dir.join("sluice.yaml");
    std::fs::write(&p, cfg).unwrap();
    p
}

#[test]
fn reads_every_record_once_and_resumes_by_record_id() {
    let Some(src) = corpus_file("Security_short_selected.evtx") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::fs::copy(&src, dir.path().join("logs/security.evtx")).unwrap();
    let expected = {
        let mut p = evtx::EvtxParser::from_path(&src).unwrap();
        p.records().filter_map(Result::ok).count()
    };
    assert!(expected > 0);
    let cfg = config(dir.path());
    let agent = Agent::start(dir.path(), &cfg);
    let out = dir.path().join("out");
    wait_for("every record", Duration::from_secs(30), || {
        read_docs(&out).len() >= expected
    });
    assert_eq!(agent.stop(), Some(0));
    let docs = read_docs(&out);
    assert_eq!(docs.len(), expected);
    assert!(docs.iter().all(|d| d["sluice"]["source_type"] == "windows"));
    assert!(docs[0]["event"]["original"]
        .as_str()
        .unwrap()
        .contains("<Event"));
    // A restart sends nothing again: the checkpoint is the last delivered record id.
    let agent = Agent::start(dir.path(), &cfg);
    agent.wait_ready();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(agent.stop(), Some(0));
    assert_eq!(read_docs(&out).len(), expected);
}

#[test]
fn a_broken_file_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::fs::write(
        dir.path().join("logs/junk.evtx"),
        b"ElfFile\0 but not really",
    )
    .unwrap();
    let agent = Agent::start(dir.path(), &config(dir.path()));
    wait_for("the error to be logged", Duration::from_secs(20), || {
        agent.logs().contains("not a readable evtx file")
    });
    assert_eq!(agent.stop(), Some(0));
}
