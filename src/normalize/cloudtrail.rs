//! AWS CloudTrail → ECS, with the field choices of Elastic's `aws.cloudtrail` integration.
//!
//! An event is deserialized once into borrowed fields. Nested objects that Elastic keeps as text
//! (`requestParameters`, `responseElements`, …) stay `&RawValue`, so no `serde_json::Value` tree is
//! built, and a field of an unexpected JSON type is skipped rather than failing the whole event.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, NaiveDateTime};
use memchr::memmem::Finder;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::doc::{lit, Doc, Related, Text, Value};
use crate::ip::parse_ip;
use crate::normalize::{Context, ParseFailure};

/// A CloudTrail log file: `{"Records": [event, …]}`.
#[derive(Deserialize)]
struct LogFile<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<&'a RawValue>,
}

/// The events of a CloudTrail log file, borrowed from `raw`; `None` for anything else (a single
/// event, a digest file, invalid JSON), which the caller then handles as one record.
pub fn split_records(raw: &[u8]) -> Option<Vec<&RawValue>> {
    // Cheap checks first: the pipeline asks this of every single-line event too.
    static RECORDS: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"Records\""));
    let first = raw.iter().position(|b| !b.is_ascii_whitespace())?;
    if raw.get(first) != Some(&b'{') || RECORDS.find(raw).is_none() {
        return None;
    }
    let text = std::str::from_utf8(raw).ok()?;
    serde_json::from_str::<LogFile<'_>>(text)
        .ok()
        .map(|f| f.records)
}

/// One CloudTrail event → ECS. Invalid JSON, or JSON that is not an event (no `eventName` or
/// `eventSource`, and not an Insights event), is a [`ParseFailure`] after the fields it has.
pub fn normalize(raw: &[u8], _ctx: &Context, doc: &mut Doc) -> Result<(), ParseFailure> {
    doc.insert("event.kind", lit!("event"));
    doc.insert("event.module", lit!("aws"));
    doc.insert("event.dataset", lit!("aws.cloudtrail"));
    doc.insert("cloud.provider", lit!("aws"));
    // Validating UTF-8 once up front spares serde_json a check per borrowed string.
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(ParseFailure::new("cloudtrail: not UTF-8"));
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let ev = match object::<_, Event<'_>>(&mut de).and_then(|ev| de.end().map(|()| ev)) {
        Ok(Some(ev)) => ev,
        Ok(None) => return Err(ParseFailure::new("cloudtrail: not a JSON object")),
        Err(e) => return Err(json_failure(&e)),
    };
    ev.write(doc);
    // Insights events describe API-call rates and name no call of their own.
    let insight = ev.event_type.as_deref() == Some("AwsCloudTrailInsight");
    let has = |v: &Option<Cow<'_, str>>| v.as_deref().is_some_and(|s| !s.is_empty());
    let named = has(&ev.event_name) && has(&ev.event_source);
    if !(named || insight) {
        return Err(ParseFailure::new(
            "cloudtrail: not an event (no eventName or eventSource)",
        ));
    }
    Ok(())
}

/// The serde error as a failure reason, capped: a type error quotes the offending input.
fn json_failure(e: &serde_json::Error) -> ParseFailure {
    let mut msg = format!("cloudtrail: invalid JSON: {e}");
    if msg.len() > 200 {
        let mut end = 200;
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        msg.truncate(end);
        msg.push('…');
    }
    ParseFailure::new(msg)
}

/// The event fields Sluice maps. Strings borrow from the input unless they contain escapes.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Event<'a> {
    #[serde(borrow, deserialize_with = "text")]
    event_version: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "object")]
    user_identity: Option<UserIdentity<'a>>,
    #[serde(borrow, deserialize_with = "text")]
    event_time: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    event_source: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    event_name: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    aws_region: Option<Cow<'a, str>>,
    #[serde(rename = "sourceIPAddress", borrow, deserialize_with = "text")]
    source_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    error_code: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    error_message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    request_parameters: Option<&'a RawValue>,
    #[serde(borrow)]
    response_elements: Option<&'a RawValue>,
    #[serde(borrow)]
    additional_event_data: Option<&'a RawValue>,
    #[serde(borrow)]
    service_event_details: Option<&'a RawValue>,
    #[serde(borrow)]
    insight_details: Option<&'a RawValue>,
    #[serde(rename = "requestID", borrow, deserialize_with = "text")]
    request_id: Option<Cow<'a, str>>,
    #[serde(rename = "eventID", borrow, deserialize_with = "text")]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    event_category: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    api_version: Option<Cow<'a, str>>,
    #[serde(deserialize_with = "flag")]
    read_only: Option<bool>,
    #[serde(deserialize_with = "flag")]
    management_event: Option<bool>,
    #[serde(borrow, deserialize_with = "text")]
    recipient_account_id: Option<Cow<'a, str>>,
    /// AWS writes `sharedEventID`; Elastic's pipeline looks for `sharedEventId`.
    #[serde(
        rename = "sharedEventID",
        alias = "sharedEventId",
        borrow,
        deserialize_with = "text"
    )]
    shared_event_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    vpc_endpoint_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "list")]
    resources: Vec<Resource<'a>>,
    #[serde(borrow, deserialize_with = "object")]
    tls_details: Option<TlsDetails<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct UserIdentity<'a> {
    #[serde(rename = "type", borrow, deserialize_with = "text")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    principal_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    arn: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    account_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    access_key_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    user_name: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    invoked_by: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "object")]
    session_context: Option<SessionContext<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SessionContext<'a> {
    #[serde(borrow, deserialize_with = "object")]
    attributes: Option<SessionAttributes<'a>>,
    #[serde(borrow, deserialize_with = "object")]
    session_issuer: Option<SessionIssuer<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SessionAttributes<'a> {
    #[serde(borrow, deserialize_with = "text")]
    mfa_authenticated: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    creation_date: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SessionIssuer<'a> {
    #[serde(rename = "type", borrow, deserialize_with = "text")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    principal_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    arn: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    account_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    user_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default, PartialEq)]
#[serde(default)]
struct Resource<'a> {
    #[serde(rename = "ARN", alias = "arn", borrow, deserialize_with = "text")]
    arn: Option<Cow<'a, str>>,
    #[serde(rename = "accountId", borrow, deserialize_with = "text")]
    account_id: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow, deserialize_with = "text")]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct TlsDetails<'a> {
    #[serde(borrow, deserialize_with = "text")]
    tls_version: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    cipher_suite: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    client_provided_host_header: Option<Cow<'a, str>>,
}

/// The few `requestParameters` members Elastic maps to ECS.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RequestNames<'a> {
    #[serde(borrow, deserialize_with = "text")]
    user_name: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    new_user_name: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "text")]
    group_name: Option<Cow<'a, str>>,
}

/// The few `responseElements` members Elastic maps to ECS.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ResponseIds<'a> {
    #[serde(rename = "ConsoleLogin", borrow, deserialize_with = "text")]
    console_login: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "object")]
    group: Option<GroupId<'a>>,
    #[serde(borrow, deserialize_with = "object")]
    user: Option<UserId<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct GroupId<'a> {
    #[serde(borrow, deserialize_with = "text")]
    group_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct UserId<'a> {
    #[serde(borrow, deserialize_with = "text")]
    user_id: Option<Cow<'a, str>>,
}

/// `additionalEventData` of `ConsoleLogin`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginData<'a> {
    #[serde(rename = "LoginTo", borrow, deserialize_with = "text")]
    login_to: Option<Cow<'a, str>>,
    #[serde(rename = "MobileVersion", borrow, deserialize_with = "text")]
    mobile_version: Option<Cow<'a, str>>,
    #[serde(rename = "MFAUsed", borrow, deserialize_with = "text")]
    mfa_used: Option<Cow<'a, str>>,
}

impl Event<'_> {
    fn write(&self, doc: &mut Doc) {
        if let Some(t) = self.event_time.as_deref().and_then(parse_time) {
            doc.insert("@timestamp", t);
        }
        let name = self.event_name.as_deref().filter(|n| !n.is_empty());
        doc.insert_opt("event.action", name);
        doc.insert_opt("event.provider", self.event_source.as_deref());
        doc.insert_opt("event.id", self.event_id.as_deref());
        let response = self.response_ids();
        doc.insert("event.outcome", self.outcome(response.as_ref()));
        let (category, kind) = categorize(name.unwrap_or(""), self.event_source.as_deref());
        if !category.is_empty() {
            doc.insert_strs("event.category", category);
        }
        doc.insert_strs("event.type", kind);

        doc.insert_opt("cloud.region", self.aws_region.as_deref());
        let identity = self.user_identity.as_ref();
        let account = self
            .recipient_account_id
            .as_deref()
            .filter(|a| !a.is_empty())
            .or_else(|| identity.and_then(|u| u.account_id.as_deref()));
        doc.insert_opt("cloud.account.id", account);

        if let Some(src) = self.source_ip_address.as_deref().filter(|s| !s.is_empty()) {
            // Like Elastic: the text always in source.address, and in source.ip when an address.
            doc.insert("source.address", src);
            if parse_ip(src).is_some() {
                doc.insert("source.ip", src);
                doc.add_related(Related::Ip, src);
            }
        }
        doc.insert_opt("user_agent.original", self.user_agent.as_deref());
        if let Some(u) = identity {
            u.write(doc);
        }
        self.write_request(doc, response.as_ref());
        self.write_tls(doc);
        self.write_aws(doc);
    }

    /// Failure on an error code or message (as Elastic does), except that a console login says
    /// itself whether it worked.
    fn outcome(&self, response: Option<&ResponseIds<'_>>) -> &'static str {
        if self.event_name.as_deref() == Some("ConsoleLogin") {
            let said = response.and_then(|r| r.console_login.as_deref());
            if said.is_some_and(|s| s.eq_ignore_ascii_case("success")) {
                return "success";
            }
            if said.is_some_and(|s| s.eq_ignore_ascii_case("failure")) {
                return "failure";
            }
        }
        let has = |v: &Option<Cow<'_, str>>| v.as_deref().is_some_and(|s| !s.is_empty());
        if has(&self.error_code) || has(&self.error_message) {
            "failure"
        } else {
            "success"
        }
    }

    /// `responseElements` is re-read only when it can hold something mapped, to keep big
    /// responses (RunInstances, Describe*) at one pass.
    fn response_ids(&self) -> Option<ResponseIds<'_>> {
        static WANTED: LazyLock<[Finder<'static>; 3]> = LazyLock::new(|| {
            [
                Finder::new(b"\"ConsoleLogin\""),
                Finder::new(b"\"groupId\""),
                Finder::new(b"\"userId\""),
            ]
        });
        let raw = self.response_elements?.get();
        if !WANTED.iter().any(|w| w.find(raw.as_bytes()).is_some()) {
            return None;
        }
        parse_object(raw)
    }

    fn write_request(&self, doc: &mut Doc, response: Option<&ResponseIds<'_>>) {
        if let Some(r) = response {
            let group_id = r.group.as_ref().and_then(|g| g.group_id.as_deref());
            doc.insert_opt("group.id", group_id);
            let user_id = r.user.as_ref().and_then(|u| u.user_id.as_deref());
            doc.insert_opt("user.target.id", user_id);
        }
        static NAME: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"Name\""));
        let names = self
            .request_parameters
            .map(RawValue::get)
            .filter(|raw| NAME.find(raw.as_bytes()).is_some())
            .and_then(parse_object::<RequestNames<'_>>);
        if let Some(n) = names {
            if let Some(user) = n.user_name.as_deref().filter(|s| !s.is_empty()) {
                doc.insert("user.target.name", user);
                doc.add_related(Related::User, user);
            }
            if let Some(user) = n.new_user_name.as_deref().filter(|s| !s.is_empty()) {
                doc.insert("user.changes.name", user);
                doc.add_related(Related::User, user);
            }
            doc.insert_opt("group.name", n.group_name.as_deref());
        }
    }

    fn write_tls(&self, doc: &mut Doc) {
        let Some(tls) = &self.tls_details else { return };
        // "TLSv1.2" → protocol "tls", version "1.2" (Elastic's dissect).
        if let Some((proto, version)) = tls.tls_version.as_deref().and_then(|v| v.split_once('v')) {
            doc.insert_opt("tls.version_protocol", Some(proto.to_ascii_lowercase()));
            doc.insert_opt("tls.version", Some(version));
        }
        doc.insert_opt("tls.cipher", tls.cipher_suite.as_deref());
        doc.insert_opt(
            "tls.client.server_name",
            tls.client_provided_host_header.as_deref(),
        );
    }

    fn write_aws(&self, doc: &mut Doc) {
        doc.insert_opt(
            "aws.cloudtrail.event_version",
            self.event_version.as_deref(),
        );
        doc.insert_opt("aws.cloudtrail.event_type", self.event_type.as_deref());
        doc.insert_opt(
            "aws.cloudtrail.event_category",
            self.event_category.as_deref(),
        );
        doc.insert_opt("aws.cloudtrail.api_version", self.api_version.as_deref());
        doc.insert_opt("aws.cloudtrail.error_code", self.error_code.as_deref());
        doc.insert_opt(
            "aws.cloudtrail.error_message",
            self.error_message.as_deref(),
        );
        doc.insert_opt("aws.cloudtrail.request_id", self.request_id.as_deref());
        doc.insert_opt(
            "aws.cloudtrail.recipient_account_id",
            self.recipient_account_id.as_deref(),
        );
        doc.insert_opt(
            "aws.cloudtrail.shared_event_id",
            self.shared_event_id.as_deref(),
        );
        doc.insert_opt(
            "aws.cloudtrail.vpc_endpoint_id",
            self.vpc_endpoint_id.as_deref(),
        );
        doc.insert_opt("aws.cloudtrail.read_only", self.read_only);
        doc.insert_opt("aws.cloudtrail.management_event", self.management_event);
        // Kept as JSON text: their shape differs per API, which would explode an index mapping.
        for (key, raw) in [
            ("aws.cloudtrail.request_parameters", self.request_parameters),
            ("aws.cloudtrail.response_elements", self.response_elements),
            (
                "aws.cloudtrail.additional_eventdata",
                self.additional_event_data,
            ),
            (
                "aws.cloudtrail.service_event_details",
                self.service_event_details,
            ),
            ("aws.cloudtrail.insight_details", self.insight_details),
        ] {
            if let Some(text) = raw.map(RawValue::get).filter(|t| !is_empty_json(t)) {
                doc.insert(key, text);
            }
        }
        if self.event_name.as_deref() == Some("ConsoleLogin") {
            if let Some(d) = self
                .additional_event_data
                .and_then(|r| parse_object::<LoginData<'_>>(r.get()))
            {
                doc.insert_opt(
                    "aws.cloudtrail.console_login.additional_eventdata.login_to",
                    d.login_to.as_deref(),
                );
                let yes = |v: &Option<Cow<'_, str>>| v.as_deref().map(|s| s != "No");
                doc.insert_opt(
                    "aws.cloudtrail.console_login.additional_eventdata.mobile_version",
                    yes(&d.mobile_version),
                );
                doc.insert_opt(
                    "aws.cloudtrail.console_login.additional_eventdata.mfa_used",
                    yes(&d.mfa_used),
                );
            }
        }
        self.write_resources(doc);
    }

    /// `resources` as objects of arn, account_id and type, duplicates dropped (as Elastic does).
    fn write_resources(&self, doc: &mut Doc) {
        let mut seen: Vec<&Resource<'_>> = Vec::with_capacity(self.resources.len());
        for r in &self.resources {
            if !seen.contains(&r) {
                seen.push(r);
            }
        }
        let items: Vec<Value> = seen
            .into_iter()
            .filter_map(|r| {
                let fields: Vec<(Text, Value)> = [
                    ("arn", &r.arn),
                    ("account_id", &r.account_id),
                    ("type", &r.kind),
                ]
                .into_iter()
                .filter_map(|(k, v)| {
                    let v = v.as_deref().filter(|s| !s.is_empty())?;
                    Some((Text::new(k), Value::from(v)))
                })
                .collect();
                (!fields.is_empty()).then_some(Value::Object(fields))
            })
            .collect();
        if !items.is_empty() {
            doc.insert("aws.cloudtrail.resources", Value::Array(items));
        }
    }
}

impl UserIdentity<'_> {
    fn write(&self, doc: &mut Doc) {
        doc.insert_opt("aws.cloudtrail.user_identity.type", self.kind.as_deref());
        doc.insert_opt("aws.cloudtrail.user_identity.arn", self.arn.as_deref());
        doc.insert_opt(
            "aws.cloudtrail.user_identity.access_key_id",
            self.access_key_id.as_deref(),
        );
        doc.insert_opt(
            "aws.cloudtrail.user_identity.invoked_by",
            self.invoked_by.as_deref(),
        );
        let ctx = self.session_context.as_ref();
        let issuer = ctx.and_then(|c| c.session_issuer.as_ref());
        if let Some(a) = ctx.and_then(|c| c.attributes.as_ref()) {
            doc.insert_opt(
                "aws.cloudtrail.user_identity.session_context.mfa_authenticated",
                a.mfa_authenticated.as_deref(),
            );
            if let Some(t) = a.creation_date.as_deref().and_then(parse_time) {
                doc.insert(
                    "aws.cloudtrail.user_identity.session_context.creation_date",
                    t,
                );
            }
        }
        if let Some(i) = issuer {
            doc.insert_opt(
                "aws.cloudtrail.user_identity.session_context.session_issuer.type",
                i.kind.as_deref(),
            );
            doc.insert_opt(
                "aws.cloudtrail.user_identity.session_context.session_issuer.principal_id",
                i.principal_id.as_deref(),
            );
            doc.insert_opt(
                "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
                i.arn.as_deref(),
            );
            doc.insert_opt(
                "aws.cloudtrail.user_identity.session_context.session_issuer.account_id",
                i.account_id.as_deref(),
            );
        }
        // The user itself, else the role behind an assumed-role session, else the ARN's last part.
        let name = nonempty(self.user_name.as_deref())
            .or_else(|| nonempty(issuer.and_then(|i| i.user_name.as_deref())))
            .or_else(|| nonempty(self.arn.as_deref().and_then(arn_name)));
        if let Some(name) = name {
            doc.insert("user.name", name);
            doc.add_related(Related::User, name);
        }
        doc.insert_opt("user.id", self.principal_id.as_deref());
    }
}

fn nonempty(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty() && *s != "-")
}

/// `arn:aws:iam::123456789012:user/ops/alice` → `alice`; `…:root` → `root`.
fn arn_name(arn: &str) -> Option<&str> {
    arn.rsplit(['/', ':']).next().filter(|s| !s.is_empty())
}

/// `{}`, `[]` and `""` carry nothing; Elastic drops them too.
fn is_empty_json(text: &str) -> bool {
    let inner = |open: char, close: char| {
        text.strip_prefix(open)
            .and_then(|t| t.strip_suffix(close))
            .is_some_and(|t| t.trim_ascii().is_empty())
    };
    text == "\"\"" || inner('{', '}') || inner('[', ']')
}

/// CloudTrail times are RFC 3339 in UTC; older session dates use the ISO 8601 basic form.
fn parse_time(s: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    let body = s.strip_suffix('Z').unwrap_or(s);
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y%m%dT%H%M%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(body, f).ok())
        .map(|n| n.and_utc().fixed_offset())
}

/// A JSON object from a nested raw value; `None` when it is anything else.
fn parse_object<'a, T: Deserialize<'a>>(raw: &'a str) -> Option<T> {
    let mut de = serde_json::Deserializer::from_str(raw);
    object(&mut de).ok().flatten()
}

type Categorization = (&'static [&'static str], &'static [&'static str]);

/// Elastic's per-action categorization (its pipeline's `Add ECS categorization` table), sorted
/// by name for binary search.
const ELASTIC_ACTIONS: &[(&str, Categorization)] = {
    const IAM: &[&str] = &["iam"];
    const AUTH: &[&str] = &["authentication"];
    const FILE: &[&str] = &["file"];
    const INFO: &[&str] = &["info"];
    const GROUP_CHANGE: &[&str] = &["group", "change"];
    const GROUP_CREATION: &[&str] = &["group", "creation"];
    const GROUP_DELETION: &[&str] = &["group", "deletion"];
    const GROUP_INFO: &[&str] = &["group", "info"];
    const USER_CHANGE: &[&str] = &["user", "change"];
    const USER_CREATION: &[&str] = &["user", "creation"];
    const USER_DELETION: &[&str] = &["user", "deletion"];
    const USER_INFO: &[&str] = &["user", "info"];
    const ADMIN_CHANGE: &[&str] = &["admin", "change"];
    const ADMIN_CREATION: &[&str] = &["admin", "creation"];
    &[
        ("AddUserToGroup", (IAM, GROUP_CHANGE)),
        ("AssumeRole", (AUTH, INFO)),
        ("AttachGroupPolicy", (IAM, GROUP_CHANGE)),
        ("AttachUserPolicy", (IAM, USER_CHANGE)),
        ("ChangePassword", (IAM, USER_CHANGE)),
        ("ConsoleLogin", (AUTH, INFO)),
        ("CreateAccessKey", (IAM, USER_CHANGE)),
        ("CreateBucket", (FILE, &["creation"])),
        ("CreateGroup", (IAM, GROUP_CREATION)),
        ("CreateKeyPair", (IAM, ADMIN_CREATION)),
        ("CreateUser", (IAM, USER_CREATION)),
        ("CreateVirtualMFADevice", (IAM, USER_CHANGE)),
        ("DeactivateMFADevice", (IAM, USER_CHANGE)),
        ("DeleteAccessKey", (IAM, USER_CHANGE)),
        ("DeleteBucket", (FILE, &["deletion"])),
        ("DeleteGroup", (IAM, GROUP_DELETION)),
        ("DeleteGroupPolicy", (IAM, GROUP_CHANGE)),
        ("DeleteSSHPublicKey", (IAM, USER_CHANGE)),
        ("DeleteUser", (IAM, USER_DELETION)),
        ("DeleteUserPermissionsBoundary", (IAM, USER_CHANGE)),
        ("DeleteUserPolicy", (IAM, USER_CHANGE)),
        ("DeleteVirtualMFADevice", (IAM, USER_CHANGE)),
        ("DetachGroupPolicy", (IAM, GROUP_CHANGE)),
        ("DetachUserPolicy", (IAM, USER_CHANGE)),
        ("EnableMFADevice", (IAM, USER_CHANGE)),
        ("GetGroup", (IAM, GROUP_INFO)),
        ("GetGroupPolicy", (IAM, GROUP_INFO)),
        ("GetUser", (IAM, USER_INFO)),
        ("GetUserPolicy", (IAM, USER_INFO)),
        ("ListAttachedGroupPolicies", (IAM, GROUP_INFO)),
        ("ListAttachedUserPolicies", (IAM, USER_INFO)),
        ("ListGroupPolicies", (IAM, GROUP_INFO)),
        ("ListGroups", (IAM, GROUP_INFO)),
        ("ListGroupsForUser", (IAM, USER_INFO)),
        ("ListUserPolicies", (IAM, USER_INFO)),
        ("ListUserTags", (IAM, USER_INFO)),
        ("ListUsers", (IAM, USER_INFO)),
        ("PutGroupPolicy", (IAM, GROUP_CHANGE)),
        ("PutUserPermissionsBoundary", (IAM, USER_CHANGE)),
        ("PutUserPolicy", (IAM, USER_CHANGE)),
        ("RemoveUserFromGroup", (IAM, GROUP_CHANGE)),
        ("SetDefaultPolicyVersion", (IAM, ADMIN_CHANGE)),
        ("SetSecurityTokenServicePreferences", (IAM, ADMIN_CHANGE)),
        ("TagUser", (IAM, USER_CHANGE)),
        ("UntagUser", (IAM, USER_CHANGE)),
        ("UpdateAccessKey", (IAM, USER_CHANGE)),
        ("UpdateAccountPasswordPolicy", (IAM, ADMIN_CHANGE)),
        ("UpdateGroup", (IAM, GROUP_CHANGE)),
        ("UpdateLoginProfile", (IAM, USER_CHANGE)),
        ("UpdateRole", (IAM, ADMIN_CHANGE)),
        ("UpdateSSHPublicKey", (IAM, USER_CHANGE)),
        ("UpdateUser", (IAM, USER_CHANGE)),
    ]
};

/// STS calls that hand out credentials: authentication, like Elastic's `AssumeRole`.
const STS_AUTH: &[&str] = &[
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "AssumeRoot",
    "GetFederationToken",
    "GetSessionToken",
];

/// Leading verb of an API name → ECS `event.type`, for names Elastic's table does not list.
const VERB_TYPES: &[(&str, &str)] = &[
    ("Create", "creation"),
    ("Run", "creation"),
    ("Add", "creation"),
    ("Import", "creation"),
    ("Allocate", "creation"),
    ("Delete", "deletion"),
    ("Remove", "deletion"),
    ("Terminate", "deletion"),
    ("Update", "change"),
    ("Modify", "change"),
    ("Put", "change"),
    ("Attach", "change"),
    ("Detach", "change"),
    ("Set", "change"),
    ("Tag", "change"),
    ("Untag", "change"),
    ("Enable", "change"),
    ("Disable", "change"),
    ("Associate", "change"),
    ("Disassociate", "change"),
    ("Authorize", "change"),
    ("Revoke", "change"),
    ("Change", "change"),
    ("Reset", "change"),
    ("Replace", "change"),
    ("Start", "change"),
    ("Stop", "change"),
];

/// `event.category` and `event.type`: Elastic's table first; otherwise sign-ins and STS credential
/// calls are authentication, other IAM calls `iam`, and the type comes from the API verb (Elastic
/// leaves those as type `info` only).
fn categorize(name: &str, source: Option<&str>) -> Categorization {
    if let Ok(i) = ELASTIC_ACTIONS.binary_search_by(|(n, _)| (*n).cmp(name)) {
        return ELASTIC_ACTIONS[i].1;
    }
    const AUTH: &[&str] = &["authentication"];
    const INFO: &[&str] = &["info"];
    let source = source.unwrap_or("");
    if source == "signin.amazonaws.com"
        || (source == "sts.amazonaws.com" && STS_AUTH.contains(&name))
    {
        return (AUTH, INFO);
    }
    let kind: &'static [&'static str] = match verb_type(name) {
        "creation" => &["creation"],
        "deletion" => &["deletion"],
        "change" => &["change"],
        _ => INFO,
    };
    let category: &'static [&'static str] = if source == "iam.amazonaws.com" {
        &["iam"]
    } else {
        &[]
    };
    (category, kind)
}

/// The type for `name`'s verb: the prefix must end where the next word starts (`Put` in
/// `PutObject`, not in `Putty`).
fn verb_type(name: &str) -> &'static str {
    VERB_TYPES
        .iter()
        .find(|(verb, _)| {
            name.strip_prefix(verb)
                .is_some_and(|rest| rest.chars().next().is_none_or(|c| !c.is_ascii_lowercase()))
        })
        .map_or("info", |(_, t)| t)
}

/// A string field that tolerates other JSON types: numbers and booleans become text, objects,
/// arrays and null are skipped. AWS does not send them, but one odd field must not lose the event.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(if v { "true" } else { "false" })))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            while a.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// A boolean that also accepts `"true"`/`"false"`; anything else is skipped.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match text(d)?.as_deref() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    })
}

/// A nested object deserialized in the same pass; `None` when the value is not an object.
fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(a)).map(Some)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            while a.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// An array of objects; elements that are not objects, or a value that is not an array, are
/// skipped.
fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Element<T>(Option<T>);
    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Element<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            object(d).map(Element)
        }
    }
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(Element(item)) = a.next_element::<Element<T>>()? {
                out.extend(item);
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Vec::new())
        }
        fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V(PhantomData))
}

#[cfg(test)]
mod tests;
