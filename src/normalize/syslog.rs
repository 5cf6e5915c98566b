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
use crate::text::trim;

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
    extract(program, msg, by_facility || by_program, &mut f, doc);
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

/// `str::split_once` at an ASCII byte, by a plain loop: what is split here is a few words long,
/// where the generic character searcher's setup cost more than the scan.
fn cut(s: &str, b: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|c| c == b)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
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

fn extract<'m>(
    program: Option<&str>,
    msg: &'m str,
    auth_source: bool,
    f: &mut Found<'m>,
    doc: &mut Doc,
) {
    if msg.is_empty() {
        return;
    }
    // rsyslog's `message repeated 3 times: [ <original> ]` carries the original line.
    let msg = msg
        .strip_prefix("message repeated ")
        .and_then(|r| split(r, pat!(" times: [ ")))
        .map_or(msg, |(_, inner)| inner.trim_end_matches(']').trim_end());
    let prog = program.unwrap_or("");
    // sshd, sshd-session (OpenSSH 9.8+), or a line without a tag.
    let is_sshd = prog.starts_with("sshd");
    if ((is_sshd || prog.is_empty()) && ssh_login(msg, f, doc))
        || sudo(msg, f, doc)
        || new_account(msg, f, doc)
    {
        account_management(prog, msg, f);
        return;
    }
    if is_sshd {
        ssh_other(msg, f, doc);
    }
    match prog {
        "su" => su(msg, f),
        "gpasswd" => gpasswd(msg, f),
        _ => {}
    }
    account_management(prog, msg, f);
    let pam_like = auth_source || f.matched || has(msg, pat!("pam_"));
    if pam_like {
        pam(msg, f);
        if f.user.is_none() && f.effective.is_none() {
            pam_users(msg, f);
        }
    }
}

/// sshd `Accepted|Failed <method> for [invalid user ]<user> from <ip> port <port> [ssh2][: <sig>]`
/// and `Invalid user <user> from <ip> [port <port>]`.
fn ssh_login<'m>(msg: &'m str, f: &mut Found<'m>, doc: &mut Doc) -> bool {
    let Some((event, rest)) = cut(msg, b' ') else {
        return false;
    };
    if matches!(event, "Invalid" | "Illegal") {
        let Some(rest) = rest.strip_prefix("user ") else {
            return false;
        };
        let (user, host_part) = match rest.strip_prefix("from ") {
            // `Invalid user  from 1.2.3.4`: the name is empty.
            Some(h) => ("", h),
            None => match split(rest, pat!(" from ")) {
                Some(p) => p,
                None => return false,
            },
        };
        let (host, after) = cut(host_part, b' ').unwrap_or((host_part, ""));
        doc.insert("system.auth.ssh.event", event);
        f.event(
            Some("ssh_login"),
            &["authentication"],
            &["info"],
            Some("failure"),
        );
        f.user = Some(user);
        f.source = Some(host);
        f.port = after.strip_prefix("port ").and_then(port);
        return true;
    }
    if !matches!(event, "Accepted" | "Failed" | "Postponed") {
        return false;
    }
    let Some((method, rest)) = cut(rest, b' ') else {
        return false;
    };
    let Some(rest) = rest.strip_prefix("for ") else {
        return false;
    };
    let Some((who, rest)) = split(rest, pat!(" from ")) else {
        return false;
    };
    let user = who.strip_prefix("invalid user ").unwrap_or(who);
    let (host, rest) = cut(rest, b' ').unwrap_or((rest, ""));
    let Some(rest) = rest.strip_prefix("port ") else {
        return false;
    };
    let p = port(rest);
    let sig = rest
        .split_once(": ")
        .map(|(_, s)| trim(s))
        .filter(|s| !s.is_empty());
    doc.insert("system.auth.ssh.event", event);
    doc.insert("system.auth.ssh.method", method);
    doc.insert_opt("system.auth.ssh.signature", sig);
    match event {
        "Accepted" => f.event(
            Some("ssh_login"),
            &["authentication", "session"],
            &["info"],
            Some("success"),
        ),
        "Failed" => f.event(
            Some("ssh_login"),
            &["authentication"],
            &["info"],
            Some("failure"),
        ),
        _ => f.matched = true,
    }
    f.user = Some(user);
    f.source = Some(host);
    f.port = p;
    true
}

/// Other sshd lines that name the peer: `... <ip> port <n>`, `... from <ip>`, and the user in
/// `invalid user X`, `authenticating user X`, `user X from`.
fn ssh_other<'m>(msg: &'m str, f: &mut Found<'m>, doc: &mut Doc) {
    if let Some(ip) = msg
        .strip_prefix("Did not receive identification string from ")
        .and_then(|r| token(r.split(' ').next().unwrap_or("")))
    {
        f.matched = true;
        if as_ip(ip).is_some() {
            doc.insert("system.auth.ssh.dropped_ip", ip);
            f.source = Some(ip);
        }
        return;
    }
    // `<ip> port <n>`: the first address followed by a port.
    let mut search = 0;
    while let Some(k) = msg
        .get(search..)
        .and_then(|t| pat!(" port ").find(t.as_bytes()))
    {
        let at = search + k;
        let before = msg.get(..at).unwrap_or("");
        let cand = before.rsplit(' ').next().unwrap_or("");
        let cand = cand.trim_start_matches('(');
        if peer_ip(cand) {
            f.source = Some(cand);
            f.port = msg.get(at + 6..).and_then(port);
            break;
        }
        search = at + 6;
    }
    // `user X from <host>` / `invalid user X <ip>`: the name, and the host when no address was found.
    for marker in [
        pat!("invalid user "),
        pat!("authenticating user "),
        pat!("user "),
    ] {
        let Some((_, rest)) = split(msg, marker) else {
            continue;
        };
        let name = rest.split(' ').next().unwrap_or("");
        let next = rest.get(name.len()..).unwrap_or("").trim_start();
        if name.is_empty() {
            continue;
        }
        if let Some(host) = next.strip_prefix("from ") {
            f.user = Some(name);
            if f.source.is_none() {
                f.source = host
                    .split(' ')
                    .next()
                    .map(|h| h.trim_end_matches([',', ';', ':']));
            }
            break;
        }
        if next.split(' ').next().is_some_and(|t| as_ip(t).is_some()) {
            f.user = Some(name);
            break;
        }
    }
    // Otherwise the first address anywhere: `closed by <ip>`, `[<ip>]`, `(<ip>)`, `from <ip>:`.
    if f.source.is_none() {
        f.source = msg
            .split_ascii_whitespace()
            .filter(|t| may_start_ip(t))
            .map(|t| t.trim_matches(|c| matches!(c, '[' | ']' | '(' | ')' | ',' | ';')))
            .map(|t| t.strip_prefix("rhost=").unwrap_or(t))
            .map(|t| t.strip_suffix(':').unwrap_or(t))
            .find(|t| t.contains(['.', ':']) && peer_ip(t));
    }
    if f.source.is_some() || f.user.is_some() {
        f.matched = true;
    }
}

/// The whitespace-delimited token right after `marker`.
fn after_token<'m>(msg: &'m str, marker: &Finder<'_>) -> Option<&'m str> {
    let (_, rest) = split(msg, marker)?;
    let t = rest.split(' ').next()?;
    let t = t.trim_end_matches([',', ';', ')', ':']);
    (!t.is_empty()).then_some(t)
}

/// sudo `<user> : [<error> ; ]TTY=… ; PWD=… ; USER=… [; GROUP=… ][; ENV=… ]; COMMAND=…`.
fn sudo<'m>(msg: &'m str, f: &mut Found<'m>, doc: &mut Doc) -> bool {
    if !has(msg, pat!("COMMAND=")) {
        return false;
    }
    let Some((user, mut rest)) = split(msg, pat!(" : ")) else {
        return false;
    };
    let Some(user) = token(user) else {
        return false;
    };
    let (mut tty, mut pwd, mut run_as, mut error) = (None, None, None, None);
    let mut command = None;
    loop {
        if let Some(c) = rest.strip_prefix("COMMAND=") {
            command = Some(trim(c));
            break;
        }
        let (part, next) = match split(rest, pat!(" ; ")) {
            Some(p) => p,
            None => break,
        };
        if let Some(v) = part.strip_prefix("TTY=") {
            tty = Some(v);
        } else if let Some(v) = part.strip_prefix("PWD=") {
            pwd = Some(v);
        } else if let Some(v) = part.strip_prefix("USER=") {
            run_as = Some(v);
        } else if tty.is_none() && pwd.is_none() && run_as.is_none() {
            error = Some(trim(part));
        }
        rest = next;
    }
    let Some(command) = command else {
        return false;
    };
    doc.insert_opt("system.auth.sudo.tty", tty);
    doc.insert_opt("system.auth.sudo.pwd", pwd);
    doc.insert_opt("system.auth.sudo.user", run_as);
    doc.insert_opt("system.auth.sudo.error", error);
    doc.insert("system.auth.sudo.command", command);
    doc.insert("process.command_line", command);
    f.event(None, &["process"], &["start"], error.map(|_| "failure"));
    f.user = Some(user);
    f.effective = run_as;
    true
}

/// shadow-utils `new user: name=…, UID=…, GID=…, home=…, shell=…[, from=…]` and
/// `new group: name=…, GID=…`.
fn new_account<'m>(msg: &'m str, f: &mut Found<'m>, doc: &mut Doc) -> bool {
    let (is_user, rest) = if let Some(r) = msg.strip_prefix("new user: ") {
        (true, r)
    } else if let Some(r) = msg.strip_prefix("new group: ") {
        (false, r)
    } else {
        return false;
    };
    for kv in rest.split(", ") {
        let Some((k, v)) = cut(kv, b'=') else {
            continue;
        };
        match (is_user, k) {
            (true, "name") => f.user = Some(v),
            (true, "UID") => f.user_id = Some(v),
            (true, "home") => doc.insert("system.auth.useradd.home", v),
            (true, "shell") => doc.insert("system.auth.useradd.shell", v),
            (false, "name") => f.group = Some(v),
            (_, "GID") => f.group_id = Some(v),
            _ => {}
        }
    }
    f.matched = true;
    true
}

/// useradd/userdel/usermod/groupadd/groupdel/groupmod: Elastic's iam category and types by program,
/// an action, the outcome (`fail` in the text means failure) and the names they quote.
fn account_management<'m>(prog: &str, msg: &'m str, f: &mut Found<'m>) {
    let (action, kind): (&'static str, &'static [&'static str]) = match prog {
        "useradd" => ("added-user-account", &["user", "creation"]),
        "userdel" => ("deleted-user-account", &["user", "deletion"]),
        "usermod" => ("modified-user-account", &["user", "change"]),
        "groupadd" => ("added-group-account", &["group", "creation"]),
        "groupdel" => ("deleted-group-account", &["group", "deletion"]),
        "groupmod" => ("modified-group-account", &["group", "change"]),
        _ => return,
    };
    let outcome = if has(msg, pat!("fail")) {
        "failure"
    } else {
        "success"
    };
    // useradd also creates the user's group and userdel removes it: name that object.
    let action = if msg.starts_with("new group") {
        "added-group-account"
    } else if msg.starts_with("removed ") && has(msg, pat!("group '")) {
        "deleted-group-account"
    } else {
        action
    };
    f.event(Some(action), &["iam"], kind, Some(outcome));
    // `add 'alice' to group 'wheel'` / `add 'alice' to shadow group 'wheel'`.
    if let Some(rest) = msg.strip_prefix("add '") {
        if let Some((user, rest)) = cut(rest, b'\'') {
            if let Some((_, g)) = rest.split_once("group '") {
                f.user = Some(user);
                f.group = cut(g, b'\'').map(|(g, _)| g);
                f.action = Some("group-member-added");
            }
        }
        return;
    }
    // Elastic names the removed member as the target.
    if let Some(rest) = msg.strip_prefix("delete '") {
        if let Some((user, rest)) = cut(rest, b'\'') {
            if let Some((_, g)) = rest.split_once("group '") {
                f.target = Some(user);
                f.group = cut(g, b'\'').map(|(g, _)| g);
                f.action = Some("group-member-removed");
            }
        }
        return;
    }
    // `delete user 'bob'`, `removed group 'bob'`, `group 'ops' removed`.
    let quoted = |marker: &str| {
        msg.split_once(marker)
            .and_then(|(_, r)| cut(r, b'\''))
            .map(|(v, _)| v)
    };
    if f.user.is_none() {
        f.user = quoted("user '");
        if prog == "userdel" {
            f.target = f.user;
        }
    }
    if f.group.is_none() {
        f.group = quoted("group '");
    }
}

/// su: `(to root) alice on pts/0`, `Successful su for root by alice`, `FAILED su for root by
/// alice`, util-linux `+ pts/0 alice:root` / `- pts/0 alice:root`.
fn su<'m>(msg: &'m str, f: &mut Found<'m>) {
    let (outcome, actor, target) = if let Some(r) = msg.strip_prefix("(to ") {
        let Some((target, rest)) = r.split_once(") ") else {
            return;
        };
        let actor = rest.split(' ').next().unwrap_or("");
        ("success", actor, target)
    } else if let Some(r) = msg
        .strip_prefix("Successful su for ")
        .map(|r| ("success", r))
        .or_else(|| msg.strip_prefix("FAILED su for ").map(|r| ("failure", r)))
    {
        let Some((target, actor)) = r.1.split_once(" by ") else {
            return;
        };
        (r.0, trim(actor), target)
    } else if let Some((sign, r)) = msg
        .strip_prefix("+ ")
        .map(|r| ("success", r))
        .or_else(|| msg.strip_prefix("- ").map(|r| ("failure", r)))
    {
        let Some((actor, target)) = r.split(' ').nth(1).and_then(|p| cut(p, b':')) else {
            return;
        };
        (sign, actor, target)
    } else {
        return;
    };
    f.event(
        Some("switched-user"),
        &["authentication"],
        &["start"],
        Some(outcome),
    );
    f.user = token(actor);
    f.effective = token(target);
}

/// gpasswd `user bob added by alice to group docker` (and `removed by … from group …`).
fn gpasswd<'m>(msg: &'m str, f: &mut Found<'m>) {
    let Some(rest) = msg.strip_prefix("user ") else {
        return;
    };
    let mut words = rest.splitn(6, ' ');
    let (Some(target), Some(verb), Some("by"), Some(actor), Some(_), Some(group)) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) else {
        return;
    };
    let action = match verb {
        "added" => "group-user-added",
        "removed" => "group-user-removed",
        _ => return,
    };
    let group = group.strip_prefix("group ").unwrap_or(group);
    f.event(Some(action), &["iam"], &["change"], Some("success"));
    f.target = Some(target);
    f.user = Some(actor);
    f.group = Some(group);
}

/// PAM: sessions, authentication failures (with their key=value details), password changes and
/// unix_chkpwd failures.
fn pam<'m>(msg: &'m str, f: &mut Found<'m>) {
    if has(msg, pat!("session opened for user ")) {
        f.event(Some("logged-on"), &["session"], &["start"], None);
    } else if has(msg, pat!("session closed for user ")) {
        f.event(Some("logged-off"), &["session"], &["end"], None);
    } else if has(msg, pat!("pam_faillock(")) {
        f.event(
            Some("account-locked"),
            &["authentication"],
            &["info"],
            Some("failure"),
        );
        f.user = split(msg, pat!("for user "))
            .and_then(|(_, r)| r.split(' ').next())
            .and_then(token);
    } else if has(msg, pat!("authentication failure")) {
        f.event(
            Some("authentication_failure"),
            &["authentication"],
            &["info"],
            Some("failure"),
        );
        pam_kv(msg, f);
    } else if let Some((_, rest)) = split(msg, pat!("password changed for ")) {
        f.event(
            Some("password-changed"),
            &["iam"],
            &["change"],
            Some("success"),
        );
        let user = token(rest);
        f.user = user;
        f.target = user;
    } else if let Some((_, rest)) = split(msg, pat!("password check failed for user ")) {
        f.event(
            Some("authentication_failure"),
            &["authentication"],
            &["info"],
            Some("failure"),
        );
        f.user = token(rest.trim_start_matches('(').split(')').next().unwrap_or(""));
    } else if let Some(rest) = msg.strip_prefix("pam_unix(") {
        // Another pam_unix line: its type names the category, as in Elastic.
        if let Some((_, kind)) = cut(rest, b')').and_then(|(s, _)| cut(s, b':')) {
            match kind {
                "auth" => f.event(None, &["authentication"], &[], None),
                "session" => f.event(None, &["session"], &[], None),
                _ => {}
            }
        }
    }
    if f.matched && f.source.is_none() {
        if let Some(h) = after_token(msg, pat!("rhost=")).filter(|h| !h.starts_with("user=")) {
            f.source = Some(h);
        }
    }
}

/// `logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root`: as in Elastic's current
/// pipeline, the account being authenticated (`user`) is `user.name` and `rhost` the source.
fn pam_kv<'m>(msg: &'m str, f: &mut Found<'m>) {
    let Some((_, kv)) = split(msg, pat!("; ")) else {
        return;
    };
    for item in kv.split_ascii_whitespace() {
        let Some((k, v)) = cut(item, b'=') else {
            continue;
        };
        let v = Some(v).filter(|v| !v.is_empty());
        match k {
            "rhost" => f.source = v,
            "user" => f.user = v,
            _ => {}
        }
    }
}

/// Elastic's PAM user grok: `for user X by Y(uid=N)`, `for user X`, `by user X`, `user 'X'`.
/// The actor (`by`) is `user.name` and the account (`for`) `user.effective.name`.
fn pam_users<'m>(msg: &'m str, f: &mut Found<'m>) {
    if let Some((_, rest)) = split(msg, pat!("for user ")) {
        let (account, by) = match split(rest, pat!(" by ")) {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        // `root(uid=0)` in newer PAM: the name only.
        let account = unquote(account.split('(').next().unwrap_or(""));
        let Some(account) = token(account) else {
            return;
        };
        f.matched = true;
        match by {
            Some(by) => {
                let by = trim(by);
                let (name, uid) = match by.split_once("(uid=") {
                    Some((n, u)) => (n, u.strip_suffix(')')),
                    None => (by, None),
                };
                f.user = token(unquote(name));
                f.user_id = uid.filter(|u| !u.is_empty());
                f.effective = Some(account);
            }
            None => f.user = Some(account),
        }
        return;
    }
    if let Some((_, rest)) = split(msg, pat!("by user ")) {
        if let Some(u) = token(unquote(rest)) {
            f.matched = true;
            f.user = Some(u);
        }
        return;
    }
    for q in [pat!("user '"), pat!("user \"")] {
        if let Some((_, rest)) = split(msg, q) {
            if let Some((u, _)) = rest.split_once(['\'', '"']) {
                if token(u).is_some() {
                    f.matched = true;
                    f.user = Some(u);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
