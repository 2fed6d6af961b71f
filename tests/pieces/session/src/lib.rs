//! A test-only piece for a service that logs in with a user and password and answers a
//! short-lived session token, like many enterprise APIs. It exports `session`: its
//! `refresh` posts the entered fields to `login.session.test/login` and returns the
//! token (`session_token`) for the lifetime the service gives; the host applies it as
//! `X-Session` on `api.session.test` only. `whoami` reports what the service saw and
//! whether the session and the password reached the piece redacted.

use thinkfleet_sdk::prelude::*;

struct SessionCrm;

const SERVICE: &str = "Session CRM";

impl Piece for SessionCrm {
    fn info() -> PieceInfo {
        PieceInfo::new(
            "session-crm",
            "Session CRM",
            "Logs in for short-lived sessions.",
        )
        .auth(AuthSchema::custom(vec![
            Prop::short_text("user", "User").required(),
            Prop::secret("password", "Password").required(),
        ]))
        .placement(AuthPlacement::header("X-Session", "{session_token}"))
        .allow_host("login.session.test")
        .allow_host("api.session.test")
        .credential_host("api.session.test")
        .action(Action::new("whoami", "Who am I", "The session's user."))
    }

    fn validate(_creds: &Credentials) -> Result<(), PieceError> {
        http::Request::get("https://api.session.test/me")
            .send()?
            .checked(SERVICE)?;
        Ok(())
    }

    fn run_action(name: &str, _input: Value, creds: &Credentials) -> Result<Value, PieceError> {
        match name {
            "whoami" => {
                let me = http::Request::get("https://api.session.test/me")
                    .send()?
                    .checked(SERVICE)?
                    .json()?;
                // Both arrive redacted: the host applies the session, and the
                // password is only for opening sessions.
                let redacted = |name| {
                    matches!(
                        creds.custom(name),
                        Some(CustomValue::Secret(Secret::Redacted))
                    )
                };
                Ok(json!({
                    "user": me["user"],
                    "session_redacted": redacted("session_token"),
                    "password_redacted": redacted("password"),
                }))
            }
            other => Err(PieceError::InvalidInput(format!("unknown action {other}"))),
        }
    }
}

impl Session for SessionCrm {
    fn refresh(creds: &Credentials) -> Result<SessionToken, PieceError> {
        let user = creds.custom_str("user")?;
        // Entered secrets arrive in the clear on `refresh`: the piece logs in with them.
        let password = creds.custom_str("password")?;
        let answer = http::Request::post("https://login.session.test/login")
            .json(&json!({"user": user, "password": password}))
            .send()?
            .checked(SERVICE)?
            .json()?;
        let token = answer["token"]
            .as_str()
            .ok_or_else(|| PieceError::Upstream("the login answer has no token".into()))?;
        let lifetime = answer["expires_in"].as_u64().unwrap_or(3600);
        Ok(SessionToken::expiring_in(lifetime).field("session_token", token))
    }
}

export_piece!(SessionCrm, session);
