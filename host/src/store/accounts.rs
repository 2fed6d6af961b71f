//! People, their project memberships, their browser sessions and the one-time setup
//! token. Rows hold hashes only (see migration 0005); the hashing is the caller's
//! ([`crate::accounts`]).

use super::{Result, Store, now_ms};

/// A user as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    /// Its id.
    pub id: String,
    /// Its email address, lower-case.
    pub email: String,
    /// The argon2id PHC string of its password.
    pub password_hash: String,
    /// 1 for an admin (settings pages), else 0.
    pub is_admin: i64,
}

/// A session as stored, with what its pages need of the user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// The user.
    pub user_id: String,
    /// The user's email.
    pub email: String,
    /// 1 for an admin.
    pub is_admin: i64,
    /// The project the session is looking at.
    pub project_id: String,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// When the session was created (absolute expiry counts from here).
    pub created_at: i64,
    /// When it was last used (idle expiry counts from here).
    pub last_seen_at: i64,
}

/// A project a user belongs to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MembershipRow {
    /// The project's id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A member of a project, as the settings page lists them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    /// The user's email.
    pub email: String,
    /// 1 for an admin.
    pub is_admin: i64,
}

impl Store {
    /// The members of project `project_id`, by email.
    pub async fn members(&self, project_id: &str) -> Result<Vec<MemberRow>> {
        Ok(sqlx::query_as(
            "SELECT u.email, u.is_admin FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.project_id = $1 ORDER BY u.email",
        )
        .bind(project_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// How many users exist (none: the setup page is open to the setup token).
    pub async fn user_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?)
    }

    /// Creates a user.
    pub async fn create_user(&self, user: &UserRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, is_admin, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.is_admin)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The user with email `email` (lower-case).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        Ok(
            sqlx::query_as("SELECT id, email, password_hash, is_admin FROM users WHERE email = $1")
                .bind(email)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Makes user `user_id` a member of project `project_id` (idempotent).
    pub async fn add_membership(&self, user_id: &str, project_id: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO memberships (user_id, project_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, project_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(project_id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The projects user `user_id` belongs to, by name.
    pub async fn memberships(&self, user_id: &str) -> Result<Vec<MembershipRow>> {
        Ok(sqlx::query_as(
            "SELECT p.id, p.name FROM memberships m JOIN projects p ON p.id = m.project_id \
             WHERE m.user_id = $1 ORDER BY p.name, p.id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Stores a new session.
    pub async fn create_session(
        &self,
        id_hash: &[u8],
        user_id: &str,
        project_id: &str,
        csrf_token: &str,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, project_id, csrf_token, created_at, \
             last_seen_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash.to_vec())
        .bind(user_id)
        .bind(project_id)
        .bind(csrf_token)
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session keyed by `id_hash`, with its user.
    pub async fn session(&self, id_hash: &[u8]) -> Result<Option<SessionRow>> {
        Ok(sqlx::query_as(
            "SELECT s.user_id, u.email, u.is_admin, s.project_id, s.csrf_token, \
             s.created_at, s.last_seen_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
        )
        .bind(id_hash.to_vec())
        .fetch_optional(self.pool())
        .await?)
    }

    /// Marks the session used now.
    pub async fn touch_session(&self, id_hash: &[u8]) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now_ms())
            .bind(id_hash.to_vec())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Switches the session to another project (membership checked by the caller).
    pub async fn set_session_project(&self, id_hash: &[u8], project_id: &str) -> Result<()> {
        sqlx::query("UPDATE sessions SET project_id = $1 WHERE id_hash = $2")
            .bind(project_id)
            .bind(id_hash.to_vec())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash.to_vec())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Stores the hash of a setup token valid until `expires_at`, replacing any other.
    pub async fn put_setup_token(&self, token_hash: &[u8], expires_at: i64) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM setup_tokens")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO setup_tokens (token_hash, expires_at) VALUES ($1, $2)")
            .bind(token_hash.to_vec())
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether `token_hash` is a setup token that has not expired.
    pub async fn setup_token_valid(&self, token_hash: &[u8]) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash.to_vec())
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }

    /// Uses up the setup token `token_hash` and creates the first admin, a member of
    /// every existing project — or, on an install with none, of a new project
    /// `new_project` (id, name) — in one transaction. False (nothing done) when the
    /// token is not valid or a user already exists.
    pub async fn complete_setup(
        &self,
        token_hash: &[u8],
        admin: &UserRow,
        new_project: (&str, &str),
    ) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let used =
            sqlx::query("DELETE FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash.to_vec())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?;
        if used != 1 || users != 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, is_admin, created_at) \
             VALUES ($1, $2, $3, 1, $4)",
        )
        .bind(&admin.id)
        .bind(&admin.email)
        .bind(&admin.password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let projects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projects")
            .fetch_one(&mut *tx)
            .await?;
        if projects == 0 {
            sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(new_project.0)
                .bind(new_project.1)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO memberships (user_id, project_id, created_at) \
             SELECT $1, id, $2 FROM projects",
        )
        .bind(&admin.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
