//! The conversions between each contract's generated types and the host's, written once:
//! the two generated modules share most type shapes, so one macro body serves both, and
//! each version adds only what it declares differently.

use crate::piece::{Prop, PropKind};

/// The conversions whose WIT types have the same shape in every contract version. Expands
/// in a module where `wit` names that version's generated `types`.
macro_rules! shared_conversions {
    (token_auth: $token_auth:expr, token_props: $token_props:expr) => {
        use crate::piece::{
            Action, AuthPlacement, AuthSchema, Choice, Credentials, CustomValue, PieceError, Prop,
            PropKind,
        };
        use secrecy::ExposeSecret as _;

        fn props(props: Vec<wit::Prop>) -> Result<Vec<Prop>, String> {
            props
                .into_iter()
                .map(|p| {
                    let kind = match p.kind {
                        wit::PropKind::ShortText => PropKind::ShortText,
                        wit::PropKind::LongText => PropKind::LongText,
                        wit::PropKind::SecretText => PropKind::SecretText,
                        wit::PropKind::Number => PropKind::Number,
                        wit::PropKind::Checkbox => PropKind::Checkbox,
                        wit::PropKind::StaticDropdown(c) => PropKind::StaticDropdown {
                            choices: c
                                .into_iter()
                                .map(|c| Choice {
                                    label: c.label,
                                    value: c.value,
                                })
                                .collect(),
                        },
                    };
                    let default_value = p
                        .default_value
                        .map(|d| {
                            serde_json::from_str(&d)
                                .map_err(|e| format!("prop {}: default is not JSON: {e}", p.name))
                        })
                        .transpose()?;
                    Ok(Prop {
                        secret: kind == PropKind::SecretText,
                        name: p.name,
                        display_name: p.display_name,
                        description: p.description,
                        kind,
                        required: p.required,
                        default_value,
                    })
                })
                .collect()
        }

        fn auth(auth: wit::AuthSchema) -> Result<AuthSchema, String> {
            Ok(match auth {
                wit::AuthSchema::None => AuthSchema::None,
                wit::AuthSchema::SecretText(c) => AuthSchema::SecretText {
                    field: super::fixed_prop(
                        "secret_text",
                        c.display_name,
                        c.description,
                        PropKind::SecretText,
                    ),
                },
                wit::AuthSchema::Basic(c) => AuthSchema::Basic {
                    username: super::fixed_prop(
                        "username",
                        c.username_label,
                        None,
                        PropKind::ShortText,
                    ),
                    password: super::fixed_prop(
                        "password",
                        c.password_label,
                        None,
                        PropKind::SecretText,
                    ),
                },
                wit::AuthSchema::Oauth2(c) => AuthSchema::Oauth2 {
                    token_auth: ($token_auth)(&c),
                    token_props: ($token_props)(&c),
                    auth_url: c.auth_url,
                    token_url: c.token_url,
                    scopes: c.scopes,
                    pkce: c.pkce,
                    extra_params: c.extra_params,
                    props: props(c.props)?,
                },
                wit::AuthSchema::Custom(p) => AuthSchema::Custom { props: props(p)? },
            })
        }

        fn placement(p: wit::AuthPlacement) -> AuthPlacement {
            match p {
                wit::AuthPlacement::Bearer => AuthPlacement::Bearer,
                wit::AuthPlacement::Basic => AuthPlacement::Basic,
                wit::AuthPlacement::Header(t) => AuthPlacement::Header {
                    name: t.name,
                    value: t.value,
                },
                wit::AuthPlacement::Query(t) => AuthPlacement::Query {
                    name: t.name,
                    value: t.value,
                },
            }
        }

        fn actions(actions: Vec<wit::Action>) -> Result<Vec<Action>, String> {
            actions
                .into_iter()
                .map(|a| {
                    Ok(Action {
                        name: a.name,
                        display_name: a.display_name,
                        description: a.description,
                        props: props(a.props)?,
                    })
                })
                .collect()
        }

        /// Converts credentials for the guest, replacing every field in `withheld` (the
        /// fields the host applies itself) with `redacted`.
        pub fn guest_credentials(creds: &Credentials, withheld: &[String]) -> wit::Credentials {
            let secret = |name: &str, s: &secrecy::SecretString| {
                if withheld.iter().any(|w| w == name) {
                    wit::Secret::Redacted
                } else {
                    wit::Secret::Value(s.expose_secret().to_owned())
                }
            };
            match creds {
                Credentials::None => wit::Credentials::None,
                Credentials::SecretText(s) => {
                    wit::Credentials::SecretText(secret("secret_text", s))
                }
                Credentials::Basic { username, password } => {
                    wit::Credentials::Basic(wit::BasicCredentials {
                        username: username.clone(),
                        password: secret("password", password),
                    })
                }
                Credentials::Oauth2 {
                    access_token,
                    scopes,
                    props,
                } => wit::Credentials::Oauth2(wit::Oauth2Token {
                    access_token: secret("access_token", access_token),
                    scopes: scopes.clone(),
                    props: props.clone(),
                }),
                Credentials::Custom(fields) => wit::Credentials::Custom(
                    fields
                        .iter()
                        .map(|(k, v)| {
                            let v = match v {
                                CustomValue::Text(t) => wit::CustomValue::Text(t.clone()),
                                CustomValue::Secret(s) => wit::CustomValue::Secret(secret(k, s)),
                                CustomValue::Number(n) => wit::CustomValue::Number(*n),
                                CustomValue::Flag(b) => wit::CustomValue::Flag(*b),
                            };
                            (k.clone(), v)
                        })
                        .collect(),
                ),
            }
        }

        /// Converts a guest error (the caller scrubs and caps its message).
        pub fn piece_error(e: wit::PieceError) -> PieceError {
            match e {
                wit::PieceError::InvalidCredentials(m) => PieceError::InvalidCredentials(m),
                wit::PieceError::InvalidInput(m) => PieceError::InvalidInput(m),
                wit::PieceError::Upstream(m) => PieceError::Upstream(m),
                wit::PieceError::Other(m) => PieceError::Other(m),
            }
        }
    };
}

/// `thinkfleet:piece@0.2.0`.
pub mod v0_2 {
    use crate::piece::{PieceInfo, TokenAuth};
    use crate::runtime::bindings::v0_2::wit;

    shared_conversions!(
        token_auth: |c: &wit::Oauth2Config| match c.token_auth {
            wit::TokenAuth::ClientSecretBasic => TokenAuth::ClientSecretBasic,
            wit::TokenAuth::ClientSecretPost => TokenAuth::ClientSecretPost,
        },
        token_props: |c: &wit::Oauth2Config| c.token_props.clone()
    );

    /// Converts and checks a piece's metadata.
    pub fn piece_info(info: wit::PieceInfo) -> Result<PieceInfo, String> {
        super::super::checked(super::super::Declared {
            name: info.name,
            display_name: info.display_name,
            version: info.version,
            description: info.description,
            contract: super::super::CONTRACT_0_2,
            logo: info.logo,
            website: info.website,
            auth: auth(info.auth)?,
            placement: info.placement.map(placement),
            credential_hosts: Some(info.credential_hosts),
            allowed_hosts: info.allowed_hosts,
            actions: actions(info.actions)?,
        })
    }
}

/// `thinkfleet:piece@0.1.0`: no logo or website, the client secret always as HTTP Basic,
/// and the credential may go to every declared host.
pub mod v0_1 {
    use crate::piece::{PieceInfo, TokenAuth};
    use crate::runtime::bindings::v0_1::wit;

    shared_conversions!(
        token_auth: |_: &wit::Oauth2Config| TokenAuth::ClientSecretBasic,
        token_props: |_: &wit::Oauth2Config| Vec::new()
    );

    /// Converts and checks a piece's metadata.
    pub fn piece_info(info: wit::PieceInfo) -> Result<PieceInfo, String> {
        super::super::checked(super::super::Declared {
            name: info.name,
            display_name: info.display_name,
            version: info.version,
            description: info.description,
            contract: super::super::CONTRACT_0_1,
            logo: None,
            website: None,
            auth: auth(info.auth)?,
            placement: info.placement.map(placement),
            credential_hosts: None,
            allowed_hosts: info.allowed_hosts,
            actions: actions(info.actions)?,
        })
    }
}

/// A field the auth kind fixes (`secret_text`, `username`, `password`).
fn fixed_prop(name: &str, label: String, description: Option<String>, kind: PropKind) -> Prop {
    Prop {
        secret: kind == PropKind::SecretText,
        name: name.into(),
        display_name: label,
        description,
        kind,
        required: true,
        default_value: None,
    }
}
