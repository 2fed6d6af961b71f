//! Builders for the schema types, so a piece's `info()` reads as a declaration.

use crate::{
    Action, AuthPlacement, AuthSchema, BasicConfig, Choice, Oauth2Config, PieceInfo, Prop,
    PropKind, SecretTextConfig, Template, TokenAuth,
};

impl PieceInfo {
    /// A piece with no auth, no allowed hosts and no actions yet; version `0.1.0`.
    pub fn new(name: &str, display_name: &str, description: &str) -> Self {
        PieceInfo {
            name: name.into(),
            display_name: display_name.into(),
            version: "0.1.0".into(),
            description: description.into(),
            logo: None,
            website: None,
            auth: AuthSchema::None,
            placement: None,
            credential_hosts: Vec::new(),
            allowed_hosts: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// Sets the piece's version (use `env!("CARGO_PKG_VERSION")`).
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.into();
        self
    }

    /// Sets the one kind of credential the piece needs.
    pub fn auth(mut self, auth: AuthSchema) -> Self {
        self.auth = auth;
        self
    }

    /// Sets the service's logo: an SVG document (`include_str!("logo.svg")`) or a
    /// `data:image/png;base64,…` URL, at most 64 KiB.
    pub fn logo(mut self, logo: &str) -> Self {
        self.logo = Some(logo.into());
        self
    }

    /// Sets the service's website (`https://…`), linked from the connection form.
    pub fn website(mut self, url: &str) -> Self {
        self.website = Some(url.into());
        self
    }

    /// Asks the host to apply the credential to outbound requests itself, on the hosts
    /// named with [`credential_host`](Self::credential_host) (at least one).
    pub fn placement(mut self, placement: AuthPlacement) -> Self {
        self.placement = Some(placement);
        self
    }

    /// Names a host that receives the credential the host applies: an exact name, or a
    /// name with `{field}` placeholders filled per connection from its non-secret fields
    /// or its OAuth2 token props, each placeholder one label (`{subdomain}.zendesk.com`;
    /// `{instance_url}.my.salesforce.com` takes `acme` from
    /// `https://acme.my.salesforce.com`). Never a wildcard. An exact name is also
    /// allowed as with [`allow_host`](Self::allow_host); a templated one must fall within
    /// a host allowed there (`*.zendesk.com`).
    pub fn credential_host(mut self, host: &str) -> Self {
        self.credential_hosts.push(host.into());
        let covered = self.allowed_hosts.iter().any(|a| a == host);
        if !host.contains('{') && !covered {
            self.allowed_hosts.push(host.into());
        }
        self
    }

    /// Allows outbound HTTP to `host` (exact name, or `*.suffix`).
    pub fn allow_host(mut self, host: &str) -> Self {
        self.allowed_hosts.push(host.into());
        self
    }

    /// Adds an action.
    pub fn action(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }
}

impl AuthSchema {
    /// A single secret string (API key, token).
    pub fn secret_text(display_name: &str, description: &str) -> Self {
        AuthSchema::SecretText(SecretTextConfig {
            display_name: display_name.into(),
            description: Some(description.into()),
        })
    }

    /// Username and password.
    pub fn basic(username_label: &str, password_label: &str) -> Self {
        AuthSchema::Basic(BasicConfig {
            username_label: username_label.into(),
            password_label: password_label.into(),
        })
    }

    /// Fields the piece defines.
    pub fn custom(props: Vec<Prop>) -> Self {
        AuthSchema::Custom(props)
    }

    /// OAuth2 authorization code, with PKCE.
    pub fn oauth2(auth_url: &str, token_url: &str, scopes: &[&str]) -> Self {
        AuthSchema::Oauth2(Oauth2Config {
            auth_url: auth_url.into(),
            token_url: token_url.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            pkce: true,
            extra_params: Vec::new(),
            props: Vec::new(),
            token_auth: TokenAuth::ClientSecretBasic,
            token_props: Vec::new(),
        })
    }
}

impl Oauth2Config {
    /// Adds a parameter sent on the authorization request (e.g. `access_type=offline`).
    pub fn extra_param(mut self, name: &str, value: &str) -> Self {
        self.extra_params.push((name.into(), value.into()));
        self
    }

    /// Adds a field asked before the redirect (e.g. a subdomain), a plain setting the
    /// piece receives with the token and a credential host may be filled from.
    pub fn prop(mut self, prop: Prop) -> Self {
        self.props.push(prop);
        self
    }

    /// Receives a field of the token response with the token, as a prop (e.g.
    /// Salesforce's `instance_url`), which a credential host may be filled from. Plain
    /// names only: never one holding `token` or `secret`.
    pub fn token_prop(mut self, name: &str) -> Self {
        self.token_props.push(name.into());
        self
    }

    /// Sends the client secret in the token request's form body (`client_secret_post`)
    /// instead of HTTP Basic, for providers that accept only that.
    pub fn client_secret_post(mut self) -> Self {
        self.token_auth = TokenAuth::ClientSecretPost;
        self
    }
}

impl AuthPlacement {
    /// A header whose value is a template such as `{api_key}`.
    pub fn header(name: &str, value: &str) -> Self {
        AuthPlacement::Header(Template {
            name: name.into(),
            value: value.into(),
        })
    }

    /// A query parameter whose value is a template such as `{api_key}`.
    pub fn query(name: &str, value: &str) -> Self {
        AuthPlacement::Query(Template {
            name: name.into(),
            value: value.into(),
        })
    }
}

impl Action {
    /// An action with no input props yet.
    pub fn new(name: &str, display_name: &str, description: &str) -> Self {
        Action {
            name: name.into(),
            display_name: display_name.into(),
            description: description.into(),
            props: Vec::new(),
        }
    }

    /// Adds an input prop.
    pub fn prop(mut self, prop: Prop) -> Self {
        self.props.push(prop);
        self
    }
}

impl Prop {
    fn new(name: &str, display_name: &str, kind: PropKind) -> Self {
        Prop {
            name: name.into(),
            display_name: display_name.into(),
            description: None,
            kind,
            required: false,
            default_value: None,
        }
    }

    /// A one-line text field.
    pub fn short_text(name: &str, display_name: &str) -> Self {
        Self::new(name, display_name, PropKind::ShortText)
    }

    /// A multi-line text field (PEM, certificates, JSON).
    pub fn long_text(name: &str, display_name: &str) -> Self {
        Self::new(name, display_name, PropKind::LongText)
    }

    /// A password field; its value is stored encrypted and never echoed back.
    pub fn secret(name: &str, display_name: &str) -> Self {
        Self::new(name, display_name, PropKind::SecretText)
    }

    /// A number field.
    pub fn number(name: &str, display_name: &str) -> Self {
        Self::new(name, display_name, PropKind::Number)
    }

    /// A checkbox.
    pub fn checkbox(name: &str, display_name: &str) -> Self {
        Self::new(name, display_name, PropKind::Checkbox)
    }

    /// A dropdown of `(label, value)` choices.
    pub fn dropdown(name: &str, display_name: &str, choices: &[(&str, &str)]) -> Self {
        let choices = choices
            .iter()
            .map(|(label, value)| Choice {
                label: label.to_string(),
                value: value.to_string(),
            })
            .collect();
        Self::new(name, display_name, PropKind::StaticDropdown(choices))
    }

    /// Marks the field required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets the help text.
    pub fn description(mut self, description: &str) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the default, as JSON text (`"\"public\""`, `"5432"`, `"true"`).
    pub fn default_json(mut self, json: &str) -> Self {
        self.default_value = Some(json.into());
        self
    }
}

impl crate::SessionToken {
    /// A session with no fields yet that lasts `expires_in_secs` seconds.
    pub fn expiring_in(expires_in_secs: u64) -> Self {
        crate::SessionToken {
            fields: Vec::new(),
            expires_in: Some(expires_in_secs),
        }
    }

    /// A session that lasts until the connection is reconnected.
    pub fn lasting() -> Self {
        crate::SessionToken {
            fields: Vec::new(),
            expires_in: None,
        }
    }

    /// Adds a field the piece receives, as a secret, on every call of the session; a
    /// placement template may name it (`{session_token}`).
    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }
}
