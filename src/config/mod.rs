//! Loading and validating the YAML configuration.
//!
//! Text is interpolated (`${VAR}`, `${VAR:-default}`), read through the `config` crate, then
//! deserialized with the key path tracked, so that every error names the file, the key and what was
//! expected.

pub mod buffer;
pub mod enrich;
mod interpolate;
pub mod model;
pub mod routing;
pub mod secret;

use std::fmt;
use std::path::{Path, PathBuf};

pub use buffer::{BufferConfig, DiskBufferConfig, FsyncPolicy};
pub use enrich::*;
pub use interpolate::interpolate;
pub use model::*;
pub use routing::{OneOrMany, RouteConfig, When};
pub use secret::Secret;

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `outputs.local.path`; empty for the whole file.
    pub key: String,
    pub message: String,
}

/// A configuration that cannot be used, with every problem found.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if p.key.is_empty() {
                write!(f, "{}: {}", self.file.display(), p.message)?;
            } else {
                write!(f, "{}: {}: {}", self.file.display(), p.key, p.message)?;
            }
        }
        Ok(())
    }
}

impl ConfigError {
    fn one(file: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            problems: vec![Problem {
                key: key.into(),
                message: message.into(),
            }],
        }
    }
}

/// Reads, interpolates, parses and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::one(path, "", format!("cannot read the file: {e}")))?;
    load_str(&text, path, &|k| std::env::var(k).ok())
}

/// Parses configuration text; `file` is only used in messages and to resolve nothing else.
pub fn load_str(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let text = interpolate(text, env)
        .map_err(|(line, msg)| ConfigError::one(file, format!("line {line}"), msg))?;
    let source = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Yaml))
        .build()
        .map_err(|e| ConfigError::one(file, "", format!("not valid YAML: {e}")))?;
    let tree: serde_json::Value = source.clone().try_deserialize().unwrap_or_default();
    let cfg: Config = serde_path_to_error::deserialize(source).map_err(|e| {
        let key = e.path().to_string();
        let (key, message) = explain(&key, &e.inner().to_string());
        let key = refine_key(&tree, key, &message);
        ConfigError::one(file, key, message)
    })?;
    let problems = validate(&cfg);
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigError {
            file: file.to_path_buf(),
            problems,
        })
    }
}

/// Turns serde's wording into ours: unknown keys get their full path and a "did you mean".
fn explain(path: &str, msg: &str) -> (String, String) {
    let path = if path == "." { "" } else { path };
    // The config crate appends its own idea of the key: "... for key `inputs.app`".
    let (msg, path) = match msg.rsplit_once(" for key `") {
        Some((m, k)) => (m, k.trim_end_matches('`').to_string()),
        None => (msg, path.to_string()),
    };
    let path = path.as_str();
    // The config crate: `missing configuration field "outputs.local.path"`.
    if let Some(rest) = msg.strip_prefix("missing configuration field \"") {
        return (
            rest.trim_end_matches('"').to_string(),
            "required key is missing".into(),
        );
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    // serde: "unknown field `pth`, expected one of `a`, `b`" / "expected `a` or `b`"
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((name, tail)) = rest.split_once('`') {
            let candidates: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
            let mut m = format!("unknown key `{name}`");
            if let Some(best) = did_you_mean(name, &candidates) {
                m.push_str(&format!(", did you mean `{best}`?"));
            } else if !candidates.is_empty() {
                m.push_str(&format!(", expected one of: {}", candidates.join(", ")));
            }
            return (join(name), m);
        }
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        if let Some((name, tail)) = rest.split_once('`') {
            let candidates: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
            let mut m = format!("unknown value `{name}`");
            if let Some(best) = did_you_mean(name, &candidates) {
                m.push_str(&format!(", did you mean `{best}`?"));
            }
            m.push_str(&format!(" (expected one of: {})", candidates.join(", ")));
            return (path.to_string(), m);
        }
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        if let Some((name, _)) = rest.split_once('`') {
            return (join(name), "required key is missing".to_string());
        }
    }
    (path.to_string(), msg.to_string())
}

/// Serde loses the leaf key inside tagged components; find the child whose value is the one the
/// message complains about (`unknown value `start``).
fn refine_key(tree: &serde_json::Value, key: String, message: &str) -> String {
    let Some(bad) = message
        .strip_prefix("unknown value `")
        .and_then(|r| r.split('`').next())
    else {
        return key;
    };
    let mut node = tree;
    for seg in key.split('.').filter(|s| !s.is_empty()) {
        match node.get(seg) {
            Some(n) => node = n,
            None => return key,
        }
    }
    let found = node.as_object().and_then(|o| {
        o.iter()
            .find(|(k, v)| *k != "type" && v.as_str() == Some(bad))
            .map(|(k, _)| k.clone())
    });
    match found {
        Some(child) if key.is_empty() => child,
        Some(child) => format!("{key}.{child}"),
        None => key,
    }
}

/// The closest candidate, if it is close enough to be a typo.
pub fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(name, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Checks what serde cannot: references between components and values with a meaning.
fn validate(cfg: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |key: String, message: String| problems.push(Problem { key, message });
    if cfg.inputs.is_empty() {
        problem("inputs".into(), "at least one input is required".into());
    }
    if cfg.outputs.is_empty() {
        problem("outputs".into(), "at least one output is required".into());
    }
    let input_names: Vec<&str> = cfg.inputs.keys().map(String::as_str).collect();
    for (name, input) in &cfg.inputs {
        let globs = match input {
            InputConfig::File(f) => Some((&f.include, &f.exclude)),
            InputConfig::Evtx(e) => Some((&e.include, &e.exclude)),
            InputConfig::Stdin(_)
            | InputConfig::Syslog(_)
            | InputConfig::Http(_)
            | InputConfig::SplunkHec(_)
            | InputConfig::Kafka(_) => None,
        };
        if let Some((include, exclude)) = globs {
            if include.is_empty() {
                problem(
                    format!("inputs.{name}.include"),
                    "expected at least one glob pattern".into(),
                );
            }
            for (i, pat) in include.iter().chain(exclude.iter()).enumerate() {
                if let Err(e) = globset::Glob::new(pat) {
                    let which = if i < include.len() {
                        "include"
                    } else {
                        "exclude"
                    };
                    problem(
                        format!("inputs.{name}.{which}"),
                        format!("`{pat}` is not a valid glob: {e}"),
                    );
                }
            }
        }
        if let InputConfig::Syslog(s) = input {
            for (key, message) in s.problems() {
                problem(format!("inputs.{name}.{key}"), message);
            }
        }
        let http_problems = match input {
            InputConfig::Http(h) => h.problems(),
            InputConfig::SplunkHec(h) => h.problems(),
            _ => Vec::new(),
        };
        if let InputConfig::Kafka(k) = input {
            for (key, message) in k.problems() {
                problem(format!("inputs.{name}.{key}"), message);
            }
        }
        for (key, message) in http_problems {
            problem(format!("inputs.{name}.{key}"), message);
        }
        if let InputConfig::File(f) = input {
            if f.max_line_bytes < 16 {
                problem(
                    format!("inputs.{name}.max_line_bytes"),
                    "expected at least 16".into(),
                );
            }
        }
    }
    for (key, message) in cfg.pipeline.enrich.problems() {
        problem(format!("pipeline.enrich.{key}"), message);
    }
    for (name, output) in &cfg.outputs {
        let c = output.common();
        let routed_to = cfg.routes.iter().any(|r| r.to.contains(name))
            || cfg.unrouted.as_deref() == Some(name.as_str());
        if c.inputs.is_empty() && !routed_to && !matches!(output, OutputConfig::Dlq(_)) {
            problem(
                format!("outputs.{name}.inputs"),
                "expected at least one input name, or a route whose `to` names this output".into(),
            );
        }
        if let BufferConfig::Disk(d) = c.buffer {
            if d.max_bytes < 64 * 1024 {
                problem(
                    format!("outputs.{name}.buffer.max_bytes"),
                    "expected at least 65536".into(),
                );
            }
            if d.fsync == FsyncPolicy::Interval && d.fsync_interval.is_zero() {
                problem(
                    format!("outputs.{name}.buffer.fsync_interval"),
                    "expected a duration above 0".into(),
                );
            }
        }
        for i in c.inputs {
            if !cfg.inputs.contains_key(i) {
                let mut m = format!("no input named `{i}`");
                if let Some(best) = did_you_mean(i, &input_names) {
                    m.push_str(&format!(", did you mean `{best}`?"));
                } else {
                    m.push_str(&format!(" (inputs: {})", input_names.join(", ")));
                }
                problem(format!("outputs.{name}.inputs"), m);
            }
        }
        if c.queue_batches == 0 {
            problem(
                format!("outputs.{name}.queue_batches"),
                "expected at least 1".into(),
            );
        }
        let own = match output {
            OutputConfig::SplunkHec(c) => c.problems(),
            OutputConfig::Elasticsearch(c) => c.problems(),
            OutputConfig::Dlq(c) => c.problems(),
            OutputConfig::Kafka(c) => c.problems(),
            OutputConfig::File(_) | OutputConfig::Stdout(_) => Vec::new(),
        };
        for (key, message) in own {
            problem(format!("outputs.{name}.{key}"), message);
        }
        if let Some(d) = output.dlq() {
            match cfg.outputs.get(d) {
                Some(OutputConfig::Dlq(_)) => {}
                Some(other) => problem(
                    format!("outputs.{name}.dlq"),
                    format!(
                        "`{d}` is a `{}` output; `dlq:` names a `type: dlq` output",
                        other.type_name()
                    ),
                ),
                None => problem(
                    format!("outputs.{name}.dlq"),
                    format!("no output named `{d}`"),
                ),
            }
        }
        if let OutputConfig::File(f) = output {
            if f.path.trim().is_empty() {
                problem(
                    format!("outputs.{name}.path"),
                    "expected a file path".into(),
                );
            }
        }
    }
    if cfg.outputs.len() > crate::pipeline::routes::MAX_OUTPUTS {
        problem(
            "outputs".into(),
            format!(
                "at most {} outputs are supported",
                crate::pipeline::routes::MAX_OUTPUTS
            ),
        );
    } else if let Err(route_problems) = crate::pipeline::routes::RouteTable::compile(cfg) {
        for p in route_problems {
            problem(p.key, p.message);
        }
    }
    if cfg.pipeline.batch_size == 0 {
        problem("pipeline.batch_size".into(), "expected at least 1".into());
    }
    if cfg.pipeline.queue_batches == 0 {
        problem(
            "pipeline.queue_batches".into(),
            "expected at least 1".into(),
        );
    }
    if cfg
        .pipeline
        .normalize
        .timezone
        .parse::<chrono_tz::Tz>()
        .is_err()
    {
        problem(
            "pipeline.normalize.timezone".into(),
            format!(
                "`{}` is not a time zone: expected an IANA name such as `UTC` or `Europe/Paris`",
                cfg.pipeline.normalize.timezone
            ),
        );
    }
    if !(0.0..=1.0).contains(&cfg.pipeline.detect.min_confidence) {
        problem(
            "pipeline.detect.min_confidence".into(),
            "expected a number between 0 and 1".into(),
        );
    }
    if let Err(e) = cfg
        .log
        .level
        .parse::<tracing_subscriber::filter::EnvFilter>()
    {
        problem(
            "log.level".into(),
            format!("expected a level such as `info` or `sluice=debug`: {e}"),
        );
    }
    if let Some(api) = &cfg.api {
        for (key, message) in crate::api::config_problems(api) {
            problem(format!("api.{key}"), message);
        }
    }
    problems
}

#[cfg(test)]
mod tests;
