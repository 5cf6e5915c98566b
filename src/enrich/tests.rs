use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::mmdb::{MmdbValue, MmdbWriter};
use super::*;
use crate::config::{
    AssetConfig, EnrichConfig, GeoipConfig, GeoipDatabase, IocConfig, RdnsConfig, UserConfig,
};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn db(path: PathBuf) -> GeoipDatabase {
    GeoipDatabase {
        path,
        mmap: true,
        mapping: Default::default(),
    }
}

fn geoip_cfg(dbs: Vec<GeoipDatabase>) -> EnrichConfig {
    EnrichConfig {
        geoip: Some(GeoipConfig {
            databases: dbs,
            fields: vec![
                "source.ip".into(),
                "destination.ip".into(),
                "host.ip".into(),
                "observer.ip".into(),
            ],
        }),
        watch: false,
        ..Default::default()
    }
}

/// Runs the enrichers over one record given as (key, value) pairs; returns it as JSON.
fn enrich_one(e: &Enrichers, fields: &[(&'static str, Value)]) -> serde_json::Value {
    let mut doc = Doc::new();
    for (k, v) in fields {
        doc.insert(*k, v.clone());
    }
    e.batch().apply(&mut doc);
    doc.to_json()
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn city(name: &str, iso: &str) -> MmdbValue {
    MmdbValue::map([
        (
            "city",
            MmdbValue::map([("names", MmdbValue::map([("en", MmdbValue::str(name))]))]),
        ),
        (
            "country",
            MmdbValue::map([("iso_code", MmdbValue::str(iso))]),
        ),
    ])
}

#[test]
fn mmdb_writer_output_reads_back_with_maxminddb_and_specific_networks_win() {
    let mut w = MmdbWriter::new("Test-City");
    w.insert("81.2.0.0".parse().unwrap(), 16, city("Broad", "GB"))
        .unwrap();
    w.insert("81.2.69.0".parse().unwrap(), 24, city("London", "GB"))
        .unwrap();
    w.insert("2a02:ff00::".parse().unwrap(), 32, city("Zurich", "CH"))
        .unwrap();
    assert!(w
        .insert("1.2.3.4".parse().unwrap(), 33, city("x", "x"))
        .is_err());
    let reader = maxminddb::Reader::from_source(w.build()).unwrap();
    reader.verify().unwrap();
    let name = |ip: &str| -> Option<String> {
        reader
            .lookup(ip.parse().unwrap())
            .unwrap()
            .decode_path(&[
                maxminddb::PathElement::Key("city"),
                maxminddb::PathElement::Key("names"),
                maxminddb::PathElement::Key("en"),
            ])
            .unwrap()
    };
    assert_eq!(name("81.2.69.142").as_deref(), Some("London"));
    assert_eq!(name("81.2.1.1").as_deref(), Some("Broad"));
    assert_eq!(name("2a02:ff00::1").as_deref(), Some("Zurich"));
    assert_eq!(name("8.8.8.8"), None);
}

#[test]
fn geoip_from_the_example_csv_fills_geo_and_as_of_public_addresses_only() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("enrichment-data/geoip-example.csv");
    let e = Enrichers::new(&geoip_cfg(vec![db(path)]), &Metrics::new()).unwrap();
    let out = enrich_one(
        &e,
        &[
            ("source.ip", s("10.1.2.3")),
            ("destination.ip", s("93.184.216.34")),
            (
                "host.ip",
                Value::Array(vec![s("127.0.0.1"), s("81.2.69.142")]),
            ),
            ("observer.ip", s("not an address")),
        ],
    );
    let d = &out["destination"];
    assert_eq!(d["geo"]["city_name"], "Norwell");
    assert_eq!(d["geo"]["country_iso_code"], "US");
    assert_eq!(d["geo"]["region_iso_code"], "US-MA");
    assert_eq!(d["geo"]["region_name"], "Massachusetts");
    assert_eq!(d["geo"]["continent_name"], "North America");
    assert_eq!(d["geo"]["timezone"], "America/New_York");
    assert_eq!(d["geo"]["location"]["lat"], 42.1508);
    assert_eq!(d["as"]["number"], 15133);
    assert_eq!(d["as"]["organization"]["name"], "Edgecast Inc.");
    assert_eq!(out["host"]["geo"]["city_name"], "London");
    assert!(out["source"].get("geo").is_none(), "{out}");
    assert!(out["observer"].get("geo").is_none(), "{out}");
}

#[test]
fn geoip_flat_schema_through_a_mapping_and_first_database_wins() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = MmdbWriter::new("ip-location-db-like");
    w.insert(
        "1.0.0.0".parse().unwrap(),
        24,
        MmdbValue::map([
            ("city", MmdbValue::str("Brisbane")),
            ("country_code", MmdbValue::str("AU")),
            ("latitude", MmdbValue::Double(-27.47)),
            ("longitude", MmdbValue::Double(153.02)),
        ]),
    )
    .unwrap();
    let flat = dir.path().join("flat.mmdb");
    std::fs::write(&flat, w.build()).unwrap();
    let mut w = MmdbWriter::new("asn-like");
    w.insert(
        "1.0.0.0".parse().unwrap(),
        8,
        MmdbValue::map([
            ("autonomous_system_number", MmdbValue::U32(13335)),
            (
                "autonomous_system_organization",
                MmdbValue::str("CLOUDFLARENET"),
            ),
            (
                "city",
                MmdbValue::str("not used: the first database had one"),
            ),
        ]),
    )
    .unwrap();
    let asn = dir.path().join("asn.mmdb");
    std::fs::write(&asn, w.build()).unwrap();
    let mut flat_db = db(flat);
    flat_db.mmap = false;
    for (k, v) in [
        ("geo.city_name", "city"),
        ("geo.country_iso_code", "country_code"),
        ("geo.location.lat", "latitude"),
        ("geo.location.lon", "longitude"),
    ] {
        flat_db.mapping.insert(k.into(), v.into());
    }
    let mut asn_db = db(asn);
    for (k, v) in [
        ("as.number", "autonomous_system_number"),
        ("as.organization.name", "autonomous_system_organization"),
        ("geo.city_name", "city"),
    ] {
        asn_db.mapping.insert(k.into(), v.into());
    }
    let e = Enrichers::new(&geoip_cfg(vec![flat_db, asn_db]), &Metrics::new()).unwrap();
    let out = enrich_one(&e, &[("source.ip", s("1.0.0.1"))]);
    assert_eq!(out["source"]["geo"]["city_name"], "Brisbane");
    assert_eq!(out["source"]["geo"]["country_iso_code"], "AU");
    assert_eq!(out["source"]["geo"]["location"]["lon"], 153.02);
    assert_eq!(out["source"]["as"]["number"], 13335);
    assert_eq!(out["source"]["as"]["organization"]["name"], "CLOUDFLARENET");

    let mut bad = db(dir.path().join("asn.mmdb"));
    bad.mapping.insert("geo.town".into(), "city".into());
    let err = geoip::check(&bad).unwrap_err().to_string();
    assert!(err.contains("unknown output `geo.town`"), "{err}");
}

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/mmdb/maxmind-MaxMind-DB");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipped: {} not found", p.display());
        None
    }
}

#[test]
fn maxmind_test_databases_give_london_and_an_asn() {
    let Some(root) = corpus() else { return };
    let e = Enrichers::new(
        &geoip_cfg(vec![
            db(root.join("test-data/GeoIP2-City-Test.mmdb")),
            db(root.join("test-data/GeoLite2-ASN-Test.mmdb")),
        ]),
        &Metrics::new(),
    )
    .unwrap();
    let out = enrich_one(
        &e,
        &[
            ("source.ip", s("81.2.69.142")),
            ("destination.ip", s("1.0.0.1")),
        ],
    );
    let g = &out["source"]["geo"];
    assert_eq!(g["city_name"], "London");
    assert_eq!(g["country_iso_code"], "GB");
    assert_eq!(g["country_name"], "United Kingdom");
    assert_eq!(g["continent_name"], "Europe");
    assert_eq!(g["region_iso_code"], "GB-ENG");
    assert_eq!(g["timezone"], "Europe/London");
    assert_eq!(out["destination"]["as"]["number"], 15169);
    assert_eq!(
        out["destination"]["as"]["organization"]["name"],
        "Google Inc."
    );
}

#[test]
fn broken_maxmind_databases_are_refused_with_an_error_not_a_panic() {
    let Some(root) = corpus() else { return };
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in ["libmaxminddb", "maxminddb-golang", "maxminddb-python"] {
        for f in std::fs::read_dir(root.join("bad-data").join(sub)).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files.push(root.join("test-data/GeoIP2-City-Test-Broken-Double-Format.mmdb"));
    files.push(root.join("test-data/GeoIP2-City-Test-Invalid-Node-Count.mmdb"));
    assert!(files.len() > 15);
    for f in files {
        for mmap in [true, false] {
            let mut d = db(f.clone());
            d.mmap = mmap;
            let r = std::panic::catch_unwind(|| geoip::check(&d));
            let err = r
                .unwrap_or_else(|_| panic!("{} panicked", f.display()))
                .expect_err(&f.display().to_string());
            assert!(
                err.to_string().contains(&*f.to_string_lossy()),
                "the error names the file: {err}"
            );
        }
    }
}

fn ioc_enrichers(files: Vec<PathBuf>, watch: bool) -> (Enrichers, Metrics) {
    let m = Metrics::new();
    let cfg = EnrichConfig {
        ioc: Some(IocConfig {
            files,
            fields: vec![
                "source.ip".into(),
                "destination.ip".into(),
                "url.domain".into(),
                "url.full".into(),
                "dns.question.name".into(),
                "process.hash.sha256".into(),
                "file.hash.md5".into(),
            ],
        }),
        watch,
        ..Default::default()
    };
    (Enrichers::new(&cfg, &m).unwrap(), m)
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("enrichment-data")
        .join(name)
}

#[test]
fn ioc_csv_text_and_stix_lists_match_each_kind_of_indicator() {
    let (e, m) = ioc_enrichers(
        vec![
            example("ioc-example.csv"),
            example("ioc-example.txt"),
            example("ioc-example.stix.json"),
        ],
        false,
    );
    let out = enrich_one(
        &e,
        &[
            ("source.ip", s("203.0.113.50")),
            ("destination.ip", s("192.0.2.44")),
            ("url.domain", s("CDN.Malware-Site.example.")),
            ("url.full", s("http://malware-site.example/payload.exe")),
            ("dns.question.name", s("not-listed.example")),
            (
                "process.hash.sha256",
                s("9F914D42706FE215501044ACD85A32D58AAEF1419D404FDDFA5D3B48F66CCD9F"),
            ),
            ("file.hash.md5", s("d41d8cd98f00b204e9800998ecf8427e")),
        ],
    );
    assert_eq!(out["tags"], serde_json::json!(["ioc_match"]));
    let en = out["threat"]["enrichments"].as_array().unwrap();
    let by_field = |f: &str| {
        en.iter()
            .find(|x| x["matched"]["field"] == f)
            .unwrap_or_else(|| panic!("no match on {f}: {out}"))
    };
    let cidr = by_field("source.ip");
    assert_eq!(cidr["indicator"]["name"], "203.0.113.48/28");
    assert_eq!(cidr["indicator"]["type"], "ipv4-addr");
    assert_eq!(cidr["indicator"]["confidence"], "Medium");
    assert_eq!(cidr["indicator"]["provider"], "example-feed");
    assert_eq!(cidr["matched"]["atomic"], "203.0.113.50");
    assert_eq!(cidr["matched"]["type"], "indicator_match_rule");
    let stix = by_field("destination.ip");
    assert_eq!(stix["indicator"]["provider"], "Example CTI");
    assert_eq!(stix["indicator"]["confidence"], "85");
    assert_eq!(
        stix["indicator"]["description"],
        "Example: command-and-control addresses"
    );
    let sub = by_field("url.domain");
    assert_eq!(sub["indicator"]["name"], "malware-site.example");
    assert_eq!(sub["indicator"]["type"], "domain-name");
    assert_eq!(by_field("url.full")["indicator"]["type"], "url");
    assert_eq!(by_field("process.hash.sha256")["indicator"]["type"], "file");
    assert_eq!(
        by_field("file.hash.md5")["indicator"]["provider"],
        "ioc-example"
    );
    assert_eq!(en.len(), 6, "{out}");
    drop(e.batch());
    assert_eq!(
        m.counter_value("sluice_enrich_lookups_total", &[("enricher", "ioc")]),
        7
    );
    assert_eq!(
        m.counter_value("sluice_enrich_hits_total", &[("enricher", "ioc")]),
        6
    );

    let clean = enrich_one(
        &e,
        &[("source.ip", s("8.8.8.8")), ("url.domain", s("example"))],
    );
    assert!(clean.get("threat").is_none() && clean.get("tags").is_none());
}

#[test]
fn ioc_malformed_entries_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let txt = write(
        dir.path(),
        "list.txt",
        "# comment\n10.0.0.0/8\nnot a domain!\n1.2.3.999\n\nevil.example # trailing comment\n10.1.2.3/40\n",
    );
    let csv = write(
        dir.path(),
        "list.csv",
        "indicator,type,confidence\nevil2.example,domain,High\n10.9.9.9,sha256,\n,ip,\nx.example,weird-type,\n",
    );
    let stix = write(
        dir.path(),
        "list.json",
        r#"{"type":"bundle","objects":[
            {"type":"indicator","id":"indicator--1","pattern":"[ipv4-addr:value = '10.0.0.1' AND domain-name:value = 'a.example']","pattern_type":"stix"},
            {"type":"indicator","id":"indicator--2","pattern":"[process:name = 'evil.exe']","pattern_type":"stix"},
            {"type":"indicator","id":"indicator--3","pattern":"x","pattern_type":"sigma"},
            {"type":"indicator","id":"indicator--4","pattern":"[url:value = 'http://x.example/a\\'b']","pattern_type":"stix"}
        ]}"#,
    );
    let (t, report) = ioc::IocTable::load(&IocConfig {
        files: vec![txt, csv, stix],
        fields: vec![],
    })
    .unwrap();
    assert_eq!(report.entries, 4, "10/8, evil, evil2, the URL");
    assert_eq!(report.skipped, 3 + 3 + 3);
    assert_eq!(t.len(), 4);

    let bad = write(dir.path(), "nohead.csv", "ip,what\n1.2.3.4,x\n");
    let err = ioc::IocTable::load(&IocConfig {
        files: vec![bad],
        fields: vec![],
    })
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("nohead.csv") && err.contains("indicator"),
        "{err}"
    );
}

#[test]
fn asset_inventory_matches_ip_cidr_and_host_names() {
    let m = Metrics::new();
    let cfg = EnrichConfig {
        asset: Some(AssetConfig {
            files: vec![
                example("assets-example.csv"),
                example("assets-example.yaml"),
            ],
            fields: vec!["host.name".into(), "host.ip".into()],
        }),
        watch: false,
        ..Default::default()
    };
    let e = Enrichers::new(&cfg, &m).unwrap();
    let by_ip = enrich_one(&e, &[("host.ip", s("10.20.30.40"))]);
    assert_eq!(by_ip["host"]["name"], "web01.corp.example.com");
    assert_eq!(by_ip["host"]["os"]["name"], "Ubuntu 22.04");
    assert_eq!(by_ip["host"]["type"], "server");
    assert_eq!(by_ip["labels"]["criticality"], "high");
    assert_eq!(by_ip["labels"]["business_unit"], "e-commerce");
    let by_net = enrich_one(&e, &[("host.ip", s("10.20.4.17"))]);
    assert_eq!(by_net["host"]["type"], "workstation");
    assert_eq!(by_net["labels"]["owner"], "it-desk");
    // A record's own host name stays; the short name finds the inventory's FQDN.
    let by_name = enrich_one(&e, &[("host.name", s("DC-01"))]);
    assert_eq!(by_name["host"]["name"], "DC-01");
    assert_eq!(by_name["host"]["os"]["name"], "Windows Server 2022");
    assert_eq!(by_name["labels"]["criticality"], "critical");
    let yaml = enrich_one(&e, &[("host.ip", s("10.20.30.5"))]);
    assert_eq!(yaml["labels"]["owner"], "dba-team");
    let none = enrich_one(&e, &[("host.name", s("unknown-host"))]);
    assert!(none.get("labels").is_none());
}

#[test]
fn user_directory_matches_with_or_without_domain_in_any_case() {
    let cfg = EnrichConfig {
        user: Some(UserConfig {
            files: vec![example("users-example.csv")],
            fields: vec!["user.name".into()],
        }),
        watch: false,
        ..Default::default()
    };
    let e = Enrichers::new(&cfg, &Metrics::new()).unwrap();
    for (name, domain) in [
        ("jdoe", None),
        ("JDoe", Some("CORP")),
        ("corp\\JDOE", None),
        ("jdoe@corp.example.com", None),
    ] {
        let mut fields = vec![("user.name", s(name))];
        if let Some(d) = domain {
            fields.push(("user.domain", s(d)));
        }
        let out = enrich_one(&e, &fields);
        assert_eq!(out["user"]["full_name"], "John Doe", "{name}");
        assert_eq!(out["user"]["email"], "jdoe@corp.example.com");
        assert_eq!(
            out["user"]["roles"],
            serde_json::json!(["finance-users", "vpn-users"])
        );
        assert_eq!(out["labels"]["department"], "finance");
        assert_eq!(out["labels"]["privileged"], "false");
    }
    let admin = enrich_one(&e, &[("user.name", s("Administrator"))]);
    assert_eq!(admin["labels"]["privileged"], "true");
    let other = enrich_one(&e, &[("user.name", s("mallory"))]);
    assert!(other["user"].get("full_name").is_none());
}

/// Polls `f` until it is true; fails after a minute (a condition, not a timing assertion).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn rdns_first_record_passes_unnamed_and_later_ones_get_the_cached_name() {
    let m = Metrics::new();
    let cfg = EnrichConfig {
        rdns: Some(RdnsConfig {
            fields: vec!["source.ip".into()],
            cache_size: 16,
            ttl: Duration::from_secs(3600),
            negative_ttl: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            workers: 1,
            queue: 4,
            include_private: true,
        }),
        watch: false,
        ..Default::default()
    };
    let e = Enrichers::new(&cfg, &m).unwrap();
    let first = enrich_one(&e, &[("source.ip", s("127.0.0.1"))]);
    assert!(first["source"].get("domain").is_none(), "{first}");
    let mut named = serde_json::Value::Null;
    eventually("127.0.0.1 resolves", || {
        named = enrich_one(&e, &[("source.ip", s("127.0.0.1"))]);
        named["source"].get("domain").is_some()
    });
    assert_eq!(named["source"]["domain"], "localhost");
    // A name the record already has is kept; private addresses are skipped unless asked.
    let kept = enrich_one(
        &e,
        &[("source.ip", s("127.0.0.1")), ("source.domain", s("mine"))],
    );
    assert_eq!(kept["source"]["domain"], "mine");
}

#[test]
fn changed_files_are_reloaded_and_a_broken_one_keeps_the_old_table() {
    let dir = tempfile::tempdir().unwrap();
    let list = write(dir.path(), "list.csv", "indicator\none.example\n");
    let (e, m) = ioc_enrichers(vec![list.clone()], true);
    let hit = |e: &Enrichers, d: &str| {
        enrich_one(e, &[("url.domain", s(d))])
            .get("threat")
            .is_some()
    };
    assert!(hit(&e, "one.example") && !hit(&e, "two.example"));
    // Replaced by rename, as deployment tools do.
    let tmp = write(dir.path(), "list.csv.tmp", "indicator\ntwo.example\n");
    std::fs::rename(&tmp, &list).unwrap();
    eventually("the new list is loaded", || hit(&e, "two.example"));
    assert!(!hit(&e, "one.example"));
    let ok = |m: &Metrics, r| {
        m.counter_value(
            "sluice_enrich_reloads_total",
            &[("enricher", "ioc"), ("result", r)],
        )
    };
    assert!(ok(&m, "success") >= 1);
    // Written in place, and broken: the header lost its `indicator` column.
    std::fs::write(&list, "ioc\nthree.example\n").unwrap();
    eventually("the failed reload is counted", || ok(&m, "failure") >= 1);
    assert!(hit(&e, "two.example") && !hit(&e, "three.example"));
}

#[test]
fn cached_addresses_give_the_same_answers_and_are_forgotten_when_a_table_is_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let header = "network,city_name,country_iso_code\n";
    let geo = write(
        dir.path(),
        "geo.csv",
        &format!("{header}81.2.69.0/24,London,GB\n"),
    );
    let list = write(dir.path(), "list.csv", "indicator\n81.2.69.142\n");
    let m = Metrics::new();
    let mut cfg = geoip_cfg(vec![db(geo.clone())]);
    cfg.ioc = Some(IocConfig {
        files: vec![list.clone()],
        fields: vec!["source.ip".into()],
    });
    cfg.watch = true;
    let e = Enrichers::new(&cfg, &m).unwrap();
    let record = [("source.ip", s("81.2.69.142"))];
    let first = enrich_one(&e, &record);
    assert_eq!(first["source"]["geo"]["city_name"], "London");
    assert_eq!(
        first["threat"]["enrichments"][0]["indicator"]["name"],
        "81.2.69.142"
    );
    // Later batches answer from the cache (one per idle batch): the same record, the same output,
    // and every lookup still counted.
    for _ in 0..3 {
        assert_eq!(enrich_one(&e, &record), first);
    }
    let count = |name, enricher| m.counter_value(name, &[("enricher", enricher)]);
    assert_eq!(count("sluice_enrich_lookups_total", "geoip"), 4);
    assert_eq!(count("sluice_enrich_hits_total", "geoip"), 4);
    assert_eq!(count("sluice_enrich_hits_total", "ioc"), 4);
    // New data for the same address, replaced by rename.
    let tmp = write(
        dir.path(),
        "geo.tmp",
        &format!("{header}81.2.69.0/24,Leeds,GB\n"),
    );
    std::fs::rename(&tmp, &geo).unwrap();
    let tmp = write(dir.path(), "list.tmp", "indicator\n81.2.69.0/24\n");
    std::fs::rename(&tmp, &list).unwrap();
    eventually("both tables are reloaded", || {
        let out = enrich_one(&e, &record);
        out["source"]["geo"]["city_name"] == "Leeds"
            && out["threat"]["enrichments"][0]["indicator"]["name"] == "81.2.69.0/24"
    });
    // An address no longer listed is no longer matched, though the cache once held a match.
    std::fs::rename(write(dir.path(), "list.tmp", "indicator\n1.1.1.1\n"), &list).unwrap();
    eventually("the list is reloaded again", || {
        enrich_one(&e, &record).get("threat").is_none()
    });
    assert_eq!(
        enrich_one(&e, &record)["source"]["geo"]["city_name"],
        "Leeds"
    );
}

#[test]
fn decoded_records_shared_by_many_networks_and_databases_give_each_address_its_own_answer() {
    // A City-like database: 256 networks (20.b.0.0/16) pointing at 5 records (the writer stores
    // equal values once), one of them without a country; an ASN-like database: 16 networks
    // (20.0.0.0/12 …) pointing at 3 records, each also with a country that only counts where
    // the first database has none. Both start their data sections at offset 0.
    let dir = tempfile::tempdir().unwrap();
    let place = |b: u32| b * 7 % 5;
    let owner = |b: u32| (b >> 4) % 3;
    let mut w = MmdbWriter::new("Test-City");
    for b in 0..256u32 {
        let p = place(b);
        let v = if p == 4 {
            MmdbValue::map([(
                "city",
                MmdbValue::map([("names", MmdbValue::map([("en", MmdbValue::str("P4"))]))]),
            )])
        } else {
            city(&format!("P{p}"), ["AA", "BB", "CC", "DD"][p as usize])
        };
        w.insert(format!("20.{b}.0.0").parse().unwrap(), 16, v)
            .unwrap();
    }
    let city_db = dir.path().join("city.mmdb");
    std::fs::write(&city_db, w.build()).unwrap();
    let mut w = MmdbWriter::new("Test-ASN");
    for hi in 0..16u32 {
        let o = owner(hi << 4);
        w.insert(
            format!("20.{}.0.0", hi << 4).parse().unwrap(),
            12,
            MmdbValue::map([
                ("autonomous_system_number", MmdbValue::U32(64_500 + o)),
                (
                    "autonomous_system_organization",
                    MmdbValue::str(format!("O{o}")),
                ),
                (
                    "country",
                    MmdbValue::map([("iso_code", MmdbValue::str(format!("Z{o}")))]),
                ),
            ]),
        )
        .unwrap();
    }
    let asn_db = dir.path().join("asn.mmdb");
    std::fs::write(&asn_db, w.build()).unwrap();
    let e = Enrichers::new(&geoip_cfg(vec![db(city_db), db(asn_db)]), &Metrics::new()).unwrap();
    // 16,384 addresses, four times the address cache: slots are shared and replaced, and every
    // record is met again through other addresses. Two passes, one batch.
    let mut batch = e.batch();
    let mut doc = Doc::new();
    for pass in 0..2 {
        for b in 0..256u32 {
            for c in 0..64u32 {
                let ip = format!("20.{b}.{}.{}", c * 4 + pass, c + 1);
                doc.clear();
                doc.insert("source.ip", s(&ip));
                doc.insert("destination.ip", s(&format!("20.{}.1.1", 255 - b)));
                batch.apply(&mut doc);
                let text = |k| doc.lookup(k).and_then(Value::as_str).map(str::to_owned);
                let (p, o) = (place(b), owner(b));
                assert_eq!(text("source.geo.city_name"), Some(format!("P{p}")), "{ip}");
                let country = if p == 4 {
                    format!("Z{o}")
                } else {
                    ["AA", "BB", "CC", "DD"][p as usize].to_owned()
                };
                assert_eq!(text("source.geo.country_iso_code"), Some(country), "{ip}");
                assert_eq!(
                    text("source.as.organization.name"),
                    Some(format!("O{o}")),
                    "{ip}"
                );
                assert_eq!(
                    doc.lookup("source.as.number").and_then(Value::as_i64),
                    Some(i64::from(64_500 + o)),
                    "{ip}"
                );
                let d = 255 - b;
                assert_eq!(
                    text("destination.geo.city_name"),
                    Some(format!("P{}", place(d))),
                    "{ip}"
                );
                assert_eq!(
                    text("destination.as.organization.name"),
                    Some(format!("O{}", owner(d))),
                    "{ip}"
                );
            }
        }
    }
}

#[test]
fn fields_scan_takes_the_last_write_and_ignores_other_keys() {
    let mut f = fields::FieldSet::default();
    let a = f.add("source.ip").unwrap();
    let b = f.add("url.domain").unwrap();
    assert_eq!(f.add("source.ip").unwrap(), a);
    let mut doc = Doc::new();
    doc.insert("source.ip", "1.1.1.1");
    doc.insert("source.ipx", "nope");
    doc.insert("source.ip", "2.2.2.2");
    // Keys the filter lets through (same length and last byte; a length 32 or 64 longer).
    doc.insert("client.ip", "3.3.3.3");
    doc.insert(format!("{}.ip", "k".repeat(38)), "4.4.4.4");
    doc.insert(format!("{}.ip", "k".repeat(70)), "5.5.5.5");
    let v = f.scan(&doc);
    assert_eq!(v[a].and_then(Value::as_str), Some("2.2.2.2"));
    assert!(v[b].is_none());
}

#[test]
fn cached_scans_answer_as_full_scans_do() {
    // Static keys, wanted and not, with repeats; and keys built per record, which must never be
    // recognised by address (an allocator may hand one record's key buffer to the next).
    const KEYS: [&str; 10] = [
        "source.ip",
        "destination.ip",
        "url.domain",
        "event.kind",
        "source.port",
        "host.name",
        "message",
        "client.ip",
        "user.name",
        "tags",
    ];
    let mut f = fields::FieldSet::default();
    let wanted: Vec<usize> = ["source.ip", "destination.ip", "url.domain", "client.ip"]
        .iter()
        .map(|k| f.add(k).unwrap())
        .collect();
    let mut shapes = fields::Shapes::default();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut hits = 0;
    for record in 0..4000 {
        let mut doc = Doc::new();
        // Few distinct key lists, so most records repeat one seen before; more lists than the
        // cache holds over the whole run, so slots are replaced too.
        let len = 1 + next(6) as usize;
        let base = next(40);
        for i in 0..len {
            let k = KEYS[((base + i as u64 * (1 + base % 3)) % 10) as usize];
            doc.insert(k, format!("{record}.{i}"));
        }
        if next(8) == 0 {
            // Same length, so likely the same address record after record.
            let k = if next(2) == 0 {
                "source.ip"
            } else {
                "event.kind"
            };
            doc.insert(
                String::from(&k[..9.min(k.len())]),
                format!("built {record}"),
            );
        }
        let full = f.scan(&doc);
        let cached = f.scan_cached(&doc, &mut shapes);
        for &w in &wanted {
            assert_eq!(
                full[w].and_then(Value::as_str),
                cached[w].and_then(Value::as_str),
                "record {record}, field {w}"
            );
        }
        hits += usize::from(full.iter().flatten().count() > 0);
    }
    assert!(hits > 1000, "too few records with wanted fields: {hits}");
    assert!(shapes.hits() > 2000, "the cache answered {}", shapes.hits());
}

#[test]
fn public_addresses() {
    for ip in ["8.8.8.8", "81.2.69.142", "2a00:1450::1", "::ffff:8.8.8.8"] {
        assert!(is_public(ip.parse::<IpAddr>().unwrap()), "{ip}");
    }
    for ip in [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "198.18.0.1",
        "192.0.2.1",
        "203.0.113.5",
        "240.0.0.1",
        "255.255.255.255",
        "0.1.2.3",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "2001:db8::1",
        "::ffff:10.0.0.1",
    ] {
        assert!(!is_public(ip.parse::<IpAddr>().unwrap()), "{ip}");
    }
}

fn load_config(yaml: &str) -> Result<crate::config::Config, String> {
    crate::config::load_str(yaml, Path::new("t.yaml"), &|_| None).map_err(|e| e.to_string())
}

#[test]
fn configuration_errors_name_the_key_and_the_file() {
    let base = "inputs: {i: {type: stdin}}\noutputs: {o: {type: stdout, inputs: [i]}}\n";
    let dir = tempfile::tempdir().unwrap();
    let junk = write(dir.path(), "junk.mmdb", "not a database");
    let err = load_config(&format!(
        "{base}pipeline:\n  enrich:\n    geoip:\n      databases: [{{path: {}}}]\n    ioc:\n      files: [{}/missing.txt]\n",
        junk.display(),
        dir.path().display()
    ))
    .unwrap_err();
    assert!(
        err.contains("pipeline.enrich.geoip.databases[0].path") && err.contains("junk.mmdb"),
        "{err}"
    );
    assert!(
        err.contains("pipeline.enrich.ioc.files[0]") && err.contains("missing.txt"),
        "{err}"
    );
    let err = load_config(&format!(
        "{base}pipeline:\n  enrich:\n    geoip:\n      databse: x\n"
    ))
    .unwrap_err();
    assert!(err.contains("databse"), "{err}");
    let ok = load_config(&format!(
        "{base}pipeline:\n  enrich:\n    ioc:\n      files: [{}]\n",
        example("ioc-example.txt").display()
    ))
    .unwrap();
    let ioc = ok.pipeline.enrich.ioc.unwrap();
    assert_eq!(ioc.fields.len(), 12, "the default fields");
}

#[test]
fn the_processor_enriches_records_and_counts_per_enricher() {
    use crate::event::{Origin, RawBatch};
    use crate::pipeline::ack::AckRef;
    use crate::pipeline::processor::Processor;
    let mut cfg = crate::config::PipelineConfig {
        enrich: geoip_cfg(vec![db(example("geoip-example.csv"))]),
        ..Default::default()
    };
    cfg.enrich.ioc = Some(IocConfig {
        files: vec![example("ioc-example.csv")],
        fields: vec!["source.ip".into()],
    });
    let m = Metrics::new();
    let p = Processor::new(&cfg, &m).unwrap();
    let mut batch = RawBatch::new(Arc::new(Origin::input("t".into())), AckRef::none());
    for l in [
        "Mar  3 07:01:02 web01 sshd[42]: Failed password for root from 198.51.100.77 port 5022 ssh2",
        "Mar  3 07:01:03 web01 sshd[42]: Accepted password for alice from 81.2.69.142 port 5022 ssh2",
        "Mar  3 07:01:04 web01 sshd[42]: Accepted password for alice from 10.0.0.1 port 5022 ssh2",
    ] {
        batch.push(l.as_bytes(), None, false);
    }
    let out = p.process(&batch);
    let docs: Vec<serde_json::Value> = out
        .records
        .iter()
        .map(|r| serde_json::from_slice(out.json(r)).unwrap())
        .collect();
    assert_eq!(docs[0]["tags"], serde_json::json!(["ioc_match"]));
    assert_eq!(docs[1]["source"]["geo"]["city_name"], "London");
    assert!(docs[2]["source"].get("geo").is_none());
    let c = |name, e| m.counter_value(name, &[("enricher", e)]);
    // 198.51.100.77 (documentation) and 10.0.0.1 (private) are not looked up.
    assert_eq!(c("sluice_enrich_lookups_total", "geoip"), 1);
    assert_eq!(c("sluice_enrich_hits_total", "geoip"), 1);
    assert_eq!(c("sluice_enrich_lookups_total", "ioc"), 3);
    assert_eq!(c("sluice_enrich_hits_total", "ioc"), 1);
}

#[test]
fn geoip_answers_written_after_the_ioc_lookups_survive_addresses_sharing_a_cache_slot() {
    // GeoIP lookups run once the record is no longer borrowed, after the IOC lookups: two
    // addresses of one record in one cache slot replace each other's IOC answers in between,
    // and each input must still get its own location, counted once per address.
    let dir = tempfile::tempdir().unwrap();
    let geo = write(
        dir.path(),
        "geo.csv",
        "network,city_name,country_iso_code\n81.2.69.0/24,London,GB\n5.0.0.0/8,Paris,FR\n",
    );
    let london: IpAddr = "81.2.69.142".parse().unwrap();
    let paris = (0x0500_0000u32..0x0600_0000)
        .map(|n| IpAddr::V4(n.into()))
        .find(|&ip| cache::index(ip) == cache::index(london))
        .unwrap();
    let list = write(dir.path(), "list.csv", "indicator\n81.2.69.142\n");
    let m = Metrics::new();
    let mut cfg = geoip_cfg(vec![db(geo)]);
    cfg.ioc = Some(IocConfig {
        files: vec![list],
        fields: vec!["source.ip".into(), "destination.ip".into()],
    });
    let e = Enrichers::new(&cfg, &m).unwrap();
    let mut batch = e.batch();
    for _ in 0..2 {
        let mut doc = Doc::new();
        doc.insert("source.ip", s(&london.to_string()));
        doc.insert("destination.ip", s(&paris.to_string()));
        doc.insert(
            "host.ip",
            Value::Array(vec![s("10.1.1.1"), s(&paris.to_string())]),
        );
        batch.apply(&mut doc);
        let text = |k| doc.lookup(k).and_then(Value::as_str).map(str::to_owned);
        assert_eq!(text("source.geo.city_name").as_deref(), Some("London"));
        assert_eq!(text("destination.geo.city_name").as_deref(), Some("Paris"));
        assert_eq!(text("host.geo.country_iso_code").as_deref(), Some("FR"));
        // GeoIP fields are written before the IOC match, as before.
        let at = |key: &str| doc.iter().position(|(k, _)| k == key).unwrap();
        assert!(at("host.geo.\u{7f}") < at("threat.enrichments"));
        assert!(at("source.geo.\u{7f}") < at("destination.geo.\u{7f}"));
        let threat = doc.to_json()["threat"]["enrichments"].clone();
        assert_eq!(threat.as_array().map(Vec::len), Some(1));
        assert_eq!(threat[0]["matched"]["field"], "source.ip");
    }
    drop(batch);
    let c = |name, e| m.counter_value(name, &[("enricher", e)]);
    // Three public addresses per record (10.1.1.1 is private), all located.
    assert_eq!(c("sluice_enrich_lookups_total", "geoip"), 6);
    assert_eq!(c("sluice_enrich_hits_total", "geoip"), 6);
    assert_eq!(c("sluice_enrich_hits_total", "ioc"), 2);
}
