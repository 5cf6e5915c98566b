//! Value conversions used by the tables: numbers, addresses, paths, Sysmon's packed fields, and
//! the Windows-defined names of levels, opcodes and keywords.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, NaiveDateTime};

use crate::ip::parse_ip;
use crate::normalize::Context;
use crate::parse::syslog::{iso_timestamp, SyslogTime};
use crate::text::trim;

/// Decimal or `0x` hexadecimal, as Windows writes process IDs and ports.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let s = trim(s);
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok().map(|v| v as i64);
    }
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    s.parse::<u64>().ok().map(|v| v as i64)
}

/// An IP address as written, without a v4-mapped `::ffff:` prefix, brackets or zone.
pub(crate) fn clean_ip(s: &str) -> Option<&str> {
    let mut s = trim(s);
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        s = inner;
    }
    if let Some(v4) = s
        .strip_prefix("::ffff:")
        .or_else(|| s.strip_prefix("::FFFF:"))
    {
        if v4.parse::<std::net::Ipv4Addr>().is_ok() {
            return Some(v4);
        }
    }
    let base = s.split_once('%').map_or(s, |(a, _)| a);
    parse_ip(base).is_some().then_some(base)
}

/// The last path component (a Windows or a `/` path); the whole value when there is no separator.
pub(crate) fn basename(s: &str) -> &str {
    s.rsplit(['\\', '/']).next().unwrap_or(s)
}

pub(crate) fn dirname(s: &str) -> Option<&str> {
    s.rfind(['\\', '/']).map(|i| &s[..i])
}

pub(crate) fn extension(s: &str) -> Option<&str> {
    let name = basename(s);
    name.rfind('.')
        .map(|i| &name[i + 1..])
        .filter(|e| !e.is_empty())
}

/// `user@realm` → `user`.
pub(crate) fn upn_user(s: &str) -> &str {
    s.split('@').next().unwrap_or(s)
}

/// `CN=Jane Doe,OU=Staff,DC=corp,DC=example` → `Jane Doe`.
pub(crate) fn cn(s: &str) -> &str {
    let first = s.split(',').next().unwrap_or(s).trim();
    first
        .strip_prefix("CN=")
        .or_else(|| first.strip_prefix("cn="))
        .unwrap_or(first)
}

/// The first `DC=` component of a distinguished name.
pub(crate) fn dn_domain(s: &str) -> Option<&str> {
    s.split(',').find_map(|p| {
        let p = trim(p);
        p.strip_prefix("DC=").or_else(|| p.strip_prefix("dc="))
    })
}

/// `DOMAIN\name` → (`DOMAIN`, `name`); anything else is not split.
pub(crate) fn domain_user(s: &str) -> Option<(&str, &str)> {
    let (d, n) = s.split_once('\\')?;
    (!n.contains('\\')).then_some((d, n))
}

/// Sysmon `SHA1=…,MD5=…,IMPHASH=…` → lower-case (algorithm, value) pairs; all-zero values
/// (hash not computed) are skipped.
pub(crate) fn hashes(s: &str) -> impl Iterator<Item = (String, String)> + '_ {
    s.split(',').filter_map(|part| {
        let (k, v) = part.split_once('=')?;
        let (k, v) = (trim(k), trim(v));
        if k.is_empty() || v.is_empty() || v.bytes().all(|b| b == b'0') {
            return None;
        }
        Some((k.to_ascii_lowercase(), v.to_ascii_lowercase()))
    })
}

/// Splits a command line the way `CommandLineToArgvW` does (the pre-2008 rules that Go and
/// Elastic use): spaces and tabs separate arguments outside quotes, `2n` backslashes before a
/// quote give `n` and toggle quoting, `2n+1` give `n` and a literal quote.
pub(crate) fn argv(cmd: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut in_quote = false;
    let mut slashes = 0usize;
    let mut chars = cmd.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                slashes += 1;
                in_arg = true;
                continue;
            }
            '"' => {
                cur.extend(std::iter::repeat_n('\\', slashes / 2));
                if slashes % 2 == 0 {
                    if in_quote && chars.peek() == Some(&'"') {
                        cur.push('"');
                        chars.next();
                    }
                    in_quote = !in_quote;
                } else {
                    cur.push('"');
                }
                in_arg = true;
            }
            ' ' | '\t' if !in_quote => {
                cur.extend(std::iter::repeat_n('\\', slashes));
                if in_arg {
                    args.push(std::mem::take(&mut cur));
                }
                in_arg = false;
            }
            _ => {
                cur.extend(std::iter::repeat_n('\\', slashes));
                cur.push(c);
                in_arg = true;
            }
        }
        slashes = 0;
    }
    cur.extend(std::iter::repeat_n('\\', slashes));
    if in_arg {
        args.push(cur);
    }
    args
}

/// Registry hive abbreviations as Elastic writes them.
fn hive(root: &str) -> Option<&'static str> {
    Some(match root.to_ascii_uppercase().as_str() {
        "HKEY_CLASSES_ROOT" | "HKCR" => "HKCR",
        "HKEY_CURRENT_CONFIG" | "HKCC" => "HKCC",
        "HKEY_CURRENT_USER" | "HKCU" => "HKCU",
        "HKEY_DYN_DATA" | "HKDD" => "HKDD",
        "HKEY_LOCAL_MACHINE" | "HKLM" => "HKLM",
        "HKEY_PERFORMANCE_DATA" | "HKPD" => "HKPD",
        "HKEY_USERS" | "HKU" => "HKU",
        _ => return None,
    })
}

/// A registry object path → (hive, key below the hive, value name). Kernel-style roots
/// (`\REGISTRY\MACHINE\…`, `\REGISTRY\USER\…`) count as HKLM and HKU.
pub(crate) fn registry(path: &str) -> (Option<&'static str>, Option<&str>, &str) {
    let value = path.rsplit('\\').next().unwrap_or(path);
    let kernel = path
        .get(..10)
        .filter(|p| p.eq_ignore_ascii_case("\\REGISTRY\\"))
        .map(|_| &path[10..]);
    let (h, rest) = match kernel {
        Some(k) => match k.split_once('\\') {
            Some((root, rest)) if root.eq_ignore_ascii_case("MACHINE") => {
                (Some("HKLM"), Some(rest))
            }
            Some((root, rest)) if root.eq_ignore_ascii_case("USER") => (Some("HKU"), Some(rest)),
            _ => (None, None),
        },
        None => match path.split_once('\\') {
            Some((root, rest)) => (hive(root), Some(rest)),
            None => (hive(path), None),
        },
    };
    match h {
        Some(h) => (Some(h), rest.filter(|r| !r.is_empty()), value),
        None => (None, None, value),
    }
}

/// Sysmon registry `Details` → (data string, data type).
pub(crate) fn registry_data(details: &str) -> (String, &'static str) {
    let d = trim(details);
    let inner = |prefix: &str| {
        d.get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(prefix))
            .and_then(|_| d[prefix.len()..].strip_suffix(')'))
    };
    if let Some(v) = inner("DWORD (") {
        if let Some(n) = parse_int(v) {
            return (n.to_string(), "SZ_DWORD");
        }
    }
    if let Some(v) = inner("QWORD (") {
        if let Some((hi, lo)) = v.split_once('-') {
            if let (Some(hi), Some(lo)) = (parse_int(hi), parse_int(lo)) {
                let n = ((hi as u64) << 32) | (lo as u64 & 0xffff_ffff);
                return (n.to_string(), "SZ_QWORD");
            }
        }
    }
    if d == "Binary Data" {
        return (d.to_owned(), "REG_BINARY");
    }
    (details.to_owned(), "REG_SZ")
}

/// DNS record type names by number.
fn dns_type(code: &str) -> Option<&'static str> {
    Some(match code {
        "1" => "A",
        "2" => "NS",
        "5" => "CNAME",
        "6" => "SOA",
        "12" => "PTR",
        "13" => "HINFO",
        "15" => "MX",
        "16" => "TXT",
        "17" => "RP",
        "18" => "AFSDB",
        "24" => "SIG",
        "25" => "KEY",
        "28" => "AAAA",
        "29" => "LOC",
        "33" => "SRV",
        "35" => "NAPTR",
        "36" => "KX",
        "37" => "CERT",
        "39" => "DNAME",
        "41" => "OPT",
        "43" => "DS",
        "46" => "RRSIG",
        "47" => "NSEC",
        "48" => "DNSKEY",
        "49" => "DHCID",
        "255" => "ANY",
        _ => return None,
    })
}

/// Sysmon `QueryResults` (`type:  5 alias.example;::ffff:192.0.2.1;`) → answers (type, data)
/// and resolved addresses; every address is also an A/AAAA answer, as in Elastic's pipeline.
pub(crate) fn dns_results(s: &str) -> (Vec<(Cow<'static, str>, String)>, Vec<String>) {
    let mut answers = Vec::new();
    let mut ips = Vec::new();
    for item in s.split(';') {
        let item = trim(item);
        if item.is_empty() {
            continue;
        }
        if let Some(rest) = item.strip_prefix("type:") {
            let mut parts = rest.split_whitespace();
            let code = parts.next().unwrap_or("");
            let name = dns_type(code).map_or_else(|| Cow::Owned(code.to_owned()), Cow::Borrowed);
            if let Some(data) = parts.next() {
                answers.push((name, data.to_owned()));
            }
        } else if let Some(ip) = clean_ip(item) {
            ips.push(ip.to_owned());
        }
    }
    for ip in &ips {
        let t = if ip.contains(':') { "AAAA" } else { "A" };
        answers.push((Cow::Borrowed(t), ip.clone()));
    }
    (answers, ips)
}

/// A Windows time stamp: RFC 3339, or zone-less (UTC unless `local`, then the configured zone).
pub(crate) fn parse_time(s: &str, local: bool, ctx: &Context) -> Option<DateTime<FixedOffset>> {
    let s = trim(s);
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    // Zone-less (Sysmon's `UtcTime`): the syslog header's reader, where chrono's format parser
    // cost about 4,000 instructions a time.
    let naive = match iso_timestamp(s.as_bytes()) {
        Some(SyslogTime::Local(n)) => n,
        _ => NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.fZ"))
            .ok()?,
    };
    Some(if local {
        ctx.localize(naive)
    } else {
        naive.and_utc().fixed_offset()
    })
}

/// `log.level` from a level number or name.
pub(crate) fn level_name(level: &str) -> Option<Cow<'static, str>> {
    let l = trim(level);
    Some(Cow::Borrowed(match l {
        "0" | "4" => "information",
        "1" => "critical",
        "2" => "error",
        "3" => "warning",
        "5" => "verbose",
        _ => {
            let lower = l.to_ascii_lowercase();
            return match lower.as_str() {
                "" => None,
                "info" | "informational" => Some(Cow::Borrowed("information")),
                "debug" => Some(Cow::Borrowed("verbose")),
                "warn" => Some(Cow::Borrowed("warning")),
                _ if l.bytes().all(|b| b.is_ascii_digit()) => None,
                _ => Some(Cow::Owned(lower)),
            };
        }
    }))
}

/// Standard opcode names (winmeta.xml).
pub(crate) fn opcode_name(op: &str) -> Option<&'static str> {
    Some(match trim(op) {
        "0" => "Info",
        "1" => "Start",
        "2" => "Stop",
        "3" => "DCStart",
        "4" => "DCStop",
        "5" => "Extension",
        "6" => "Reply",
        "7" => "Resume",
        "8" => "Suspend",
        "9" => "Send",
        "240" => "Receive",
        _ => return None,
    })
}

/// Names of the standard keyword bits (winmeta.xml) set in a keyword mask.
pub(crate) fn keyword_names(mask: &str) -> impl Iterator<Item = &'static str> {
    const BITS: &[(u64, &str)] = &[
        (0x0001_0000_0000_0000, "Response Time"),
        (0x0002_0000_0000_0000, "WDI Context"),
        (0x0004_0000_0000_0000, "WDI Diag"),
        (0x0008_0000_0000_0000, "SQM"),
        (0x0010_0000_0000_0000, "Audit Failure"),
        (0x0020_0000_0000_0000, "Audit Success"),
        (0x0040_0000_0000_0000, "Correlation Hint"),
        (0x0080_0000_0000_0000, "Classic"),
    ];
    let m = parse_int(mask).unwrap_or(0) as u64;
    BITS.iter()
        .filter(move |(b, _)| m & b != 0)
        .map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_addresses_and_names() {
        assert_eq!(parse_int("0x1a4"), Some(420));
        assert_eq!(parse_int(" 5184 "), Some(5184));
        assert_eq!(parse_int("0xffffffffffffffff"), Some(-1));
        assert_eq!(parse_int("-"), None);
        assert_eq!(clean_ip("::ffff:10.0.0.5"), Some("10.0.0.5"));
        assert_eq!(clean_ip("fe80::1%12"), Some("fe80::1"));
        assert_eq!(clean_ip("[::1]"), Some("::1"));
        assert_eq!(clean_ip("-"), None);
        assert_eq!(clean_ip("WORKSTATION"), None);
        assert_eq!(basename("C:\\Windows\\System32\\cmd.exe"), "cmd.exe");
        assert_eq!(basename("Registry"), "Registry");
        assert_eq!(dirname("C:\\a\\b.txt"), Some("C:\\a"));
        assert_eq!(extension("C:\\a.d\\b"), None);
        assert_eq!(extension("C:\\a\\b.TXT"), Some("TXT"));
        assert_eq!(upn_user("jane@corp.example"), "jane");
        assert_eq!(cn("CN=Jane Doe,OU=Staff,DC=corp,DC=example"), "Jane Doe");
        assert_eq!(
            dn_domain("CN=Jane,OU=Staff,DC=corp,DC=example"),
            Some("corp")
        );
        assert_eq!(
            domain_user("NT AUTHORITY\\SYSTEM"),
            Some(("NT AUTHORITY", "SYSTEM"))
        );
        assert_eq!(domain_user("a\\b\\c"), None);
        assert_eq!(level_name("0").as_deref(), Some("information"));
        assert_eq!(level_name("Warning").as_deref(), Some("warning"));
        assert_eq!(level_name("INFO").as_deref(), Some("information"));
        assert_eq!(level_name("17"), None);
        assert_eq!(opcode_name("0"), Some("Info"));
        let kw = |m| keyword_names(m).collect::<Vec<_>>();
        assert_eq!(kw("0x8010000000000000"), vec!["Audit Failure"]);
        assert_eq!(kw("0x80000000000000"), vec!["Classic"]);
        assert!(kw("junk").is_empty());
    }

    #[test]
    fn sysmon_packed_fields() {
        let h: Vec<_> = hashes("SHA1=AB12,MD5=CD34,IMPHASH=00000000,SHA256=EF").collect();
        assert_eq!(
            h,
            vec![
                ("sha1".into(), "ab12".into()),
                ("md5".into(), "cd34".into()),
                ("sha256".into(), "ef".into())
            ]
        );
        assert_eq!(
            registry("HKLM\\System\\CurrentControlSet\\Services\\svc\\Start"),
            (
                Some("HKLM"),
                Some("System\\CurrentControlSet\\Services\\svc\\Start"),
                "Start"
            )
        );
        assert_eq!(
            registry("\\REGISTRY\\MACHINE\\SYSTEM\\x"),
            (Some("HKLM"), Some("SYSTEM\\x"), "x")
        );
        assert_eq!(registry("\\Other\\x"), (None, None, "x"));
        assert_eq!(
            registry_data("DWORD (0x00000002)"),
            ("2".into(), "SZ_DWORD")
        );
        assert_eq!(
            registry_data("QWORD (0x00000001-0x00000002)"),
            ("4294967298".into(), "SZ_QWORD")
        );
        assert_eq!(registry_data("C:\\x.exe"), ("C:\\x.exe".into(), "REG_SZ"));
        let (a, ips) = dns_results("type:  5 edge.example.net;::ffff:192.0.2.7;2001:db8::1;");
        assert_eq!(ips, vec!["192.0.2.7", "2001:db8::1"]);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0], (Cow::Borrowed("CNAME"), "edge.example.net".into()));
        assert_eq!(a[2].0, "AAAA");
    }

    #[test]
    fn command_lines_split_like_windows() {
        assert_eq!(
            argv(r#""C:\Program Files\App\app.exe" -x "a b" c\d"#),
            vec![r"C:\Program Files\App\app.exe", "-x", "a b", r"c\d"]
        );
        // `""` inside quotes is a literal quote and ends the quoted part (pre-2008 rule).
        assert_eq!(
            argv(r#"a\\\"b "c""d e\\"#),
            vec![r#"a\"b"#, r#"c"d"#, r"e\\"]
        );
        assert_eq!(argv("  "), Vec::<String>::new());
        assert_eq!(argv(r#""""#), vec![""]);
    }

    #[test]
    fn times() {
        let ctx = Context::default();
        let t = parse_time("2020-10-28T02:39:26.388325200Z", false, &ctx).unwrap();
        assert_eq!(t.timestamp_subsec_nanos(), 388_325_200);
        let t = parse_time("2020-10-28 02:39:26.374", false, &ctx).unwrap();
        assert_eq!(t.to_rfc3339(), "2020-10-28T02:39:26.374+00:00");
        assert!(parse_time("yesterday", false, &ctx).is_none());
    }

    /// Zone-less times go through the syslog header's reader; chrono's format parser, which
    /// read them before, must agree wherever it reads one.
    #[test]
    fn zone_less_times_agree_with_chrono_formats() {
        let tokyo = Context::new(chrono::Utc::now(), chrono_tz::Asia::Tokyo);
        let old = |s: &str| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.fZ"))
                .ok()
        };
        let mut read = 0;
        for d in ["2020-10-28", "2024-02-29", "2023-02-29", "2020-1-28"] {
            // (A lower-case `t` is read now, as RFC 3339 allows; the formats did not.)
            for sep in ["T", " ", "  "] {
                for c in ["02:39:26", "23:59:59", "24:00:00", "2:39:26", "02:39"] {
                    for f in ["", ".374", ".388325200", ".1234567891", ".", ".x"] {
                        let s = format!("{d}{sep}{c}{f}");
                        for (local, ctx) in [(false, Context::default()), (true, tokyo.clone())] {
                            let want = old(&s).map(|n| {
                                if local {
                                    ctx.localize(n)
                                } else {
                                    n.and_utc().fixed_offset()
                                }
                            });
                            let got = parse_time(&s, local, &ctx);
                            assert_eq!(
                                got.map(|t| (t, t.offset().local_minus_utc())),
                                want.map(|t| (t, t.offset().local_minus_utc())),
                                "{s}"
                            );
                            read += usize::from(got.is_some());
                        }
                    }
                }
            }
        }
        assert!(read > 50, "{read}");
    }
}
