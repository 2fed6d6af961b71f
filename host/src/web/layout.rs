//! What every signed-in page shows around its content: the sidebar (sections, the
//! project picker, the count of connections that need attention), the user, and the
//! session's CSRF token for the sidebar's own forms.

use super::{Viewer, WebError};
use crate::api::AppState;
use crate::store::{ConnectionRow, ConnectionStatus};

/// A project in the picker.
pub struct ProjectChoice {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether the session looks at it.
    pub selected: bool,
}

/// The frame of a signed-in page.
pub struct Layout {
    /// The page's title.
    pub title: String,
    /// Which sidebar section is current (`connections`, `flows`, `audit`, `settings`).
    pub section: &'static str,
    /// The user's email.
    pub email: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// The user's projects.
    pub projects: Vec<ProjectChoice>,
    /// Expired and errored connections in the project.
    pub attention: usize,
    /// Whether the user sees Settings.
    pub is_admin: bool,
}

impl Layout {
    /// The frame for `viewer`'s page titled `title` in `section`.
    pub async fn of(
        state: &AppState,
        viewer: &Viewer,
        section: &'static str,
        title: impl Into<String>,
    ) -> Result<Layout, WebError> {
        let session = &viewer.0;
        let attention = state
            .connections
            .store()
            .attention_count(viewer.project())
            .await
            .map_err(|e| WebError::internal(&e))?;
        let attention = usize::try_from(attention).unwrap_or(0);
        Ok(Layout {
            title: title.into(),
            section,
            email: session.email.clone(),
            csrf: session.csrf_token.clone(),
            projects: viewer
                .1
                .iter()
                .map(|p| ProjectChoice {
                    selected: p.id == session.project_id,
                    id: p.id.clone(),
                    name: p.name.clone(),
                })
                .collect(),
            attention,
            is_admin: session.is_admin,
        })
    }
}

/// Whether a connection is expired or in error.
pub fn needs_attention(row: &ConnectionRow) -> bool {
    row.has_status(ConnectionStatus::Expired) || row.has_status(ConnectionStatus::Error)
}
