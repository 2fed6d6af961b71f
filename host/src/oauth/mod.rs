//! OAuth2 connections: the `OAuth` service and its errors here; operators' OAuth apps
//! in [`apps`]; the authorization-code flow with PKCE (start → provider → callback) in
//! [`authorize`]; the provider client in [`client`]; token refresh — on demand when a
//! run meets a token that is due, and in the background before tokens expire, exactly
//! once per token across replicas — in [`refresh`].

mod apps;
mod authorize;
mod client;
mod refresh;

pub use authorize::StartRequest;
pub use client::{TokenError, route};
pub use refresh::{TokenLife, backoff_ms};

use crate::connections::session::expiry;
use crate::connections::{ConnectionError, Connections};
use crate::piece::AuthSchema;
use crate::runtime::OutboundPolicy;
use crate::store::{Store, StoreError};
use crate::vault::VaultError;
use apps::Registration;
use client::Endpoint;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
/// Consecutive failed refreshes after which the connection shows `error`.
const ERROR_AFTER_FAILURES: i64 = 3;

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
    /// The host failed inside (its random generator, encoding its own records): a
    /// server error, never the request's fault.
    #[error("{what}: {source}")]
    Internal {
        /// What the host was doing.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl OAuthError {
    /// An [`OAuthError::Internal`]: `source` failed while the host was doing `what`.
    pub(crate) fn internal(
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> OAuthError {
        OAuthError::Internal {
            what,
            source: source.into(),
        }
    }
}

/// The OAuth2 service. Cheap to clone.
#[derive(Clone)]
pub struct OAuth {
    connections: Connections,
    policy: Arc<OutboundPolicy>,
    egress: Arc<crate::egress::Egress>,
    redirect_url: Arc<str>,
    flights: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl OAuth {
    /// The service for a server reachable at `public_url` (the callback is
    /// `public_url/oauth2/callback`), reaching providers through `egress` under
    /// `policy`'s overrides.
    pub fn new(
        connections: Connections,
        policy: OutboundPolicy,
        egress: Arc<crate::egress::Egress>,
        public_url: &str,
    ) -> Self {
        let origin = public_url.trim_end_matches('/');
        OAuth {
            connections,
            policy: Arc::new(policy),
            egress,
            redirect_url: format!("{origin}/oauth2/callback").into(),
            flights: Arc::default(),
        }
    }

    fn store(&self) -> &Store {
        self.connections.store()
    }

    fn oauth_schema(&self, piece: &str) -> Result<AuthSchema, OAuthError> {
        let catalog = self.connections.catalog();
        let loaded = catalog
            .get(piece)
            .ok_or_else(|| OAuthError::Connection(ConnectionError::UnknownPiece(piece.into())))?;
        match &loaded.info().auth {
            s @ AuthSchema::Oauth2 { .. } => Ok(s.clone()),
            other => Err(OAuthError::Invalid(format!(
                "piece {piece} takes {} credentials, not OAuth2",
                other.kind()
            ))),
        }
    }

    fn endpoint<'a>(&'a self, r: &'a Registration) -> Endpoint<'a> {
        Endpoint {
            auth_url: &r.auth_url,
            token_url: &r.token_url,
            client_id: &r.client_id,
            client_secret: &r.client_secret,
            redirect_url: &self.redirect_url,
            token_auth: r.token_auth,
        }
    }
}

/// A connection's props after a token answer: the fields the piece named in its
/// `token-props` set (or updated) from the answer; a field the answer lacks keeps its
/// earlier value. Nothing else of the answer is kept, and a prop the piece no longer
/// declares (an upgrade dropped it) is dropped rather than left to make the value
/// unreadable.
fn with_token_props(
    mut props: std::collections::BTreeMap<String, String>,
    tokens: &client::Tokens,
    registration: &apps::Registration,
) -> std::collections::BTreeMap<String, String> {
    props.retain(|name, _| {
        registration.schema_props.contains(name) || registration.token_props.contains(name)
    });
    for name in &registration.token_props {
        if let Some(value) = tokens.props.get(name) {
            props.insert(name.clone(), value.clone());
        }
    }
    props
}

fn internal(e: &dyn std::fmt::Display) -> String {
    tracing::error!(error = %e, "OAuth2 callback failed");
    "internal error; see the server log".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use std::collections::BTreeMap;

    #[test]
    fn a_token_answer_sets_only_the_props_the_piece_named() {
        let registration = apps::Registration {
            auth_url: String::new(),
            token_url: String::new(),
            client_id: String::new(),
            client_secret: SecretString::from(""),
            token_auth: crate::piece::TokenAuth::ClientSecretBasic,
            token_props: vec!["instance_url".into(), "region".into()],
            schema_props: vec!["subdomain".into()],
        };
        let answer = |props: &[(&str, &str)]| client::Tokens {
            access_token: SecretString::from("at"),
            refresh_token: None,
            expires_in: None,
            props: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let entered = BTreeMap::from([("subdomain".to_owned(), "acme".to_owned())]);
        let first = with_token_props(
            entered,
            &answer(&[("instance_url", "https://na1.example"), ("app_id", "A1")]),
            &registration,
        );
        assert_eq!(
            first,
            BTreeMap::from([
                ("instance_url".to_owned(), "https://na1.example".to_owned()),
                ("subdomain".to_owned(), "acme".to_owned()),
            ])
        );
        // A refresh that moves the instance updates it; one that omits it keeps it.
        let moved = with_token_props(
            first.clone(),
            &answer(&[("instance_url", "https://na2.example")]),
            &registration,
        );
        assert_eq!(moved["instance_url"], "https://na2.example");
        assert_eq!(
            with_token_props(first.clone(), &answer(&[]), &registration),
            first
        );
        // A prop the piece no longer declares is dropped.
        let mut stale = first.clone();
        stale.insert("dropped_in_v2".into(), "x".into());
        assert_eq!(with_token_props(stale, &answer(&[]), &registration), first);
    }
}
