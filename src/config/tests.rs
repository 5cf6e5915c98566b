use super::*;
use std::path::Path;

const ISSUE_EXAMPLE: &str = r#"
data_dir: ./data
inputs:
  app:
    type: file
    include: ["./logs/*.log"]
    exclude: ["*.gz"]
    read_from: beginning      # or: end (default)
  console:
    type: stdin
outputs:
  local:
    type: file
    inputs: [app]
    path: "./out/{source_type}.ndjson"
  screen:
    type: stdout
    inputs: [console]
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

fn load(text: &str) -> Result<Config, ConfigError> {
    load_str(text, Path::new("sluice.yaml"), &no_env)
}

fn err(text: &str) -> String {
    load(text).unwrap_err().to_string()
}

#[test]
fn the_documented_example_loads() {
    let c = load(ISSUE_EXAMPLE).unwrap();
    let InputConfig::File(app) = &c.inputs["app"] else {
        panic!("app is not a file input")
    };
    assert_eq!(app.include, vec!["./logs/*.log"]);
    assert_eq!(app.read_from, ReadFrom::Beginning);
    assert!(matches!(c.inputs["console"], InputConfig::Stdin(_)));
    let OutputConfig::File(local) = &c.outputs["local"] else {
        panic!("local is not a file output")
    };
    assert_eq!(local.path, "./out/{source_type}.ndjson");
    assert_eq!(local.inputs, vec!["app"]);
    assert_eq!(c.outputs["screen"].common().inputs, ["console"]);
}

#[test]
fn misspelt_key_names_path_and_suggests() {
    let e = err(&ISSUE_EXAMPLE.replace("    path: ", "    pth: "));
    assert!(
        e.contains("sluice.yaml: outputs.local.pth: unknown key `pth`, did you mean `path`?"),
        "{e}"
    );
}

#[test]
fn missing_required_key_is_named() {
    let e = err(&ISSUE_EXAMPLE.replace("    path: \"./out/{source_type}.ndjson\"\n", ""));
    assert!(
        e.contains("outputs.local.path: required key is missing"),
        "{e}"
    );
}

#[test]
fn unknown_type_suggests_the_right_one() {
    let e = err(&ISSUE_EXAMPLE.replace("type: stdin", "type: stdn"));
    assert!(e.contains("inputs.console"), "{e}");
    assert!(e.contains("did you mean `stdin`?"), "{e}");
}

#[test]
fn unknown_enum_value_lists_choices() {
    let e = err(&ISSUE_EXAMPLE.replace("read_from: beginning", "read_from: start"));
    assert!(e.contains("inputs.app.read_from"), "{e}");
    assert!(e.contains("beginning, end"), "{e}");
}

#[test]
fn output_naming_a_missing_input_is_caught() {
    let e = err(&ISSUE_EXAMPLE.replace("inputs: [app]", "inputs: [ap]"));
    assert!(
        e.contains("outputs.local.inputs: no input named `ap`, did you mean `app`?"),
        "{e}"
    );
}

#[test]
fn bad_time_zone_and_top_level_typo() {
    let e = err(&format!(
        "{ISSUE_EXAMPLE}pipeline:\n  normalize:\n    timezone: Mars/Olympus\n"
    ));
    assert!(e.contains("pipeline.normalize.timezone"), "{e}");
    let e = err(&ISSUE_EXAMPLE.replace("data_dir:", "datadir:"));
    assert!(e.contains("did you mean `data_dir`?"), "{e}");
}

#[test]
fn environment_interpolation() {
    let env = |k: &str| (k == "LOGS").then(|| "/var/log".to_string());
    let text = ISSUE_EXAMPLE
        .replace("./logs/*.log", "${LOGS}/*.log")
        .replace("./data", "${DATA:-/tmp/sluice}");
    let c = load_str(&text, Path::new("x.yaml"), &env).unwrap();
    assert_eq!(c.data_dir, Path::new("/tmp/sluice"));
    let InputConfig::File(app) = &c.inputs["app"] else {
        panic!()
    };
    assert_eq!(app.include, vec!["/var/log/*.log"]);
    let e = load_str(
        &text.replace("${LOGS}", "${NOPE}"),
        Path::new("x.yaml"),
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("x.yaml: line 6: environment variable `NOPE` is not set"),
        "{e}"
    );
    assert_eq!(interpolate("a $$ b $${X}", &no_env).unwrap(), "a $ b ${X}");
}

#[test]
fn durations() {
    use std::time::Duration;
    assert_eq!(
        model::duration::parse("250ms").unwrap(),
        Duration::from_millis(250)
    );
    assert_eq!(
        model::duration::parse("2m").unwrap(),
        Duration::from_secs(120)
    );
    assert!(model::duration::parse("3 parsecs").is_err());
}
