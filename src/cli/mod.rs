pub mod detect;
pub mod dlq;
pub mod health;
pub mod normalize;
pub mod source;
