//! Agent tokens and the tools each may call: (connection, action) pairs of its project.

use super::{Result, Store, now_ms};

/// An agent token as stored (never its secret; the hash only for authentication).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentRow {
    /// The public id (`tfa_<id>_…`).
    pub id: String,
    /// The project it acts in.
    pub project_id: String,
    /// The API token that made it (deleting that token deletes this one); `None` when
    /// an admin made it in Settings.
    pub created_by: Option<String>,
    /// Its name, shown in the audit trail ("used by agent NAME").
    pub name: String,
    /// SHA-256 of the token's secret part.
    pub secret_hash: Vec<u8>,
    /// When it was made (Unix ms).
    pub created_at: i64,
    /// When it last called a tool.
    pub last_used_at: Option<i64>,
    /// When it was revoked; a revoked token is refused.
    pub revoked_at: Option<i64>,
}

/// One tool an agent may call: an action of a connection's piece.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AgentTool {
    /// The connection's id.
    pub connection_id: String,
    /// The action's name.
    pub action: String,
}

/// A tool with its connection's row.
#[derive(sqlx::FromRow)]
struct ToolRow {
    #[sqlx(flatten)]
    row: super::ConnectionRow,
    tool_action: String,
}

const COLUMNS: &str =
    "id, project_id, created_by, name, secret_hash, created_at, last_used_at, revoked_at";

impl Store {
    /// Stores a new agent token with its tools, in one transaction.
    pub async fn create_agent(&self, agent: &AgentRow, tools: &[AgentTool]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO agent_tokens (id, project_id, created_by, name, secret_hash, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&agent.id)
        .bind(&agent.project_id)
        .bind(&agent.created_by)
        .bind(&agent.name)
        .bind(agent.secret_hash.clone())
        .bind(agent.created_at)
        .execute(&mut *tx)
        .await?;
        for tool in tools {
            sqlx::query(
                "INSERT INTO agent_tools (agent_id, connection_id, action) VALUES ($1, $2, $3)",
            )
            .bind(&agent.id)
            .bind(&tool.connection_id)
            .bind(&tool.action)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The agent token `id` (revoked or not), for authentication: no project filter,
    /// the caller compares the secret's hash and checks `revoked_at`.
    pub async fn agent(&self, id: &str) -> Result<Option<AgentRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM agent_tokens WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The project's agent tokens, newest first.
    pub async fn agents_of(&self, project_id: &str) -> Result<Vec<AgentRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM agent_tokens WHERE project_id = $1 \
             ORDER BY created_at DESC, id"
        ))
        .bind(project_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The tools of agent `id` in `project_id` (none for another project's agent).
    pub async fn agent_tools(&self, project_id: &str, id: &str) -> Result<Vec<AgentTool>> {
        Ok(sqlx::query_as(
            "SELECT t.connection_id, t.action FROM agent_tools t \
             JOIN agent_tokens a ON a.id = t.agent_id \
             WHERE a.project_id = $1 AND t.agent_id = $2 ORDER BY t.connection_id, t.action",
        )
        .bind(project_id)
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The tools of agent `id` in `project_id` with their connections' rows, in one
    /// query (a tool whose connection is gone has no row: the foreign key deleted it).
    pub async fn agent_tool_rows(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<Vec<(super::ConnectionRow, String)>> {
        let columns: Vec<String> = super::connections::COLUMNS
            .split(',')
            .map(|c| format!("c.{}", c.trim()))
            .collect();
        let rows: Vec<ToolRow> = sqlx::query_as(&format!(
            "SELECT {}, t.action AS tool_action FROM agent_tools t \
             JOIN agent_tokens a ON a.id = t.agent_id \
             JOIN connections c ON c.id = t.connection_id AND c.project_id = a.project_id \
             WHERE a.project_id = $1 AND t.agent_id = $2 ORDER BY c.external_id, t.action",
            columns.join(", ")
        ))
        .bind(project_id)
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|r| (r.row, r.tool_action)).collect())
    }

    /// Revokes the project's agent token `id`; `false` when it has none such (or it
    /// was already revoked).
    pub async fn revoke_agent(&self, project_id: &str, id: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE agent_tokens SET revoked_at = $3 \
             WHERE project_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(project_id)
        .bind(id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records agents' tool calls in one transaction (a group commit's batch): the
    /// connections' uses (see `record_uses`, each naming its agent) and each token's
    /// last call.
    pub async fn record_agent_calls(&self, calls: &[super::UseRecord]) -> Result<Vec<()>> {
        let mut tx = self.batch_pool().begin().await?;
        super::connections::record_uses_in(&mut tx, calls).await?;
        let mut latest: Vec<(&str, i64)> = Vec::new();
        for call in calls {
            let Some(agent) = call.agent_id.as_deref() else {
                continue;
            };
            match latest.iter_mut().find(|(a, _)| *a == agent) {
                Some((_, at)) => *at = (*at).max(call.at),
                None => latest.push((agent, call.at)),
            }
        }
        // One lock order for every writer, as for connections.
        latest.sort();
        for (agent, at) in latest {
            sqlx::query(
                "UPDATE agent_tokens SET last_used_at = $2 WHERE id = $1 \
                 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(agent)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(vec![(); calls.len()])
    }
}
