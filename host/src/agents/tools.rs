//! An agent's tools as MCP shows them: one per allowed (connection, action), with a
//! name an MCP client accepts (`^[A-Za-z0-9_-]{1,64}$`, unique), a title and
//! description from the action and the connection, and a JSON Schema of the action's
//! props.

use crate::piece::{Action, Prop, PropKind};
use serde_json::{Map, Value, json};

/// The longest tool name MCP clients accept.
const MAX_NAME: usize = 64;

/// A tool name from a connection's external id and an action's name,
/// `EXTERNALID__ACTION`, the same whatever other tools the agent has. When that text is
/// not one MCP clients accept as is (another character than letters, digits, `_` or
/// `-`, or longer than [`MAX_NAME`]), the others become `_`, it is cut, and a short
/// hash of the connection's id and the action makes it unique: two connections whose
/// ids clean to the same text never share a name.
pub fn tool_name(connection_id: &str, external_id: &str, action: &str) -> String {
    use sha2::Digest as _;
    let plain = format!("{external_id}__{action}");
    let acceptable = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if plain.len() <= MAX_NAME && plain.chars().all(acceptable) {
        return plain;
    }
    let digest = sha2::Sha256::digest(format!("{connection_id}\n{action}").as_bytes());
    let suffix = format!("-{}", &hex::encode(digest)[..8]);
    let head: String = plain
        .chars()
        .map(|c| if acceptable(c) { c } else { '_' })
        .take(MAX_NAME - suffix.len())
        .collect();
    format!("{head}{suffix}")
}

/// The JSON Schema of an action's input: an object of its props.
pub fn input_schema(action: &Action) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for prop in &action.props {
        properties.insert(prop.name.clone(), prop_schema(prop));
        if prop.required {
            required.push(Value::String(prop.name.clone()));
        }
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn prop_schema(prop: &Prop) -> Value {
    let mut schema = match &prop.kind {
        PropKind::ShortText | PropKind::LongText | PropKind::SecretText => {
            json!({"type": "string"})
        }
        PropKind::Number => json!({"type": "number"}),
        PropKind::Checkbox => json!({"type": "boolean"}),
        PropKind::StaticDropdown { choices } => json!({
            "type": "string",
            "enum": choices.iter().map(|c| c.value.clone()).collect::<Vec<_>>(),
        }),
    };
    let described = match &prop.description {
        Some(d) => format!("{}: {d}", prop.display_name),
        None => prop.display_name.clone(),
    };
    schema["description"] = Value::String(described);
    if let Some(default) = &prop.default_value {
        schema["default"] = default.clone();
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::piece::Choice;

    #[test]
    fn names_are_what_clients_accept_stable_and_apart() {
        assert_eq!(
            tool_name("c1", "slack-main", "send_message"),
            "slack-main__send_message"
        );
        let dotted = tool_name("c1", "db.prod", "query");
        assert!(
            dotted.starts_with("db_prod__query-") && dotted.len() == 23,
            "{dotted}"
        );
        // Another connection whose external id cleans to the same text.
        assert_eq!(tool_name("c2", "db_prod", "query"), "db_prod__query");
        assert_eq!(tool_name("c1", "db.prod", "query"), dotted, "stable");
        let long = tool_name("c3", &"x".repeat(100), "a");
        assert_eq!(long.len(), 64);
        assert_ne!(long, tool_name("c4", &"x".repeat(100), "a"));
    }

    #[test]
    fn the_schema_types_each_prop_and_lists_the_required() {
        let prop = |name: &str, kind: PropKind, required: bool| Prop {
            name: name.into(),
            display_name: name.to_uppercase(),
            description: None,
            kind,
            required,
            secret: false,
            default_value: None,
        };
        let action = Action {
            name: "send".into(),
            display_name: "Send".into(),
            description: "Sends.".into(),
            props: vec![
                prop("text", PropKind::LongText, true),
                prop("count", PropKind::Number, false),
                prop("loud", PropKind::Checkbox, false),
                prop(
                    "tone",
                    PropKind::StaticDropdown {
                        choices: vec![Choice {
                            label: "Calm".into(),
                            value: "calm".into(),
                        }],
                    },
                    false,
                ),
            ],
        };
        let schema = input_schema(&action);
        assert_eq!(schema["required"], json!(["text"]));
        assert_eq!(schema["properties"]["text"]["type"], "string");
        assert_eq!(schema["properties"]["count"]["type"], "number");
        assert_eq!(schema["properties"]["loud"]["type"], "boolean");
        assert_eq!(schema["properties"]["tone"]["enum"], json!(["calm"]));
        assert_eq!(schema["additionalProperties"], false);
    }
}
