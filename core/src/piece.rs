//! What the host knows about a piece, independent of wasmtime: its metadata, auth schema
//! and actions as plain serialisable data, and the credentials a call receives.
//!
//! The runtime converts the WIT bindings into these types; everything else (CLI, API,
//! forms) uses only these.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::collections::BTreeMap;

/// A piece's metadata, as declared by the piece. (`Default`: an unnamed piece with
/// nothing declared, what a piece is until its `info` has been read.)
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PieceInfo {
    /// Stable identifier, e.g. `openai`.
    pub name: String,
    /// Name shown to users.
    pub display_name: String,
    /// The piece's version.
    pub version: String,
    /// One-line description.
    pub description: String,
    /// The contract version the piece was built against (`0.2.0`, or `0.1.0`).
    pub contract: String,
    /// The service's logo as a `data:image/…` URL (an SVG document is converted to one),
    /// for an `<img>`; `None` when the piece has none.
    pub logo: Option<String>,
    /// The service's website (`https://…`).
    pub website: Option<String>,
    /// The one kind of credential the piece needs.
    pub auth: AuthSchema,
    /// How the host applies the credential to outbound HTTP; `None` means passed in.
    pub placement: Option<AuthPlacement>,
    /// Outbound HTTP allowlist (exact names or `*.suffix`).
    pub allowed_hosts: Vec<String>,
    /// Where a connection's credential may go. With a host-applied placement: the hosts
    /// the piece names for it (`{field}` placeholders are filled per connection from
    /// its non-secret fields); the host applies it nowhere else. Without one, the piece
    /// holds the credential and may send it to any host it declares, so every declared
    /// host. Empty when the piece takes no credential. (Contract 0.1.0 has no narrower
    /// declaration: every declared host.)
    pub credential_hosts: Vec<String>,
    /// The actions a flow step can run.
    pub actions: Vec<Action>,
    /// Whether the piece opens sessions with its custom credential (it exports
    /// `session`): the host opens one when a connection is made and the next before
    /// it expires.
    pub sessions: bool,
}

/// The kind of credential a piece needs, with the form fields it is entered through.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthSchema {
    /// No credential.
    #[default]
    None,
    /// One secret string, entered in the field `secret_text`.
    SecretText {
        /// The form field (always a secret).
        field: Prop,
    },
    /// Username and password.
    Basic {
        /// The username field.
        username: Prop,
        /// The password field (a secret).
        password: Prop,
    },
    /// OAuth2 authorization code flow.
    Oauth2 {
        /// The provider's authorization endpoint.
        auth_url: String,
        /// The provider's token endpoint.
        token_url: String,
        /// Scopes requested.
        scopes: Vec<String>,
        /// Whether PKCE (S256) is used.
        pkce: bool,
        /// Extra authorization request parameters, as `[name, value]` pairs.
        #[schema(value_type = Vec<Vec<String>>)]
        extra_params: Vec<(String, String)>,
        /// Fields asked before the redirect.
        props: Vec<Prop>,
        /// How the host authenticates as the client at the token endpoint.
        token_auth: TokenAuth,
        /// Token response fields the piece receives as props (e.g. `instance_url`).
        token_props: Vec<String>,
    },
    /// Fields the piece defines.
    Custom {
        /// The fields.
        props: Vec<Prop>,
    },
}

impl AuthSchema {
    /// The schema's kind as the API and forms name it.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthSchema::None => "none",
            AuthSchema::SecretText { .. } => "secret_text",
            AuthSchema::Basic { .. } => "basic",
            AuthSchema::Oauth2 { .. } => "oauth2",
            AuthSchema::Custom { .. } => "custom",
        }
    }
}

/// How the host authenticates as the OAuth2 client at the token endpoint.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1's default).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// A form field.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Prop {
    /// Stable key.
    pub name: String,
    /// Label.
    pub display_name: String,
    /// Help text.
    pub description: Option<String>,
    /// How it renders.
    pub kind: PropKind,
    /// Whether a value is required.
    pub required: bool,
    /// Whether the value is a secret: a password input, stored encrypted, never echoed.
    pub secret: bool,
    /// Default value.
    pub default_value: Option<serde_json::Value>,
}

/// How a form renders a field.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PropKind {
    /// One line of text.
    ShortText,
    /// Several lines (PEM, certificates, JSON).
    LongText,
    /// A password input.
    SecretText,
    /// A number.
    Number,
    /// A checkbox.
    Checkbox,
    /// A dropdown.
    StaticDropdown {
        /// `(label, value)` options.
        choices: Vec<Choice>,
    },
}

/// A dropdown option.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Choice {
    /// Shown to the user.
    pub label: String,
    /// Stored.
    pub value: String,
}

/// How the host puts a credential on outbound requests.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthPlacement {
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `Authorization: Basic …`.
    Basic,
    /// A header from a `{field}` template.
    Header {
        /// Header name.
        name: String,
        /// Value template.
        value: String,
    },
    /// A query parameter from a `{field}` template.
    Query {
        /// Parameter name.
        name: String,
        /// Value template.
        value: String,
    },
}

/// An action of a piece.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Action {
    /// Stable key.
    pub name: String,
    /// Label.
    pub display_name: String,
    /// What it does.
    pub description: String,
    /// Input fields.
    pub props: Vec<Prop>,
}

/// A session a piece opened (its `session.refresh`): fields the piece's calls receive
/// as secrets, and how long it lasts. `Debug` shows field names only.
#[derive(Debug, Clone)]
pub struct OpenedSession {
    /// The session's fields, by name.
    pub fields: Vec<(String, SecretString)>,
    /// Seconds until it ends; `None`: until the connection is reconnected.
    pub expires_in: Option<u64>,
}

/// Credentials for one call. `Debug` never shows a secret.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// No credential.
    None,
    /// A secret string.
    SecretText(SecretString),
    /// Username and password.
    Basic {
        /// Username (not secret).
        username: String,
        /// Password.
        password: SecretString,
    },
    /// An OAuth2 access token.
    Oauth2 {
        /// The access token.
        access_token: SecretString,
        /// Granted scopes.
        scopes: Vec<String>,
        /// Non-secret connection props.
        props: Vec<(String, String)>,
    },
    /// Custom fields by name.
    Custom(BTreeMap<String, CustomValue>),
}

/// One custom field's value.
#[derive(Debug, Clone)]
pub enum CustomValue {
    /// Text.
    Text(String),
    /// A secret.
    Secret(SecretString),
    /// A number.
    Number(f64),
    /// A checkbox.
    Flag(bool),
}

impl Credentials {
    /// Adds a session's fields, as secrets, to custom credentials (no other kind has
    /// sessions).
    pub fn add_session<'a>(
        &mut self,
        fields: impl IntoIterator<Item = (&'a str, &'a SecretString)>,
    ) {
        if let Credentials::Custom(map) = self {
            for (name, value) in fields {
                map.insert(name.to_owned(), CustomValue::Secret(value.clone()));
            }
        }
    }

    /// The value of a named credential field as text, for host-applied templates:
    /// `secret_text`, `username`, `password`, `access_token` or a custom field's name.
    pub fn field(&self, name: &str) -> Option<SecretString> {
        let text = |s: &str| Some(SecretString::from(s.to_owned()));
        match (self, name) {
            (Credentials::SecretText(s), "secret_text") => Some(s.clone()),
            (Credentials::Basic { username, .. }, "username") => text(username),
            (Credentials::Basic { password, .. }, "password") => Some(password.clone()),
            (Credentials::Oauth2 { access_token, .. }, "access_token") => {
                Some(access_token.clone())
            }
            (Credentials::Custom(fields), name) => match fields.get(name)? {
                CustomValue::Text(t) => text(t),
                CustomValue::Secret(s) => Some(s.clone()),
                CustomValue::Number(n) => text(&n.to_string()),
                CustomValue::Flag(b) => text(&b.to_string()),
            },
            _ => None,
        }
    }

    /// The value of a named field that is not a secret, as text: a basic username, an
    /// OAuth2 prop (token response props included) or a custom text, number or flag.
    /// What a credential host's `{field}` may be filled from.
    pub fn plain_field(&self, name: &str) -> Option<String> {
        match self {
            Credentials::Basic { username, .. } if name == "username" => Some(username.clone()),
            Credentials::Oauth2 { props, .. } => props
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone()),
            Credentials::Custom(fields) => match fields.get(name)? {
                CustomValue::Text(t) => Some(t.clone()),
                CustomValue::Number(n) => Some(n.to_string()),
                CustomValue::Flag(b) => Some(b.to_string()),
                CustomValue::Secret(_) => None,
            },
            _ => None,
        }
    }

    /// Every secret value, for tests and scrubbers that must prove none leaked.
    pub fn secret_values(&self) -> Vec<String> {
        let expose = |s: &SecretString| s.expose_secret().to_owned();
        match self {
            Credentials::None => Vec::new(),
            Credentials::SecretText(s) => vec![expose(s)],
            Credentials::Basic { password, .. } => vec![expose(password)],
            Credentials::Oauth2 { access_token, .. } => vec![expose(access_token)],
            Credentials::Custom(fields) => fields
                .values()
                .filter_map(|v| match v {
                    CustomValue::Secret(s) => Some(expose(s)),
                    _ => None,
                })
                .collect(),
        }
    }
}

/// A failure the piece itself reported, with whose fault it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum PieceError {
    /// The credentials were refused ("Invalid API key").
    #[error("{0}")]
    InvalidCredentials(String),
    /// The input was wrong.
    #[error("{0}")]
    InvalidInput(String),
    /// The service failed.
    #[error("{0}")]
    Upstream(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl PieceError {
    /// The same error with its message rewritten (used to mask secrets).
    pub fn map_message(self, f: impl FnOnce(&str) -> String) -> Self {
        match self {
            PieceError::InvalidCredentials(m) => PieceError::InvalidCredentials(f(&m)),
            PieceError::InvalidInput(m) => PieceError::InvalidInput(f(&m)),
            PieceError::Upstream(m) => PieceError::Upstream(f(&m)),
            PieceError::Other(m) => PieceError::Other(f(&m)),
        }
    }
}
