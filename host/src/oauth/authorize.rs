//! The authorization-code flow with PKCE: `start` (from the API) and
//! `start_in_browser` (from a page, bound to the browser by a cookie nonce) make a
//! single-use state whose secret is stored hashed and whose verifier is sealed;
//! `callback` checks it, exchanges the code, validates the token with the piece, and
//! stores or replaces the connection.

use super::{OAuth, OAuthError, client, expiry, internal};
use crate::connections::{ConnectionError, ConnectionValue};
use crate::piece::AuthSchema;
use crate::store::{ConnectionRow, StateRow, now_ms};
use crate::tokens;
use crate::vault::{Binding, RecordKind};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};

/// How long a started authorization may take.
const STATE_LIFETIME_MS: i64 = 10 * 60 * 1000;

/// `POST /oauth2/start`. `Debug` leaves out the client secret.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The OAuth2 piece.
    pub piece: String,
    /// Name of the new connection (ignored on reconnect).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub display_name: Option<String>,
    /// External id of the new connection.
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
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
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
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

/// What a state remembers (no secret; those are sealed beside it).
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    piece: String,
    display_name: String,
    external_id: Option<String>,
    reconnect: Option<String>,
    props: BTreeMap<String, String>,
    /// SHA-256 (hex) of the nonce in the cookie of the browser that started the flow,
    /// when a browser did: the callback refuses the state without that cookie.
    #[serde(default)]
    browser: Option<String>,
}

/// The sealed half of a state: its JSON is only ever sealed by the vault, and the
/// secrets are never a plain `String` on the way.
#[derive(Serialize, Deserialize)]
struct PendingSecrets {
    #[serde(serialize_with = "reveal")]
    verifier: SecretString,
    client_id: Option<String>,
    #[serde(serialize_with = "reveal_some")]
    client_secret: Option<SecretString>,
}

/// Writes a secret into the sealed half's JSON.
fn reveal<S: serde::Serializer>(secret: &SecretString, to: S) -> Result<S::Ok, S::Error> {
    to.serialize_str(secret.expose_secret())
}

/// Writes an optional secret into the sealed half's JSON.
fn reveal_some<S: serde::Serializer>(
    secret: &Option<SecretString>,
    to: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => to.serialize_some(secret.expose_secret()),
        None => to.serialize_none(),
    }
}

impl OAuth {
    /// Starts an authorization for `project` from the API: returns the provider URL
    /// to open.
    pub async fn start(&self, project: &str, req: StartRequest) -> Result<String, OAuthError> {
        self.begin(project, req, None).await
    }

    /// Starts an authorization from a browser page: returns the provider URL and a
    /// fresh nonce for the browser's cookie; the callback accepts the state only from
    /// a browser that presents that nonce (no login CSRF).
    pub async fn start_in_browser(
        &self,
        project: &str,
        req: StartRequest,
    ) -> Result<(String, SecretString), OAuthError> {
        let nonce =
            tokens::generate().map_err(|e| OAuthError::internal("drawing a browser nonce", e))?;
        let nonce = SecretString::from(hex::encode(nonce.secret_hash));
        let url = self
            .begin(project, req, Some(browser_hash(nonce.expose_secret())))
            .await?;
        Ok((url, nonce))
    }

    async fn begin(
        &self,
        project: &str,
        req: StartRequest,
        browser: Option<String>,
    ) -> Result<String, OAuthError> {
        let AuthSchema::Oauth2 {
            scopes,
            extra_params,
            props,
            ..
        } = &self.oauth_schema(&req.piece)?
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
            (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
            (None, None) => None,
            _ => {
                return Err(OAuthError::Invalid(
                    "give both client_id and client_secret, or neither".into(),
                ));
            }
        };
        let registration = self.registration(&req.piece, own).await?;
        let token =
            tokens::generate().map_err(|e| OAuthError::internal("drawing an OAuth2 state", e))?;
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
            browser,
        };
        let secrets = PendingSecrets {
            verifier,
            client_id: req.client_id.clone(),
            client_secret: req.client_secret.clone(),
        };
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&secrets)
                .map_err(|e| OAuthError::internal("encoding an OAuth2 state", e))?,
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
                    .map_err(|e| OAuthError::internal("encoding an OAuth2 state", e))?,
                sealed,
                expires_at: now_ms() + STATE_LIFETIME_MS,
            })
            .await?;
        Ok(url)
    }

    /// Finishes an authorization: checks the state (single use, constant-time, not
    /// expired, and, when a browser started it, presented by that browser's cookie
    /// `browser_nonce`), exchanges the code, validates the token with the piece, and
    /// stores or replaces the connection. The error is a sentence for the user.
    pub async fn callback(
        &self,
        params: &HashMap<String, String>,
        browser_nonce: Option<&str>,
    ) -> Result<ConnectionRow, String> {
        self.finish(params, browser_nonce).await
    }

    async fn finish(
        &self,
        params: &HashMap<String, String>,
        browser_nonce: Option<&str>,
    ) -> Result<ConnectionRow, String> {
        let state = params.get("state").map(String::as_str).unwrap_or_default();
        let Some((id, secret)) = tokens::parse(state) else {
            return Err("this authorization link is not valid".into());
        };
        let row = self
            .store()
            .take_oauth_state(id, &tokens::hash_secret(secret))
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
        if let Some(expected) = &pending.browser {
            let presented = browser_nonce.map(browser_hash).unwrap_or_default();
            let same: bool =
                subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), expected.as_bytes()).into();
            if !same {
                return Err("this authorization was started in another browser (or its \
                            cookie is gone); start again from the Connections page"
                    .into());
            }
        }
        let plain = self
            .connections
            .vault()
            .open(state_binding(&row.project_id, &row.id), &row.sealed)
            .map_err(|e| internal(&e))?;
        let secrets: PendingSecrets = serde_json::from_slice(&plain).map_err(|e| internal(&e))?;
        let own = secrets.client_id.clone().zip(secrets.client_secret.clone());
        let registration = self
            .registration(&pending.piece, own)
            .await
            .map_err(|e| e.to_string())?;
        let endpoint = self.endpoint(&registration);
        let verifier = secrets.verifier.clone();
        let asked_at = now_ms();
        let tokens = client::exchange_code(&self.policy, &self.egress, &endpoint, code, &verifier)
            .await
            .map_err(|e| format!("{e}; nothing was stored"))?;
        let props = super::with_token_props(pending.props.clone(), &tokens, &registration);
        let mut host_only = BTreeMap::new();
        if let Some(r) = tokens.refresh_token {
            host_only.insert("refresh_token", r);
        }
        if let (Some(id), Some(s)) = (secrets.client_id, secrets.client_secret) {
            host_only.insert("client_id", SecretString::from(id));
            host_only.insert("client_secret", s);
        }
        let value = ConnectionValue::oauth2(tokens.access_token, host_only, props);
        let piece = &self
            .connections
            .catalog()
            .get(&pending.piece)
            .cloned()
            .ok_or("the piece is no longer loaded")?;
        let creds = value
            .credentials(&piece.info().auth)
            .map_err(|e| e.to_string())?;
        crate::connections::validate(piece, &row.project_id, &creds)
            .await
            .map_err(|e| e.to_string())?;
        let expires_at = tokens.expires_in.map(|s| expiry(asked_at, s));
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
}

/// How a browser nonce is kept in a state: SHA-256, hex.
fn browser_hash(nonce: &str) -> String {
    hex::encode(Sha256::digest(nonce.as_bytes()))
}

fn state_binding<'a>(project: &'a str, id: &'a str) -> Binding<'a> {
    Binding {
        project,
        kind: RecordKind::OauthState,
        id,
    }
}
