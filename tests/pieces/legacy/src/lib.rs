//! A test-only piece built against the frozen contract `thinkfleet:piece@0.1.0`, with
//! wit-bindgen directly (the SDK follows the current contract). It asks for a bearer
//! token applied by the host on its one declared host; `echo` fetches that host and
//! reports what it saw of the credential and what came back.

use std::io::Read as _;

#[allow(unsafe_code, missing_docs)] // generated glue
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/v0.1.0",
        world: "piece-world",
    });

    #[cfg(target_arch = "wasm32")]
    use super::Legacy;
    #[cfg(target_arch = "wasm32")]
    export!(Legacy with_types_in crate::bindings);
}

use bindings::exports::thinkfleet::piece::piece::Guest;
use bindings::thinkfleet::piece::host_log;
use bindings::thinkfleet::piece::types::{
    Action, AuthPlacement, AuthSchema, Credentials, PieceError, PieceInfo, Secret, SecretTextConfig,
};

struct Legacy;

impl Guest for Legacy {
    fn info() -> PieceInfo {
        PieceInfo {
            name: "legacy".into(),
            display_name: "Legacy".into(),
            version: "0.1.0".into(),
            description: "Built against thinkfleet:piece@0.1.0.".into(),
            auth: AuthSchema::SecretText(SecretTextConfig {
                display_name: "Token".into(),
                description: None,
            }),
            placement: Some(AuthPlacement::Bearer),
            allowed_hosts: vec!["api.legacy.test".into()],
            actions: vec![Action {
                name: "echo".into(),
                display_name: "Echo".into(),
                description: "Fetches the declared host.".into(),
                props: Vec::new(),
            }],
        }
    }

    fn validate(_creds: Credentials) -> Result<(), PieceError> {
        Ok(())
    }

    fn run_action(name: String, _input: String, creds: Credentials) -> Result<String, PieceError> {
        if name != "echo" {
            return Err(PieceError::InvalidInput(format!("unknown action {name}")));
        }
        let seen = match creds {
            Credentials::SecretText(Secret::Redacted) => "redacted",
            Credentials::SecretText(Secret::Value(_)) => "value",
            _ => "other",
        };
        let (status, body) = get("api.legacy.test", "/echo").map_err(PieceError::Upstream)?;
        host_log::log(host_log::Level::Info, "legacy piece fetched its host");
        Ok(format!(
            "{{\"seen\":\"{seen}\",\"status\":{status},\"body\":{}}}",
            json_string(&body)
        ))
    }
}

/// One plain GET over `wasi:http`.
fn get(host: &str, path: &str) -> Result<(u16, String), String> {
    use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Get).map_err(|()| "method")?;
    request
        .set_scheme(Some(&Scheme::Https))
        .map_err(|()| "scheme")?;
    request.set_authority(Some(host)).map_err(|()| "host")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "path")?;
    let body = request.body().map_err(|()| "body")?;
    let future = wasip2::http::outgoing_handler::handle(request, None)
        .map_err(|e| format!("refused: {e}"))?;
    OutgoingBody::finish(body, None).map_err(|e| format!("finish: {e}"))?;
    let response = loop {
        match future.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(e))) => return Err(format!("failed: {e}")),
            Some(Err(())) => return Err("response taken".into()),
            None => future.subscribe().block(),
        }
    };
    let status = response.status();
    let incoming = response.consume().map_err(|()| "no body")?;
    let mut text = String::new();
    incoming
        .stream()
        .map_err(|()| "no stream")?
        .read_to_string(&mut text)
        .map_err(|e| format!("reading: {e}"))?;
    Ok((status, text))
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
