use super::*;
use chrono::{Datelike, Timelike, Utc};

fn p(s: &str) -> Syslog<'_> {
    parse(s.as_bytes()).unwrap()
}

fn ctx() -> Context {
    Context::new("2024-06-15T12:00:00Z".parse().unwrap(), chrono_tz::Tz::UTC)
}

#[test]
fn iso_timestamp_agrees_with_chrono_rfc3339() {
    let dates = [
        "2026-03-05",
        "2024-02-29",
        "2023-02-29",
        "2026-13-01",
        "0000-01-01",
        "2026-3-05",
    ];
    let seps = ["T", "t", " ", "x", ""];
    let clocks = [
        "10:20:11", "23:59:60", "24:00:00", "10:61:00", "9:20:11", "10:20",
    ];
    let fracs = [
        "",
        ".",
        ".4",
        ".4821337",
        ".123456789",
        ".1234567891234",
        ".12a",
    ];
    let zones = [
        "", "Z", "z", "+05:30", "-08:00", "+0530", "+05", "+24:00", "-00:00", "+05:3", " ",
    ];
    let mut agreed = 0;
    for d in dates {
        for sep in seps {
            for c in clocks {
                for f in fracs {
                    for z in zones {
                        let s = format!("{d}{sep}{c}{f}{z}");
                        let ours = iso_timestamp(s.as_bytes());
                        match DateTime::parse_from_rfc3339(&s) {
                            Ok(t) => {
                                let Some(SyslogTime::Full(o)) = ours else {
                                    panic!("{s}: chrono {t}, ours {ours:?}");
                                };
                                assert_eq!((o, o.offset()), (t, t.offset()), "{s}");
                                agreed += 1;
                            }
                            // Beyond RFC 3339: no zone, or `+hhmm`/`+hh`.
                            Err(_) => {
                                if let Some(SyslogTime::Full(_)) = ours {
                                    let colon_zone = z.len() == 6 && z.as_bytes()[3] == b':';
                                    assert!(!colon_zone && z != "Z" && z != "z", "{s}: {ours:?}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(agreed > 100, "{agreed}");
}

#[test]
fn rfc3164_with_pri_host_tag_pid() {
    let s = p("<38>Mar  7 09:14:02 bastion-2 sshd[40122]: Accepted publickey for deploy from 10.4.1.9 port 51022 ssh2\n");
    assert_eq!(s.format, SyslogFormat::Rfc3164);
    assert_eq!(s.priority, Some(38));
    assert_eq!((s.facility(), s.severity()), (Some(4), Some(6)));
    assert_eq!(s.hostname, Some("bastion-2"));
    assert_eq!(s.appname, Some("sshd"));
    assert_eq!(s.procid, Some("40122"));
    assert_eq!(
        s.msg,
        b"Accepted publickey for deploy from 10.4.1.9 port 51022 ssh2"
    );
    assert_eq!(
        s.timestamp,
        Some(SyslogTime::Bsd {
            month: 3,
            day: 7,
            hour: 9,
            minute: 14,
            second: 2,
            nanos: 0
        })
    );
}

#[test]
fn rfc3164_without_pri_and_tag_without_pid() {
    let s = p("Nov 2 23:01:44 mailgw postfix/smtpd: connect from unknown[192.0.2.10]");
    assert_eq!(s.priority, None);
    assert_eq!(s.hostname, Some("mailgw"));
    assert_eq!(s.appname, Some("postfix/smtpd"));
    assert_eq!(s.procid, None);
    assert_eq!(s.msg, b"connect from unknown[192.0.2.10]");
}

#[test]
fn rfc3164_missing_hostname() {
    let s = p("<13>Feb 28 18:00:01 cron[812]: (root) CMD (run-parts /etc/cron.hourly)");
    assert_eq!(s.hostname, None);
    assert_eq!(s.appname, Some("cron"));
    assert_eq!(s.procid, Some("812"));
}

#[test]
fn rfc3164_no_tag_keeps_payload() {
    let s = p("<14>Jan  9 08:00:00 fw-edge-01 1,2024/01/09 08:00:00,0011C1000042,TRAFFIC,end");
    assert_eq!(s.hostname, Some("fw-edge-01"));
    assert_eq!(s.appname, None);
    assert_eq!(s.msg, b"1,2024/01/09 08:00:00,0011C1000042,TRAFFIC,end");
    // No hostname at all: a CSV first field is not taken for one.
    let s = p("Jan  9 08:00:00 1,2024/01/09 08:00:00,0011C1000042,TRAFFIC,end");
    assert_eq!(s.hostname, None);
    assert_eq!(s.msg, b"1,2024/01/09 08:00:00,0011C1000042,TRAFFIC,end");
    // CEF after a host is payload, not a tag.
    let s = p("Jan  9 08:00:00 gw CEF:0|Acme|Guard|1.0|7|Blocked|5|src=10.0.0.1");
    assert_eq!(s.appname, None);
    assert!(s.msg.starts_with(b"CEF:0|"));
}

#[test]
fn rfc3164_fraction_and_year_and_iso() {
    let s = p("Apr 30 23:59:58.250 core1 kernel: eth0 link up");
    match s.timestamp {
        Some(SyslogTime::Bsd { nanos, .. }) => assert_eq!(nanos, 250_000_000),
        t => panic!("{t:?}"),
    }
    let s =
        p("<189>Jul 4 2023 10:11:12 edge-sw %LINK-3-UPDOWN: Interface Gi0/1, changed state to up");
    assert_eq!(
        s.timestamp.unwrap().resolve(&ctx()).unwrap().to_rfc3339(),
        "2023-07-04T10:11:12+00:00"
    );
    assert_eq!(s.appname, Some("%LINK-3-UPDOWN"));
    let s = p("2024-02-11T07:30:00.123456+01:00 db-3 postgres[77]: checkpoint starting");
    let t = s.timestamp.unwrap().resolve(&ctx()).unwrap();
    assert_eq!(t.to_rfc3339(), "2024-02-11T07:30:00.123456+01:00");
    assert_eq!(s.hostname, Some("db-3"));
    assert_eq!(s.appname, Some("postgres"));
    // ISO without zone uses the configured zone.
    let s = p("2024-02-11 07:30:00 db-3 app: x");
    assert_eq!(
        s.timestamp
            .unwrap()
            .resolve(&ctx())
            .unwrap()
            .with_timezone(&Utc)
            .hour(),
        7
    );
}

#[test]
fn bsd_year_is_inferred() {
    let s = p("Dec 31 23:00:00 h app: x");
    let c = Context::new("2025-01-01T01:00:00Z".parse().unwrap(), chrono_tz::Tz::UTC);
    assert_eq!(s.timestamp.unwrap().resolve(&c).unwrap().year(), 2024);
}

#[test]
fn rfc5424_full() {
    let s = p(
        r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event"#,
    );
    assert_eq!(s.format, SyslogFormat::Rfc5424);
    assert_eq!(s.version, Some(1));
    assert_eq!(s.hostname, Some("mymachine.example.com"));
    assert_eq!(s.appname, Some("evntslog"));
    assert_eq!(s.procid, Some("1234"));
    assert_eq!(s.msgid, Some("ID47"));
    assert_eq!(s.structured_data.len(), 2);
    assert_eq!(s.structured_data[0].id, "exampleSDID@32473");
    assert_eq!(s.structured_data[0].params[1].name, "eventSource");
    assert_eq!(s.structured_data[0].params[1].value, "Application");
    assert_eq!(s.structured_data[1].params[0].value, "high");
    assert_eq!(s.msg, b"An application event");
    let t = s.timestamp.unwrap().resolve(&ctx()).unwrap();
    assert_eq!(t.to_rfc3339(), "2003-10-11T22:14:15.003+00:00");
}

#[test]
fn rfc5424_nil_values_bom_and_escapes() {
    let s = p("<34>1 - - - - - -");
    assert_eq!(
        (s.timestamp, s.hostname, s.appname, s.procid, s.msgid),
        (None, None, None, None, None)
    );
    assert!(s.msg.is_empty());
    let s = parse(b"<34>1 2024-05-01T10:00:00+02:00 host app - - - \xEF\xBB\xBFhello").unwrap();
    assert_eq!(s.msg, b"hello");
    let s = p(r#"<14>1 2024-05-01T10:00:00-07:00 h a - - [x@1 q="a \"b\" \\ c\]d" r="\n"] m"#);
    let v = &s.structured_data[0].params;
    assert_eq!(v[0].value, r#"a "b" \ c]d"#);
    assert!(matches!(v[0].value, Cow::Owned(_)));
    assert_eq!(v[1].value, r"\n");
    assert_eq!(s.msg, b"m");
}

#[test]
fn rfc5424_zoneless_timestamp_uses_configured_zone() {
    let s = p("<13>1 2024-01-01T00:00:00 h a - - - m");
    assert_eq!(s.format, SyslogFormat::Rfc5424);
    assert!(matches!(s.timestamp, Some(SyslogTime::Local(_))));
    assert_eq!(s.appname, Some("a"));
}

#[test]
fn rfc5424_invalid_sd_is_kept_as_message() {
    let s = p("<14>1 2024-05-01T10:00:00Z h a - - [not sd] text");
    assert!(s.structured_data.is_empty());
    assert_eq!(s.msg, b"[not sd] text");
}

#[test]
fn version_with_bsd_body() {
    let s = p(
        "<86>1 Oct 23 16:54:59 web-1 sudo: ops : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/true",
    );
    assert_eq!(s.format, SyslogFormat::Rfc3164);
    assert_eq!(s.version, Some(1));
    assert_eq!(s.appname, Some("sudo"));
}

#[test]
fn leading_space_and_octet_count_framing() {
    let s = p("  <13>Feb  1 01:02:03 h app: x");
    assert_eq!(s.priority, Some(13));
    let s = p("58 <13>1 2024-01-01T00:00:00Z h app - - - framed");
    assert_eq!(s.format, SyslogFormat::Rfc5424);
    assert_eq!(s.msg, b"framed");
}

#[test]
fn failures() {
    for bad in [
        &b""[..],
        b"   \n",
        b"<>Oct 3 12:00:00 h a: m",
        b"<192>Oct 3 12:00:00 h a: m",
        b"<abc>Oct 3 12:00:00 h a: m",
        b"<13>hello world",
        b"<13>1 2024-13-01T00:00:00Z h a - - - m",
        b"<13>1 yesterday h a - - - m",
        b"<13>1 2024-01-01T00:00:00+25:00 h a - - - m",
        b"just some text",
        b"Oct 3 12:00:00: %ASA-6-302013: Built",
        b"Foo 3 12:00:00 host app: x",
        b"Oct 32 12:00:00 host app: x",
    ] {
        assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn never_panics_on_garbage_or_truncation() {
    let line: &[u8] = b"<165>1 2003-10-11T22:14:15.003Z mymachine evntslog 1234 ID47 [a@1 b=\"c\\\"d\"][e f=\"g\"] \xEF\xBB\xBFmsg \xff\xfe";
    for n in 0..=line.len() {
        let _ = parse(&line[..n]);
    }
    let line: &[u8] = b"<38>Mar  7 09:14:02.123 bastion-2 sshd[40122]: \xc3\x28 Accepted";
    for n in 0..=line.len() {
        let _ = parse(&line[..n]);
    }
    for b in 0..=255u8 {
        let _ = parse(&[b'<', b'1', b'>', b]);
        let _ = parse(&[b]);
    }
}

#[test]
fn invalid_utf8_in_header_fields_is_dropped_not_fatal() {
    let s = parse(b"<13>1 2024-01-01T00:00:00Z ho\xffst app - - - m").unwrap();
    assert_eq!(s.hostname, None);
    assert_eq!(s.appname, Some("app"));
}

#[test]
fn fields_are_cut_from_the_line_text_and_other_text_is_not_trusted() {
    let line = "<13>Mar  5 10:02:11 host app\u{e9}[42]: caf\u{e9} ok".as_bytes();
    let s = parse_line(line, std::str::from_utf8(line).ok()).unwrap();
    assert_eq!(s.hostname, Some("host"));
    assert_eq!(s.appname, Some("app\u{e9}"));
    assert_eq!(s.procid, Some("42"));
    assert_eq!(s.msg_text, Some("caf\u{e9} ok"));
    assert_eq!(s, parse(line).unwrap());
    // Text that is not this line's bytes is checked, not cut from.
    let other = String::from_utf8(line.to_vec())
        .unwrap()
        .replace("host", "xxxx");
    let s = parse_line(line, Some(&other)).unwrap();
    assert_eq!(s.hostname, Some("host"));
    // Invalid UTF-8: each part is checked alone, as `parse` does.
    let bad = b"<13>Mar  5 10:02:11 host app[42]: bad \xff byte";
    let s = parse_line(bad, None).unwrap();
    assert_eq!((s.appname, s.msg_text), (Some("app"), None));
    assert_eq!(s, parse(bad).unwrap());
}
