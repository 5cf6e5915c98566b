use super::*;
use chrono::Utc;
use serde_json::json;

fn normalizer() -> PanosNormalizer {
    PanosNormalizer::new(PanosSchema::builtin().unwrap())
}

fn ctx() -> Context {
    Context::new(
        "2024-06-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
        chrono_tz::Tz::UTC,
    )
}

fn run(line: &str) -> (serde_json::Value, Result<(), ParseFailure>) {
    let mut doc = Doc::new();
    let r = normalizer().normalize(line.as_bytes(), &ctx(), &mut doc);
    (doc.to_json(), r)
}

fn sorted(v: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

// Hand-written fixtures in the PAN-OS 10.x/11.x syslog layouts (documentation addresses).
const TRAFFIC_END: &str = "1,2024/03/05 10:11:12,011901002345,TRAFFIC,end,2817,2024/03/05 10:11:10,10.20.1.15,198.51.100.7,203.0.113.9,198.51.100.7,Allow-Web,CORP\\jdoe,,ssl,vsys1,inside,outside,ethernet1/3,ethernet1/1,fwd-all,2024/03/05 10:11:10,88123,1,53122,443,40211,443,0x40041c,tcp,allow,9120,1500,7620,24,2024/03/05 10:10:40,30,computer-and-internet-info,,7340000000000000001,0x8000000000000000,10.0.0.0-10.255.255.255,United States,,12,12,tcp-fin,0,0,0,0,,edge-fw01,from-policy,,,0,,0,,N/A,0,0,0,0,6b7e0c0a-1d2e-4f3a-9b8c-7d6e5f4a3b2c,0,0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,2024-03-05T10:11:10.512+01:00,,,encrypted-tunnel,networking,browser-based,4,\"used-by-malware,able-to-transfer-file,has-known-vulnerability\",,ssl,no,no,0";

#[test]
fn traffic_end_is_fully_mapped() {
    let (v, r) = run(TRAFFIC_END);
    r.unwrap();
    // The high-resolution timestamp carries milliseconds and the firewall's offset.
    assert_eq!(v["@timestamp"], "2024-03-05T10:11:10.512+01:00");
    assert_eq!(v["event"]["kind"], "event");
    assert_eq!(v["event"]["category"], json!(["network"]));
    assert_eq!(
        sorted(&v["event"]["type"]),
        ["allowed", "connection", "end"]
    );
    assert_eq!(v["event"]["action"], "flow_terminated");
    assert_eq!(v["event"]["outcome"], "success");
    assert_eq!(v["event"]["duration"], 30_000_000_000i64);
    assert_eq!(v["event"]["start"], "2024-03-05T10:10:40Z");
    assert_eq!(v["event"]["end"], "2024-03-05T10:11:10Z");
    assert_eq!(v["event"]["module"], "panw");
    assert_eq!(v["event"]["dataset"], "panw.panos");
    assert_eq!(v["source"]["ip"], "10.20.1.15");
    assert_eq!(v["source"]["port"], 53122);
    assert_eq!(v["source"]["nat"]["ip"], "203.0.113.9");
    assert_eq!(v["source"]["nat"]["port"], 40211);
    assert_eq!(v["source"]["bytes"], 1500);
    assert_eq!(v["source"]["packets"], 12);
    assert_eq!(
        v["source"]["user"],
        json!({"name": "jdoe", "domain": "CORP"})
    );
    assert_eq!(v["user"], json!({"name": "jdoe", "domain": "CORP"}));
    assert_eq!(v["destination"]["ip"], "198.51.100.7");
    assert_eq!(v["destination"]["port"], 443);
    assert_eq!(v["destination"]["geo"]["name"], "United States");
    assert_eq!(v["network"]["transport"], "tcp");
    assert_eq!(v["network"]["application"], "ssl");
    assert_eq!(v["network"]["bytes"], 9120);
    assert_eq!(v["network"]["type"], "ipv4");
    assert_eq!(v["observer"]["serial_number"], "011901002345");
    assert_eq!(v["observer"]["hostname"], "edge-fw01");
    assert_eq!(v["observer"]["vendor"], "Palo Alto Networks");
    assert_eq!(v["observer"]["ingress"]["zone"], "inside");
    assert_eq!(v["observer"]["egress"]["zone"], "outside");
    assert_eq!(v["observer"]["ingress"]["interface"]["name"], "ethernet1/3");
    assert_eq!(v["rule"]["name"], "Allow-Web");
    assert_eq!(v["rule"]["uuid"], "6b7e0c0a-1d2e-4f3a-9b8c-7d6e5f4a3b2c");
    assert_eq!(v["labels"]["nat_translated"], true);
    assert_eq!(v["panw"]["panos"]["endreason"], "tcp-fin");
    assert_eq!(v["panw"]["panos"]["flow_id"], "88123");
    assert_eq!(v["panw"]["panos"]["application"]["risk_level"], 4);
    assert_eq!(
        v["panw"]["panos"]["application"]["characteristics"],
        "used-by-malware,able-to-transfer-file,has-known-vulnerability"
    );
    assert_eq!(
        sorted(&v["related"]["ip"]),
        ["10.20.1.15", "198.51.100.7", "203.0.113.9"]
    );
    assert_eq!(v["related"]["user"], json!(["jdoe"]));
    assert_eq!(v["related"]["hosts"], json!(["edge-fw01"]));
    assert!(v["panw"]["panos"].get("extra").is_none());
}

#[test]
fn traffic_deny_without_nat_and_old_short_layout() {
    // PAN-OS 6.x-style line: stops after the packet counters; no NAT; generated time is used.
    let line = "1,2014/07/01 08:00:01,001606001116,TRAFFIC,deny,1,2014/07/01 08:00:00,192.0.2.10,198.51.100.20,0.0.0.0,0.0.0.0,Block-All,,,not-applicable,vsys1,trust,untrust,ethernet1/2,ethernet1/1,default,2014/07/01 08:00:00,0,1,51000,23,0,0,0x0,tcp,reset-both,74,74,0,1,2014/07/01 07:59:59,0,any,0,1234,0x0,192.0.2.0-192.0.2.255,United States,0,1,0";
    let (v, r) = run(line);
    r.unwrap();
    assert_eq!(v["@timestamp"], "2014-07-01T08:00:00Z");
    assert_eq!(v["event"]["action"], "flow_denied");
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(sorted(&v["event"]["type"]), ["connection", "denied"]);
    assert!(v["source"].get("nat").is_none());
    assert!(v["destination"].get("nat").is_none());
    assert_eq!(sorted(&v["related"]["ip"]), ["192.0.2.10", "198.51.100.20"]);
    assert_eq!(v["network"]["application"], "not-applicable");
}

#[test]
fn timestamps_use_the_configured_zone_and_skip_epoch_high_res() {
    let mut line = TRAFFIC_END.replace(
        "2024-03-05T10:11:10.512+01:00",
        "1969-12-31T16:00:00.000-08:00",
    );
    line = line.replace("2024/03/05 10:11:10,10.20", "2024/07/05 10:11:10,10.20");
    let c = Context::new(
        "2024-08-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
        chrono_tz::Europe::Paris,
    );
    let mut doc = Doc::new();
    normalizer()
        .normalize(line.as_bytes(), &c, &mut doc)
        .unwrap();
    assert_eq!(doc.to_json()["@timestamp"], "2024-07-05T10:11:10+02:00");
}

const THREAT_URL: &str = "1,2024/03/05 11:00:01,011901002345,THREAT,url,2817,2024/03/05 11:00:00,10.20.1.15,198.51.100.80,203.0.113.9,198.51.100.80,Allow-Web,,,web-browsing,vsys1,inside,outside,ethernet1/3,ethernet1/1,fwd-all,2024/03/05 11:00:00,99001,1,53200,80,40300,80,0x40b000,tcp,block-url,\"shop.example.com:8080/cart/view.php?id=7&x=a,b\",(9999),shopping,informational,client-to-server,7340000000000000099,0x2000000000000000,10.0.0.0-10.255.255.255,United States,,text/html,0,,,1,\"Mozilla/5.0 (X11; Linux x86_64)\",,,,,,,0,0,0,0,0,,edge-fw01,,,,GET,0,,0,,N/A,unknown,AppThreat-8800-8000,0x0,0,4294967295,,\"shopping,low-risk\",6b7e0c0a-1d2e-4f3a-9b8c-7d6e5f4a3b2c,0";

#[test]
fn threat_url_filtering() {
    let (v, r) = run(THREAT_URL);
    r.unwrap();
    assert_eq!(v["@timestamp"], "2024-03-05T11:00:00Z");
    assert_eq!(v["event"]["kind"], "alert");
    assert_eq!(
        v["event"]["category"],
        json!(["intrusion_detection", "threat", "network"])
    );
    assert_eq!(v["event"]["action"], "url_filtering");
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(v["event"]["type"], json!(["denied"]));
    assert_eq!(v["event"]["severity"], 5);
    assert_eq!(v["log"]["level"], "informational");
    assert_eq!(
        v["url"]["original"],
        "shop.example.com:8080/cart/view.php?id=7&x=a,b"
    );
    assert_eq!(v["url"]["domain"], "shop.example.com");
    assert_eq!(v["url"]["port"], 8080);
    assert_eq!(v["url"]["path"], "/cart/view.php");
    assert_eq!(v["url"]["query"], "id=7&x=a,b");
    assert_eq!(v["url"]["extension"], "php");
    assert_eq!(
        v["panw"]["panos"]["threat"],
        json!({"id": "9999", "name": "URL-filtering"})
    );
    assert_eq!(v["panw"]["panos"]["url"]["category"], "shopping");
    assert_eq!(
        v["panw"]["panos"]["url_category_list"],
        json!(["shopping", "low-risk"])
    );
    assert_eq!(v["network"]["direction"], "inbound");
    assert_eq!(v["http"]["request"]["method"], "GET");
    assert_eq!(
        v["user_agent"]["original"],
        "Mozilla/5.0 (X11; Linux x86_64)"
    );
    assert_eq!(v["labels"]["temporary_match"], true);
    assert_eq!(v["labels"]["file_submitted_to_WildFire"], json!(null));
    assert_eq!(v["rule"]["uuid"], "6b7e0c0a-1d2e-4f3a-9b8c-7d6e5f4a3b2c");
    // Placeholder zeros are left out.
    assert!(v["panw"]["panos"].get("http2_connection").is_none());
}

#[test]
fn threat_vulnerability_and_file_subtypes() {
    let base = THREAT_URL.replace(",url,", ",vulnerability,").replace(
        "\"shop.example.com:8080/cart/view.php?id=7&x=a,b\",(9999),shopping,informational",
        ",Example RCE Attempt(91234),any,critical",
    );
    let (v, _) = run(&base.replace(",block-url,", ",reset-both,"));
    assert_eq!(v["event"]["action"], "exploit_detected");
    assert_eq!(v["event"]["severity"], 1);
    assert_eq!(
        v["panw"]["panos"]["threat"],
        json!({"id": "91234", "name": "Example RCE Attempt"})
    );
    assert!(v.get("url").is_none());

    let file = THREAT_URL.replace(",url,", ",file,").replace(
        "\"shop.example.com:8080/cart/view.php?id=7&x=a,b\",(9999)",
        "\"invoice.pdf\",PDF File(52020)",
    );
    let (v, _) = run(&file.replace(",block-url,", ",alert,"));
    assert_eq!(v["event"]["action"], "file_match");
    assert_eq!(v["event"]["outcome"], "success");
    assert_eq!(v["event"]["type"], json!(["allowed"]));
    assert_eq!(v["file"]["name"], "invoice.pdf");
}

#[test]
fn system_log_with_quoted_description() {
    let line = "1,2024/03/05 12:00:00,011901002345,SYSTEM,general,2817,2024/03/05 12:00:00,,general,,0,0,general,medium,\"Update job failed: server unreachable, retrying\",7340000000000000500,0x0,0,0,0,0,,edge-fw01,0,0,2024-03-05T12:00:00.250-05:00";
    let (v, r) = run(line);
    r.unwrap();
    assert_eq!(
        v["message"],
        "Update job failed: server unreachable, retrying"
    );
    assert_eq!(v["event"]["category"], json!(["configuration"]));
    assert_eq!(v["event"]["code"], "general");
    assert_eq!(v["event"]["severity"], 3);
    assert_eq!(v["log"]["level"], "medium");
    assert_eq!(v["@timestamp"], "2024-03-05T12:00:00.250-05:00");
}

#[test]
fn config_both_change_detail_positions() {
    let end = "1,2024/03/05 13:00:00,011901002345,CONFIG,0,2817,2024/03/05 13:00:00,192.0.2.50,vsys1,edit,netadmin,Web,Succeeded, vsys  vsys1 address  web-01,7340000000000000600,0x0,0,0,0,0,,edge-fw01,0,,0,2024-03-05T13:00:00.100+00:00,\"web-01 { ip-netmask 192.0.2.1; }\",\"web-01 { ip-netmask 192.0.2.2; description \"\"a, b\"\"; }\"";
    let (v, r) = run(end);
    r.unwrap();
    assert_eq!(v["event"]["action"], "cmd-edit");
    assert_eq!(v["event"]["outcome"], "success");
    assert_eq!(v["host"]["ip"], "192.0.2.50");
    assert_eq!(v["panw"]["panos"]["admin"], "netadmin");
    assert_eq!(v["panw"]["panos"]["sequence_number"], "7340000000000000600");
    assert_eq!(
        v["panw"]["panos"]["after_change_detail"],
        "web-01 { ip-netmask 192.0.2.2; description \"a, b\"; }"
    );
    let inline = "1,2021/05/05 13:00:00,011901002345,CONFIG,0,2305,2021/05/05 13:00:00,192.0.2.50,vsys1,set,netadmin,CLI,Failed, deviceconfig system,before text,after text,42,0x0,0,0,0,0,,edge-fw01,0,";
    let (v, _) = run(inline);
    assert_eq!(v["event"]["action"], "cmd-set");
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(v["panw"]["panos"]["before_change_detail"], "before text");
    assert_eq!(v["panw"]["panos"]["sequence_number"], "42");
    assert_eq!(v["observer"]["hostname"], "edge-fw01");
    let old = "1,2013/03/25 23:59:02,001606001116,CONFIG,0,0,2013/03/25 23:58:00,192.0.2.9,,commit,admin,Web,Submitted,,0,0x0";
    let (v, _) = run(old);
    assert_eq!(v["event"]["action"], "cmd-commit");
    assert_eq!(v["event"]["outcome"], "unknown");
}

#[test]
fn globalprotect_uses_private_ip_as_source() {
    let line = "1,2024/03/05 14:00:05,011901002345,GLOBALPROTECT,0,2817,2024/03/05 14:00:04,vsys1,gateway-auth,login,LDAP,,CORP\\asmith,FR,LAPTOP-42,203.0.113.77,::,10.99.0.12,::,a1b2c3d4-0000-1111-2222-333344445555,PF1ABC,6.2.1,Windows,\"Microsoft Windows 11 Pro , 64-bit\",1,,,\"Login from: 203.0.113.77, User name: asmith\",success,Paris,3600,user-logon,0,GP-GW,7340000000000000700,0x8000000000000000,2024-03-05T14:00:04.777+01:00,,0,,,,0,0,0,0,,edge-fw01,1,";
    let (v, r) = run(line);
    r.unwrap();
    assert_eq!(v["source"]["ip"], "10.99.0.12");
    assert_eq!(v["source"]["nat"]["ip"], "203.0.113.77");
    assert_eq!(v["host"]["ip"], "10.99.0.12");
    assert_eq!(v["host"]["name"], "laptop-42");
    assert_eq!(v["user"]["name"], "asmith");
    assert_eq!(v["event"]["code"], "gateway-auth");
    assert_eq!(v["event"]["outcome"], "success");
    assert_eq!(v["event"]["duration"], 3_600_000_000_000i64);
    assert_eq!(v["observer"]["geo"]["name"], "Paris");
    assert_eq!(sorted(&v["related"]["hosts"]), ["edge-fw01", "laptop-42"]);
    assert!(v["panw"]["panos"].get("private").is_none());
}

#[test]
fn userid_hipmatch_auth_and_audit() {
    let userid = "1,2024/03/05 15:00:00,011901002345,USERID,login,2817,2024/03/05 15:00:00,vsys1,10.20.1.15,bob@corp.example,dc01,0,1,2700,0,0,active-directory,,7340000000000000800,0x0,0,0,0,0,,edge-fw01,1,,2024/03/05 15:00:00,1,0x0,bob";
    let (v, r) = run(userid);
    r.unwrap();
    assert_eq!(
        v["source"]["user"],
        json!({"name": "bob", "domain": "corp.example"})
    );
    assert_eq!(v["event"]["category"], json!(["network", "iam"]));
    assert_eq!(v["source"]["ip"], "10.20.1.15");

    let hip = "1,2024/03/05 15:10:00,011901002345,HIP-MATCH,0,2817,2024/03/05 15:10:00,CORP\\asmith,vsys1,LAPTOP-42,Windows,10.99.0.12,corp-hip,1,profile,0,0,7340000000000000900,0x0,0,0,0,0,,edge-fw01,1,2001:db8::12,a1b2c3d4,PF1ABC,aa:bb:cc:dd:ee:ff,2024-03-05T15:10:00.000+00:00";
    let (v, r) = run(hip);
    r.unwrap();
    // The IPv6 column only fills in when the IPv4 one is empty or 0.0.0.0.
    assert_eq!(v["source"]["ip"], "10.99.0.12");
    let (v6, _) = run(&hip.replace(",10.99.0.12,", ",0.0.0.0,"));
    assert_eq!(v6["source"]["ip"], "2001:db8::12");
    assert_eq!(v6["network"]["type"], "ipv6");
    assert_eq!(v["host"]["mac"], "AA-BB-CC-DD-EE-FF");

    let auth = "1,2024/03/05 15:20:00,011901002345,AUTHENTICATION,0,2817,2024/03/05 15:20:00,vsys1,192.0.2.77,asmith,corp\\asmith,,auth-policy-1,1,4711,Okta,,radius-prof,,GP,authenticated,1,7340000000000001000,0x0,0,0,0,0,,edge-fw01,1,RADIUS";
    let (v, r) = run(auth);
    r.unwrap();
    assert_eq!(v["event"]["category"], json!(["authentication"]));
    assert_eq!(v["event"]["outcome"], "success");
    assert_eq!(
        v["source"]["user"]["name"],
        json!(["asmith", "corp\\asmith"])
    );
    assert_eq!(sorted(&v["related"]["user"]), ["asmith", "corp\\asmith"]);

    let audit = "Mar  5 15:30:00 198.51.100.1 011901002345,2024/03/05 15:30:00,AUDIT,2817,gui-op,netadmin,\"<show><system><info/></system></show>\",success";
    let (v, r) = run(audit);
    r.unwrap();
    assert_eq!(v["observer"]["serial_number"], "011901002345");
    assert_eq!(
        v["panw"]["panos"]["event"]["action"],
        "<show><system><info/></system></show>"
    );
    assert_eq!(v["event"]["outcome"], "success");
    assert_eq!(v["@timestamp"], "2024-03-05T15:30:00Z");
}

#[test]
fn decryption_tls_fields() {
    let line = "1,2024/03/05 16:00:00,011901002345,DECRYPTION,0,2817,2024/03/05 16:00:00,10.20.1.15,198.51.100.9,203.0.113.9,198.51.100.9,decrypt-all,,,ssl,vsys1,inside,outside,ethernet1/3,ethernet1/1,fwd-all,2024/03/05 16:00:00,777,1,50000,443,40000,443,0x1400000,tcp,allow,N/A,,,,,6b7e0c0a-1d2e-4f3a-9b8c-7d6e5f4a3b2c,Server_Hello,Client_Hello,TLS1.3,ECDHE,AES_128_GCM,SHA256,,secp256r1,,trusted,Trusted,Forward,0a1b2c,0123456789abcdef0123456789abcdef,2024/01/01 00:00:00,2025/01/01 00:00:00,V3,2048,11,9,9,11,0,www.example.com,Example CA,Example Root,www.example.com,,";
    let (v, r) = run(line);
    r.unwrap();
    assert_eq!(v["tls"]["version"], "1.3");
    assert_eq!(v["tls"]["version_protocol"], "tls");
    assert_eq!(v["tls"]["cipher"], "AES_128_GCM");
    assert_eq!(
        v["tls"]["client"]["hash"]["md5"],
        "0123456789abcdef0123456789abcdef"
    );
    assert_eq!(v["tls"]["client"]["server_name"], "www.example.com");
    assert_eq!(v["event"]["outcome"], "success");
    assert_eq!(v["labels"]["ssl_decrypted"], true);
    assert_eq!(
        v["related"]["hash"],
        json!(["0123456789abcdef0123456789abcdef"])
    );
}

#[test]
fn failures_still_write_what_they_can() {
    let (v, r) = run("1,2024/03/05 10:11:12,011901002345,BOGUS,end,1");
    assert!(r.unwrap_err().0.contains("unknown PAN-OS log type 'BOGUS'"));
    assert_eq!(v["event"]["module"], "panw");

    let (v, r) = run("1,2024/03/05 10:11:12,011901002345,TRAFFIC,end");
    assert!(r.unwrap_err().0.contains("too few"));
    assert_eq!(v["observer"]["serial_number"], "011901002345");

    let (v, r) =
        run("1,2024/03/05 10:11:12,011901002345,TRAFFIC,end,1,not a time,192.0.2.1,192.0.2.2");
    assert!(r.unwrap_err().0.contains("generated time"));
    assert_eq!(v["source"]["ip"], "192.0.2.1");
    assert!(v.get("@timestamp").is_none());
}

#[test]
fn first_column_and_bad_values_are_tolerated() {
    let line = TRAFFIC_END.replacen("1,", "Mar  5 10:11:12 edge-fw01 1,", 1);
    let (v, r) = run(&line);
    r.unwrap();
    assert_eq!(v["source"]["ip"], "10.20.1.15");
    let line = TRAFFIC_END
        .replacen("1,", ",", 1)
        .replace(",53122,", ",notaport,");
    let (v, r) = run(&line);
    r.unwrap();
    assert!(v["source"].get("port").is_none());
    assert_eq!(v["panw"]["panos"]["sport"], "notaport");
}

#[test]
fn extra_trailing_columns_are_kept() {
    let (v, r) = run(&format!("{TRAFFIC_END},future-a,,future-c"));
    r.unwrap();
    assert_eq!(
        v["panw"]["panos"]["extra"],
        json!(["future-a", "", "future-c"])
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let n = normalizer();
    let c = ctx();
    let mut doc = Doc::new();
    let samples: Vec<Vec<u8>> = vec![
        vec![],
        b",,,,,,,,,".to_vec(),
        b"\"".to_vec(),
        b"1,2024/03/05 10:11:12,x,THREAT,url,1,2024/03/05 10:11:12,\xff\xfe,\"\xc3(".to_vec(),
        b"1,2024/13/45 99:99:99,x,SYSTEM,general,1,2024/13/45 99:99:99".to_vec(),
        TRAFFIC_END.as_bytes()[..200].to_vec(),
        THREAT_URL.replace(",0x40b000,", ",0xZZ,").into_bytes(),
        b"x,2024/03/05 10:11:12,AUDIT".to_vec(),
    ];
    for s in &samples {
        for cut in 0..s.len().min(300) {
            doc.clear();
            let _ = n.normalize(&s[..cut], &c, &mut doc);
        }
        doc.clear();
        let _ = n.normalize(s, &c, &mut doc);
    }
}

#[test]
fn tunnel_iptag_correlation_gtp_sctp() {
    let tunnel = "1,2024/03/05 17:00:00,011901002345,START,start,2817,2024/03/05 17:00:00,10.1.1.1,10.2.2.2,0.0.0.0,0.0.0.0,Allow-GRE,,,gre,vsys1,inside,outside,ethernet1/3,ethernet1/1,fwd-all,,5001,1,0,0,0,0,0x0,gre,allow,informational,99,0x0,10.0.0.0-10.255.255.255,10.0.0.0-10.255.255.255,0,0,0,0,,edge-fw01,0,,0,,GRE,100,60,40,2,1,1,1,0,0,0,1,0,n/a,from-policy,2024/03/05 16:59:00,60,Inspect-GRE,,,,,,,,2024-03-05T17:00:00.123+00:00";
    let (v, r) = run(tunnel);
    r.unwrap();
    assert_eq!(v["event"]["action"], "flow_started");
    assert_eq!(v["rule"]["name"], "Inspect-GRE");
    assert_eq!(v["panw"]["panos"]["ruleset"], "Allow-GRE");
    assert_eq!(v["event"]["duration"], 60_000_000_000i64);
    assert_eq!(v["@timestamp"], "2024-03-05T17:00:00.123Z");

    let iptag = "1,2024/03/05 17:10:00,011901002345,IPTAG,0,2817,2024/03/05 17:10:00,vsys1,192.0.2.33,quarantine,register,1,3600,XMLAPI,xml-api,,7340000000000001100,0x0,0,0,0,0,,edge-fw01,1,2024-03-05T17:10:00.000+00:00";
    let (v, r) = run(iptag);
    r.unwrap();
    assert_eq!(v["source"]["ip"], "192.0.2.33");
    assert_eq!(v["event"]["code"], "register");
    assert_eq!(v["panw"]["panos"]["tag"]["name"], "quarantine");

    let corr = "1,2024/03/05 17:20:00,011901002345,CORRELATION,0,2817,2024/03/05 17:20:00,10.20.1.15,CORP\\jdoe,vsys1,compromised-host,critical,0,0,0,0,,edge-fw01,1,beacon-detection,6005,\"Host visited known C2 domains 12 times\"";
    let (v, r) = run(corr);
    r.unwrap();
    assert_eq!(v["message"], "Host visited known C2 domains 12 times");
    assert_eq!(v["event"]["severity"], 1);
    assert_eq!(v["user"]["name"], "jdoe");

    let sctp = "1,2024/03/05 17:30:00,011901002345,SCTP,0,2817,2024/03/05 17:30:00,10.3.3.3,10.4.4.4,,,sctp-rule,,,,vsys1,core,ran,ethernet1/5,ethernet1/6,fwd-all,,700,1,2905,2905,,,,,sctp,allow,0,0,0,0,,edge-fw01,7340000000000001200,,1,46,informational,DATA,,1,2,0,16777251,316,1,0,,0,,,,10,5,5,10,5,5";
    let (v, r) = run(sctp);
    r.unwrap();
    assert_eq!(v["network"]["transport"], "sctp");
    assert_eq!(v["observer"]["serial_number"], "011901002345");
    assert_eq!(v["network"]["packets"], 10);
}

#[test]
fn builtin_layout_positions() {
    let schema = PanosSchema::builtin().unwrap();
    let pos = |t: &str, c: &str| {
        schema
            .log_type(t)
            .unwrap()
            .layouts
            .last()
            .unwrap()
            .index_of(c)
    };
    // Anchors from the PAN-OS syslog field descriptions.
    assert_eq!(pos("TRAFFIC", "action"), Some(30));
    assert_eq!(pos("TRAFFIC", "device_name"), Some(52));
    assert_eq!(pos("TRAFFIC", "high_res_timestamp"), Some(102));
    assert_eq!(pos("THREAT", "misc"), Some(31));
    assert_eq!(pos("THREAT", "device_name"), Some(59));
    assert_eq!(pos("THREAT", "high_res_timestamp"), Some(107));
    assert_eq!(pos("SYSTEM", "high_res_timestamp"), Some(25));
    assert_eq!(pos("GLOBALPROTECT", "high_res_timestamp"), Some(36));
}

#[test]
fn random_lines_never_panic() {
    // A small deterministic generator: header-like prefixes followed by noise rich in
    // separators, quotes and multi-byte sequences.
    let n = normalizer();
    let c = ctx();
    let mut doc = Doc::new();
    let mut rng = crate::testing::XorShift(0x9e37_79b9_7f4a_7c15);
    let mut next = || rng.next();
    let alphabet: &[u8] = b",,,,\"\"0123456789./:- abcTRAFFIC\xc3\xa9\xff\\@()";
    let prefixes = [
        "1,2024/03/05 10:11:12,011901002345,TRAFFIC,end,1,2024/03/05 10:11:12,",
        "1,2024/03/05 10:11:12,011901002345,THREAT,url,1,2024/03/05 10:11:12,",
        "1,2024/03/05 10:11:12,011901002345,GLOBALPROTECT,0,1,2024/03/05 10:11:12,",
        "1,2024/03/05 10:11:12,011901002345,CONFIG,0,1,2024/03/05 10:11:12,",
        "x,2024/03/05 10:11:12,AUDIT,",
    ];
    for round in 0..3000 {
        let mut line = prefixes[round % prefixes.len()].as_bytes().to_vec();
        let len = (next() % 400) as usize;
        for _ in 0..len {
            line.push(alphabet[(next() % alphabet.len() as u64) as usize]);
        }
        doc.clear();
        let _ = n.normalize(&line, &c, &mut doc);
        let _ = doc.to_json();
    }
}

#[test]
fn helpers() {
    assert_eq!(split_user("DOM\\u"), ("u", Some("DOM")));
    assert_eq!(split_user("DOM\\\\u"), ("u", Some("DOM")));
    assert_eq!(split_user("u$@EXAMPLE.NET"), ("u$", Some("EXAMPLE.NET")));
    assert_eq!(split_user("plain"), ("plain", None));
    assert_eq!(split_user("\\x"), ("\\x", None));
    assert_eq!(split_threat("Name(12)"), ("Name", Some("12")));
    assert_eq!(split_threat("(9999)"), ("", Some("9999")));
    assert_eq!(split_threat("odd(x)"), ("odd(x)", None));
    assert_eq!(truncate("héllo", 2), "hé");
}
