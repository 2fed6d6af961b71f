//! Builds typed [`Credentials`] from the `name → text` fields a user entered (CLI
//! `--auth k=v`, form posts), checked against the piece's [`AuthSchema`].

use crate::piece::{AuthSchema, Credentials, CustomValue, Prop, PropKind};
use secrecy::SecretString;
use std::collections::BTreeMap;

/// Why entered fields do not make credentials. Never contains a field's value.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthInputError {
    /// A required field is missing or empty.
    #[error("missing required field `{0}`")]
    Missing(String),
    /// A field the schema does not have.
    #[error("unknown field `{field}`; expected one of: {expected}")]
    Unknown {
        /// The field given.
        field: String,
        /// The schema's fields.
        expected: String,
    },
    /// A value of the wrong type.
    #[error("field `{0}` must be {1}")]
    Invalid(String, &'static str),
}

/// Checks `fields` against `schema` and types them. OAuth2 takes `access_token` plus
/// the schema's props (the OAuth2 flow normally provides the token).
pub fn credentials_from_fields(
    schema: &AuthSchema,
    mut fields: BTreeMap<String, String>,
) -> Result<Credentials, AuthInputError> {
    let creds = match schema {
        AuthSchema::None => Credentials::None,
        AuthSchema::SecretText { field } => {
            Credentials::SecretText(secret(take(&mut fields, &field.name)?))
        }
        AuthSchema::Basic { username, password } => Credentials::Basic {
            username: take(&mut fields, &username.name)?,
            password: secret(take(&mut fields, &password.name)?),
        },
        AuthSchema::Oauth2 {
            props,
            scopes,
            token_props,
            ..
        } => Credentials::Oauth2 {
            access_token: secret(take(&mut fields, "access_token")?),
            scopes: scopes.clone(),
            props: typed_props(props, &mut fields)?
                .into_iter()
                .map(|(k, v)| match v {
                    CustomValue::Text(t) => (k, t),
                    CustomValue::Number(n) => (k, n.to_string()),
                    CustomValue::Flag(b) => (k, b.to_string()),
                    CustomValue::Secret(_) => (k, String::new()),
                })
                // The token response's fields the piece asked for, when sent.
                .chain(
                    token_props
                        .iter()
                        .filter_map(|name| Some((name.clone(), fields.remove(name)?))),
                )
                .collect(),
        },
        AuthSchema::Custom { props } => Credentials::Custom(typed_props(props, &mut fields)?),
    };
    if let Some(field) = fields.into_keys().next() {
        return Err(AuthInputError::Unknown {
            field,
            expected: expected_fields(schema).join(", "),
        });
    }
    Ok(creds)
}

/// The field names a schema accepts.
pub fn expected_fields(schema: &AuthSchema) -> Vec<String> {
    match schema {
        AuthSchema::None => Vec::new(),
        AuthSchema::SecretText { field } => vec![field.name.clone()],
        AuthSchema::Basic { username, password } => {
            vec![username.name.clone(), password.name.clone()]
        }
        AuthSchema::Oauth2 {
            props, token_props, ..
        } => std::iter::once("access_token".to_string())
            .chain(props.iter().map(|p| p.name.clone()))
            .chain(token_props.iter().cloned())
            .collect(),
        AuthSchema::Custom { props } => props.iter().map(|p| p.name.clone()).collect(),
    }
}

fn secret(s: String) -> SecretString {
    SecretString::from(s)
}

fn take(fields: &mut BTreeMap<String, String>, name: &str) -> Result<String, AuthInputError> {
    fields
        .remove(name)
        .ok_or_else(|| AuthInputError::Missing(name.to_string()))
}

fn typed_props(
    props: &[Prop],
    fields: &mut BTreeMap<String, String>,
) -> Result<BTreeMap<String, CustomValue>, AuthInputError> {
    let mut out = BTreeMap::new();
    for prop in props {
        let raw = match fields.remove(&prop.name) {
            Some(v) if !v.is_empty() || prop.secret => Some(v),
            _ => prop.default_value.as_ref().map(|d| match d {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
        };
        let Some(raw) = raw else {
            if prop.required {
                return Err(AuthInputError::Missing(prop.name.clone()));
            }
            continue;
        };
        let value = match &prop.kind {
            PropKind::SecretText => CustomValue::Secret(secret(raw)),
            PropKind::Number => CustomValue::Number(
                raw.trim()
                    .parse()
                    .map_err(|_| AuthInputError::Invalid(prop.name.clone(), "a number"))?,
            ),
            PropKind::Checkbox => CustomValue::Flag(match raw.trim() {
                "true" | "1" | "on" | "yes" => true,
                "false" | "0" | "off" | "no" | "" => false,
                _ => return Err(AuthInputError::Invalid(prop.name.clone(), "true or false")),
            }),
            PropKind::StaticDropdown { choices } => {
                if !choices.iter().any(|c| c.value == raw) {
                    return Err(AuthInputError::Invalid(
                        prop.name.clone(),
                        "one of the dropdown's values",
                    ));
                }
                CustomValue::Text(raw)
            }
            PropKind::ShortText | PropKind::LongText => CustomValue::Text(raw),
        };
        out.insert(prop.name.clone(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::piece::Choice;

    fn prop(
        name: &str,
        kind: PropKind,
        required: bool,
        default: Option<serde_json::Value>,
    ) -> Prop {
        Prop {
            name: name.into(),
            display_name: name.into(),
            description: None,
            secret: kind == PropKind::SecretText,
            kind,
            required,
            default_value: default,
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn schema() -> AuthSchema {
        AuthSchema::Custom {
            props: vec![
                prop("host", PropKind::ShortText, true, None),
                prop(
                    "port",
                    PropKind::Number,
                    false,
                    Some(serde_json::json!(5432)),
                ),
                prop("password", PropKind::SecretText, true, None),
                prop("ssl", PropKind::Checkbox, false, None),
                prop(
                    "mode",
                    PropKind::StaticDropdown {
                        choices: vec![Choice {
                            label: "Fast".into(),
                            value: "fast".into(),
                        }],
                    },
                    false,
                    None,
                ),
            ],
        }
    }

    #[test]
    fn custom_fields_are_typed_and_defaulted() {
        let creds = credentials_from_fields(
            &schema(),
            fields(&[("host", "db"), ("password", "pw"), ("ssl", "yes")]),
        )
        .expect("valid");
        let Credentials::Custom(map) = creds else {
            panic!("custom")
        };
        assert!(matches!(map.get("port"), Some(CustomValue::Number(n)) if *n == 5432.0));
        assert!(matches!(map.get("ssl"), Some(CustomValue::Flag(true))));
        assert!(matches!(map.get("password"), Some(CustomValue::Secret(_))));
        assert!(!map.contains_key("mode"));
    }

    #[test]
    fn bad_fields_get_clear_errors_without_values() {
        let check = |pairs: &[(&str, &str)], expect: AuthInputError| {
            assert_eq!(
                credentials_from_fields(&schema(), fields(pairs)).err(),
                Some(expect)
            );
        };
        check(
            &[("password", "pw")],
            AuthInputError::Missing("host".into()),
        );
        check(
            &[("host", "db"), ("password", "pw"), ("port", "five")],
            AuthInputError::Invalid("port".into(), "a number"),
        );
        check(
            &[("host", "db"), ("password", "pw"), ("mode", "slow")],
            AuthInputError::Invalid("mode".into(), "one of the dropdown's values"),
        );
        let err = credentials_from_fields(
            &schema(),
            fields(&[
                ("host", "db"),
                ("password", "hunter2"),
                ("extra", "hunter2"),
            ]),
        )
        .expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `extra`"));
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn oauth2_takes_the_token_its_props_and_the_token_props_it_named() {
        let schema = AuthSchema::Oauth2 {
            auth_url: "https://p.example/authorize".into(),
            token_url: "https://p.example/token".into(),
            scopes: vec!["read".into()],
            pkce: true,
            extra_params: Vec::new(),
            props: vec![prop("region", PropKind::ShortText, true, None)],
            token_auth: crate::piece::TokenAuth::ClientSecretBasic,
            token_props: vec!["instance_url".into()],
        };
        let with = |pairs: &[(&str, &str)]| credentials_from_fields(&schema, fields(pairs));
        let creds = with(&[
            ("access_token", "at"),
            ("region", "eu"),
            ("instance_url", "https://na1.example"),
        ])
        .expect("valid");
        assert_eq!(
            creds.plain_field("instance_url").as_deref(),
            Some("https://na1.example")
        );
        assert_eq!(creds.plain_field("region").as_deref(), Some("eu"));
        // A token prop the provider did not send is simply absent.
        let creds = with(&[("access_token", "at"), ("region", "eu")]).expect("valid");
        assert_eq!(creds.plain_field("instance_url"), None);
        // Anything else is refused.
        assert!(with(&[("access_token", "at"), ("region", "eu"), ("app_id", "A1")]).is_err());
    }
}
