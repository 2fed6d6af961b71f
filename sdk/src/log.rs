//! Logging to the host. Lines are attributed to the piece and capped in size by the host.
//! Never log a credential: the host cannot tell a secret from any other text.

use crate::wit::thinkfleet::piece::host_log::{Level, log as host_log};

/// Logs a debug line.
pub fn debug(message: &str) {
    host_log(Level::Debug, message);
}

/// Logs an informational line.
pub fn info(message: &str) {
    host_log(Level::Info, message);
}

/// Logs a warning.
pub fn warn(message: &str) {
    host_log(Level::Warn, message);
}

/// Logs an error.
pub fn error(message: &str) {
    host_log(Level::Error, message);
}
