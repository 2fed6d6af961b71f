//! Projects and their API tokens, as the CLI (and tests) create them.

use crate::local_cache::LocalCache;
use crate::store::{Backend, BatchFuture, GroupCommit, Revision, Store, StoreError, TokenRow};
use crate::tokens::{self, NewToken};
use std::sync::Arc;

/// Why a project or token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// No such project.
    #[error("no project with id {0}")]
    NotFound(String),
    /// The name is empty or too long.
    #[error("a project name must be 1 to 200 characters")]
    BadName,
    /// No randomness.
    #[error("no randomness for a token: {0}")]
    Random(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new project with its first token.
#[derive(Debug)]
pub struct CreatedProject {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its first API token.
    pub token: NewToken,
}

/// Creates a project and its first API token.
pub async fn create_project(store: &Store, name: &str) -> Result<CreatedProject, ProjectError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ProjectError::BadName);
    }
    let id = uuid::Uuid::new_v4().to_string();
    store.create_project(&id, name).await?;
    let token = create_token(store, &id).await?;
    Ok(CreatedProject {
        id,
        name: name.to_owned(),
        token,
    })
}

/// Creates another API token for project `project_id`.
pub async fn create_token(store: &Store, project_id: &str) -> Result<NewToken, ProjectError> {
    if store.project_name(project_id).await?.is_none() {
        return Err(ProjectError::NotFound(project_id.to_owned()));
    }
    let token = tokens::generate().map_err(|e| ProjectError::Random(e.to_string()))?;
    store
        .create_token(&token.id, project_id, &token.secret_hash)
        .await?;
    Ok(token)
}

/// Checks presented bearer tokens. On SQLite token rows are cached (by id, hash
/// included, never the secret); on PostgreSQL each check reads the row with its
/// project's revision, in one query shared by the checks waiting at that moment (see
/// [`LocalCache`] and [`GroupCommit`]). The secret is verified against the hash on
/// every request.
pub struct Authenticator {
    store: Store,
    cache: LocalCache<String, TokenRow>,
    reads: GroupCommit<String, Option<(TokenRow, Revision)>>,
}

fn read_tokens(store: Store, ids: Vec<String>) -> BatchFuture<Option<(TokenRow, Revision)>> {
    Box::pin(async move { store.tokens_at(&ids).await })
}

impl Authenticator {
    /// An authenticator over `store`.
    pub fn new(store: Store) -> Self {
        Authenticator {
            cache: LocalCache::new().watching(store.outside_writes()),
            reads: GroupCommit::new("API token reads", read_tokens),
            store,
        }
    }

    /// The project a presented bearer token acts for, if the token is valid, with the
    /// revision at which the request may use cached rows of it.
    pub async fn project_of(&self, bearer: &str) -> Result<Option<(String, Revision)>, StoreError> {
        let Some((id, secret)) = tokens::parse(bearer) else {
            return Ok(None);
        };
        let (row, at) = if self.store.backend() == Backend::Postgres {
            match self.reads.submit(&self.store, id.to_owned()).await? {
                Some((row, at)) => (Arc::new(row), at),
                None => return Ok(None),
            }
        } else {
            let stamp = self.cache.stamp();
            let row = match self.cache.get(&id.to_owned(), Revision::Local) {
                Some(row) => row,
                None => match self.store.token(id).await? {
                    Some(row) => self.cache.put(stamp, id.to_owned(), row, Revision::Local),
                    None => return Ok(None),
                },
            };
            (row, Revision::Local)
        };
        Ok(tokens::verify(secret, &row.secret_hash).then(|| (row.project_id.clone(), at)))
    }

    /// Revokes project `project_id`'s token `id` (and forgets its cached row); false
    /// when the project has no such token.
    pub async fn revoke(&self, project_id: &str, id: &str) -> Result<bool, StoreError> {
        let revoked = self.store.delete_token(project_id, id).await?;
        self.cache.remove(&id.to_owned());
        Ok(revoked)
    }
}
