pub mod ack;
