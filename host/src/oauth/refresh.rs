//! Token refresh: on demand when a run meets a token that is due, and in the background
//! before tokens expire — exactly once per token, across replicas.
//!
//! - **When.** A token is due when less than its margin remains: the lesser of 60 s and
//!   a quarter of its lifetime ([`TokenLife`]), so a 5-second token is refreshed once,
//!   about a second before it expires, not on every run. A just-refreshed token is
//!   never due.
//! - **Who.** A single-flight lock per connection in this process, and a lease in the
//!   connection's row across replicas. The lease is claimed by one compare-and-swap on
//!   what was read: no lease held *and* the credential still the generation read, so a
//!   replica that read a token another replica has since rotated re-reads instead of
//!   presenting it (rotating providers revoke the whole grant on reuse). The lease is
//!   short and renewed while the provider is asked, so a killed holder stalls nobody for
//!   long; no transaction stays open meanwhile.
//! - **Meanwhile.** A run whose current token is still usable (more than its minimum
//!   life remains) never waits for somebody else's refresh: it uses that token. Only
//!   runs whose token is no longer usable wait for the refresh.
//! - **Failures.** A failed attempt sets a retry time, shared by every run and replica
//!   through the row: until then runs get the still-usable token, or `refresh_failed`
//!   at once, and the provider is asked once per backoff step (1 s, doubling, at most
//!   5 min). `invalid_grant` ends the grant: the connection is `expired` until a
//!   reconnect, and is never presented to the provider again.
//! - **Crash.** A host killed after the provider rotated the refresh token but before
//!   storing the new one has lost the grant by construction. The next refresh finds the
//!   lease abandoned, tries once, and on `invalid_grant` marks the connection `expired`
//!   with the reason `interrupted_refresh` in its audit trail: the user reconnects.

use super::{ERROR_AFTER_FAILURES, OAuth, OAuthError, TokenError, client, expiry};
use crate::connections::{ConnectionError, ConnectionValue, session};
use crate::piece::{Credentials, PieceError};
use crate::runtime::CallError;
use crate::store::{
    ConnectionRow, ConnectionStatus, RefreshFailure, RefreshRow, Revision, Store,
    background_refresh_after, now_ms,
};
use secrecy::{ExposeSecret as _, SecretString};
use std::collections::BTreeMap;
use std::time::Duration;

/// The on-demand margin of a long-lived token.
const MAX_MARGIN_MS: i64 = 60_000;
/// The least remaining life with which a long-lived token is handed to a run.
const MAX_MIN_USABLE_MS: i64 = 10_000;
/// How long a refresh lease lasts unless renewed.
const LEASE_MS: i64 = 10_000;
/// How often the holder renews its lease while the provider is asked.
const LEASE_RENEW_EVERY: Duration = Duration::from_millis(3_000);
/// How long a run whose token is no longer usable waits for another replica's refresh:
/// longer than the token request's 30 s timeout.
const WAIT_FOR_OTHER_MS: i64 = 35_000;
/// The first retry delay after a failed refresh; it doubles per consecutive failure.
const FIRST_BACKOFF_MS: i64 = 1_000;
/// The longest retry delay.
const MAX_BACKOFF_MS: i64 = 300_000;

/// An OAuth2 access token's timing, from its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLife {
    /// Unix ms when it expires.
    pub expires_at: i64,
    /// Its lifetime in ms, when the row knows when it was issued.
    pub lifetime: Option<i64>,
}

impl TokenLife {
    /// The timing of a row's token; `None` when it is not an OAuth2 token or a custom
    /// credential's session that expires.
    pub fn of(row: &ConnectionRow) -> Option<TokenLife> {
        if !matches!(row.auth_type.as_str(), "oauth2" | "custom") {
            return None;
        }
        let expires_at = row.expires_at?;
        Some(TokenLife {
            expires_at,
            lifetime: row.token_issued_at.map(|i| (expires_at - i).max(0)),
        })
    }

    /// Refresh when less than this remains: the lesser of 60 s and a quarter of the
    /// lifetime (60 s when the lifetime is unknown).
    pub fn margin_ms(&self) -> i64 {
        self.lifetime
            .map_or(MAX_MARGIN_MS, |l| (l / 4).min(MAX_MARGIN_MS))
    }

    /// Hand the token to a run only while more than this remains: the lesser of 10 s
    /// and an eighth of the lifetime, so a run never starts with a token that may
    /// expire before its request reaches the service.
    pub fn min_usable_ms(&self) -> i64 {
        self.lifetime
            .map_or(MAX_MIN_USABLE_MS, |l| (l / 8).min(MAX_MIN_USABLE_MS))
    }

    /// Whether a run at `now` should refresh it first.
    pub fn due(&self, now: i64) -> bool {
        self.expires_at - now <= self.margin_ms()
    }

    /// Whether a run at `now` may still use it.
    pub fn usable(&self, now: i64) -> bool {
        self.expires_at - now > self.min_usable_ms()
    }
}

/// The retry delay after `failures` consecutive failed refreshes (1 or more).
pub fn backoff_ms(failures: i64) -> i64 {
    let doublings = u32::try_from((failures - 1).clamp(0, 20)).unwrap_or(20);
    FIRST_BACKOFF_MS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_BACKOFF_MS)
}

/// Who asks for a refresh.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// A run about to use the token.
    Run,
    /// The background refresher, renewing tokens that expire within this many ms.
    Background(i64),
    /// A run whose session the service refused before its time: renew it unless the
    /// row no longer holds that session (its issue and expiry times as the run read them).
    Refused {
        issued_at: Option<i64>,
        expires_at: Option<i64>,
    },
}

impl Mode {
    /// Whether, short of a refresh, the caller makes do with the current token: a run
    /// while the token (of `life`) is still usable at `now`, the background refresher
    /// always (it returns nothing), a run whose session was refused never (it is
    /// unusable whatever its expiry says).
    fn keeps_current(self, life: Option<TokenLife>, now: i64) -> bool {
        match self {
            Mode::Run => life.is_some_and(|l| l.usable(now)),
            Mode::Background(_) => true,
            Mode::Refused { .. } => false,
        }
    }
}

/// Renews a lease while alive; stops when dropped.
struct LeaseKeeper(tokio::task::JoinHandle<()>);

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn keep_lease(store: Store, id: String, holder: String) -> LeaseKeeper {
    LeaseKeeper(tokio::spawn(async move {
        loop {
            tokio::time::sleep(LEASE_RENEW_EVERY).await;
            match store
                .renew_refresh_lease(&id, &holder, now_ms() + LEASE_MS)
                .await
            {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(connection = %id, error = %e, "renewing a refresh lease failed")
                }
            }
        }
    }))
}

impl OAuth {
    /// What a run's `{{connections['external-id']}}` names in `project` (whose revision
    /// the run read: `at`): the connection and credentials a run may use now — for
    /// OAuth2, refreshed first when the token is due (see [`OAuth::fresh`]).
    pub async fn resolve_for_run(
        &self,
        project: &str,
        at: Revision,
        external_id: &str,
    ) -> Result<(ConnectionRow, Credentials), OAuthError> {
        let (row, creds) = self
            .connections
            .resolve_reference(project, at, external_id)
            .await?;
        let creds = self.fresh(&row, creds).await?;
        Ok((row, creds))
    }

    /// Fresh credentials for an OAuth2 connection a run is about to use: `creds` when
    /// its token is not due; when it is due, a refreshed token — or `creds` at once if
    /// somebody else is refreshing (or the provider is backing off) and the token is
    /// still usable.
    async fn fresh(
        &self,
        row: &ConnectionRow,
        creds: Credentials,
    ) -> Result<Credentials, OAuthError> {
        let now = now_ms();
        let Some(life) = TokenLife::of(row) else {
            return Ok(creds);
        };
        if !life.due(now) {
            return Ok(creds);
        }
        let flight = self.flight(&row.id)?;
        let result = match flight.clone().try_lock_owned() {
            Ok(_ours) => self.refresh_once(&row.project_id, &row.id, Mode::Run).await,
            // Another run here is refreshing: don't queue behind it while the token works.
            Err(_) if life.usable(now) => Ok(Some(creds)),
            Err(_) => {
                let _ours = flight.clone().lock_owned().await;
                self.refresh_once(&row.project_id, &row.id, Mode::Run).await
            }
        };
        self.land(&row.id, flight);
        result?.ok_or_else(|| OAuthError::Invalid("no credentials after a refresh".into()))
    }

    /// Credentials for a retry after the service refused a custom credential's session
    /// before its time: a new session, unless another run (here or on another replica)
    /// opened one since `row` was read, in which case that one. A refused login expires
    /// the connection, as at renewal time.
    pub async fn renew_refused_session(
        &self,
        row: &ConnectionRow,
    ) -> Result<Credentials, OAuthError> {
        let flight = self.flight(&row.id)?;
        let mode = Mode::Refused {
            issued_at: row.token_issued_at,
            expires_at: row.expires_at,
        };
        let result = {
            let _ours = flight.clone().lock_owned().await;
            self.refresh_once(&row.project_id, &row.id, mode).await
        };
        self.land(&row.id, flight);
        result?.ok_or_else(|| OAuthError::Invalid("no credentials after a renewal".into()))
    }

    /// Refreshes one connection's token for the background refresher if it expires
    /// within `window_ms` and its retry time has come; skips it while somebody else
    /// refreshes it.
    async fn refresh_in_background(
        &self,
        project: &str,
        id: &str,
        window_ms: i64,
    ) -> Result<(), OAuthError> {
        let flight = self.flight(id)?;
        let result = match flight.clone().try_lock_owned() {
            Ok(_ours) => self
                .refresh_once(project, id, Mode::Background(window_ms))
                .await
                .map(drop),
            Err(_) => Ok(()),
        };
        self.land(id, flight);
        result
    }

    /// The single-flight lock of a connection.
    fn flight(&self, id: &str) -> Result<std::sync::Arc<tokio::sync::Mutex<()>>, OAuthError> {
        let mut flights = self.flights.lock().map_err(|_| {
            OAuthError::internal("taking a connection's refresh lock", "the lock is poisoned")
        })?;
        Ok(flights.entry(id.to_owned()).or_default().clone())
    }

    /// Forgets a connection's single-flight lock once nobody else holds or awaits it.
    fn land(&self, id: &str, flight: std::sync::Arc<tokio::sync::Mutex<()>>) {
        if let Ok(mut flights) = self.flights.lock()
            && std::sync::Arc::strong_count(&flight) <= 2
        {
            flights.remove(id);
        }
    }

    /// Reads the row and, if the token is due, claims the lease and refreshes it.
    /// Returns the credentials a run should use (`None` for the background refresher
    /// when it did nothing worth returning).
    async fn refresh_once(
        &self,
        project: &str,
        id: &str,
        mode: Mode,
    ) -> Result<Option<Credentials>, OAuthError> {
        let started = now_ms();
        let (read, value, holder, interrupted) = loop {
            let read = self
                .store()
                .connection_for_refresh(project, id)
                .await?
                .ok_or(ConnectionError::NotFound)?;
            if read.row.status == ConnectionStatus::Expired {
                return Err(ConnectionError::Expired.into());
            }
            let value = self.connections.open_value(&read.row, &read.sealed)?;
            let now = now_ms();
            let life = TokenLife::of(&read.row);
            let due = match (mode, life) {
                (
                    Mode::Refused {
                        issued_at,
                        expires_at,
                    },
                    _,
                ) => {
                    read.row.auth_type == "custom"
                        && read.row.token_issued_at == issued_at
                        && read.row.expires_at == expires_at
                }
                (_, None) => false,
                (Mode::Run, Some(life)) => life.due(now),
                (Mode::Background(window), Some(life)) => {
                    read.retry_at <= now && life.expires_at <= now.saturating_add(window)
                }
            };
            if !due {
                return self.current(&read.row, &value, mode);
            }
            if read.failures > 0 && read.retry_at > now {
                // The last attempt failed: one attempt per backoff step, for everyone.
                if mode.keeps_current(life, now) {
                    return self.current(&read.row, &value, mode);
                }
                return Err(TokenError::Transient(
                    format!(
                        "the last refresh failed; the next attempt is in {} s",
                        (read.retry_at - now + 999) / 1000
                    )
                    .into(),
                )
                .into());
            }
            let holder = uuid::Uuid::new_v4().to_string();
            if self
                .store()
                .claim_refresh_lease(&read, &holder, now + LEASE_MS)
                .await?
            {
                let interrupted = read.lease_abandoned(now);
                break (read, value, holder, interrupted);
            }
            // Another replica is refreshing, or already did since we read.
            if mode.keeps_current(life, now) {
                return self.current(&read.row, &value, mode);
            }
            if now - started > WAIT_FOR_OTHER_MS {
                return Err(
                    TokenError::Transient("another server is still refreshing".into()).into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let _lease = keep_lease(self.store().clone(), id.to_owned(), holder.clone());
        let row = &read.row;
        let renewed = if row.auth_type == "custom" {
            self.next_session(row, &value).await
        } else {
            let Some(refresh_token) = value.host_only("refresh_token").cloned() else {
                if row.expires_at.is_some_and(|t| t <= now_ms()) {
                    self.fail(&read, "no refresh token", true, 0).await?;
                    return Err(ConnectionError::Expired.into());
                }
                // Nothing to do until it expires.
                self.store()
                    .release_refresh_lease(id, &holder, row.expires_at)
                    .await?;
                return self.current(row, &value, mode);
            };
            self.refreshed_tokens(row, &value, refresh_token).await
        };
        match renewed {
            Ok((fresh, expires_at)) => match self.store_fresh(&read, &fresh, expires_at).await {
                Ok(true) => {
                    tracing::info!(connection = %row.id, "token refreshed");
                    Ok(Some(self.connections.credentials_of(row, &fresh)?))
                }
                Ok(false) => {
                    // Reconnected meanwhile: the new grant wins.
                    self.store()
                        .release_refresh_lease(id, &holder, None)
                        .await?;
                    Box::pin(self.refresh_once(project, id, mode)).await
                }
                Err(e) => {
                    tracing::error!(
                        connection = %row.id,
                        error = %e,
                        "a refreshed token could not be stored; the grant may need a reconnect"
                    );
                    Err(e)
                }
            },
            Err(TokenError::Deferred(why)) => {
                self.store()
                    .release_refresh_lease(id, &holder, None)
                    .await?;
                tracing::warn!(connection = %row.id, reason = %why, "renewal deferred");
                if mode.keeps_current(TokenLife::of(row), now_ms()) {
                    return self.current(row, &value, mode);
                }
                Err(TokenError::Deferred(why).into())
            }
            Err(TokenError::InvalidGrant) if row.auth_type == "custom" => {
                let reason =
                    "the piece could not open a session with the entered credentials; reconnect";
                if !self.fail(&read, reason, true, 0).await? {
                    // Reconnected meanwhile: the new credential wins.
                    return Box::pin(self.refresh_once(project, id, mode)).await;
                }
                tracing::warn!(connection = %row.id, "session refused; connection expired");
                Err(ConnectionError::Expired.into())
            }
            Err(TokenError::InvalidGrant) => {
                let reason = if interrupted {
                    "interrupted_refresh: a server stopped during an earlier refresh and the \
                     provider no longer accepts the stored refresh token (invalid_grant); \
                     reconnect"
                } else {
                    "invalid_grant"
                };
                if !self.fail(&read, reason, true, 0).await? {
                    // Reconnected meanwhile: the new grant wins.
                    return Box::pin(self.refresh_once(project, id, mode)).await;
                }
                tracing::warn!(connection = %row.id, interrupted, "refresh refused: invalid_grant; connection expired");
                Err(ConnectionError::Expired.into())
            }
            Err(e) => {
                let failures = read.failures + 1;
                self.fail(
                    &read,
                    &e.to_string(),
                    false,
                    now_ms() + backoff_ms(failures),
                )
                .await?;
                tracing::warn!(connection = %row.id, error = %e, failures, "token refresh failed");
                if mode.keeps_current(TokenLife::of(row), now_ms()) {
                    return self.current(row, &value, mode);
                }
                Err(e.into())
            }
        }
    }

    /// The credentials of the value read, for a run (`None` for the background).
    fn current(
        &self,
        row: &ConnectionRow,
        value: &ConnectionValue,
        mode: Mode,
    ) -> Result<Option<Credentials>, OAuthError> {
        match mode {
            Mode::Run | Mode::Refused { .. } => {
                Ok(Some(self.connections.credentials_of(row, value)?))
            }
            Mode::Background(_) => Ok(None),
        }
    }

    /// Seals and stores refreshed tokens as the next generation. A store error is
    /// retried a few times: the provider has already rotated the refresh token, so
    /// losing this write loses the grant.
    async fn store_fresh(
        &self,
        read: &RefreshRow,
        fresh: &ConnectionValue,
        expires_at: Option<i64>,
    ) -> Result<bool, OAuthError> {
        let sealed = self.connections.seal_value(&read.row, fresh)?;
        let background_after = background_refresh_after(now_ms(), expires_at);
        let mut attempt = 0;
        let stored = loop {
            attempt += 1;
            match self
                .store()
                .store_refreshed(read, &sealed, expires_at, background_after)
                .await
            {
                Ok(stored) => break stored,
                Err(e) if attempt < 5 => {
                    tracing::warn!(connection = %read.row.id, error = %e, attempt, "storing a refreshed token failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        self.connections.forget_cached(&read.row);
        crate::metrics::oauth_refresh(if stored { "stored" } else { "raced" });
        Ok(stored)
    }

    /// Records a failed refresh (and releases the lease) for the generation read;
    /// `false` when the row no longer holds that generation (a reconnect won).
    async fn fail(
        &self,
        read: &RefreshRow,
        reason: &str,
        expired: bool,
        retry_at: i64,
    ) -> Result<bool, OAuthError> {
        let failure = RefreshFailure {
            reason,
            expired,
            retry_at,
            error_after: ERROR_AFTER_FAILURES,
        };
        let recorded = self.store().record_refresh_failure(read, &failure).await?;
        self.connections.forget_cached(&read.row);
        crate::metrics::oauth_refresh(if expired { "expired" } else { "failed" });
        Ok(recorded)
    }

    /// New tokens from the provider, as the value to store and when they expire.
    async fn refreshed_tokens(
        &self,
        row: &ConnectionRow,
        value: &ConnectionValue,
        refresh_token: SecretString,
    ) -> Result<(ConnectionValue, Option<i64>), TokenError> {
        let asked_at = now_ms();
        let tokens = self.ask_provider(row, value, &refresh_token).await?;
        let mut host_only = BTreeMap::new();
        // A new refresh token replaces the old; none back keeps the old one.
        host_only.insert(
            "refresh_token",
            tokens.refresh_token.unwrap_or(refresh_token),
        );
        for name in ["client_id", "client_secret"] {
            if let Some(v) = value.host_only(name) {
                host_only.insert(name, v.clone());
            }
        }
        let fresh = ConnectionValue::oauth2(tokens.access_token, host_only, tokens.props);
        Ok((fresh, tokens.expires_in.map(|s| expiry(asked_at, s))))
    }

    /// A custom credential's next session, opened by its piece: `InvalidGrant` when
    /// the piece refuses the entered credentials.
    async fn next_session(
        &self,
        row: &ConnectionRow,
        value: &ConnectionValue,
    ) -> Result<(ConnectionValue, Option<i64>), TokenError> {
        let piece = self
            .connections
            .catalog()
            .get(&row.piece)
            .cloned()
            .ok_or_else(|| {
                TokenError::Deferred(format!("piece {} is not loaded", row.piece).into())
            })?;
        match session::open(&piece, &row.project_id, value).await {
            Ok(opened) => Ok(opened),
            Err(ConnectionError::Rejected(PieceError::InvalidCredentials(_))) => {
                Err(TokenError::InvalidGrant)
            }
            Err(ConnectionError::Piece(
                e @ (CallError::Busy { .. } | CallError::Engine(_) | CallError::Host(_)),
            )) => Err(TokenError::Deferred(e.into())),
            Err(e) => Err(TokenError::Transient(e.into())),
        }
    }

    /// Asks the provider for new tokens with the connection's own client or the app.
    async fn ask_provider(
        &self,
        row: &ConnectionRow,
        value: &ConnectionValue,
        refresh_token: &SecretString,
    ) -> Result<client::Tokens, TokenError> {
        let own = value
            .host_only("client_id")
            .map(|id| id.expose_secret().to_owned())
            .zip(value.host_only("client_secret").cloned());
        let registration = self
            .registration(&row.piece, own)
            .await
            .map_err(|e| TokenError::Transient(e.into()))?;
        let mut tokens = client::refresh(
            &self.policy,
            &self.egress,
            &self.endpoint(&registration),
            refresh_token,
        )
        .await?;
        tokens.props = super::with_token_props(value.props(), &tokens, &registration);
        Ok(tokens)
    }

    /// Refreshes, forever, every OAuth2 connection whose token expires within
    /// `window`, checking every `interval`.
    pub async fn run_refresher(self, interval: Duration, window: Duration) {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        loop {
            tokio::time::sleep(interval).await;
            let due = match self
                .store()
                .refresh_candidates(now_ms().saturating_add(window_ms), 100)
                .await
            {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(error = %e, "listing tokens to refresh failed");
                    continue;
                }
            };
            for (project, id) in due {
                if let Err(e) = self.refresh_in_background(&project, &id, window_ms).await {
                    tracing::warn!(connection = %id, error = %e, "background refresh failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{TokenLife, backoff_ms};

    fn life(lifetime_s: i64) -> TokenLife {
        TokenLife {
            expires_at: 1_000_000 + lifetime_s * 1000,
            lifetime: Some(lifetime_s * 1000),
        }
    }

    #[test]
    fn the_margin_scales_with_the_lifetime_up_to_a_minute() {
        let cases = [(5, 1_250, 625), (62, 15_500, 7_750), (3600, 60_000, 10_000)];
        for (lifetime, margin, usable) in cases {
            assert_eq!(life(lifetime).margin_ms(), margin, "{lifetime} s");
            assert_eq!(life(lifetime).min_usable_ms(), usable, "{lifetime} s");
        }
        let unknown = TokenLife {
            expires_at: 0,
            lifetime: None,
        };
        assert_eq!(unknown.margin_ms(), 60_000);
    }

    #[test]
    fn a_fresh_token_is_neither_due_nor_unusable() {
        for lifetime in [1, 5, 30, 62, 3600] {
            let l = life(lifetime);
            let issued = 1_000_000;
            assert!(!l.due(issued), "{lifetime} s");
            assert!(l.usable(issued), "{lifetime} s");
            // Due before it stops being usable: runs use it while it is refreshed.
            let when_due = l.expires_at - l.margin_ms();
            assert!(l.due(when_due) && l.usable(when_due), "{lifetime} s");
            assert!(!l.usable(l.expires_at - l.min_usable_ms()));
        }
    }

    #[test]
    fn backoff_doubles_from_a_second_to_five_minutes() {
        let delays: Vec<i64> = (1..=11).map(backoff_ms).collect();
        assert_eq!(
            delays,
            [
                1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000,
                300_000
            ]
        );
        assert_eq!(backoff_ms(1_000), 300_000);
    }
}
