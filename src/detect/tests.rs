//! Detection on hand-written records of every supported form, and on near misses.

use super::*;

fn detect(line: &str) -> Detection {
    let d = Detector::builtin().expect("built-in rules compile");
    d.detect(line.as_bytes())
}

fn is(line: &str, t: SourceType) {
    let d = detect(line);
    assert_eq!(d.source_type, t, "{line}: {d:?}");
    assert!((0.0..=1.0).contains(&d.confidence));
}

#[test]
fn syslog_variants() {
    is(
        "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
        SourceType::Syslog,
    );
    is("Mar  3 07:01:02 web01 sshd[4242]: Accepted password for alice from 10.1.2.3 port 5022 ssh2", SourceType::Syslog);
    is(
        "Sep 8 07:46:30 mail dovecot: imap-login: Login: user=<bob>",
        SourceType::Syslog,
    );
    is(
        "2024-05-01T10:00:00.123+02:00 host1 cron[77]: (root) CMD (run-parts /etc/cron.hourly)",
        SourceType::Syslog,
    );
    is("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] An application event", SourceType::Syslog);
    let d = detect("Mar  3 07:01:02 web01 sshd[4242]: Accepted password for alice");
    assert!(d.confidence >= 0.9, "{d:?}");
    assert_eq!(d.syslog_payload, None);
}

#[test]
fn panos_bare_and_in_syslog() {
    let csv = "1,2024/02/03 10:11:12,012345678901,TRAFFIC,end,2561,2024/02/03 10:11:12,10.0.0.5,198.51.100.7,0.0.0.0,0.0.0.0,allow-web,,,ssl,vsys1,trust,untrust,ethernet1/2,ethernet1/1,fwd,2024/02/03 10:11:12,4242,1,51515,443,0,0,0x19,tcp,allow,5000";
    is(csv, SourceType::Panos);
    let wrapped = format!("<14>Feb  3 10:11:12 fw-edge-01 {csv}");
    let d = detect(&wrapped);
    assert_eq!(d.source_type, SourceType::Panos);
    assert_eq!(&wrapped[d.syslog_payload.unwrap()..], csv);
    // No host: the CSV right after the timestamp.
    let nohost = format!("Feb  3 10:11:12 {csv}");
    let d = detect(&nohost);
    assert_eq!(&nohost[d.syslog_payload.unwrap()..], csv);
    is(
        "01122334455,2024/04/11 20:06:15,audit,2561,gui-op,admin,\"show system info\",success",
        SourceType::Panos,
    );
    // Commas alone are not PAN-OS (pfSense filterlog).
    is("Sep 28 10:38:09 pfSense filterlog: 53,,,1000000301,em0,match,block,in,4,0x0,,64,420,0,none,6,tcp", SourceType::Syslog);
    is("a,b,c,d,e,f,g", SourceType::Unknown);
}

#[test]
fn cloudtrail_single_and_records() {
    let ev = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"ana"},"eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.9"}"#;
    is(ev, SourceType::Cloudtrail);
    is(
        &format!("{{\"Records\":[{ev},{ev}]}}"),
        SourceType::Cloudtrail,
    );
    is(
        r#"{"awsAccountId":"1","digestStartTime":"2020-09-11T18:36:49Z","digestEndTime":"x","digestS3Bucket":"b","digestS3Object":"o","awsRegion":"us-east-1","eventVersion":"1"}"#,
        SourceType::Unknown,
    );
    // Other JSON audit logs share words but not the shape.
    is(
        r#"{"actor":{"id":"00u1"},"eventType":"user.session.start","published":"2024-01-01T00:00:00Z","outcome":{"result":"SUCCESS"}}"#,
        SourceType::Unknown,
    );
}

#[test]
fn windows_forms() {
    let xml = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>4624</EventID><Channel>Security</Channel><Computer>dc01</Computer></System></Event>";
    is(xml, SourceType::Windows);
    is(
        &format!("<?xml version=\"1.0\"?>\n{xml}"),
        SourceType::Windows,
    );
    let wrapped = format!("<14>Mar  1 10:00:00 wec01 EventLog: {xml}");
    let d = detect(&wrapped);
    assert_eq!(d.source_type, SourceType::Windows);
    assert_eq!(&wrapped[d.syslog_payload.unwrap()..], xml);
    is(
        r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"EventLog"}},"EventID":6005,"Channel":"System","Computer":"pc"}}}"##,
        SourceType::Windows,
    );
    is(
        r#"{"@timestamp":"2024-01-01T00:00:00Z","winlog":{"channel":"Security","event_id":"4625","computer_name":"pc"}}"#,
        SourceType::Windows,
    );
    is(
        r#"{"EventTime":"2024-01-01 00:00:00","Hostname":"pc","EventID":4688,"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security"}"#,
        SourceType::Windows,
    );
    is(
        "01/02/2024 03:04:05 PM\nLogName=Security\nEventCode=4624\nComputerName=dc01\n",
        SourceType::Windows,
    );
    // A text log that mentions Windows is not an event record.
    is("2016-09-28 04:30:30, Info CBS Loaded Servicing Stack with Core: C:\\Windows\\winsxs\\cbscore.dll", SourceType::Unknown);
}

#[test]
fn negatives_and_garbage() {
    is("Oct 10 2018 12:34:56 localhost CiscoASA[999]: %ASA-4-106023: Deny tcp src outside:1.2.3.4/80", SourceType::Unknown);
    is(
        "<166>Oct 10 12:34:56 asa01 : %ASA-6-302013: Built outbound TCP connection",
        SourceType::Unknown,
    );
    is(
        "CEF:0|Vendor|Product|1.0|100|Something|5|src=10.0.0.1",
        SourceType::Unknown,
    );
    is("", SourceType::Unknown);
    is("\u{0}\u{1}\u{2}binary", SourceType::Unknown);
    let deep = "[".repeat(100_000);
    is(&deep, SourceType::Unknown);
    let huge = "x".repeat(1 << 20);
    is(&huge, SourceType::Unknown);
}

#[test]
fn csv_columns() {
    assert_eq!(csv_column(b"a,b,c", 0), Some(&b"a"[..]));
    assert_eq!(csv_column(b"a,b,c", 2), Some(&b"c"[..]));
    assert_eq!(csv_column(b"a,b,c", 3), None);
    assert_eq!(csv_column(b"a,\"x,y\",c", 1), Some(&b"x,y"[..]));
    assert_eq!(csv_column(b"a,\"x,y\",c", 2), Some(&b"c"[..]));
    assert_eq!(csv_column(b"a,,c", 1), Some(&b""[..]));
    assert_eq!(csv_column(b"a,\"unterminated", 1), None);
    assert_eq!(csv_column(b"", 0), Some(&b""[..]));
}

#[test]
fn user_rules_add_types_and_report_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cef.yaml"),
        "rules:\n  - name: cef\n    source_type: cef\n    in_syslog: true\n    threshold: 0.8\n    markers:\n      - regex: '^CEF:\\d+\\|'\n        weight: 1.0\n",
    )
    .unwrap();
    let d = Detector::from_dir(dir.path()).unwrap();
    assert!(d.source_types().contains(&SourceType::from_name("cef")));
    let r = d.detect(b"CEF:0|Vendor|Product|1.0|100|Something|5|src=10.0.0.1");
    assert_eq!(r.source_type.as_str(), "cef");
    let line = b"<134>Oct 10 12:34:56 host CEF:0|Vendor|Product|1.0|100|Something|5|src=10.0.0.1";
    let r = d.detect(line);
    assert_eq!(r.source_type.as_str(), "cef");
    assert_eq!(r.syslog_payload, Some(26));
    // Built-ins still there.
    assert_eq!(
        d.detect(b"Mar  3 07:01:02 web01 sshd[1]: x").source_type,
        SourceType::Syslog
    );

    std::fs::write(dir.path().join("bad.yaml"), "rules:\n  - name: bad\n    source_type: x\n    markers:\n      - regex: '('\n        weight: 1\n").unwrap();
    let e = Detector::from_dir(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("bad.yaml") && e.contains("rule `bad`") && e.contains("markers[0]"),
        "{e}"
    );
    std::fs::write(
        dir.path().join("bad.yaml"),
        "rules:\n  - name: bad\n    source_typo: x\n",
    )
    .unwrap();
    let e = Detector::from_dir(dir.path()).unwrap_err().to_string();
    assert!(e.contains("bad.yaml") && e.contains("source_typo"), "{e}");
    std::fs::write(dir.path().join("bad.yaml"), "rules:\n  - name: bad\n    source_type: x\n    threshold: 0.9\n    markers:\n      - literal: a\n        weight: 0.5\n").unwrap();
    let e = Detector::from_dir(dir.path()).unwrap_err().to_string();
    assert!(e.contains("can never be reached"), "{e}");
}

/// Every line of the corpus's text files under `dir` (small ones only), and each whole file.
fn corpus_lines(dir: &str) -> Vec<Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(dir);
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if e.metadata().is_ok_and(|m| m.len() < 256 << 10)
                && p.extension().is_none_or(|x| x != "evtx")
            {
                if let Ok(b) = std::fs::read(&p) {
                    out.extend(b.split(|&c| c == b'\n').map(<[u8]>::to_vec));
                    out.push(b);
                }
            }
        }
    }
    out
}

#[test]
fn quote_scan_detects_as_the_automaton_does() {
    let fast = Detector::builtin().expect("built-in rules compile");
    assert!(
        fast.plans.iter().any(Option::is_some),
        "the built-in JSON and XML rules get a scan"
    );
    let mut slow = Detector::builtin().expect("built-in rules compile");
    slow.plans.iter_mut().for_each(|p| *p = None);

    let mut records = corpus_lines("cloudtrail");
    records.extend(corpus_lines("windows"));
    assert!(records.len() > 100, "corpus found: {}", records.len());
    let ct = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"ana"},"eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.9","recipientAccountId":"1"}"#;
    let win = r#"{"Event":{"System":{"EventID":4624,"Channel":"Security","Computer":"pc"}},"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"}"#;
    let mut rng = fastrand::Rng::with_seed(5);
    let seeds = records.clone();
    let xml = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>4624</EventID></System></Event>";
    let extra = [ct, win, xml].map(|s| s.as_bytes().to_vec());
    for base in seeds.iter().chain(&extra) {
        for _ in 0..8 {
            let mut r = base.clone();
            // Cut, splice in a piece of another record, or pad so keys fall beyond `scan_bytes`.
            match rng.u8(0..4) {
                0 => r.truncate(rng.usize(0..=r.len())),
                1 => {
                    let other = [ct, win, xml][rng.usize(0..3)].as_bytes();
                    let from = rng.usize(0..other.len());
                    let to = rng.usize(from..=other.len());
                    let at = rng.usize(0..=r.len());
                    r.splice(at..at, other[from..to].iter().copied());
                }
                2 => {
                    let at = if r.first() == Some(&b'{') { 1 } else { 0 };
                    let pad = format!("\"pad\":\"{}\",", "é".repeat(rng.usize(900..1100)));
                    r.splice(at..at, pad.bytes());
                }
                _ => {
                    let bits = [b'"', b':', b'\\', b' ', b'{', 0xc3];
                    for _ in 0..rng.usize(1..4) {
                        if !r.is_empty() {
                            let i = rng.usize(0..r.len());
                            r[i] = bits[rng.usize(0..bits.len())];
                        }
                    }
                }
            }
            records.push(r);
        }
    }
    // Behind a syslog header, where only `in_syslog` rules score the JSON payload.
    records.push(format!("<14>Mar  1 10:00:00 host app: {win}").into_bytes());
    records.push(format!("<14>Mar  1 10:00:00 host app: {ct}").into_bytes());
    records.push(format!("<14>Mar  1 10:00:00 host app: {xml}").into_bytes());
    let (mut json, mut xml) = (0, 0);
    for r in &records {
        json += usize::from(sniff::shapes(r) & sniff::Shape::Json.bit() != 0);
        xml += usize::from(sniff::shapes(r) & sniff::Shape::Xml.bit() != 0);
        assert_eq!(
            fast.detect(r),
            slow.detect(r),
            "{}",
            String::from_utf8_lossy(r)
        );
    }
    assert!(
        json > 1000 && xml > 1000,
        "{json} JSON, {xml} XML records compared"
    );
}
