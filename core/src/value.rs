//! A connection's credential value: as the API receives it, as the vault seals it, and
//! as the sandbox receives it ([`Credentials`]). `Debug` shows field names only.

use crate::auth_input::credentials_from_fields;
use crate::piece::{AuthSchema, Credentials};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// The `value` of a create or reconnect request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ValueInput {
    /// `{"type":"secret_text","secret_text":…}`
    SecretText {
        /// The secret.
        #[schema(value_type = String)]
        secret_text: SecretString,
    },
    /// `{"type":"basic","username":…,"password":…}`
    Basic {
        /// Username.
        username: String,
        /// Password.
        #[schema(value_type = String)]
        password: SecretString,
    },
    /// `{"type":"custom","props":{…}}`
    Custom {
        /// The piece's fields by name: strings, numbers, booleans or null (absent).
        #[schema(value_type = BTreeMap<String, serde_json::Value>)]
        props: BTreeMap<String, PropInput>,
    },
}

/// One custom prop as the API receives it. Any text may be a credential (a password,
/// a key, a PEM), so text is held as a [`SecretString`] from deserialization on.
pub enum PropInput {
    /// Text.
    Text(SecretString),
    /// A number, as written.
    Number(serde_json::Number),
    /// A boolean.
    Flag(bool),
    /// `null`: the prop is left out.
    Absent,
}

impl<'de> Deserialize<'de> for PropInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PropInput;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_str<E>(self, v: &str) -> Result<PropInput, E> {
                Ok(PropInput::Text(SecretString::from(v)))
            }
            fn visit_string<E>(self, v: String) -> Result<PropInput, E> {
                Ok(PropInput::Text(SecretString::from(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<PropInput, E> {
                Ok(PropInput::Flag(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<PropInput, E> {
                Ok(PropInput::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<PropInput, E> {
                Ok(PropInput::Number(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<PropInput, E> {
                serde_json::Number::from_f64(v)
                    .map(PropInput::Number)
                    .ok_or_else(|| E::custom("a number must be finite"))
            }
            fn visit_unit<E>(self) -> Result<PropInput, E> {
                Ok(PropInput::Absent)
            }
            fn visit_none<E>(self) -> Result<PropInput, E> {
                Ok(PropInput::Absent)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl std::fmt::Debug for ValueInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueInput::SecretText { .. } => f.write_str("SecretText(***)"),
            ValueInput::Basic { .. } => f.write_str("Basic(***)"),
            ValueInput::Custom { props } => f
                .debug_tuple("Custom")
                .field(&props.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

impl ValueInput {
    /// The auth kind this value is for.
    pub fn kind(&self) -> &'static str {
        match self {
            ValueInput::SecretText { .. } => "secret_text",
            ValueInput::Basic { .. } => "basic",
            ValueInput::Custom { .. } => "custom",
        }
    }
}

/// Where a session's fields are kept in a value: under their names with this prefix
/// (no schema field's name holds it).
const SESSION: char = '~';

/// A credential value checked against its piece's schema: the schema's field names
/// mapped to their text, host-only OAuth2 fields under `@` names, and a session's
/// fields under `~` names. This is what the vault seals.
pub struct ConnectionValue {
    fields: BTreeMap<String, SecretString>,
}

impl std::fmt::Debug for ConnectionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionValue")
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a value does not fit a piece. Never contains a value.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ValueError {
    /// The value is of another auth kind than the piece's.
    #[error("piece {piece} takes {expected} credentials, not {given}")]
    WrongKind {
        /// The piece.
        piece: String,
        /// The piece's kind.
        expected: &'static str,
        /// The value's kind.
        given: &'static str,
    },
    /// The fields do not satisfy the schema.
    #[error("{0}")]
    Fields(#[from] crate::auth_input::AuthInputError),
    /// Sealed bytes that are not a value (a bug or a foreign row).
    #[error("the stored credential is not readable")]
    Unreadable,
}

impl ConnectionValue {
    /// Checks `input` against the piece's schema and returns the value with the
    /// credentials it makes (built once here so a bad value is refused before any
    /// call).
    pub fn from_input(
        piece: &str,
        schema: &AuthSchema,
        input: ValueInput,
    ) -> Result<(ConnectionValue, Credentials), ValueError> {
        let wrong = |given| ValueError::WrongKind {
            piece: piece.to_owned(),
            expected: schema.kind(),
            given,
        };
        let kind = input.kind();
        let mut fields = BTreeMap::new();
        match (schema, input) {
            (AuthSchema::SecretText { field }, ValueInput::SecretText { secret_text }) => {
                fields.insert(field.name.clone(), secret_text);
            }
            (
                AuthSchema::Basic {
                    username: u,
                    password: p,
                },
                ValueInput::Basic { username, password },
            ) => {
                fields.insert(u.name.clone(), SecretString::from(username));
                fields.insert(p.name.clone(), password);
            }
            (AuthSchema::Custom { .. }, ValueInput::Custom { props }) => {
                for (name, value) in props {
                    // `@` and `~` names are the host's own (an OAuth2 client, a
                    // session): never taken from a request.
                    if name.starts_with(['@', SESSION]) {
                        return Err(ValueError::Fields(
                            crate::auth_input::AuthInputError::Unknown {
                                field: name,
                                expected: crate::auth_input::expected_fields(schema).join(", "),
                            },
                        ));
                    }
                    let text = match value {
                        PropInput::Text(s) => s,
                        PropInput::Number(n) => SecretString::from(n.to_string()),
                        PropInput::Flag(b) => SecretString::from(b.to_string()),
                        PropInput::Absent => continue,
                    };
                    fields.insert(name, text);
                }
            }
            _ => return Err(wrong(kind)),
        }
        let value = ConnectionValue { fields };
        let creds = value.credentials(schema)?;
        Ok((value, creds))
    }

    /// An OAuth2 value: the access token and the schema's props (what the piece
    /// receives), plus host-only fields under `@` names that never reach the piece:
    /// `@refresh_token`, and `@client_id` / `@client_secret` when the connection brings
    /// its own OAuth client.
    pub fn oauth2(
        access_token: SecretString,
        host_only: BTreeMap<&'static str, SecretString>,
        props: BTreeMap<String, String>,
    ) -> Self {
        let mut fields: BTreeMap<String, SecretString> = props
            .into_iter()
            .map(|(k, v)| (k, SecretString::from(v)))
            .collect();
        fields.insert("access_token".into(), access_token);
        for (k, v) in host_only {
            fields.insert(format!("@{k}"), v);
        }
        ConnectionValue { fields }
    }

    /// A host-only OAuth2 field (`refresh_token`, `client_id`, `client_secret`).
    pub fn host_only(&self, name: &str) -> Option<&SecretString> {
        self.fields.get(&format!("@{name}"))
    }

    /// The piece-facing props of an OAuth2 value (everything but the token and `@` fields).
    pub fn props(&self) -> BTreeMap<String, String> {
        self.fields
            .iter()
            .filter(|(k, _)| !k.starts_with('@') && k.as_str() != "access_token")
            .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
            .collect()
    }

    /// The typed credentials for a call: the entered fields and, for a custom value
    /// with a session, the session's fields as secrets (host-only `@` fields left out).
    pub fn credentials(&self, schema: &AuthSchema) -> Result<Credentials, ValueError> {
        let mut creds = self.entered_credentials(schema)?;
        creds.add_session(self.session_fields());
        Ok(creds)
    }

    /// The credentials of the entered fields alone: what opens a session.
    pub fn entered_credentials(&self, schema: &AuthSchema) -> Result<Credentials, ValueError> {
        let plain = self
            .fields
            .iter()
            .filter(|(k, _)| !k.starts_with(['@', SESSION]))
            .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
            .collect();
        Ok(credentials_from_fields(schema, plain)?)
    }

    /// The value with a new session's fields in place of the last session's.
    pub fn with_session(&self, session: &[(String, SecretString)]) -> ConnectionValue {
        let mut fields: BTreeMap<String, SecretString> = self
            .fields
            .iter()
            .filter(|(k, _)| !k.starts_with(SESSION))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, value) in session {
            fields.insert(format!("{SESSION}{name}"), value.clone());
        }
        ConnectionValue { fields }
    }

    /// The current session's fields, by name.
    fn session_fields(&self) -> impl Iterator<Item = (&str, &SecretString)> {
        self.fields
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(SESSION)?, v)))
    }

    /// The bytes to seal (JSON of the fields).
    pub fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        let plain: BTreeMap<&str, &str> = self
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret()))
            .collect();
        Zeroizing::new(serde_json::to_vec(&plain).unwrap_or_default())
    }

    /// The value from opened bytes.
    pub fn from_plaintext(bytes: &[u8]) -> Result<ConnectionValue, ValueError> {
        let plain: BTreeMap<String, String> =
            serde_json::from_slice(bytes).map_err(|_| ValueError::Unreadable)?;
        Ok(ConnectionValue {
            fields: plain
                .into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::piece::{CustomValue, Prop, PropKind};

    fn prop(name: &str, secret: bool) -> Prop {
        Prop {
            name: name.into(),
            display_name: name.into(),
            description: None,
            kind: PropKind::ShortText,
            required: true,
            secret,
            default_value: None,
        }
    }

    #[test]
    fn wrong_kind_and_round_trip() {
        let schema = AuthSchema::SecretText {
            field: prop("secret_text", true),
        };
        let basic: ValueInput =
            serde_json::from_str(r#"{"type":"basic","username":"u","password":"p"}"#)
                .expect("json");
        let err = ConnectionValue::from_input("openai", &schema, basic).expect_err("kind");
        assert_eq!(
            err.to_string(),
            "piece openai takes secret_text credentials, not basic"
        );
        let input: ValueInput =
            serde_json::from_str(r#"{"type":"secret_text","secret_text":"sk-plant"}"#)
                .expect("json");
        assert!(!format!("{input:?}").contains("sk-plant"));
        let (value, creds) = ConnectionValue::from_input("openai", &schema, input).expect("ok");
        assert!(!format!("{value:?} {creds:?}").contains("sk-plant"));
        let back = ConnectionValue::from_plaintext(&value.to_plaintext()).expect("back");
        assert_eq!(
            back.credentials(&schema).expect("creds").secret_values(),
            vec!["sk-plant".to_string()]
        );
    }

    #[test]
    fn a_session_adds_secret_fields_to_calls_but_not_to_what_opens_the_next() {
        let schema = AuthSchema::Custom {
            props: vec![prop("user", false), prop("password", true)],
        };
        let input: ValueInput = serde_json::from_str(
            r#"{"type":"custom","props":{"user":"ann","password":"pw-plant"}}"#,
        )
        .expect("json");
        let (value, _) = ConnectionValue::from_input("crm", &schema, input).expect("ok");
        let first = value.with_session(&[("token".into(), SecretString::from("s-1"))]);
        let second = first.with_session(&[("token".into(), SecretString::from("s-2"))]);
        let back = ConnectionValue::from_plaintext(&second.to_plaintext()).expect("back");
        let Credentials::Custom(fields) = back.credentials(&schema).expect("creds") else {
            panic!("not custom");
        };
        let token = fields.get("token").and_then(|v| match v {
            CustomValue::Secret(s) => Some(s.expose_secret().to_owned()),
            _ => None,
        });
        assert_eq!(token.as_deref(), Some("s-2"));
        assert!(!format!("{back:?}").contains("s-2"));
        let Credentials::Custom(entered) = back.entered_credentials(&schema).expect("entered")
        else {
            panic!("not custom");
        };
        assert_eq!(
            entered.keys().collect::<Vec<_>>(),
            ["password", "user"],
            "the session stays out of what opens the next one"
        );
        // A request cannot plant a session or host-only field of its own.
        for name in ["~token", "@refresh_token"] {
            let forged: ValueInput = serde_json::from_str(&format!(
                r#"{{"type":"custom","props":{{"user":"ann","password":"p","{name}":"x"}}}}"#
            ))
            .expect("json");
            let err = ConnectionValue::from_input("crm", &schema, forged)
                .map(drop)
                .expect_err(name);
            assert!(err.to_string().contains("unknown field"), "{err}");
        }
    }

    #[test]
    fn custom_props_take_scalars_only() {
        let nested =
            serde_json::from_str::<ValueInput>(r#"{"type":"custom","props":{"host":{"a":1}}}"#)
                .map(drop)
                .expect_err("nested");
        assert!(
            nested
                .to_string()
                .contains("a string, number, boolean or null"),
            "{nested}"
        );
        let scalars: ValueInput = serde_json::from_str(
            r#"{"type":"custom","props":{"host":"db","port":5432,"tls":true,"x":null}}"#,
        )
        .expect("scalars");
        let schema = AuthSchema::Custom {
            props: vec![prop("host", false), prop("port", false), prop("tls", false)],
        };
        let made = ConnectionValue::from_input("postgres", &schema, scalars).map(drop);
        assert!(made.is_ok(), "{made:?}");
        let unknown = serde_json::from_str::<ValueInput>(r#"{"type":"custom","props":{},"x":1}"#);
        assert!(unknown.is_err());
    }
}
