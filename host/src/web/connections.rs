//! The Connections pages: the table (sort, filter by status and app, search, 50 rows a
//! page), New Connection (pick a piece, then its form), and a connection's page
//! (rename, reconnect, delete after listing the flows that use it, its audit events).
//! Every lookup is scoped to the session's project, exactly as the API's are.

use super::activity::EventView;
use super::form::{FieldView, Posted, fields, value_input};
use super::layout::{Layout, needs_attention};
use super::session::Viewer;
use super::{WebError, render};
use crate::api::AppState;
use crate::connections::{ConnectionError, NewConnectionRequest};
use crate::piece::AuthSchema;
use crate::runtime::LoadedPiece;
use crate::store::{ConnectionRow, ConnectionStatus, FlowRef, PageQuery, SortKey};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Rows per page of the table.
pub const PAGE_SIZE: usize = 50;

/// A row of the table.
pub struct RowView {
    /// The connection's external id (its page's path).
    pub key: String,
    /// Its name.
    pub name: String,
    /// The piece's display name.
    pub app: String,
    /// Active, Expired or Error.
    pub status: &'static str,
    /// The CSS class of the status.
    pub status_class: &'static str,
    /// What the status means and what fixes it ("" when active).
    pub status_hint: &'static str,
    /// Created, as text.
    pub created: String,
    /// Last used, as text ("never").
    pub last_used: String,
}

/// A column the table sorts by.
pub struct SortLink {
    /// The header's text.
    pub label: &'static str,
    /// The link that sorts by it (toggling the direction when it is current).
    pub href: String,
    /// `ascending`, `descending` or `none`, for `aria-sort`.
    pub aria: &'static str,
}

/// An option of a filter.
pub struct FilterOption {
    /// Posted value.
    pub value: String,
    /// Shown.
    pub label: String,
    /// Current.
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "connections.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<RowView>,
    total: usize,
    shown_from: usize,
    shown_to: usize,
    project_total: usize,
    q: String,
    statuses: Vec<FilterOption>,
    apps: Vec<FilterOption>,
    columns: Vec<SortLink>,
    prev: Option<String>,
    next: Option<String>,
}

/// The table's query string.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
    #[serde(default)]
    page: String,
}

impl ListQuery {
    fn is_unfiltered(&self) -> bool {
        self.q.trim().is_empty() && self.status.is_empty() && self.app.is_empty()
    }

    fn href(&self, sort: &str, dir: &str, page: usize) -> String {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", self.q.as_str()),
            ("status", &self.status),
            ("app", &self.app),
        ] {
            if !v.is_empty() {
                url.append_pair(k, v);
            }
        }
        url.append_pair("sort", sort).append_pair("dir", dir);
        if page > 1 {
            url.append_pair("page", &page.to_string());
        }
        format!("/connections?{}", url.finish())
    }
}

/// The table's columns: (key, label).
const COLUMNS: [(&str, &str); 5] = [
    ("name", "Name"),
    ("app", "App"),
    ("status", "Status"),
    ("created", "Created"),
    ("used", "Last used"),
];

/// `GET /connections`.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<ListQuery>,
) -> Result<Response, WebError> {
    let layout = Layout::of(&state, &viewer, "connections", "Connections").await?;
    let catalog = state.connections.catalog();
    let app_name = |piece: &str| {
        catalog
            .get(piece)
            .map(|p| p.info().display_name.clone())
            .unwrap_or_else(|| piece.to_owned())
    };
    let needle = query.q.trim().to_lowercase();
    let search_pieces: Vec<String> = catalog
        .iter()
        .map(LoadedPiece::info)
        .filter(|i| !needle.is_empty() && i.display_name.to_lowercase().contains(&needle))
        .map(|i| i.name.clone())
        .collect();
    let sort = if COLUMNS.iter().any(|(k, _)| *k == query.sort) {
        query.sort.as_str()
    } else {
        "name"
    };
    let descending = query.dir == "desc";
    let page = query.page.parse::<usize>().unwrap_or(1).max(1);
    let store = state.connections.store();
    let mut page_query = PageQuery {
        status: query.status.parse::<ConnectionStatus>().ok(),
        piece: (!query.app.is_empty()).then_some(query.app.as_str()),
        search: (!needle.is_empty()).then_some(needle.as_str()),
        search_pieces: &search_pieces,
        sort: match sort {
            "app" => SortKey::App,
            "status" => SortKey::Status,
            "created" => SortKey::Created,
            "used" => SortKey::LastUsed,
            _ => SortKey::Name,
        },
        descending,
        offset: i64::try_from((page - 1) * PAGE_SIZE).unwrap_or(i64::MAX),
        limit: PAGE_SIZE as i64,
    };
    let (mut rows, mut total) = store
        .connection_page(viewer.project(), &page_query)
        .await
        .map_err(|e| WebError::internal(&e))?;
    let pages = usize::try_from(total)
        .unwrap_or(0)
        .div_ceil(PAGE_SIZE)
        .max(1);
    let page = page.min(pages);
    if rows.is_empty() && page > 1 {
        // Past the last page: show the last one.
        page_query.offset = i64::try_from((page - 1) * PAGE_SIZE).unwrap_or(0);
        (rows, total) = store
            .connection_page(viewer.project(), &page_query)
            .await
            .map_err(|e| WebError::internal(&e))?;
    }
    let project_total = if total > 0 || query.is_unfiltered() {
        usize::try_from(total).unwrap_or(0)
    } else {
        store
            .connection_page(
                viewer.project(),
                &PageQuery {
                    status: None,
                    piece: None,
                    search: None,
                    limit: 0,
                    offset: 0,
                    ..page_query.clone()
                },
            )
            .await
            .map_err(|e| WebError::internal(&e))?
            .1 as usize
    };
    let total = usize::try_from(total).unwrap_or(0);
    let start = (page - 1) * PAGE_SIZE;
    let dir = if descending { "desc" } else { "asc" };
    let mut apps: Vec<FilterOption> = state
        .connections
        .catalog()
        .iter()
        .filter(|p| !matches!(p.info().auth, AuthSchema::None))
        .map(|p| FilterOption {
            selected: p.info().name == query.app,
            value: p.info().name.clone(),
            label: p.info().display_name.clone(),
        })
        .collect();
    apps.sort_by(|a, b| a.label.cmp(&b.label));
    let page_view = ListPage {
        layout,
        rows: rows
            .iter()
            .map(|c| row_view(c, app_name(&c.piece)))
            .collect(),
        total,
        shown_from: if total == 0 { 0 } else { start + 1 },
        shown_to: (start + PAGE_SIZE).min(total),
        project_total,
        statuses: ConnectionStatus::ALL
            .iter()
            .map(|s| FilterOption {
                value: s.as_str().to_owned(),
                label: status_label(*s).0.to_owned(),
                selected: query.status == s.as_str(),
            })
            .collect(),
        apps,
        columns: COLUMNS
            .iter()
            .map(|(key, label)| {
                let current = *key == sort;
                let next_dir = if current && !descending {
                    "desc"
                } else {
                    "asc"
                };
                SortLink {
                    label,
                    href: query.href(key, next_dir, 1),
                    aria: match (current, descending) {
                        (false, _) => "none",
                        (true, false) => "ascending",
                        (true, true) => "descending",
                    },
                }
            })
            .collect(),
        prev: (page > 1).then(|| query.href(sort, dir, page - 1)),
        next: (page < pages).then(|| query.href(sort, dir, page + 1)),
        q: query.q.clone(),
    };
    Ok(render(StatusCode::OK, &page_view))
}

fn row_view(c: &ConnectionRow, app: String) -> RowView {
    let (status, status_class) = status_label(c.status);
    RowView {
        key: c.external_id.clone(),
        name: c.display_name.clone(),
        app,
        status,
        status_class,
        status_hint: match status_class {
            "status-expired" => "The app no longer accepts this connection: reconnect it.",
            "status-error" => "The app refused it or refreshing it kept failing: reconnect it.",
            _ => "",
        },
        created: when(Some(c.created_at)),
        last_used: when(c.last_used_at),
    }
}

/// A status's label and CSS class.
pub fn status_label(status: ConnectionStatus) -> (&'static str, &'static str) {
    match status {
        ConnectionStatus::Active => ("Active", "status-active"),
        ConnectionStatus::Expired => ("Expired", "status-expired"),
        ConnectionStatus::Error => ("Error", "status-error"),
    }
}

/// A Unix-ms time as `2026-11-25 18:30 UTC`; "never" for none.
pub fn when(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "never".into();
    };
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// A piece offered on New Connection.
pub struct PieceView {
    /// Its name (the form's path).
    pub name: String,
    /// Its display name.
    pub display_name: String,
    /// Its description.
    pub description: String,
    /// What kind of credential it takes, in words.
    pub auth: &'static str,
    /// Whether it takes OAuth2.
    pub oauth: bool,
    /// Where a connection's credential goes.
    pub credential_hosts: Vec<String>,
    /// Whether the host applies the credential (the piece never holds it).
    pub host_applied: bool,
    /// For a piece with sessions: the hosts it may log in at with the entered
    /// credential (its allowed hosts); the session then goes to `credential_hosts`.
    pub login_hosts: Vec<String>,
    /// Its logo, a `data:image/…` URL (shown only as an image).
    pub logo: Option<String>,
    /// The service's website (`https://…`).
    pub website: Option<String>,
}

#[derive(Template)]
#[template(path = "pick_piece.html")]
struct PickPage {
    layout: Layout,
    q: String,
    pieces: Vec<PieceView>,
}

/// The search box of the piece picker.
#[derive(Deserialize, Default)]
pub struct PickQuery {
    #[serde(default)]
    q: String,
}

/// `GET /connections/new`: choose the app.
pub async fn pick_piece(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<PickQuery>,
) -> Result<Response, WebError> {
    let layout = Layout::of(&state, &viewer, "connections", "New connection").await?;
    let needle = query.q.trim().to_lowercase();
    let mut pieces: Vec<PieceView> = state
        .connections
        .catalog()
        .iter()
        .map(LoadedPiece::info)
        .filter(|i| !matches!(i.auth, AuthSchema::None))
        .filter(|i| {
            needle.is_empty()
                || i.display_name.to_lowercase().contains(&needle)
                || i.name.contains(&needle)
        })
        .map(info_view)
        .collect();
    pieces.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    Ok(render(
        StatusCode::OK,
        &PickPage {
            layout,
            q: query.q,
            pieces,
        },
    ))
}

fn auth_words(schema: &AuthSchema) -> &'static str {
    match schema {
        AuthSchema::SecretText { .. } => "API key",
        AuthSchema::Basic { .. } => "Username and password",
        AuthSchema::Oauth2 { .. } => "Sign in with OAuth2",
        AuthSchema::Custom { .. } => "Connection details",
        AuthSchema::None => "None",
    }
}

#[derive(Template)]
#[template(path = "new_connection.html")]
struct NewPage {
    layout: Layout,
    piece: PieceView,
    /// An OAuth2 piece: Connect in a popup instead of Save.
    oauth: bool,
    /// Its OAuth app is registered (else the page says what the operator must do).
    oauth_ready: bool,
    display_name: String,
    external_id: String,
    fields: Vec<FieldView>,
    error: Option<String>,
    /// The flow step this connection is made for (a path back into the step editor).
    back: Option<String>,
}

/// The New Connection form's query: the step editor's way back, when the form was
/// opened from a step's "New connection…".
#[derive(Deserialize, Default)]
pub struct NewQuery {
    #[serde(default, rename = "return")]
    back: String,
}

/// `back` if it is a way back into the step editor.
fn way_back(back: &str) -> Option<String> {
    super::step::safe_return(back).then(|| back.to_owned())
}

fn piece_of(state: &AppState, name: &str) -> Result<LoadedPiece, WebError> {
    state
        .connections
        .catalog()
        .get(name)
        .cloned()
        .filter(|p| !matches!(p.info().auth, AuthSchema::None))
        .ok_or(WebError::NotFound)
}

fn piece_view(piece: &LoadedPiece) -> PieceView {
    info_view(piece.info())
}

fn info_view(i: &crate::piece::PieceInfo) -> PieceView {
    PieceView {
        name: i.name.clone(),
        display_name: i.display_name.clone(),
        description: i.description.clone(),
        auth: auth_words(&i.auth),
        oauth: matches!(i.auth, AuthSchema::Oauth2 { .. }),
        credential_hosts: i.credential_hosts.clone(),
        host_applied: i.placement.is_some(),
        login_hosts: if i.sessions {
            i.allowed_hosts.clone()
        } else {
            Vec::new()
        },
        logo: i.logo.clone(),
        website: i.website.clone(),
    }
}

/// Whether an OAuth2 piece can be connected (its app is registered); true for others.
async fn oauth_ready(state: &AppState, piece: &LoadedPiece) -> Result<bool, WebError> {
    if !matches!(piece.info().auth, AuthSchema::Oauth2 { .. }) {
        return Ok(true);
    }
    state
        .oauth
        .has_app(&piece.info().name)
        .await
        .map_err(|e| WebError::internal(&e))
}

/// `GET /connections/new/{piece}`: the piece's form.
pub async fn new_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(piece): Path<String>,
    Query(query): Query<NewQuery>,
) -> Result<Response, WebError> {
    let piece = &piece_of(&state, &piece)?;
    let title = format!("New {} connection", piece.info().display_name);
    let layout = Layout::of(&state, &viewer, "connections", title).await?;
    // The first free of `slug`, `slug-2`, `slug-3`…: asked one by one rather than by
    // loading the project's every connection.
    let base = crate::connections::external_id::slug(&piece.info().display_name);
    let mut external_id = base.clone();
    for n in 2.. {
        let taken = state
            .connections
            .store()
            .find_connection(viewer.project(), &external_id)
            .await
            .map_err(|e| WebError::internal(&e))?
            .is_some();
        if !taken {
            break;
        }
        external_id = format!("{base}-{n}");
    }
    Ok(render(
        StatusCode::OK,
        &NewPage {
            layout,
            display_name: format!("My {}", piece.info().display_name),
            external_id,
            fields: fields(&piece.info().auth, None),
            oauth: matches!(piece.info().auth, AuthSchema::Oauth2 { .. }),
            oauth_ready: oauth_ready(&state, piece).await?,
            piece: piece_view(piece),
            error: None,
            back: way_back(&query.back),
        },
    ))
}

/// `POST /connections/new/{piece}`: validates with the piece, stores, and opens the new
/// connection's page; on error the form comes back with the message and the non-secret
/// values kept.
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(piece_name): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    let piece = &piece_of(&state, &piece_name)?;
    let schema = &piece.info().auth;
    let outcome: Result<(), String> = match value_input(schema, &posted) {
        Err(why) => Err(why),
        Ok(value) => {
            let external_id = posted.text("external_id").trim();
            let request = NewConnectionRequest {
                piece: piece_name.clone(),
                display_name: posted.text("display_name").to_owned(),
                external_id: (!external_id.is_empty()).then(|| external_id.to_owned()),
                value,
            };
            match state.connections.create(viewer.project(), request).await {
                Ok(row) => {
                    let to = match way_back(posted.text("return")) {
                        Some(back) => format!(
                            "{back}&connection={}",
                            url::form_urlencoded::byte_serialize(row.external_id.as_bytes())
                                .collect::<String>()
                        ),
                        None => format!("/connections/{}", row.external_id),
                    };
                    return Ok(Redirect::to(&to).into_response());
                }
                Err(e) => Err(user_message(e)?),
            }
        }
    };
    let error = outcome.err();
    let title = format!("New {} connection", piece.info().display_name);
    let layout = Layout::of(&state, &viewer, "connections", title).await?;
    Ok(render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &NewPage {
            layout,
            display_name: posted.text("display_name").to_owned(),
            external_id: posted.text("external_id").to_owned(),
            fields: fields(schema, Some(&posted)),
            oauth: matches!(schema, AuthSchema::Oauth2 { .. }),
            oauth_ready: oauth_ready(&state, piece).await?,
            piece: piece_view(piece),
            error,
            back: way_back(posted.text("return")),
        },
    ))
}

/// The message a form shows for a refused request; failures that are not the user's
/// are logged and become the generic error page.
fn user_message(e: ConnectionError) -> Result<String, WebError> {
    match e {
        ConnectionError::Rejected(_)
        | ConnectionError::Invalid(_)
        | ConnectionError::Upstream(_)
        | ConnectionError::Piece(_)
        | ConnectionError::ExternalIdTaken(_) => Ok(e.to_string()),
        other => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "connection.html")]
struct ShowPage {
    layout: Layout,
    row: RowView,
    piece: PieceView,
    attention: bool,
    flows: Vec<FlowRef>,
    /// The project's other connections of the same piece (for "Use another connection
    /// instead").
    alternatives: Vec<FilterOption>,
    fields: Vec<FieldView>,
    events: Vec<EventView>,
    error: Option<String>,
    notice: Option<&'static str>,
}

/// Which message the connection page shows after an action.
#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    done: String,
}

/// `GET /connections/{id}`.
pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, WebError> {
    let notice = match query.done.as_str() {
        "renamed" => Some("Renamed. Flows keep working: they use the external id."),
        "reconnected" => Some("Reconnected. Flows use the new credentials from now on."),
        "connected" => Some("Connected. Flows can use this connection now."),
        "replaced" => Some("Done: those flows use the other connection now."),
        _ => None,
    };
    show_page(&state, &viewer, &key, StatusCode::OK, None, None, notice).await
}

async fn show_page(
    state: &AppState,
    viewer: &Viewer,
    key: &str,
    status: StatusCode,
    error: Option<String>,
    kept: Option<&Posted>,
    notice: Option<&'static str>,
) -> Result<Response, WebError> {
    let project = viewer.project();
    let row = state.connections.get(project, key).await?;
    let piece = &piece_of(state, &row.piece)?;
    let flows = state.connections.usage(project, &row.id).await?;
    let flow_names = super::activity::flow_names(state, project).await?;
    let events = state
        .connections
        .audit(project, Some(&row.id), None, 50)
        .await?
        .iter()
        .map(|e| super::activity::describe(e, &flow_names))
        .collect();
    let alternatives = if flows.is_empty() {
        Vec::new()
    } else {
        others_of_piece(state, project, &row).await?
    };
    let layout = Layout::of(state, viewer, "connections", row.display_name.clone()).await?;
    Ok(render(
        status,
        &ShowPage {
            alternatives,
            layout,
            attention: needs_attention(&row),
            row: row_view(&row, piece.info().display_name.clone()),
            fields: fields(&piece.info().auth, kept),
            piece: piece_view(piece),
            flows,
            events,
            error,
            notice,
        },
    ))
}

/// The project's connections of `piece` (at most 500), by name.
pub(super) async fn of_piece(
    state: &AppState,
    project: &str,
    piece: &str,
) -> Result<Vec<ConnectionRow>, WebError> {
    let (rows, _) = state
        .connections
        .store()
        .connection_page(
            project,
            &PageQuery {
                status: None,
                piece: Some(piece),
                search: None,
                search_pieces: &[],
                sort: SortKey::Name,
                descending: false,
                offset: 0,
                limit: 500,
            },
        )
        .await
        .map_err(|e| WebError::internal(&e))?;
    Ok(rows)
}

/// The project's other connections of `row`'s piece, by name, with their status.
async fn others_of_piece(
    state: &AppState,
    project: &str,
    row: &ConnectionRow,
) -> Result<Vec<FilterOption>, WebError> {
    Ok(of_piece(state, project, &row.piece)
        .await?
        .into_iter()
        .filter(|r| r.id != row.id)
        .map(|r| FilterOption {
            label: format!("{} ({})", r.display_name, status_label(r.status).0),
            value: r.external_id,
            selected: false,
        })
        .collect())
}

/// `POST /connections/{id}/replace`: "Use another connection instead" — every flow
/// step that uses this connection is pointed at the chosen one, all in one go.
pub async fn replace(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    let row = state.connections.get(viewer.project(), &key).await?;
    match state
        .flows
        .replace_connection(viewer.project(), &row.external_id, posted.text("with"))
        .await
    {
        Ok(_) => Ok(
            Redirect::to(&format!("/connections/{}?done=replaced", row.external_id))
                .into_response(),
        ),
        Err(crate::flows::FlowError::Invalid(why)) => {
            show_page(
                &state,
                &viewer,
                &key,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(format!("Nothing changed: {why}.")),
                None,
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /connections/{id}/rename`.
pub async fn rename(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    match state
        .connections
        .rename(viewer.project(), &key, posted.text("display_name"))
        .await
    {
        Ok(row) => Ok(
            Redirect::to(&format!("/connections/{}?done=renamed", row.external_id)).into_response(),
        ),
        Err(e) => {
            let message = user_message(e)?;
            show_page(
                &state,
                &viewer,
                &key,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(message),
                None,
                None,
            )
            .await
        }
    }
}

/// `POST /connections/{id}/reconnect`: validates the new credentials with the piece
/// and replaces the old ones.
pub async fn reconnect(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    let project = viewer.project();
    let row = state.connections.get(project, &key).await?;
    let piece = &piece_of(&state, &row.piece)?;
    let outcome: Result<(), String> = match value_input(&piece.info().auth, &posted) {
        Err(why) => Err(why),
        Ok(value) => match state.connections.reconnect(project, &row.id, value).await {
            Ok(row) => {
                return Ok(Redirect::to(&format!(
                    "/connections/{}?done=reconnected",
                    row.external_id
                ))
                .into_response());
            }
            Err(e) => Err(user_message(e)?),
        },
    };
    show_page(
        &state,
        &viewer,
        &row.external_id,
        StatusCode::UNPROCESSABLE_ENTITY,
        outcome.err(),
        Some(&posted),
        None,
    )
    .await
}

/// `POST /connections/{id}/delete`: while flows use the connection, only with the
/// `confirm` box ticked (the page lists them).
pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    let confirm = posted.text("confirm") == "yes";
    match state
        .connections
        .delete(viewer.project(), &key, confirm)
        .await
    {
        Ok(_) => Ok(Redirect::to("/connections").into_response()),
        Err(ConnectionError::InUse(flows)) => {
            let message = format!(
                "{} flow(s) use this connection. Tick the box to delete it anyway; they will fail with “Connection not found” until you choose another connection.",
                flows.len()
            );
            show_page(
                &state,
                &viewer,
                &key,
                StatusCode::CONFLICT,
                Some(message),
                None,
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
