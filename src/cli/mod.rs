pub mod detect;
pub mod health;
pub mod normalize;
pub mod source;
