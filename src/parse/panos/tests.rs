use super::*;

fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    split_fields(line.as_bytes(), &mut out);
    out.into_iter().map(Cow::into_owned).collect()
}

#[test]
fn splits_plain_and_empty_fields() {
    assert_eq!(split("a,,b,"), ["a", "", "b", ""]);
    assert_eq!(split(""), [""]);
    assert_eq!(split("x\r\n"), ["x"]);
}

#[test]
fn quoted_fields_keep_commas_and_unescape_quotes() {
    assert_eq!(
        split(r#"1,"a, b",c,"say ""hi"", ok","",z"#),
        ["1", "a, b", "c", r#"say "hi", ok"#, "", "z"]
    );
}

#[test]
fn quoted_fields_are_borrowed_unless_unescaped() {
    let mut out = Vec::new();
    split_fields(br#""plain","with ""q""""#, &mut out);
    assert!(matches!(out[0], Cow::Borrowed("plain")));
    assert_eq!(out[1], r#"with "q""#);
}

#[test]
fn odd_quoting_never_panics() {
    assert_eq!(
        split(r#"a,"unterminated, rest"#),
        ["a", "unterminated, rest"]
    );
    assert_eq!(split(r#""x"tail,y"#), ["xtail", "y"]);
    assert_eq!(split(r#"mid"quote,"#), [r#"mid"quote"#, ""]);
    assert_eq!(split("\""), [""]);
    assert_eq!(split("\"\""), [""]);
    assert_eq!(split(",\"\"\""), ["", "\""]);
}

#[test]
fn invalid_utf8_is_replaced() {
    let mut out = Vec::new();
    split_fields(b"ok,\xff\xfe,\"\xc3\",end", &mut out);
    assert_eq!(out.len(), 4);
    assert_eq!(out[0], "ok");
    assert!(out[1].contains('\u{fffd}'));
    assert!(out[2].contains('\u{fffd}'));
    assert_eq!(out[3], "end");
}

#[test]
fn recognizes_panos_lines() {
    assert!(looks_like_panos(
        b"1,2024/03/05 10:11:12,0123456789,TRAFFIC,end,2561,2024/03/05 10:11:12,10.1.1.1"
    ));
    assert!(looks_like_panos(
        b",2024/03/05 10:11:12,0123456789,SYSTEM,general,0,2024/03/05 10:11:12"
    ));
    assert!(looks_like_panos(
        b"0123456789,2024/03/05 10:11:12,AUDIT,2561,gui-op,admin,cmd,success"
    ));
    assert!(!looks_like_panos(b"1,2024/03/05 10:11:12,0123,BOGUS,end"));
    assert!(!looks_like_panos(b"1,yesterday,0123,TRAFFIC,end"));
    assert!(!looks_like_panos(
        b"CEF:0|Palo Alto Networks|PAN-OS|10.1|end|TRAFFIC|1|"
    ));
    assert!(!looks_like_panos(b""));
    assert!(!looks_like_panos(b",,,"));
}

#[test]
fn builtin_schema_loads_all_types() {
    let schema = PanosSchema::builtin().unwrap();
    for name in KNOWN_TYPES.iter().chain(["AUDIT", "audit"].iter()) {
        assert!(schema.log_type(name).is_some(), "{name}");
    }
    assert_eq!(schema.log_type("AUDIT").unwrap().type_index, 2);
    assert_eq!(schema.log_type("TRAFFIC").unwrap().type_index, 3);
    let config = schema.log_type("CONFIG").unwrap();
    assert_eq!(config.layouts.len(), 2);
    assert_eq!(config.layouts.last().unwrap().name, "default");
}

#[test]
fn schema_errors_name_the_file_and_problem() {
    let bad = |text: &str| {
        PanosSchema::from_sources([("bad.yaml", text)])
            .unwrap_err()
            .to_string()
    };
    let head = "log_type: X\nevent: {kind: event, category: [network]}\n";
    let e = bad("log_type: [");
    assert!(e.starts_with("bad.yaml: invalid YAML"), "{e}");
    let e = bad(&format!("{head}columns: [type]\n"));
    assert!(e.contains("time_generated"), "{e}");
    let e = bad(&format!(
        "{head}columns: [type, time_generated, {{src: source.ip:bogus}}]\n"
    ));
    assert!(e.contains("unknown conversion 'bogus'"), "{e}");
    let e = bad(&format!("{head}columns: [type, time_generated, type]\n"));
    assert!(e.contains("used twice"), "{e}");
    let e = bad(
        "log_type: X\nevent: {kind: nope, category: [network]}\ncolumns: [type, time_generated]\n",
    );
    assert!(e.contains("event.kind"), "{e}");
    let e = bad(
            "log_type: X\nevent: {kind: event, category: [network], outcome: {column: action, map: {}}}\ncolumns: [type, time_generated]\n"
        );
    assert!(e.contains("column 'action'"), "{e}");
    let two = PanosSchema::from_sources([
            ("a.yaml", "log_type: X\nevent: {kind: event, category: [network]}\ncolumns: [type, time_generated]\n"),
            ("b.yaml", "log_type: Y\naliases: [X]\nevent: {kind: event, category: [network]}\ncolumns: [type, time_generated]\n"),
        ])
        .unwrap_err()
        .to_string();
    assert_eq!(two, "b.yaml: log type X is already defined in a.yaml");
}

#[test]
fn from_dir_reads_yaml_files_and_overrides_replace_types() {
    let dir = tempfile::tempdir().unwrap();
    let text = "log_type: TRAFFIC\nevent: {kind: event, category: [network]}\ncolumns: [a, b, c, type, d, e, time_generated, {src: source.ip:ip}]\n";
    std::fs::write(dir.path().join("traffic.yaml"), text).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
    let small = PanosSchema::from_dir(dir.path()).unwrap();
    assert_eq!(small.log_types().len(), 1);
    let merged = PanosSchema::builtin().unwrap().with_overrides(small);
    assert_eq!(
        merged.log_type("TRAFFIC").unwrap().layouts[0].columns.len(),
        8
    );
    assert!(merged.log_type("THREAT").is_some());
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        PanosSchema::from_dir(empty.path()),
        Err(SchemaError::Empty { .. })
    ));
    assert!(matches!(
        PanosSchema::from_dir(&empty.path().join("missing")),
        Err(SchemaError::Io { .. })
    ));
}
