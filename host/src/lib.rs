//! ThinkFleet Connections host: loads pieces (WebAssembly components), runs them in a
//! sandbox with their credentials, stores those credentials encrypted, and offers all
//! of it through a JSON API, web pages and the `thinkfleet` CLI.
//!
//! Module map (see `ARCHITECTURE.md`):
//! - [`piece`]: the host's own types for a piece's metadata, auth schema and credentials.
//! - [`auth_input`]: typed credentials from entered fields, checked against a schema.
//! - [`runtime`]: the only module that knows wasmtime.
//! - [`catalog`]: the pieces a server offers, by name.
//! - [`egress`]: the one outbound HTTP path (pieces, OAuth2, webhooks): checked and
//!   pinned addresses, TLS on the name, pooled connections.
//! - [`vault`]: the only module that knows the cipher and sees keys.
//! - [`store`]: the only module that writes SQL (SQLite or PostgreSQL).
//! - [`connections`]: the lifecycle of connections, with validation and audit.
//! - [`flows`]: saved flows, references and templates, runs.
//! - [`local_cache`]: the process-local caches of the run path (SQLite only).
//! - [`oauth`]: OAuth2 authorization, OAuth apps, token refresh.
//! - [`projects`] and [`tokens`]: projects and their API tokens.
//! - [`agents`]: agent tokens and the tools they may call; [`mcp`]: the MCP endpoint.
//! - [`accounts`]: users, memberships, browser sessions, the first-run setup link.
//! - [`rotation`]: `keys rotate`; [`key_check`]: refusing to start with the wrong key.
//! - [`trouble`]: the three troubleshooting errors (code, words, fix), one table.
//! - [`api`]: the JSON API (axum).
//! - [`web`]: the web UI: server-rendered pages over the same services.
//! - [`webhooks`]: connection-health webhooks (signed events, outbox, delivery log).
//! - [`crate::metrics`]: Prometheus metrics recorded where things happen.
//! - [`server`]: `serve`: everything above, wired and listening ([`accept`]: the
//!   HTTP accept loop, with a header-read timeout).
//! - [`examples`]: where the build put the example pieces.
//! - [`cli`]: the `thinkfleet` command line.

pub mod accept;
pub mod accounts;
pub mod agents;
pub mod api;
pub use thinkfleet_core::auth_input;
pub mod catalog;
pub mod cli;
pub mod connections;
pub mod data_dir;
pub mod egress;
pub mod error_code;
pub mod examples;
pub mod flows;
pub mod key_check;
pub mod local_cache;
pub mod mcp;
pub mod metrics;
pub mod oauth;
pub use thinkfleet_core::piece;
pub mod projects;
pub mod rotation;
pub mod runtime;
pub mod server;
pub mod store;
pub mod tokens;
pub mod trouble;
pub mod vault;
pub mod web;
pub mod webhooks;
