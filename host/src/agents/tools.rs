//! An agent's tools as MCP shows them: one per allowed (connection, action), with a
//! name an MCP client accepts (`^[A-Za-z0-9_-]{1,64}$`, unique), a title and
//! description from the action and the connection, and a JSON Schema of the action's
//! props.

use crate::piece::{Action, Prop, PropKind};
use serde_json::{Map, Value, json};

/// The longest tool name MCP clients accept.
const MAX_NAME: usize = 64;

/// A tool name from a connection's external id and an action's name: other characters
/// become `_`, cut to [`MAX_NAME`], and made unique among `taken` with a `-N` suffix.
pub fn tool_name(external_id: &str, action: &str, taken: &[String]) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let base: String = format!("{}__{}", clean(external_id), clean(action))
        .chars()
        .take(MAX_NAME)
        .collect();
    if !taken.contains(&base) {
        return base;
    }
    (2..)
        .map(|n| {
            let suffix = format!("-{n}");
            let head: String = base.chars().take(MAX_NAME - suffix.len()).collect();
            format!("{head}{suffix}")
        })
        .find(|name| !taken.contains(name))
        .unwrap_or(base)
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
    fn names_are_what_clients_accept_and_unique() {
        assert_eq!(
            tool_name("slack-main", "send_message", &[]),
            "slack-main__send_message"
        );
        assert_eq!(tool_name("db.prod", "query", &[]), "db_prod__query");
        let long = tool_name(&"x".repeat(100), "a", &[]);
        assert_eq!(long.len(), 64);
        let taken = vec!["a_b__c".to_owned()];
        assert_eq!(tool_name("a.b", "c", &taken), "a_b__c-2");
        let full = vec![long.clone()];
        let second = tool_name(&"x".repeat(100), "a", &full);
        assert!(second.len() <= 64 && second.ends_with("-2") && second != long);
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
