//! The status page in a real browser: headless Chromium loads `GET /` from a running agent, the
//! page's script polls `/v1/status`, and the rendered DOM shows the agent's numbers; after more
//! records flow, a fresh load shows the new ones. A screenshot is kept under the target
//! directory (`CARGO_TARGET_TMPDIR`) as an artifact. Chromium comes from `scripts/test-deps.sh`;
//! without it the test fails and says so.

mod common;
mod http_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{append_lines, wait_for, Agent};

fn chromium() -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.to_string();
        }
    }
    panic!("headless Chromium is needed for this test: run `bash scripts/test-deps.sh` (Debian package `chromium`)");
}

/// Loads `url` in a fresh headless profile, lets the page run for a few (virtual) seconds, and
/// returns the DOM; with `screenshot`, also writes a PNG there.
fn render(dir: &Path, url: &str, screenshot: Option<&Path>) -> String {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--window-size=1280,1000",
        // Virtual time waits for network requests, so this covers several polls (every 2 s).
        "--virtual-time-budget=5000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(p) => cmd.arg(format!("--screenshot={}", p.display())),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd.arg(url).output().unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of the element with this id (the page renders plain numbers into them).
fn text_of(dom: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in {dom}"));
    let rest = &dom[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap() + start;
    rest[start..end].to_string()
}

fn count(dom: &str, id: &str) -> u64 {
    text_of(dom, id)
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| {
            panic!("#{id} is `{}`, not a number", text_of(dom, id));
        })
}

fn status(base: &str) -> serde_json::Value {
    http_support::curl(&["-s", &format!("{base}/v1/status")]).json()
}

#[test]
fn the_status_page_shows_live_numbers_in_chromium() {
    let browser = chromium();
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::file_to_file_config(dir.path(), "");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("api:\n  listen: 127.0.0.1:0\n");
    std::fs::write(&cfg, text).unwrap();
    let log = dir.path().join("logs/app.log");
    let syslog = |i: usize| {
        format!("<38>Mar  5 10:02:45 bastion-01 sshd[4188]: Failed password for root from 203.0.113.{} port 41830 ssh2\n", i % 250)
    };
    std::fs::write(&log, (0..40).map(syslog).collect::<String>()).unwrap();
    append_lines(&log, "plain", 0..10);
    let agent = Agent::start(dir.path(), &cfg);
    let mut addr = None;
    wait_for("the API", Duration::from_secs(30), || {
        addr = http_support::logged_address(&agent.logs(), "API listening");
        addr.is_some()
    });
    let base = format!("http://{}", addr.unwrap());
    let delivered = |n: u64| {
        let base = base.clone();
        move || {
            let s = status(&base);
            s["components"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["kind"] == "output" && c["records"] == n))
        }
    };
    wait_for(
        "50 records delivered",
        Duration::from_secs(30),
        delivered(50),
    );

    let dom = render(dir.path(), &format!("{base}/"), None);
    assert_eq!(text_of(&dom, "error"), "", "the page reported an error");
    assert_eq!(count(&dom, "in-total"), 50, "{dom}");
    assert_eq!(count(&dom, "out-total"), 50);
    assert_eq!(text_of(&dom, "phase"), "running");
    assert_eq!(text_of(&dom, "ready"), "yes");
    assert!(
        dom.contains(r#"data-source-type="syslog" data-count="40""#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"data-source-type="unknown" data-count="10""#),
        "{dom}"
    );
    assert!(dom.contains(r#"data-component="input app""#));
    assert!(dom.contains(r#"data-component="output local""#));
    assert!(
        dom.contains(r#"data-buffer="processors""#),
        "queue fill shown"
    );

    // More records flow: a new load shows the new totals.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all((40..110).map(syslog).collect::<String>().as_bytes())
            .unwrap();
    }
    wait_for(
        "120 records delivered",
        Duration::from_secs(30),
        delivered(120),
    );
    let artifact = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&artifact);
    render(dir.path(), &format!("{base}/"), Some(&artifact));
    let dom = render(dir.path(), &format!("{base}/"), None);
    assert_eq!(count(&dom, "in-total"), 120, "{dom}");
    assert!(
        dom.contains(r#"data-source-type="syslog" data-count="110""#),
        "{dom}"
    );
    let png = std::fs::read(&artifact).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "screenshot"
    );
    println!("status page screenshot ({browser}): {}", artifact.display());
    assert_eq!(agent.stop(), Some(0));
}
