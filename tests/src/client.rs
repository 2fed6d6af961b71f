//! A small JSON client of the API under `/api/v1` that keeps every response body it
//! saw, so a test can prove no secret ever came back.

use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Every response body the clients of one app received.
pub type Seen = Arc<Mutex<Vec<String>>>;

/// A JSON client of the API under `/api/v1`.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    seen: Seen,
}

impl Client {
    /// A client of the API at `base` (`http://ADDR`), with a bearer token or none,
    /// recording every response body into `seen`.
    pub fn new(base: &str, token: Option<&str>, seen: Seen) -> Client {
        Client {
            base: format!("{base}/api/v1"),
            token: token.map(str::to_owned),
            http: reqwest::Client::new(),
            seen,
        }
    }

    /// Sends a request with an optional JSON body; returns (status, JSON body or Null).
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            crate::leak::plant_json(b);
            req = req.json(b);
        }
        self.finish(req).await
    }

    /// Sends raw bytes as the body with a content type.
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        self.finish(req).await
    }

    async fn finish(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(text.clone());
        }
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send("POST", path, Some(body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send("PATCH", path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send("DELETE", path, None).await
    }
}
