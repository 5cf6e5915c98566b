use super::*;

fn texts(r: &Records) -> Vec<String> {
    r.ranges
        .iter()
        .map(|x| String::from_utf8_lossy(&r.buf[x.clone()]).into_owned())
        .collect()
}

fn any(_: Option<&str>) -> bool {
    true
}

#[test]
fn concatenated_events_become_records() {
    let body = br#"{"event": "first line", "host": "h"}{"event": {"a": 1, "b": "x y"}, "time": 1}
            {"event": 42}"#;
    let r = parse_events(body, HecRecord::Event, None, any).unwrap();
    assert_eq!(texts(&r), vec!["first line", r#"{"a":1,"b":"x y"}"#, "42"]);
    let r = parse_events(body, HecRecord::Envelope, None, any).unwrap();
    assert_eq!(
        texts(&r)[0],
        r#"{"event":"first line","host":"h"}"#,
        "the envelope keeps the metadata"
    );
}

#[test]
fn bad_events_refuse_the_body_and_say_which() {
    let p = |b: &[u8]| parse_events(b, HecRecord::Event, None, any).unwrap_err();
    assert_eq!(p(b""), Hec::NoData.into());
    assert_eq!(p(b"  \n"), Hec::NoData.into());
    assert_eq!(
        p(br#"{"event":"a"}{"event":"b""#),
        Refusal::at(Hec::InvalidDataFormat, 1)
    );
    assert_eq!(
        p(br#"{"event":"a"}{"host":"b"}"#),
        Refusal::at(Hec::EventRequired, 1)
    );
    assert_eq!(p(br#"{"event":null}"#), Refusal::at(Hec::EventRequired, 0));
    assert_eq!(p(br#"{"event":"  "}"#), Refusal::at(Hec::EventBlank, 0));
    assert_eq!(p(br#"["event"]"#), Refusal::at(Hec::InvalidDataFormat, 0));
    let only_main = |i: Option<&str>| i.is_none_or(|i| i == "main");
    assert_eq!(
        parse_events(
            br#"{"event":"a","index":"main"}{"event":"b","index":"other"}"#,
            HecRecord::Event,
            None,
            only_main
        )
        .unwrap_err(),
        Refusal::at(Hec::IncorrectIndex, 1)
    );
    assert!(parse_events(br#"{"event":"a"}"#, HecRecord::Event, Some("x"), only_main).is_err());
}

#[test]
fn acks_are_true_once_delivered_and_reported_once() {
    let t = AckTable::new(Duration::from_secs(60), 3);
    let a = t.register("c").unwrap();
    let b = t.register("c").unwrap();
    assert_eq!((a, b), (0, 1));
    assert_eq!(
        t.query("c", &[0, 1, 9]),
        vec![(0, false), (1, false), (9, false)]
    );
    t.complete("c", 0, true);
    t.complete("c", 1, false);
    assert_eq!(t.query("c", &[0, 1]), vec![(0, true), (1, false)]);
    assert_eq!(t.query("c", &[0]), vec![(0, false)], "reported once");
    assert_eq!(t.query("other", &[0]), vec![(0, false)]);
    assert!(t.register("c").is_some() && t.register("c").is_some());
    assert!(t.register("d").is_some());
    assert!(t.register("d").is_none(), "max_pending_acks");
    t.forget("d", 0);
    assert!(t.register("d").is_some());
}

#[test]
fn idle_channels_are_forgotten() {
    let t = AckTable::new(Duration::from_millis(1), 10);
    t.register("c").unwrap();
    std::thread::sleep(Duration::from_millis(5));
    {
        let mut s = t.lock();
        s.last_sweep = None;
    }
    t.register("d").unwrap();
    let s = t.lock();
    assert!(!s.channels.contains_key("c"));
    assert_eq!(s.pending, 1);
}

#[test]
fn guids() {
    assert!(is_guid("0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"));
    assert!(!is_guid("0aeeac95ac744aa9b30d6c4c0ac581ba"));
    assert!(!is_guid("zaeeac95-ac74-4aa9-b30d-6c4c0ac581ba"));
}

#[test]
fn status_codes_follow_splunk() {
    assert_eq!(
        (Hec::InvalidToken.status(), Hec::InvalidToken.code()),
        (StatusCode::FORBIDDEN, 4)
    );
    assert_eq!(
        (Hec::TokenRequired.status(), Hec::TokenRequired.code()),
        (StatusCode::UNAUTHORIZED, 2)
    );
    assert_eq!(
        (Hec::ServerBusy.status(), Hec::ServerBusy.code()),
        (StatusCode::SERVICE_UNAVAILABLE, 9)
    );
    assert_eq!(
        (Hec::ChannelMissing.status(), Hec::ChannelMissing.code()),
        (StatusCode::BAD_REQUEST, 10)
    );
    assert_eq!(Hec::Healthy.text(), "HEC is healthy");
}

#[test]
fn splunk_time_is_epoch_seconds_as_number_or_string() {
    let t = |v: serde_json::Value| epoch_time(&v).map(|t| t.timestamp_millis());
    assert_eq!(t(serde_json::json!(1700000000.5)), Some(1_700_000_000_500));
    assert_eq!(
        t(serde_json::json!("1700000000.039")),
        Some(1_700_000_000_039)
    );
    assert_eq!(t(serde_json::json!(1700000000)), Some(1_700_000_000_000));
    assert_eq!(t(serde_json::json!("yesterday")), None);
    assert_eq!(t(serde_json::json!(-5)), None);
    assert_eq!(t(serde_json::json!(1e300)), None);
    assert_eq!(t(serde_json::json!(null)), None);
}
