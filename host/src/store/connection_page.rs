//! One page of a project's connections for the web table: filtered, searched, sorted
//! and paged by the database, so the page costs the same with 50 connections or 5,000;
//! and the count of connections that need attention.

use super::connections::COLUMNS;
use super::{ConnectionRow, ConnectionStatus, Result, Store};

/// A column the table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Display name, case-insensitively.
    Name,
    /// The piece.
    App,
    /// The status word.
    Status,
    /// Creation time.
    Created,
    /// Last use (never-used last when ascending).
    LastUsed,
}

impl SortKey {
    fn order_by(self) -> &'static str {
        match self {
            SortKey::Name => "LOWER(display_name)",
            SortKey::App => "piece",
            SortKey::Status => "status",
            SortKey::Created => "created_at",
            SortKey::LastUsed => "COALESCE(last_used_at, 0)",
        }
    }
}

/// What the table asks for.
#[derive(Debug, Clone)]
pub struct PageQuery<'a> {
    /// Only this status.
    pub status: Option<ConnectionStatus>,
    /// Only this piece.
    pub piece: Option<&'a str>,
    /// Text in the display name or external id (case-insensitive), or a piece among
    /// `search_pieces` (the pieces whose display name matched).
    pub search: Option<&'a str>,
    /// Pieces whose display name matched the search.
    pub search_pieces: &'a [String],
    /// Sort column and direction.
    pub sort: SortKey,
    /// Descending.
    pub descending: bool,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
}

impl Store {
    /// One page of the project's connections and how many match in all.
    pub async fn connection_page(
        &self,
        project_id: &str,
        q: &PageQuery<'_>,
    ) -> Result<(Vec<ConnectionRow>, i64)> {
        // `$N` placeholders written here: under the `Any` driver sqlx's QueryBuilder
        // writes `?`, which PostgreSQL refuses (sqlx issue #3000).
        let mut binds: Vec<String> = vec![project_id.to_owned()];
        let mut param = |value: String| {
            binds.push(value);
            format!("${}", binds.len())
        };
        let mut filter = String::from(" FROM connections WHERE project_id = $1");
        if let Some(status) = q.status {
            filter += &format!(" AND status = {}", param(status.as_str().to_owned()));
        }
        if let Some(piece) = q.piece {
            filter += &format!(" AND piece = {}", param(piece.to_owned()));
        }
        if let Some(text) = q.search {
            let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
            let name = param(pattern.clone());
            let id = param(pattern);
            filter += &format!(
                " AND (LOWER(display_name) LIKE {name} ESCAPE '\\' \
                 OR LOWER(external_id) LIKE {id} ESCAPE '\\'"
            );
            for piece in q.search_pieces {
                filter += &format!(" OR piece = {}", param(piece.clone()));
            }
            filter += ")";
        }
        let count_sql = format!("SELECT COUNT(*){filter}");
        let mut count = sqlx::query_scalar(&count_sql);
        for b in &binds {
            count = count.bind(b.clone());
        }
        let total: i64 = count.fetch_one(self.pool()).await?;
        let dir = if q.descending { "DESC" } else { "ASC" };
        let rows_sql = format!(
            "SELECT {COLUMNS}{filter} ORDER BY {} {dir}, external_id {dir} LIMIT ${} OFFSET ${}",
            q.sort.order_by(),
            binds.len() + 1,
            binds.len() + 2
        );
        let mut rows = sqlx::query_as(&rows_sql);
        for b in &binds {
            rows = rows.bind(b.clone());
        }
        let rows = rows
            .bind(q.limit)
            .bind(q.offset)
            .fetch_all(self.pool())
            .await?;
        Ok((rows, total))
    }

    /// How many of the project's connections are expired or in error.
    pub async fn attention_count(&self, project_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM connections WHERE project_id = $1 AND status IN ($2, $3)",
        )
        .bind(project_id)
        .bind(ConnectionStatus::Expired.as_str())
        .bind(ConnectionStatus::Error.as_str())
        .fetch_one(self.pool())
        .await?)
    }
}

/// `text` with LIKE's wildcards and the escape character escaped.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
