use chrono::TimeZone;

use super::*;

/// A value built at compile time is the value built at run time, short (inline) or long.
#[test]
fn compile_time_values_equal_run_time_ones() {
    use super::Value;
    const LONG: &str = "a constant longer than the 24 inline bytes";
    assert_eq!(lit!("panw"), Value::from("panw"));
    assert_eq!(lit!(""), Value::from(""));
    assert_eq!(lit!(LONG), Value::from(LONG));
    let mut out = Vec::new();
    lit!("q\"uote").write_json(&mut out);
    assert_eq!(out, br#""q\"uote""#);
}

/// The float fast path must write exactly what ryu writes, for the values it takes (scores,
/// coordinates, whole numbers) and for those it must leave to ryu.
#[test]
fn floats_match_ryu() {
    let mut samples = vec![
        0.0,
        -0.0,
        0.9,
        1.0,
        0.75,
        0.001,
        0.000999,
        1e-7,
        51.5142,
        -0.1276,
        179.999999,
        -89.9999995,
        123_456_789.5,
        1_073_741_823.0,
        1_073_741_824.0,
        1e15,
        1e300,
        5e-324,
        0.1 + 0.2,
        2.5e-3,
        999_999.999_999,
        1.5e9,
        f64::MAX,
        f64::MIN_POSITIVE,
    ];
    // Pseudo-random values: decimals with 0 to 8 places across magnitudes, and raw bits.
    let mut rng = crate::testing::XorShift(0x9E37_79B9_7F4A_7C15);
    let mut next = || rng.next();
    for _ in 0..200_000 {
        let r = next();
        let places = (r % 9) as i32;
        let magnitude = 10f64.powi(((r >> 8) % 13) as i32 - 3);
        let v = ((next() % 1_000_000_007) as f64 / 1e9 * magnitude * 10f64.powi(places)).round()
            / 10f64.powi(places);
        samples.push(if r & (1 << 40) == 0 { v } else { -v });
        samples.push(f64::from_bits(next()));
    }
    for f in samples.into_iter().filter(|f| f.is_finite()) {
        let mut ours = Vec::new();
        super::write_f64(&mut ours, f);
        let mut ryu = ryu::Buffer::new();
        assert_eq!(
            std::str::from_utf8(&ours).ok(),
            Some(ryu.format_finite(f)),
            "{f:e}"
        );
    }
}

#[test]
fn string_escaping_matches_serde() {
    let samples = [
        "",
        "plain ascii text that is longer than eight bytes",
        "q\"uote",
        "back\\slash",
        "tab\tnl\ncr\r",
        "\u{1}\u{1f}ctl",
        "ünïcødé ✓ and \u{7f} del",
        "12345678\"",
        "1234567\\",
        "a\u{0}b",
        "\"\"\"\"\"\"\"\"\"",
    ];
    for s in samples {
        let mut out = Vec::new();
        write_json_str(&mut out, s);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(s).unwrap(),
            "{s:?}"
        );
    }
}

#[test]
fn random_strings_escape_like_serde() {
    let alphabet = [
        "a", "\"", "\\", "\n", "\u{1}", "\u{1f}", " ", "é", "✓", "\u{7f}", "<", "=",
    ];
    let mut rng = crate::testing::XorShift(0x2545_F491_4F6C_DD1D);
    for _ in 0..5000 {
        let seed = rng.next();
        let len = (seed % 100) as usize;
        let s: String = (0..len)
            .map(|k| alphabet[((seed >> (k % 50)) as usize + k * 7) % alphabet.len()])
            .collect();
        let mut out = Vec::new();
        write_json_str(&mut out, &s);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&s).unwrap()
        );
    }
}

#[test]
fn path_order_is_segment_order() {
    let keys = [
        "a", "a.b", "a-x", "a.b.c", "a.bc", "ab", "a.b-c", "a.a", "", ".", "a..b", "b", "a.b.c.d",
    ];
    for x in keys {
        for y in keys {
            assert_eq!(
                super::plan::cmp_path(x, y),
                x.split('.').cmp(y.split('.')),
                "{x} vs {y}"
            );
        }
    }
}

#[test]
fn nests_dotted_keys_and_last_write_wins() {
    let mut d = Doc::new();
    d.insert("source.ip", "10.0.0.1");
    d.insert("event.kind", "event");
    d.insert("source.port", 22);
    d.insert("source-x", true);
    d.insert("event.kind", "alert");
    d.insert("@timestamp", "t");
    let mut out = Vec::new();
    d.write_json(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"@timestamp":"t","event":{"kind":"alert"},"source":{"ip":"10.0.0.1","port":22},"source-x":true}"#
    );
}

#[test]
fn leaf_conflicting_with_object_is_dropped_and_json_stays_valid() {
    let mut d = Doc::new();
    d.insert("a", 1);
    d.insert("a.b", 2);
    d.insert("a.c.d", 3);
    d.insert("b", 4);
    let v = d.to_json();
    assert_eq!(v, serde_json::json!({"a":{"b":2,"c":{"d":3}},"b":4}));
}

#[test]
fn key_shape_names_a_list_of_static_keys_and_follows_appends() {
    let build = |keys: &[&'static str]| {
        let mut d = Doc::new();
        for (i, k) in keys.iter().enumerate() {
            d.insert(*k, i as i64);
        }
        d
    };
    let ab = build(&["a.b", "c"]);
    assert!(ab.key_shape().is_some());
    assert_eq!(ab.key_shape(), build(&["a.b", "c"]).key_shape());
    assert_ne!(ab.key_shape(), build(&["c", "a.b"]).key_shape());
    assert_ne!(ab.key_shape(), build(&["a.b"]).key_shape());
    assert_ne!(ab.key_shape(), build(&["a.b", "c", "c"]).key_shape());
    // Asked half way, then fields added: the same as asked once at the end.
    let mut d = build(&["a.b"]);
    let half = d.key_shape();
    d.insert("c", 1);
    assert_ne!(d.key_shape(), half);
    assert_eq!(d.key_shape(), ab.key_shape());
    // Removing starts over; clearing too.
    d.insert("x", 1);
    d.key_shape();
    d.remove("x");
    assert_eq!(d.key_shape(), ab.key_shape());
    d.clear();
    d.insert("a.b", 1);
    assert_eq!(d.key_shape(), half);
    // A built key: no shape, whatever its text.
    let mut built = build(&["a.b"]);
    built.insert(String::from("c"), 1);
    assert_eq!(built.key_shape(), None);
}

#[test]
fn lists_with_and_without_built_keys_share_no_plan_and_both_write_right() {
    let mut d = Doc::new();
    let mut out = Vec::new();
    for round in 0..3 {
        for built in [false, true] {
            d.clear();
            d.insert("b.x", round);
            if built {
                d.insert(String::from("a"), "built");
            } else {
                d.insert("a", "static");
            }
            out.clear();
            d.write_json(&mut out);
            let want = if built {
                format!(r#"{{"a":"built","b":{{"x":{round}}}}}"#)
            } else {
                format!(r#"{{"a":"static","b":{{"x":{round}}}}}"#)
            };
            assert_eq!(String::from_utf8_lossy(&out), want);
        }
    }
    // Two plans (one per kind of list), reused from the second round on.
    assert_eq!(d.plan_stats(), (4, 2));
}

#[test]
fn write_json_get_finds_the_last_value_of_each_key_through_the_plan() {
    const KEYS: [&str; 4] = ["host.name", "event.kind", "user.name", "host.host"];
    let mut d = Doc::new();
    let mut out = Vec::new();
    // Each key list several times (its plan is reused), two key lists, and two sets of keys
    // asked of one plan (what the plan remembers is replaced).
    for round in 0..3i64 {
        for shape in 0..2 {
            d.clear();
            d.insert("host.name", "a");
            d.insert("event.kind", "event");
            if shape == 1 {
                d.insert("user.name", "u");
            }
            d.insert("host.name", "b");
            d.insert("host.hostx", round);
            out.clear();
            let got = d.write_json_get(&mut out, &KEYS);
            assert_eq!(got, KEYS.map(|k| d.get(k)));
            assert_eq!(got[0], Some(&Value::from("b")));
            assert_eq!(got[3], None);
            assert_eq!(got[2].is_some(), shape == 1);
            let written = String::from_utf8_lossy(&out).into_owned();
            out.clear();
            // As many keys as before, so only their identity tells the sets apart.
            let [x, ..] = d.write_json_get(&mut out, &["host.hostx", "a", "b", "c"]);
            assert_eq!(x, Some(&Value::Int(round)));
            assert_eq!(String::from_utf8_lossy(&out), written);
        }
    }
    // Short keys, keys of one length that differ only inside, and longer keys that share
    // their first and last eight bytes.
    let mut d = Doc::new();
    for (i, k) in [
        "ab",
        "ac",
        "event.created",
        "event.dataset",
        "abcdefgh.1.ijklmnop",
        "abcdefgh.2.ijklmnop",
        "abcdefghXijklmnop",
        "abcdefghYijklmnop",
    ]
    .into_iter()
    .enumerate()
    {
        d.insert(k, i as i64);
    }
    let got = d.write_json_get(
        &mut out,
        &[
            "ac",
            "event.dataset",
            "abcdefgh.1.ijklmnop",
            "abcdefghYijklmnop",
            "abcdefgh.3.ijklmnop",
            "event.datasex",
        ],
    );
    let want = [Some(1), Some(3), Some(4), Some(7), None, None];
    assert_eq!(got.map(|v| v.and_then(Value::as_i64)), want);
}

#[test]
fn insert_reusing_copies_into_the_previous_documents_buffer() {
    let mut d = Doc::new();
    let long = "x".repeat(400);
    d.insert("a", 1);
    d.insert_reusing("event.original", &long);
    let first = d.get_str("event.original").map(str::as_ptr);
    d.clear();
    d.insert_reusing("event.original", &long[..300]);
    assert_eq!(d.get_str("event.original"), Some(&long[..300]));
    assert_eq!(d.get_str("event.original").map(str::as_ptr), first);
    // A later write of the key wins, as with `insert`.
    d.insert("event.original", "y");
    assert_eq!(d.to_json()["event"]["original"], "y");
    // An outsized buffer is not kept.
    d.clear();
    d.insert_reusing("event.original", &"z".repeat(SPARE_MAX + 1));
    d.clear();
    assert!(d.spare.capacity() < SPARE_MAX);
    d.insert_reusing("event.original", "short");
    assert_eq!(d.to_json()["event"]["original"], "short");
}

#[test]
fn arrays_kept_by_clear_start_empty() {
    let mut d = Doc::new();
    for round in 0..40 {
        // Up to 12 arrays a document: more than `clear` keeps, some grown past the cap.
        let arrays = round % 13;
        for a in 0..arrays {
            let key = format!("a{a}");
            let items = if a == 5 { SPARE_ARRAY_CAP + 1 } else { a + 1 };
            for i in 0..items {
                d.append_unique(key.clone(), format!("{round}-{i}"));
                d.append_unique(key.clone(), format!("{round}-{i}"));
            }
        }
        // A single value that becomes an array.
        d.insert("one", "x");
        d.append_unique("one", "y");
        let j = d.to_json();
        for a in 0..arrays {
            let items = if a == 5 { SPARE_ARRAY_CAP + 1 } else { a + 1 };
            let want: Vec<_> = (0..items).map(|i| format!("{round}-{i}")).collect();
            assert_eq!(j[format!("a{a}")], serde_json::json!(want), "round {round}");
        }
        assert_eq!(j["one"], serde_json::json!(["x", "y"]));
        d.clear();
        assert!(d.spare_arrays.len() <= SPARE_ARRAYS);
        assert!(d
            .spare_arrays
            .iter()
            .all(|a| a.is_empty() && a.capacity() <= SPARE_ARRAY_CAP));
    }
}

#[test]
fn escapes_strings_and_formats_times() {
    let mut d = Doc::new();
    let t = FixedOffset::east_opt(3600)
        .unwrap()
        .with_ymd_and_hms(2024, 3, 5, 7, 8, 9)
        .unwrap()
        + chrono::Duration::milliseconds(120);
    d.insert("@timestamp", t);
    d.insert("message", "a\"b\\c\nd\u{1}");
    let v = d.to_json();
    assert_eq!(v["@timestamp"], "2024-03-05T07:08:09.120+01:00");
    assert_eq!(v["message"], "a\"b\\c\nd\u{1}");
}

#[test]
fn timestamps_match_chrono() {
    for (offset, year) in [
        (-5 * 3600, 2024),
        (0, 1970),
        (5 * 3600 + 1800, 999),
        (-(9 * 3600 + 45 * 60), 9999),
        (14 * 3600, 2),
    ] {
        let base = FixedOffset::east_opt(offset)
            .unwrap()
            .with_ymd_and_hms(year, 12, 31, 23, 59, 58)
            .unwrap();
        check_nanos(base);
    }
}

fn check_nanos(base: chrono::DateTime<FixedOffset>) {
    for nanos in [
        0,
        7_000_000,
        120_000_000,
        4_000,
        123_456_000,
        1,
        999_999_999,
        10,
    ] {
        let t = base + chrono::Duration::nanoseconds(nanos);
        let mut out = Vec::new();
        write_rfc3339(&mut out, &t);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        );
    }
}

/// The nesting serializer against a plain reference: last write wins, a leaf that is also a
/// parent of another key is dropped, everything else nests.
#[test]
fn random_documents_match_a_reference_nesting() {
    let segs = [
        "a", "b", "a-x", "ab", "source", "ip", "x_y", "é", "q\"t", "",
    ];
    let mut rng = crate::testing::XorShift(0x9E37_79B9_7F4A_7C15);
    let mut next = move |n: usize| rng.below(n);
    // One document for every round, as the processor reuses it: plans are built and reused.
    let mut d = Doc::new();
    for round in 0..2000 {
        d.clear();
        let mut writes: Vec<(String, i64)> = Vec::new();
        for w in 0..(1 + next(30)) {
            let depth = 1 + next(4);
            let key: Vec<&str> = (0..depth).map(|_| segs[next(segs.len())]).collect();
            let key = key.join(".");
            d.insert(key.clone(), w as i64);
            writes.push((key, w as i64));
        }
        let mut last: std::collections::BTreeMap<String, i64> = Default::default();
        for (k, v) in &writes {
            last.insert(k.clone(), *v);
        }
        let keys: Vec<&String> = last.keys().collect();
        let mut expected = serde_json::Map::new();
        for (k, v) in &last {
            let is_parent = keys.iter().any(|o| {
                o.len() > k.len() && o.starts_with(k.as_str()) && o.as_bytes()[k.len()] == b'.'
            });
            if is_parent {
                continue;
            }
            let parts: Vec<&str> = k.split('.').collect();
            let mut obj = &mut expected;
            for p in &parts[..parts.len() - 1] {
                obj = obj
                    .entry(p.to_string())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()))
                    .as_object_mut()
                    .unwrap();
            }
            obj.insert(parts[parts.len() - 1].to_string(), serde_json::json!(v));
        }
        let mut out = Vec::new();
        d.write_json(&mut out);
        // The second write goes through the cached plan and must be the same.
        let mut again = Vec::new();
        d.write_json(&mut again);
        assert_eq!(out, again);
        let text = String::from_utf8(out).unwrap();
        let got: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            got,
            serde_json::Value::Object(expected),
            "round {round}: {text}"
        );
        // No member written twice: re-serializing the parsed value gives the same length.
        assert_eq!(
            serde_json::to_string(&got).unwrap().len(),
            text.len(),
            "{text}"
        );
    }
    let (hits, misses) = d.plan_stats();
    assert!(hits >= 2000 && misses <= 2000, "{hits} {misses}");
}

#[test]
fn related_is_deduplicated() {
    let mut d = Doc::new();
    d.add_related(Related::Ip, "1.2.3.4");
    d.add_related(Related::Ip, "1.2.3.4");
    d.add_related(Related::Ip, "-");
    d.add_related(Related::Ip, "::1");
    assert_eq!(
        d.to_json()["related"]["ip"],
        serde_json::json!(["1.2.3.4", "::1"])
    );
}

#[test]
fn fixed_string_arrays_reuse_an_emptied_documents_array() {
    let mut d = Doc::new();
    d.insert_strs("event.category", &["authentication", "session"]);
    let first = match d.get("event.category") {
        Some(Value::Array(items)) => items.as_ptr(),
        other => panic!("not an array: {other:?}"),
    };
    d.clear();
    d.insert_strs("event.type", &["start"]);
    match d.get("event.type") {
        Some(Value::Array(items)) => assert_eq!(items.as_ptr(), first, "a new allocation"),
        other => panic!("not an array: {other:?}"),
    }
    assert_eq!(d.to_json()["event"]["type"], serde_json::json!(["start"]));
}

fn geo_members() -> std::sync::Arc<Members> {
    std::sync::Arc::new(
        Members::new(vec![
            ("country_iso_code", Value::from("GB")),
            ("location.lon", Value::Float(-0.09)),
            ("city_name", Value::from("London")),
            ("location.lat", Value::Float(51.5)),
        ])
        .expect("members"),
    )
}

/// Serializes `doc` twice (a new plan, then the cached one) and parses it: both writes equal.
fn written(doc: &Doc) -> serde_json::Value {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    doc.write_json(&mut a);
    doc.write_json(&mut b);
    assert_eq!(a, b);
    serde_json::from_slice(&a).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&a)))
}

/// Members under a splice key join their parent object next to its own fields, as the same
/// fields inserted one by one would be written.
#[test]
fn spliced_members_join_the_parent_object() {
    let mut spliced = Doc::new();
    spliced.insert("source.ip", "81.2.69.142");
    spliced.insert("source.geo.name", "United Kingdom");
    spliced.insert(splice_key("source.geo"), Value::Members(geo_members()));
    spliced.insert("source.port", 22);
    let mut flat = Doc::new();
    flat.insert("source.ip", "81.2.69.142");
    flat.insert("source.geo.name", "United Kingdom");
    for (k, v) in geo_members().fields() {
        flat.insert(format!("source.geo.{k}"), v.clone());
    }
    flat.insert("source.port", 22);
    assert_eq!(written(&spliced), written(&flat));
    assert_eq!(
        written(&spliced)["source"]["geo"]["location"]["lat"],
        serde_json::json!(51.5)
    );
    // Alone in its object, and alone in the document.
    let mut only = Doc::new();
    only.insert(splice_key("source.geo"), Value::Members(geo_members()));
    assert_eq!(written(&only)["source"]["geo"]["city_name"], "London");
    // Under an ordinary key: an object.
    let mut plain = Doc::new();
    plain.insert("geo", Value::Members(geo_members()));
    assert_eq!(written(&plain)["geo"]["country_iso_code"], "GB");
}

/// A member the parent already has is the parent's: written once, never twice; when every
/// member is one, the JSON stays valid.
#[test]
fn spliced_members_leave_out_the_parents_own() {
    let mut doc = Doc::new();
    doc.insert("source.geo.city_name", "Own City");
    doc.insert("source.geo.location.lat", 1.0);
    doc.insert(splice_key("source.geo"), Value::Members(geo_members()));
    let mut text = Vec::new();
    doc.write_json(&mut text);
    assert_eq!(
        String::from_utf8_lossy(&text).matches("city_name").count(),
        1
    );
    let v = written(&doc);
    assert_eq!(v["source"]["geo"]["city_name"], "Own City");
    assert_eq!(
        v["source"]["geo"]["location"],
        serde_json::json!({"lat": 1.0})
    );
    assert_eq!(v["source"]["geo"]["country_iso_code"], "GB");

    let one = std::sync::Arc::new(Members::new(vec![("a", Value::Int(1))]).expect("members"));
    for own_first in [true, false] {
        let mut doc = Doc::new();
        if own_first {
            doc.insert("p.a", 2);
        }
        doc.insert(splice_key("p"), Value::Members(one.clone()));
        // Sorts after the splice (a key byte above DEL): the splice is not last in `p`.
        doc.insert("p.\u{e9}", 3);
        doc.insert("q", 4);
        let v = written(&doc);
        assert_eq!(v["p"]["a"], if own_first { 2 } else { 1 });
        assert_eq!(v["p"]["\u{e9}"], 3);
        let mut doc = Doc::new();
        doc.insert("p.a", 2);
        doc.insert(splice_key("p"), Value::Members(one.clone()));
        assert_eq!(written(&doc), serde_json::json!({"p": {"a": 2}}));
    }
}

/// Anything else under a splice key (a parser that wrote such a key) is still valid JSON.
#[test]
fn other_values_under_a_splice_key_stay_valid_json() {
    let mut doc = Doc::new();
    doc.insert("x.y", "z");
    doc.insert(splice_key("x"), "text");
    let v = written(&doc);
    assert_eq!(v["x"]["y"], "z");
    assert_eq!(v["x"][SPLICE], "text");
}

#[test]
fn clear_drops_what_the_fields_own() {
    let members =
        std::sync::Arc::new(Members::new(vec![("city_name", Value::from("Paris"))]).unwrap());
    let mut d = Doc::new();
    for round in 0..3 {
        d.insert(
            super::splice_key("source.geo"),
            Value::Members(members.clone()),
        );
        d.insert("a", Value::Array(vec![Value::Members(members.clone())]));
        let huge: Vec<Value> = (0..SPARE_ARRAY_CAP + 1)
            .map(|_| Value::Members(members.clone()))
            .collect();
        d.insert("b", Value::Array(huge));
        d.insert(
            "c",
            Value::Object(vec![("m".into(), Value::Members(members.clone()))]),
        );
        d.insert(
            format!("key{round}"),
            "a heap string longer than twenty-four bytes",
        );
        d.insert("n", 1);
        assert_eq!(std::sync::Arc::strong_count(&members), SPARE_ARRAY_CAP + 5);
        d.clear();
        // Nothing kept: a spare array is emptied, the rest dropped.
        assert_eq!(std::sync::Arc::strong_count(&members), 1);
        assert!(d.is_empty());
        assert_eq!(d.to_json(), serde_json::json!({}));
    }
}
