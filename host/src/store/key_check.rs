//! The key-check row: one value sealed under the key the store's data is sealed with,
//! and the key versions that seal the store's data.

use super::{Result, Store, now_ms};
use crate::vault::Sealed;
use sqlx::Row as _;

impl Store {
    /// The key-check value, if one was written.
    pub async fn key_check(&self) -> Result<Option<Sealed>> {
        let row = sqlx::query("SELECT key_version, nonce, ciphertext FROM key_check WHERE id = 1")
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| Sealed {
            key_version: r.get("key_version"),
            nonce: r.get("nonce"),
            ciphertext: r.get("ciphertext"),
        }))
    }

    /// Writes the key-check value unless one exists (another replica may have written
    /// it first); true when this one was written.
    pub async fn insert_key_check(&self, sealed: &Sealed) -> Result<bool> {
        Ok(sqlx::query(
            "INSERT INTO key_check (id, key_version, nonce, ciphertext, updated_at) \
             VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&sealed.key_version)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(now_ms())
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1)
    }

    /// Replaces the key-check value (after a rotation, under the new key).
    pub async fn replace_key_check(&self, sealed: &Sealed) -> Result<()> {
        sqlx::query(
            "UPDATE key_check SET key_version = $1, nonce = $2, ciphertext = $3, \
             updated_at = $4 WHERE id = 1",
        )
        .bind(&sealed.key_version)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every key version that seals something in the store (credentials, OAuth apps'
    /// client secrets, webhook secrets).
    pub async fn sealing_key_versions(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT key_version FROM connections UNION SELECT key_version FROM oauth_apps \
             UNION SELECT key_version FROM project_webhooks",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(v,)| v).collect())
    }
}
