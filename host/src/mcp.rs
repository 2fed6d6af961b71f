//! The MCP endpoint: `/mcp`, Streamable HTTP (the official Rust SDK, `rmcp`), for AI
//! agents. Every request carries an agent token (`Authorization: Bearer tfa_…`),
//! checked against the store before rmcp sees it, so a revoked token is refused at
//! once on every replica; the agent rides in the request's extensions to the handler.
//! `tools/list` answers the agent's tools, `tools/call` runs one through
//! [`Agents::call`]: the credential is applied in the sandbox and never reaches the
//! agent or its model. Stateless (no MCP session to keep), so any replica answers any
//! request.

use crate::agents::{Agent, Agents};
use crate::api::ApiError;
use crate::error_code::ErrorCode;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use rmcp::ErrorData as McpError;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};

/// The most characters of an unknown tool's name the log keeps.
const MAX_LOGGED_NAME: usize = 100;

/// The `/mcp` route.
///
/// rmcp's Host and Origin checks (against DNS rebinding of a local server that trusts
/// whoever reaches it) are off: every request here must carry an agent token in a
/// header, which a page rebound to this address cannot present, and clients reach a
/// server by whatever name its network gives it (a LAN address, a container's service
/// name, a proxy's upstream name).
pub fn routes<S: Clone + Send + Sync + 'static>(agents: Agents) -> Router<S> {
    let mut config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    config.legacy_session_mode = false;
    config.json_response = true;
    let handler = AgentTools {
        agents: agents.clone(),
    };
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        NeverSessionManager::default().into(),
        config,
    );
    Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(agents, authenticate))
}

/// Lets only a live agent token through, and hands the agent to the handler.
async fn authenticate(State(agents): State<Agents>, mut request: Request, next: Next) -> Response {
    let agent = match crate::api::bearer_of(request.headers()) {
        Some(token) => agents.authenticate(token).await,
        None => Ok(None),
    };
    match agent {
        Ok(Some(agent)) => {
            request.extensions_mut().insert(agent);
            next.run(request).await
        }
        Ok(None) => {
            let mut refused = ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "an agent token is required: Authorization: Bearer tfa_…",
            )
            .into_response();
            refused
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            refused
        }
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

/// The MCP server of one request: the agent's tools.
#[derive(Clone)]
struct AgentTools {
    agents: Agents,
}

/// The agent the request was authenticated as.
fn agent_of(context: &RequestContext<RoleServer>) -> Result<Agent, McpError> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Agent>())
        .cloned()
        .ok_or_else(|| McpError::invalid_request("no agent token", None))
}

fn internal(e: &dyn std::fmt::Display) -> McpError {
    tracing::error!(error = %e, "an MCP request failed");
    McpError::internal_error("internal error; see the server log", None)
}

impl ServerHandler for AgentTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("thinkfleet", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Each tool runs one action of a connected service with the credentials the \
                 project stored for it; the credentials stay on the server."
                    .to_owned(),
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let agent = agent_of(&context)?;
        let tools = self.agents.tools(&agent).await.map_err(|e| internal(&e))?;
        Ok(ListToolsResult::with_all_items(
            tools.into_iter().map(mcp_tool).collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let agent = agent_of(&context)?;
        let tools = self.agents.tools(&agent).await.map_err(|e| internal(&e))?;
        let Some(tool) = tools.iter().find(|t| t.name == request.name) else {
            // Not a use of any connection (nothing to audit), but an agent asking for
            // what it was not given is worth a line for whoever watches it.
            let asked: String = request.name.chars().take(MAX_LOGGED_NAME).collect();
            tracing::warn!(agent_id = %agent.id, tool = ?asked, "an agent called a tool it does not have");
            return Err(McpError::invalid_params(
                format!("no tool named {:?} for this agent", request.name),
                None,
            ));
        };
        let input = Value::Object(request.arguments.unwrap_or_default());
        let result = match self.agents.call(&agent, tool, &input).await {
            Ok(output) => CallToolResult::structured(wrap(output)),
            Err(e) => CallToolResult::structured_error(tool_error(&e)),
        };
        Ok(result.into())
    }
}

/// A failed call as the agent sees it: the stable code, its words, for the three
/// connection errors the fix and, for `busy`, when a retry is sensible (what an HTTP
/// answer says in `Retry-After`).
fn tool_error(e: &crate::flows::run::StepError) -> Value {
    let fix = crate::trouble::Trouble::from_code(e.code.as_str()).map(|t| t.fix());
    let mut error = json!({
        "code": e.code,
        "message": e.message,
        "fix": fix,
    });
    if let Some(secs) = e.retry_after_secs {
        error["retry_after_secs"] = secs.into();
    }
    error
}

/// Structured content must be a JSON object: other outputs are wrapped as `result`.
fn wrap(output: Value) -> Value {
    match output {
        Value::Object(_) => output,
        other => json!({ "result": other }),
    }
}

fn mcp_tool(tool: crate::agents::Tool) -> Tool {
    let schema = match tool.input_schema {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    Tool::new(tool.name, tool.description, schema).with_title(tool.title)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::run::StepError;

    #[test]
    fn a_busy_tool_error_says_when_to_retry_and_a_connection_error_how_to_fix_it() {
        let mut busy = StepError::new(ErrorCode::Busy, "the sandbox is busy");
        busy.retry_after_secs = Some(3);
        assert_eq!(
            tool_error(&busy),
            json!({"code": "busy", "message": "the sandbox is busy", "fix": null,
                   "retry_after_secs": 3})
        );
        let expired = StepError::new(ErrorCode::ConnectionExpired, "Connection expired");
        assert_eq!(
            tool_error(&expired),
            json!({"code": "connection_expired", "message": "Connection expired",
                   "fix": "Open the connection and click Reconnect."})
        );
    }
}
