//! Detection, and parse + normalize per source type, on representative hand-written records.
//!
//! `cargo bench --bench detect_normalize`. Throughput is reported in bytes, so criterion prints
//! MB/s next to the time per record. Targets (issue 3): detection ≤ 300 ns/record, syslog
//! ≤ 1 µs, PAN-OS ≤ 2 µs, CloudTrail and Windows JSON ≤ 2 µs per KB.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice::detect::Detector;
use sluice::doc::Doc;
use sluice::normalize::panos::PanosNormalizer;
use sluice::normalize::windows::WindowsNormalizer;
use sluice::normalize::{cloudtrail, syslog, Context};
use sluice::parse::panos::PanosSchema;

const SYSLOG: &str = "Mar  3 07:01:02 web01 sshd[4242]: Accepted publickey for alice from 10.20.30.40 port 50522 ssh2: RSA SHA256:Qm9vb2JhcmJhemZvb2JhcmJhemZvb2JhcmJhemZvbw";
const SYSLOG_5424: &str = "<165>1 2024-03-03T07:01:02.123456+01:00 web01.example.com nginx 4242 ID47 [meta sequenceId=\"29\" origin=\"10.0.0.1\"] GET /index.html 200";
const PANOS_TRAFFIC: &str = "<14>Feb  3 10:11:12 fw-edge-01 1,2024/02/03 10:11:12,012345678901,TRAFFIC,end,2561,2024/02/03 10:11:12,10.0.0.5,198.51.100.7,203.0.113.10,198.51.100.7,allow-web,corp\\alice,,ssl,vsys1,trust,untrust,ethernet1/2,ethernet1/1,fwd-siem,2024/02/03 10:11:12,424242,1,51515,443,40001,443,0x40001c,tcp,allow,5120,1024,4096,12,2024/02/03 10:10:50,21,any,,7339220000,0x0,10.0.0.0-10.255.255.255,United States,,6,6,tcp-fin,0,0,0,0,,fw-edge-01,from-policy,,,0,,0,,N/A,0,0,0,0,a1b2c3d4-e5f6-7890-abcd-ef1234567890,0,0,,,,,,,,";
const PANOS_THREAT: &str = "1,2024/02/03 10:11:12,012345678901,THREAT,url,2561,2024/02/03 10:11:12,10.0.0.5,198.51.100.7,203.0.113.10,198.51.100.7,allow-web,corp\\alice,,web-browsing,vsys1,trust,untrust,ethernet1/2,ethernet1/1,fwd-siem,2024/02/03 10:11:12,424242,1,51515,80,40001,80,0x40b000,tcp,alert,\"www.example.com/path,with,commas\",(9999),computer-and-internet-info,informational,client-to-server,7339220001,0x0,10.0.0.0-10.255.255.255,United States,,text/html,0,,,1,,,,,,,,0,0,0,0,0,,fw-edge-01,,,,get,0,,0,,N/A,N/A,AppThreat-0-0,0x0,0,4294967295,,,a1b2c3d4-e5f6-7890-abcd-ef1234567890,0";
const CLOUDTRAIL: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:alice","arn":"arn:aws:sts::123456789012:assumed-role/Admin/alice","accountId":"123456789012","accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::123456789012:role/Admin","accountId":"123456789012","userName":"Admin"},"attributes":{"creationDate":"2024-02-03T09:00:00Z","mfaAuthenticated":"true"}}},"eventTime":"2024-02-03T10:11:12Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 exe/x86_64.debian.12","requestParameters":{"instancesSet":{"items":[{"imageId":"ami-0abcdef1234567890","minCount":1,"maxCount":1}]},"instanceType":"t3.micro","monitoring":{"enabled":false}},"responseElements":{"requestId":"0f6b7c8d-1111-2222-3333-444455556666","reservationId":"r-0123456789abcdef0","ownerId":"123456789012"},"requestID":"0f6b7c8d-1111-2222-3333-444455556666","eventID":"9a8b7c6d-aaaa-bbbb-cccc-ddddeeeeffff","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management"}"#;
const WINDOWS_XML: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-A5BA-3E3B0328C30D}'/><EventID>4624</EventID><Version>2</Version><Level>0</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2024-02-03T10:11:12.123456700Z'/><EventRecordID>1234567</EventRecordID><Correlation/><Execution ProcessID='636' ThreadID='700'/><Channel>Security</Channel><Computer>dc01.corp.example.com</Computer><Security/></System><EventData><Data Name='SubjectUserSid'>S-1-5-18</Data><Data Name='SubjectUserName'>DC01$</Data><Data Name='SubjectDomainName'>CORP</Data><Data Name='SubjectLogonId'>0x3e7</Data><Data Name='TargetUserSid'>S-1-5-21-1-2-3-1104</Data><Data Name='TargetUserName'>alice</Data><Data Name='TargetDomainName'>CORP</Data><Data Name='TargetLogonId'>0x8dcdc</Data><Data Name='LogonType'>3</Data><Data Name='LogonProcessName'>NtLmSsp </Data><Data Name='AuthenticationPackageName'>NTLM</Data><Data Name='WorkstationName'>WKS7</Data><Data Name='LogonGuid'>{00000000-0000-0000-0000-000000000000}</Data><Data Name='ProcessId'>0x0</Data><Data Name='ProcessName'>-</Data><Data Name='IpAddress'>10.0.0.5</Data><Data Name='IpPort'>50522</Data></EventData></Event>";
const WINDOWS_JSON: &str = r##"{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon","Guid":"5770385F-C22A-43E0-BF4C-06F5698FFBD9"}},"EventID":1,"Version":5,"Level":4,"Task":1,"Opcode":0,"Keywords":"0x8000000000000000","TimeCreated":{"#attributes":{"SystemTime":"2024-02-03T10:11:12.123456Z"}},"EventRecordID":4242,"Correlation":null,"Execution":{"#attributes":{"ProcessID":1840,"ThreadID":3024}},"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"wks7.corp.example.com","Security":{"#attributes":{"UserID":"S-1-5-18"}}},"EventData":{"RuleName":"-","UtcTime":"2024-02-03 10:11:12.120","ProcessGuid":"{9f32b55f-d9de-5f98-f006-000000000600}","ProcessId":5184,"Image":"C:\\Windows\\System32\\cmd.exe","FileVersion":"10.0.19041.1","Description":"Windows Command Processor","Product":"Microsoft Windows Operating System","Company":"Microsoft Corporation","OriginalFileName":"Cmd.Exe","CommandLine":"cmd.exe /c whoami /all","CurrentDirectory":"C:\\Users\\alice\\","User":"CORP\\alice","LogonGuid":"{9f32b55f-d9de-5f98-0000-0020e7030000}","LogonId":"0x3e7","TerminalSessionId":1,"IntegrityLevel":"High","Hashes":"SHA256=4808F1101F4E4238A1B2C3D4E5F60718293A4B5C6D7E8F901234567890ABCDEF","ParentProcessGuid":"{9f32b55f-d9de-5f98-0000-000000000600}","ParentProcessId":4242,"ParentImage":"C:\\Windows\\explorer.exe","ParentCommandLine":"C:\\Windows\\Explorer.EXE"}}}"##;

fn detection(c: &mut Criterion) {
    let d = Detector::builtin().expect("built-in rules");
    let mut g = c.benchmark_group("detect");
    for (name, rec) in [
        ("syslog", SYSLOG),
        ("syslog_5424", SYSLOG_5424),
        ("panos_in_syslog", PANOS_TRAFFIC),
        ("panos", PANOS_THREAT),
        ("cloudtrail", CLOUDTRAIL),
        ("windows_xml", WINDOWS_XML),
        ("windows_json", WINDOWS_JSON),
        ("unknown", "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating"),
    ] {
        g.throughput(Throughput::Bytes(rec.len() as u64));
        g.bench_function(name, |b| b.iter(|| d.detect(black_box(rec.as_bytes()))));
    }
    g.finish();
}

fn normalization(c: &mut Criterion) {
    let ctx = Context::default();
    let panos = PanosNormalizer::new(PanosSchema::builtin().expect("PAN-OS layouts"));
    let windows = WindowsNormalizer::builtin().expect("Windows tables");
    let mut doc = Doc::new();
    let mut g = c.benchmark_group("normalize");
    let mut run = |name: &str, rec: &str, f: &dyn Fn(&[u8], &mut Doc)| {
        g.throughput(Throughput::Bytes(rec.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                doc.clear();
                f(black_box(rec.as_bytes()), &mut doc);
            })
        });
    };
    run("syslog", SYSLOG, &|r, d| {
        let _ = syslog::normalize(r, &ctx, d);
    });
    run("syslog_5424", SYSLOG_5424, &|r, d| {
        let _ = syslog::normalize(r, &ctx, d);
    });
    let payload = PANOS_TRAFFIC.find("1,2024").unwrap_or(0);
    run("panos_traffic", &PANOS_TRAFFIC[payload..], &|r, d| {
        let _ = panos.normalize(r, &ctx, d);
    });
    run("panos_threat", PANOS_THREAT, &|r, d| {
        let _ = panos.normalize(r, &ctx, d);
    });
    run("cloudtrail", CLOUDTRAIL, &|r, d| {
        let _ = cloudtrail::normalize(r, &ctx, d);
    });
    run("windows_xml", WINDOWS_XML, &|r, d| {
        let _ = windows.normalize(r, &ctx, d);
    });
    run("windows_json", WINDOWS_JSON, &|r, d| {
        let _ = windows.normalize(r, &ctx, d);
    });
    g.finish();
}

fn serialization(c: &mut Criterion) {
    let ctx = Context::default();
    let windows = WindowsNormalizer::builtin().expect("Windows tables");
    let mut doc = Doc::new();
    let _ = windows.normalize(WINDOWS_XML.as_bytes(), &ctx, &mut doc);
    let mut out = Vec::with_capacity(8192);
    let mut g = c.benchmark_group("serialize");
    out.clear();
    doc.write_json(&mut out);
    g.throughput(Throughput::Bytes(out.len() as u64));
    g.bench_function("windows_doc_ndjson", |b| {
        b.iter(|| {
            out.clear();
            black_box(&doc).write_json(&mut out);
        })
    });
    g.finish();
}

criterion_group!(benches, detection, normalization, serialization);
criterion_main!(benches);
