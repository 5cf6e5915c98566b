//! The command line: validate messages and exit codes, one-shot normalize, stdin runs.

mod common;

use common::BIN;
use std::io::Write;
use std::process::{Command, Stdio};

fn validate(yaml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_reports_file_key_and_expectation() {
    let (code, err) = validate(
        "inputs:\n  app:\n    type: file\n    include: [\"*.log\"]\n    red_from: end\noutputs:\n  o:\n    type: stdout\n    inputs: [ap]\n",
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "bad.yaml: inputs.app.red_from: unknown key `red_from`, did you mean `read_from`?"
        ),
        "{err}"
    );
    let (code, err) = validate(
        "inputs:\n  app:\n    type: file\n    include: [\"*.log\"]\noutputs:\n  o:\n    type: stdout\n    inputs: [ap]\n",
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("bad.yaml: outputs.o.inputs: no input named `ap`, did you mean `app`?"),
        "{err}"
    );
    let (code, err) = validate("inputs: [\n");
    assert_eq!(code, 1);
    assert!(err.contains("bad.yaml: not valid YAML"), "{err}");
}

#[test]
fn validate_accepts_the_quickstart() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart.yaml");
    let out = Command::new(BIN)
        .args(["validate", "-c", path])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn normalize_stdin_to_stdout_keeps_order_and_count() {
    let mut child = Command::new(BIN)
        .arg("normalize")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Two source types interleaved: batches are processed one type after another, and the
    // output must still be in input order.
    let line = |i: usize| match i % 3 {
        1 => format!("Mar  3 07:01:02 web01 app[{i}]: record {i}"),
        _ => format!("record {i}"),
    };
    let mut input = String::new();
    for i in 0..5000 {
        input.push_str(&line(i));
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5000);
    for (i, d) in lines.iter().enumerate() {
        assert_eq!(d["message"], format!("record {i}"));
        assert_eq!(d["event"]["original"], line(i));
    }
}

#[test]
fn normalize_reads_multi_line_json_documents() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("doc.json");
    std::fs::write(&f, "{\n  \"a\": 1,\n  \"b\": \"x}\"\n}\n{\"c\": 2}\n").unwrap();
    let out = Command::new(BIN).arg("normalize").arg(&f).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "{text}");
    assert_eq!(docs[0]["json"]["b"], "x}");
}

#[test]
fn run_with_only_stdin_ends_at_end_of_input() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("s.yaml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir: {}\ninputs:\n  console:\n    type: stdin\noutputs:\n  screen:\n    type: stdout\n    inputs: [console]\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "-c"])
        .arg(&cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo\nthree")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut messages: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["message"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // The last line (no newline) is its own batch, and batches may be processed on different
    // threads: every record arrives, not necessarily in input order.
    messages.sort();
    assert_eq!(messages, ["one", "three", "two"]);
}

#[test]
fn detect_summary_counts_types_and_user_rules_add_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mixed.log");
    std::fs::write(
        &input,
        concat!(
            "Mar  3 07:01:02 web01 sshd[4242]: Accepted password for alice from 10.1.2.3 port 5022 ssh2\n",
            "<14>Feb  3 10:11:12 fw01 1,2024/02/03 10:11:12,012345678901,TRAFFIC,end,2561,2024/02/03 10:11:12,10.0.0.5,198.51.100.7\n",
            "{\"eventVersion\":\"1.08\",\"eventTime\":\"2024-01-01T00:00:00Z\",\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"ListBuckets\",\"awsRegion\":\"eu-west-1\"}\n",
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4624</EventID></System></Event>\n",
            "CEF:0|Acme|Gate|1.0|100|Blocked|5|src=10.0.0.1\n",
            "just some text\n",
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["detect", "--summary"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "cloudtrail\t1\t",
        "panos\t1\t",
        "syslog\t1\t",
        "windows\t1\t",
        "unknown\t2\t",
        "total\t6",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("cef.yaml"),
        "rules:\n  - name: cef\n    source_type: cef\n    in_syslog: true\n    threshold: 0.8\n    markers:\n      - regex: '^CEF:\\d+\\|'\n        weight: 1.0\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["detect", "--rules-dir"])
        .arg(&rules)
        .arg(&input)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let cef = text
        .lines()
        .find(|l| l.starts_with("cef\t"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(cef.starts_with("cef\t1.00\tCEF:0|Acme"), "{cef}");
    std::fs::write(
        rules.join("bad.yaml"),
        "rules:\n  - name: bad\n    source_type: x\n    markers: []\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["detect", "--rules-dir"])
        .arg(&rules)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml") && err.contains("rule `bad`"),
        "{err}"
    );
}
