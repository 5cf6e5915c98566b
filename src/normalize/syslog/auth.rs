//! What the message of an auth daemon's line says (sshd, sudo, su, PAM, the shadow tools):
//! Elastic's `system.auth` event fields, users, groups and the peer address, collected in
//! [`Found`] and written once by the caller.

use super::*;

pub(super) fn extract<'m>(
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
    // `add 'alice' to group 'wheel'`, `add 'alice' to shadow group 'wheel'`, `delete 'bob' from
    // group 'wheel'`: Elastic names an added member as the user, a removed one as the target.
    for (prefix, added) in [("add '", true), ("delete '", false)] {
        let Some(rest) = msg.strip_prefix(prefix) else {
            continue;
        };
        let member =
            cut(rest, b'\'').and_then(|(user, r)| Some((user, r.split_once("group '")?.1)));
        if let Some((user, g)) = member {
            if added {
                f.user = Some(user);
            } else {
                f.target = Some(user);
            }
            f.group = cut(g, b'\'').map(|(g, _)| g);
            f.action = Some(if added {
                "group-member-added"
            } else {
                "group-member-removed"
            });
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
