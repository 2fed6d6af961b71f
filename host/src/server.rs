//! `serve`: opens the store, loads the keys and the pieces, and runs the API.

use crate::api::{AppState, app};
use crate::catalog::{Catalog, Installer, piece_files};
use crate::connections::Connections;
use crate::oauth::OAuth;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::Store;
use crate::vault::{KeyConfig, KeySource, load_keys};
use crate::webhooks::{WebhookTiming, Webhooks};
use secrecy::SecretString;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What `serve` needs. `Debug` hides the database URL (it may hold a password).
pub struct ServeConfig {
    /// `host:port` to listen on.
    pub listen: String,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The database URL.
    pub database_url: String,
    /// Sandbox settings.
    pub runtime: RuntimeConfig,
    /// The encryption keys given (none: the data directory's key file).
    pub keys: KeyConfig,
    /// The URL browsers reach this server at (OAuth2 callbacks); default
    /// `http://LISTEN-ADDRESS`.
    pub public_url: Option<String>,
    /// The admin token; none disables the admin API.
    pub admin_token: Option<SecretString>,
    /// How often the background refresher looks for OAuth2 tokens about to expire.
    pub refresh_interval: Duration,
    /// When the connection-health webhook worker looks and how it retries.
    pub webhooks: WebhookTiming,
    /// The token `/metrics` asks for; none turns `/metrics` off.
    pub metrics_token: Option<SecretString>,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &"***")
            .field("public_url", &self.public_url)
            .field("keys", &self.keys)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("refresh_interval", &self.refresh_interval)
            .field("webhooks", &self.webhooks)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// What the background refresher considers "about to expire".
pub const REFRESH_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Any startup step, with what it was doing.
    #[error("{0}")]
    Startup(String),
}

/// Everything the API needs, built from a configuration: the data directory, the key
/// (created on first start when none is configured), the migrated store and the pieces
/// (files, then the installed ones).
pub async fn state(config: &ServeConfig) -> Result<AppState, ServeError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| ServeError::Startup(format!("{what}: {e}"));
    crate::data_dir::prepare(&config.data_dir).map_err(ServeError::Startup)?;
    let (vault, source) =
        load_keys(&config.keys, &config.data_dir, true).map_err(|e| fail("encryption key", &e))?;
    match &source {
        KeySource::Created(path) => tracing::warn!(
            "AP_ENCRYPTION_KEY is not set: generated a new encryption key in {} (mode 0600). \
             Back it up: without it no stored credential can be decrypted. Set \
             AP_ENCRYPTION_KEY in production.",
            path.display()
        ),
        KeySource::File(path) => tracing::warn!(
            "AP_ENCRYPTION_KEY is not set: using the generated key in {}",
            path.display()
        ),
        KeySource::Environment => {}
    }
    tracing::info!(
        key_version = vault.current_version(),
        "encryption key loaded"
    );
    let store = Store::open(&config.database_url)
        .await
        .map_err(|e| fail("store", &e))?;
    tracing::info!(backend = store.backend().name(), "store open and migrated");
    crate::key_check::verify(&store, &vault, &source)
        .await
        .map_err(|e| fail("encryption key", &e))?;
    let runtime = Runtime::new(config.runtime.clone()).map_err(|e| fail("sandbox", &e))?;
    let (catalog, skipped) = Catalog::load(&runtime, &piece_files(&config.data_dir)).await;
    for s in skipped {
        tracing::warn!(path = %s.path.display(), reason = %s.reason, "piece not loaded");
    }
    let catalog = Arc::new(catalog);
    let installer = Installer::new(runtime.clone(), store.clone(), catalog.clone());
    installer
        .sync()
        .await
        .map_err(|e| fail("installed pieces", &e))?;
    tracing::info!(pieces = catalog.pieces().len(), "pieces loaded");
    let egress = runtime.egress();
    let connections = Connections::new(store, vault, catalog);
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    // Browsers come back to it from OAuth2 providers and webhook receivers link to it:
    // refused at startup rather than on a user's first Connect.
    match url::Url::parse(&public_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {}
        _ => {
            return Err(ServeError::Startup(format!(
                "public URL {public_url:?}: an absolute http:// or https:// URL is required"
            )));
        }
    }
    let oauth = OAuth::new(
        connections.clone(),
        config.runtime.outbound.clone(),
        egress.clone(),
        &public_url,
    );
    let webhooks = Webhooks::new(
        connections.clone(),
        config.runtime.outbound.clone(),
        egress,
        &public_url,
        config.webhooks,
    );
    let state = AppState::new(
        connections,
        oauth,
        webhooks,
        installer,
        config.admin_token.clone(),
        &public_url,
    );
    Ok(match &config.metrics_token {
        Some(token) => {
            crate::metrics::install();
            state.with_metrics_token(token.clone())
        }
        None => state,
    })
}

/// Builds the state, binds, prints `listening on http://ADDR` on stdout and serves
/// until `shutdown` completes.
pub async fn serve(
    mut config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| ServeError::Startup(format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Startup(e.to_string()))?;
    config.listen = addr.to_string();
    let state = state(&config).await?;
    if let Some(link) = setup_link(&state).await? {
        println!(
            "No user yet. Create the first admin at {link} (single use, valid for {} minutes; \
             a restart prints a new link)",
            crate::accounts::SETUP_LINK_LIFETIME.as_secs() / 60
        );
    }
    println!("listening on http://{addr}");
    run(listener, state, config.refresh_interval, shutdown).await
}

/// On an install with no user, a new one-time link to the "create the first admin"
/// page (printed by `serve`, never logged); `None` once a user exists.
pub async fn setup_link(state: &AppState) -> Result<Option<String>, ServeError> {
    let token = state
        .web
        .accounts
        .setup_token()
        .await
        .map_err(|e| ServeError::Startup(format!("setup link: {e}")))?;
    Ok(token.map(|t| {
        format!(
            "{}/setup?token={}",
            state.web.public_url,
            secrecy::ExposeSecret::expose_secret(&t)
        )
    }))
}

/// Serves `state` on a bound `listener`, with the background OAuth2 refresher, the
/// webhook worker and the installed pieces' watcher, until
/// `shutdown` completes; then closes the store. `serve` and the in-process test app
/// share it.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    refresh_interval: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let refresher = tokio::spawn(
        state
            .oauth
            .clone()
            .run_refresher(refresh_interval, REFRESH_WINDOW),
    );
    let webhooks = tokio::spawn(state.webhooks.clone().run_worker());
    let pieces = tokio::spawn(state.installer.clone().run_watcher());
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "listening");
    }
    let store = state.connections.store().clone();
    crate::accept::serve(listener, app(state), shutdown)
        .await
        .map_err(|e| ServeError::Startup(format!("server: {e}")))?;
    refresher.abort();
    webhooks.abort();
    pieces.abort();
    store.close().await;
    Ok(())
}
