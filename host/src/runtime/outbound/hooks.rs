//! The per-call `wasi:http` hooks: every outbound request of a piece passes
//! [`OutboundHooks::send_request`], which checks it against the policy and the piece's
//! allowlist, reroutes overridden hosts, applies the credential on the hosts the piece
//! named for it (and nowhere else),
//! and sends it through the one outbound path ([`crate::egress`]), which refuses
//! non-public addresses and connects to the very addresses it checked.

use super::credential::{Applied, apply};
use super::{OutboundPolicy, Override, host_matches};
use crate::egress::{Egress, EgressError, Route};
use std::sync::Arc;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The per-call `wasi:http` hooks: the policy, the piece's allowlist and the credential.
pub struct OutboundHooks {
    /// The piece's name (metrics).
    pub piece: String,
    /// The operator's policy.
    pub policy: Arc<OutboundPolicy>,
    /// Where requests leave.
    pub egress: Arc<Egress>,
    /// The piece's declared hosts.
    pub allowed_hosts: Arc<[String]>,
    /// What the host applies, if anything.
    pub applied: Option<Applied>,
    /// The hosts that receive it: the piece's credential hosts, filled for this
    /// connection (exact names; contract 0.1.0's may be `*.suffix` patterns).
    pub credential_hosts: Vec<String>,
    /// Masks that credential in responses before the guest reads them.
    pub mask: Option<Arc<super::ResponseMask>>,
    /// Requests this call has made so far.
    pub requests: usize,
    /// The project's outbound requests in flight (a permit per request until its
    /// answer's head arrives); `None` for calls on behalf of no project.
    pub in_flight: Option<Arc<tokio::sync::Semaphore>>,
}

/// Outbound requests one call may make.
pub const MAX_REQUESTS_PER_CALL: usize = 32;

impl OutboundHooks {
    fn allowed(&self, host: &str) -> bool {
        self.allowed_hosts.iter().any(|p| host_matches(p, host))
            && self
                .policy
                .narrow_to
                .as_ref()
                .is_none_or(|n| n.iter().any(|p| host_matches(p, host)))
    }
}

type BoxIo = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendResult = Result<(http::Response<WasiBody>, BoxIo), HttpError>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: BoxIo,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        drop(fut);
        let host = request
            .uri()
            .host()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !self.allowed(&host)
            || request
                .uri()
                .authority()
                .is_some_and(|a| a.as_str().contains('@'))
        {
            tracing::warn!(host = %host, "outbound request refused: host not declared by the piece");
            crate::metrics::outbound(&self.piece, "refused");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        self.requests += 1;
        if self.requests > MAX_REQUESTS_PER_CALL {
            tracing::warn!(host = %host, "outbound request refused: too many requests in one call");
            crate::metrics::outbound(&self.piece, "refused");
            return Box::new(async { Err(HttpError::ConnectionLimitReached) });
        }
        let overridden = self.policy.override_for(&host).is_some();
        // The credential goes only to the hosts named for it; other allowed hosts get the
        // request without it.
        let applied = self
            .applied
            .clone()
            .filter(|_| self.credential_hosts.iter().any(|p| host_matches(p, &host)));
        if applied.is_some() {
            // A credential goes only over TLS (or to a target the operator chose), and never
            // on a method a server may echo back.
            let method = request.method();
            if method == http::Method::TRACE || method == http::Method::CONNECT {
                crate::metrics::outbound(&self.piece, "refused");
                return Box::new(async { Err(HttpError::HttpRequestMethodInvalid) });
            }
            if !overridden && request.uri().scheme_str() != Some("https") {
                tracing::warn!(host = %host, "outbound request refused: credential over plain http");
                crate::metrics::outbound(&self.piece, "refused");
                return Box::new(async { Err(HttpError::HttpRequestDenied) });
            }
        }
        let target = self.policy.override_for(&host).cloned();
        let piece = self.piece.clone();
        let in_flight = self.in_flight.clone();
        let egress = self.egress.clone();
        let mask = self.mask.clone();
        Box::new(async move {
            let _permit = match in_flight {
                Some(s) => Some(
                    s.acquire_owned()
                        .await
                        .map_err(|_| HttpError::ConnectionLimitReached)?,
                ),
                None => None,
            };
            let sent = async move {
                if let Some(applied) = &applied {
                    apply(&mut request, applied)?;
                }
                if mask.is_some() {
                    super::ResponseMask::prepare_request(&mut request);
                }
                let route = match &target {
                    Some(o) => {
                        reroute(&mut request, o)?;
                        Route::Operator
                    }
                    None => Route::Checked,
                };
                use http_body_util::BodyExt;
                let request = request.map(|body| {
                    body.map_err(|e| Box::new(e) as crate::egress::BoxError)
                        .boxed_unsync()
                });
                let first_byte = options.and_then(|o| o.first_byte_timeout);
                let res = egress
                    .send(request, route, first_byte)
                    .await
                    .map_err(wasi_error)?;
                let res = match mask {
                    Some(mask) => {
                        let mut res = res;
                        if let Err(coding) = mask.prepare_response(res.headers_mut()) {
                            tracing::warn!(host = %host, coding = %coding, "outbound answer refused: compressed although identity was asked for");
                            return Err(HttpError::HttpResponseContentCoding(Some(coding)));
                        }
                        res.map(|body| {
                            super::mask::MaskedBody::new(body, mask)
                                .map_err(HttpError::from)
                                .boxed_unsync()
                        })
                    }
                    None => res.map(|body| body.map_err(HttpError::from).boxed_unsync()),
                };
                let io: BoxIo = Box::new(async { Ok(()) });
                Ok((res, io))
            }
            .await;
            crate::metrics::outbound(
                &piece,
                match &sent {
                    Ok((res, _)) => crate::metrics::status_class(res.status().as_u16()),
                    Err(HttpError::DestinationIpProhibited) => "refused",
                    Err(_) => "failed",
                },
            );
            sent
        })
    }
}

/// The `wasi:http` error a piece sees for a failed send.
fn wasi_error(e: EgressError) -> HttpError {
    match e {
        EgressError::Refused(_) => HttpError::DestinationIpProhibited,
        EgressError::Unresolved(_) => HttpError::DestinationNotFound,
        EgressError::Connect(_) => HttpError::ConnectionRefused,
        EgressError::Timeout(_) => HttpError::ConnectionReadTimeout,
        EgressError::BadUri => HttpError::HttpRequestUriInvalid,
        EgressError::Http(_) => HttpError::HttpProtocolError,
    }
}

/// Sends the request to the override's base URL, keeping the path under its prefix.
fn reroute(request: &mut http::Request<WasiBody>, o: &Override) -> Result<(), HttpError> {
    let pq = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let prefix = o.base.path().trim_end_matches('/');
    let authority = match o.base.port() {
        Some(port) => format!("{}:{port}", o.base.host_str().unwrap_or_default()),
        None => o.base.host_str().unwrap_or_default().to_string(),
    };
    let uri: http::Uri = format!("{}://{authority}{prefix}{pq}", o.base.scheme())
        .parse()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;
    // The declared host stays in `Host`, as a reverse proxy keeps it: the target sees
    // the name the piece addressed (a signature over the host still checks).
    let declared = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    *request.uri_mut() = uri;
    let host =
        http::HeaderValue::from_str(&declared).map_err(|_| HttpError::HttpRequestUriInvalid)?;
    request.headers_mut().insert(http::header::HOST, host);
    Ok(())
}
