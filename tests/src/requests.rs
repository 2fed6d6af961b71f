//! Typed requests for the API's most used operations: a connection or a flow written
//! once as a value, sent by [`Client`], and the created resource read back as a type.
//! A refusal comes back as the server's [`Answer`], for the test to look at.

use crate::client::{Answer, Body, Client};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// `POST /connections`.
#[derive(Debug, Clone, Serialize)]
pub struct NewConnection {
    /// The piece.
    pub piece: String,
    /// The name users see.
    pub display_name: String,
    /// The id flows use.
    pub external_id: String,
    /// The credential, as the API takes it (`{"type": …, …}`).
    pub value: Value,
}

impl NewConnection {
    /// An API-key connection of `piece` named `external_id`.
    pub fn secret_text(piece: &str, external_id: &str, key: &str) -> NewConnection {
        NewConnection {
            piece: piece.to_owned(),
            display_name: external_id.to_owned(),
            external_id: external_id.to_owned(),
            value: json!({"type": "secret_text", "secret_text": key}),
        }
    }

    /// The same with another display name.
    pub fn named(mut self, display_name: &str) -> NewConnection {
        display_name.clone_into(&mut self.display_name);
        self
    }
}

/// A connection as the API shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct Connection {
    /// Internal id.
    pub id: String,
    /// The id flows use.
    pub external_id: String,
    /// The name users see.
    pub display_name: String,
    /// `active`, `expired` or `error`.
    pub status: String,
}

/// One step of a [`NewFlow`].
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Its name (later steps read `{{steps.NAME.output}}`).
    pub name: String,
    /// The piece.
    pub piece: String,
    /// The action.
    pub action: String,
    /// `{{connections['…']}}`, when the step uses one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// The action's input.
    pub input: Value,
}

impl Step {
    /// Step `name` calling `piece`'s `action` with no connection and an empty input.
    pub fn new(name: &str, piece: &str, action: &str) -> Step {
        Step {
            name: name.to_owned(),
            piece: piece.to_owned(),
            action: action.to_owned(),
            auth: None,
            input: json!({}),
        }
    }

    /// The same step using the connection `external_id`.
    pub fn using(mut self, external_id: &str) -> Step {
        self.auth = Some(format!("{{{{connections['{external_id}']}}}}"));
        self
    }

    /// The same step with `input`.
    pub fn input(mut self, input: Value) -> Step {
        self.input = input;
        self
    }
}

/// `POST /flows`.
#[derive(Debug, Clone, Serialize)]
pub struct NewFlow {
    /// Its name.
    pub name: String,
    /// Its steps, in order.
    pub steps: Vec<Step>,
}

impl NewFlow {
    /// A flow of `steps` named `name`.
    pub fn new(name: &str, steps: Vec<Step>) -> NewFlow {
        NewFlow {
            name: name.to_owned(),
            steps,
        }
    }
}

/// A flow as the API shows it (the fields tests read).
#[derive(Debug, Clone, Deserialize)]
pub struct Flow {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

impl Client {
    /// Creates a connection; the refusal's answer if it is not created.
    pub async fn create_connection(&self, new: &NewConnection) -> Result<Connection, Answer> {
        self.created(self.request("POST", "/connections", json_of(new)).await)
    }

    /// Creates a flow; the refusal's answer if it is not created.
    pub async fn create_flow(&self, new: &NewFlow) -> Result<Flow, Answer> {
        self.created(self.request("POST", "/flows", json_of(new)).await)
    }

    /// Runs flow `id`: the run's report, or the refusal's answer.
    pub async fn run_flow(&self, id: &str) -> Result<Value, Answer> {
        let answer = self
            .request("POST", &format!("/flows/{id}/runs"), Body::Empty)
            .await;
        if answer.status == 200 {
            Ok(answer.body)
        } else {
            Err(answer)
        }
    }

    fn created<T: for<'de> Deserialize<'de>>(&self, answer: Answer) -> Result<T, Answer> {
        if answer.status != 201 {
            return Err(answer);
        }
        Ok(serde_json::from_value(answer.body.clone())
            .unwrap_or_else(|e| panic!("not the created resource ({e}): {}", answer.body)))
    }
}

fn json_of(value: &impl Serialize) -> Body {
    Body::Json(serde_json::to_value(value).expect("a request serialises"))
}
