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

const DELIVERY_EXAMPLE: &str = r#"
inputs:
  app:
    type: file
    include: ["./logs/*.log"]
outputs:
  splunk:
    type: splunk_hec
    inputs: [app]
    endpoint: https://splunk.example:8088
    token: 11111111-2222-3333-4444-555555555555
    ack: true
    sourcetypes: {panos:threat: "pan:threat_custom", syslog: "linux:syslog"}
    batch: {max_events: 500, max_bytes: 1048576, timeout: 2s}
    retry: {max_retries: 10, max_elapsed: 10m, initial_backoff: 200ms, max_backoff: 1m}
    dlq: dead
  elastic:
    type: elasticsearch
    inputs: [app]
    endpoint: https://es.example:9200
    api_key: ${ES_API_KEY:-abc}
    tls: {ca_file: /etc/sluice/ca.pem}
    dlq: dead
  dead:
    type: dlq
    path: /var/lib/sluice/dlq
"#;

#[test]
fn delivery_outputs_load_with_their_defaults() {
    let c = load(DELIVERY_EXAMPLE).unwrap();
    let OutputConfig::SplunkHec(h) = &c.outputs["splunk"] else {
        panic!("splunk is not splunk_hec")
    };
    assert_eq!(h.batch.max_events, 500);
    assert_eq!(h.retry.max_retries, Some(10));
    assert_eq!(h.retry.max_elapsed, std::time::Duration::from_secs(600));
    assert_eq!(h.compression, Compression::Gzip);
    let OutputConfig::Elasticsearch(e) = &c.outputs["elastic"] else {
        panic!("elastic is not elasticsearch")
    };
    assert_eq!(e.index, "logs-{event.dataset}-{namespace}");
    assert_eq!(e.namespace, "default");
    assert_eq!(e.retry.max_retries, None);
    assert!(e.tls.as_ref().unwrap().verify);
    let OutputConfig::Dlq(d) = &c.outputs["dead"] else {
        panic!("dead is not dlq")
    };
    assert!(d.inputs.is_empty() && d.fsync);
}

#[test]
fn delivery_output_problems_name_the_key() {
    let bad = DELIVERY_EXAMPLE
        .replace("dlq: dead\n  elastic", "dlq: nowhere\n  elastic")
        .replace("endpoint: https://es.example:9200", "endpoint: es.example")
        .replace("{ca_file: /etc/sluice/ca.pem}", "{ca_fil: x}");
    let e = err(&bad);
    // Serde reports the key inside the tagged output without `tls.`; the suggestion still helps.
    assert!(
        e.contains("outputs.elastic") && e.contains("did you mean `ca_file`"),
        "{e}"
    );
    let bad = DELIVERY_EXAMPLE
        .replace("dlq: dead\n  elastic", "dlq: nowhere\n  elastic")
        .replace("endpoint: https://es.example:9200", "endpoint: es.example")
        .replace("api_key: ${ES_API_KEY:-abc}", "index: \"logs-{oops}\"");
    let e = err(&bad);
    assert!(
        e.contains("outputs.splunk.dlq: no output named `nowhere`"),
        "{e}"
    );
    assert!(e.contains("outputs.elastic.endpoint"), "{e}");
    assert!(
        e.contains("outputs.elastic.index: unknown placeholder `{oops}`"),
        "{e}"
    );
    let e = err(&DELIVERY_EXAMPLE.replace("dlq: dead\n  elastic", "dlq: elastic\n  elastic"));
    assert!(
        e.contains("outputs.splunk.dlq: `elastic` is a `elasticsearch` output"),
        "{e}"
    );
    let e = err(&DELIVERY_EXAMPLE.replace("    token: 11111111-2222-3333-4444-555555555555\n", ""));
    assert!(e.contains("outputs.splunk.token"), "{e}");
}
