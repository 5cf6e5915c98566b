use super::*;
use serde_json::{json, Value as J};

/// An IAM user creating an access key for a CI account, from a console session.
const CREATE_KEY: &str = r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAZ4QWERTYEXAMPLE1","arn":"arn:aws:iam::210987654321:user/mara.lindqvist","accountId":"210987654321","accessKeyId":"ASIAZ4QWERTYEXAMPLE2","userName":"mara.lindqvist","sessionContext":{"attributes":{"creationDate":"2024-05-13T08:02:11Z","mfaAuthenticated":"true"}}},"eventTime":"2024-05-13T08:15:42Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.23","userAgent":"AWS Internal","requestParameters":{"userName":"ci-deployer"},"responseElements":{"accessKey":{"accessKeyId":"AKIAZ4QWERTYEXAMPLE3","status":"Active","userName":"ci-deployer","createDate":"May 13, 2024 8:15:42 AM"}},"requestID":"8f0c2a4e-1111-4c3b-9d55-0a1b2c3d4e5f","eventID":"3b6d9f20-2222-4e8a-8c11-5a6b7c8d9e0f","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"210987654321","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"iam.amazonaws.com"},"sessionCredentialFromConsole":"true"}"#;

/// A denied S3 call made by a Lambda function's role.
const DENIED: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROAZ4QWERTYEXAMPLE4:invoice-export","arn":"arn:aws:sts::210987654321:assumed-role/invoice-export-role/invoice-export","accountId":"210987654321","accessKeyId":"ASIAZ4QWERTYEXAMPLE5","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAZ4QWERTYEXAMPLE4","arn":"arn:aws:iam::210987654321:role/invoice-export-role","accountId":"210987654321","userName":"invoice-export-role"},"attributes":{"creationDate":"2024-05-13T09:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2024-05-13T09:00:03.250Z","eventSource":"s3.amazonaws.com","eventName":"GetBucketPolicy","awsRegion":"eu-north-1","sourceIPAddress":"lambda.amazonaws.com","userAgent":"lambda.amazonaws.com","errorCode":"AccessDenied","errorMessage":"Access Denied","requestParameters":{"bucketName":"finance-exports","Host":"finance-exports.s3.eu-north-1.amazonaws.com","policy":""},"responseElements":null,"requestID":"Z4QWERTY0001","eventID":"6c1e0f4a-3333-4d2b-a1c2-d3e4f5a6b7c8","readOnly":true,"resources":[{"accountId":"210987654321","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::finance-exports"},{"accountId":"210987654321","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::finance-exports"}],"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","vpcEndpointId":"vpce-0a1b2c3d","eventCategory":"Management"}"#;

fn ctx() -> Context {
    Context::new("2024-05-14T00:00:00Z".parse().unwrap(), chrono_tz::Tz::UTC)
}

fn norm(raw: &str) -> (Result<(), ParseFailure>, J) {
    let mut d = Doc::new();
    let r = normalize(raw.as_bytes(), &ctx(), &mut d);
    (r, d.to_json())
}

fn ok(raw: &str) -> J {
    let (r, v) = norm(raw);
    assert_eq!(r, Ok(()), "{raw}");
    v
}

/// A console sign-in with the given result, user identity and error fields.
fn login(result: &str, identity: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{identity},"eventTime":"2024-05-12T22:40:05Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"eu-west-1","sourceIPAddress":"2001:db8:4f::17","userAgent":"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",{extra}"requestParameters":null,"responseElements":{{"ConsoleLogin":"{result}"}},"additionalEventData":{{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"Yes"}},"eventID":"0d9c7b6a-4444-4f3e-b2a1-9c8d7e6f5a4b","readOnly":false,"eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"210987654321","eventCategory":"Management"}}"#
    )
}

const IAM_USER: &str = r#"{"type":"IAMUser","principalId":"AIDAZ4QWERTYEXAMPLE6","arn":"arn:aws:iam::210987654321:user/ops/jonas.berg","accountId":"210987654321","userName":"jonas.berg"}"#;

#[test]
fn records_document_splits_into_borrowed_events() {
    let doc = format!(
        "  {{\"Records\":[{CREATE_KEY},\n{DENIED},{}],\"extra\":1}}\n",
        login("Success", IAM_USER, "")
    );
    let events = split_records(doc.as_bytes()).expect("a log file");
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].get(), CREATE_KEY);
    assert_eq!(events[1].get(), DENIED);
    let v = ok(events[2].get());
    assert_eq!(v["event"]["action"], "ConsoleLogin");
    assert_eq!(
        split_records(br#"{"Records":[]}"#).map(|e| e.len()),
        Some(0)
    );
}

#[test]
fn anything_but_a_log_file_is_not_split() {
    let digest = r#"{"awsAccountId":"210987654321","digestStartTime":"2024-05-13T07:00:00Z","digestEndTime":"2024-05-13T08:00:00Z","digestS3Bucket":"org-trail-logs","digestS3Object":"AWSLogs/210987654321/CloudTrail-Digest/us-east-1/2024/05/13/210987654321_CloudTrail-Digest_us-east-1_org-trail_us-east-1_20240513T080000Z.json.gz","digestPublicKeyFingerprint":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":"2024-05-13T07:59:31Z","oldestEventTime":"2024-05-13T07:00:12Z","previousDigestS3Bucket":"org-trail-logs","previousDigestHashAlgorithm":"SHA-256","logFiles":[{"s3Bucket":"org-trail-logs","s3Object":"AWSLogs/210987654321/CloudTrail/us-east-1/2024/05/13/a.json.gz","hashValue":"9a8b7c","hashAlgorithm":"SHA-256","newestEventTime":"2024-05-13T07:59:31Z","oldestEventTime":"2024-05-13T07:00:12Z"}]}"#;
    for raw in [
        digest,
        CREATE_KEY,
        "",
        "   ",
        r#"{"Records":[{"eventName":"x"}"#,
        r#"{"Records":{"eventName":"x"}}"#,
        r#"{"Records":null}"#,
        r#"[{"Records":[]}]"#,
        r#"{"Records":[1,2],"Records":[3]}"#,
        "<13>May 13 08:00:00 host app: {\"Records\":[]}",
    ] {
        assert!(split_records(raw.as_bytes()).is_none(), "{raw}");
    }
    // A digest that reaches the normalizer anyway is not an event.
    let (r, _) = norm(digest);
    assert!(r.is_err());
}

#[test]
fn api_call_maps_to_ecs() {
    let v = ok(CREATE_KEY);
    let t = chrono::DateTime::parse_from_rfc3339(v["@timestamp"].as_str().unwrap()).unwrap();
    assert_eq!(
        t,
        chrono::DateTime::parse_from_rfc3339("2024-05-13T08:15:42Z").unwrap()
    );
    assert_eq!(
        v["event"],
        json!({
            "kind": "event", "module": "aws", "dataset": "aws.cloudtrail",
            "action": "CreateAccessKey", "provider": "iam.amazonaws.com",
            "id": "3b6d9f20-2222-4e8a-8c11-5a6b7c8d9e0f", "outcome": "success",
            "category": ["iam"], "type": ["user", "change"],
        })
    );
    assert_eq!(
        v["cloud"],
        json!({"provider": "aws", "region": "us-east-1", "account": {"id": "210987654321"}})
    );
    assert_eq!(
        v["source"],
        json!({"address": "198.51.100.23", "ip": "198.51.100.23"})
    );
    assert_eq!(v["related"]["ip"], json!(["198.51.100.23"]));
    assert_eq!(v["user"]["name"], "mara.lindqvist");
    assert_eq!(v["user"]["id"], "AIDAZ4QWERTYEXAMPLE1");
    assert_eq!(v["user"]["target"]["name"], "ci-deployer");
    assert_eq!(
        v["related"]["user"],
        json!(["mara.lindqvist", "ci-deployer"])
    );
    assert_eq!(v["user_agent"]["original"], "AWS Internal");
    assert_eq!(
        v["tls"],
        json!({"version_protocol": "tls", "version": "1.3", "cipher": "TLS_AES_128_GCM_SHA256",
                   "client": {"server_name": "iam.amazonaws.com"}})
    );
    let ct = &v["aws"]["cloudtrail"];
    assert_eq!(ct["event_version"], "1.09");
    assert_eq!(ct["event_type"], "AwsApiCall");
    assert_eq!(ct["event_category"], "Management");
    assert_eq!(ct["read_only"], false);
    assert_eq!(ct["management_event"], true);
    assert_eq!(ct["request_id"], "8f0c2a4e-1111-4c3b-9d55-0a1b2c3d4e5f");
    assert_eq!(ct["recipient_account_id"], "210987654321");
    let ui = &ct["user_identity"];
    assert_eq!(ui["type"], "IAMUser");
    assert_eq!(ui["arn"], "arn:aws:iam::210987654321:user/mara.lindqvist");
    assert_eq!(ui["access_key_id"], "ASIAZ4QWERTYEXAMPLE2");
    assert_eq!(ui["session_context"]["mfa_authenticated"], "true");
    assert_eq!(
        ui["session_context"]["creation_date"],
        "2024-05-13T08:02:11Z"
    );
    // Parameters and elements are the JSON text itself.
    assert_eq!(ct["request_parameters"], r#"{"userName":"ci-deployer"}"#);
    let elements: J = serde_json::from_str(ct["response_elements"].as_str().unwrap()).unwrap();
    assert_eq!(elements["accessKey"]["status"], "Active");
    assert!(v.get("message").is_none());
    assert!(v.get("error").is_none());
}

#[test]
fn error_code_is_a_failure_and_a_service_is_an_address() {
    let v = ok(DENIED);
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(v["@timestamp"], "2024-05-13T09:00:03.250Z");
    let ct = &v["aws"]["cloudtrail"];
    assert_eq!(ct["error_code"], "AccessDenied");
    assert_eq!(ct["error_message"], "Access Denied");
    assert_eq!(ct["vpc_endpoint_id"], "vpce-0a1b2c3d");
    assert!(v.get("error").is_none(), "error.message is Sluice's own");
    assert_eq!(v["source"], json!({"address": "lambda.amazonaws.com"}));
    assert!(v["related"].get("ip").is_none());
    // An assumed role: the role's name, not the session's.
    assert_eq!(v["user"]["name"], "invoice-export-role");
    assert_eq!(v["user"]["id"], "AROAZ4QWERTYEXAMPLE4:invoice-export");
    assert_eq!(
        ct["user_identity"]["session_context"]["session_issuer"],
        json!({"type": "Role", "principal_id": "AROAZ4QWERTYEXAMPLE4",
                   "arn": "arn:aws:iam::210987654321:role/invoice-export-role",
                   "account_id": "210987654321"})
    );
    // The account that received the event wins over the caller's.
    assert_eq!(v["cloud"]["account"]["id"], "123456789012");
    assert!(ct.get("response_elements").is_none());
    assert_eq!(
        ct["resources"],
        json!([{"arn": "arn:aws:s3:::finance-exports", "account_id": "210987654321",
                    "type": "AWS::S3::Bucket"}])
    );
    assert_eq!(v["event"]["type"], json!(["info"]));
    assert!(v["event"].get("category").is_none());
}

#[test]
fn console_login_outcome_comes_from_the_response() {
    let v = ok(&login(
        "Failure",
        IAM_USER,
        r#""errorMessage":"Failed authentication","#,
    ));
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(v["event"]["category"], json!(["authentication"]));
    assert_eq!(v["event"]["type"], json!(["info"]));
    assert_eq!(
        v["aws"]["cloudtrail"]["error_message"],
        "Failed authentication"
    );
    assert_eq!(v["source"]["ip"], "2001:db8:4f::17");
    assert_eq!(v["user"]["name"], "jonas.berg");

    let v = ok(&login("Success", IAM_USER, ""));
    assert_eq!(v["event"]["outcome"], "success");
    assert_eq!(
        v["aws"]["cloudtrail"]["console_login"]["additional_eventdata"],
        json!({"login_to": "https://console.aws.amazon.com/console/home",
                   "mobile_version": false, "mfa_used": true})
    );
    assert_eq!(
        v["aws"]["cloudtrail"]["response_elements"],
        r#"{"ConsoleLogin":"Success"}"#
    );
}

#[test]
fn user_name_falls_back_to_the_issuer_then_the_arn() {
    let root = r#"{"type":"Root","principalId":"210987654321","arn":"arn:aws:iam::210987654321:root","accountId":"210987654321"}"#;
    let v = ok(&login("Success", root, ""));
    assert_eq!(v["user"]["name"], "root");
    assert_eq!(v["related"]["user"], json!(["root"]));

    let session = r#"{"type":"AssumedRole","principalId":"AROAZ4QWERTYEXAMPLE7:alva@example.org","arn":"arn:aws:sts::210987654321:assumed-role/AWSReservedSSO_ReadOnly_0a1b2c3d/alva@example.org","accountId":"210987654321"}"#;
    let v = ok(&login("Success", session, ""));
    assert_eq!(v["user"]["name"], "alva@example.org");

    let service = r#"{"type":"AWSService","invokedBy":"cloudformation.amazonaws.com"}"#;
    let v = ok(&login("Success", service, ""));
    assert!(v.get("user").is_none());
    assert_eq!(
        v["aws"]["cloudtrail"]["user_identity"]["invoked_by"],
        "cloudformation.amazonaws.com"
    );
}

#[test]
fn account_falls_back_to_the_identity() {
    let raw = CREATE_KEY.replace(r#""recipientAccountId":"210987654321","#, "");
    let raw = raw.replace(
        r#""accountId":"210987654321""#,
        r#""accountId":"555566667777""#,
    );
    let v = ok(&raw);
    assert_eq!(v["cloud"]["account"]["id"], "555566667777");
    assert!(v["aws"]["cloudtrail"].get("recipient_account_id").is_none());
}

#[test]
fn categorization_follows_elastic_then_the_verb() {
    assert!(
        ELASTIC_ACTIONS.windows(2).all(|w| w[0].0 < w[1].0),
        "sorted"
    );
    let c = |name, source| categorize(name, Some(source));
    assert_eq!(
        c("DeleteUser", "iam.amazonaws.com"),
        (&["iam"][..], &["user", "deletion"][..])
    );
    assert_eq!(
        c("CreateBucket", "s3.amazonaws.com"),
        (&["file"][..], &["creation"][..])
    );
    assert_eq!(
        c("RunInstances", "ec2.amazonaws.com"),
        (&[][..], &["creation"][..])
    );
    assert_eq!(
        c("TerminateInstances", "ec2.amazonaws.com").1,
        &["deletion"]
    );
    assert_eq!(c("PutObject", "s3.amazonaws.com").1, &["change"]);
    assert_eq!(c("DescribeInstances", "ec2.amazonaws.com").1, &["info"]);
    assert_eq!(c("Settle", "x.amazonaws.com").1, &["info"]);
    assert_eq!(
        c("CreateRole", "iam.amazonaws.com"),
        (&["iam"][..], &["creation"][..])
    );
    assert_eq!(
        c("GetSessionToken", "sts.amazonaws.com").0,
        &["authentication"]
    );
    assert_eq!(
        c("GetCallerIdentity", "sts.amazonaws.com").0,
        &[] as &[&str]
    );
    assert_eq!(c("CheckMfa", "signin.amazonaws.com").0, &["authentication"]);
}

#[test]
fn bad_input_is_a_failure_not_a_panic() {
    let truncated = &CREATE_KEY[..CREATE_KEY.len() / 2];
    for raw in [
        truncated,
        "",
        "{",
        "not json",
        "[1,2,3]",
        "\"a string\"",
        "null",
        "{}",
        r#"{"eventVersion":"1.08","eventTime":"2024-05-13T08:00:00Z"}"#,
        r#"{"eventName":"","eventSource":"s3.amazonaws.com"}"#,
        r#"{"eventName":"GetObject","eventSource":"s3.amazonaws.com"} trailing"#,
    ] {
        let (r, v) = norm(raw);
        let f = r.expect_err(raw);
        assert!(f.0.starts_with("cloudtrail: "), "{f}");
        assert!(f.0.len() < 260);
        assert_eq!(v["event"]["dataset"], "aws.cloudtrail");
    }
    let mut d = Doc::new();
    assert!(normalize(b"{\"eventName\":\"\xff\xfe\"}", &ctx(), &mut d).is_err());
}

#[test]
fn deep_nesting_stays_within_the_recursion_limit() {
    let deep = "[".repeat(10_000);
    let deep_obj = "{\"a\":".repeat(10_000);
    for raw in [
        deep.clone(),
        deep_obj.clone(),
        format!(
            r#"{{"eventName":"GetObject","eventSource":"s3.amazonaws.com","requestParameters":{deep}"#
        ),
        format!(
            r#"{{"eventName":"GetObject","eventSource":"s3.amazonaws.com","userIdentity":{deep_obj}"#
        ),
        format!("{}{}", deep, "]".repeat(10_000)),
    ] {
        let (r, _) = norm(&raw);
        assert!(r.is_err());
        assert!(split_records(raw.as_bytes()).is_none());
    }
    let records = format!(r#"{{"Records":[{deep}"#);
    assert!(split_records(records.as_bytes()).is_none());
    // Balanced inside a member kept as text: serde_json skips raw values without recursing,
    // so it is valid and kept; only the re-read of `userName` hits the limit, and is skipped.
    let closed = "]".repeat(10_000);
    let raw = format!(
        r#"{{"eventName":"PutItem","eventSource":"dynamodb.amazonaws.com","requestParameters":{{"userName":{deep}{closed}}}}}"#
    );
    let v = ok(&raw);
    assert!(v["aws"]["cloudtrail"]["request_parameters"].is_string());
    assert!(v.get("user").is_none());
    let file = format!(r#"{{"Records":[{raw}]}}"#);
    assert_eq!(split_records(file.as_bytes()).map(|e| e.len()), Some(1));
}

#[test]
fn odd_field_types_are_skipped_not_fatal() {
    let raw = r#"{"eventName":"ListBuckets","eventSource":"s3.amazonaws.com","eventTime":"2024-05-13T10:00:00Z","userIdentity":"somebody","awsRegion":7,"readOnly":"true","resources":{"ARN":"x"},"tlsDetails":[1],"requestParameters":{},"userAgent":"aws-cli/2.15.0 \"quoted\" \u00e9"}"#;
    let v = ok(raw);
    assert_eq!(v["event"]["action"], "ListBuckets");
    assert_eq!(v["cloud"]["region"], "7");
    assert_eq!(v["aws"]["cloudtrail"]["read_only"], true);
    assert!(v.get("user").is_none());
    assert!(v["aws"]["cloudtrail"].get("request_parameters").is_none());
    assert_eq!(v["user_agent"]["original"], "aws-cli/2.15.0 \"quoted\" é");
}

#[test]
fn empty_members_are_dropped() {
    for t in ["{}", "{ \n\t}", "[]", "[ ]", "\"\""] {
        assert!(is_empty_json(t), "{t}");
    }
    for t in ["{\"a\":1}", "[0]", "\" \"", "0", "false"] {
        assert!(!is_empty_json(t), "{t}");
    }
}

#[test]
fn insights_events_are_events() {
    let raw = r#"{"eventVersion":"1.08","eventTime":"2024-05-13T11:00:00Z","awsRegion":"us-east-1","eventID":"9e8d7c6b-5555-4a3b-8c2d-1e0f9a8b7c6d","eventType":"AwsCloudTrailInsight","recipientAccountId":"210987654321","sharedEventID":"7a6b5c4d-6666-4e3f-9a1b-2c3d4e5f6a7b","insightDetails":{"state":"Start","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","insightType":"ApiCallRateInsight","insightContext":{"statistics":{"baseline":{"average":0.01},"insight":{"average":4.5}}}},"eventCategory":"Insight"}"#;
    let v = ok(raw);
    assert!(v["event"].get("action").is_none());
    assert_eq!(
        v["aws"]["cloudtrail"]["shared_event_id"],
        "7a6b5c4d-6666-4e3f-9a1b-2c3d4e5f6a7b"
    );
    let details: J =
        serde_json::from_str(v["aws"]["cloudtrail"]["insight_details"].as_str().unwrap()).unwrap();
    assert_eq!(details["eventName"], "RunInstances");
}
