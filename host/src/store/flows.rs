//! Flow rows and their connection references.

use super::{Result, Store, now_ms};
use sqlx::AnyConnection;

/// A stored flow.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FlowRow {
    /// Id.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// The steps, as JSON text.
    pub definition: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// A flow's id and name, for usage listings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct FlowRef {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// The columns of a [`FlowRow`] (which reads them by name).
const COLUMNS: &str = "id, project_id, name, definition, created_at, updated_at";

async fn write_refs(
    conn: &mut AnyConnection,
    project_id: &str,
    flow_id: &str,
    refs: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM flow_connection_refs WHERE flow_id = $1")
        .bind(flow_id)
        .execute(&mut *conn)
        .await?;
    let mut refs = refs.to_vec();
    refs.sort();
    refs.dedup();
    for external_id in refs {
        sqlx::query(
            "INSERT INTO flow_connection_refs (flow_id, project_id, external_id) \
             VALUES ($1, $2, $3)",
        )
        .bind(flow_id)
        .bind(project_id)
        .bind(external_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Inserts a flow with the external ids its steps reference.
    pub async fn insert_flow(&self, flow: &FlowRow, refs: &[String]) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        sqlx::query(&format!(
            "INSERT INTO flows ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5)"
        ))
        .bind(&flow.id)
        .bind(&flow.project_id)
        .bind(&flow.name)
        .bind(&flow.definition)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        write_refs(&mut tx, &flow.project_id, &flow.id, refs).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a flow's name, steps and references; false when there is none.
    /// `updated_at` always moves forward, so a compare-and-swap on it (see
    /// [`Store::rewrite_flows`]) sees every change.
    pub async fn update_flow(
        &self,
        project_id: &str,
        id: &str,
        name: &str,
        definition: &str,
        refs: &[String],
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE flows SET name = $3, definition = $4, \
             updated_at = CASE WHEN updated_at >= $5 THEN updated_at + 1 ELSE $5 END \
             WHERE project_id = $1 AND id = $2",
        )
        .bind(project_id)
        .bind(id)
        .bind(name)
        .bind(definition)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        write_refs(&mut tx, project_id, id, refs).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a flow (its references and runs go with it); false when there is none.
    pub async fn delete_flow(&self, project_id: &str, id: &str) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        for table in ["flow_connection_refs", "flow_runs"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE flow_id = $2 AND project_id = $1"
            ))
            .bind(project_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query("DELETE FROM flows WHERE project_id = $1 AND id = $2")
            .bind(project_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// The project's flows, oldest first.
    pub async fn list_flows(&self, project_id: &str) -> Result<Vec<FlowRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM flows WHERE project_id = $1 ORDER BY created_at, id"
        ))
        .bind(project_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The project's flow `id`.
    pub async fn get_flow(&self, project_id: &str, id: &str) -> Result<Option<FlowRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM flows WHERE project_id = $1 AND id = $2"
        ))
        .bind(project_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The project's flows whose steps reference the external id.
    pub async fn flows_using(&self, project_id: &str, external_id: &str) -> Result<Vec<FlowRef>> {
        Ok(sqlx::query_as(
            "SELECT f.id, f.name FROM flows f JOIN flow_connection_refs r ON r.flow_id = f.id \
             WHERE r.project_id = $1 AND r.external_id = $2 AND f.project_id = $1 \
             ORDER BY f.name, f.id",
        )
        .bind(project_id)
        .bind(external_id)
        .fetch_all(self.pool())
        .await?)
    }
}

/// A flow's new definition, written only if the flow is unchanged since it was read.
#[derive(Debug, Clone)]
pub struct FlowRewrite {
    /// The flow.
    pub id: String,
    /// Its `updated_at` when it was read.
    pub read_at: i64,
    /// The new steps, as JSON text.
    pub definition: String,
    /// The external ids they reference.
    pub refs: Vec<String>,
}

impl Store {
    /// Rewrites several of the project's flows and appends `events`, in one transaction:
    /// all or nothing. False (and nothing written) when one of the flows changed or
    /// went since it was read.
    pub async fn rewrite_flows(
        &self,
        project_id: &str,
        rewrites: &[FlowRewrite],
        events: Vec<super::NewAuditEvent<'_>>,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        for flow in rewrites {
            let done = sqlx::query(
                "UPDATE flows SET definition = $3, updated_at = $4 \
                 WHERE project_id = $1 AND id = $2 AND updated_at = $5",
            )
            .bind(project_id)
            .bind(&flow.id)
            .bind(&flow.definition)
            .bind(now.max(flow.read_at + 1))
            .bind(flow.read_at)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            write_refs(&mut tx, project_id, &flow.id, &flow.refs).await?;
        }
        for event in events {
            super::audit::append_audit_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
