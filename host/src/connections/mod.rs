//! Connections: the lifecycle of stored credentials (create, list, rename, reconnect,
//! delete, resolve), their status and their audit trail. Validation runs the piece's
//! `validate` in the sandbox before anything is stored; credentials go through the
//! vault on their way in and out of the store.

pub mod session;

pub use thinkfleet_core::{external_id, value};

pub use value::{ConnectionValue, PropInput, ValueError, ValueInput};

use crate::catalog::{Catalog, Pieces};
use crate::local_cache::LocalCache;
use crate::piece::{Credentials, PieceError};
use crate::runtime::{CallError, LoadedPiece};
use crate::store::{
    AuditEvent, AuditFilter, ConnectionRow, ConnectionStatus, FlowRef, NewAuditEvent,
    NewConnection, Revision, Store, StoreError, UseRecord,
};
use crate::vault::{Binding, RecordKind, Sealed, Vault, VaultError};
use std::sync::Arc;

/// Why a connection operation failed. No variant carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// Missing, deleted or another project's: indistinguishable on purpose.
    #[error("{}", crate::trouble::Trouble::ConnectionNotFound.message())]
    NotFound,
    /// No piece of that name is loaded.
    #[error("Piece not found: {0}")]
    UnknownPiece(String),
    /// The request is wrong (bad external id, empty name, value of the wrong kind).
    #[error("{0}")]
    Invalid(String),
    /// The piece's `validate` refused the credentials; its own message.
    #[error("{0}")]
    Rejected(#[source] PieceError),
    /// The service behind the piece failed while validating.
    #[error("the service failed while validating: {0}")]
    Upstream(String),
    /// The piece misbehaved in the sandbox (trap, timeout, memory).
    #[error("the piece failed: {0}")]
    Piece(#[source] CallError),
    /// The connection's refresh token was revoked or its lifetime ended.
    #[error("{}", crate::trouble::Trouble::ConnectionExpired.message())]
    Expired,
    /// Flows still reference the connection (delete again with confirmation).
    #[error(
        "Connection is used by {} flow(s): {}; delete with ?confirm=true to delete it anyway \
         (those flows will then fail with \"Connection not found\")",
        .0.len(),
        .0.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
    )]
    InUse(Vec<FlowRef>),
    /// The project already has this external id.
    #[error("external id `{0}` is already used in this project")]
    ExternalIdTaken(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A credential could not be sealed or opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// Results of connection operations.
pub type Result<T, E = ConnectionError> = std::result::Result<T, E>;

/// A request to create a connection.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConnectionRequest {
    /// The piece's name.
    pub piece: String,
    /// The name users see.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub display_name: String,
    /// The id flows reference; defaults to a slug of the display name.
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub external_id: Option<String>,
    /// The credential.
    pub value: ValueInput,
}

/// The connections service. Cheap to clone.
#[derive(Clone)]
pub struct Connections {
    store: Store,
    vault: Vault,
    catalog: Arc<Catalog>,
    /// Rows with their sealed credentials by (project, external id), for runs; see
    /// [`LocalCache`]. Never plaintext.
    by_reference: Arc<LocalCache<(String, String), (ConnectionRow, Sealed)>>,
}

impl Connections {
    /// A service over this store, vault and catalog.
    pub fn new(store: Store, vault: Vault, catalog: Arc<Catalog>) -> Self {
        Connections {
            by_reference: Arc::new(LocalCache::new()),
            store,
            vault,
            catalog,
        }
    }

    /// The pieces on offer now (hold it for the length of one job: an install or
    /// upgrade meanwhile does not change it).
    pub fn catalog(&self) -> Arc<Pieces> {
        self.catalog.pieces()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Validates and stores a new connection in `project`.
    pub async fn create(&self, project: &str, req: NewConnectionRequest) -> Result<ConnectionRow> {
        let display_name = display_name(&req.display_name)?;
        let external_id = checked_external_id(req.external_id, &display_name)?;
        let piece = &self.piece(&req.piece)?;
        // A taken external id is answered before the piece calls its service; the
        // insert's own check still decides a race.
        if self
            .store
            .find_by_external_id(project, &external_id)
            .await?
            .is_some()
        {
            return Err(ConnectionError::ExternalIdTaken(external_id));
        }
        let (value, expires_at) = self.validated(project, piece, req.value).await?;
        self.insert(
            project,
            &req.piece,
            display_name,
            external_id,
            &value,
            expires_at,
        )
        .await
    }

    /// Stores a new connection whose value was already validated (the OAuth2 callback).
    pub async fn create_validated(
        &self,
        project: &str,
        piece: &str,
        display_name: &str,
        external_id: Option<String>,
        value: &ConnectionValue,
        expires_at: Option<i64>,
    ) -> Result<ConnectionRow> {
        let display_name = self::display_name(display_name)?;
        let external_id = checked_external_id(external_id, &display_name)?;
        self.piece(piece)?;
        self.insert(project, piece, display_name, external_id, value, expires_at)
            .await
    }

    async fn insert(
        &self,
        project: &str,
        piece_name: &str,
        display_name: String,
        external_id: String,
        value: &ConnectionValue,
        expires_at: Option<i64>,
    ) -> Result<ConnectionRow> {
        let piece = &self.piece(piece_name)?;
        let row = ConnectionRow {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project.to_owned(),
            external_id,
            display_name,
            piece: piece_name.to_owned(),
            auth_type: piece.info().auth.kind().to_owned(),
            status: ConnectionStatus::Active,
            created_at: 0,
            updated_at: 0,
            last_used_at: None,
            expires_at,
            token_issued_at: None,
        };
        let sealed = self.vault.seal(binding(&row), &value.to_plaintext())?;
        let audit = event(&row, "created", None);
        match self
            .store
            .insert_connection(
                NewConnection {
                    row: &row,
                    sealed: &sealed,
                },
                audit,
            )
            .await
        {
            Err(StoreError::Conflict) => {
                return Err(ConnectionError::ExternalIdTaken(row.external_id));
            }
            other => other?,
        }
        self.get(project, &row.id).await
    }

    /// The project's connections, newest first.
    pub async fn list(&self, project: &str) -> Result<Vec<ConnectionRow>> {
        Ok(self.store.list_connections(project).await?)
    }

    /// The project's connection with id or external id `key`.
    pub async fn get(&self, project: &str, key: &str) -> Result<ConnectionRow> {
        self.store
            .find_connection(project, key)
            .await?
            .ok_or(ConnectionError::NotFound)
    }

    /// Renames a connection; its external id, and so every reference, is unchanged.
    pub async fn rename(&self, project: &str, key: &str, name: &str) -> Result<ConnectionRow> {
        let name = display_name(name)?;
        let row = self.get(project, key).await?;
        let detail = serde_json::json!({ "from": row.display_name, "to": name }).to_string();
        let audit = event(&row, "renamed", Some(detail));
        if !self
            .store
            .rename_connection(project, &row.id, &name, audit)
            .await?
        {
            return Err(ConnectionError::NotFound);
        }
        self.forget(&row);
        self.get(project, &row.id).await
    }

    /// Validates new credentials, then replaces the old ones in one statement.
    pub async fn reconnect(
        &self,
        project: &str,
        key: &str,
        input: ValueInput,
    ) -> Result<ConnectionRow> {
        let row = self.get(project, key).await?;
        let piece = &self.piece(&row.piece)?;
        let (value, expires_at) = self.validated(project, piece, input).await?;
        self.replace(project, &row, &value, expires_at).await
    }

    /// Replaces a connection's credentials with an already validated value (the OAuth2
    /// callback of a reconnect) and marks it active.
    pub async fn replace(
        &self,
        project: &str,
        row: &ConnectionRow,
        value: &ConnectionValue,
        expires_at: Option<i64>,
    ) -> Result<ConnectionRow> {
        let sealed = self.vault.seal(binding(row), &value.to_plaintext())?;
        let audit = event(row, "reconnected", None);
        if !self
            .store
            .replace_credential(project, &row.id, &sealed, expires_at, audit)
            .await?
        {
            return Err(ConnectionError::NotFound);
        }
        self.forget(row);
        self.get(project, &row.id).await
    }

    /// Opens a connection's sealed value (the OAuth2 refresh needs its host-only fields).
    pub fn open_value(&self, row: &ConnectionRow, sealed: &Sealed) -> Result<ConnectionValue> {
        let plain = self.vault.open(binding(row), sealed)?;
        ConnectionValue::from_plaintext(&plain).map_err(|e| ConnectionError::Invalid(e.to_string()))
    }

    /// Seals a value for a connection's row.
    pub fn seal_value(&self, row: &ConnectionRow, value: &ConnectionValue) -> Result<Sealed> {
        Ok(self.vault.seal(binding(row), &value.to_plaintext())?)
    }

    /// The typed credentials of a value for a connection's piece.
    pub fn credentials_of(
        &self,
        row: &ConnectionRow,
        value: &ConnectionValue,
    ) -> Result<Credentials> {
        let piece = &self.piece(&row.piece)?;
        value
            .credentials(&piece.info().auth)
            .map_err(|e| ConnectionError::Invalid(e.to_string()))
    }

    /// The vault (the OAuth2 module seals its states and apps with it).
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Drops the cached row of a connection after a write elsewhere (a refresh).
    pub fn forget_cached(&self, row: &ConnectionRow) {
        self.forget(row);
    }

    /// The project's flows whose steps reference the connection.
    pub async fn usage(&self, project: &str, key: &str) -> Result<Vec<FlowRef>> {
        let row = self.get(project, key).await?;
        Ok(self.store.flows_using(project, &row.external_id).await?)
    }

    /// Deletes a connection. While flows reference it, only with `confirm`; otherwise
    /// [`ConnectionError::InUse`] lists them.
    pub async fn delete(&self, project: &str, key: &str, confirm: bool) -> Result<ConnectionRow> {
        let row = self.get(project, key).await?;
        if !confirm {
            let flows = self.store.flows_using(project, &row.external_id).await?;
            if !flows.is_empty() {
                return Err(ConnectionError::InUse(flows));
            }
        }
        let audit = event(&row, "deleted", None);
        let deleted = self
            .store
            .delete_connection(project, &row.id, audit)
            .await?;
        self.forget(&row);
        if !deleted {
            return Err(ConnectionError::NotFound);
        }
        Ok(row)
    }

    /// The connection `key` (id or external id) of `project` with its decrypted
    /// credentials, ready for a sandboxed call.
    pub async fn resolve(&self, project: &str, key: &str) -> Result<(ConnectionRow, Credentials)> {
        let row = self.get(project, key).await?;
        self.open(row).await
    }

    /// What a flow's `{{connections['external-id']}}` names in `project`: the
    /// connection and its credentials, from the cache when it holds the row at
    /// revision `at`. An expired connection is [`ConnectionError::Expired`].
    pub async fn resolve_reference(
        &self,
        project: &str,
        at: Revision,
        external_id: &str,
    ) -> Result<(ConnectionRow, Credentials)> {
        let key = (project.to_owned(), external_id.to_owned());
        let stamp = self.by_reference.stamp();
        let found = match self.by_reference.get(&key, at) {
            Some(found) => found,
            None => {
                let found = self
                    .store
                    .find_by_external_id(project, external_id)
                    .await?
                    .ok_or(ConnectionError::NotFound)?;
                self.by_reference.put(stamp, key, found, at)
            }
        };
        let (row, sealed) = &*found;
        if row.has_status(ConnectionStatus::Expired) {
            return Err(ConnectionError::Expired);
        }
        let creds = self.credentials(row, sealed)?;
        Ok((row.clone(), creds))
    }

    /// Forgets the cached row of a connection (after a write to it).
    fn forget(&self, row: &ConnectionRow) {
        self.by_reference
            .remove(&(row.project_id.clone(), row.external_id.clone()));
    }

    /// After a use of `row` was written (or failed to be): the status changes when the
    /// service refused the key, or when an `error` connection just worked again, so the
    /// cached row must go.
    pub fn after_use(&self, record: &UseRecord, row: &ConnectionRow) {
        if record.status.is_some() || row.has_status(ConnectionStatus::Error) {
            self.forget(row);
        }
    }

    async fn open(&self, row: ConnectionRow) -> Result<(ConnectionRow, Credentials)> {
        let sealed = self
            .store
            .sealed_credential(&row.project_id, &row.id)
            .await?
            .ok_or(ConnectionError::NotFound)?;
        let creds = self.credentials(&row, &sealed)?;
        Ok((row, creds))
    }

    /// Opens a sealed credential and types it for the row's piece.
    fn credentials(&self, row: &ConnectionRow, sealed: &Sealed) -> Result<Credentials> {
        let piece = &self.piece(&row.piece)?;
        let plain = self.vault.open(binding(row), sealed)?;
        let value = ConnectionValue::from_plaintext(&plain)
            .map_err(|e| ConnectionError::Invalid(e.to_string()))?;
        value
            .credentials(&piece.info().auth)
            .map_err(|e| ConnectionError::Invalid(e.to_string()))
    }

    /// The project's audit trail, newest first, optionally for one connection (by id
    /// or external id; a deleted connection's events are found by its id).
    pub async fn audit(
        &self,
        project: &str,
        connection: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        self.audit_filtered(project, connection, AuditFilter::default(), before, limit)
            .await
    }

    /// The project's events that pass `filter`, and of the connection `connection`
    /// (id or external id) when given, newest first.
    pub async fn audit_filtered(
        &self,
        project: &str,
        connection: Option<&str>,
        filter: AuditFilter<'_>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        let id = match connection {
            Some(key) => Some(match self.store.find_connection(project, key).await? {
                Some(row) => row.id,
                None => key.to_owned(),
            }),
            None => None,
        };
        let filter = AuditFilter {
            connection_id: id.as_deref(),
            ..filter
        };
        Ok(self
            .store
            .filter_audit(project, &filter, before, limit)
            .await?)
    }

    /// The loaded piece `name`, or [`ConnectionError::UnknownPiece`].
    pub(crate) fn piece(&self, name: &str) -> Result<LoadedPiece> {
        self.catalog
            .pieces()
            .get(name)
            .cloned()
            .ok_or_else(|| ConnectionError::UnknownPiece(name.to_owned()))
    }

    /// Checks the value against the piece's schema, opens a session when the piece
    /// has them, and runs its `validate`; returns the value to store and when its
    /// session expires.
    async fn validated(
        &self,
        project: &str,
        piece: &LoadedPiece,
        input: ValueInput,
    ) -> Result<(ConnectionValue, Option<i64>)> {
        let info = piece.info();
        let (value, creds) = ConnectionValue::from_input(&info.name, &info.auth, input)
            .map_err(|e| ConnectionError::Invalid(e.to_string()))?;
        if !info.sessions {
            validate(piece, project, &creds).await?;
            return Ok((value, None));
        }
        let (value, expires_at) = session::open(piece, project, &value).await?;
        let creds = value
            .credentials(&info.auth)
            .map_err(|e| ConnectionError::Invalid(e.to_string()))?;
        validate(piece, project, &creds).await?;
        Ok((value, expires_at))
    }
}

/// Runs a piece's `validate` on credentials: the piece's refusal, the service's failure
/// and the piece's misbehaviour each become their own error (the one mapping the API
/// and the OAuth2 callback share). Runs within `project`'s share of the sandbox.
pub async fn validate(piece: &LoadedPiece, project: &str, creds: &Credentials) -> Result<()> {
    piece
        .validate_for(Some(project), creds)
        .await
        .map_err(call_error)
}

/// A failed `validate` or session: the piece's refusal, the service's failure, or the
/// piece's misbehaviour.
fn call_error(e: CallError) -> ConnectionError {
    match e {
        CallError::Piece(PieceError::Upstream(m)) => ConnectionError::Upstream(m),
        CallError::Piece(e) => ConnectionError::Rejected(e),
        e => ConnectionError::Piece(e),
    }
}

fn checked_external_id(given: Option<String>, display_name: &str) -> Result<String> {
    match given {
        Some(id) if external_id::is_valid(&id) => Ok(id),
        Some(_) => Err(ConnectionError::Invalid(format!(
            "external_id must be 1 to {} letters, digits, '-', '_' or '.'",
            external_id::MAX_LEN
        ))),
        None => Ok(external_id::slug(display_name)),
    }
}

fn display_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ConnectionError::Invalid(
            "display_name must be 1 to 200 characters".into(),
        ));
    }
    Ok(name.to_owned())
}

fn binding(row: &ConnectionRow) -> Binding<'_> {
    Binding {
        project: &row.project_id,
        kind: RecordKind::Connection,
        id: &row.id,
    }
}

fn event<'a>(row: &'a ConnectionRow, what: &'a str, detail: Option<String>) -> NewAuditEvent<'a> {
    NewAuditEvent::for_connection(row, what, detail)
}
