pub mod detect;
pub mod dlq;
pub mod normalize;
pub mod source;
