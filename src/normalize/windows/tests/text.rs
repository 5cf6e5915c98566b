//! The `LogName=` text rendering: same meaning as the XML of the same event, and bad input.

use super::*;

/// The text rendering (Splunk `WinEventLog`) of the `LOGON_DATA` event.
const TEXT_4624: &str = "03/11/2024 10:41:07 AM
LogName=Security
SourceName=Microsoft Windows security auditing.
EventCode=4624
EventType=0
Type=Information
ComputerName=ws042.ad.contoso.test
TaskCategory=Logon
OpCode=Info
RecordNumber=5501
Keywords=Audit Success
Message=An account was successfully logged on.

Subject:
\tSecurity ID:\t\tNT AUTHORITY\\SYSTEM
\tAccount Name:\t\tWS042$
\tAccount Domain:\t\tCONTOSO
\tLogon ID:\t\t0x3E7

Logon Information:
\tLogon Type:\t\t10
\tRestricted Admin Mode:\t-
\tVirtual Account:\t\tNo
\tElevated Token:\t\tYes

Impersonation Level:\t\tImpersonation

New Logon:
\tSecurity ID:\t\tS-1-5-21-1004336348-1177238915-682003330-1119
\tAccount Name:\t\tm.rossi
\tAccount Domain:\t\tCONTOSO
\tLogon ID:\t\t0x5C2A1F
\tLinked Logon ID:\t\t0x0
\tNetwork Account Name:\t-
\tNetwork Account Domain:\t-
\tLogon GUID:\t\t{a1b2c3d4-0000-0000-0000-000000000000}

Process Information:
\tProcess ID:\t\t0x2a4
\tProcess Name:\t\tC:\\Windows\\System32\\svchost.exe

Network Information:
\tWorkstation Name:\tWS042
\tSource Network Address:\t::ffff:198.51.100.23
\tSource Port:\t\t50112

Detailed Authentication Information:
\tLogon Process:\t\tUser32 
\tAuthentication Package:\tNegotiate
\tTransited Services:\t-
\tPackage Name (NTLM only):\t-
\tKey Length:\t\t0

This event is generated when a logon session is created. It is generated on the computer that was accessed.

The network fields indicate where a remote logon request originated.";

#[test]
fn text_rendering_4624_means_what_the_xml_means() {
    let text = ok(TEXT_4624);
    let xml = ok(&event_xml(
        &security_system(4624, "0x8020000000000000", 5501),
        &data(LOGON_DATA),
    ));
    same_key_fields(&xml, &text, "text rendering");
    // Zone-less local time, read in the configured zone (Berlin, UTC+1 in March).
    assert_eq!(at(&text, "@timestamp"), "2024-03-11T10:41:07+01:00");
    assert_eq!(at(&text, "winlog.channel"), "Security");
    assert_eq!(at(&text, "winlog.event_id"), "4624");
    assert_eq!(at(&text, "event.code"), "4624");
    assert_eq!(at(&text, "winlog.record_id"), "5501");
    assert_eq!(at(&text, "host.name"), "ws042.ad.contoso.test");
    assert_eq!(at(&text, "user.name"), "m.rossi");
    assert_eq!(at(&text, "user.domain"), "CONTOSO");
    assert_eq!(at(&text, "source.ip"), "198.51.100.23");
    assert_eq!(at(&text, "source.port"), 50112);
    assert_eq!(at(&text, "source.domain"), "WS042");
    assert_eq!(at(&text, "event.outcome"), "success");
    assert_eq!(at(&text, "event.category"), &json!(["authentication"]));
    assert_eq!(at(&text, "event.type"), &json!(["start"]));
    assert_eq!(
        at(&text, "event.provider"),
        "Microsoft-Windows-Security-Auditing"
    );
    assert_eq!(at(&text, "winlog.keywords"), &json!(["Audit Success"]));
    assert_eq!(at(&text, "winlog.task"), "Logon");
    assert_eq!(at(&text, "winlog.opcode"), "Info");
    assert_eq!(at(&text, "log.level"), "information");
    assert_eq!(at(&text, "winlog.logon.id"), "0x3E7");
    assert_eq!(
        at(&text, "process.executable"),
        at(&xml, "process.executable")
    );
    let ed = &text["winlog"]["event_data"];
    // Well-known accounts shown by name get their SID back; `-` is no value.
    assert_eq!(ed["SubjectUserSid"], "S-1-5-18");
    assert_eq!(ed["LogonProcessName"], "User32 ");
    assert_eq!(ed["ImpersonationLevel"], "Impersonation");
    assert!(ed.get("RestrictedAdminMode").is_none());
    assert!(ed.get("TransmittedServices").is_none());
    let msg = at(&text, "message").as_str().unwrap();
    assert!(msg.starts_with("An account was successfully logged on.\n\nSubject:"));
    assert!(msg.ends_with("remote logon request originated."));
}

#[test]
fn text_rendering_4625_failure_with_crlf() {
    let raw = "10/08/2020 12:41:47 PM
LogName=Security
SourceName=Microsoft Windows security auditing.
EventCode=4625
EventType=0
Type=Information
ComputerName=FS01
TaskCategory=Logon
OpCode=Info
RecordNumber=77
Keywords=Audit Failure
Message=An account failed to log on.

Subject:
\tSecurity ID:\t\tNULL SID
\tAccount Name:\t\t-
\tAccount Domain:\t\t-
\tLogon ID:\t\t0x0

Logon Type:\t\t\t3

Account For Which Logon Failed:
\tSecurity ID:\t\tNULL SID
\tAccount Name:\t\tj.smith
\tAccount Domain:\t\tCORP

Failure Information:
\tFailure Reason:\t\tUnknown user name or bad password.
\tStatus:\t\t\t0xC000006D
\tSub Status:\t\t0xC000006A

Process Information:
\tCaller Process ID:\t0x0
\tCaller Process Name:\t-

Network Information:
\tWorkstation Name:\tKALI
\tSource Network Address:\t203.0.113.50
\tSource Port:\t\t51234

Detailed Authentication Information:
\tLogon Process:\t\tNtLmSsp 
\tAuthentication Package:\tNTLM
\tTransited Services:\t-
\tPackage Name (NTLM only):\t-
\tKey Length:\t\t0

This event is generated when a logon request fails."
        .replace('\n', "\r\n");
    let j = ok(&raw);
    assert_eq!(at(&j, "@timestamp"), "2020-10-08T12:41:47+02:00");
    assert_eq!(at(&j, "winlog.channel"), "Security");
    assert_eq!(at(&j, "winlog.event_id"), "4625");
    assert_eq!(at(&j, "event.code"), "4625");
    assert_eq!(at(&j, "winlog.record_id"), "77");
    assert_eq!(at(&j, "host.name"), "FS01");
    assert_eq!(at(&j, "event.action"), "logon-failed");
    assert_eq!(at(&j, "event.outcome"), "failure");
    assert_eq!(at(&j, "event.category"), &json!(["authentication"]));
    assert_eq!(at(&j, "event.type"), &json!(["start"]));
    assert_eq!(at(&j, "winlog.keywords"), &json!(["Audit Failure"]));
    assert_eq!(at(&j, "user.name"), "j.smith");
    assert_eq!(at(&j, "user.domain"), "CORP");
    assert_eq!(at(&j, "user.id"), "S-1-0-0");
    assert_eq!(at(&j, "source.ip"), "203.0.113.50");
    assert_eq!(at(&j, "source.port"), 51234);
    assert_eq!(at(&j, "source.domain"), "KALI");
    assert_eq!(at(&j, "winlog.logon.type"), "Network");
    assert_eq!(
        at(&j, "winlog.logon.failure.sub_status"),
        "User logon with misspelled or bad password"
    );
    assert_eq!(at(&j, "process.pid"), 0);
    assert_eq!(at(&j, "process.name"), &J::Null);
    assert_eq!(set(&j, "related.user"), ["j.smith"]);
    assert_eq!(set(&j, "related.ip"), ["203.0.113.50"]);
    assert_eq!(j["winlog"]["event_data"]["LogonProcessName"], "NtLmSsp ");
    assert!(at(&j, "message")
        .as_str()
        .unwrap()
        .starts_with("An account failed to log on.\r\n\r\nSubject:"));
}

#[test]
fn text_rendering_4688_command_line() {
    let raw = "03/12/2024 03:07:55 PM
LogName=Security
SourceName=Microsoft Windows security auditing.
EventCode=4688
EventType=0
Type=Information
ComputerName=ws042.ad.contoso.test
TaskCategory=Process Creation
OpCode=Info
RecordNumber=9
Keywords=Audit Success
Message=A new process has been created.

Creator Subject:
\tSecurity ID:\t\tCONTOSO\\m.rossi
\tAccount Name:\t\tm.rossi
\tAccount Domain:\t\tCONTOSO
\tLogon ID:\t\t0x5C2A1F

Target Subject:
\tSecurity ID:\t\tNULL SID
\tAccount Name:\t\t-
\tAccount Domain:\t\t-
\tLogon ID:\t\t0x0

Process Information:
\tNew Process ID:\t\t0x1f44
\tNew Process Name:\tC:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe
\tToken Elevation Type:\t%%1938
\tMandatory Label:\t\tMandatory Label\\Medium Mandatory Level
\tCreator Process ID:\t0x12d8
\tCreator Process Name:\tC:\\Windows\\explorer.exe
\tProcess Command Line:\tpowershell.exe -NoP -w hidden -c \"Get-Process | Out-File C:\\Temp\\p.txt\"

Token Elevation Type indicates the type of token that was assigned to the new process.

Type 1 is a full token with no privileges removed or groups disabled.";
    let j = ok(raw);
    assert_eq!(at(&j, "@timestamp"), "2024-03-12T15:07:55+01:00");
    assert_eq!(at(&j, "event.action"), "created-process");
    assert_eq!(at(&j, "event.category"), &json!(["process"]));
    assert_eq!(at(&j, "event.type"), &json!(["start"]));
    assert_eq!(at(&j, "event.outcome"), "success");
    assert_eq!(at(&j, "winlog.task"), "Process Creation");
    assert_eq!(at(&j, "process.pid"), 8004);
    assert_eq!(at(&j, "process.name"), "powershell.exe");
    assert_eq!(
        at(&j, "process.executable"),
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    );
    assert_eq!(
        at(&j, "process.command_line"),
        "powershell.exe -NoP -w hidden -c \"Get-Process | Out-File C:\\Temp\\p.txt\""
    );
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
    assert_eq!(at(&j, "process.parent.pid"), 4824);
    assert_eq!(at(&j, "process.parent.name"), "explorer.exe");
    assert_eq!(at(&j, "user.name"), "m.rossi");
    assert_eq!(at(&j, "user.domain"), "CONTOSO");
    // The rendering names the account where the XML has its SID; only well-known ones map back.
    assert_eq!(at(&j, "user.id"), "CONTOSO\\m.rossi");
    assert_eq!(at(&j, "user.effective"), &json!({"id": "S-1-0-0"}));
    assert_eq!(at(&j, "winlog.logon.id"), "0x5C2A1F");
    assert_eq!(set(&j, "related.user"), ["m.rossi"]);
}

#[test]
fn text_rendering_space_indents_and_continued_values() {
    // Some exports indent with spaces, write `Subject :`, and continue lists on indented lines.
    let raw = "01/28/2022 04:12:19 PM
LogName=Security
EventCode=4672
ComputerName=dc1.corp.test
SourceName=Microsoft Windows security auditing.
RecordNumber=374060
Keywords=Audit Success
TaskCategory=Special Logon
Message=Special privileges assigned to new logon.
Subject :
    Security ID:        SYSTEM
    Account Name:       DC1$
    Account Domain:     CORP
    Logon ID:       0x3e7

Privileges:\t\tSeAssignPrimaryTokenPrivilege
\t\t\tSeTcbPrivilege
\t\t\tSeSecurityPrivilege";
    let j = ok(raw);
    assert_eq!(at(&j, "event.action"), "logged-in-special");
    assert_eq!(at(&j, "user.name"), "DC1$");
    assert_eq!(at(&j, "user.domain"), "CORP");
    assert_eq!(at(&j, "user.id"), "S-1-5-18");
    assert_eq!(at(&j, "winlog.logon.id"), "0x3e7");
    assert_eq!(
        j["winlog"]["event_data"]["PrivilegeList"],
        "SeAssignPrimaryTokenPrivilege\n\t\t\tSeTcbPrivilege\n\t\t\tSeSecurityPrivilege"
    );
    // Without a `Type=` line there is no level; the record is still complete.
    assert_eq!(at(&j, "log.level"), &J::Null);
}

#[test]
fn text_rendering_bad_input_fails_without_panicking() {
    let n = WindowsNormalizer::builtin().unwrap();
    // Every prefix of a record: no panic, and a failure until the EventCode line has a value.
    let code_start = TEXT_4624.find("EventCode=").unwrap() + "EventCode=".len();
    for (i, _) in TEXT_4624.char_indices() {
        let (r, j) = run(&n, &TEXT_4624[..i]);
        if i <= code_start {
            assert!(r.is_err(), "prefix {i}");
        }
        assert_eq!(at(&j, "event.module"), "windows");
    }
    let (r, j) = run(
        &n,
        "03/11/2024 10:41:07 AM\nLogName=Security\nComputerName=h1\n",
    );
    assert!(r.unwrap_err().0.contains("EventCode"));
    assert_eq!(at(&j, "winlog.channel"), "Security");
    assert_eq!(at(&j, "host.name"), "h1");
    let (r, j) = run(
        &n,
        "03/11/2024 10:41:07 AM\nEventCode=4624\nKeywords=Audit Success\n",
    );
    assert!(r.unwrap_err().0.contains("LogName"));
    assert_eq!(at(&j, "event.code"), "4624");
    assert_eq!(at(&j, "event.outcome"), "success");

    let cases: &[&[u8]] = &[
        b"03/11/2024 10:41:07 AM",
        b"03/11/2024 10:41:07 AM\n",
        b"03/11/2024 10:41:07 AM\nLogName=",
        b"03/11/2024 10:41:07 AM\nLogName=\nEventCode=\nMessage=",
        b"03/11/2024 10:41:07 AM\nEventCode=x\nMessage=\n:\n\t:\n::\t\n\t:\t\n\tSecurity ID:\n\t\t\t\n",
        b"03/11/2024 10:41:07 AM\nLogName=Security\nEventCode=4624\nMessage=m\nSubject:\n\tSecurity ID:\n\t\tx\n\t\xff\xfe:\t\xc3\n",
        b"13/45/2024 99:99:99 XM\nLogName=Security\nEventCode=4624\n",
        b"LogName=Security\nEventCode=4624\n",
        b"\xff\xfe\xfd\n=\n==\n",
        b"03/11/2024 10:41:07 AM\r\n\r\nLogName=Security\r\nEventCode=99999999999999999999\r\nMessage=\r\n",
    ];
    for raw in cases {
        let mut doc = Doc::new();
        let r = n.normalize(raw, &ctx(), &mut doc);
        let has_both = raw.windows(12).any(|w| w == b"\nLogName=Sec")
            && raw.windows(11).any(|w| w.starts_with(b"\nEventCode="));
        if !has_both {
            assert!(r.is_err(), "{}", String::from_utf8_lossy(raw));
        }
        let mut out = Vec::new();
        doc.write_json(&mut out);
        assert!(serde_json::from_slice::<J>(&out).is_ok());
    }
}
