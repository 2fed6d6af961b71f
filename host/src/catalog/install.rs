//! Pieces installed as data, live: `thinkfleet piece install` and
//! `POST /api/v1/admin/pieces` check a component the way a start would (it loads, its
//! metadata passes the host's checks, its contract version is one this host speaks),
//! store it in the database (bytes, SHA-256, version, who) and make it live without a
//! restart.
//!
//! Every replica learns of a change by polling one counter (`piece_generation`, bumped
//! in the same transaction as the change) every [`POLL_INTERVAL`], then loads the rows
//! whose hash differs from what it runs. Polling rather than PostgreSQL's
//! LISTEN/NOTIFY: it is the same code on SQLite (where the CLI is another process on
//! the file) and on PostgreSQL, it misses nothing while a connection is down (a
//! notification sent meanwhile is lost, so LISTEN needs this poll anyway), and it costs
//! one primary-key read per replica every two seconds. The replica that made the
//! change loads it before answering.
//!
//! A call already running keeps the version it started with (it holds the
//! [`super::Pieces`] it found); the next call gets the new one. An installed piece never
//! replaces a piece loaded from a file (an example or `DATA_DIR/pieces/`): the install
//! is refused, and a file added later with an installed piece's name wins with a
//! warning at start.

use super::{Catalog, Source};
use crate::flows::definition::FlowDefinition;
use crate::runtime::{LoadError, LoadedPiece, Runtime};
use crate::store::{InstalledHead, NewInstall, PieceEvent, Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// The largest component accepted for installation (the example pieces are 0.2–6 MB).
pub const MAX_COMPONENT_BYTES: usize = 32 * 1024 * 1024;

/// How often each replica looks for installs made elsewhere.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Installs, upgrades and uninstalls pieces, and keeps the catalog's installed pieces
/// in step with the database. Cheap to clone.
#[derive(Clone)]
pub struct Installer {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
    store: Store,
    catalog: Arc<Catalog>,
    /// What this process has loaded; the lock also makes syncs one at a time.
    loaded: Mutex<Loaded>,
}

#[derive(Default)]
struct Loaded {
    /// The generation the catalog reflects (none: read everything again).
    generation: Option<i64>,
    /// Installed pieces by name.
    pieces: BTreeMap<String, LoadedPiece>,
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    /// `install`, `upgrade`, or `unchanged` (these exact bytes were installed already).
    pub action: &'static str,
    /// The piece's name.
    pub name: String,
    /// The version now installed.
    pub version: String,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// The version it replaced.
    pub previous_version: Option<String>,
    /// Whether this server offers it now (false only when it was stored but loading it
    /// here failed: the watcher tries again, and the log says why).
    pub live: bool,
}

/// Why an install was refused. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Over [`MAX_COMPONENT_BYTES`].
    #[error("the component is {size} bytes; the largest accepted is {MAX_COMPONENT_BYTES}")]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// Not a piece this host can load.
    #[error("not an installable piece: {0}")]
    Invalid(#[source] LoadError),
    /// A piece loaded from a file has this name.
    #[error(
        "a piece named `{name}` is already loaded from {loaded_from}; an installed piece \
         cannot replace it (rename the piece, or remove the file and restart)"
    )]
    NameTaken {
        /// The piece's name.
        name: String,
        /// Where the other one comes from.
        loaded_from: Source,
    },
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an uninstall was refused. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum UninstallError {
    /// No installed piece has this name.
    #[error("{}", not_installed(name, loaded_from.as_ref()))]
    NotInstalled {
        /// The name asked for.
        name: String,
        /// Where a piece of that name comes from, when one is loaded.
        loaded_from: Option<Source>,
    },
    /// Flows use it and the uninstall was not forced.
    #[error(
        "`{name}` is used by {}; change those flows first, or force the uninstall (their \
         steps will then fail with `piece_not_found`)",
        users.describe()
    )]
    InUse {
        /// The piece.
        name: String,
        /// Who uses it.
        users: PieceUsers,
    },
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn not_installed(name: &str, loaded_from: Option<&Source>) -> String {
    match loaded_from {
        Some(source @ Source::File(_)) => format!(
            "`{name}` is not installed: it is loaded from {source} (remove the file and \
             restart to take it away)"
        ),
        _ => format!("no piece named `{name}` is installed"),
    }
}

/// Why an installed row was not loaded.
enum RowError {
    /// The database did not answer, or the host failed: try again at the next look.
    Retry(Box<dyn std::error::Error + Send + Sync>),
    /// The component does not load here (e.g. a contract this binary does not speak):
    /// the running version, if any, stays.
    Load(Box<dyn std::error::Error + Send + Sync>),
}

/// The flows (in every project) whose steps use a piece, and how many connections
/// belong to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PieceUsers {
    /// (project id, flow id, flow name).
    pub flows: Vec<(String, String, String)>,
    /// Connections of the piece, in every project.
    pub connections: i64,
}

impl PieceUsers {
    fn describe(&self) -> String {
        let names: Vec<String> = self
            .flows
            .iter()
            .take(5)
            .map(|(project, id, name)| format!("\"{name}\" ({id}, project {project})"))
            .collect();
        let more = self.flows.len().saturating_sub(names.len());
        let mut text = format!(
            "{} flow{}: {}",
            self.flows.len(),
            if self.flows.len() == 1 { "" } else { "s" },
            names.join(", ")
        );
        if more > 0 {
            text.push_str(&format!(" and {more} more"));
        }
        text
    }
}

impl Installer {
    /// An installer keeping `catalog`'s installed pieces in step with `store`.
    pub fn new(runtime: Runtime, store: Store, catalog: Arc<Catalog>) -> Self {
        Installer {
            inner: Arc::new(Inner {
                runtime,
                store,
                catalog,
                loaded: Mutex::new(Loaded::default()),
            }),
        }
    }

    /// Checks `component` and installs it (or upgrades the installed piece of its
    /// name), as `actor`; live in this process when this returns, in the others within
    /// [`POLL_INTERVAL`].
    pub async fn install(
        &self,
        component: &[u8],
        actor: &str,
    ) -> Result<InstallReport, InstallError> {
        if component.len() > MAX_COMPONENT_BYTES {
            return Err(InstallError::TooLarge {
                size: component.len(),
            });
        }
        let piece = self
            .inner
            .runtime
            .load(component)
            .await
            .map_err(InstallError::Invalid)?;
        let info = piece.info();
        if let Some(source @ Source::File(_)) = self.inner.catalog.pieces().source(&info.name) {
            return Err(InstallError::NameTaken {
                name: info.name.clone(),
                loaded_from: source.clone(),
            });
        }
        let event = self
            .inner
            .store
            .install_piece(&NewInstall {
                name: &info.name,
                version: &info.version,
                sha256: piece.digest(),
                component,
                actor,
            })
            .await?;
        if let Err(e) = self.sync().await {
            // Stored: the watcher makes it live at its next look.
            tracing::warn!(error = %e, "installed piece stored; loading it here failed, retrying");
        }
        let report = InstallReport {
            action: match event.as_ref().map(|e| e.action.as_str()) {
                Some("upgrade") => "upgrade",
                Some(_) => "install",
                None => "unchanged",
            },
            name: info.name.clone(),
            version: info.version.clone(),
            sha256: piece.digest().to_owned(),
            previous_version: event.and_then(|e| e.previous_version),
            live: {
                let pieces = self.inner.catalog.pieces();
                matches!(pieces.source(&info.name), Some(Source::Installed))
                    && pieces
                        .get(&info.name)
                        .is_some_and(|p| p.digest() == piece.digest())
            },
        };
        tracing::info!(
            piece = %report.name,
            version = %report.version,
            sha256 = %report.sha256,
            action = report.action,
            actor,
            "piece installed"
        );
        Ok(report)
    }

    /// Uninstalls the installed piece `name`, as `actor`; refused while flows use it
    /// unless `force`. Returns the history event and who used it.
    pub async fn uninstall(
        &self,
        name: &str,
        force: bool,
        actor: &str,
    ) -> Result<(PieceEvent, PieceUsers), UninstallError> {
        let installed = self.inner.store.installed_pieces().await?;
        if !installed.iter().any(|h| h.name == name) {
            return Err(self.not_installed(name));
        }
        let users = self.users(name).await?;
        if !force && !users.flows.is_empty() {
            return Err(UninstallError::InUse {
                name: name.to_owned(),
                users,
            });
        }
        let Some(event) = self.inner.store.uninstall_piece(name, actor).await? else {
            return Err(self.not_installed(name));
        };
        if let Err(e) = self.sync().await {
            tracing::warn!(error = %e, "uninstall stored; applying it here failed, retrying");
        }
        tracing::info!(piece = name, actor, forced = force, "piece uninstalled");
        Ok((event, users))
    }

    fn not_installed(&self, name: &str) -> UninstallError {
        UninstallError::NotInstalled {
            name: name.to_owned(),
            loaded_from: self.inner.catalog.pieces().source(name).cloned(),
        }
    }

    /// The flows using the piece `name` and the number of its connections.
    pub async fn users(&self, name: &str) -> Result<PieceUsers, StoreError> {
        let needle = format!("\"piece\":{}", serde_json::Value::from(name));
        let mut flows = Vec::new();
        for row in self.inner.store.flows_mentioning(&needle).await? {
            let uses = serde_json::from_str::<FlowDefinition>(&row.definition)
                .is_ok_and(|d| d.steps.iter().any(|s| s.piece == name));
            if uses {
                flows.push((row.project_id, row.id, row.name));
            }
        }
        let connections = self.inner.store.connections_of_piece_count(name).await?;
        Ok(PieceUsers { flows, connections })
    }

    /// The installed pieces (heads, no bytes) and the newest `limit` history entries.
    pub async fn installed(
        &self,
        limit: i64,
    ) -> Result<(Vec<InstalledHead>, Vec<PieceEvent>), StoreError> {
        Ok((
            self.inner.store.installed_pieces().await?,
            self.inner.store.piece_events(limit).await?,
        ))
    }

    /// Brings the catalog's installed pieces in step with the database when the
    /// generation moved; true when it looked at the rows. A row whose component no
    /// longer loads here keeps the version this process ran, with a warning.
    pub async fn sync(&self) -> Result<bool, StoreError> {
        let mut loaded = self.inner.loaded.lock().await;
        let generation = self.inner.store.piece_generation().await?;
        if loaded.generation == Some(generation) {
            return Ok(false);
        }
        let mut complete = true;
        let mut next = BTreeMap::new();
        for head in self.inner.store.installed_pieces().await? {
            if let Some(piece) = loaded.pieces.get(&head.name)
                && piece.digest() == head.sha256
            {
                next.insert(head.name, piece.clone());
                continue;
            }
            match self.load_row(&head).await {
                Ok(Some(piece)) => {
                    tracing::info!(piece = %head.name, version = %head.version, "installed piece live");
                    next.insert(head.name, piece);
                }
                // Changed since the heads were read, or the database did not answer:
                // keep what runs, and look again next time.
                outcome @ (Ok(None) | Err(RowError::Retry(_))) => {
                    if let Err(RowError::Retry(e)) = outcome {
                        tracing::warn!(piece = %head.name, error = %e, "could not read an installed piece; trying again");
                    }
                    complete = false;
                    if let Some(old) = loaded.pieces.get(&head.name) {
                        next.insert(head.name, old.clone());
                    }
                }
                Err(RowError::Load(reason)) => {
                    tracing::warn!(
                        piece = %head.name,
                        version = %head.version,
                        %reason,
                        "installed piece not loaded; this replica keeps the version it runs"
                    );
                    if let Some(old) = loaded.pieces.get(&head.name) {
                        next.insert(head.name, old.clone());
                    }
                }
            }
        }
        for (name, path) in self
            .inner
            .catalog
            .set_installed(next.values().cloned().collect())
        {
            tracing::warn!(
                piece = %name,
                file = %path.display(),
                "an installed piece has the name of a piece loaded from a file; the file's is offered"
            );
        }
        loaded.pieces = next;
        loaded.generation = complete.then_some(generation);
        Ok(true)
    }

    /// Loads one installed row; `None` when it changed since `head` was read.
    async fn load_row(&self, head: &InstalledHead) -> Result<Option<LoadedPiece>, RowError> {
        let bytes = self
            .inner
            .store
            .installed_component(&head.name, &head.sha256)
            .await
            .map_err(|e| RowError::Retry(e.into()))?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let piece = self.inner.runtime.load(&bytes).await.map_err(|e| match e {
            // The host, not the component: try again at the next look.
            LoadError::Host(e) => RowError::Retry(e.into()),
            e => RowError::Load(e.into()),
        })?;
        if piece.info().name != head.name || piece.digest() != head.sha256 {
            return Err(RowError::Load(
                "the stored component does not match its row (name or hash)".into(),
            ));
        }
        Ok(Some(piece))
    }

    /// Looks for changes every [`POLL_INTERVAL`] until dropped; every `serve` runs it.
    pub async fn run_watcher(self) {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.sync().await {
                tracing::warn!(error = %e, "could not read the installed pieces");
            }
        }
    }
}
