//! TEMPORARY mod.rs until the tables branch lands.
pub mod codec;
mod version;
pub use version::KmipVersion;
