//! Projects and their API tokens.

use super::{Backend, Result, Store, now_ms};
use std::collections::HashMap;

/// The most token ids one query of [`Store::tokens_at`] looks up.
pub const TOKENS_PER_READ: usize = 32;

/// How current a process's cached rows of a project (flows, connections) must be to
/// serve a request; see `host/migrations/postgres/0011_project_revision.sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision {
    /// SQLite: this process is the only server on the file and forgets what it writes
    /// itself, so whatever it holds is current.
    Local,
    /// PostgreSQL: the project's revision, read during this request; a row cached at
    /// another revision is read again.
    At(i64),
}

/// A stored token: its project and the hash of its secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    /// The project the token acts for.
    pub project_id: String,
    /// SHA-256 of the token's secret part.
    pub secret_hash: Vec<u8>,
}

impl Store {
    /// Creates a project.
    pub async fn create_project(&self, id: &str, name: &str) -> Result<()> {
        sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The name of project `id`, if it exists.
    pub async fn project_name(&self, id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM projects WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Stores a token's id and the hash of its secret.
    pub async fn create_token(&self, id: &str, project_id: &str, secret_hash: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_tokens (id, project_id, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(project_id)
        .bind(secret_hash.to_vec())
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The token with id `id`.
    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>> {
        Ok(
            sqlx::query_as("SELECT project_id, secret_hash FROM api_tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The tokens with these ids, each with its project's current revision, in one
    /// round trip per [`TOKENS_PER_READ`] ids (PostgreSQL, where no server caches tokens:
    /// a token revoked on one replica is refused by every other at once). One answer per
    /// id, in order.
    pub async fn tokens_at(&self, ids: &[String]) -> Result<Vec<Option<(TokenRow, Revision)>>> {
        let mut found: HashMap<String, (TokenRow, Revision)> = HashMap::new();
        for chunk in ids.chunks(TOKENS_PER_READ) {
            // The list is padded to a power of two with its last id, so a few prepared
            // statements serve every batch size.
            let width = chunk.len().next_power_of_two();
            let sql = format!(
                "SELECT t.id, t.project_id, t.secret_hash, p.revision FROM api_tokens t \
                 JOIN projects p ON p.id = t.project_id WHERE t.id IN ({})",
                (1..=width)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut query = sqlx::query_as::<_, (String, String, Vec<u8>, i64)>(&sql);
            for i in 0..width {
                query = query.bind(&chunk[i.min(chunk.len() - 1)]);
            }
            for (id, project_id, secret_hash, revision) in query.fetch_all(self.pool()).await? {
                let row = TokenRow {
                    project_id,
                    secret_hash,
                };
                found.insert(id, (row, Revision::At(revision)));
            }
        }
        Ok(ids
            .iter()
            .map(|id| found.get(id.as_str()).cloned())
            .collect())
    }

    /// The revision at which rows of project `id` may be served from caches (`None`:
    /// no such project). No query on SQLite, where a missing project shows later, as
    /// missing rows.
    pub async fn revision(&self, id: &str) -> Result<Option<Revision>> {
        if self.backend() == Backend::Sqlite {
            return Ok(Some(Revision::Local));
        }
        let revision: Option<i64> =
            sqlx::query_scalar("SELECT revision FROM projects WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        Ok(revision.map(Revision::At))
    }

    /// The project's API tokens (id, created), newest first. Never a hash.
    pub async fn tokens_of(&self, project_id: &str) -> Result<Vec<TokenInfo>> {
        Ok(sqlx::query_as(
            "SELECT id, created_at FROM api_tokens WHERE project_id = $1 \
             ORDER BY created_at DESC, id",
        )
        .bind(project_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Revokes the project's token `id`; false when the project has no such token.
    /// Servers on the same SQLite file drop their cached tokens on their next request.
    pub async fn delete_token(&self, project_id: &str, id: &str) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM api_tokens WHERE project_id = $1 AND id = $2")
            .bind(project_id)
            .bind(id)
            .execute(self.pool())
            .await?
            .rows_affected()
            == 1;
        if deleted {
            self.mark_write();
        }
        Ok(deleted)
    }
}

/// An API token as the settings page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenInfo {
    /// The token's public id (the `tfk_<id>_` part).
    pub id: String,
    /// Unix ms.
    pub created_at: i64,
}
