//! `routes:` and `unrouted:`: which outputs a record goes to, decided per record after
//! normalization. Compiled by `crate::pipeline::routes`.

use serde::Deserialize;

/// One entry of `routes:`, tried in order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The `route` label of `sluice_routed_records_total`; default `routes[i]`.
    #[serde(default)]
    pub name: Option<String>,
    /// The condition; a route without one matches every record (the default route).
    #[serde(default)]
    pub when: Option<When>,
    /// Outputs the matching records go to.
    pub to: Vec<String>,
    /// Keep trying the routes after this one when it matches.
    #[serde(default, rename = "continue")]
    pub continue_: bool,
}

/// A condition on a normalized record. Several keys in one map must all hold.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// The detected source type is one of these.
    #[serde(default)]
    pub source_type: Option<OneOrMany>,
    /// The record came from one of these inputs.
    #[serde(default)]
    pub input: Option<OneOrMany>,
    /// The field that `equals` or `regex` tests, as a dotted ECS path.
    #[serde(default)]
    pub field: Option<String>,
    /// `field` has this value (a string, number or boolean).
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
    /// `field` is a string this regular expression matches (unanchored).
    #[serde(default)]
    pub regex: Option<String>,
    /// This field is present.
    #[serde(default)]
    pub exists: Option<String>,
    #[serde(default)]
    pub any: Option<Vec<When>>,
    #[serde(default)]
    pub all: Option<Vec<When>>,
    #[serde(default)]
    pub not: Option<Box<When>>,
}

/// A name or a list of names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn as_slice(&self) -> &[String] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }
}
