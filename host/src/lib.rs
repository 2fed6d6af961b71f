//! ThinkFleet Connections host: loads pieces (WebAssembly components), runs them in a
//! sandbox with their credentials, and offers all of it through the `thinkfleet` CLI.
//!
//! Module map (see `ARCHITECTURE.md`):
//! - [`piece`]: the host's own types for a piece's metadata, auth schema and credentials.
//! - [`auth_input`]: typed credentials from entered fields, checked against a schema.
//! - [`runtime`]: the only module that knows wasmtime.
//! - [`examples`]: where the build put the example pieces.
//! - [`cli`]: the `thinkfleet` command line.

pub mod auth_input;
pub mod cli;
pub mod examples;
pub mod piece;
pub mod runtime;
