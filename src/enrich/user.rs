//! User context: a directory export (CSV) keyed by user name → `user.{full_name,email,roles}` and
//! `labels.*` (department, privileged, …).
//!
//! Columns: `name` (required: `alice`, `CORP\alice` or `alice@corp.example`), `full_name`, `email`,
//! `roles` (separated by `;` or `|`); every other column is a label. Names match case-insensitively,
//! with or without their domain: `CORP\Alice`, `alice@corp.example` and `alice` all find `alice`.

use foldhash::HashMap;
use std::path::Path;

use super::{EnrichError, LoadReport, Tally};
use crate::config::UserConfig;
use crate::doc::{Doc, Key, Value};
use crate::text::trim;

#[derive(Default)]
pub struct UserTable {
    users: Vec<Vec<(Key, Value)>>,
    /// Full names as listed and bare names (first entry wins), lower case.
    names: HashMap<String, usize>,
}

/// `CORP\alice` and `alice@corp` → `alice`.
fn bare(name: &str) -> &str {
    let n = name.rsplit_once('\\').map_or(name, |(_, u)| u);
    n.split_once('@').map_or(n, |(u, _)| u)
}

impl UserTable {
    pub fn load(cfg: &UserConfig) -> Result<(Self, LoadReport), EnrichError> {
        let mut t = UserTable::default();
        let mut report = LoadReport::default();
        for path in &cfg.files {
            t.load_csv(path, &mut report)?;
        }
        report.entries = t.users.len();
        Ok((t, report))
    }

    fn load_csv(&mut self, path: &Path, report: &mut LoadReport) -> Result<(), EnrichError> {
        let (mut rdr, raw) = super::open_csv(path)?;
        let headers: Vec<String> = raw.iter().map(str::to_ascii_lowercase).collect();
        let Some(name_col) = headers.iter().position(|h| h == "name") else {
            return Err(EnrichError::invalid(
                path,
                "the header has no `name` column",
            ));
        };
        for rec in rdr.records() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line() as usize);
                    report.skip("user", path, line, &e.to_string());
                    continue;
                }
            };
            let line = rec.position().map_or(0, |p| p.line() as usize);
            let name = rec.get(name_col).unwrap_or("").to_ascii_lowercase();
            if bare(&name).is_empty() {
                report.skip("user", path, line, "empty `name`");
                continue;
            }
            let mut fields: Vec<(Key, Value)> = Vec::new();
            for (h, v) in headers.iter().zip(rec.iter()) {
                if v.is_empty() || h == "name" {
                    continue;
                }
                match h.as_str() {
                    "full_name" => fields.push(("user.full_name".into(), Value::Str(v.into()))),
                    "email" => fields.push(("user.email".into(), Value::Str(v.into()))),
                    "roles" => {
                        let roles: Vec<Value> = v
                            .split([';', '|'])
                            .map(str::trim)
                            .filter(|r| !r.is_empty())
                            .map(Value::from)
                            .collect();
                        fields.push(("user.roles".into(), Value::Array(roles)));
                    }
                    label => fields.push((format!("labels.{label}").into(), Value::Str(v.into()))),
                }
            }
            let idx = self.users.len();
            self.users.push(fields);
            let short = bare(&name).to_owned();
            if short != name {
                self.names.entry(short).or_insert(idx);
            }
            self.names.insert(name, idx);
        }
        Ok(())
    }

    /// Adds the directory's fields for `name`; true when the user is known.
    pub(crate) fn enrich(
        &self,
        name: &str,
        tally: &mut Tally,
        doc: &Doc,
        out: &mut Vec<(Key, Value)>,
    ) -> bool {
        let name = trim(name);
        if name.is_empty() {
            return false;
        }
        tally.lookups += 1;
        let lower = name.to_ascii_lowercase();
        let found = self.names.get(&lower).copied().or_else(|| {
            // `alice` with `user.domain: CORP` may be listed as `corp\alice`.
            let qualified = doc
                .get_str("user.domain")
                .map(|d| format!("{}\\{lower}", d.to_ascii_lowercase()));
            qualified
                .and_then(|q| self.names.get(&q).copied())
                .or_else(|| self.names.get(bare(&lower)).copied())
        });
        let Some(fields) = found.and_then(|i| self.users.get(i)) else {
            return false;
        };
        tally.hits += 1;
        for (k, v) in fields {
            if k.starts_with("labels.") || !doc.contains(k) {
                out.push((k.clone(), v.clone()));
            }
        }
        true
    }
}
