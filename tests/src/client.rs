//! A small JSON client of the API under `/api/v1` that keeps every response body it
//! saw, so a test can prove no secret ever came back.

use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Every response body the clients of one app received.
pub type Seen = Arc<Mutex<Vec<String>>>;

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// None.
    Empty,
    /// JSON (`Content-Type: application/json`).
    Json(Value),
    /// Bytes with this content type.
    Raw(String, Vec<u8>),
}

/// What the server answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header ("" if none).
    pub content_type: String,
    /// The body as JSON: `Null` when empty, a JSON string when not JSON.
    pub body: Value,
}

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
        let body = body.map_or(Body::Empty, |b| Body::Json(b.clone()));
        let answer = self.request(method, path, body).await;
        (answer.status, answer.body)
    }

    /// Sends raw bytes as the body with a content type.
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let content_type = content_type.to_owned();
        let answer = self
            .request(method, path, Body::Raw(content_type, body))
            .await;
        (answer.status, answer.body)
    }

    /// Sends `method path` (relative to `/api/v1`, query included) with `body`. A JSON
    /// body's secret-looking fields are planted for the leak scan first.
    pub async fn request(&self, method: &str, path: &str, body: Body) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req = match body {
            Body::Empty => req,
            Body::Json(value) => {
                crate::leak::plant_json(&value);
                req.json(&value)
            }
            Body::Raw(content_type, bytes) => req.header("content-type", content_type).body(bytes),
        };
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = resp.text().await.expect("body");
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(text.clone());
        }
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// Sends only the head of a request whose `Content-Length` declares `length` bytes
    /// (and four of them), as a client that means to upload too much starts; returns
    /// what the server answers before the rest arrives (status 0 if nothing within
    /// 20 s).
    pub async fn send_declared(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        length: usize,
    ) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let url = url::Url::parse(&format!("{}{path}", self.base)).expect("url");
        let addr = format!(
            "{}:{}",
            url.host_str().expect("host"),
            url.port().expect("port")
        );
        let mut stream = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "{method} {} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: {content_type}\r\n\
             Content-Length: {length}\r\nConnection: close\r\n\r\n\0asm",
            &url[url::Position::BeforePath..]
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            stream.read_to_end(&mut answer),
        )
        .await;
        let text = String::from_utf8_lossy(&answer);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(body.to_owned());
        }
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
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
