//! The per-call `wasi:http` hooks: every outbound request of a piece passes
//! [`OutboundHooks::send_request`], which checks it against the policy and the piece's
//! allowlist, reroutes overridden hosts, refuses non-public addresses, and applies the
//! credential for the declared hosts.

use super::credential::{Applied, apply};
use super::{OutboundPolicy, Override, host_matches, is_private};
use std::net::IpAddr;
use std::sync::Arc;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The per-call `wasi:http` hooks: the policy, the piece's allowlist and the credential.
pub struct OutboundHooks {
    /// The piece's name (metrics).
    pub piece: String,
    /// The operator's policy.
    pub policy: Arc<OutboundPolicy>,
    /// The piece's declared hosts.
    pub allowed_hosts: Arc<[String]>,
    /// What the host applies, if anything.
    pub applied: Option<Applied>,
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
        if self.applied.is_some() {
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
        let allow_private = self.policy.allow_private;
        let applied = self.applied.clone();
        let piece = self.piece.clone();
        let in_flight = self.in_flight.clone();
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
                match &target {
                    Some(o) => reroute(&mut request, o)?,
                    None if !allow_private => refuse_private(request.uri().clone()).await?,
                    None => {}
                }
                let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
                use http_body_util::BodyExt;
                Ok((res.map(BodyExt::boxed_unsync), Box::new(io) as BoxIo))
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
    *request.uri_mut() = uri;
    let host =
        http::HeaderValue::from_str(&authority).map_err(|_| HttpError::HttpRequestUriInvalid)?;
    request.headers_mut().insert(http::header::HOST, host);
    Ok(())
}

/// Refuses a request whose host resolves to a loopback or private address.
async fn refuse_private(uri: http::Uri) -> Result<(), HttpError> {
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        });
    let addrs: Vec<_> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| HttpError::DestinationNotFound)?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.iter().any(|ip| is_private(*ip)) {
        tracing::warn!(host = %host, "outbound request refused: private or loopback address");
        return Err(HttpError::DestinationIpProhibited);
    }
    Ok(())
}
