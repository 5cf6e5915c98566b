//! Tokens and keys: kept out of logs, `Debug` output and error messages, and loadable from a
//! file (`token_file`, `api_keys_file`) so that the YAML itself holds no secret. `${VAR}` in the
//! YAML takes them from the environment instead.

use std::path::Path;

use serde::Deserialize;

/// A secret string. Compare with [`Secret::matches`], which takes constant time.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value, for sending it (an `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this secret, without an early exit that would leak its prefix.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let mine = self.0.as_bytes();
        let mut diff = mine.len() ^ candidate.len();
        for (i, b) in candidate.iter().enumerate() {
            diff |= usize::from(mine.get(i).copied().unwrap_or(0) ^ b);
        }
        diff == 0
    }

    /// Reads a secret file: the first line, trimmed. Errors name the file, never the content.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the secret file: {e}", path.display()))?;
        let line = text.lines().next().unwrap_or("").trim();
        if line.is_empty() {
            return Err(format!("{}: the secret file is empty", path.display()));
        }
        Ok(Secret(line.to_string()))
    }

    /// Every non-empty, non-comment line of a file as one secret (API key lists).
    pub fn list_from_file(path: &Path) -> Result<Vec<Self>, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the secret file: {e}", path.display()))?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| Secret(l.to_string()))
            .collect())
    }

    /// `value` or the content of `file`; `key` names the setting for the error.
    pub fn resolve(
        value: Option<&Secret>,
        file: Option<&Path>,
        key: &str,
    ) -> Result<Option<Secret>, String> {
        match (value, file) {
            (Some(_), Some(_)) => Err(format!("{key}: set the value or the file, not both")),
            (Some(v), None) => Ok(Some(v.clone())),
            (None, Some(f)) => Secret::from_file(f).map(Some),
            (None, None) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_and_compared_whole() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert!(s.matches(b"hunter2"));
        assert!(!s.matches(b"hunter"));
        assert!(!s.matches(b"hunter22"));
        assert!(!s.matches(b""));
    }

    #[test]
    fn files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "abc\n").unwrap();
        assert!(Secret::from_file(&f).unwrap().matches(b"abc"));
        std::fs::write(&f, "# keys\nk1\n\nk2\n").unwrap();
        assert_eq!(Secret::list_from_file(&f).unwrap().len(), 2);
        std::fs::write(&f, "\n").unwrap();
        assert!(Secret::from_file(&f).unwrap_err().contains("empty"));
        let e = Secret::resolve(Some(&Secret::new("x")), Some(&f), "inputs.h.token").unwrap_err();
        assert!(e.contains("inputs.h.token"));
    }
}
