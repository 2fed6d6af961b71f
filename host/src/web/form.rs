//! Connection forms rendered from a piece's auth schema, and the posted form read back
//! into the same [`ValueInput`] the API takes. Secret text is a password input whose
//! value is never written back into a page; other values are kept when the form is
//! shown again with an error.

use crate::connections::{PropInput, ValueInput};
use crate::piece::{AuthSchema, Prop, PropKind};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The prefix of the inputs that carry the credential's fields.
const FIELD: &str = "f.";

/// A posted form: every input by name, held as secrets until a field is known not to
/// be one.
#[derive(Default, Deserialize)]
#[serde(from = "Vec<(String, SecretString)>")]
pub struct Posted(BTreeMap<String, SecretString>);

impl From<Vec<(String, SecretString)>> for Posted {
    fn from(pairs: Vec<(String, SecretString)>) -> Self {
        Posted(pairs.into_iter().collect())
    }
}

impl Posted {
    /// A non-secret input's text ("" when absent).
    pub fn text(&self, name: &str) -> &str {
        self.0.get(name).map(|v| v.expose_secret()).unwrap_or("")
    }

    fn field(&self, prop: &str) -> Option<&SecretString> {
        self.0.get(&format!("{FIELD}{prop}"))
    }
}

/// An option of a dropdown.
pub struct ChoiceView {
    /// Shown.
    pub label: String,
    /// Posted.
    pub value: String,
    /// Whether it is the current value.
    pub selected: bool,
}

/// One input of the form.
pub struct FieldView {
    /// The input's name.
    pub name: String,
    /// The element id (for the label).
    pub id: String,
    /// The label.
    pub label: String,
    /// Help text.
    pub help: Option<String>,
    /// `text`, `password`, `textarea`, `number`, `checkbox` or `select`.
    pub kind: &'static str,
    /// Whether a value is required.
    pub required: bool,
    /// The value to show (never a secret's).
    pub value: String,
    /// A checkbox's state.
    pub checked: bool,
    /// A dropdown's options.
    pub choices: Vec<ChoiceView>,
}

/// The credential's fields of `schema` (for OAuth2, the props asked before the
/// redirect), filled from `kept` when the form is shown again, else from defaults.
pub fn fields(schema: &AuthSchema, kept: Option<&Posted>) -> Vec<FieldView> {
    props(schema)
        .into_iter()
        .map(|(key, prop)| field(key, prop, kept))
        .collect()
}

/// The schema's fields with the keys they are posted under.
fn props(schema: &AuthSchema) -> Vec<(&str, &Prop)> {
    match schema {
        AuthSchema::None => Vec::new(),
        AuthSchema::SecretText { field } => vec![("secret_text", field)],
        AuthSchema::Basic { username, password } => {
            vec![("username", username), ("password", password)]
        }
        AuthSchema::Oauth2 { props, .. } | AuthSchema::Custom { props } => {
            props.iter().map(|p| (p.name.as_str(), p)).collect()
        }
    }
}

fn field(key: &str, prop: &Prop, kept: Option<&Posted>) -> FieldView {
    let secret = prop.secret || matches!(prop.kind, PropKind::SecretText);
    let default = prop.default_value.as_ref().map(|v| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let value = if secret {
        String::new()
    } else {
        match kept {
            Some(posted) => posted
                .field(key)
                .map(|v| v.expose_secret().to_owned())
                .unwrap_or_default(),
            None => default.clone().unwrap_or_default(),
        }
    };
    let checked = match kept {
        Some(posted) => posted.field(key).is_some(),
        None => default.as_deref() == Some("true"),
    };
    let kind = match (&prop.kind, secret) {
        (_, true) => "password",
        (PropKind::LongText, _) => "textarea",
        (PropKind::Number, _) => "number",
        (PropKind::Checkbox, _) => "checkbox",
        (PropKind::StaticDropdown { .. }, _) => "select",
        _ => "text",
    };
    let choices = match &prop.kind {
        PropKind::StaticDropdown { choices } => choices
            .iter()
            .map(|c| ChoiceView {
                selected: c.value == value,
                label: c.label.clone(),
                value: c.value.clone(),
            })
            .collect(),
        _ => Vec::new(),
    };
    FieldView {
        name: format!("{FIELD}{key}"),
        id: format!("field-{key}"),
        label: prop.display_name.clone(),
        help: prop.description.clone().filter(|d| !d.trim().is_empty()),
        kind,
        required: prop.required && kind != "checkbox",
        value,
        checked,
        choices,
    }
}

/// The posted credential as the API's value, or what is wrong with it (naming the
/// field, never its value).
pub fn value_input(schema: &AuthSchema, posted: &Posted) -> Result<ValueInput, String> {
    let missing = |prop: &Prop| format!("{} is required.", prop.display_name);
    let present = |key: &str| posted.field(key).filter(|v| !v.expose_secret().is_empty());
    match schema {
        AuthSchema::SecretText { field } => Ok(ValueInput::SecretText {
            secret_text: present("secret_text")
                .cloned()
                .ok_or_else(|| missing(field))?,
        }),
        AuthSchema::Basic { username, password } => Ok(ValueInput::Basic {
            username: present("username")
                .map(|v| v.expose_secret().to_owned())
                .ok_or_else(|| missing(username))?,
            password: present("password")
                .cloned()
                .ok_or_else(|| missing(password))?,
        }),
        AuthSchema::Custom { props } | AuthSchema::Oauth2 { props, .. } => {
            let mut values = BTreeMap::new();
            for prop in props {
                let input = match (&prop.kind, present(&prop.name)) {
                    (PropKind::Checkbox, v) => PropInput::Flag(v.is_some()),
                    (_, None) => PropInput::Absent,
                    (PropKind::Number, Some(v)) => PropInput::Number(
                        serde_json::from_str(v.expose_secret().trim())
                            .map_err(|_| format!("{} must be a number.", prop.display_name))?,
                    ),
                    (_, Some(v)) => PropInput::Text(v.clone()),
                };
                values.insert(prop.name.clone(), input);
            }
            Ok(ValueInput::Custom { props: values })
        }
        AuthSchema::None => Err("This piece needs no connection.".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(name: &str, kind: PropKind, secret: bool) -> Prop {
        Prop {
            name: name.into(),
            display_name: name.to_uppercase(),
            description: None,
            kind,
            required: true,
            secret,
            default_value: None,
        }
    }

    fn posted(pairs: &[(&str, &str)]) -> Posted {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), SecretString::from(*v)))
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn secrets_are_never_written_back_and_other_values_are_kept() {
        let schema = AuthSchema::Custom {
            props: vec![
                prop("host", PropKind::ShortText, false),
                prop("password", PropKind::SecretText, true),
                prop("pem", PropKind::LongText, false),
            ],
        };
        let kept = posted(&[("f.host", "db.example"), ("f.password", "hunter2-planted")]);
        let fields = fields(&schema, Some(&kept));
        assert_eq!(fields[0].value, "db.example");
        assert_eq!(fields[1].kind, "password");
        assert_eq!(fields[1].value, "");
        assert_eq!(fields[2].kind, "textarea");
    }

    #[test]
    fn posted_fields_become_the_apis_value() {
        let schema = AuthSchema::Custom {
            props: vec![
                prop("port", PropKind::Number, false),
                prop("tls", PropKind::Checkbox, false),
            ],
        };
        let bad = value_input(&schema, &posted(&[("f.port", "five")]));
        assert_eq!(bad.err().as_deref(), Some("PORT must be a number."));
        let Ok(ValueInput::Custom { props }) =
            value_input(&schema, &posted(&[("f.port", "5432"), ("f.tls", "on")]))
        else {
            panic!("custom value")
        };
        assert!(matches!(props["port"], PropInput::Number(_)));
        assert!(matches!(props["tls"], PropInput::Flag(true)));
        let secret = AuthSchema::SecretText {
            field: prop("key", PropKind::SecretText, true),
        };
        assert_eq!(
            value_input(&secret, &posted(&[])).err().as_deref(),
            Some("KEY is required.")
        );
    }
}
