pub mod detect;
pub mod normalize;
pub mod source;
