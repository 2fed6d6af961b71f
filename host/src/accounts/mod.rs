//! People and their browser sessions: users with email and password, project
//! memberships, server-side sessions (only SHA-256 of the session id is stored) with
//! idle and absolute expiry and a per-session CSRF token, login limits, and the
//! one-time setup link of a fresh install. The web pages use this; API tokens stay for
//! machines ([`crate::projects`]).

mod limiter;
pub mod password;

use crate::store::accounts::{MembershipRow, UserRow};
use crate::store::{Store, StoreError, now_ms};
use limiter::LoginLimiter;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long a session lives without use, and at most.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Idle expiry.
    pub idle: Duration,
    /// Absolute expiry, counted from login.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::from_secs(8 * 3600),
            absolute: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// How long the setup link printed by `serve` stays valid.
pub const SETUP_LINK_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// What went wrong; every message can be shown as it is.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Not an email address.
    #[error("Enter a valid email address.")]
    BadEmail,
    /// The password is refused; why.
    #[error("{0}")]
    WeakPassword(String),
    /// Another user has that email.
    #[error("A user with this email already exists.")]
    EmailTaken,
    /// Wrong email or password (never says which).
    #[error("Wrong email or password.")]
    LoginFailed,
    /// Too many attempts.
    #[error("Too many login attempts. Wait a minute and try again.")]
    RateLimited,
    /// The setup link is used, expired or not the current one, or a user exists.
    #[error("This setup link is no longer valid. Restart the server for a new one, or log in.")]
    SetupClosed,
    /// No such user or project.
    #[error("{0}")]
    NotFound(String),
    /// A store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Random bytes or hashing failed.
    #[error("{0}")]
    Internal(String),
}

type Result<T> = std::result::Result<T, AccountError>;

/// A live session, as a page sees it.
#[derive(Clone)]
pub struct Session {
    /// SHA-256 of the session id (the row key).
    pub id_hash: Vec<u8>,
    /// The user.
    pub user_id: String,
    /// The user's email.
    pub email: String,
    /// Whether the user may open the settings pages.
    pub is_admin: bool,
    /// The project the session looks at.
    pub project_id: String,
    /// The CSRF token every form of this session carries.
    pub csrf_token: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

/// The accounts service.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    limiter: Arc<LoginLimiter>,
    policy: SessionPolicy,
}

impl Accounts {
    /// The service over `store`.
    pub fn new(store: Store, policy: SessionPolicy) -> Self {
        Accounts {
            store,
            limiter: Arc::default(),
            policy,
        }
    }

    /// Creates a user (`thinkfleet user create`).
    pub async fn create_user(
        &self,
        email: &str,
        password: &SecretString,
        admin: bool,
    ) -> Result<String> {
        let user = new_user(email, password, admin)?;
        if self.store.user_by_email(&user.email).await?.is_some() {
            return Err(AccountError::EmailTaken);
        }
        self.store.create_user(&user).await?;
        Ok(user.id)
    }

    /// Makes the user with `email` a member of project `project_id`.
    pub async fn add_to_project(&self, email: &str, project_id: &str) -> Result<()> {
        let email = normalize_email(email)?;
        let user = self
            .store
            .user_by_email(&email)
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("no user with email {email}")))?;
        if self.store.project_name(project_id).await?.is_none() {
            return Err(AccountError::NotFound(format!(
                "no project with id {project_id}"
            )));
        }
        self.store.add_membership(&user.id, project_id).await?;
        Ok(())
    }

    /// Checks email and password (limited per account and per `address`) and opens a
    /// session in the user's first project; returns the new session id for the cookie.
    pub async fn login(
        &self,
        email: &str,
        password: &SecretString,
        address: IpAddr,
    ) -> Result<SecretString> {
        let email = email.trim().to_lowercase();
        if !self.limiter.allow(&email, address) {
            return Err(AccountError::RateLimited);
        }
        let user = self.store.user_by_email(&email).await?;
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let password = password.clone();
        let ok =
            tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
                .await
                .unwrap_or(false);
        match user {
            Some(user) if ok => self.open_session(&user.id).await,
            _ => Err(AccountError::LoginFailed),
        }
    }

    async fn open_session(&self, user_id: &str) -> Result<SecretString> {
        let projects = self.store.memberships(user_id).await?;
        let project = projects.first().map(|p| p.id.clone()).unwrap_or_default();
        let id = random_hex(32)?;
        let csrf = random_hex(32)?;
        self.store
            .create_session(&digest(&id), user_id, &project, &csrf)
            .await?;
        Ok(SecretString::from(id))
    }

    /// The live session behind a cookie value, marked used; `None` when there is none
    /// or it has expired (an expired one is deleted).
    pub async fn session(&self, cookie: &str) -> Result<Option<Session>> {
        if cookie.len() != 64 || !cookie.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let id_hash = digest(cookie);
        let Some(row) = self.store.session(&id_hash).await? else {
            return Ok(None);
        };
        let now = now_ms();
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        if now - row.last_seen_at > ms(self.policy.idle)
            || now - row.created_at > ms(self.policy.absolute)
        {
            self.store.delete_session(&id_hash).await?;
            return Ok(None);
        }
        // Writing last-seen at most once a minute keeps page views read-only.
        if now - row.last_seen_at > 60_000 {
            self.store.touch_session(&id_hash).await?;
        }
        Ok(Some(Session {
            id_hash,
            user_id: row.user_id,
            email: row.email,
            is_admin: row.is_admin != 0,
            project_id: row.project_id,
            csrf_token: row.csrf_token,
        }))
    }

    /// Ends a session.
    pub async fn logout(&self, session: &Session) -> Result<()> {
        Ok(self.store.delete_session(&session.id_hash).await?)
    }

    /// The projects the session's user belongs to.
    pub async fn projects(&self, session: &Session) -> Result<Vec<MembershipRow>> {
        Ok(self.store.memberships(&session.user_id).await?)
    }

    /// Makes sure the session looks at a project its user is still a member of: keeps
    /// the current one if so, else moves to the user's first project. Returns the
    /// user's projects (the page's picker shows them); empty when the user belongs to
    /// none.
    pub async fn settle_project(&self, session: &mut Session) -> Result<Vec<MembershipRow>> {
        let projects = self.projects(session).await?;
        if projects.iter().any(|p| p.id == session.project_id) {
            return Ok(projects);
        }
        if let Some(first) = projects.first() {
            self.store
                .set_session_project(&session.id_hash, &first.id)
                .await?;
            session.project_id = first.id.clone();
        }
        Ok(projects)
    }

    /// Switches the session to `project_id` if the user is a member; false otherwise.
    pub async fn switch_project(&self, session: &Session, project_id: &str) -> Result<bool> {
        let member = self
            .projects(session)
            .await?
            .iter()
            .any(|p| p.id == project_id);
        if member {
            self.store
                .set_session_project(&session.id_hash, project_id)
                .await?;
        }
        Ok(member)
    }

    /// On an install with no user, a new one-time setup token (the previous one stops
    /// working), valid for [`SETUP_LINK_LIFETIME`]; `None` once a user exists.
    pub async fn setup_token(&self) -> Result<Option<SecretString>> {
        if self.store.user_count().await? > 0 {
            return Ok(None);
        }
        let token = random_hex(32)?;
        let lifetime = i64::try_from(SETUP_LINK_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        self.store
            .put_setup_token(&digest(&token), now_ms() + lifetime)
            .await?;
        Ok(Some(SecretString::from(token)))
    }

    /// Whether `token` opens the setup page now.
    pub async fn setup_open(&self, token: &str) -> Result<bool> {
        Ok(self.store.user_count().await? == 0
            && self.store.setup_token_valid(&digest(token)).await?)
    }

    /// Creates the first admin with the setup token (used up), a member of every
    /// project (or of a new one named `project_name` when there is none), and logs
    /// them in; returns the session id.
    pub async fn complete_setup(
        &self,
        token: &str,
        email: &str,
        password: &SecretString,
        project_name: &str,
    ) -> Result<SecretString> {
        let admin = new_user(email, password, true)?;
        let project_name = match project_name.trim() {
            "" => "My project",
            name => name,
        };
        let project_id = uuid::Uuid::new_v4().to_string();
        if !self
            .store
            .complete_setup(&digest(token), &admin, (&project_id, project_name))
            .await?
        {
            return Err(AccountError::SetupClosed);
        }
        self.open_session(&admin.id).await
    }
}

/// A user row for a new account: email checked and lower-cased, password checked and
/// hashed.
fn new_user(email: &str, password: &SecretString, admin: bool) -> Result<UserRow> {
    let email = normalize_email(email)?;
    if let Some(why) = password::weakness(password) {
        return Err(AccountError::WeakPassword(why));
    }
    Ok(UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        email,
        password_hash: password::hash(password).map_err(AccountError::Internal)?,
        is_admin: i64::from(admin),
    })
}

/// `email` trimmed and lower-cased, if it looks like an address.
fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.contains(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(AccountError::BadEmail)
    }
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| AccountError::Internal(format!("random: {e}")))?;
    Ok(hex::encode(buf))
}

fn digest(id: &str) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

/// Compares a submitted CSRF token with the session's in constant time.
pub fn csrf_matches(session: &Session, submitted: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    session.csrf_token.len() == submitted.len()
        && bool::from(session.csrf_token.as_bytes().ct_eq(submitted.as_bytes()))
}

/// The session id's text for the cookie.
pub fn cookie_value(id: &SecretString) -> &str {
    id.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").expect("valid"),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@localhost",
            "a da@example.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
