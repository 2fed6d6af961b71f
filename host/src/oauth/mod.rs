//! OAuth2 connections: the authorization-code flow with PKCE (start → provider →
//! callback), operators' OAuth apps, and token refresh — on demand when a run meets a
//! token about to expire, and in the background before tokens expire.
//!
//! Exactly one refresh per connection at a time: a single-flight lock per connection
//! in this process, and a lease in the connection's row across replicas (claimed by
//! one compare-and-swap statement; no transaction stays open while the provider is
//! asked). Whoever waited re-reads the row, finds the fresh token and does not refresh
//! again. The new tokens are written with a compare-and-swap on the credential the
//! refresh started from, so a reconnect in the meantime wins.

mod client;
mod page;

pub use client::{TokenError, route};
pub use page::Outcome;

use crate::connections::{ConnectionError, ConnectionValue, Connections};
use crate::piece::{AuthSchema, Credentials, PieceError};
use crate::runtime::{CallError, OutboundPolicy};
use crate::store::{ConnectionRow, StateRow, Store, StoreError, now_ms};
use crate::tokens;
use crate::vault::{Binding, VaultError};
use client::Endpoint;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a started authorization may take.
const STATE_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// A token this close to expiry is refreshed before use.
pub const REFRESH_MARGIN_MS: i64 = 60 * 1000;
/// Consecutive failed refreshes after which the connection shows `error`.
const ERROR_AFTER_FAILURES: i64 = 3;
/// How long a refresh lease lasts: longer than the token request's 30 s timeout.
const LEASE_MS: i64 = 45_000;

/// When a token given `expires_in` seconds now expires (Unix ms), saturating.
fn expiry(expires_in: u64) -> i64 {
    let ms = i64::try_from(expires_in)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    now_ms().saturating_add(ms)
}

/// Why an OAuth2 operation failed. No variant carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The request is wrong (not an OAuth2 piece, no app registered, …).
    #[error("{0}")]
    Invalid(String),
    /// A connection operation failed.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The provider could not be asked or refused.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing or opening failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// `POST /oauth2/start`. `Debug` leaves out the client secret.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The OAuth2 piece.
    pub piece: String,
    /// Name of the new connection (ignored on reconnect).
    #[serde(default)]
    pub display_name: Option<String>,
    /// External id of the new connection.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Reconnect this connection (id or external id) instead of creating one; it is
    /// resolved to its id at start.
    #[serde(default)]
    pub reconnect: Option<String>,
    /// Values of the schema's props.
    #[serde(default)]
    pub props: BTreeMap<String, String>,
    /// The connection's own OAuth client, instead of the operator's app.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Its secret.
    #[serde(default)]
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for StartRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartRequest")
            .field("piece", &self.piece)
            .field("display_name", &self.display_name)
            .field("external_id", &self.external_id)
            .field("reconnect", &self.reconnect)
            .field("props", &self.props.keys().collect::<Vec<_>>())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A piece's provider endpoints and the client to use there.
struct Registration {
    auth_url: String,
    token_url: String,
    client_id: String,
    client_secret: SecretString,
}

/// What a state remembers (no secret; those are sealed beside it).
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    piece: String,
    display_name: String,
    external_id: Option<String>,
    reconnect: Option<String>,
    props: BTreeMap<String, String>,
}

/// The sealed half of a state.
#[derive(Serialize, Deserialize)]
struct PendingSecrets {
    verifier: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The OAuth2 service. Cheap to clone.
#[derive(Clone)]
pub struct OAuth {
    connections: Connections,
    policy: Arc<OutboundPolicy>,
    redirect_url: Arc<str>,
    origin: Arc<str>,
    flights: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl OAuth {
    /// The service for a server reachable at `public_url` (the callback is
    /// `public_url/oauth2/callback`), reaching providers under `policy`'s overrides.
    pub fn new(connections: Connections, policy: OutboundPolicy, public_url: &str) -> Self {
        let origin = public_url.trim_end_matches('/');
        OAuth {
            connections,
            policy: Arc::new(policy),
            redirect_url: format!("{origin}/oauth2/callback").into(),
            origin: origin.into(),
            flights: Arc::default(),
        }
    }

    fn store(&self) -> &Store {
        self.connections.store()
    }

    /// Registers (or replaces) the operator's OAuth app for a piece.
    pub async fn set_app(
        &self,
        piece: &str,
        client_id: &str,
        client_secret: &SecretString,
    ) -> Result<(), OAuthError> {
        self.oauth_schema(piece)?;
        if client_id.trim().is_empty() || client_secret.expose_secret().is_empty() {
            return Err(OAuthError::Invalid(
                "client id and client secret must not be empty".into(),
            ));
        }
        let sealed = self
            .connections
            .vault()
            .seal(app_binding(piece), client_secret.expose_secret().as_bytes())?;
        self.store()
            .set_oauth_app(piece, client_id.trim(), &sealed)
            .await?;
        Ok(())
    }

    fn oauth_schema(&self, piece: &str) -> Result<&AuthSchema, OAuthError> {
        let loaded =
            self.connections.catalog().get(piece).ok_or_else(|| {
                OAuthError::Connection(ConnectionError::UnknownPiece(piece.into()))
            })?;
        match &loaded.info().auth {
            s @ AuthSchema::Oauth2 { .. } => Ok(s),
            other => Err(OAuthError::Invalid(format!(
                "piece {piece} takes {} credentials, not OAuth2",
                other.kind()
            ))),
        }
    }

    async fn app(&self, piece: &str) -> Result<(String, SecretString), OAuthError> {
        let (client_id, sealed) = self.store().oauth_app(piece).await?.ok_or_else(|| {
            OAuthError::Invalid(format!(
                "no OAuth app is registered for piece {piece}: an operator runs \
                 `thinkfleet oauth-app set {piece} --client-id … --client-secret …`, or the \
                 request brings its own client_id and client_secret"
            ))
        })?;
        let secret = self.connections.vault().open(app_binding(piece), &sealed)?;
        let secret = String::from_utf8(secret.to_vec())
            .map_err(|_| OAuthError::Vault(VaultError::Corrupt))?;
        Ok((client_id, SecretString::from(secret)))
    }

    /// Starts an authorization for `project`: returns the provider URL to open.
    pub async fn start(&self, project: &str, req: StartRequest) -> Result<String, OAuthError> {
        let AuthSchema::Oauth2 {
            scopes,
            extra_params,
            props,
            ..
        } = self.oauth_schema(&req.piece)?
        else {
            return Err(OAuthError::Invalid("not an OAuth2 piece".into()));
        };
        if let Some(unknown) = req
            .props
            .keys()
            .find(|k| !props.iter().any(|p| &p.name == *k))
        {
            return Err(OAuthError::Invalid(format!(
                "piece {} has no prop `{unknown}`",
                req.piece
            )));
        }
        let mut reconnect_id = None;
        let display_name = match (&req.reconnect, &req.display_name) {
            (Some(key), _) => {
                let row = self.connections.get(project, key).await?;
                if row.piece != req.piece {
                    return Err(OAuthError::Invalid(format!(
                        "connection {key} is for piece {}, not {}",
                        row.piece, req.piece
                    )));
                }
                reconnect_id = Some(row.id);
                row.display_name
            }
            (None, Some(name)) if !name.trim().is_empty() => name.trim().to_owned(),
            (None, _) => return Err(OAuthError::Invalid("display_name is required".into())),
        };
        let own = match (&req.client_id, &req.client_secret) {
            (Some(id), Some(secret)) => Some((id.clone(), SecretString::from(secret.clone()))),
            (None, None) => None,
            _ => {
                return Err(OAuthError::Invalid(
                    "give both client_id and client_secret, or neither".into(),
                ));
            }
        };
        let registration = self.registration(&req.piece, own).await?;
        let token = tokens::generate().map_err(|e| OAuthError::Invalid(e.to_string()))?;
        let state = tokens::reveal(&token).to_owned();
        let (url, verifier) = client::authorize_url(
            &self.policy,
            &self.endpoint(&registration),
            &state,
            scopes,
            extra_params,
        )?;
        let pending = Pending {
            piece: req.piece.clone(),
            display_name,
            external_id: req.external_id.clone(),
            reconnect: reconnect_id,
            props: req.props.clone(),
        };
        let secrets = PendingSecrets {
            verifier: verifier.expose_secret().to_owned(),
            client_id: req.client_id.clone(),
            client_secret: req.client_secret.clone(),
        };
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&secrets).map_err(|e| OAuthError::Invalid(e.to_string()))?,
        );
        let sealed = self
            .connections
            .vault()
            .seal(state_binding(project, &token.id), &plain)?;
        self.store()
            .insert_oauth_state(&StateRow {
                id: token.id.clone(),
                secret_hash: token.secret_hash.to_vec(),
                project_id: project.to_owned(),
                request: serde_json::to_string(&pending)
                    .map_err(|e| OAuthError::Invalid(e.to_string()))?,
                sealed,
                expires_at: now_ms() + STATE_LIFETIME_MS,
            })
            .await?;
        Ok(url)
    }

    /// Finishes an authorization: checks the state (single use, constant-time, not
    /// expired), exchanges the code, validates the token with the piece, and stores
    /// or replaces the connection. Returns the popup page.
    pub async fn callback(&self, params: &HashMap<String, String>) -> String {
        let outcome = self.finish(params).await;
        match &outcome {
            Ok(row) => page::render(
                &Outcome::Connected {
                    id: &row.id,
                    external_id: &row.external_id,
                },
                &self.origin,
            ),
            Err(why) => page::render(&Outcome::Failed(why), &self.origin),
        }
    }

    async fn finish(&self, params: &HashMap<String, String>) -> Result<ConnectionRow, String> {
        let state = params.get("state").map(String::as_str).unwrap_or_default();
        let Some((id, secret)) = tokens::parse(state) else {
            return Err("this authorization link is not valid".into());
        };
        let row = self
            .store()
            .take_oauth_state(id)
            .await
            .map_err(|e| internal(&e))?
            .filter(|row| tokens::verify(secret, &row.secret_hash) && row.expires_at > now_ms())
            .ok_or("this authorization has expired or was already used; start again")?;
        if let Some(error) = params.get("error") {
            let error: String = error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            return Err(format!(
                "the provider did not grant access ({error}); nothing was stored"
            ));
        }
        let code = params
            .get("code")
            .filter(|c| !c.is_empty())
            .ok_or("the provider sent no authorization code")?;
        let pending: Pending = serde_json::from_str(&row.request).map_err(|e| internal(&e))?;
        let plain = self
            .connections
            .vault()
            .open(state_binding(&row.project_id, &row.id), &row.sealed)
            .map_err(|e| internal(&e))?;
        let secrets: PendingSecrets = serde_json::from_slice(&plain).map_err(|e| internal(&e))?;
        let own = secrets
            .client_id
            .clone()
            .zip(secrets.client_secret.clone().map(SecretString::from));
        let registration = self
            .registration(&pending.piece, own)
            .await
            .map_err(|e| e.to_string())?;
        let endpoint = self.endpoint(&registration);
        let verifier = SecretString::from(secrets.verifier.clone());
        let tokens = client::exchange_code(&self.policy, &endpoint, code, &verifier)
            .await
            .map_err(|e| format!("{e}; nothing was stored"))?;
        let mut host_only = BTreeMap::new();
        if let Some(r) = tokens.refresh_token {
            host_only.insert("refresh_token", r);
        }
        if let (Some(id), Some(s)) = (secrets.client_id, secrets.client_secret) {
            host_only.insert("client_id", SecretString::from(id));
            host_only.insert("client_secret", SecretString::from(s));
        }
        let value = ConnectionValue::oauth2(tokens.access_token, host_only, pending.props.clone());
        let piece = self
            .connections
            .catalog()
            .get(&pending.piece)
            .ok_or("the piece is no longer loaded")?;
        let creds = value
            .credentials(&piece.info().auth)
            .map_err(|e| e.to_string())?;
        match piece.validate(&creds).await {
            Ok(()) => {}
            Err(CallError::Piece(PieceError::Upstream(m))) => {
                return Err(format!("the service failed while validating: {m}"));
            }
            Err(CallError::Piece(e)) => return Err(e.to_string()),
            Err(e) => return Err(format!("the piece failed: {e}")),
        }
        let expires_at = tokens.expires_in.map(expiry);
        let project = row.project_id.as_str();
        let stored = match &pending.reconnect {
            Some(key) => {
                let existing = self
                    .connections
                    .get(project, key)
                    .await
                    .map_err(|e| e.to_string())?;
                self.connections
                    .replace(project, &existing, &value, expires_at)
                    .await
            }
            None => {
                self.connections
                    .create_validated(
                        project,
                        &pending.piece,
                        &pending.display_name,
                        pending.external_id.clone(),
                        &value,
                        expires_at,
                    )
                    .await
            }
        };
        stored.map_err(|e| match e {
            ConnectionError::Store(_) | ConnectionError::Vault(_) => internal(&e),
            other => other.to_string(),
        })
    }

    /// Fresh credentials for an OAuth2 connection a run is about to use: the cached
    /// ones when the token is not about to expire, a refreshed token otherwise.
    pub async fn fresh(
        &self,
        row: &ConnectionRow,
        creds: Credentials,
    ) -> Result<Credentials, OAuthError> {
        if !needs_refresh(row, REFRESH_MARGIN_MS) {
            return Ok(creds);
        }
        self.refresh(&row.project_id, &row.id, REFRESH_MARGIN_MS)
            .await
    }

    /// Refreshes a connection's token if it expires within `margin_ms` (re-checked
    /// after every wait) and returns its credentials. `invalid_grant` makes the
    /// connection expired; other failures count towards `error` and back off.
    pub async fn refresh(
        &self,
        project: &str,
        id: &str,
        margin_ms: i64,
    ) -> Result<Credentials, OAuthError> {
        let flight = self.flight(id)?;
        let result = {
            let _one_in_this_process = flight.lock().await;
            self.refresh_once(project, id, margin_ms).await
        };
        self.land(id, flight);
        result
    }

    /// The single-flight lock of a connection.
    fn flight(&self, id: &str) -> Result<Arc<tokio::sync::Mutex<()>>, OAuthError> {
        let mut flights = self
            .flights
            .lock()
            .map_err(|_| OAuthError::Invalid("refresh lock poisoned".into()))?;
        Ok(flights.entry(id.to_owned()).or_default().clone())
    }

    /// Forgets a connection's single-flight lock once nobody else holds or awaits it.
    fn land(&self, id: &str, flight: Arc<tokio::sync::Mutex<()>>) {
        if let Ok(mut flights) = self.flights.lock()
            && Arc::strong_count(&flight) <= 2
        {
            flights.remove(id);
        }
    }

    async fn refresh_once(
        &self,
        project: &str,
        id: &str,
        margin_ms: i64,
    ) -> Result<Credentials, OAuthError> {
        let started = now_ms();
        // Read, and claim the lease; another replica holding it means wait and re-read:
        // it will have stored a fresh token by then.
        let (row, sealed, failures, value) = loop {
            let (row, sealed, failures) = self
                .store()
                .connection_for_refresh(project, id)
                .await?
                .ok_or(ConnectionError::NotFound)?;
            if row.status == "expired" {
                return Err(ConnectionError::Expired.into());
            }
            let value = self.connections.open_value(&row, &sealed)?;
            if !needs_refresh(&row, margin_ms) {
                return Ok(self.connections.credentials_of(&row, &value)?);
            }
            if self
                .store()
                .claim_refresh_lease(id, now_ms() + LEASE_MS)
                .await?
            {
                break (row, sealed, failures, value);
            }
            if now_ms() - started > LEASE_MS + 5_000 {
                return Err(
                    TokenError::Transient("another server is still refreshing".into()).into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let Some(refresh_token) = value.host_only("refresh_token").cloned() else {
            if row.expires_at.is_some_and(|t| t <= now_ms()) {
                self.store()
                    .record_refresh_failure(&row, "no refresh token", true, 0, ERROR_AFTER_FAILURES)
                    .await?;
                self.connections.forget_cached(&row);
                return Err(ConnectionError::Expired.into());
            }
            // Nothing to do until it expires.
            self.store()
                .release_refresh_lease(id, row.expires_at)
                .await?;
            return Ok(self.connections.credentials_of(&row, &value)?);
        };
        let outcome = self.ask_provider(&row, &value, &refresh_token).await;
        match outcome {
            Ok(tokens) => {
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
                let fresh = ConnectionValue::oauth2(tokens.access_token, host_only, value.props());
                let resealed = self.connections.seal_value(&row, &fresh)?;
                let expires_at = tokens.expires_in.map(expiry);
                let stored = self
                    .store()
                    .store_refreshed(&row, &sealed, &resealed, expires_at)
                    .await;
                self.connections.forget_cached(&row);
                match stored {
                    Ok(true) => {
                        tracing::info!(connection = %row.id, "token refreshed");
                        Ok(self.connections.credentials_of(&row, &fresh)?)
                    }
                    Ok(false) => {
                        // Reconnected meanwhile: the new grant wins.
                        Box::pin(self.refresh_once(project, id, margin_ms)).await
                    }
                    Err(e) => {
                        tracing::error!(
                            connection = %row.id,
                            error = %e,
                            "a refreshed token could not be stored; the grant may need a reconnect"
                        );
                        Err(e.into())
                    }
                }
            }
            Err(TokenError::InvalidGrant) => {
                self.store()
                    .record_refresh_failure(&row, "invalid_grant", true, 0, ERROR_AFTER_FAILURES)
                    .await?;
                self.connections.forget_cached(&row);
                tracing::warn!(connection = %row.id, "refresh refused: invalid_grant; connection expired");
                Err(ConnectionError::Expired.into())
            }
            Err(e) => {
                let failures = failures + 1;
                let backoff = (30_000_i64 << failures.min(7)).min(3_600_000);
                self.store()
                    .record_refresh_failure(
                        &row,
                        &e.to_string(),
                        false,
                        now_ms() + backoff,
                        ERROR_AFTER_FAILURES,
                    )
                    .await?;
                self.connections.forget_cached(&row);
                tracing::warn!(connection = %row.id, error = %e, failures, "token refresh failed");
                if row.expires_at.is_some_and(|t| t > now_ms()) {
                    // The current token still works for now.
                    return Ok(self.connections.credentials_of(&row, &value)?);
                }
                Err(e.into())
            }
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
            .map_err(|e| TokenError::Transient(e.to_string()))?;
        client::refresh(&self.policy, &self.endpoint(&registration), refresh_token).await
    }

    /// Where and as whom to talk to a piece's provider: the connection's own client
    /// when it has one, the operator's app otherwise.
    async fn registration(
        &self,
        piece: &str,
        own: Option<(String, SecretString)>,
    ) -> Result<Registration, OAuthError> {
        let AuthSchema::Oauth2 {
            auth_url,
            token_url,
            ..
        } = self.oauth_schema(piece)?
        else {
            return Err(OAuthError::Invalid("not an OAuth2 piece".into()));
        };
        let (client_id, client_secret) = match own {
            Some(own) => own,
            None => self.app(piece).await?,
        };
        Ok(Registration {
            auth_url: auth_url.clone(),
            token_url: token_url.clone(),
            client_id,
            client_secret,
        })
    }

    fn endpoint<'a>(&'a self, r: &'a Registration) -> Endpoint<'a> {
        Endpoint {
            auth_url: &r.auth_url,
            token_url: &r.token_url,
            client_id: &r.client_id,
            client_secret: &r.client_secret,
            redirect_url: &self.redirect_url,
        }
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
                if let Err(e) = self.refresh(&project, &id, window_ms).await {
                    tracing::warn!(connection = %id, error = %e, "background refresh failed");
                }
            }
        }
    }
}

/// Whether a connection's token expires within `margin_ms`.
pub fn needs_refresh(row: &ConnectionRow, margin_ms: i64) -> bool {
    row.auth_type == "oauth2" && row.expires_at.is_some_and(|t| t <= now_ms() + margin_ms)
}

fn internal(e: &dyn std::fmt::Display) -> String {
    tracing::error!(error = %e, "OAuth2 callback failed");
    "internal error; see the server log".into()
}

/// The record kind OAuth apps' client secrets are bound to.
pub const APP_KIND: &str = "oauth-app";

fn app_binding(piece: &str) -> Binding<'_> {
    Binding {
        project: "",
        kind: APP_KIND,
        id: piece,
    }
}

fn state_binding<'a>(project: &'a str, id: &'a str) -> Binding<'a> {
    Binding {
        project,
        kind: "oauth-state",
        id,
    }
}
