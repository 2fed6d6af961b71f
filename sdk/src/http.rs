//! A small blocking HTTP client over `wasi:http/outgoing-handler`.
//!
//! The host only lets requests through to the hosts the piece declares in
//! [`PieceInfo::allow_host`](crate::PieceInfo::allow_host), and adds the credential
//! itself when the piece declares an [`AuthPlacement`](crate::AuthPlacement).
//!
//! In a native build (a piece's unit tests) requests go to the handler a test installs
//! with [`crate::testing::on_request`] instead.

use crate::{PieceError, Value};

/// An outgoing request. Build with [`Request::get`] / [`Request::post`], send with
/// [`Request::send`].
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A response, body read in full.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Response headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with any method.
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A GET request.
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// A POST request.
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string().into_bytes())
    }

    /// Sets an `application/x-www-form-urlencoded` body.
    pub fn form(self, fields: &[(&str, &str)]) -> Self {
        let encoded: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(encoded.join("&").into_bytes())
    }

    /// Sets a raw body.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// Sends the request and reads the whole response. A refused or failed request is a
    /// [`PieceError::Upstream`].
    pub fn send(self) -> Result<Response, PieceError> {
        #[cfg(target_arch = "wasm32")]
        let sent = wasi::send(self);
        #[cfg(not(target_arch = "wasm32"))]
        let sent = crate::testing::send(self);
        sent.map_err(PieceError::Upstream)
    }

    /// The method, upper-case.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The value of a header (the first, when set twice), by case-insensitive name.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }
}

impl Response {
    /// The body parsed as JSON.
    pub fn json(&self) -> Result<Value, PieceError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            PieceError::Upstream(format!(
                "response is not JSON (status {}): {e}",
                self.status
            ))
        })
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The response when it is a success (2xx); otherwise the error to report, named
    /// after `service`: 401 and 403 are [`PieceError::InvalidCredentials`] ("Invalid API
    /// key (Example answered HTTP 401)"; the connection is marked in error), anything else is
    /// [`PieceError::Upstream`] with the status and the start of the body.
    ///
    /// ```
    /// # use thinkfleet_sdk::http::Response;
    /// let refused = Response { status: 401, headers: vec![], body: b"{}".to_vec() };
    /// assert!(matches!(
    ///     refused.checked("Example"),
    ///     Err(thinkfleet_sdk::PieceError::InvalidCredentials(_))
    /// ));
    /// ```
    pub fn checked(self, service: &str) -> Result<Response, PieceError> {
        match self.status {
            200..=299 => Ok(self),
            status @ (401 | 403) => Err(PieceError::InvalidCredentials(format!(
                "Invalid API key ({service} answered HTTP {status})"
            ))),
            status => {
                let text = self.text();
                let text = text.trim();
                Err(PieceError::Upstream(if text.is_empty() {
                    format!("{service} answered HTTP {status}")
                } else {
                    format!("{service} answered HTTP {status}: {}", excerpt(text))
                }))
            }
        }
    }
}

/// The start of an error body: at most [`EXCERPT_CHARS`] characters, on one line.
fn excerpt(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// How much of an error body [`Response::checked`] keeps.
const EXCERPT_CHARS: usize = 200;

/// Percent-encodes a string for a query or form value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Sending over `wasi:http`: the component's only way out.
#[cfg(target_arch = "wasm32")]
mod wasi {
    use super::{Request, Response};
    use std::io::Read;
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

    struct Url<'a> {
        scheme: Scheme,
        authority: &'a str,
        path_and_query: &'a str,
    }

    fn parse_url(url: &str) -> Result<Url<'_>, String> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(format!("unsupported URL {url}: only http and https"));
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.is_empty() {
            return Err(format!("URL {url} has no host"));
        }
        let path_and_query = if path.is_empty() { "/" } else { path };
        Ok(Url {
            scheme,
            authority,
            path_and_query,
        })
    }

    fn method(m: &str) -> Method {
        match m {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.into()),
        }
    }

    pub(super) fn send(req: Request) -> Result<Response, String> {
        let url = parse_url(&req.url)?;
        let headers = Fields::new();
        for (name, value) in &req.headers {
            headers
                .append(name, value.as_bytes())
                .map_err(|e| format!("header {name} refused: {e:?}"))?;
        }
        // The body is whole in memory: say its length, so it is sent as is rather than
        // chunked (some servers, S3 among them, refuse a body without a length).
        let has_length = req
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-length"));
        let carries_body =
            !req.body.is_empty() || matches!(req.method.as_str(), "POST" | "PUT" | "PATCH");
        if !has_length && carries_body {
            headers
                .append("content-length", req.body.len().to_string().as_bytes())
                .map_err(|e| format!("header content-length refused: {e:?}"))?;
        }
        let outgoing = OutgoingRequest::new(headers);
        outgoing
            .set_method(&method(&req.method))
            .map_err(|_| "invalid method".to_string())?;
        outgoing
            .set_scheme(Some(&url.scheme))
            .map_err(|_| "invalid scheme".to_string())?;
        outgoing
            .set_authority(Some(url.authority))
            .map_err(|_| "invalid host".to_string())?;
        outgoing
            .set_path_with_query(Some(url.path_and_query))
            .map_err(|_| "invalid path".to_string())?;
        let body = outgoing
            .body()
            .map_err(|_| "request body unavailable".to_string())?;
        // As wasmtime's own wasi:http tests do: write the body, hand the request over, then
        // finish the body.
        if !req.body.is_empty() {
            let stream = body
                .write()
                .map_err(|_| "request body unavailable".to_string())?;
            for chunk in req.body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| format!("writing request body: {e}"))?;
            }
        }
        let future = outgoing_handler::handle(outgoing, None)
            .map_err(|e| format!("request to {} refused: {e}", url.authority))?;
        OutgoingBody::finish(body, None).map_err(|e| format!("finishing request: {e}"))?;

        let response = loop {
            match future.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(ErrorCode::HttpRequestDenied))) => {
                    return Err(format!(
                        "request to {} refused by the host: not a declared host, or a credential over plain http",
                        url.authority
                    ));
                }
                Some(Ok(Err(ErrorCode::DestinationIpProhibited))) => {
                    return Err(format!(
                        "request to {} refused by the host: private or loopback address",
                        url.authority
                    ));
                }
                Some(Ok(Err(e))) => {
                    return Err(format!("request to {} failed: {e}", url.authority));
                }
                Some(Err(())) => return Err("response already taken".into()),
                None => future.subscribe().block(),
            }
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let incoming = response
            .consume()
            .map_err(|_| "response body unavailable".to_string())?;
        let mut body = Vec::new();
        {
            let mut stream = incoming
                .stream()
                .map_err(|_| "response body unavailable".to_string())?;
            stream
                .read_to_end(&mut body)
                .map_err(|e| format!("reading response: {e}"))?;
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}
