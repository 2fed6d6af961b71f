//! The audit trail in words: the Audit page (the project's events, newest first, 50 a
//! page) and the activity list of a connection's page share one description of an
//! event, with flows named rather than numbered.

use super::connections::when;
use super::layout::Layout;
use super::session::Viewer;
use super::{WebError, render};
use crate::api::AppState;
use crate::store::AuditEvent;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::collections::HashMap;

/// Events per page of the Audit page.
const PAGE_SIZE: i64 = 50;

/// An event as the pages list it.
pub struct EventView {
    /// When.
    pub at: String,
    /// The connection's external id at the time ("" for none).
    pub connection: String,
    /// What happened, in words.
    pub what: String,
}

/// The project's flow names by id, for "used by flow …".
pub async fn flow_names(
    state: &AppState,
    project: &str,
) -> Result<HashMap<String, String>, WebError> {
    Ok(state
        .flows
        .list(project)
        .await
        .map_err(|e| WebError::internal(&e))?
        .into_iter()
        .map(|f| (f.id, f.definition.name))
        .collect())
}

/// One event in words.
pub fn describe(e: &AuditEvent, flows: &HashMap<String, String>) -> EventView {
    let detail: serde_json::Value = e
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    let text = |k: &str| detail.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let what = match e.event.as_str() {
        "created" => "Created".to_owned(),
        "renamed" => format!("Renamed from “{}” to “{}”", text("from"), text("to")),
        "reconnected" => "Reconnected".to_owned(),
        "deleted" => "Deleted".to_owned(),
        "used" => match e.flow_id.as_deref() {
            Some(id) => match flows.get(id) {
                Some(name) => format!("Used by flow “{name}”"),
                None => "Used by a flow since deleted".to_owned(),
            },
            None => "Used".to_owned(),
        },
        "refreshed" => "Access token refreshed".to_owned(),
        other => match text("reason") {
            "" => other.replace('_', " "),
            reason => format!("{} ({})", other.replace('_', " "), reason.replace('_', " ")),
        },
    };
    EventView {
        at: when(Some(e.at)),
        connection: e.external_id.clone().unwrap_or_default(),
        what,
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    events: Vec<EventView>,
    older: Option<String>,
}

/// The Audit page's query: events before this sequence number.
#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    before: String,
}

/// `GET /audit`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<AuditQuery>,
) -> Result<Response, WebError> {
    let project = viewer.project();
    let before = query.before.parse::<i64>().ok();
    let mut events = state
        .connections
        .audit(project, None, before, PAGE_SIZE + 1)
        .await?;
    let more = events.len() > PAGE_SIZE as usize;
    events.truncate(PAGE_SIZE as usize);
    let older = more
        .then(|| events.last().map(|e| format!("/audit?before={}", e.id)))
        .flatten();
    let flows = flow_names(&state, project).await?;
    let layout = Layout::of(&state, &viewer, "audit", "Audit").await?;
    Ok(render(
        StatusCode::OK,
        &AuditPage {
            layout,
            events: events.iter().map(|e| describe(e, &flows)).collect(),
            older,
        },
    ))
}
