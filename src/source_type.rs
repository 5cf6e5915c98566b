//! The identity of a detected source. The four built-in types have their own parsers; a type added
//! only through `detection-rules/` is carried by name and normalized minimally.

use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum SourceType {
    Windows,
    Syslog,
    Panos,
    Cloudtrail,
    #[default]
    Unknown,
    /// A type defined only by a detection rule.
    Other(Arc<str>),
}

impl SourceType {
    pub fn as_str(&self) -> &str {
        match self {
            SourceType::Windows => "windows",
            SourceType::Syslog => "syslog",
            SourceType::Panos => "panos",
            SourceType::Cloudtrail => "cloudtrail",
            SourceType::Unknown => "unknown",
            SourceType::Other(s) => s,
        }
    }

    /// Parses a type name; any name that is not built in becomes `Other`.
    pub fn from_name(name: &str) -> Self {
        match name {
            "windows" => SourceType::Windows,
            "syslog" => SourceType::Syslog,
            "panos" => SourceType::Panos,
            "cloudtrail" => SourceType::Cloudtrail,
            "unknown" | "" => SourceType::Unknown,
            other => SourceType::Other(Arc::from(other)),
        }
    }
}

impl fmt::Display for SourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
