//! PLACEHOLDER until the CloudTrail normalizer lands (being written in parallel).
use crate::doc::Doc;
use crate::normalize::{Context, ParseFailure};
use serde_json::value::RawValue;

pub fn split_records(raw: &[u8]) -> Option<Vec<&RawValue>> {
    #[derive(serde::Deserialize)]
    struct F<'a> {
        #[serde(borrow, rename = "Records")]
        records: Vec<&'a RawValue>,
    }
    serde_json::from_slice::<F<'_>>(raw).ok().map(|f| f.records)
}

pub fn normalize(_raw: &[u8], _ctx: &Context, _doc: &mut Doc) -> Result<(), ParseFailure> {
    Err(ParseFailure::new("cloudtrail: not yet"))
}
