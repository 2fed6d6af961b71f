//! Conversions between the WIT bindings and the host's own types, and the one place that
//! decides which credential fields the guest sees redacted.

use super::bindings::wit;
use crate::piece::{
    Action, AuthPlacement, AuthSchema, Choice, Credentials, CustomValue, PieceError, PieceInfo,
    Prop, PropKind,
};
use secrecy::ExposeSecret;

/// Converts and checks a piece's metadata.
pub fn piece_info(info: wit::PieceInfo) -> Result<PieceInfo, String> {
    if info.name.is_empty()
        || !info
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(format!(
            "piece name {:?} must be lower-case letters, digits, - or _",
            info.name
        ));
    }
    let auth = match info.auth {
        wit::AuthSchema::None => AuthSchema::None,
        wit::AuthSchema::SecretText(c) => AuthSchema::SecretText {
            field: Prop {
                name: "secret_text".into(),
                display_name: c.display_name,
                description: c.description,
                kind: PropKind::SecretText,
                required: true,
                secret: true,
                default_value: None,
            },
        },
        wit::AuthSchema::Basic(c) => AuthSchema::Basic {
            username: fixed_prop("username", c.username_label, PropKind::ShortText),
            password: fixed_prop("password", c.password_label, PropKind::SecretText),
        },
        wit::AuthSchema::Oauth2(c) => {
            let props = props(c.props)?;
            // An OAuth2 connection's secret is its token; its props travel to the piece
            // as plain text, so a secret prop would be exposed. Refuse the schema.
            if let Some(p) = props.iter().find(|p| p.secret) {
                return Err(format!(
                    "OAuth2 prop `{}` is marked secret; OAuth2 props are plain settings \
                     (use a custom schema for extra secrets)",
                    p.name
                ));
            }
            AuthSchema::Oauth2 {
                auth_url: c.auth_url,
                token_url: c.token_url,
                scopes: c.scopes,
                pkce: c.pkce,
                extra_params: c.extra_params,
                props,
            }
        }
        wit::AuthSchema::Custom(p) => AuthSchema::Custom { props: props(p)? },
    };
    let placement = info.placement.map(|p| match p {
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
    });
    let actions = info
        .actions
        .into_iter()
        .map(|a| {
            Ok(Action {
                name: a.name,
                display_name: a.display_name,
                description: a.description,
                props: props(a.props)?,
            })
        })
        .collect::<Result<_, String>>()?;
    let allowed_hosts: Vec<String> = info
        .allowed_hosts
        .into_iter()
        .map(|h| allowed_host(&h))
        .collect::<Result<_, String>>()?;
    let credential_hosts = match auth {
        AuthSchema::None => Vec::new(),
        _ => allowed_hosts.clone(),
    };
    let info = PieceInfo {
        name: info.name,
        display_name: info.display_name,
        version: info.version,
        description: info.description,
        auth,
        placement,
        allowed_hosts,
        credential_hosts,
        actions,
    };
    check_size(&info)?;
    Ok(info)
}

/// The most actions a piece may declare.
pub const MAX_ACTIONS: usize = 200;
/// The most allowed hosts a piece may declare.
pub const MAX_HOSTS: usize = 50;
/// The largest piece metadata, as the API's JSON.
pub const MAX_INFO_BYTES: usize = 256 << 10;

/// Refuses metadata no form or listing should carry: too many actions or hosts, or
/// more than [`MAX_INFO_BYTES`] of it (a piece could otherwise make `GET /pieces`
/// answer megabytes).
fn check_size(info: &PieceInfo) -> Result<(), String> {
    if info.actions.len() > MAX_ACTIONS {
        return Err(format!(
            "{} actions declared; at most {MAX_ACTIONS}",
            info.actions.len()
        ));
    }
    if info.allowed_hosts.len() > MAX_HOSTS {
        return Err(format!(
            "{} allowed hosts declared; at most {MAX_HOSTS}",
            info.allowed_hosts.len()
        ));
    }
    let bytes = serde_json::to_vec(info).map_or(usize::MAX, |j| j.len());
    if bytes > MAX_INFO_BYTES {
        return Err(format!(
            "the metadata is {bytes} bytes; at most {MAX_INFO_BYTES}"
        ));
    }
    Ok(())
}

/// Checks one allowlist entry: a host name, or `*.` followed by at least two labels.
fn allowed_host(entry: &str) -> Result<String, String> {
    let entry = entry.to_ascii_lowercase();
    let name = entry.strip_prefix("*.").unwrap_or(&entry);
    let labels_ok = name.split('.').all(|l| {
        !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    let wide_wildcard = entry.starts_with("*.") && !name.contains('.');
    if !labels_ok || name.len() > 253 || wide_wildcard {
        return Err(format!(
            "allowed host {entry:?} must be a host name or *.domain.tld"
        ));
    }
    Ok(entry)
}

fn fixed_prop(name: &str, label: String, kind: PropKind) -> Prop {
    let secret = kind == PropKind::SecretText;
    Prop {
        name: name.into(),
        display_name: label,
        description: None,
        kind,
        required: true,
        secret,
        default_value: None,
    }
}

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

/// Converts credentials for the guest, replacing every field in `withheld` (the fields
/// the host applies itself) with `redacted`.
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
        Credentials::SecretText(s) => wit::Credentials::SecretText(secret("secret_text", s)),
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

/// Cuts `s` to at most `cap` bytes on a character boundary, marking the cut.
pub fn truncate(mut s: String, cap: usize) -> String {
    if s.len() > cap {
        let mut end = cap;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::allowed_host;

    #[test]
    fn absurd_metadata_is_refused() {
        let action = |n: usize, description: String| crate::piece::Action {
            name: format!("a{n}"),
            display_name: format!("A{n}"),
            description,
            props: Vec::new(),
        };
        let mut info = crate::piece::PieceInfo {
            name: "p".into(),
            display_name: "P".into(),
            version: "1".into(),
            description: String::new(),
            auth: crate::piece::AuthSchema::None,
            placement: None,
            allowed_hosts: Vec::new(),
            credential_hosts: Vec::new(),
            actions: (0..10).map(|n| action(n, "does".into())).collect(),
        };
        assert!(super::check_size(&info).is_ok());
        info.actions = (0..201).map(|n| action(n, "does".into())).collect();
        assert!(
            super::check_size(&info)
                .expect_err("refused")
                .contains("201 actions")
        );
        info.actions = vec![action(0, "x".repeat(300 << 10))];
        assert!(
            super::check_size(&info)
                .expect_err("refused")
                .contains("bytes")
        );
    }

    #[test]
    fn allowlist_entries_are_checked() {
        assert_eq!(
            allowed_host("API.OpenAI.com"),
            Ok("api.openai.com".to_string())
        );
        assert_eq!(
            allowed_host("*.googleapis.com"),
            Ok("*.googleapis.com".to_string())
        );
        assert_eq!(allowed_host("localhost"), Ok("localhost".to_string()));
        for bad in [
            "",
            "*.",
            "*",
            "*.com",
            "a..b",
            "evil.com/path",
            "host:443",
            "user@host",
            "-x.com.",
        ] {
            assert!(allowed_host(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
