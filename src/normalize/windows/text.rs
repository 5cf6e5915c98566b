//! The classic text rendering of an event (Splunk's `WinEventLog`, `wevtutil qe /f:text`-like)
//! into [`WinEvent`]: a local time line, `Key=Value` header lines, then `Message=` and the
//! rendered message to the end of the record. The message's `Section:` / `\tLabel:\tValue`
//! lines are read back into the EventData names the XML of the same event has, so the tables
//! apply unchanged. Values borrow from the input; `-` means no value.

use std::borrow::Cow;

use chrono::NaiveDateTime;

use super::blank;
use crate::parse::winxml::WinEvent;

/// Display names Splunk writes for `SourceName`, and the provider names of the manifests.
const PROVIDERS: &[(&str, &str)] = &[(
    "Microsoft Windows security auditing.",
    "Microsoft-Windows-Security-Auditing",
)];

/// Which account a message section describes; decides the names of its account lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sec {
    /// Not in a section (a top-level `Label: value` line), or a section with no account rows.
    None,
    /// Rows that apply in every section.
    Any,
    Subject,
    /// The account that logged on or whose credentials were used (`TargetUserSid`).
    Target,
    /// The account acted upon (`TargetSid`).
    Account,
    Member,
    Group,
    /// 4673's `Service:`.
    Service,
}

const SECTIONS: &[(&str, Sec)] = &[
    ("Subject", Sec::Subject),
    ("Creator Subject", Sec::Subject),
    ("New Logon", Sec::Target),
    ("Account For Which Logon Failed", Sec::Target),
    ("Target Subject", Sec::Target),
    ("Account Whose Credentials Were Used", Sec::Target),
    ("New Account", Sec::Account),
    ("Target Account", Sec::Account),
    ("Account That Was Locked Out", Sec::Account),
    ("Account Information", Sec::Account),
    ("Member", Sec::Member),
    ("Group", Sec::Group),
    ("Service", Sec::Service),
];

/// (section, label, EventData name). Section rows come first so that they win over `Any`.
const LABELS: &[(Sec, &str, &str)] = &[
    (Sec::Subject, "Security ID", "SubjectUserSid"),
    (Sec::Subject, "Account Name", "SubjectUserName"),
    (Sec::Subject, "Account Domain", "SubjectDomainName"),
    (Sec::Subject, "Logon ID", "SubjectLogonId"),
    (Sec::Target, "Security ID", "TargetUserSid"),
    (Sec::Target, "Account Name", "TargetUserName"),
    (Sec::Target, "Account Domain", "TargetDomainName"),
    (Sec::Target, "Logon ID", "TargetLogonId"),
    (Sec::Target, "Linked Logon ID", "TargetLinkedLogonId"),
    (
        Sec::Target,
        "Network Account Name",
        "TargetOutboundUserName",
    ),
    (
        Sec::Target,
        "Network Account Domain",
        "TargetOutboundDomainName",
    ),
    (Sec::Account, "Security ID", "TargetSid"),
    (Sec::Account, "User ID", "TargetSid"),
    (Sec::Account, "Account Name", "TargetUserName"),
    (Sec::Account, "Account Domain", "TargetDomainName"),
    (Sec::Account, "Supplied Realm Name", "TargetDomainName"),
    (Sec::Member, "Security ID", "MemberSid"),
    (Sec::Member, "Account Name", "MemberName"),
    (Sec::Group, "Security ID", "TargetSid"),
    (Sec::Group, "Group Name", "TargetUserName"),
    (Sec::Group, "Group Domain", "TargetDomainName"),
    (Sec::Service, "Server", "ObjectServer"),
    (Sec::Service, "Service Name", "Service"),
    // Logon.
    (Sec::Any, "Logon Type", "LogonType"),
    (Sec::Any, "Restricted Admin Mode", "RestrictedAdminMode"),
    (Sec::Any, "Virtual Account", "VirtualAccount"),
    (Sec::Any, "Elevated Token", "ElevatedToken"),
    (Sec::Any, "Impersonation Level", "ImpersonationLevel"),
    (Sec::Any, "Logon GUID", "LogonGuid"),
    (Sec::Any, "Logon Process", "LogonProcessName"),
    (
        Sec::Any,
        "Authentication Package",
        "AuthenticationPackageName",
    ),
    (Sec::Any, "Transited Services", "TransmittedServices"),
    (Sec::Any, "Package Name (NTLM only)", "LmPackageName"),
    (Sec::Any, "Key Length", "KeyLength"),
    (Sec::Any, "Failure Reason", "FailureReason"),
    (Sec::Any, "Status", "Status"),
    (Sec::Any, "Sub Status", "SubStatus"),
    (Sec::Any, "Logon Account", "TargetUserName"),
    (Sec::Any, "Source Workstation", "Workstation"),
    (Sec::Any, "Error Code", "Status"),
    (Sec::Any, "Caller Computer Name", "TargetDomainName"),
    (Sec::Any, "Target Server Name", "TargetServerName"),
    (Sec::Any, "Additional Information", "TargetInfo"),
    // Network.
    (Sec::Any, "Workstation Name", "WorkstationName"),
    (Sec::Any, "Source Network Address", "IpAddress"),
    (Sec::Any, "Source Port", "IpPort"),
    (Sec::Any, "Network Address", "IpAddress"),
    (Sec::Any, "Port", "IpPort"),
    (Sec::Any, "Client Address", "IpAddress"),
    (Sec::Any, "Client Port", "IpPort"),
    // Kerberos.
    (Sec::Any, "Service Name", "ServiceName"),
    (Sec::Any, "Service ID", "ServiceSid"),
    (Sec::Any, "Ticket Options", "TicketOptions"),
    (Sec::Any, "Ticket Encryption Type", "TicketEncryptionType"),
    (Sec::Any, "Pre-Authentication Type", "PreAuthType"),
    (Sec::Any, "Result Code", "Status"),
    (Sec::Any, "Failure Code", "Status"),
    // Processes.
    (Sec::Any, "Process ID", "ProcessId"),
    (Sec::Any, "Process Name", "ProcessName"),
    (Sec::Any, "Caller Process ID", "ProcessId"),
    (Sec::Any, "Caller Process Name", "ProcessName"),
    (Sec::Any, "New Process ID", "NewProcessId"),
    (Sec::Any, "New Process Name", "NewProcessName"),
    (Sec::Any, "Creator Process ID", "ProcessId"),
    (Sec::Any, "Creator Process Name", "ParentProcessName"),
    (Sec::Any, "Process Command Line", "CommandLine"),
    (Sec::Any, "Token Elevation Type", "TokenElevationType"),
    (Sec::Any, "Mandatory Label", "MandatoryLabel"),
    (Sec::Any, "Exit Status", "Status"),
    // Objects and privileges.
    (Sec::Any, "Object Server", "ObjectServer"),
    (Sec::Any, "Object Type", "ObjectType"),
    (Sec::Any, "Object Name", "ObjectName"),
    (Sec::Any, "Handle ID", "HandleId"),
    (Sec::Any, "Resource Attributes", "ResourceAttributes"),
    (Sec::Any, "Transaction ID", "TransactionId"),
    (Sec::Any, "Accesses", "AccessList"),
    (Sec::Any, "Access Mask", "AccessMask"),
    (
        Sec::Any,
        "Privileges Used for Access Check",
        "PrivilegeList",
    ),
    (Sec::Any, "Properties", "Properties"),
    (Sec::Any, "Restricted SID Count", "RestrictedSidCount"),
    (Sec::Any, "Privileges", "PrivilegeList"),
    // Services and scheduled tasks.
    (Sec::Any, "Service File Name", "ImagePath"),
    (Sec::Any, "Service Type", "ServiceType"),
    (Sec::Any, "Service Start Type", "StartType"),
    (Sec::Any, "Service Account", "ServiceAccount"),
    (Sec::Any, "Task Name", "TaskName"),
];

/// Well-known accounts the rendering shows by name where the XML has the SID.
const WELL_KNOWN_SIDS: &[(&str, &str)] = &[
    ("NULL SID", "S-1-0-0"),
    ("Everyone", "S-1-1-0"),
    ("ANONYMOUS LOGON", "S-1-5-7"),
    ("NT AUTHORITY\\ANONYMOUS LOGON", "S-1-5-7"),
    ("SYSTEM", "S-1-5-18"),
    ("NT AUTHORITY\\SYSTEM", "S-1-5-18"),
    ("LOCAL SERVICE", "S-1-5-19"),
    ("NT AUTHORITY\\LOCAL SERVICE", "S-1-5-19"),
    ("NETWORK SERVICE", "S-1-5-20"),
    ("NT AUTHORITY\\NETWORK SERVICE", "S-1-5-20"),
];

/// The first line's time: US `MM/DD/YYYY hh:mm:ss AM`, without a zone.
fn parse_time(line: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(line.trim(), "%m/%d/%Y %I:%M:%S %p").ok()
}

/// Lines with their byte offsets, without the line break (`\n` or `\r\n`).
fn lines(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.split_inclusive('\n').scan(0, |pos, l| {
        let start = *pos;
        *pos += l.len();
        let l = l.strip_suffix('\n').unwrap_or(l);
        Some((start, l.strip_suffix('\r').unwrap_or(l)))
    })
}

/// True for a time line followed by `LogName=` or `EventCode=` header lines.
pub(crate) fn looks_like(t: &str) -> bool {
    let mut it = lines(t).map(|(_, l)| l);
    it.next().and_then(parse_time).is_some()
        && it
            .take_while(|l| !l.starts_with("Message="))
            .any(|l| l.starts_with("LogName=") || l.starts_with("EventCode="))
}

/// Reads one record into `ev`; what was read stays in `ev` when a required line is missing.
pub(crate) fn parse<'a>(text: &'a str, ev: &mut WinEvent<'a>) -> Result<(), &'static str> {
    let mut message = None;
    let mut level_or_audit = None;
    for (i, (start, line)) in lines(text).enumerate() {
        if i == 0 {
            if let Some(t) = parse_time(line) {
                ev.timestamp = Some(Cow::Owned(t.format("%Y-%m-%dT%H:%M:%S").to_string()));
                ev.time_is_local = true;
                continue;
            }
        }
        if line.starts_with("Message=") {
            message = Some(&text[start + "Message=".len()..]);
            break;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let slot = match k.trim() {
            "LogName" => &mut ev.channel,
            "SourceName" => {
                let p = PROVIDERS
                    .iter()
                    .find(|(shown, _)| shown.eq_ignore_ascii_case(v))
                    .map_or(v, |(_, name)| name);
                ev.provider_name = Some(Cow::Borrowed(p));
                continue;
            }
            "EventCode" => &mut ev.event_id,
            "ComputerName" => &mut ev.computer,
            "RecordNumber" => &mut ev.record_id,
            "TaskCategory" if !v.eq_ignore_ascii_case("None") => &mut ev.task_name,
            "OpCode" => &mut ev.opcode_name,
            "Sid" if v.starts_with("S-") => &mut ev.user_id,
            "Keywords" => {
                ev.keyword_names.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(Cow::Borrowed),
                );
                continue;
            }
            "Type" => {
                level_or_audit = Some(v);
                continue;
            }
            _ => continue,
        };
        *slot = Some(Cow::Borrowed(v));
    }
    // Older renderings put the audit result in `Type`.
    if let Some(t) = level_or_audit {
        if t.eq_ignore_ascii_case("Audit Success") || t.eq_ignore_ascii_case("Audit Failure") {
            if ev.keyword_names.is_empty() {
                ev.keyword_names.push(Cow::Borrowed(t));
            }
        } else {
            ev.level_name = Some(Cow::Borrowed(t));
        }
    }
    if let Some(m) = message.map(str::trim_end).filter(|m| !m.trim().is_empty()) {
        ev.message = Some(Cow::Borrowed(m));
        message_items(m, &mut ev.event_data);
    }
    match (ev.channel.is_some(), ev.event_id.is_some()) {
        (true, true) => Ok(()),
        (false, _) => Err("windows text: no LogName line"),
        (true, false) => Err("windows text: no EventCode line"),
    }
}

/// `Label:` then whitespace or the line's end; the label is the text before it.
fn split_label(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    let i = b
        .iter()
        .enumerate()
        .position(|(i, &c)| c == b':' && b.get(i + 1).is_none_or(|n| n.is_ascii_whitespace()))?;
    let label = line[..i].trim();
    (!label.is_empty()).then(|| (label, &line[i + 1..]))
}

fn section(name: &str) -> Sec {
    SECTIONS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map_or(Sec::None, |&(_, s)| s)
}

fn item_name(sec: Sec, label: &str) -> Option<&'static str> {
    LABELS
        .iter()
        .find(|(s, l, _)| (*s == sec || *s == Sec::Any) && l.eq_ignore_ascii_case(label))
        .map(|&(_, _, name)| name)
}

/// An item being read: its name and the byte range of its value in the message.
struct Open {
    name: &'static str,
    start: usize,
    end: usize,
}

/// Adds a finished item, unless it has no value. Account names shown for well-known SIDs
/// become the SIDs.
fn flush<'a>(msg: &'a str, open: Option<Open>, out: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>) {
    let Some(o) = open else { return };
    let Some(v) = msg.get(o.start..o.end).filter(|v| !blank(v)) else {
        return;
    };
    let v = if o.name.ends_with("Sid") {
        WELL_KNOWN_SIDS
            .iter()
            .find(|(shown, _)| shown.eq_ignore_ascii_case(v.trim()))
            .map_or(v, |(_, sid)| sid)
    } else {
        v
    };
    out.push((Cow::Borrowed(o.name), Cow::Borrowed(v)));
}

/// The message's `Label: value` lines as EventData items. A section starts at an unindented
/// `Name:` line; an unindented `Label: value` line is outside any section; indented lines
/// without a label continue the previous value (privilege and access lists).
fn message_items<'a>(msg: &'a str, out: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>) {
    let mut sec = Sec::None;
    let mut open: Option<Open> = None;
    for (start, line) in lines(msg).skip(1) {
        if line.trim().is_empty() {
            flush(msg, open.take(), out);
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        let Some((label, value)) = split_label(line) else {
            match open.as_mut() {
                Some(o) if indented => {
                    let body = line.trim();
                    let at = start + (line.len() - line.trim_start().len());
                    if o.start == o.end {
                        o.start = at;
                    }
                    o.end = at + body.len();
                }
                _ => {
                    // Prose: the explanation after the fields.
                    flush(msg, open.take(), out);
                    sec = Sec::None;
                }
            }
            continue;
        };
        flush(msg, open.take(), out);
        let value_trimmed = value.trim_start();
        if !indented {
            if value_trimmed.is_empty() {
                sec = section(label);
                continue;
            }
            sec = Sec::None;
        }
        if let Some(name) = item_name(sec, label) {
            let at = start + (line.len() - value_trimmed.len());
            open = Some(Open {
                name,
                start: at,
                end: start + line.len(),
            });
        }
    }
    flush(msg, open, out);
}
