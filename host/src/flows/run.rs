//! One run of a flow: steps in order, each with its connection resolved at run time,
//! its input rendered from earlier outputs, and its piece called in the sandbox. A
//! failed step stops the run; the steps after it are reported as skipped. Each use of a
//! connection is collected for the run's record (see `Flows::run`), which writes them
//! with the run in one group-committed transaction.

use super::Flow;
use super::template;
use crate::connections::{ConnectionError, Connections};
use crate::error_code::ErrorCode;
use crate::oauth::{OAuth, OAuthError};
use crate::piece::{Credentials, PieceError};
use crate::runtime::{CallError, LoadedPiece};
use crate::store::{ConnectionRow, ConnectionStatus, Revision, UseRecord, now_ms};
use crate::trouble::Trouble;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// The result of a run.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RunReport {
    /// `succeeded` or `failed`.
    #[schema(value_type = String)]
    pub status: &'static str,
    /// Every step, in order.
    pub steps: Vec<StepReport>,
}

/// One step's result.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct StepReport {
    /// The step's name.
    pub name: String,
    /// `succeeded`, `failed` or `skipped`.
    #[schema(value_type = String)]
    pub status: &'static str,
    /// The action's output, when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
}

/// A step's error: a stable code and a message. The three connection errors carry the
/// product's exact words: "Connection not found", "Connection expired", "Invalid API key".
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct StepError {
    /// Stable code.
    #[schema(value_type = String)]
    pub code: ErrorCode,
    /// Human message.
    pub message: String,
    /// With `busy`: seconds after which a retry is sensible (not part of the report).
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl StepError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        StepError {
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// "Connection not found".
    pub(crate) fn not_found() -> Self {
        Self::trouble(Trouble::ConnectionNotFound)
    }

    /// No piece of that name is loaded (the code and words of the API's error).
    pub(crate) fn piece_not_found(piece: &str) -> Self {
        let e = ConnectionError::UnknownPiece(piece.to_owned());
        Self::new(ErrorCode::PieceNotFound, e.to_string())
    }

    /// The store failed while reading the connection (the log says why).
    fn unreadable() -> Self {
        Self::new(ErrorCode::Internal, "the connection could not be read")
    }

    fn trouble(t: Trouble) -> Self {
        Self::new(t.error_code(), t.message())
    }
}

/// A use of a connection by a step, to record, with the row it used.
pub(super) type Use = (UseRecord, ConnectionRow);

/// Runs `flow` in `project`, whose revision the run read (`at`): the report and the
/// connections' uses.
pub(super) async fn run(
    connections: &Connections,
    oauth: &OAuth,
    project: &str,
    at: Revision,
    flow: &Flow,
) -> (RunReport, Vec<Use>) {
    let mut uses = Vec::new();
    let mut outputs: HashMap<&str, Value> = HashMap::new();
    let mut steps = Vec::with_capacity(flow.definition.steps.len());
    let mut failed = false;
    for (i, step) in flow.definition.steps.iter().enumerate() {
        if failed {
            steps.push(StepReport {
                name: step.name.clone(),
                status: "skipped",
                output: None,
                error: None,
            });
            continue;
        }
        // A later step's connection is read at the project's revision now, not at the
        // run's start: a connection deleted or changed meanwhile on another replica is
        // seen by the next step (no query on SQLite).
        let result = async {
            let at = match (i, &step.auth) {
                (0, _) | (_, None) => at,
                _ => revision_of(connections, project).await?,
            };
            run_step(
                connections,
                oauth,
                (project, at),
                flow,
                step,
                &outputs,
                &mut uses,
            )
            .await
        }
        .await;
        match result {
            Ok(output) => {
                outputs.insert(step.name.as_str(), output.clone());
                steps.push(StepReport {
                    name: step.name.clone(),
                    status: "succeeded",
                    output: Some(output),
                    error: None,
                });
            }
            Err(error) => {
                failed = true;
                steps.push(StepReport {
                    name: step.name.clone(),
                    status: "failed",
                    output: None,
                    error: Some(error),
                });
            }
        }
    }
    let report = RunReport {
        status: if failed { "failed" } else { "succeeded" },
        steps,
    };
    (report, uses)
}

async fn run_step(
    connections: &Connections,
    oauth: &OAuth,
    (project, at): (&str, Revision),
    flow: &Flow,
    step: &super::StepDefinition,
    outputs: &HashMap<&str, Value>,
    uses: &mut Vec<Use>,
) -> Result<Value, StepError> {
    let piece = connections
        .catalog()
        .get(&step.piece)
        .cloned()
        .ok_or_else(|| StepError::piece_not_found(&step.piece))?;
    let input = template::render(&step.input, &|name| outputs.get(name).cloned())
        .map_err(|e| StepError::new(ErrorCode::InvalidTemplate, e.to_string()))?;
    let (connection, creds) = match &step.auth {
        None => (None, Credentials::None),
        Some(reference) => {
            // A malformed reference is "Connection not found" too: the fix is the same.
            let external_id =
                template::parse_connection_ref(reference).map_err(|_| StepError::not_found())?;
            let (row, creds) = resolve(oauth, project, at, &external_id, &step.piece).await?;
            (Some(row), creds)
        }
    };
    let caller = Caller::Step {
        flow: &flow.id,
        step: &step.name,
    };
    let (status, answer) = call_action(
        oauth,
        project,
        &piece,
        &step.action,
        &input,
        connection.as_ref(),
        creds,
        &caller,
    )
    .await;
    if let Some(row) = connection {
        let record = UseRecord {
            project_id: row.project_id.clone(),
            connection_id: row.id.clone(),
            external_id: row.external_id.clone(),
            flow_id: Some(flow.id.clone()),
            agent_id: None,
            detail: serde_json::json!({
                "flow": flow.definition.name,
                "step": step.name,
                "outcome": outcome_word(&answer),
            })
            .to_string(),
            status,
            at: now_ms(),
        };
        uses.push((record, row));
    }
    answer
}

/// Who calls an action, for the log: a flow's step or an agent's tool.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Caller<'a> {
    /// A step of a flow: the flow's id and the step's name.
    Step { flow: &'a str, step: &'a str },
    /// An agent's tool call: the agent token's id and its name.
    Agent { id: &'a str, name: &'a str },
}

/// The connection `external_id` names in `project` (at revision `at`), with the
/// credentials a call may use now (refreshed, or a session opened, when due), for an
/// action of `piece`.
pub(crate) async fn resolve(
    oauth: &OAuth,
    project: &str,
    at: Revision,
    external_id: &str,
    piece: &str,
) -> Result<(ConnectionRow, Credentials), StepError> {
    let (row, creds) = oauth
        .resolve_for_run(project, at, external_id)
        .await
        .map_err(resolve_error)?;
    if row.piece != piece {
        return Err(StepError::new(
            ErrorCode::ConnectionPieceMismatch,
            format!(
                "connection `{}` is for piece {}, not {}",
                row.external_id, row.piece, piece
            ),
        ));
    }
    Ok((row, creds))
}

/// The revision at which a run or call in `project` may use cached rows, for a caller
/// that did not read it with an API token (the web UI, an agent); a project that is
/// gone is "Connection not found".
pub(crate) async fn revision_of(
    connections: &Connections,
    project: &str,
) -> Result<Revision, StepError> {
    match connections.store().revision(project).await {
        Ok(Some(at)) => Ok(at),
        Ok(None) => Err(StepError::not_found()),
        Err(e) => {
            tracing::error!(error = %e, "reading a project's revision failed");
            Err(StepError::unreadable())
        }
    }
}

/// The outcome of one call: the connection status it sets, and the answer.
pub(crate) type Outcome = (Option<ConnectionStatus>, Result<Value, StepError>);

/// The word a use's audit detail records for an answer: `ok`, or the error's code.
pub(crate) fn outcome_word(answer: &Result<Value, StepError>) -> &'static str {
    answer.as_ref().map_or_else(|e| e.code.as_str(), |_| "ok")
}

/// Calls `action` of `piece` in the sandbox for `project` with the credentials of
/// `connection`; a piece with sessions whose call is refused gets one new session
/// (unless another call already opened one) and one retry, since a service may end a
/// session before its time (a restart, a login elsewhere).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn call_action(
    oauth: &OAuth,
    project: &str,
    piece: &LoadedPiece,
    action: &str,
    input: &Value,
    connection: Option<&ConnectionRow>,
    creds: Credentials,
    caller: &Caller<'_>,
) -> Outcome {
    let mut result = piece
        .run_action_for(Some(project), action, input, &creds)
        .await;
    drop(creds);
    let mut renewal_failed = None;
    if let (Err(CallError::Piece(PieceError::InvalidCredentials(_))), Some(row)) =
        (&result, connection)
        && piece.info().sessions
    {
        match oauth.renew_refused_session(row).await {
            Ok(fresh) => {
                result = piece
                    .run_action_for(Some(project), action, input, &fresh)
                    .await;
            }
            Err(e) => renewal_failed = Some(resolve_error(e)),
        }
    }
    match (renewal_failed, result) {
        (Some(e), _) => (None, Err(e)),
        (None, result) => call_outcome(&piece.info().name, caller, result),
    }
}

/// What a call came to.
fn call_outcome(piece: &str, caller: &Caller<'_>, result: Result<Value, CallError>) -> Outcome {
    match result {
        Ok(output) => (None, Ok(output)),
        Err(CallError::Piece(PieceError::InvalidCredentials(why))) => {
            // The report says "Invalid API key"; the piece's own words (scrubbed by the
            // sandbox) go to the log, for whoever has to find out why.
            const REFUSED: &str = "the service refused the connection's credential";
            match *caller {
                Caller::Step { flow, step } => {
                    tracing::warn!(flow, step, piece, reason = %why, "{REFUSED}");
                }
                Caller::Agent { id, name } => {
                    tracing::warn!(agent_id = id, agent = name, piece, reason = %why, "{REFUSED}");
                }
            }
            (
                Some(ConnectionStatus::Error),
                Err(StepError::trouble(Trouble::InvalidApiKey)),
            )
        }
        Err(CallError::Piece(e)) => {
            let code = match &e {
                PieceError::InvalidInput(_) => ErrorCode::InvalidInput,
                PieceError::Upstream(_) => ErrorCode::UpstreamError,
                _ => ErrorCode::ActionFailed,
            };
            (None, Err(StepError::new(code, e.to_string())))
        }
        Err(e @ CallError::Busy { retry_after_secs }) => {
            let mut error = StepError::new(ErrorCode::Busy, e.to_string());
            error.retry_after_secs = Some(retry_after_secs);
            (None, Err(error))
        }
        Err(e) => (
            None,
            Err(StepError::new(ErrorCode::PieceError, e.to_string())),
        ),
    }
}

/// The step error for a connection that could not be resolved or renewed.
fn resolve_error(e: OAuthError) -> StepError {
    match e {
        OAuthError::Connection(ConnectionError::NotFound) => StepError::not_found(),
        OAuthError::Connection(ConnectionError::Expired) => {
            StepError::trouble(Trouble::ConnectionExpired)
        }
        OAuthError::Token(e) => StepError::new(
            ErrorCode::RefreshFailed,
            format!("the connection's token could not be refreshed: {e}"),
        ),
        other => {
            tracing::error!(error = %other, "resolving a connection failed");
            StepError::unreadable()
        }
    }
}
