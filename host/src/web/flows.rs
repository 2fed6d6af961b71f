//! The Flows pages: the list (steps, last run and its result), a flow's page (its
//! steps with their connections, reorder and remove, rename, delete, Run now, recent
//! runs) and a run's page (each step's result; a failed step's stable error with its
//! fix as a button). The step editor is [`super::step`]. Every lookup is scoped to the
//! session's project, exactly as the API's are.

use super::connections::{status_label, when};
use super::form::Posted;
use super::layout::Layout;
use super::session::Viewer;
use super::{WebError, render};
use crate::api::AppState;
use crate::flows::{Flow, FlowDefinition, FlowError, template};
use crate::piece::AuthSchema;
use crate::store::{ConnectionRow, RunRow};
use crate::trouble::Trouble;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// Runs listed on a flow's page.
const RECENT_RUNS: i64 = 10;

impl From<FlowError> for WebError {
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::NotFound => WebError::NotFound,
            FlowError::Busy(secs) => WebError::Busy(secs),
            other => WebError::internal(&other),
        }
    }
}

/// A run in a list.
pub struct RunSummary {
    /// Its page.
    pub href: String,
    /// `Succeeded` or `Failed`.
    pub status: &'static str,
    /// The CSS class of the status.
    pub class: &'static str,
    /// When it started.
    pub at: String,
}

fn summary(flow_id: &str, run: &RunRow) -> RunSummary {
    let (status, class) = run_status(&run.status);
    RunSummary {
        href: format!("/flows/{flow_id}/runs/{}", run.id),
        status,
        class,
        at: when(Some(run.started_at)),
    }
}

fn run_status(status: &str) -> (&'static str, &'static str) {
    match status {
        "succeeded" => ("Succeeded", "status-active"),
        "skipped" => ("Skipped", "status-skipped"),
        _ => ("Failed", "status-error"),
    }
}

/// A flow in the list.
pub struct FlowItem {
    /// Its page.
    pub href: String,
    /// Its name.
    pub name: String,
    /// Its steps, as "Piece: Action" in order.
    pub steps: Vec<String>,
    /// Its last run.
    pub last_run: Option<RunSummary>,
}

#[derive(Template)]
#[template(path = "flows.html")]
struct ListPage {
    layout: Layout,
    flows: Vec<FlowItem>,
}

/// "Piece: Action" in display names (the raw names when the piece is gone).
fn step_title(state: &AppState, piece: &str, action: &str) -> String {
    match state.connections.catalog().get(piece) {
        Some(p) => {
            let action = p
                .info()
                .actions
                .iter()
                .find(|a| a.name == action)
                .map_or(action, |a| a.display_name.as_str());
            format!("{}: {action}", p.info().display_name)
        }
        None => format!("{piece}: {action}"),
    }
}

/// `GET /flows`.
pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Response, WebError> {
    let project = viewer.project();
    let layout = Layout::of(&state, &viewer, "flows", "Flows").await?;
    let mut last = state.flows.last_runs(project).await?;
    let mut flows: Vec<FlowItem> = state
        .flows
        .list(project)
        .await?
        .into_iter()
        .map(|f| FlowItem {
            href: format!("/flows/{}", f.id),
            steps: f
                .definition
                .steps
                .iter()
                .map(|s| step_title(&state, &s.piece, &s.action))
                .collect(),
            last_run: last.remove(&f.id).map(|r| summary(&f.id, &r)),
            name: f.definition.name,
        })
        .collect();
    flows.sort_by_key(|f| f.name.to_lowercase());
    Ok(render(StatusCode::OK, &ListPage { layout, flows }))
}

/// A step's connection as a flow's page shows it.
pub struct StepConnection {
    /// The connection's external id (its page's path).
    pub key: String,
    /// Its name ("" when it no longer exists).
    pub name: String,
    /// Active, Expired or Error ("" when it no longer exists).
    pub status: &'static str,
    /// The CSS class of the status.
    pub status_class: &'static str,
    /// The reference text the step stores.
    pub reference: String,
    /// Whether the reference names no connection of the project.
    pub missing: bool,
}

/// A step on a flow's page.
pub struct StepItem {
    /// 1-based position.
    pub number: usize,
    /// Its name.
    pub name: String,
    /// "Piece: Action".
    pub title: String,
    /// Its connection, for pieces that take one.
    pub connection: Option<StepConnection>,
    /// Its input, as pretty JSON.
    pub input: String,
    /// Whether it is the first / last step (no move up / down).
    pub first: bool,
    /// See `first`.
    pub last: bool,
}

#[derive(Template)]
#[template(path = "flow.html")]
struct FlowPage {
    layout: Layout,
    id: String,
    name: String,
    steps: Vec<StepItem>,
    runs: Vec<RunSummary>,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// Which message a flow's page shows after an action.
#[derive(Deserialize, Default)]
pub struct FlowQuery {
    #[serde(default)]
    done: String,
}

/// The project's connections that `flow`'s steps reference, by external id.
async fn connections_of(
    state: &AppState,
    project: &str,
    flow: &Flow,
) -> Result<HashMap<String, ConnectionRow>, WebError> {
    let mut found = HashMap::new();
    for step in &flow.definition.steps {
        let Some(key) = step
            .auth
            .as_deref()
            .and_then(|r| template::parse_connection_ref(r).ok())
        else {
            continue;
        };
        if found.contains_key(&key) {
            continue;
        }
        if let Some(row) = state
            .connections
            .store()
            .find_connection(project, &key)
            .await
            .map_err(|e| WebError::internal(&e))?
        {
            found.insert(key, row);
        }
    }
    Ok(found)
}

/// `GET /flows/{id}`.
pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<FlowQuery>,
) -> Result<Response, WebError> {
    let notice = match query.done.as_str() {
        "saved" => Some("Saved."),
        "created" => Some("Flow created. Add more steps, or run it."),
        "removed" => Some("Step removed."),
        "moved" => Some("Step moved."),
        "renamed" => Some("Renamed."),
        "reconnected" => Some("Reconnected. Run the flow again to check it."),
        _ => None,
    };
    flow_page(&state, &viewer, &id, StatusCode::OK, notice, None).await
}

async fn flow_page(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let project = viewer.project();
    let flow = state.flows.get(project, id).await?;
    let rows = connections_of(state, project, &flow).await?;
    let count = flow.definition.steps.len();
    let steps = flow
        .definition
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepItem {
            number: i + 1,
            name: s.name.clone(),
            title: step_title(state, &s.piece, &s.action),
            connection: s.auth.as_ref().map(|reference| {
                let key = template::parse_connection_ref(reference).unwrap_or_default();
                match rows.get(&key) {
                    Some(row) => {
                        let (status, status_class) = status_label(row.status);
                        StepConnection {
                            name: row.display_name.clone(),
                            status,
                            status_class,
                            reference: reference.clone(),
                            missing: false,
                            key,
                        }
                    }
                    None => StepConnection {
                        name: String::new(),
                        status: "",
                        status_class: "",
                        reference: reference.clone(),
                        missing: true,
                        key,
                    },
                }
            }),
            input: serde_json::to_string_pretty(&masked_input(state, s)).unwrap_or_default(),
            first: i == 0,
            last: i + 1 == count,
        })
        .collect();
    let runs = state
        .flows
        .runs(project, id, RECENT_RUNS)
        .await?
        .iter()
        .map(|r| summary(id, r))
        .collect();
    let layout = Layout::of(state, viewer, "flows", flow.definition.name.clone()).await?;
    Ok(render(
        status,
        &FlowPage {
            layout,
            id: flow.id,
            name: flow.definition.name,
            steps,
            runs,
            notice,
            error,
        },
    ))
}

/// A step's input as a page may show it: the values of the action's secret props
/// replaced by a mask.
fn masked_input(state: &AppState, step: &crate::flows::StepDefinition) -> Value {
    let mut input = step.input.clone();
    let secret_props = state
        .connections
        .catalog()
        .get(&step.piece)
        .and_then(|p| p.info().actions.iter().find(|a| a.name == step.action))
        .map(|a| {
            a.props
                .iter()
                .filter(|p| p.secret || matches!(p.kind, crate::piece::PropKind::SecretText))
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if let Value::Object(map) = &mut input {
        for name in secret_props {
            if let Some(value) = map.get_mut(&name) {
                *value = Value::String("••••••".into());
            }
        }
    }
    input
}

/// Saves a changed definition and returns to the flow's page with `done`, or shows
/// the page with the checker's message (nothing saved).
async fn save(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    definition: FlowDefinition,
    done: &str,
) -> Result<Response, WebError> {
    match state.flows.update(viewer.project(), id, definition).await {
        Ok(_) => Ok(Redirect::to(&format!("/flows/{id}?done={done}")).into_response()),
        Err(FlowError::Invalid(why)) => {
            flow_page(
                state,
                viewer,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(format!("Not saved: {why}")),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// A change to a flow from its page: checks the form's CSRF token, applies `change` to
/// the saved definition and saves it (see [`save`]).
async fn edit(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    posted: &Posted,
    done: &str,
    change: impl FnOnce(&mut FlowDefinition) -> Result<(), WebError>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    let mut definition = state.flows.get(viewer.project(), id).await?.definition;
    change(&mut definition)?;
    save(state, viewer, id, definition, done).await
}

/// `POST /flows/{id}/rename`.
pub async fn rename(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    edit(&state, &viewer, &id, &posted, "renamed", |d| {
        d.name = posted.text("name").to_owned();
        Ok(())
    })
    .await
}

/// `POST /flows/{id}/steps/{n}/move`: `direction` is `up` or `down`.
pub async fn move_step(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, number)): Path<(String, usize)>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    edit(&state, &viewer, &id, &posted, "moved", |d| {
        let from = number.checked_sub(1).ok_or(WebError::NotFound)?;
        let to = match posted.text("direction") {
            "up" => from.checked_sub(1),
            _ => Some(from + 1),
        }
        .filter(|to| from < d.steps.len() && *to < d.steps.len())
        .ok_or(WebError::NotFound)?;
        d.steps.swap(from, to);
        Ok(())
    })
    .await
}

/// `POST /flows/{id}/steps/{n}/remove`.
pub async fn remove_step(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, number)): Path<(String, usize)>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    edit(&state, &viewer, &id, &posted, "removed", |d| {
        let at = number
            .checked_sub(1)
            .filter(|at| *at < d.steps.len())
            .ok_or(WebError::NotFound)?;
        d.steps.remove(at);
        Ok(())
    })
    .await
}

/// `POST /flows/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    state.flows.delete(viewer.project(), &id).await?;
    Ok(Redirect::to("/flows").into_response())
}

/// `POST /flows/{id}/run`: runs now and opens the run's page.
pub async fn run(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    let (_, run) = state.flows.run(viewer.project(), None, &id).await?;
    Ok(Redirect::to(&format!("/flows/{id}/runs/{run}")).into_response())
}

/// A stored run report, read back.
#[derive(Deserialize)]
struct StoredReport {
    status: String,
    steps: Vec<StoredStep>,
}

#[derive(Deserialize)]
struct StoredStep {
    name: String,
    status: String,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<StoredError>,
}

#[derive(Deserialize)]
struct StoredError {
    code: String,
    message: String,
}

/// The fix a failed step offers.
pub enum Fix {
    /// A link (API-key connections: their page's Reconnect form; "Choose a connection").
    Link {
        /// Where.
        href: String,
        /// The button's words.
        label: &'static str,
    },
    /// Reconnect an OAuth2 connection in the popup, then come back to the flow.
    OAuth {
        /// The connection's external id.
        key: String,
        /// The app's name.
        app: String,
    },
}

/// A step of a run's page.
pub struct RunStep {
    /// Its name.
    pub name: String,
    /// Succeeded, Failed or Skipped.
    pub status: &'static str,
    /// The CSS class of the status.
    pub class: &'static str,
    /// Its output as pretty JSON.
    pub output: Option<String>,
    /// The stable code of its error.
    pub code: String,
    /// The error's words.
    pub message: String,
    /// What fixes it, in words ("" when the error is not one the user fixes here).
    pub fix_text: &'static str,
    /// The fix's button.
    pub fix: Option<Fix>,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    layout: Layout,
    flow_id: String,
    flow_name: String,
    status: &'static str,
    class: &'static str,
    at: String,
    steps: Vec<RunStep>,
}

/// `GET /flows/{id}/runs/{n}`.
pub async fn show_run(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, n)): Path<(String, i64)>,
) -> Result<Response, WebError> {
    let run = state.flows.recorded_run(viewer.project(), &id, n).await?;
    run_page(&state, &viewer, &id, &run.report, run.started_at).await
}

async fn run_page(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    report: &str,
    at: i64,
) -> Result<Response, WebError> {
    let project = viewer.project();
    let flow = state.flows.get(project, id).await?;
    let report: StoredReport = serde_json::from_str(report).map_err(|e| WebError::internal(&e))?;
    let rows = connections_of(state, project, &flow).await?;
    let mut steps = Vec::with_capacity(report.steps.len());
    for step in report.steps {
        let (status, class) = run_status(&step.status);
        let (code, message) = step.error.map(|e| (e.code, e.message)).unwrap_or_default();
        let trouble = Trouble::from_code(&code);
        let fix = trouble.and_then(|t| fix_for(state, &flow, &rows, &step.name, t));
        steps.push(RunStep {
            name: step.name,
            status,
            class,
            output: step
                .output
                .map(|o| serde_json::to_string_pretty(&o).unwrap_or_default()),
            code,
            message,
            fix_text: trouble.map(Trouble::fix).unwrap_or(""),
            fix,
        });
    }
    let (status, class) = run_status(&report.status);
    let layout = Layout::of(
        state,
        viewer,
        "flows",
        format!("Run of {}", flow.definition.name),
    )
    .await?;
    Ok(render(
        StatusCode::OK,
        &RunPage {
            layout,
            flow_id: flow.id,
            flow_name: flow.definition.name,
            status,
            class,
            at: when(Some(at)),
            steps,
        },
    ))
}

/// The button that fixes `trouble` on the step named `step` of the flow as it is now:
/// Reconnect for an expired or refused connection that still exists, else "Choose a
/// connection" in the step's editor.
fn fix_for(
    state: &AppState,
    flow: &Flow,
    rows: &HashMap<String, ConnectionRow>,
    step: &str,
    trouble: Trouble,
) -> Option<Fix> {
    let (i, def) = flow
        .definition
        .steps
        .iter()
        .enumerate()
        .find(|(_, s)| s.name == step)?;
    let choose = Fix::Link {
        href: format!("/flows/{}/steps/{}/edit?choose=1", flow.id, i + 1),
        label: "Choose a connection",
    };
    let key = def
        .auth
        .as_deref()
        .and_then(|r| template::parse_connection_ref(r).ok());
    let row = key.as_ref().and_then(|k| rows.get(k));
    match (trouble, row) {
        (Trouble::ConnectionNotFound, _) | (_, None) => Some(choose),
        (_, Some(row)) => {
            let piece = state.connections.catalog().get(&row.piece)?.clone();
            Some(match piece.info().auth {
                AuthSchema::Oauth2 { .. } => Fix::OAuth {
                    key: row.external_id.clone(),
                    app: piece.info().display_name.clone(),
                },
                _ => Fix::Link {
                    href: format!("/connections/{}#reconnect-form", row.external_id),
                    label: "Reconnect",
                },
            })
        }
    }
}
