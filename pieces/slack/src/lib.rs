//! Slack: OAuth2 (bot token), applied by the host as a bearer token.

use thinkfleet_sdk::prelude::*;

const API: &str = "https://slack.com/api";

struct Slack;

/// Slack answers 200 with `{"ok": false, "error": …}` for most failures.
fn slack_call(method: &str, body: &Value) -> Result<Value, PieceError> {
    let res = http::Request::post(&format!("{API}/{method}"))
        .json(body)
        .send()?;
    let reply = res.checked("Slack")?.json()?;
    if reply["ok"].as_bool() == Some(true) {
        return Ok(reply);
    }
    let error = reply["error"].as_str().unwrap_or("unknown_error");
    match error {
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive" => {
            Err(PieceError::InvalidCredentials(format!(
                "Slack refused the token: {error}"
            )))
        }
        _ => Err(PieceError::Upstream(format!("Slack error: {error}"))),
    }
}

impl Piece for Slack {
    fn info() -> PieceInfo {
        PieceInfo::new("slack", "Slack", "Post messages to Slack channels.")
            .version(env!("CARGO_PKG_VERSION"))
            .auth(AuthSchema::oauth2(
                "https://slack.com/oauth/v2/authorize",
                "https://slack.com/api/oauth.v2.access",
                &["chat:write", "channels:read"],
            ))
            .placement(AuthPlacement::Bearer)
            .credential_host("slack.com")
            .website("https://slack.com")
            .action(
                Action::new(
                    "send_message",
                    "Send message",
                    "Posts a message to a channel.",
                )
                .prop(Prop::short_text("channel", "Channel").required())
                .prop(Prop::long_text("text", "Text").required()),
            )
    }

    fn validate(_creds: &Credentials) -> Result<(), PieceError> {
        slack_call("auth.test", &json!({})).map(|_| ())
    }

    fn run_action(name: &str, input: Value, _creds: &Credentials) -> Result<Value, PieceError> {
        match name {
            "send_message" => {
                for k in ["channel", "text"] {
                    if !input[k].is_string() {
                        return Err(PieceError::InvalidInput(format!("{k} is required")));
                    }
                }
                let reply = slack_call(
                    "chat.postMessage",
                    &json!({"channel": input["channel"], "text": input["text"]}),
                )?;
                Ok(json!({"channel": reply["channel"], "ts": reply["ts"]}))
            }
            other => Err(PieceError::InvalidInput(format!("unknown action {other}"))),
        }
    }
}

export_piece!(Slack);
