//! Unit tests of a piece, natively: no wasm, no host, no server.
//!
//! A piece's request building and response parsing are plain Rust. In a native build
//! ([`cargo test`] on the developer's machine) [`http::Request::send`](crate::http::Request::send)
//! hands each request to the handler installed with [`on_request`] on the test's thread,
//! and [`crate::log`] writes to stderr. Without a handler a request fails with an
//! [`Upstream`](crate::PieceError::Upstream) error that says so.
//!
//! ```
//! use thinkfleet_sdk::prelude::*;
//! use thinkfleet_sdk::testing;
//!
//! fn balance() -> Result<Value, PieceError> {
//!     http::Request::get("https://api.example.com/v1/balance")
//!         .send()?
//!         .checked("Example")?
//!         .json()
//! }
//!
//! let _mock = testing::on_request(|req| {
//!     assert_eq!(req.url(), "https://api.example.com/v1/balance");
//!     testing::json(200, &json!({"balance": 3}))
//! });
//! assert_eq!(balance().unwrap()["balance"], 3);
//!
//! let _refused = testing::on_request(|_| testing::text(401, "bad key"));
//! assert!(matches!(balance(), Err(PieceError::InvalidCredentials(_))));
//! ```

use crate::Value;
use crate::http::{Request, Response};
use std::cell::RefCell;

type Handler = Box<dyn FnMut(&Request) -> Response>;

thread_local! {
    /// Installed handlers, innermost last; a guard removes its own and those after it.
    static HANDLERS: RefCell<Vec<Option<Handler>>> = const { RefCell::new(Vec::new()) };
}

/// Answers this thread's requests with `handler` until the returned guard is dropped;
/// a handler installed later answers instead while its own guard lives.
#[must_use = "the handler is removed when the guard is dropped"]
pub fn on_request(handler: impl FnMut(&Request) -> Response + 'static) -> Mock {
    HANDLERS.with(|h| {
        let mut handlers = h.borrow_mut();
        handlers.push(Some(Box::new(handler)));
        Mock {
            depth: handlers.len() - 1,
        }
    })
}

/// Removes the handler installed by [`on_request`] when dropped.
#[derive(Debug)]
pub struct Mock {
    depth: usize,
}

impl Drop for Mock {
    fn drop(&mut self) {
        HANDLERS.with(|h| h.borrow_mut().truncate(self.depth));
    }
}

/// A response with a JSON body.
pub fn json(status: u16, body: &Value) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

/// A response with a text body.
pub fn text(status: u16, body: &str) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: body.as_bytes().to_vec(),
    }
}

/// Sends a request of a native build to the innermost installed handler. The handler
/// is taken out while it runs, so it may itself send requests (answered by the one
/// installed before it) or install another.
pub(crate) fn send(req: Request) -> Result<Response, String> {
    let taken = HANDLERS.with(|h| {
        let mut handlers = h.borrow_mut();
        let depth = handlers.iter().rposition(Option::is_some)?;
        Some((depth, handlers[depth].take()?))
    });
    let Some((depth, mut answer)) = taken else {
        return Err(format!(
            "{} {} not sent: a native build has no HTTP; answer it in a test with thinkfleet_sdk::testing::on_request",
            req.method(),
            req.url()
        ));
    };
    let response = answer(&req);
    HANDLERS.with(|h| {
        if let Some(slot) = h.borrow_mut().get_mut(depth)
            && slot.is_none()
        {
            *slot = Some(answer);
        }
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PieceError;
    use crate::http::Request;

    #[test]
    fn without_a_handler_a_request_fails_and_says_why() {
        let Err(PieceError::Upstream(why)) = Request::get("https://api.example.com/x").send()
        else {
            panic!("a request with no handler was answered");
        };
        assert!(
            why.contains("GET https://api.example.com/x not sent"),
            "{why}"
        );
        assert!(why.contains("testing::on_request"), "{why}");
    }

    #[test]
    fn the_handler_sees_the_request_as_built_until_its_guard_drops() {
        {
            let _mock = on_request(|req| {
                assert_eq!(req.method(), "POST");
                assert_eq!(req.header_value("Content-Type"), Some("application/json"));
                assert_eq!(req.body_bytes(), br#"{"a":1}"#);
                json(201, &serde_json::json!({"id": "n1"}))
            });
            let res = Request::post("https://api.example.com/items")
                .json(&serde_json::json!({"a": 1}))
                .send()
                .expect("answered");
            assert_eq!(res.status, 201);
            assert_eq!(res.json().expect("json")["id"], "n1");
        }
        assert!(Request::get("https://api.example.com/x").send().is_err());
    }

    #[test]
    fn an_inner_handler_answers_while_its_guard_lives_and_may_send_itself() {
        let _outer = on_request(|_| text(200, "outer"));
        {
            let _inner = on_request(|req| {
                // Forwarded to the handler installed before this one.
                let forwarded = Request::get(req.url()).send().expect("forwarded");
                text(200, &format!("inner over {}", forwarded.text()))
            });
            let res = Request::get("https://api.example.com/")
                .send()
                .expect("answered");
            assert_eq!(res.text(), "inner over outer");
        }
        let res = Request::get("https://api.example.com/")
            .send()
            .expect("answered");
        assert_eq!(res.text(), "outer");
    }

    #[test]
    fn checked_sorts_refusals_from_failures_and_keeps_the_start_of_the_body() {
        let refused = text(403, "forbidden").checked("Example");
        assert!(
            matches!(&refused, Err(PieceError::InvalidCredentials(m)) if m == "Invalid API key (Example answered HTTP 403)"),
            "{refused:?}"
        );
        let long = format!("line one\nline two {}", "x".repeat(500));
        let Err(PieceError::Upstream(m)) = text(503, &long).checked("Example") else {
            panic!("a 503 was not upstream");
        };
        assert!(
            m.starts_with("Example answered HTTP 503: line one line two x"),
            "{m}"
        );
        assert!(m.ends_with('…') && m.chars().count() < 260, "{m}");
        let Err(PieceError::Upstream(m)) = text(500, "  ").checked("Example") else {
            panic!("a 500 was not upstream");
        };
        assert_eq!(m, "Example answered HTTP 500");
        assert_eq!(text(204, "").checked("Example").expect("2xx").status, 204);
    }
}
