use super::*;
use serde_json::{json, Value as J};

fn ctx() -> Context {
    Context::new("2024-11-20T10:00:00Z".parse().unwrap(), chrono_tz::Tz::UTC)
}

fn norm(line: &str) -> J {
    let mut d = Doc::new();
    normalize(line.as_bytes(), &ctx(), &mut d).unwrap();
    d.to_json()
}

#[test]
fn header_fields_rfc5424() {
    let v = norm(
        r#"<165>1 2024-03-02T08:09:10.250+01:00 app-7.corp billing 4411 INV9 [origin@48577 ip="10.9.8.7" software="billd"][meta sequenceId="12"] invoice batch done"#,
    );
    assert_eq!(v["@timestamp"], "2024-03-02T08:09:10.250+01:00");
    let s = &v["log"]["syslog"];
    assert_eq!(s["priority"], 165);
    assert_eq!(s["facility"], json!({"code": 20, "name": "local4"}));
    assert_eq!(s["severity"], json!({"code": 5, "name": "Notice"}));
    assert_eq!(s["hostname"], "app-7.corp");
    assert_eq!(s["appname"], "billing");
    assert_eq!(s["procid"], "4411");
    assert_eq!(s["msgid"], "INV9");
    assert_eq!(s["version"], "1");
    assert_eq!(
        s["structured_data"],
        json!({"origin@48577": {"ip": "10.9.8.7", "software": "billd"}, "meta": {"sequenceId": "12"}})
    );
    assert_eq!(v["host"]["hostname"], "app-7.corp");
    assert_eq!(v["process"], json!({"name": "billing", "pid": 4411}));
    assert_eq!(v["message"], "invoice batch done");
    assert_eq!(
        v["event"],
        json!({"kind": "event", "module": "system", "dataset": "system.syslog"})
    );
    assert_eq!(v["related"]["hosts"], json!(["app-7.corp"]));
}

#[test]
fn header_only_for_foreign_payload() {
    let s =
        parse(b"<14>Jan  9 08:00:00 fw-01 1,2024/01/09 08:00:00,0011C1000042,TRAFFIC,end").unwrap();
    let mut d = Doc::new();
    apply_header(&s, &ctx(), &mut d);
    let v = d.to_json();
    assert_eq!(v["@timestamp"], "2024-01-09T08:00:00Z");
    assert_eq!(v["host"]["hostname"], "fw-01");
    assert!(v.get("message").is_none());
    assert!(v.get("event").is_none());
}

#[test]
fn non_numeric_procid_is_not_a_pid() {
    let v = norm("<13>1 2024-01-01T00:00:00Z h app worker-3 - - x");
    assert_eq!(v["log"]["syslog"]["procid"], "worker-3");
    assert!(v["process"].get("pid").is_none());
}

#[test]
fn sshd_accepted() {
    let v = norm("<38>Mar  7 09:14:02 bastion-2 sshd[40122]: Accepted publickey for deploy from 10.4.1.9 port 51022 ssh2: ED25519 SHA256:Qx1wLq0n4aJ2k");
    assert_eq!(v["@timestamp"], "2024-03-07T09:14:02Z");
    assert_eq!(v["event"]["action"], "ssh_login");
    assert_eq!(v["event"]["category"], json!(["authentication", "session"]));
    assert_eq!(v["event"]["type"], json!(["info"]));
    assert_eq!(v["event"]["outcome"], "success");
    assert_eq!(v["event"]["dataset"], "system.auth");
    assert_eq!(v["user"]["name"], "deploy");
    assert_eq!(
        v["source"],
        json!({"address": "10.4.1.9", "ip": "10.4.1.9", "port": 51022})
    );
    assert_eq!(
        v["system"]["auth"]["ssh"],
        json!({"event": "Accepted", "method": "publickey", "signature": "ED25519 SHA256:Qx1wLq0n4aJ2k"})
    );
    assert_eq!(v["related"]["ip"], json!(["10.4.1.9"]));
    assert_eq!(v["related"]["user"], json!(["deploy"]));
    assert_eq!(v["process"], json!({"name": "sshd", "pid": 40122}));
}

#[test]
fn sshd_failed_and_invalid() {
    let v = norm("Aug 14 02:11:09 web3 sshd[911]: Failed password for invalid user oracle from 2001:db8::7 port 40022 ssh2");
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(v["event"]["category"], json!(["authentication"]));
    assert_eq!(v["user"]["name"], "oracle");
    assert_eq!(v["source"]["ip"], "2001:db8::7");
    let v =
        norm("Aug 14 02:11:08 web3 sshd[911]: Invalid user oracle from 198.51.100.23 port 40022");
    assert_eq!(v["system"]["auth"]["ssh"]["event"], "Invalid");
    assert_eq!(v["event"]["action"], "ssh_login");
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(v["source"]["port"], 40022);
    let v = norm(
        "Aug 14 02:11:08 web3 sshd[911]: Did not receive identification string from 198.51.100.24",
    );
    assert_eq!(v["source"]["ip"], "198.51.100.24");
    assert!(v["event"].get("action").is_none());
}

#[test]
fn sshd_other_peer_lines() {
    let v = norm("Jan  2 03:04:05 gw sshd[77]: Disconnected from authenticating user admin 203.0.113.5 port 60112 [preauth]");
    assert_eq!(v["user"]["name"], "admin");
    assert_eq!(v["source"]["ip"], "203.0.113.5");
    assert_eq!(v["source"]["port"], 60112);
    let v = norm("Jan  2 03:04:05 gw sshd[77]: reverse mapping checking getaddrinfo for x.example [198.51.100.80] failed - POSSIBLE BREAK-IN ATTEMPT!");
    assert_eq!(v["source"]["ip"], "198.51.100.80");
    let v = norm("Jan  2 03:04:05 gw sshd[77]: Received disconnect from 198.51.100.81: 11: Bye Bye [preauth]");
    assert_eq!(v["source"]["ip"], "198.51.100.81");
    let v = norm("Jan  2 03:04:05 gw sshd[77]: message repeated 4 times: [ Failed password for root from 198.51.100.82 port 2200 ssh2]");
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(v["user"]["name"], "root");
    assert_eq!(v["source"]["port"], 2200);
    let v = norm("Jan  2 03:04:05 gw sshd[77]: Server listening on 0.0.0.0 port 22.");
    assert!(v.get("source").is_none());
    let v =
        norm("Jan  2 03:04:05 gw sshd[77]: Connection closed by 203.0.113.6 port 1022 [preauth]");
    assert_eq!(v["source"]["ip"], "203.0.113.6");
    assert!(v.get("user").is_none());
    let v = norm("Jan  2 03:04:05 gw sshd[77]: error: PAM: Authentication failure for illegal user zed from scan.example.net");
    assert_eq!(v["source"]["domain"], "scan.example.net");
    assert_eq!(v["user"]["name"], "zed");
    assert_eq!(v["related"]["hosts"], json!(["gw", "scan.example.net"]));
}

#[test]
fn ssh_patterns_need_sshd() {
    let v =
        norm("Aug 14 02:11:08 web3 proftpd[12]: Invalid user oracle from 198.51.100.23 port 21");
    assert!(v["event"].get("action").is_none());
    let v = norm("Aug 14 02:11:08 web3 sshd-session[12]: Accepted password for ops from 198.51.100.23 port 50000 ssh2");
    assert_eq!(v["event"]["action"], "ssh_login");
}

#[test]
fn sudo_command() {
    let v = norm("<85>Oct  2 11:22:33 ops-1 sudo:   carol : TTY=pts/3 ; PWD=/srv/app ; USER=root ; COMMAND=/usr/bin/systemctl restart app ; echo ok");
    assert_eq!(
        v["user"],
        json!({"name": "carol", "effective": {"name": "root"}})
    );
    assert_eq!(
        v["system"]["auth"]["sudo"],
        json!({"tty": "pts/3", "pwd": "/srv/app", "user": "root", "command": "/usr/bin/systemctl restart app ; echo ok"})
    );
    assert_eq!(
        v["process"]["command_line"],
        "/usr/bin/systemctl restart app ; echo ok"
    );
    assert_eq!(v["event"]["category"], json!(["process"]));
    assert_eq!(v["event"]["type"], json!(["start"]));
    assert_eq!(v["related"]["user"], json!(["carol", "root"]));
    assert!(v["event"].get("outcome").is_none());
    let v = norm("Oct  2 11:22:34 ops-1 sudo: mallory : user NOT in sudoers ; TTY=pts/4 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash");
    assert_eq!(v["system"]["auth"]["sudo"]["error"], "user NOT in sudoers");
    assert_eq!(v["event"]["outcome"], "failure");
    let v =
        norm("Oct  2 11:22:35 ops-1 sudo: svc : PWD=/ ; USER=root ; GROUP=adm ; COMMAND=/bin/id");
    assert_eq!(v["user"]["effective"]["name"], "root");
    assert_eq!(v["system"]["auth"]["sudo"]["command"], "/bin/id");
}

#[test]
fn pam_sessions() {
    let v = norm("<86>1 2024-04-05T06:07:08.9+00:00 srv-a sshd 5123 - - pam_unix(sshd:session): session opened for user dana by (uid=0)");
    assert_eq!(v["event"]["action"], "logged-on");
    assert_eq!(v["event"]["category"], json!(["session"]));
    assert_eq!(v["user"]["effective"]["name"], "dana");
    assert_eq!(v["user"]["id"], "0");
    assert!(v["user"].get("name").is_none());
    let v = norm("<86>1 2024-04-05T06:07:08Z srv-a su - - - pam_unix(su-l:session): session opened for user root by erin(uid=1000)");
    assert_eq!(v["user"]["name"], "erin");
    assert_eq!(v["user"]["effective"]["name"], "root");
    assert_eq!(v["related"]["user"], json!(["erin", "root"]));
    let v = norm(
        "Apr  5 06:09:00 srv-a CRON[2211]: pam_unix(cron:session): session closed for user root",
    );
    assert_eq!(v["event"]["action"], "logged-off");
    assert_eq!(v["event"]["dataset"], "system.auth");
    assert_eq!(v["user"]["name"], "root");
    let v = norm("Apr  5 06:09:00 srv-a login[99]: pam_unix(login:session): session opened for user root(uid=0) by LOGIN(uid=0)");
    assert_eq!(v["user"]["name"], "LOGIN");
    assert_eq!(v["user"]["effective"]["name"], "root");
}

#[test]
fn pam_authentication_failure() {
    let v = norm("May  1 07:00:00 box sudo[321]: pam_unix(sudo:auth): authentication failure; logname=ann uid=1001 euid=0 tty=/dev/pts/2 ruser=ann rhost=  user=ann");
    assert_eq!(v["event"]["action"], "authentication_failure");
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(v["user"], json!({"name": "ann"}));
    assert!(v.get("source").is_none());
    let v = norm("May  1 07:00:01 box sshd[322]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.44  user=root");
    assert_eq!(v["source"]["ip"], "192.0.2.44");
    assert_eq!(v["user"], json!({"name": "root"}));
    assert_eq!(v["related"]["ip"], json!(["192.0.2.44"]));
    let v = norm("May  1 07:00:02 box sshd[323]: pam_faillock(sshd:auth): Consecutive login failures for user kim account temporarily locked");
    assert_eq!(v["event"]["action"], "account-locked");
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(v["user"]["name"], "kim");
}

#[test]
fn account_management() {
    let v = norm("Jun  3 10:00:00 box useradd[501]: new user: name=svc_backup, UID=995, GID=995, home=/var/lib/backup, shell=/usr/sbin/nologin, from=/dev/pts/1");
    assert_eq!(v["event"]["action"], "added-user-account");
    assert_eq!(v["event"]["category"], json!(["iam"]));
    assert_eq!(v["event"]["type"], json!(["user", "creation"]));
    assert_eq!(v["event"]["outcome"], "success");
    assert_eq!(v["user"], json!({"name": "svc_backup", "id": "995"}));
    assert_eq!(v["group"], json!({"id": "995"}));
    assert_eq!(v["system"]["auth"]["useradd"]["shell"], "/usr/sbin/nologin");
    let v = norm("Jun  3 10:00:00 box groupadd[500]: new group: name=backup, GID=995");
    assert_eq!(v["event"]["action"], "added-group-account");
    assert_eq!(v["event"]["type"], json!(["group", "creation"]));
    assert_eq!(v["group"], json!({"name": "backup", "id": "995"}));
    let v = norm("Jun  3 10:05:00 box userdel[530]: delete user 'svc_backup'");
    assert_eq!(v["event"]["type"], json!(["user", "deletion"]));
    assert_eq!(
        v["user"],
        json!({"name": "svc_backup", "target": {"name": "svc_backup"}})
    );
    let v =
        norm("Jun  3 10:05:00 box userdel[530]: delete 'svc_backup' from shadow group 'backup'");
    assert_eq!(v["event"]["action"], "group-member-removed");
    assert_eq!(v["user"], json!({"target": {"name": "svc_backup"}}));
    assert_eq!(v["group"]["name"], "backup");
    let v = norm("Jun  3 10:05:01 box userdel[531]: removed group 'backup'");
    assert_eq!(v["group"]["name"], "backup");
    assert_eq!(v["event"]["action"], "deleted-group-account");
    assert!(v.get("user").is_none());
    let v = norm("Jun  3 10:06:00 box usermod[540]: add 'frank' to group 'wheel'");
    assert_eq!(v["event"]["action"], "group-member-added");
    assert_eq!(v["group"]["name"], "wheel");
    assert_eq!(v["user"]["name"], "frank");
    let v = norm("Jun  3 10:07:00 box gpasswd[550]: user frank added by root to group docker");
    assert_eq!(v["event"]["action"], "group-user-added");
    assert_eq!(
        v["user"],
        json!({"name": "root", "target": {"name": "frank"}})
    );
}

#[test]
fn su_and_passwd() {
    let v = norm("Jul  8 12:00:00 box su[700]: (to root) gina on pts/1");
    assert_eq!(v["event"]["action"], "switched-user");
    assert_eq!(v["event"]["outcome"], "success");
    assert_eq!(
        v["user"],
        json!({"name": "gina", "effective": {"name": "root"}})
    );
    let v = norm("Jul  8 12:00:00 box su[701]: FAILED su for root by gina");
    assert_eq!(v["event"]["outcome"], "failure");
    let v = norm(
        "Jul  8 12:01:00 box passwd[702]: pam_unix(passwd:chauthtok): password changed for gina",
    );
    assert_eq!(v["event"]["action"], "password-changed");
    assert_eq!(
        v["user"],
        json!({"name": "gina", "target": {"name": "gina"}})
    );
}

#[test]
fn generic_pam_user_grok() {
    let v = norm(
        r#"Feb  1 01:02:03 h sshd[3]: pam_succeed_if(sshd:auth): requirement "uid >= 1000" not met by user "root""#,
    );
    assert_eq!(v["user"]["name"], "root");
    assert_eq!(v["event"]["dataset"], "system.auth");
}

#[test]
fn plain_syslog_stays_syslog() {
    let v = norm("<30>Feb  1 01:02:03 h systemd[1]: Started Session 4 of user root.");
    assert_eq!(v["event"]["dataset"], "system.syslog");
    assert!(v.get("user").is_none());
    assert_eq!(v["log"]["syslog"]["facility"]["name"], "daemon");
    assert_eq!(v["log"]["syslog"]["severity"]["name"], "Informational");
}

#[test]
fn invalid_utf8_message_is_lossy() {
    let mut d = Doc::new();
    normalize(b"<13>Feb  1 01:02:03 h app: caf\xe9 \xff", &ctx(), &mut d).unwrap();
    assert_eq!(d.get_str("message"), Some("caf\u{fffd} \u{fffd}"));
}

#[test]
fn parse_failure_is_reported() {
    let mut d = Doc::new();
    assert!(normalize(b"<13>garbage", &ctx(), &mut d).is_err());
    assert!(d.is_empty());
}
