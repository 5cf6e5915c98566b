//! Hot reload with the real binary: file changes and SIGHUP, under load.

mod common;

use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn config_with(dir: &std::path::Path, outputs: &str) -> String {
    format!(
        r#"data_dir: {data}
inputs:
  app:
    type: file
    include: ["{logs}/*.log"]
    read_from: beginning
    poll_interval: 50ms
outputs:
  local:
    type: file
    inputs: [app]
    path: "{out}/main-{{source_type}}.ndjson"
{outputs}
"#,
        data = dir.join("data").display(),
        logs = dir.join("logs").display(),
        out = dir.join("out").display(),
    )
}

#[test]
fn twenty_reloads_while_appending_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let cfg = dir.path().join("sluice.yaml");
    std::fs::write(&cfg, config_with(dir.path(), "")).unwrap();
    let agent = Agent::start(dir.path(), &cfg);
    agent.wait_ready();
    let log = dir.path().join("logs/app.log");
    let writer_log = log.clone();
    let writer = std::thread::spawn(move || {
        for chunk in 0..60 {
            append_lines(&writer_log, "h", chunk * 200..(chunk + 1) * 200);
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    for i in 0..20 {
        // Alternate: add a second output (new component), change it, remove it; half by SIGHUP.
        let extra = match i % 3 {
            0 => format!(
                "  extra:\n    type: file\n    inputs: [app]\n    path: \"{}/extra-{i}.ndjson\"\n",
                dir.path().join("side").display()
            ),
            1 => format!(
                "  extra:\n    type: file\n    inputs: [app]\n    path: \"{}/extra-{i}.ndjson\"\n    when_full: block\n",
                dir.path().join("side").display()
            ),
            _ => String::new(),
        };
        let reloads = |a: &Agent| a.logs().matches("configuration reloaded").count();
        let before = reloads(&agent);
        std::fs::write(&cfg, config_with(dir.path(), &extra)).unwrap();
        if i % 2 == 0 {
            agent.signal("HUP");
        }
        // Each change is applied before the next one (a fixed pause lost reloads on a busy
        // machine, where several changes fell into one reload).
        wait_for("the reload", T, || reloads(&agent) > before);
    }
    writer.join().unwrap();
    let out = dir.path().join("out");
    wait_for("all 12000 lines", T, || {
        message_counts(&out).len() >= 12_000
    });
    let logs = agent.logs();
    assert_eq!(agent.stop(), Some(0));
    let counts = message_counts(&out);
    assert_all_present(&counts, "h", 0..12_000);
    assert!(
        counts.values().all(|&n| n == 1),
        "the main output never restarted, so no duplicates"
    );
    assert!(
        logs.matches("configuration reloaded").count() >= 20,
        "{logs}"
    );
}

#[test]
fn an_invalid_reload_keeps_the_running_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let cfg = dir.path().join("sluice.yaml");
    std::fs::write(&cfg, config_with(dir.path(), "")).unwrap();
    let agent = Agent::start(dir.path(), &cfg);
    agent.wait_ready();
    let log = dir.path().join("logs/app.log");
    append_lines(&log, "v", 0..100);
    let out = dir.path().join("out");
    wait_for("first lines", T, || message_counts(&out).len() >= 100);
    std::fs::write(
        &cfg,
        config_with(dir.path(), "").replace("    path:", "    pth:"),
    )
    .unwrap();
    agent.signal("HUP");
    std::thread::sleep(Duration::from_millis(600));
    append_lines(&log, "v", 100..200);
    wait_for("lines after the bad reload", T, || {
        message_counts(&out).len() >= 200
    });
    let logs = agent.logs();
    assert_eq!(agent.stop(), Some(0));
    assert!(
        logs.contains("invalid configuration, the running one stays"),
        "{logs}"
    );
    assert!(
        logs.contains("outputs.local.pth: unknown key `pth`, did you mean `path`?"),
        "{logs}"
    );
}
