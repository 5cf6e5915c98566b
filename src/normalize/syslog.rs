//! Syslog → ECS: the header layer (`log.syslog.*`, host, process, `@timestamp`) and, for Linux
//! authentication daemons, the meaning Elastic's `system.auth` pipeline extracts (sshd, sudo, PAM,
//! su, useradd/groupadd and friends), with the same field names and values where Elastic has them.

use std::net::IpAddr;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use crate::doc::{lit, Doc, Related, Text, Value};
use crate::ip;
use crate::normalize::{Context, ParseFailure};
use crate::parse::syslog::{parse, parse_line, SdElement, Syslog};
use crate::text::{cut, trim};

const FACILITY: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// Elastic's syslog reader (and the ECS example) capitalize severity names.
const SEVERITY: [&str; 8] = [
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
];

/// Programs whose messages belong in `system.auth` even when nothing specific is extracted.
const AUTH_PROGRAMS: &[&str] = &[
    "sshd",
    "sshd-session",
    "sshd-auth",
    "sudo",
    "su",
    "login",
    "passwd",
    "chpasswd",
    "chage",
    "gpasswd",
    "useradd",
    "userdel",
    "usermod",
    "groupadd",
    "groupdel",
    "groupmod",
    "unix_chkpwd",
    "systemd-logind",
    "polkitd",
    "pkexec",
];

/// Writes the syslog layer: log.syslog.{priority,facility.{code,name},severity.{code,name},hostname,
/// appname,procid,msgid,version,structured_data}, host.hostname, process.name, process.pid (when
/// numeric), and @timestamp from the header (when present). Used alone when the payload is another
/// source (PAN-OS/Windows inside syslog).
pub fn apply_header(s: &Syslog<'_>, ctx: &Context, doc: &mut Doc) {
    if let Some(t) = s.timestamp.and_then(|t| t.resolve(ctx)) {
        doc.insert("@timestamp", t);
    }
    if let Some(p) = s.priority {
        let (fac, sev) = (p >> 3, p & 7);
        doc.insert("log.syslog.priority", p);
        doc.insert("log.syslog.facility.code", fac);
        doc.insert_opt(
            "log.syslog.facility.name",
            FACILITY.get(usize::from(fac)).copied(),
        );
        doc.insert("log.syslog.severity.code", sev);
        doc.insert_opt(
            "log.syslog.severity.name",
            SEVERITY.get(usize::from(sev)).copied(),
        );
    }
    if let Some(v) = s.version {
        let mut buf = itoa::Buffer::new();
        doc.insert("log.syslog.version", buf.format(v));
    }
    if let Some(h) = s.hostname {
        doc.insert("log.syslog.hostname", h);
        doc.insert("host.hostname", h);
        doc.add_related(Related::Hosts, h);
    }
    if let Some(a) = s.appname {
        doc.insert("log.syslog.appname", a);
        doc.insert("process.name", a);
    }
    if let Some(p) = s.procid {
        doc.insert("log.syslog.procid", p);
        if let Some(pid) = parse_pid(p) {
            doc.insert("process.pid", pid);
        }
    }
    doc.insert_opt("log.syslog.msgid", s.msgid);
    if !s.structured_data.is_empty() {
        doc.insert(
            "log.syslog.structured_data",
            structured_data(&s.structured_data),
        );
    }
}

/// Full normalization of a syslog record: parse, then [`normalize_parsed`].
pub fn normalize(raw: &[u8], ctx: &Context, doc: &mut Doc) -> Result<(), ParseFailure> {
    let s = parse(raw)?;
    normalize_parsed(&s, ctx, doc);
    Ok(())
}

/// [`normalize`] of a record whose text is known (`text`: `raw` as text, when it is valid UTF-8).
pub fn normalize_line(
    raw: &[u8],
    text: Option<&str>,
    ctx: &Context,
    doc: &mut Doc,
) -> Result<(), ParseFailure> {
    let s = parse_line(raw, text)?;
    normalize_parsed(&s, ctx, doc);
    Ok(())
}

/// Same as [`normalize`] from an already-parsed header (the pipeline parses once for detection):
/// header, `message`, `event.{kind,module,dataset}` and the auth-daemon meaning.
pub fn normalize_parsed(s: &Syslog<'_>, ctx: &Context, doc: &mut Doc) {
    apply_header(s, ctx, doc);
    doc.insert("event.kind", lit!("event"));
    doc.insert("event.module", lit!("system"));
    let text = s
        .msg_text
        .map_or_else(|| crate::doc::lossy(s.msg), std::borrow::Cow::Borrowed);
    let msg = trim(&text);
    if !msg.is_empty() {
        doc.insert("message", msg);
    }
    let program = s.appname.map(base_program);
    let by_facility = matches!(s.facility(), Some(4 | 10));
    let by_program = program.is_some_and(|p| AUTH_PROGRAMS.contains(&p));
    let mut f = Found::default();
    auth::extract(program, msg, by_facility || by_program, &mut f, doc);
    let auth = f.matched || by_facility || by_program;
    f.write(doc);
    doc.insert(
        "event.dataset",
        if auth {
            lit!("system.auth")
        } else {
            lit!("system.syslog")
        },
    );
}

fn parse_pid(p: &str) -> Option<i64> {
    if p.is_empty() || p.len() > 18 || !p.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

/// SD-ID → {param: value}; a repeated SD-ID (not allowed by RFC 5424, but sent) is merged.
fn structured_data(sd: &[SdElement<'_>]) -> Value {
    let mut out: Vec<(Text, Value)> = Vec::with_capacity(sd.len());
    for e in sd {
        let params = e
            .params
            .iter()
            .map(|p| (Text::new(p.name), Value::from(p.value.as_ref())));
        match out.iter_mut().find(|(id, _)| id == e.id) {
            Some((_, Value::Object(existing))) => {
                for (k, v) in params {
                    match existing.iter_mut().find(|(ek, _)| *ek == k) {
                        Some((_, ev)) => *ev = v,
                        None => existing.push((k, v)),
                    }
                }
            }
            _ => out.push((Text::new(e.id), Value::Object(params.collect()))),
        }
    }
    Value::Object(out)
}

/// `sshd(pam_unix)` (old PAM tags) → `sshd`, for matching program names.
fn base_program(tag: &str) -> &str {
    cut(tag, b'(').map_or(tag, |(b, _)| b)
}

/// What the message says, collected first so users, source and `related.*` are written once.
#[derive(Default)]
struct Found<'m> {
    matched: bool,
    action: Option<&'static str>,
    category: &'static [&'static str],
    kind: &'static [&'static str],
    outcome: Option<&'static str>,
    user: Option<&'m str>,
    user_id: Option<&'m str>,
    effective: Option<&'m str>,
    effective_id: Option<&'m str>,
    target: Option<&'m str>,
    group: Option<&'m str>,
    group_id: Option<&'m str>,
    source: Option<&'m str>,
    port: Option<u16>,
}

impl<'m> Found<'m> {
    fn event(
        &mut self,
        action: Option<&'static str>,
        category: &'static [&'static str],
        kind: &'static [&'static str],
        outcome: Option<&'static str>,
    ) {
        self.matched = true;
        self.action = action.or(self.action);
        self.category = category;
        self.kind = kind;
        self.outcome = outcome.or(self.outcome);
    }

    fn write(self, doc: &mut Doc) {
        doc.insert_opt("event.action", self.action);
        for (key, list) in [("event.category", self.category), ("event.type", self.kind)] {
            if !list.is_empty() {
                doc.insert_strs(key, list);
            }
        }
        doc.insert_opt("event.outcome", self.outcome);
        for (key, v) in [
            ("user.name", self.user),
            ("user.effective.name", self.effective),
            ("user.target.name", self.target),
        ] {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                doc.insert(key, v);
                doc.add_related(Related::User, v);
            }
        }
        doc.insert_opt("user.id", self.user_id);
        doc.insert_opt("user.effective.id", self.effective_id);
        doc.insert_opt("group.name", self.group);
        doc.insert_opt("group.id", self.group_id);
        if let Some(src) = self.source.filter(|s| !s.is_empty()) {
            doc.insert("source.address", src);
            if let Some(ip) = as_ip(src) {
                doc.insert("source.ip", ip);
                doc.add_related(Related::Ip, ip);
            } else {
                doc.insert("source.domain", src);
                doc.add_related(Related::Hosts, src);
            }
            doc.insert_opt("source.port", self.port);
        }
    }
}

/// The text as an IP address (brackets and an IPv6 zone tolerated), with its parsed value.
fn parse_ip(s: &str) -> Option<(&str, IpAddr)> {
    let s = s.trim_start_matches('[').trim_end_matches(']');
    let bare = cut(s, b'%').map_or(s, |(a, _)| a);
    ip::parse_ip(bare).map(|a| (s, a))
}

fn as_ip(s: &str) -> Option<&str> {
    parse_ip(s).map(|(s, _)| s)
}

/// Cheap pre-check before parsing: an address token starts (after `[`/`(`) with a digit, or with a
/// hex letter or `:` when it has a colon (IPv6); `rhost=` is a prefix we strip.
fn may_start_ip(t: &str) -> bool {
    let b = t.as_bytes();
    let first = b
        .iter()
        .find(|&&c| c != b'[' && c != b'(')
        .copied()
        .unwrap_or(b' ');
    first.is_ascii_digit()
        || ((first.is_ascii_hexdigit() || first == b':') && b.contains(&b':'))
        || t.starts_with("rhost=")
}

/// An address that can be a peer: `Server listening on 0.0.0.0 port 22` names none.
fn peer_ip(s: &str) -> bool {
    parse_ip(s).is_some_and(|(_, a)| !a.is_unspecified())
}

fn port(s: &str) -> Option<u16> {
    let end = s.bytes().take_while(u8::is_ascii_digit).count();
    s.get(..end)?.parse().ok()
}

fn unquote(s: &str) -> &str {
    s.trim_matches(|c| c == '\'' || c == '"')
}

/// One whitespace-free token, or `None` (guards against grabbing a sentence as a name).
fn token(s: &str) -> Option<&str> {
    let s = trim(s);
    (!s.is_empty() && !s.contains(char::is_whitespace)).then_some(s)
}

/// A substring searcher built once per call site: building one per search cost more than the search.
macro_rules! pat {
    ($s:literal) => {{
        static P: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new($s));
        &*P
    }};
}

fn has(hay: &str, p: &Finder<'_>) -> bool {
    p.find(hay.as_bytes()).is_some()
}

/// Like `str::split_once` with a prebuilt searcher.
fn split<'m>(hay: &'m str, p: &Finder<'_>) -> Option<(&'m str, &'m str)> {
    let k = p.find(hay.as_bytes())?;
    Some((hay.get(..k)?, hay.get(k + p.needle().len()..)?))
}

mod auth;

#[cfg(test)]
mod tests;
