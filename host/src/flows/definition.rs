//! A flow's definition: named steps, each a piece action with an auth reference and an
//! input template. Checked when saved, so a run only meets problems that depend on
//! data (a deleted connection, a failing service).

use super::template;
use crate::catalog::Pieces;
use crate::piece::AuthSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;

/// The most steps a flow may have.
pub const MAX_STEPS: usize = 50;

/// A flow as the API receives and shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowDefinition {
    /// The flow's name.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Its steps, run in order.
    pub steps: Vec<StepDefinition>,
}

/// One step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDefinition {
    /// Unique within the flow; later steps read this step's output by it.
    #[schema(pattern = r"^[A-Za-z0-9 _-]{1,64}$")]
    pub name: String,
    /// The piece.
    pub piece: String,
    /// The piece's action.
    pub action: String,
    /// `{{connections['external-id']}}`, for pieces that need a credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// The action's input; strings may hold `{{steps.NAME.output…}}`.
    #[serde(default = "empty_object")]
    pub input: Value,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A checked flow: its definition and the external ids its steps reference.
#[derive(Debug, Clone)]
pub struct CheckedFlow {
    /// The definition, as given.
    pub definition: FlowDefinition,
    /// Per step, the referenced external id (if the step has auth).
    pub auth: Vec<Option<String>>,
}

impl CheckedFlow {
    /// The distinct external ids referenced.
    pub fn references(&self) -> Vec<String> {
        let mut refs: Vec<String> = self.auth.iter().flatten().cloned().collect();
        refs.sort();
        refs.dedup();
        refs
    }
}

/// Checks a definition against the catalog. The error names the step and the problem.
pub fn check(definition: FlowDefinition, catalog: &Pieces) -> Result<CheckedFlow, String> {
    let name = definition.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err("name must be 1 to 200 characters".into());
    }
    if definition.steps.is_empty() || definition.steps.len() > MAX_STEPS {
        return Err(format!("a flow has 1 to {MAX_STEPS} steps"));
    }
    let mut seen: HashSet<&str> = HashSet::new();
    let mut auth = Vec::with_capacity(definition.steps.len());
    for (i, step) in definition.steps.iter().enumerate() {
        let at = |msg: String| format!("step {} (`{}`): {msg}", i + 1, step.name);
        let valid_name = !step.name.is_empty()
            && step.name.len() <= 64
            && step
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b' '));
        if !valid_name {
            return Err(at(
                "a step name is 1 to 64 letters, digits, spaces, '-' or '_'".into(),
            ));
        }
        let piece = catalog
            .get(&step.piece)
            .ok_or_else(|| at(format!("Piece not found: {}", step.piece)))?;
        if !piece.info().actions.iter().any(|a| a.name == step.action) {
            return Err(at(format!(
                "piece {} has no action `{}`",
                step.piece, step.action
            )));
        }
        let needs_auth = !matches!(piece.info().auth, AuthSchema::None);
        auth.push(match (&step.auth, needs_auth) {
            (Some(text), true) => {
                Some(template::parse_connection_ref(text).map_err(|e| at(format!("auth: {e}")))?)
            }
            (None, true) => {
                return Err(at(format!(
                    "piece {} needs a connection: set auth to {{{{connections['…']}}}}",
                    step.piece
                )));
            }
            (Some(_), false) => {
                return Err(at(format!("piece {} takes no connection", step.piece)));
            }
            (None, false) => None,
        });
        if !step.input.is_object() {
            return Err(at("input must be a JSON object".into()));
        }
        for referenced in
            template::step_references(&step.input).map_err(|e| at(format!("input: {e}")))?
        {
            if !seen.contains(referenced.as_str()) {
                return Err(at(format!(
                    "input reads step `{referenced}`, which does not run before this one"
                )));
            }
        }
        if !seen.insert(step.name.as_str()) {
            return Err(at("two steps have this name".into()));
        }
    }
    Ok(CheckedFlow {
        definition: FlowDefinition {
            name: name.to_owned(),
            steps: definition.steps,
        },
        auth,
    })
}
