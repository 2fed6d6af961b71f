//! `thinkfleet-core`: the host's pure logic, with no I/O, in a crate of its own so it is
//! quick to build for the fuzz targets (`fuzz/`) and its rules are read in one place.
//!
//! - [`piece`]: what the host knows about a piece (metadata, auth schema, actions) and
//!   the credentials a call receives.
//! - [`auth_input`]: typed credentials from entered fields, checked against a schema.
//! - [`value`]: a connection's stored value and the API's credential input.
//! - [`template`]: the flow reference and template syntax, one parser that never panics.
//! - [`external_id`]: the rules of a connection's external id.
//! - [`key_text`]: the encryption key's text form (hex or base64).
//!
//! The host re-exports each module where it used to live (`thinkfleet::piece`,
//! `thinkfleet::connections::external_id`, …).

pub mod auth_input;
pub mod external_id;
pub mod key_text;
pub mod piece;
pub mod template;
pub mod value;
