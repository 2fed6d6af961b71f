//! Pieces installed as data: one row per piece name with the component's bytes, the
//! history of changes, and the generation counter every replica polls. Each change
//! bumps the counter first (which takes the write lock on both backends, so two
//! installs of one name are serialized), then reads what it replaces, then writes the
//! row and its history event, all in one transaction.

use super::{Result, Store, now_ms};
use sqlx::FromRow;

/// An installed piece without its bytes (what a replica compares with what it runs).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct InstalledHead {
    /// The piece's name (its `info().name`).
    pub name: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// Unix ms.
    pub installed_at: i64,
    /// Who installed it (`admin API (ADDRESS)`, `cli (USER)`).
    pub installed_by: String,
}

/// A component to install.
pub struct NewInstall<'a> {
    /// The piece's name.
    pub name: &'a str,
    /// Its version.
    pub version: &'a str,
    /// SHA-256 of `component`, hex.
    pub sha256: &'a str,
    /// The component's bytes.
    pub component: &'a [u8],
    /// Who installs it.
    pub actor: &'a str,
}

/// One entry of the install history.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PieceEvent {
    /// The catalog generation this change made (increasing).
    pub generation: i64,
    /// Unix ms.
    pub at: i64,
    /// `install`, `upgrade` or `uninstall`.
    pub action: String,
    /// The piece's name.
    pub name: String,
    /// The version installed (none for an uninstall).
    pub version: Option<String>,
    /// Its SHA-256 (none for an uninstall).
    pub sha256: Option<String>,
    /// The version replaced or removed.
    pub previous_version: Option<String>,
    /// Its SHA-256.
    pub previous_sha256: Option<String>,
    /// Who did it.
    pub actor: String,
}

const EVENT_COLUMNS: &str = "generation, at, action, name, version, sha256, previous_version, \
                             previous_sha256, actor";

impl Store {
    /// The catalog generation: bumped by every install, upgrade and uninstall.
    pub async fn piece_generation(&self) -> Result<i64> {
        let (generation,): (i64,) =
            sqlx::query_as("SELECT generation FROM piece_generation WHERE id = 1")
                .fetch_one(self.pool())
                .await?;
        Ok(generation)
    }

    /// Every installed piece, by name, without the bytes.
    pub async fn installed_pieces(&self) -> Result<Vec<InstalledHead>> {
        Ok(sqlx::query_as(
            "SELECT name, version, sha256, installed_at, installed_by FROM installed_pieces \
             ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The bytes of the installed piece `name`, when its hash is still `sha256` (it may
    /// have been upgraded since the heads were read).
    pub async fn installed_component(&self, name: &str, sha256: &str) -> Result<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as(
            "SELECT component FROM installed_pieces WHERE name = $1 AND sha256 = $2",
        )
        .bind(name)
        .bind(sha256)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(bytes,)| bytes))
    }

    /// Installs or upgrades a piece, recording the change; returns the event, or `None`
    /// when exactly these bytes are already installed under this name (nothing written).
    pub async fn install_piece(&self, new: &NewInstall<'_>) -> Result<Option<PieceEvent>> {
        let mut tx = self.pool().begin().await?;
        let generation = bump_generation(&mut tx).await?;
        let previous: Option<(String, String)> =
            sqlx::query_as("SELECT version, sha256 FROM installed_pieces WHERE name = $1")
                .bind(new.name)
                .fetch_optional(&mut *tx)
                .await?;
        if previous.as_ref().is_some_and(|(_, sha)| sha == new.sha256) {
            tx.rollback().await?;
            return Ok(None);
        }
        let at = now_ms();
        sqlx::query(
            "INSERT INTO installed_pieces (name, version, sha256, component, installed_at, \
             installed_by) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (name) DO UPDATE SET version = excluded.version, \
             sha256 = excluded.sha256, component = excluded.component, \
             installed_at = excluded.installed_at, installed_by = excluded.installed_by",
        )
        .bind(new.name)
        .bind(new.version)
        .bind(new.sha256)
        .bind(new.component)
        .bind(at)
        .bind(new.actor)
        .execute(&mut *tx)
        .await?;
        let event = PieceEvent {
            generation,
            at,
            action: if previous.is_some() {
                "upgrade"
            } else {
                "install"
            }
            .to_owned(),
            name: new.name.to_owned(),
            version: Some(new.version.to_owned()),
            sha256: Some(new.sha256.to_owned()),
            previous_version: previous.as_ref().map(|(v, _)| v.clone()),
            previous_sha256: previous.map(|(_, s)| s),
            actor: new.actor.to_owned(),
        };
        insert_event(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(Some(event))
    }

    /// Removes the installed piece `name`, recording it; `None` when none is installed.
    pub async fn uninstall_piece(&self, name: &str, actor: &str) -> Result<Option<PieceEvent>> {
        let mut tx = self.pool().begin().await?;
        let generation = bump_generation(&mut tx).await?;
        let removed: Option<(String, String)> = sqlx::query_as(
            "DELETE FROM installed_pieces WHERE name = $1 RETURNING version, sha256",
        )
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((version, sha256)) = removed else {
            tx.rollback().await?;
            return Ok(None);
        };
        let event = PieceEvent {
            generation,
            at: now_ms(),
            action: "uninstall".to_owned(),
            name: name.to_owned(),
            version: None,
            sha256: None,
            previous_version: Some(version),
            previous_sha256: Some(sha256),
            actor: actor.to_owned(),
        };
        insert_event(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(Some(event))
    }

    /// The newest `limit` entries of the install history, newest first.
    pub async fn piece_events(&self, limit: i64) -> Result<Vec<PieceEvent>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM piece_events ORDER BY generation DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every flow of every project whose definition mentions `text` (a coarse filter
    /// for "which flows use this piece"; the caller reads the steps).
    pub async fn flows_mentioning(&self, text: &str) -> Result<Vec<super::FlowRow>> {
        let pattern = format!(
            "%{}%",
            text.replace('!', "!!")
                .replace('%', "!%")
                .replace('_', "!_")
        );
        Ok(sqlx::query_as(
            "SELECT id, project_id, name, definition, created_at, updated_at FROM flows \
             WHERE definition LIKE $1 ESCAPE '!' ORDER BY project_id, created_at",
        )
        .bind(pattern)
        .fetch_all(self.pool())
        .await?)
    }

    /// How many connections, in every project, belong to the piece `name`.
    pub async fn connections_of_piece_count(&self, name: &str) -> Result<i64> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM connections WHERE piece = $1")
            .bind(name)
            .fetch_one(self.pool())
            .await?;
        Ok(count)
    }
}

/// Bumps the catalog generation inside `tx` and returns it. Done first in each change:
/// the row lock it takes serializes concurrent changes on both backends.
async fn bump_generation(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<i64> {
    let (generation,): (i64,) = sqlx::query_as(
        "UPDATE piece_generation SET generation = generation + 1 WHERE id = 1 \
         RETURNING generation",
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(generation)
}

async fn insert_event(tx: &mut sqlx::Transaction<'_, sqlx::Any>, event: &PieceEvent) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO piece_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(event.generation)
    .bind(event.at)
    .bind(&event.action)
    .bind(&event.name)
    .bind(&event.version)
    .bind(&event.sha256)
    .bind(&event.previous_version)
    .bind(&event.previous_sha256)
    .bind(&event.actor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
