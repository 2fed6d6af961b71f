//! Forms rendered from a piece's schema: a connection's fields from its auth schema
//! (read back into the same [`ValueInput`] the API takes) and a flow step's fields from
//! its action's props (read back into the step's JSON input). Secret text is a password
//! input whose value is never written back into a page; other values are kept when the
//! form is shown again with an error.

use crate::connections::{PropInput, ValueInput};
use crate::piece::{AuthSchema, Prop, PropKind};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The prefix of the inputs that carry the credential's fields.
const FIELD: &str = "f.";
/// The prefix of the inputs that carry a step's props.
pub const STEP_FIELD: &str = "p.";

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
        self.prefixed(FIELD, prop)
    }

    fn prefixed(&self, prefix: &str, prop: &str) -> Option<&SecretString> {
        self.0.get(&format!("{prefix}{prop}"))
    }

    /// Every input but the CSRF token, as query-string pairs (for a link that shows
    /// this form again with these values). Only for forms without secrets.
    pub fn pairs_without_csrf(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .filter(|(k, _)| k.as_str() != "csrf")
            .map(|(k, v)| (k.as_str(), v.expose_secret()))
            .collect()
    }

    /// The names after `prefix` of the inputs that start with it and are not empty
    /// (ticked checkboxes named `prefix` + a key).
    pub fn ticked(&self, prefix: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(_, v)| !v.expose_secret().is_empty())
            .filter_map(|(k, _)| k.strip_prefix(prefix))
            .collect()
    }

    /// These inputs with `name` set to `value`.
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.0.insert(name.to_owned(), SecretString::from(value));
        self
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
        .map(|(key, prop)| field(FIELD, key, prop, kept, false))
        .collect()
}

/// A step's fields for its action's `props`, filled from `kept` (the posted form, or
/// the saved step's input as [`step_values`] gives it), else from defaults. Numbers are
/// text inputs: a value may be a `{{steps.…}}` reference.
pub fn step_fields(props: &[Prop], kept: Option<&Posted>) -> Vec<FieldView> {
    props
        .iter()
        .map(|prop| field(STEP_FIELD, &prop.name, prop, kept, true))
        .collect()
}

/// A saved step's input as the form's values (non-strings as JSON text).
pub fn step_values(props: &[Prop], input: &serde_json::Value) -> Posted {
    let mut values = BTreeMap::new();
    for prop in props {
        let text = match input.get(&prop.name) {
            None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => continue,
            Some(serde_json::Value::Bool(true)) => "on".to_owned(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        values.insert(
            format!("{STEP_FIELD}{}", prop.name),
            SecretString::from(text),
        );
    }
    Posted(values)
}

/// The posted step fields as the step's input: checkboxes as booleans, numbers as
/// numbers (or text holding a reference), text that is a JSON array or object as that
/// JSON, other text as text; empty fields are left out. A secret prop left empty keeps
/// its value from `previous`. The error names the first required field left empty.
pub fn step_input(
    props: &[Prop],
    posted: &Posted,
    previous: Option<&serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    use serde_json::Value;
    let mut input = match previous {
        Some(Value::Object(map)) => map.clone(),
        _ => serde_json::Map::new(),
    };
    for prop in props {
        let text = posted
            .prefixed(STEP_FIELD, &prop.name)
            .map(|v| v.expose_secret().trim().to_owned())
            .unwrap_or_default();
        let secret = prop.secret || matches!(prop.kind, PropKind::SecretText);
        let value = match &prop.kind {
            PropKind::Checkbox => Some(Value::Bool(!text.is_empty())),
            _ if text.is_empty() => None,
            PropKind::Number => Some(
                serde_json::from_str::<serde_json::Number>(&text)
                    .map(Value::Number)
                    .unwrap_or(Value::String(text)),
            ),
            _ if text.starts_with('[') || text.starts_with('{') => {
                Some(serde_json::from_str(&text).unwrap_or(Value::String(text)))
            }
            _ => Some(Value::String(text)),
        };
        match value {
            Some(v) => {
                input.insert(prop.name.clone(), v);
            }
            None if secret && input.contains_key(&prop.name) => {}
            None if prop.required => return Err(format!("{} is required.", prop.display_name)),
            None => {
                input.remove(&prop.name);
            }
        }
    }
    Ok(input)
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

fn field(
    prefix: &str,
    key: &str,
    prop: &Prop,
    kept: Option<&Posted>,
    templated: bool,
) -> FieldView {
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
                .prefixed(prefix, key)
                .map(|v| v.expose_secret().to_owned())
                .unwrap_or_default(),
            None => default.clone().unwrap_or_default(),
        }
    };
    let checked = match kept {
        Some(posted) => posted.prefixed(prefix, key).is_some(),
        None => default.as_deref() == Some("true"),
    };
    let kind = match (&prop.kind, secret) {
        (_, true) => "password",
        (PropKind::LongText, _) => "textarea",
        (PropKind::Number, _) if !templated => "number",
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
        name: format!("{prefix}{key}"),
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
