//! The audit trail in words: the Audit page (the project's events, newest first, 50 a
//! page, filtered by connection, flow and kind) and the activity list of a connection's page share one description of an
//! event, with flows named rather than numbered.

use super::connections::FilterOption;
use super::connections::when;
use super::layout::Layout;
use super::session::Viewer;
use super::{WebError, render};
use crate::api::AppState;
use crate::store::{AuditEvent, AuditFilter, EVENT_KINDS};
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
        "used" => match (e.flow_id.as_deref(), text("agent")) {
            (Some(id), _) => match flows.get(id) {
                Some(name) => format!("Used by flow “{name}”"),
                None => "Used by a flow since deleted".to_owned(),
            },
            (None, "") => "Used".to_owned(),
            (None, agent) => format!("Used by agent “{agent}”"),
        },
        "refreshed" => "Access token refreshed".to_owned(),
        "replaced" | "replacing" => {
            let flows = detail.get("flows").and_then(|v| v.as_u64()).unwrap_or(0);
            let verb = if e.event == "replaced" {
                "Replaced by"
            } else {
                "Took the place of"
            };
            format!("{verb} “{}” in {flows} flow(s)", text("with"))
        }
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
    connections: Vec<FilterOption>,
    flows: Vec<FilterOption>,
    kinds: Vec<FilterOption>,
    filtered: bool,
    /// The agent token whose calls are shown, if filtered so (kept by the filter form).
    agent: Option<String>,
}

/// The Audit page's query: filters (connection external id, flow id, event kind, agent
/// token id) and events before this sequence number.
#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    before: String,
    #[serde(default)]
    connection: String,
    #[serde(default)]
    flow: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    agent: String,
}

fn some(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// `GET /audit`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<AuditQuery>,
) -> Result<Response, WebError> {
    let project = viewer.project();
    let before = query.before.parse::<i64>().ok();
    let filter = AuditFilter {
        external_id: some(&query.connection),
        flow_id: some(&query.flow),
        event: some(&query.event),
        agent_id: some(&query.agent),
        ..AuditFilter::default()
    };
    let mut events = state
        .connections
        .store()
        .filter_audit(project, &filter, before, PAGE_SIZE + 1)
        .await
        .map_err(|e| WebError::internal(&e))?;
    let more = events.len() > PAGE_SIZE as usize;
    events.truncate(PAGE_SIZE as usize);
    let older = more
        .then(|| {
            events.last().map(|e| {
                let mut href = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in [
                    ("connection", &query.connection),
                    ("flow", &query.flow),
                    ("event", &query.event),
                    ("agent", &query.agent),
                ] {
                    if !v.is_empty() {
                        href.append_pair(k, v);
                    }
                }
                href.append_pair("before", &e.id.to_string());
                format!("/audit?{}", href.finish())
            })
        })
        .flatten();
    let flow_names = flow_names(&state, project).await?;
    let mut flows: Vec<FilterOption> = flow_names
        .iter()
        .map(|(id, name)| FilterOption {
            selected: *id == query.flow,
            value: id.clone(),
            label: name.clone(),
        })
        .collect();
    flows.sort_by(|a, b| a.label.cmp(&b.label));
    let mut connections: Vec<FilterOption> = state
        .connections
        .store()
        .list_connections(project)
        .await
        .map_err(|e| WebError::internal(&e))?
        .into_iter()
        .map(|c| FilterOption {
            selected: c.external_id == query.connection,
            label: format!("{} ({})", c.display_name, c.external_id),
            value: c.external_id,
        })
        .collect();
    connections.sort_by(|a, b| a.label.cmp(&b.label));
    if !query.connection.is_empty() && !connections.iter().any(|c| c.selected) {
        // A deleted connection's events stay listed under its external id.
        connections.push(FilterOption {
            value: query.connection.clone(),
            label: format!("{} (deleted)", query.connection),
            selected: true,
        });
    }
    let kinds = EVENT_KINDS
        .iter()
        .map(|(kind, label)| FilterOption {
            selected: *kind == query.event,
            value: (*kind).to_owned(),
            label: (*label).to_owned(),
        })
        .collect();
    let layout = Layout::of(&state, &viewer, "audit", "Audit").await?;
    Ok(render(
        StatusCode::OK,
        &AuditPage {
            layout,
            events: events.iter().map(|e| describe(e, &flow_names)).collect(),
            older,
            connections,
            flows,
            kinds,
            filtered: filter.external_id.is_some()
                || filter.flow_id.is_some()
                || filter.event.is_some()
                || filter.agent_id.is_some(),
            agent: some(&query.agent).map(str::to_owned),
        },
    ))
}
