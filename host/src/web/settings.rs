//! Settings, for admins: the OAuth apps of the OAuth2 pieces (client id shown, secret
//! write-only), the project's members (add an existing user), the project's API
//! tokens and its agent tokens for MCP, each with the (connection, action) tools it may
//! call (a new token is shown once; revoke). Other users get "not found".

use super::connections::when;
use super::form::Posted;
use super::layout::Layout;
use super::session::Viewer;
use super::{WebError, render};
use crate::api::AppState;
use crate::piece::AuthSchema;
use crate::projects::create_token;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::{ExposeSecret as _, SecretString};

/// An OAuth2 piece and its app.
pub struct AppView {
    /// The piece's name.
    pub piece: String,
    /// Its display name.
    pub display_name: String,
    /// The registered client id, if any.
    pub client_id: Option<String>,
}

/// A member.
pub struct MemberView {
    /// Email.
    pub email: String,
    /// Admin or member.
    pub role: &'static str,
}

/// An API token.
pub struct TokenView {
    /// Its public id.
    pub id: String,
    /// Created.
    pub created: String,
}

/// An agent token.
pub struct AgentView {
    /// Its public id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its tools, as "Action (Connection)".
    pub tools: Vec<String>,
    /// Created.
    pub created: String,
    /// Last tool call.
    pub last_used: String,
    /// Not revoked.
    pub live: bool,
}

/// A (connection, action) an agent token may be given: a checkbox.
pub struct ToolChoice {
    /// The input's name after `tool.`: `CONNECTION_ID|ACTION`.
    pub key: String,
    /// "Action (Connection)".
    pub label: String,
}

/// A token made by this request, shown once.
pub struct Shown {
    /// `api` or `agent`: which section shows it.
    pub kind: &'static str,
    /// The token.
    pub token: String,
}

/// The checkboxes' name prefix in the new agent token form.
const TOOL: &str = "tool.";

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    apps: Vec<AppView>,
    members: Vec<MemberView>,
    tokens: Vec<TokenView>,
    agents: Vec<AgentView>,
    choices: Vec<ToolChoice>,
    new_token: Option<Shown>,
    error: Option<String>,
    notice: Option<&'static str>,
    callback_url: String,
}

/// Only admins reach settings; others see what a missing page looks like.
pub(super) fn admin(viewer: &Viewer) -> Result<(), WebError> {
    if viewer.0.is_admin {
        Ok(())
    } else {
        Err(WebError::NotFound)
    }
}

async fn page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    new_token: Option<Shown>,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Result<Response, WebError> {
    admin(viewer)?;
    let store = state.connections.store();
    let project = viewer.project();
    let mut apps = Vec::new();
    for piece in state.connections.catalog().iter() {
        let info = piece.info();
        if matches!(info.auth, AuthSchema::Oauth2 { .. }) {
            let client_id = store
                .oauth_app(&info.name)
                .await
                .map_err(|e| WebError::internal(&e))?
                .map(|(id, _)| id);
            apps.push(AppView {
                piece: info.name.clone(),
                display_name: info.display_name.clone(),
                client_id,
            });
        }
    }
    apps.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    let members = store
        .members(project)
        .await
        .map_err(|e| WebError::internal(&e))?
        .into_iter()
        .map(|m| MemberView {
            email: m.email,
            role: if m.is_admin != 0 { "Admin" } else { "Member" },
        })
        .collect();
    let tokens = store
        .tokens_of(project)
        .await
        .map_err(|e| WebError::internal(&e))?
        .into_iter()
        .map(|t| TokenView {
            id: t.id,
            created: when(Some(t.created_at)),
        })
        .collect();
    let (agents, choices) = agents_and_choices(state, project).await?;
    let layout = Layout::of(state, viewer, "settings", "Settings").await?;
    Ok(render(
        status,
        &SettingsPage {
            layout,
            apps,
            members,
            tokens,
            agents,
            choices,
            new_token,
            error,
            notice,
            callback_url: format!("{}/oauth2/callback", state.web.public_url),
        },
    ))
}

/// `GET /settings`.
pub async fn show(State(state): State<AppState>, viewer: Viewer) -> Result<Response, WebError> {
    page(&state, &viewer, StatusCode::OK, None, None, None).await
}

/// `POST /settings/oauth-apps/{piece}`: registers or replaces a piece's OAuth app.
pub async fn set_app(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(piece): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    admin(&viewer)?;
    let secret = SecretString::from(posted.text("client_secret").to_owned());
    match state
        .oauth
        .set_app(&piece, posted.text("client_id"), &secret)
        .await
    {
        Ok(()) => {
            page(
                &state,
                &viewer,
                StatusCode::OK,
                None,
                None,
                Some("OAuth app saved."),
            )
            .await
        }
        Err(crate::oauth::OAuthError::Invalid(why)) => {
            page(
                &state,
                &viewer,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(why),
                None,
            )
            .await
        }
        Err(crate::oauth::OAuthError::Connection(_)) => Err(WebError::NotFound),
        Err(e) => Err(WebError::internal(&e)),
    }
}

/// `POST /settings/members`: adds an existing user to the project.
pub async fn add_member(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    admin(&viewer)?;
    match state
        .web
        .accounts
        .add_to_project(posted.text("email"), viewer.project())
        .await
    {
        Ok(()) => {
            page(
                &state,
                &viewer,
                StatusCode::OK,
                None,
                None,
                Some("Member added."),
            )
            .await
        }
        Err(
            e @ (crate::accounts::AccountError::NotFound(_)
            | crate::accounts::AccountError::BadEmail),
        ) => {
            let why = format!(
                "{e}. Create the account first: thinkfleet user create --email … --project {}",
                viewer.project()
            );
            page(
                &state,
                &viewer,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(why),
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /settings/tokens`: creates an API token, shown on this page only.
pub async fn create_api_token(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    admin(&viewer)?;
    let token = create_token(state.connections.store(), viewer.project())
        .await
        .map_err(|e| WebError::internal(&e))?;
    showing_once(&state, &viewer, "api", token.token.expose_secret()).await
}

/// The page with a token this request made, shown this once (and never stored by a
/// cache).
async fn showing_once(
    state: &AppState,
    viewer: &Viewer,
    kind: &'static str,
    token: &str,
) -> Result<Response, WebError> {
    let shown = Shown {
        kind,
        token: token.to_owned(),
    };
    let mut response = page(state, viewer, StatusCode::OK, Some(shown), None, None).await?;
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// The answer to a revoke: back to Settings, or "not found" when there was nothing of
/// that id to revoke.
fn after_revoke<E: std::fmt::Display>(revoked: Result<bool, E>) -> Result<Response, WebError> {
    match revoked {
        Ok(true) => Ok(Redirect::to("/settings").into_response()),
        Ok(false) => Err(WebError::NotFound),
        Err(e) => Err(WebError::internal(&e)),
    }
}

/// The project's agent tokens, and every (connection, action) one may be given.
async fn agents_and_choices(
    state: &AppState,
    project: &str,
) -> Result<(Vec<AgentView>, Vec<ToolChoice>), WebError> {
    let connections = state
        .connections
        .list(project)
        .await
        .map_err(|e| WebError::internal(&e))?;
    let catalog = state.connections.catalog();
    let mut choices = Vec::new();
    let mut labels = std::collections::HashMap::new();
    for c in &connections {
        let Some(piece) = catalog.get(&c.piece) else {
            continue;
        };
        for a in &piece.info().actions {
            let key = format!("{}|{}", c.id, a.name);
            let label = format!("{} ({})", a.display_name, c.display_name);
            labels.insert(key.clone(), label.clone());
            choices.push(ToolChoice { key, label });
        }
    }
    let agents = state
        .agents
        .list(project)
        .await
        .map_err(|e| WebError::internal(&e))?
        .into_iter()
        .map(|(row, tools)| AgentView {
            id: row.id,
            name: row.name,
            tools: tools
                .iter()
                .map(|t| {
                    labels
                        .get(&format!("{}|{}", t.connection_id, t.action))
                        .cloned()
                        .unwrap_or_else(|| t.action.clone())
                })
                .collect(),
            created: when(Some(row.created_at)),
            last_used: when(row.last_used_at),
            live: row.revoked_at.is_none(),
        })
        .collect();
    Ok((agents, choices))
}

/// `POST /settings/agents`: an agent token for the ticked tools, shown on this page
/// only.
pub async fn create_agent(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    admin(&viewer)?;
    let tools: Vec<crate::agents::ToolRequest> = posted
        .ticked(TOOL)
        .into_iter()
        .filter_map(|key| key.split_once('|'))
        .map(|(connection, action)| crate::agents::ToolRequest {
            connection: connection.to_owned(),
            action: action.to_owned(),
        })
        .collect();
    let made = state
        .agents
        .create(viewer.project(), None, posted.text("name"), &tools)
        .await;
    let (row, _, token) = match made {
        Ok(made) => made,
        Err(crate::agents::AgentError::Invalid(why)) => {
            return page(
                &state,
                &viewer,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(why),
                None,
            )
            .await;
        }
        Err(e) => return Err(WebError::internal(&e)),
    };
    tracing::info!(agent = %row.id, "agent token made in Settings");
    showing_once(&state, &viewer, "agent", token.expose_secret()).await
}

/// `POST /settings/agents/{id}/revoke`.
pub async fn revoke_agent(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    admin(&viewer)?;
    after_revoke(state.agents.revoke(viewer.project(), &id).await)
}

/// `POST /settings/tokens/{id}/revoke`.
pub async fn revoke_api_token(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    admin(&viewer)?;
    after_revoke(state.auth.revoke(viewer.project(), &id).await)
}
