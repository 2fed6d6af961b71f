//! Sessions of custom credentials: a piece that exports `session` logs in with the
//! entered fields and gets a short-lived session (a token and its lifetime). One is
//! opened when the connection is made or reconnected, before `validate`, and its
//! fields are sealed with the entered ones; the OAuth2 refresh machinery opens the next
//! before it expires, once across replicas (`oauth::refresh`).

use super::{ConnectionError, ConnectionValue, Result, call_error};
use crate::runtime::LoadedPiece;
use crate::store::now_ms;

/// When something given `expires_in` seconds expires (Unix ms, saturating), counted
/// from `asked_at`, when the request that got it was sent: the service started the
/// clock somewhere in the round trip, so this never thinks it lives longer than it does.
pub fn expiry(asked_at: i64, expires_in: u64) -> i64 {
    let ms = i64::try_from(expires_in)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    asked_at.saturating_add(ms)
}

/// Opens a session with `value`'s entered fields for `project`: the value with the new
/// session in place of any earlier one, and when the session expires (Unix ms).
pub async fn open(
    piece: &LoadedPiece,
    project: &str,
    value: &ConnectionValue,
) -> Result<(ConnectionValue, Option<i64>)> {
    let entered = value
        .entered_credentials(&piece.info().auth)
        .map_err(|e| ConnectionError::Invalid(e.to_string()))?;
    let asked_at = now_ms();
    let session = piece
        .open_session_for(Some(project), &entered)
        .await
        .map_err(call_error)?;
    let expires_at = session.expires_in.map(|s| expiry(asked_at, s));
    Ok((value.with_session(&session.fields), expires_at))
}
