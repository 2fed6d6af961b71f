//! Agents: AI assistants that use a project's connections through MCP tools. An agent
//! token (`tfa_<id>_<secret>`, shown once) is bound to one project and to the
//! (connection, action) pairs its agent may call; each is a tool ([`tools`]). A call
//! runs the action in the sandbox with the connection's credentials exactly as a flow's
//! step does (refreshed, or a session opened, when due), so the agent and its model
//! never see a credential; the use is audited "used by agent NAME". A revoked token is
//! refused on its next request on every replica: tokens are read from the store on
//! each request, never cached.

pub mod tools;

use crate::connections::{ConnectionError, Connections};
use crate::flows::run::{Caller, StepError, call_action, outcome_word, resolve, revision_of};
use crate::oauth::OAuth;
use crate::store::{
    AgentRow, AgentTool, BatchFuture, ConnectionRow, GroupCommit, Store, StoreError, UseRecord,
    now_ms,
};
use secrecy::SecretString;
use serde_json::Value;
use std::sync::Arc;

/// The longest agent name.
const MAX_NAME_CHARS: usize = 100;
/// The most tools one agent may have.
pub const MAX_TOOLS: usize = 100;

/// Why an agent operation failed. No variant carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The request is wrong (empty name, unknown connection or action, …).
    #[error("{0}")]
    Invalid(String),
    /// The host failed (no randomness).
    #[error("{what}: {source}")]
    Host {
        /// What it was doing.
        what: &'static str,
        /// Why it failed.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An authenticated agent: its token's id, project and name.
#[derive(Debug, Clone)]
pub struct Agent {
    /// The token's public id.
    pub id: String,
    /// The project it acts in.
    pub project: String,
    /// Its name.
    pub name: String,
}

/// A (connection, action) pair asked for when making an agent token.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolRequest {
    /// The connection: its external id or id.
    pub connection: String,
    /// The action of the connection's piece.
    pub action: String,
}

/// One tool of an agent, ready to list or call.
#[derive(Debug, Clone)]
pub struct Tool {
    /// The name MCP clients call it by.
    pub name: String,
    /// `Action (Connection)`.
    pub title: String,
    /// What it does, and with which connection.
    pub description: String,
    /// JSON Schema of its input.
    pub input_schema: Value,
    /// The connection it uses.
    pub connection: ConnectionRow,
    /// The action it runs.
    pub action: String,
}

/// The agents service. Cheap to clone.
#[derive(Clone)]
pub struct Agents {
    connections: Connections,
    oauth: OAuth,
    /// Calls' records, group-committed: one write transaction per batch, not per call
    /// (on SQLite a write per call held every call behind the others).
    call_log: Arc<GroupCommit<UseRecord, ()>>,
}

/// Writes a batch of calls' records; if the batch fails, each record on its own, so one
/// bad record does not lose the others' audit (the calls have already run).
fn write_calls(store: Store, calls: Vec<UseRecord>) -> BatchFuture<()> {
    Box::pin(async move {
        let batch = store.record_agent_calls(&calls).await;
        if batch.is_ok() || calls.len() == 1 {
            return batch;
        }
        let mut failed = None;
        for call in &calls {
            if let Err(e) = store.record_agent_calls(std::slice::from_ref(call)).await {
                tracing::error!(agent = ?call.agent_id, error = %e, "recording an agent's call failed");
                failed = Some(e);
            }
        }
        match failed {
            None => Ok(vec![(); calls.len()]),
            Some(e) => Err(e),
        }
    })
}

impl Agents {
    /// The service over the connections (and their OAuth2 refresh).
    pub fn new(connections: Connections, oauth: OAuth) -> Self {
        Agents {
            connections,
            oauth,
            call_log: Arc::new(GroupCommit::new("agent calls", write_calls)),
        }
    }

    fn store(&self) -> &Store {
        self.connections.store()
    }

    /// Makes an agent token in `project` allowed `tools`, on behalf of the API token
    /// `created_by` (revoking it revokes this one; `None`: an admin in Settings);
    /// returns its row, its tools and the token, to show once. Errors name a tool by
    /// its place in the list, never its text.
    pub async fn create(
        &self,
        project: &str,
        created_by: Option<&str>,
        name: &str,
        requested: &[ToolRequest],
    ) -> Result<(AgentRow, Vec<AgentTool>, SecretString), AgentError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(AgentError::Invalid(format!(
                "name must be 1 to {MAX_NAME_CHARS} characters"
            )));
        }
        if requested.is_empty() || requested.len() > MAX_TOOLS {
            return Err(AgentError::Invalid(format!(
                "tools must list 1 to {MAX_TOOLS} (connection, action) pairs"
            )));
        }
        let catalog = self.connections.catalog();
        let mut tools: Vec<AgentTool> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for (i, r) in requested.iter().enumerate() {
            let row = match self.connections.get(project, &r.connection).await {
                Ok(row) => row,
                Err(ConnectionError::NotFound) => {
                    return Err(AgentError::Invalid(format!(
                        "tools[{i}].connection: Connection not found"
                    )));
                }
                Err(ConnectionError::Store(e)) => return Err(e.into()),
                Err(e) => return Err(AgentError::Invalid(e.to_string())),
            };
            let has_action = catalog
                .get(&row.piece)
                .is_some_and(|p| p.info().actions.iter().any(|a| a.name == r.action));
            if !has_action {
                return Err(AgentError::Invalid(format!(
                    "tools[{i}].action: piece {} has no such action",
                    row.piece
                )));
            }
            let tool = AgentTool {
                connection_id: row.id.clone(),
                action: r.action.clone(),
            };
            if tools.contains(&tool) {
                continue;
            }
            let name = tools::tool_name(&row.id, &row.external_id, &r.action);
            if names.contains(&name) {
                return Err(AgentError::Invalid(format!(
                    "tools[{i}]: its tool name {name} is another tool's"
                )));
            }
            names.push(name);
            tools.push(tool);
        }
        let token = crate::tokens::generate_with(crate::tokens::AGENT_PREFIX).map_err(|e| {
            AgentError::Host {
                what: "drawing an agent token",
                source: e.into(),
            }
        })?;
        let row = AgentRow {
            id: token.id.clone(),
            project_id: project.to_owned(),
            created_by: created_by.map(str::to_owned),
            name: name.to_owned(),
            secret_hash: token.secret_hash.to_vec(),
            created_at: now_ms(),
            last_used_at: None,
            revoked_at: None,
        };
        self.store().create_agent(&row, &tools).await?;
        Ok((row, tools, token.token))
    }

    /// The agent a bearer token is, if it is a live agent token.
    pub async fn authenticate(&self, bearer: &str) -> Result<Option<Agent>, AgentError> {
        let Some((id, secret)) = crate::tokens::parse_with(crate::tokens::AGENT_PREFIX, bearer)
        else {
            return Ok(None);
        };
        let Some(row) = self.store().agent(id).await? else {
            return Ok(None);
        };
        if row.revoked_at.is_some() || !crate::tokens::verify(secret, &row.secret_hash) {
            return Ok(None);
        }
        Ok(Some(Agent {
            id: row.id,
            project: row.project_id,
            name: row.name,
        }))
    }

    /// The project's agent tokens with their tools, newest first.
    pub async fn list(&self, project: &str) -> Result<Vec<(AgentRow, Vec<AgentTool>)>, AgentError> {
        let mut out = Vec::new();
        for row in self.store().agents_of(project).await? {
            let tools = self.store().agent_tools(project, &row.id).await?;
            out.push((row, tools));
        }
        Ok(out)
    }

    /// Revokes the project's agent token `id`; `false` when it has no live one.
    pub async fn revoke(&self, project: &str, id: &str) -> Result<bool, AgentError> {
        Ok(self.store().revoke_agent(project, id).await?)
    }

    /// The agent's tools as they stand: a tool whose connection was deleted or whose
    /// piece or action is gone is left out.
    pub async fn tools(&self, agent: &Agent) -> Result<Vec<Tool>, AgentError> {
        let catalog = self.connections.catalog();
        let mut out: Vec<Tool> = Vec::new();
        for (row, action_name) in self
            .store()
            .agent_tool_rows(&agent.project, &agent.id)
            .await?
        {
            let Some(piece) = catalog.get(&row.piece) else {
                continue;
            };
            let Some(action) = piece.info().actions.iter().find(|a| a.name == action_name) else {
                continue;
            };
            out.push(Tool {
                name: tools::tool_name(&row.id, &row.external_id, &action.name),
                title: format!("{} ({})", action.display_name, row.display_name),
                description: format!(
                    "{} Uses the {} connection “{}”.",
                    action.description,
                    piece.info().display_name,
                    row.display_name
                ),
                input_schema: tools::input_schema(action),
                connection: row,
                action: action.name.clone(),
            });
        }
        Ok(out)
    }

    /// Calls `tool` for `agent` with `input`: the action runs in the sandbox with the
    /// connection's credentials, as a flow's step would; the use is recorded.
    pub async fn call(
        &self,
        agent: &Agent,
        tool: &Tool,
        input: &Value,
    ) -> Result<Value, StepError> {
        let catalog = self.connections.catalog();
        let piece = catalog
            .get(&tool.connection.piece)
            .cloned()
            .ok_or_else(|| StepError::piece_not_found(&tool.connection.piece))?;
        let resolved = match revision_of(&self.connections, &agent.project).await {
            Ok(at) => {
                resolve(
                    &self.oauth,
                    &agent.project,
                    at,
                    &tool.connection.external_id,
                    &tool.connection.piece,
                )
                .await
            }
            Err(e) => Err(e),
        }
        .and_then(|(row, creds)| {
            // Deleted and made again under the same external id since the tools were
            // read: not the connection this agent was given.
            if row.id == tool.connection.id {
                Ok((row, creds))
            } else {
                Err(StepError::not_found())
            }
        });
        let (row, status, answer) = match resolved {
            Ok((row, creds)) => {
                let caller = Caller::Agent {
                    id: &agent.id,
                    name: &agent.name,
                };
                let (status, answer) = call_action(
                    &self.oauth,
                    &agent.project,
                    &piece,
                    &tool.action,
                    input,
                    Some(&row),
                    creds,
                    &caller,
                )
                .await;
                (row, status, answer)
            }
            // Audited too: an agent calling an expired connection leaves a trace.
            Err(e) => (tool.connection.clone(), None, Err(e)),
        };
        let at = now_ms();
        let record = UseRecord {
            project_id: row.project_id.clone(),
            connection_id: row.id.clone(),
            external_id: row.external_id.clone(),
            flow_id: None,
            agent_id: Some(agent.id.clone()),
            detail: serde_json::json!({
                "agent": agent.name,
                "agent_id": agent.id,
                "tool": tool.name,
                "outcome": outcome_word(&answer),
            })
            .to_string(),
            status,
            at,
        };
        let recorded = self.call_log.submit(self.store(), record.clone()).await;
        if let Err(e) = recorded {
            tracing::error!(agent = %agent.id, error = %e, "recording an agent's call failed");
        }
        self.connections.after_use(&record, &row);
        answer
    }
}
