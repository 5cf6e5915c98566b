//! Kubernetes, without a cluster: the real binary on a node-like `/var/log` layout (CRI log files
//! under `pods/`, symlinked from `containers/`), a ConfigMap volume updated the way the kubelet
//! does it (a `..data` symlink swapped by rename), and the manifests in `packaging/kubernetes`
//! checked against the configuration they carry.

mod common;

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{read_docs, wait_for, Agent, BIN};
use serde_yaml::Value;

const T: Duration = Duration::from_secs(30);

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn cri_logs_are_joined_and_read_once_through_the_containers_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let pod_dir = root.join("log/pods/shop_web-7d9f_0d4c/web");
    std::fs::create_dir_all(&pod_dir).unwrap();
    std::fs::create_dir_all(root.join("log/containers")).unwrap();
    let file = pod_dir.join("0.log");
    append(
        &file,
        concat!(
            "2026-03-05T10:02:45.123456789Z stdout F <38>Mar  5 10:02:45 web sshd[1]: Accepted publickey for alice from 203.0.113.9 port 5000 ssh2\n",
            "2026-03-05T10:02:46.000000001Z stdout P first half, \n",
            "2026-03-05T10:02:46.000000002Z stderr F panic: out of cheese\n",
            "2026-03-05T10:02:46.000000003Z stdout P middle, \n",
            "2026-03-05T10:02:46.000000004Z stdout F last half\n",
        ),
    );
    symlink(
        &file,
        root.join("log/containers/web-7d9f_shop_web-0123abcd.log"),
    )
    .unwrap();
    let cfg = root.join("sluice.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir: {root}/data
inputs:
  containers:
    type: file
    include: ["{root}/log/containers/*.log", "{root}/log/pods/*/*/*.log"]
    framing: cri
    read_from: beginning
    poll_interval: 50ms
outputs:
  local:
    type: file
    inputs: [containers]
    path: "{root}/out/{{source_type}}.ndjson"
"#,
            root = root.display()
        ),
    )
    .unwrap();
    let agent = Agent::start(root, &cfg);
    let out = root.join("out");
    wait_for("3 records", T, || read_docs(&out).len() >= 3);
    // A part with its closing line still to come is held, not sent.
    append(&file, "2026-03-05T10:02:47Z stderr P held ");
    append(&file, "back \n2026-03-05T10:02:47Z stderr P until \n");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(read_docs(&out).len(), 3, "a partial line went out alone");
    append(&file, "2026-03-05T10:02:48Z stderr F the end\n");
    wait_for("4 records", T, || read_docs(&out).len() >= 4);
    assert_eq!(agent.stop(), Some(0));

    let docs = read_docs(&out);
    let mut by_msg: Vec<(String, String, String)> = docs
        .iter()
        .map(|d| {
            (
                d["event"]["original"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                d["stream"].as_str().unwrap_or_default().to_string(),
                d["sluice"]["source_type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    by_msg.sort();
    // Read once though two globs name it; prefixes removed; parts joined per stream.
    assert_eq!(
        by_msg,
        [
            ("<38>Mar  5 10:02:45 web sshd[1]: Accepted publickey for alice from 203.0.113.9 port 5000 ssh2".to_string(), "stdout".to_string(), "syslog".to_string()),
            ("first half, middle, last half".into(), "stdout".into(), "unknown".into()),
            ("held back until the end".into(), "stderr".into(), "unknown".into()),
            ("panic: out of cheese".into(), "stderr".into(), "unknown".into()),
        ]
        .to_vec(),
        "{docs:#?}"
    );
    // The runtime's time stands in for records that carry none.
    let joined = docs
        .iter()
        .find(|d| d["event"]["original"] == "first half, middle, last half")
        .unwrap();
    assert_eq!(joined["@timestamp"], "2026-03-05T10:02:46.000000001Z");
    // A joined record's offset is that of its first part, the second line of the file.
    let first_line = std::fs::read_to_string(&file).unwrap().find('\n').unwrap() + 1;
    assert_eq!(joined["log"]["offset"].as_u64(), Some(first_line as u64));
}

/// A ConfigMap volume as the kubelet writes it: `..<timestamp>/` holds the files, `..data`
/// points at it, and `sluice.yaml` points into `..data`.
fn write_configmap(dir: &Path, stamp: &str, yaml: &str) -> PathBuf {
    let ts = dir.join(format!("..{stamp}"));
    std::fs::create_dir_all(&ts).unwrap();
    std::fs::write(ts.join("sluice.yaml"), yaml).unwrap();
    ts
}

/// The kubelet's update: new timestamped directory, `..data_tmp` symlink to it, renamed over
/// `..data` (atomic), old directory removed.
fn swap_configmap(dir: &Path, old: &Path, stamp: &str, yaml: &str) -> PathBuf {
    let ts = write_configmap(dir, stamp, yaml);
    let tmp = dir.join("..data_tmp");
    symlink(ts.file_name().unwrap(), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    std::fs::remove_dir_all(old).unwrap();
    ts
}

/// A configuration tailing `root/logs` into `root/<out>/`, with the API on.
fn configmap_yaml(root: &Path, out: &str) -> String {
    format!(
        r#"data_dir: {root}/data
inputs:
  app:
    type: file
    include: ["{root}/logs/*.log"]
    read_from: beginning
    poll_interval: 50ms
outputs:
  local:
    type: file
    inputs: [app]
    path: "{root}/{out}/{{source_type}}.ndjson"
api:
  listen: 127.0.0.1:0
"#,
        root = root.display()
    )
}

#[test]
fn a_configmap_update_while_starting_is_not_missed() {
    // The update lands while Sluice starts: before or after it read the file, before or after
    // its watch began. Whichever, the new configuration must end up running.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("logs")).unwrap();
    let conf_dir = root.join("etc-sluice");
    std::fs::create_dir_all(&conf_dir).unwrap();
    let first = write_configmap(
        &conf_dir,
        "2026_03_05_10_00_00.1",
        &configmap_yaml(root, "out1"),
    );
    symlink(first.file_name().unwrap(), conf_dir.join("..data")).unwrap();
    symlink("..data/sluice.yaml", conf_dir.join("sluice.yaml")).unwrap();
    let agent = Agent::start(root, &conf_dir.join("sluice.yaml"));
    wait_for("the process to start reading its configuration", T, || {
        agent.logs().contains("INFO")
    });
    swap_configmap(
        &conf_dir,
        &first,
        "2026_03_05_10_00_01.2",
        &configmap_yaml(root, "out2"),
    );
    agent.wait_ready();
    // Records written before the new configuration runs go to out1; it must take over.
    let log = root.join("logs/app.log");
    let until = std::time::Instant::now() + T;
    let mut i = 0;
    while read_docs(&root.join("out2")).is_empty() {
        assert!(
            std::time::Instant::now() < until,
            "the old configuration still runs:\n{}",
            agent.logs()
        );
        append(&log, &format!("line {i}\n"));
        i += 1;
        std::thread::sleep(Duration::from_millis(100));
    }

    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn a_configmap_update_by_data_symlink_swap_is_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("logs")).unwrap();
    let conf_dir = root.join("etc-sluice");
    std::fs::create_dir_all(&conf_dir).unwrap();
    let yaml = |out: &str| configmap_yaml(root, out);
    let first = write_configmap(&conf_dir, "2026_03_05_10_00_00.000000001", &yaml("out1"));
    symlink(first.file_name().unwrap(), conf_dir.join("..data")).unwrap();
    symlink("..data/sluice.yaml", conf_dir.join("sluice.yaml")).unwrap();

    let log = root.join("logs/app.log");
    append(&log, "before the update\n");
    let agent = Agent::start(root, &conf_dir.join("sluice.yaml"));
    wait_for("the first record", T, || {
        read_docs(&root.join("out1")).len() == 1
    });

    let second = swap_configmap(
        &conf_dir,
        &first,
        "2026_03_05_10_05_00.000000002",
        &yaml("out2"),
    );
    let until = std::time::Instant::now() + T;
    while !agent.logs().contains("configuration reloaded") {
        assert!(
            std::time::Instant::now() < until,
            "no reload after the swap:\n{}",
            agent.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    append(&log, "after the update\n");
    wait_for("a record under the new output path", T, || {
        read_docs(&root.join("out2")).len() == 1
    });
    assert_eq!(read_docs(&root.join("out1")).len(), 1);

    // An invalid update is refused; the running configuration stays and keeps delivering.
    swap_configmap(
        &conf_dir,
        &second,
        "2026_03_05_10_10_00.000000003",
        "inputs: {app: {type: file}}\n",
    );
    wait_for("the refusal", T, || {
        agent
            .logs()
            .contains("invalid configuration, the running one stays")
    });
    append(&log, "after the bad update\n");
    wait_for("delivery after the refused update", T, || {
        read_docs(&root.join("out2")).len() == 2
    });
    assert_eq!(agent.stop(), Some(0));
}

// --- the manifests ---------------------------------------------------------------------------

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/kubernetes")
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

use serde::Deserialize;

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// Writes the ConfigMap's `sluice.yaml` to a file and runs `sluice validate` on it.
fn validate_embedded(configmap: &Value) -> Value {
    let text = configmap["data"]["sluice.yaml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("sluice.yaml");
    std::fs::write(&f, text).unwrap();
    let out = Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_yaml::from_str(text).unwrap()
}

/// Checks one pod spec's Sluice container against its configuration: probe paths, the API port,
/// the config mount and `-c` path, the state volume at `data_dir`, a mount covering every input.
fn check_pod(pod: &Value, configmaps: &[&Value]) {
    let containers = pod["containers"].as_sequence().unwrap();
    let c = containers
        .iter()
        .find(|c| c["name"] == "sluice")
        .expect("a container named sluice");
    let args: Vec<&str> = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[..2], ["run", "-c"]);
    let config_path = Path::new(args[2]);
    let mounts = c["volumeMounts"].as_sequence().unwrap();
    let mount_of = |path: &Path| {
        mounts
            .iter()
            .filter(|m| path.starts_with(m["mountPath"].as_str().unwrap()))
            .max_by_key(|m| m["mountPath"].as_str().unwrap().len())
            .unwrap_or_else(|| panic!("nothing mounted at {}", path.display()))
    };
    let volume = |name: &str| {
        pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    // The config file comes from the ConfigMap, mounted as a directory (a subPath mount would
    // never see updates).
    let m = mount_of(config_path);
    assert!(m.get("subPath").is_none(), "subPath mounts are not updated");
    let cm_name = volume(m["name"].as_str().unwrap())["configMap"]["name"]
        .as_str()
        .unwrap();
    let cm = configmaps
        .iter()
        .find(|c| c["metadata"]["name"] == cm_name)
        .unwrap_or_else(|| panic!("no ConfigMap {cm_name}"));
    assert_eq!(
        config_path.file_name().unwrap(),
        "sluice.yaml",
        "the key of the ConfigMap"
    );
    let cfg = validate_embedded(cm);

    // Probes on the API port of the configuration.
    let listen = cfg["api"]["listen"].as_str().unwrap();
    let port: u64 = listen.rsplit_once(':').unwrap().1.parse().unwrap();
    assert!(
        listen.starts_with("0.0.0.0:"),
        "probes come from the kubelet, not loopback"
    );
    let ports = c["ports"].as_sequence().unwrap();
    let api = ports.iter().find(|p| p["name"] == "api").unwrap();
    assert_eq!(api["containerPort"].as_u64(), Some(port));
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
    for probe in ["livenessProbe", "readinessProbe"] {
        let p = &c[probe]["httpGet"]["port"];
        assert!(
            *p == "api" || p.as_u64() == Some(port),
            "{probe} port {p:?}"
        );
    }
    // State on a writable volume at data_dir; inputs under a mount.
    let data_dir = Path::new(cfg["data_dir"].as_str().unwrap());
    let m = mount_of(data_dir);
    assert_ne!(
        m["readOnly"].as_bool(),
        Some(true),
        "data_dir must be writable"
    );
    for (_, input) in cfg["inputs"].as_mapping().unwrap() {
        for glob in input["include"].as_sequence().unwrap() {
            let g = Path::new(glob.as_str().unwrap());
            let fixed: PathBuf = g
                .components()
                .take_while(|c| !c.as_os_str().to_string_lossy().contains('*'))
                .collect();
            mount_of(&fixed);
        }
    }
    // Output paths must be on a writable mount too (the root filesystem is read-only).
    for (_, output) in cfg["outputs"].as_mapping().unwrap() {
        if let Some(p) = output["path"].as_str() {
            let m = mount_of(Path::new(p));
            assert_ne!(m["readOnly"].as_bool(), Some(true), "{p}");
        }
    }
    assert_eq!(
        c["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    assert!(c["resources"]["limits"]["memory"].is_string());
}

#[test]
fn manifests_parse_and_match_their_configuration() {
    let dir = k8s_dir();
    let kustomization = &documents(&dir.join("kustomization.yaml"))[0];
    let mut all = Vec::new();
    for r in kustomization["resources"].as_sequence().unwrap() {
        let path = dir.join(r.as_str().unwrap());
        all.extend(documents(&path));
    }
    let ds = kind(&all, "DaemonSet");
    let configmaps: Vec<&Value> = all.iter().filter(|d| d["kind"] == "ConfigMap").collect();
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(
        ds["spec"]["selector"]["matchLabels"],
        ds["spec"]["template"]["metadata"]["labels"]
    );
    check_pod(pod, &configmaps);
    // The DaemonSet reads the node's logs in the CRI format and keeps checkpoints on the node.
    let cfg: Value =
        serde_yaml::from_str(configmaps[0]["data"]["sluice.yaml"].as_str().unwrap()).unwrap();
    let input = &cfg["inputs"]["containers"];
    assert_eq!(input["framing"], "cri");
    let include: Vec<&str> = input["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(include
        .iter()
        .any(|g| g.starts_with("/var/log/containers/")));
    assert!(include.iter().any(|g| g.starts_with("/var/log/pods/")));
    let state = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["hostPath"]["path"] == cfg["data_dir"])
        .expect("checkpoints on a hostPath at data_dir");
    assert_eq!(state["hostPath"]["type"], "DirectoryOrCreate");
    assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() > 30);
    assert_eq!(
        kind(&all, "ServiceAccount")["metadata"]["name"],
        pod["serviceAccountName"]
    );

    // The sidecar example: the app and Sluice share an emptyDir.
    let side = documents(&dir.join("sidecar-example.yaml"));
    let dep = kind(&side, "Deployment");
    let pod = &dep["spec"]["template"]["spec"];
    let cms: Vec<&Value> = side.iter().filter(|d| d["kind"] == "ConfigMap").collect();
    check_pod(pod, &cms);
    let shared: Vec<&Value> = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|v| v.get("emptyDir").is_some())
        .collect();
    let containers = pod["containers"].as_sequence().unwrap();
    assert!(shared
        .iter()
        .any(|v| containers.iter().all(|c| c["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|m| m["name"] == v["name"]))));
}

#[test]
fn cri_on_stdin_joins_parts_and_flushes_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cfg = root.join("sluice.yaml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir: {root}/data\ninputs:\n  pipe:\n    type: stdin\n    framing: cri\noutputs:\n  local:\n    type: file\n    inputs: [pipe]\n    path: \"{root}/out/all.ndjson\"\n",
            root = root.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "-c"])
        .arg(&cfg)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"2026-03-05T10:00:00Z stdout P one \n2026-03-05T10:00:00Z stdout F two\n2026-03-05T10:00:01Z stderr P cut off at the end\n",
        )
        .unwrap();
    assert!(child.wait().unwrap().success());
    let docs = read_docs(&root.join("out"));
    let mut got: Vec<(String, String, bool)> = docs
        .iter()
        .map(|d| {
            (
                d["event"]["original"].as_str().unwrap().to_string(),
                d["stream"].as_str().unwrap().to_string(),
                d["log"]["offset"].is_null(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("cut off at the end".to_string(), "stderr".to_string(), true),
            ("one two".to_string(), "stdout".to_string(), true),
        ]
    );
}
