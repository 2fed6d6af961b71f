//! Operators' OAuth apps: a piece's client id and its sealed client secret (bound to
//! the piece), and which client a flow talks to the provider as — the connection's
//! own, or the operator's app.

use super::{OAuth, OAuthError};
use crate::piece::AuthSchema;
use crate::vault::{Binding, RecordKind, VaultError};
use secrecy::{ExposeSecret as _, SecretString};

/// A piece's provider endpoints and the client to use there.
pub(super) struct Registration {
    pub(super) auth_url: String,
    pub(super) token_url: String,
    pub(super) client_id: String,
    pub(super) client_secret: SecretString,
    pub(super) token_auth: crate::piece::TokenAuth,
    /// The token answer's fields the piece receives as props.
    pub(super) token_props: Vec<String>,
    /// The schema's own props (what the user entered before the redirect).
    pub(super) schema_props: Vec<String>,
}

pub(super) fn app_binding(piece: &str) -> Binding<'_> {
    Binding {
        project: "",
        kind: RecordKind::OauthApp,
        id: piece,
    }
}

impl OAuth {
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

    /// Whether the operator registered an OAuth app for `piece`.
    pub async fn has_app(&self, piece: &str) -> Result<bool, OAuthError> {
        Ok(self.store().oauth_app(piece).await?.is_some())
    }

    /// Where and as whom to talk to a piece's provider: the connection's own client
    /// when it has one, the operator's app otherwise.
    pub(super) async fn registration(
        &self,
        piece: &str,
        own: Option<(String, SecretString)>,
    ) -> Result<Registration, OAuthError> {
        let AuthSchema::Oauth2 {
            auth_url,
            token_url,
            token_auth,
            token_props,
            props,
            ..
        } = &self.oauth_schema(piece)?
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
            token_auth: *token_auth,
            token_props: token_props.clone(),
            schema_props: props.iter().map(|p| p.name.clone()).collect(),
        })
    }
}
