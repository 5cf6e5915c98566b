//! The file input end to end: the real binary, real files, real signals.

mod common;

use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[test]
fn rotation_by_rename_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = file_to_file_config(dir.path(), "");
    let log = dir.path().join("logs/app.log");
    append_lines(&log, "r", 0..1000);
    let agent = Agent::start(dir.path(), &cfg);
    wait_for("first lines", T, || {
        message_counts(&dir.path().join("out")).len() >= 1000
    });
    // logrotate's default: rename, keep writing to the old file briefly, then a new file.
    append_lines(&log, "r", 1000..1500);
    std::fs::rename(&log, dir.path().join("logs/app.log.1")).unwrap();
    append_lines(&dir.path().join("logs/app.log.1"), "r", 1500..1600);
    append_lines(&log, "r", 1600..3000);
    wait_for("all lines", T, || {
        message_counts(&dir.path().join("out")).len() >= 3000
    });
    assert_eq!(agent.stop(), Some(0));
    let counts = message_counts(&dir.path().join("out"));
    assert_all_present(&counts, "r", 0..3000);
    assert!(
        counts.values().all(|&n| n == 1),
        "no duplicates without a crash"
    );
}

#[test]
fn rotation_by_copytruncate_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = file_to_file_config(dir.path(), "");
    let log = dir.path().join("logs/app.log");
    append_lines(&log, "c", 0..2000);
    let agent = Agent::start(dir.path(), &cfg);
    wait_for("first lines", T, || {
        message_counts(&dir.path().join("out")).len() >= 2000
    });
    std::fs::copy(&log, dir.path().join("logs/app.log.1.gz-not-matched")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append_lines(&log, "c", 2000..2100);
    wait_for("lines after truncation", T, || {
        message_counts(&dir.path().join("out")).len() >= 2100
    });
    assert_eq!(agent.stop(), Some(0));
    assert_all_present(&message_counts(&dir.path().join("out")), "c", 0..2100);
}

#[test]
fn restart_resumes_from_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = file_to_file_config(dir.path(), "");
    let log = dir.path().join("logs/app.log");
    append_lines(&log, "s", 0..1000);
    let agent = Agent::start(dir.path(), &cfg);
    wait_for("first run", T, || {
        message_counts(&dir.path().join("out")).len() >= 1000
    });
    assert_eq!(agent.stop(), Some(0));
    // Written while Sluice is down, plus a last line without a newline.
    append_lines(&log, "s", 1000..2000);
    std::fs::write(dir.path().join("logs/other.log"), "tail-without-newline").unwrap();
    let agent = Agent::start(dir.path(), &cfg);
    wait_for("second run", T, || {
        message_counts(&dir.path().join("out")).len() >= 2001
    });
    assert_eq!(agent.stop(), Some(0));
    let counts = message_counts(&dir.path().join("out"));
    assert_all_present(&counts, "s", 0..2000);
    assert_eq!(counts.get("tail-without-newline"), Some(&1));
    assert!(
        counts.values().all(|&n| n == 1),
        "a clean restart re-sends nothing"
    );
}

#[test]
fn kill_9_mid_stream_then_restart_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = file_to_file_config(dir.path(), "");
    let log = dir.path().join("logs/app.log");
    let agent = Agent::start(dir.path(), &cfg);
    let writer_log = log.clone();
    let writer = std::thread::spawn(move || {
        for chunk in 0..40 {
            append_lines(&writer_log, "k", chunk * 500..(chunk + 1) * 500);
            std::thread::sleep(Duration::from_millis(25));
        }
    });
    wait_for("some output", T, || {
        message_counts(&dir.path().join("out")).len() >= 3000
    });
    agent.kill9();
    writer.join().unwrap();
    let agent = Agent::start(dir.path(), &cfg);
    wait_for("everything after restart", T, || {
        message_counts(&dir.path().join("out")).len() >= 20_000
    });
    assert_eq!(agent.stop(), Some(0));
    assert_all_present(&message_counts(&dir.path().join("out")), "k", 0..20_000);
}

#[test]
fn invalid_utf8_and_over_long_lines() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = file_to_file_config(dir.path(), "    max_line_bytes: 1024");
    let log = dir.path().join("logs/app.log");
    let mut data = Vec::new();
    data.extend_from_slice(b"before\n");
    data.extend_from_slice(b"bad \xff\xfe\xc3 bytes\n");
    data.extend(std::iter::repeat_n(b'x', 5000));
    data.extend_from_slice(b"\nafter\n\0binary\x01\n");
    std::fs::write(&log, &data).unwrap();
    let agent = Agent::start(dir.path(), &cfg);
    wait_for("5 records", T, || {
        read_docs(&dir.path().join("out")).len() >= 5
    });
    assert_eq!(agent.stop(), Some(0));
    let docs = read_docs(&dir.path().join("out"));
    assert_eq!(docs.len(), 5, "{docs:?}");
    let bad = docs
        .iter()
        .find(|d| d["message"].as_str().unwrap().starts_with("bad"))
        .unwrap();
    assert_eq!(bad["message"], "bad \u{fffd}\u{fffd}\u{fffd} bytes");
    let long = docs
        .iter()
        .find(|d| d["message"].as_str().unwrap().starts_with("xxx"))
        .unwrap();
    assert_eq!(long["message"].as_str().unwrap().len(), 1024);
    assert_eq!(long["tags"], serde_json::json!(["_sluice_truncated"]));
    assert!(docs.iter().any(|d| d["message"] == "after"));
    assert!(docs.iter().any(|d| d["message"] == "\u{0}binary\u{1}"));
}

#[test]
fn a_blocked_output_pauses_the_input_and_bounds_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // A FIFO nobody reads: the output blocks forever on its first write.
    let fifo = out.join("unknown.ndjson");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let cfg = file_to_file_config(dir.path(), "");
    let log = dir.path().join("logs/app.log");
    // ~150 MB of input.
    let line = format!("{}\n", "y".repeat(300));
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
        for _ in 0..500_000 {
            f.write_all(line.as_bytes()).unwrap();
        }
    }
    let agent = Agent::start(dir.path(), &cfg);
    std::thread::sleep(Duration::from_secs(4));
    let rss_mb = agent.peak_rss_kib() / 1024;
    let checkpoint =
        std::fs::read_to_string(dir.path().join("data/checkpoints/app.json")).unwrap_or_default();
    agent.kill9();
    assert!(
        rss_mb > 0 && rss_mb < 120,
        "peak RSS {rss_mb} MiB with a blocked output"
    );
    let offsets: Vec<u64> = serde_json::from_str::<serde_json::Value>(&checkpoint)
        .map(|v| v["files"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f["offset"].as_u64())
        .collect();
    assert!(
        offsets.iter().all(|&o| o == 0),
        "nothing was delivered, so no offset may advance: {checkpoint}"
    );
    eprintln!("peak RSS with a blocked output: {rss_mb} MiB");
}
