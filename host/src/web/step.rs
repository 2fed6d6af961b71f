//! The step editor: one form per step, for a new flow (with its name), a new step and
//! an existing one. Without JavaScript it is three pages: choose the app, choose the
//! action, then the step's form — its name, the Connection dropdown (the project's
//! connections of that piece with their status, and "New connection…" last), the
//! action's props rendered from its schema, and the `{{steps.…}}` references earlier
//! steps offer. "New connection…" leaves for the New Connection form with the step's
//! values in the way back, and comes back with the new connection selected. The
//! stored step keeps the `{{connections['external-id']}}` reference; the form shows the
//! connection's name, and the reference under "Advanced".

use super::form::{FieldView, Posted, STEP_FIELD, step_fields, step_input, step_values};
use super::layout::Layout;
use super::session::Viewer;
use super::{WebError, render};
use crate::api::AppState;
use crate::flows::{Flow, FlowDefinition, FlowError, StepDefinition, template};
use crate::piece::{Action, AuthSchema, PieceInfo};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

/// The Connection dropdown's value for "New connection…".
const NEW_CONNECTION: &str = "__new__";

/// Which step the form edits.
enum Target {
    /// The first step of a new flow.
    NewFlow,
    /// A step added at the end of flow `0`.
    NewStep(String),
    /// Step `1` (1-based) of flow `0`.
    Edit(String, usize),
}

impl Target {
    /// The form's own path.
    fn path(&self) -> String {
        match self {
            Target::NewFlow => "/flows/new".into(),
            Target::NewStep(id) => format!("/flows/{id}/steps/new"),
            Target::Edit(id, n) => format!("/flows/{id}/steps/{n}/edit"),
        }
    }

    fn flow_id(&self) -> Option<&str> {
        match self {
            Target::NewFlow => None,
            Target::NewStep(id) | Target::Edit(id, _) => Some(id),
        }
    }

    /// The 0-based index of the step edited, and how many steps run before it.
    fn before(&self, flow: Option<&Flow>) -> usize {
        match (self, flow) {
            (Target::Edit(_, n), _) => n - 1,
            (Target::NewStep(_), Some(f)) => f.definition.steps.len(),
            _ => 0,
        }
    }
}

/// A link of a picker.
pub struct Choice {
    /// The element id.
    pub id: String,
    /// Where it goes.
    pub href: String,
    /// Shown.
    pub label: String,
    /// Said under it.
    pub description: String,
}

#[derive(Template)]
#[template(path = "step_pick.html")]
struct PickPage {
    layout: Layout,
    heading: String,
    hint: &'static str,
    choices: Vec<Choice>,
    cancel: String,
}

/// An option of the Connection dropdown.
pub struct ConnectionOption {
    /// The external id (posted).
    pub value: String,
    /// "Name (Status)".
    pub label: String,
    /// Current.
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "step.html")]
struct StepPage {
    layout: Layout,
    action_path: String,
    cancel: String,
    /// The new flow's name input, for the first step of a new flow.
    flow_name: Option<String>,
    piece: String,
    piece_display: String,
    action: String,
    action_display: String,
    action_description: String,
    change_piece: String,
    change_action: Option<String>,
    step_name: String,
    /// The Connection dropdown, for pieces that take one.
    connections: Option<Vec<ConnectionOption>>,
    /// The reference stored for the selected connection.
    reference: Option<String>,
    /// The saved reference names no connection of the project.
    dangling: Option<String>,
    /// Came from a "Choose a connection" button: the dropdown gets the focus.
    choose: bool,
    fields: Vec<FieldView>,
    references: Vec<String>,
    error: Option<String>,
}

/// `GET /flows/new`.
pub async fn new_flow(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(values): Query<Posted>,
) -> Result<Response, WebError> {
    page(&state, &viewer, Target::NewFlow, values, None).await
}

/// `POST /flows/new`.
pub async fn create_flow(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    submit(&state, &viewer, Target::NewFlow, posted).await
}

/// `GET /flows/{id}/steps/new`.
pub async fn new_step(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(values): Query<Posted>,
) -> Result<Response, WebError> {
    page(&state, &viewer, Target::NewStep(id), values, None).await
}

/// `POST /flows/{id}/steps/new`.
pub async fn add_step(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    submit(&state, &viewer, Target::NewStep(id), posted).await
}

/// `GET /flows/{id}/steps/{n}/edit`.
pub async fn edit_step(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, n)): Path<(String, usize)>,
    Query(values): Query<Posted>,
) -> Result<Response, WebError> {
    page(&state, &viewer, edit_target(id, n)?, values, None).await
}

/// `POST /flows/{id}/steps/{n}/edit`.
pub async fn update_step(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, n)): Path<(String, usize)>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    submit(&state, &viewer, edit_target(id, n)?, posted).await
}

fn edit_target(id: String, n: usize) -> Result<Target, WebError> {
    if n == 0 {
        return Err(WebError::NotFound);
    }
    Ok(Target::Edit(id, n))
}

async fn load(
    state: &AppState,
    viewer: &Viewer,
    target: &Target,
) -> Result<Option<Flow>, WebError> {
    let flow = match target.flow_id() {
        Some(id) => Some(state.flows.get(viewer.project(), id).await?),
        None => None,
    };
    if let (Target::Edit(_, n), Some(f)) = (target, &flow)
        && *n > f.definition.steps.len()
    {
        return Err(WebError::NotFound);
    }
    Ok(flow)
}

/// `href` with the query `pairs`.
fn with_query<'a>(href: &str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            query.append_pair(k, v);
        }
    }
    format!("{href}?{}", query.finish())
}

/// The connection reference for an external id.
fn reference(key: &str) -> String {
    format!("{{{{connections['{key}']}}}}")
}

/// The form's values for the saved step (when the query names no piece).
fn saved_values(state: &AppState, step: &StepDefinition) -> Posted {
    let catalog = state.connections.catalog();
    let props = catalog
        .get(&step.piece)
        .and_then(|p| p.info().actions.iter().find(|a| a.name == step.action))
        .map(|a| a.props.as_slice())
        .unwrap_or_default();
    let key = step
        .auth
        .as_deref()
        .map(|r| template::parse_connection_ref(r).unwrap_or_default())
        .unwrap_or_default();
    step_values(props, &step.input)
        .with("piece", &step.piece)
        .with("action", &step.action)
        .with("step", &step.name)
        .with("connection", &key)
}

async fn page(
    state: &AppState,
    viewer: &Viewer,
    target: Target,
    mut values: Posted,
    error: Option<(StatusCode, String)>,
) -> Result<Response, WebError> {
    let flow = load(state, viewer, &target).await?;
    let saved = match (&target, &flow) {
        (Target::Edit(_, n), Some(f)) => Some(&f.definition.steps[n - 1]),
        _ => None,
    };
    if values.text("piece").is_empty()
        && let Some(step) = saved
    {
        let choose = values.text("choose").to_owned();
        values = saved_values(state, step).with("choose", &choose);
    }
    let path = target.path();
    let cancel = match target.flow_id() {
        Some(id) => format!("/flows/{id}"),
        None => "/flows".into(),
    };
    let title = match &target {
        Target::NewFlow => "New flow".to_owned(),
        Target::NewStep(_) => "Add a step".to_owned(),
        Target::Edit(_, n) => format!("Step {n}"),
    };
    let layout = Layout::of(state, viewer, "flows", title.clone()).await?;
    let catalog = state.connections.catalog();
    let keep = [("flow_name", values.text("flow_name"))];

    // 1. The app.
    let Some(piece) = catalog.get(values.text("piece")) else {
        let mut choices: Vec<Choice> = catalog
            .iter()
            .map(|p| p.info())
            .map(|i| Choice {
                id: format!("piece-{}", i.name),
                href: with_query(&path, keep.into_iter().chain([("piece", i.name.as_str())])),
                label: i.display_name.clone(),
                description: i.description.clone(),
            })
            .collect();
        choices.sort_by(|a, b| a.label.cmp(&b.label));
        return Ok(render(
            StatusCode::OK,
            &PickPage {
                layout,
                heading: format!("{title}: choose the app"),
                hint: "Each step runs one action of an app.",
                choices,
                cancel,
            },
        ));
    };
    let info = piece.info();
    // 2. The action (skipped when there is one).
    let action = match info
        .actions
        .iter()
        .find(|a| a.name == values.text("action"))
    {
        Some(a) => a,
        None if info.actions.len() == 1 => &info.actions[0],
        None => {
            let choices = info
                .actions
                .iter()
                .map(|a| Choice {
                    id: format!("action-{}", a.name),
                    href: with_query(
                        &path,
                        keep.into_iter()
                            .chain([("piece", info.name.as_str()), ("action", a.name.as_str())]),
                    ),
                    label: a.display_name.clone(),
                    description: a.description.clone(),
                })
                .collect();
            return Ok(render(
                StatusCode::OK,
                &PickPage {
                    layout,
                    heading: format!("{title}: what should {} do?", info.display_name),
                    hint: "Choose the action this step runs.",
                    choices,
                    cancel,
                },
            ));
        }
    };
    // 3. The form.
    let before = target.before(flow.as_ref());
    let earlier: &[StepDefinition] = match &flow {
        Some(f) => &f.definition.steps[..before],
        None => &[],
    };
    let step_name = match values.text("step") {
        "" => free_name(&action.name, flow.as_ref(), saved),
        name => name.to_owned(),
    };
    let selected = values.text("connection").to_owned();
    let (connections, dangling) = match info.auth {
        AuthSchema::None => (None, None),
        _ => {
            let (options, found) = connection_options(state, viewer, info, &selected).await?;
            let dangling = (!selected.is_empty() && selected != NEW_CONNECTION && !found)
                .then(|| selected.clone());
            (Some(options), dangling)
        }
    };
    let references = references(state, viewer, flow.as_ref(), earlier).await?;
    let (status, error) = match error {
        Some((status, e)) => (status, Some(e)),
        None => (StatusCode::OK, None),
    };
    Ok(render(
        status,
        &StepPage {
            layout,
            action_path: path.clone(),
            cancel,
            flow_name: matches!(target, Target::NewFlow)
                .then(|| values.text("flow_name").to_owned()),
            piece: info.name.clone(),
            piece_display: info.display_name.clone(),
            action: action.name.clone(),
            action_display: action.display_name.clone(),
            action_description: action.description.clone(),
            change_piece: with_query(&path, keep),
            change_action: (info.actions.len() > 1).then(|| {
                with_query(
                    &path,
                    keep.into_iter().chain([("piece", info.name.as_str())]),
                )
            }),
            step_name,
            reference: (!selected.is_empty() && selected != NEW_CONNECTION && dangling.is_none())
                .then(|| reference(&selected)),
            connections,
            dangling,
            choose: values.text("choose") == "1",
            fields: step_fields(&action.props, Some(&values)),
            references,
            error,
        },
    ))
}

/// The action's name, made unique among the flow's other steps.
fn free_name(base: &str, flow: Option<&Flow>, saved: Option<&StepDefinition>) -> String {
    let taken = |name: &str| {
        flow.is_some_and(|f| {
            f.definition
                .steps
                .iter()
                .any(|s| s.name == name && saved.is_none_or(|own| own.name != name))
        })
    };
    let base: String = base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' '))
        .take(60)
        .collect();
    let base = if base.is_empty() {
        "step".to_owned()
    } else {
        base
    };
    let mut name = base.clone();
    let mut n = 2;
    while taken(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

/// The dropdown's options (the project's connections of the piece — at most 500 — by name, with
/// their status; "New connection…" last), and whether `selected` is one of them.
async fn connection_options(
    state: &AppState,
    viewer: &Viewer,
    info: &PieceInfo,
    selected: &str,
) -> Result<(Vec<ConnectionOption>, bool), WebError> {
    let rows = super::connections::of_piece(state, viewer.project(), &info.name).await?;
    let found = rows.iter().any(|r| r.external_id == selected);
    let mut options: Vec<ConnectionOption> = rows
        .iter()
        .map(|r| ConnectionOption {
            selected: r.external_id == selected,
            label: format!(
                "{} ({})",
                r.display_name,
                super::connections::status_label(r.status).0
            ),
            value: r.external_id.clone(),
        })
        .collect();
    options.push(ConnectionOption {
        value: NEW_CONNECTION.into(),
        label: "New connection…".into(),
        selected: false,
    });
    Ok((options, found))
}

/// An expression path segment: `.name` when it is a plain name, else `['name']`.
fn segment(name: &str) -> Option<String> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Some(format!(".{name}"))
    } else if !name.contains('\'') && !name.contains('\\') {
        Some(format!("['{name}']"))
    } else {
        None
    }
}

/// What the earlier steps offer: each step's whole output and, where the flow's last
/// run produced an object for that step, its fields.
async fn references(
    state: &AppState,
    viewer: &Viewer,
    flow: Option<&Flow>,
    earlier: &[StepDefinition],
) -> Result<Vec<String>, WebError> {
    let mut last_outputs = std::collections::HashMap::new();
    if let Some(f) = flow
        && !earlier.is_empty()
        && let Some(run) = state.flows.runs(viewer.project(), &f.id, 1).await?.pop()
        && let Ok(report) = serde_json::from_str::<Value>(&run.report)
    {
        for step in report["steps"].as_array().into_iter().flatten() {
            if let (Some(name), Some(Value::Object(output))) =
                (step["name"].as_str(), step.get("output"))
            {
                last_outputs.insert(name.to_owned(), output.keys().cloned().collect::<Vec<_>>());
            }
        }
    }
    let mut out = Vec::new();
    for step in earlier {
        let Some(head) = segment(&step.name) else {
            continue;
        };
        let head = format!("steps{head}.output");
        out.push(format!("{{{{{head}}}}}"));
        for key in last_outputs.get(&step.name).into_iter().flatten() {
            if let Some(tail) = segment(key) {
                out.push(format!("{{{{{head}{tail}}}}}"));
            }
        }
    }
    Ok(out)
}

/// Where a "New connection…" detour returns: this form with its values (never a
/// secret prop's), which the New Connection form sends back with `connection` set.
fn return_url(target: &Target, action: &Action, posted: &Posted) -> String {
    let secret = |name: &str| {
        action.props.iter().any(|p| {
            name.strip_prefix(STEP_FIELD) == Some(p.name.as_str())
                && (p.secret || matches!(p.kind, crate::piece::PropKind::SecretText))
        })
    };
    with_query(
        &target.path(),
        posted
            .pairs_without_csrf()
            .into_iter()
            .filter(|(k, _)| *k != "connection" && *k != "choose" && !secret(k)),
    )
}

/// Whether `href` is a way back into the step editor this server may redirect to.
pub fn safe_return(href: &str) -> bool {
    let path = href.split('?').next().unwrap_or_default();
    let lower = path.to_ascii_lowercase();
    href.starts_with("/flows/")
        && href.contains('?')
        && !href.contains("//")
        && !href.contains('\\')
        && !href.chars().any(char::is_control)
        && !lower.contains("%2e")
        && !lower.contains("%2f")
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
        && (path == "/flows/new" || path.ends_with("/steps/new") || path.ends_with("/edit"))
}

async fn submit(
    state: &AppState,
    viewer: &Viewer,
    target: Target,
    posted: Posted,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    let flow = load(state, viewer, &target).await?;
    let catalog = state.connections.catalog();
    let piece = catalog
        .get(posted.text("piece"))
        .ok_or(WebError::NotFound)?;
    let info = piece.info();
    let action = info
        .actions
        .iter()
        .find(|a| a.name == posted.text("action"))
        .ok_or(WebError::NotFound)?;
    let connection = posted.text("connection").trim().to_owned();
    if connection == NEW_CONNECTION {
        let back = return_url(&target, action, &posted);
        return Ok(Redirect::to(&with_query(
            &format!("/connections/new/{}", info.name),
            [("return", back.as_str())],
        ))
        .into_response());
    }
    let saved = match (&target, &flow) {
        (Target::Edit(_, n), Some(f)) => Some(&f.definition.steps[n - 1]),
        _ => None,
    };
    let same_action = saved.filter(|s| s.piece == info.name && s.action == action.name);
    let outcome = build_step(info, action, &posted, &connection, same_action);
    let step = match outcome {
        Ok(step) => step,
        Err(why) => {
            return page(
                state,
                viewer,
                target,
                posted,
                Some((StatusCode::UNPROCESSABLE_ENTITY, why)),
            )
            .await;
        }
    };
    let project = viewer.project();
    let result = match (&target, flow) {
        (Target::NewFlow, _) => state
            .flows
            .create(
                project,
                FlowDefinition {
                    name: posted.text("flow_name").to_owned(),
                    steps: vec![step],
                },
            )
            .await
            .map(|f| format!("/flows/{}?done=created", f.id)),
        (Target::NewStep(id), Some(mut f)) => {
            f.definition.steps.push(step);
            state
                .flows
                .update(project, id, f.definition)
                .await
                .map(|f| format!("/flows/{}?done=saved", f.id))
        }
        (Target::Edit(id, n), Some(mut f)) => {
            f.definition.steps[n - 1] = step;
            state
                .flows
                .update(project, id, f.definition)
                .await
                .map(|f| format!("/flows/{}?done=saved", f.id))
        }
        _ => Err(FlowError::NotFound),
    };
    match result {
        Ok(href) => Ok(Redirect::to(&href).into_response()),
        Err(FlowError::Invalid(why)) => {
            page(
                state,
                viewer,
                target,
                posted,
                Some((StatusCode::UNPROCESSABLE_ENTITY, why)),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// The posted step, or what is wrong with it.
fn build_step(
    info: &PieceInfo,
    action: &Action,
    posted: &Posted,
    connection: &str,
    previous: Option<&StepDefinition>,
) -> Result<StepDefinition, String> {
    let auth = match (&info.auth, connection) {
        (AuthSchema::None, _) => None,
        (_, "") => {
            return Err(format!(
                "Choose a {} connection for this step (or “New connection…”).",
                info.display_name
            ));
        }
        (_, key) => Some(reference(key)),
    };
    let input = step_input(&action.props, posted, previous.map(|s| &s.input))?;
    Ok(StepDefinition {
        name: posted.text("step").trim().to_owned(),
        piece: info.name.clone(),
        action: action.name.clone(),
        auth,
        input: Value::Object(input),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_back_into_the_flow_editor_are_returned_to() {
        assert!(safe_return("/flows/new?piece=openai"));
        assert!(safe_return("/flows/abc/steps/2/edit?piece=slack&step=post"));
        for bad in [
            "https://evil.example/flows/?x",
            "//evil.example/flows/?x",
            "/flows//evil.example?x",
            "/connections?x",
            "/flows/new",
            "/flows/\\evil?x",
            "/flows/x?a=\n",
            "/flows/../settings/edit?x",
            "/flows/%2e%2e/audit/edit?x",
            "/flows/abc?x",
        ] {
            assert!(!safe_return(bad), "{bad}");
        }
    }

    #[test]
    fn references_use_brackets_for_names_that_are_not_plain() {
        assert_eq!(segment("ask").as_deref(), Some(".ask"));
        assert_eq!(segment("my step").as_deref(), Some("['my step']"));
        assert_eq!(segment("it's"), None);
    }
}
