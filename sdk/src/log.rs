//! Logging to the host. Lines are attributed to the piece and capped in size by the host.
//! Never log a credential: the host cannot tell a secret from any other text. In a
//! native build (a piece's unit tests) lines go to stderr.

#[cfg(target_arch = "wasm32")]
use crate::wit::thinkfleet::piece::host_log::{Level, log as host_log};

/// Logs a debug line.
pub fn debug(message: &str) {
    write(Level::Debug, message);
}

/// Logs an informational line.
pub fn info(message: &str) {
    write(Level::Info, message);
}

/// Logs a warning.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}

/// Logs an error.
pub fn error(message: &str) {
    write(Level::Error, message);
}

#[cfg(target_arch = "wasm32")]
fn write(level: Level, message: &str) {
    host_log(level, message);
}

#[cfg(not(target_arch = "wasm32"))]
use crate::wit::thinkfleet::piece::host_log::Level;

#[cfg(not(target_arch = "wasm32"))]
fn write(level: Level, message: &str) {
    eprintln!("[piece {level:?}] {message}");
}
