//! Copies a whole store into a new, empty one on the other backend (SQLite to
//! PostgreSQL when a deployment outgrows one server, or back): every table, row for
//! row, with sealed credentials copied as the bytes they are (the same key opens them;
//! nothing is decrypted here).
//!
//! The source is read inside one transaction (one consistent snapshot) and the
//! destination written inside one, so a failure leaves it as empty as it was. Values
//! are read by the destination column's type (its prepared `SELECT *` describes it), so
//! SQLite's loose typing lands in PostgreSQL's exact columns. PostgreSQL's `BIGSERIAL`
//! sequences are moved past the copied ids.

use super::{Backend, Result, Store, StoreError};
use sqlx::any::AnyTypeInfoKind;
use sqlx::{Column as _, Executor as _, Row as _, Statement as _};

/// Every table of the schema, parents before children (foreign keys). A table the
/// destination has that is not here stops the copy: a new migration must add it.
pub const TABLES: &[&str] = &[
    "projects",
    "api_tokens",
    "connections",
    "audit_events",
    "flows",
    "flow_connection_refs",
    "oauth_apps",
    "oauth_states",
    "users",
    "memberships",
    "sessions",
    "setup_tokens",
    "flow_runs",
    "project_webhooks",
    "webhook_deliveries",
    "key_check",
    "installed_pieces",
    "piece_events",
    "piece_generation",
    "agent_tokens",
    "agent_tools",
];

/// Tables a freshly migrated store already fills (replaced by the source's rows).
const SEEDED: &[&str] = &["piece_generation"];

/// `BIGSERIAL` columns on PostgreSQL, whose sequences must pass the copied ids.
const SERIALS: &[(&str, &str)] = &[
    ("audit_events", "id"),
    ("flow_runs", "id"),
    ("webhook_deliveries", "id"),
];

/// Tables and rows copied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// (table, rows), in copy order.
    pub tables: Vec<(String, u64)>,
}

impl Store {
    /// Copies every row of `self` into `to`, which must be a new store (migrated, with
    /// no data). Run it with no server on either store.
    pub async fn copy_into(&self, to: &Store) -> Result<CopyReport> {
        let found = to.table_names().await?;
        if let Some(unknown) = found.iter().find(|t| !TABLES.contains(&t.as_str())) {
            return Err(StoreError::Copy(format!(
                "the destination has a table this copy does not know: {unknown}"
            )));
        }
        for table in TABLES {
            if SEEDED.contains(table) {
                continue;
            }
            let (rows,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(to.pool())
                .await?;
            if rows > 0 {
                return Err(StoreError::Copy(format!(
                    "the destination is not empty ({table} has {rows} rows): copy into a new \
                     database"
                )));
            }
        }
        let mut source = self.pool().begin().await?;
        if self.backend() == Backend::Postgres {
            // One snapshot for every table (a plain BEGIN is READ COMMITTED there).
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *source)
                .await?;
        }
        let mut dest = to.pool().begin().await?;
        let mut report = CopyReport::default();
        for table in TABLES {
            let select_all = format!("SELECT * FROM {table}");
            let described = (&mut *dest).prepare(&select_all).await?;
            let columns: Vec<(String, AnyTypeInfoKind)> = described
                .columns()
                .iter()
                .map(|c| (c.name().to_owned(), c.type_info().kind()))
                .collect();
            let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
            let rows = sqlx::query(&format!("SELECT {} FROM {table}", names.join(", ")))
                .fetch_all(&mut *source)
                .await
                .map_err(|e| StoreError::Copy(format!("reading {table}: {e}")))?;
            if SEEDED.contains(table) {
                sqlx::query(&format!("DELETE FROM {table}"))
                    .execute(&mut *dest)
                    .await?;
            }
            let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
            let insert = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                placeholders.join(", ")
            );
            for row in &rows {
                let mut query = sqlx::query(&insert);
                for (i, (name, kind)) in columns.iter().enumerate() {
                    let bad = |e: sqlx::Error| {
                        StoreError::Copy(format!("{table}.{name}: cannot read the value: {e}"))
                    };
                    query = match kind {
                        AnyTypeInfoKind::Bool => {
                            query.bind(row.try_get::<Option<bool>, _>(i).map_err(bad)?)
                        }
                        AnyTypeInfoKind::SmallInt
                        | AnyTypeInfoKind::Integer
                        | AnyTypeInfoKind::BigInt => {
                            query.bind(row.try_get::<Option<i64>, _>(i).map_err(bad)?)
                        }
                        AnyTypeInfoKind::Real | AnyTypeInfoKind::Double => {
                            query.bind(row.try_get::<Option<f64>, _>(i).map_err(bad)?)
                        }
                        AnyTypeInfoKind::Text => {
                            query.bind(row.try_get::<Option<String>, _>(i).map_err(bad)?)
                        }
                        AnyTypeInfoKind::Blob => {
                            query.bind(row.try_get::<Option<Vec<u8>>, _>(i).map_err(bad)?)
                        }
                        AnyTypeInfoKind::Null => {
                            return Err(StoreError::Copy(format!(
                                "{table}.{name}: the destination does not say its type"
                            )));
                        }
                    };
                }
                query
                    .execute(&mut *dest)
                    .await
                    .map_err(|e| StoreError::Copy(format!("writing {table}: {e}")))?;
            }
            report.tables.push(((*table).to_owned(), rows.len() as u64));
        }
        if to.backend() == Backend::Postgres {
            for (table, column) in SERIALS {
                sqlx::query(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                     COALESCE(MAX({column}), 1), MAX({column}) IS NOT NULL) FROM {table}"
                ))
                .execute(&mut *dest)
                .await?;
            }
        }
        dest.commit().await?;
        // Only read: whatever ending it gets, the copy is committed.
        let _ = source.rollback().await;
        Ok(report)
    }

    /// The store's own tables (not the migrations' bookkeeping).
    async fn table_names(&self) -> Result<Vec<String>> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite!_%' ESCAPE '!' AND name <> '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() \
                 AND tablename <> '_sqlx_migrations'"
            }
        };
        let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }
}
