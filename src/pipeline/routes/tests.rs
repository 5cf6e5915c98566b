use super::*;
use crate::config::load_str;
use std::path::Path;

const BASE: &str = r#"
inputs:
  fw: {type: stdin}
  app: {type: stdin}
outputs:
  siem: {type: stdout}
  archive: {type: stdout}
  alerts: {type: stdout}
  legacy: {type: stdout, inputs: [app]}
"#;

fn cfg(extra: &str) -> Result<Config, String> {
    load_str(&format!("{BASE}{extra}"), Path::new("t.yaml"), &|_| None).map_err(|e| e.to_string())
}

/// Compiled without the rest of the validation (outputs nothing feeds are fine here).
fn table(extra: &str) -> RouteTable {
    let c: Config = serde_yaml::from_str(&format!("{BASE}{extra}")).unwrap();
    RouteTable::compile(&c).unwrap()
}

fn names(t: &RouteTable, mask: OutputMask) -> Vec<&str> {
    t.outputs()
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, n)| &**n)
        .collect()
}

fn doc(fields: &[(&'static str, Value)]) -> Doc {
    let mut d = Doc::new();
    for (k, v) in fields {
        d.insert(*k, v.clone());
    }
    d
}

const ROUTES: &str = r#"
routes:
  - name: firewall
    when: {source_type: [panos, cloudtrail]}
    to: [siem]
  - name: failures
    when:
      any:
        - {field: event.outcome, equals: failure}
        - {field: destination.port, equals: "22"}
        - {field: message, regex: "(?i)denied"}
    to: [alerts]
    continue: true
  - name: not-app
    when: {not: {input: app}, exists: user.name}
    to: [alerts]
  - name: default
    to: [archive]
"#;

#[test]
fn first_match_wins_unless_continue() {
    let t = table(ROUTES);
    let mut tally = t.tally();
    let empty = Doc::new();
    let m = t.route(0, "fw", &SourceType::Panos, &empty, &mut tally);
    assert_eq!(names(&t, m), ["siem"]);
    // `failures` continues to the default route.
    let d = doc(&[("event.outcome", Value::Str("failure".into()))]);
    let m = t.route(0, "fw", &SourceType::Syslog, &d, &mut tally);
    assert_eq!(names(&t, m), ["alerts", "archive"]);
    let d = doc(&[("destination.port", Value::Int(22))]);
    let m = t.route(0, "fw", &SourceType::Syslog, &d, &mut tally);
    assert_eq!(names(&t, m), ["alerts", "archive"]);
    let d = doc(&[("message", Value::Str("Access DENIED for bob".into()))]);
    assert_eq!(
        names(&t, t.route(0, "fw", &SourceType::Syslog, &d, &mut tally)),
        ["alerts", "archive"]
    );
    // `not` + `exists`, both must hold; `not-app` stops before the default.
    let d = doc(&[("user.name", Value::Str("bob".into()))]);
    assert_eq!(
        names(&t, t.route(0, "fw", &SourceType::Syslog, &d, &mut tally)),
        ["alerts"]
    );
    assert_eq!(
        names(&t, t.route(0, "app", &SourceType::Syslog, &d, &mut tally)),
        ["archive"]
    );
    assert_eq!(tally.per_route, vec![1, 3, 1, 4, 0]);
    assert_eq!(tally.dropped, 0);
}

#[test]
fn inputs_lists_still_apply_beside_routes() {
    let t = table(ROUTES);
    let base = t.input_mask("app");
    assert_eq!(names(&t, base), ["legacy"]);
    let mut tally = t.tally();
    let m = t.route(base, "app", &SourceType::Panos, &Doc::new(), &mut tally);
    assert_eq!(names(&t, m), ["legacy", "siem"]);
}

#[test]
fn records_no_route_takes_go_to_unrouted_or_are_counted() {
    let t = table("routes:\n  - {when: {source_type: panos}, to: [siem]}\n");
    let mut tally = t.tally();
    assert_eq!(
        t.route(0, "fw", &SourceType::Syslog, &Doc::new(), &mut tally),
        0
    );
    assert_eq!(tally.dropped, 1);
    let t = table("routes:\n  - {when: {source_type: panos}, to: [siem]}\nunrouted: archive\n");
    let mut tally = t.tally();
    let m = t.route(0, "fw", &SourceType::Syslog, &Doc::new(), &mut tally);
    assert_eq!(names(&t, m), ["archive"]);
    assert_eq!((tally.dropped, tally.per_route[1]), (0, 1));
    assert!(!t.is_static());
    assert!(table("").is_static());
}

#[test]
fn fields_inside_kept_json_and_lists() {
    let t = table(
        "routes:\n  - {when: {field: json.user.role, equals: admin}, to: [siem]}\n  - {when: {field: tags, equals: x}, to: [alerts]}\n  - {when: {field: json.n, equals: 3}, to: [archive]}\n",
    );
    let mut tally = t.tally();
    let d = doc(&[(
        "json",
        Value::from(serde_json::json!({"user": {"role": "admin"}, "n": 3})),
    )]);
    assert_eq!(
        names(&t, t.route(0, "fw", &SourceType::Unknown, &d, &mut tally)),
        ["siem"]
    );
    let d = doc(&[
        ("tags", Value::Array(vec!["a".into(), "x".into()])),
        ("json", Value::from(serde_json::json!({"n": 3}))),
    ]);
    assert_eq!(
        names(&t, t.route(0, "fw", &SourceType::Unknown, &d, &mut tally)),
        ["alerts"]
    );
    let d = doc(&[("json", Value::from(serde_json::json!({"n": 3})))]);
    assert_eq!(
        names(&t, t.route(0, "fw", &SourceType::Unknown, &d, &mut tally)),
        ["archive"]
    );
}

#[test]
fn validation_names_the_key() {
    let e = cfg("routes:\n  - {to: [siem]}\n  - {to: [siem]}\n  - {when: {field: message, regex: \"(\"}, to: [siem]}\n").unwrap_err();
    assert!(
        e.contains("routes[2].when.regex: not a valid regular expression"),
        "{e}"
    );
    let e = cfg("routes:\n  - {to: [sime]}\n").unwrap_err();
    assert!(
        e.contains("routes[0].to: no output named `sime`, did you mean `siem`?"),
        "{e}"
    );
    let e = cfg("routes:\n  - {when: {any: [{field: x}]}, to: [siem]}\n").unwrap_err();
    assert!(e.contains("routes[0].when.any[0].field"), "{e}");
    let e = cfg("routes:\n  - {when: {}, to: [siem]}\n").unwrap_err();
    assert!(e.contains("routes[0].when: empty condition"), "{e}");
    let e = cfg("unrouted: nowhere\n").unwrap_err();
    assert!(e.contains("unrouted: no output named `nowhere`"), "{e}");
    let e = cfg("routes:\n  - {when: {source_typ: panos}, to: [siem]}\n").unwrap_err();
    assert!(e.contains("source_typ"), "{e}");
    // An output that nothing feeds is still an error.
    let e = cfg("").unwrap_err();
    assert!(e.contains("outputs.siem.inputs"), "{e}");
}

/// GeoIP's fields are spliced members (`source.geo.\u{7f}`): routes still see each one.
#[test]
fn fields_spliced_into_a_parent() {
    let t = table(
        "routes:\n  - {when: {field: source.geo.country_iso_code, equals: GB}, to: [alerts]}\n  - {when: {field: source.geo.location.lat, equals: 51.5}, to: [siem]}\n  - {to: [archive]}\n",
    );
    let mut tally = t.tally();
    let members = |iso: &str, lat: f64| {
        Value::Members(std::sync::Arc::new(
            crate::doc::Members::new(vec![
                ("country_iso_code", Value::from(iso)),
                ("location.lat", Value::Float(lat)),
            ])
            .unwrap(),
        ))
    };
    let mut d = Doc::new();
    d.insert(crate::doc::splice_key("source.geo"), members("GB", 1.0));
    assert_eq!(
        names(&t, t.route(0, "fw", &SourceType::Unknown, &d, &mut tally)),
        ["alerts"]
    );
    let mut d = Doc::new();
    d.insert(crate::doc::splice_key("source.geo"), members("FR", 51.5));
    assert_eq!(
        names(&t, t.route(0, "fw", &SourceType::Unknown, &d, &mut tally)),
        ["siem"]
    );
    // The record's own field wins over a spliced one, as it does in the output.
    d.insert("source.geo.country_iso_code", "GB");
    assert_eq!(
        names(&t, t.route(0, "fw", &SourceType::Unknown, &d, &mut tally)),
        ["alerts"]
    );
    let d = doc(&[("source.ip", "10.0.0.1".into())]);
    assert_eq!(
        names(&t, t.route(0, "fw", &SourceType::Unknown, &d, &mut tally)),
        ["archive"]
    );
}
