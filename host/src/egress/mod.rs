//! The one outbound HTTP path. Pieces' requests, the OAuth2 client's token requests and
//! webhook deliveries all go through [`Egress::send`]:
//!
//! - a **checked** request (any host the operator did not override) resolves its name
//!   once, keeps only the addresses the policy allows — public ones, none in an
//!   operator-blocked network — and connects to exactly those (`resolve.rs`); a literal
//!   address is checked the same way; TLS verifies the certificate against the name
//!   (rustls, Mozilla's roots, SNI on the name);
//! - an **operator** request goes where an outbound override points (the operator chose
//!   the target, which may be loopback), with no address check;
//! - connections are pooled and kept alive per destination (hyper's pooled client), and
//!   each destination has at most [`PER_DESTINATION`] requests in flight.
//!
//! No proxy from the environment is used (a proxy would resolve the name again) and no
//! redirect is followed (callers see the 3xx).

mod address;
mod resolve;

pub use address::is_private;
pub use resolve::{Refused, Unresolved};

use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Bytes, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::GaiResolver;
use hyper_util::rt::TokioExecutor;
use ipnet::IpNet;
use resolve::CheckedResolver;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Any error of a request body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A request body.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// Requests one destination (scheme, host, port) may have in flight at once.
pub const PER_DESTINATION: usize = 32;
/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Destinations whose idle limits are dropped once this many are tracked.
const TRACKED: usize = 4096;

/// Which addresses a checked request may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Allow loopback and private addresses (tests, on-premises services).
    pub allow_private: bool,
    /// Networks never reached, even with `allow_private` (the operator's list).
    pub blocked: Vec<IpNet>,
}

impl AddressPolicy {
    /// Whether a checked request may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        // A blocked IPv4 network is blocked in every IPv6 form that embeds it too.
        let embedded = match ip {
            IpAddr::V6(v6) => address::embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let blocked = |ip: IpAddr| self.blocked.iter().any(|net| net.contains(&ip));
        !blocked(ip) && !embedded.is_some_and(blocked) && (self.allow_private || !is_private(ip))
    }
}

/// Whose choice the destination is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A host a piece or a provider names: checked against the address policy.
    Checked,
    /// The target of an operator's outbound override: not checked.
    Operator,
}

/// Why a request got no answer. Messages never hold a URL (a query may hold a key).
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The destination is an address the policy refuses.
    #[error("{0}")]
    Refused(String),
    /// The name did not resolve.
    #[error("{0}")]
    Unresolved(String),
    /// No connection (refused, unreachable, TLS failed).
    #[error("connecting failed: {0}")]
    Connect(String),
    /// No answer's head within the deadline.
    #[error("no answer within {0} ms")]
    Timeout(u128),
    /// The URI is not an absolute http(s) URI.
    #[error("bad request URI")]
    BadUri,
    /// The exchange failed after connecting.
    #[error("the request failed: {0}")]
    Http(String),
}

type Connector<R> = HttpsConnector<HttpConnector<R>>;

/// The pooled clients and the limits; one per server, shared.
pub struct Egress {
    checked: Client<Connector<CheckedResolver>, Body>,
    operator: Client<Connector<GaiResolver>, Body>,
    policy: Arc<AddressPolicy>,
    in_flight: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("policy", &self.policy)
            .finish()
    }
}

fn connector<R>(resolver: R) -> Connector<R> {
    let mut http = HttpConnector::new_with_resolver(resolver);
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

fn client<R>(resolver: R) -> Client<Connector<R>, Body>
where
    R: tower_service::Service<hyper_util::client::legacy::connect::dns::Name>
        + Clone
        + Send
        + Sync
        + 'static,
    R::Response: Iterator<Item = std::net::SocketAddr>,
    R::Error: Into<BoxError>,
    R::Future: Send,
{
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(PER_DESTINATION)
        .build(connector(resolver))
}

impl Egress {
    /// The outbound path under `policy`.
    pub fn new(policy: AddressPolicy) -> Arc<Egress> {
        let policy = Arc::new(policy);
        Arc::new(Egress {
            checked: client(CheckedResolver {
                policy: policy.clone(),
            }),
            operator: client(GaiResolver::new()),
            policy,
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// The address policy of checked requests.
    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Sends `request` (an absolute http(s) URI) and returns the answer's head with
    /// its body streaming; `first_byte` bounds the wait for the head.
    pub async fn send(
        &self,
        request: http::Request<Body>,
        route: Route,
        first_byte: Option<Duration>,
    ) -> Result<http::Response<Incoming>, EgressError> {
        let uri = request.uri();
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return Err(EgressError::BadUri);
        };
        if !matches!(scheme, "http" | "https") {
            return Err(EgressError::BadUri);
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if route == Route::Checked
            && let Ok(ip) = bare.parse::<IpAddr>()
            && !self.policy.allows(ip)
        {
            tracing::warn!(host = %bare, "outbound request refused: private or blocked address");
            return Err(EgressError::Refused(format!(
                "{bare} is an address this server does not call (private, loopback or blocked)"
            )));
        }
        let destination = format!(
            "{scheme}://{bare}:{}",
            uri.port_u16()
                .unwrap_or(if scheme == "https" { 443 } else { 80 })
        );
        let limit = self.limit(&destination);
        let _permit = limit
            .acquire_owned()
            .await
            .map_err(|_| EgressError::BadUri)?;
        let sent = async {
            match route {
                Route::Checked => self.checked.request(request).await,
                Route::Operator => self.operator.request(request).await,
            }
        };
        let answer = match first_byte {
            Some(deadline) => tokio::time::timeout(deadline, sent)
                .await
                .map_err(|_| EgressError::Timeout(deadline.as_millis()))?,
            None => sent.await,
        };
        answer.map_err(classify)
    }

    /// Sends a request with a whole body and reads the whole answer, at most
    /// `max_body` bytes, all within `deadline` (the host's own requests: token
    /// endpoints, webhook receivers).
    pub async fn exchange(
        &self,
        request: http::Request<Vec<u8>>,
        route: Route,
        deadline: Duration,
        max_body: usize,
    ) -> Result<http::Response<Vec<u8>>, EgressError> {
        use http_body_util::{BodyExt as _, Full, Limited};
        let request = request.map(|body| {
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed_unsync()
        });
        let exchanged = async {
            let answer = self.send(request, route, None).await?;
            let (head, body) = answer.into_parts();
            let body = Limited::new(body, max_body)
                .collect()
                .await
                .map_err(|e| EgressError::Http(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok(http::Response::from_parts(head, body.to_vec()))
        };
        tokio::time::timeout(deadline, exchanged)
            .await
            .map_err(|_| EgressError::Timeout(deadline.as_millis()))?
    }

    fn limit(&self, destination: &str) -> Arc<Semaphore> {
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = map.get(destination) {
            return s.clone();
        }
        if map.len() >= TRACKED {
            map.retain(|_, s| Arc::strong_count(s) > 1);
        }
        let s = Arc::new(Semaphore::new(PER_DESTINATION));
        map.insert(destination.to_owned(), s.clone());
        s
    }
}

/// What a client error means, from its chain of causes.
fn classify(e: hyper_util::client::legacy::Error) -> EgressError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<Refused>() {
            return EgressError::Refused(r.to_string());
        }
        if let Some(u) = c.downcast_ref::<Unresolved>() {
            return EgressError::Unresolved(u.to_string());
        }
        cause = c.source();
    }
    let innermost = {
        let mut last: &(dyn std::error::Error + 'static) = &e;
        while let Some(next) = last.source() {
            last = next;
        }
        last.to_string()
    };
    if e.is_connect() {
        EgressError::Connect(innermost)
    } else {
        EgressError::Http(innermost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A local HTTP server answering 200 "ok"; counts the connections it accepted.
    async fn server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(Bytes::from_static(b"ok")),
                        ))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (addr, accepted)
    }

    fn get(url: &str) -> http::Request<Vec<u8>> {
        http::Request::get(url).body(Vec::new()).expect("request")
    }

    #[tokio::test]
    async fn a_checked_request_never_connects_to_a_private_address_by_number_or_by_name() {
        let (addr, accepted) = server().await;
        let egress = Egress::new(AddressPolicy::default());
        for url in [
            format!("http://127.0.0.1:{}/x", addr.port()),
            format!("http://localhost:{}/x", addr.port()),
            format!("http://[::ffff:127.0.0.1]:{}/x", addr.port()),
        ] {
            let refused = egress
                .exchange(get(&url), Route::Checked, Duration::from_secs(5), 1024)
                .await;
            assert!(
                matches!(refused, Err(EgressError::Refused(_))),
                "{url}: {refused:?}"
            );
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "a connection was made");
        // The operator's own target is not checked.
        let answer = egress
            .exchange(
                get(&format!("http://127.0.0.1:{}/x", addr.port())),
                Route::Operator,
                Duration::from_secs(5),
                1024,
            )
            .await
            .expect("the operator's target");
        assert_eq!(answer.body(), b"ok");
    }

    #[tokio::test]
    async fn connections_are_kept_alive_and_reused() {
        let (addr, accepted) = server().await;
        let egress = Egress::new(AddressPolicy {
            allow_private: true,
            blocked: Vec::new(),
        });
        for _ in 0..5 {
            let answer = egress
                .exchange(
                    get(&format!("http://localhost:{}/x", addr.port())),
                    Route::Checked,
                    Duration::from_secs(5),
                    1024,
                )
                .await
                .expect("answer");
            assert_eq!(answer.status(), 200);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one pooled connection");
    }

    #[tokio::test]
    async fn a_blocked_network_is_refused_even_when_private_addresses_are_allowed() {
        let (addr, accepted) = server().await;
        let egress = Egress::new(AddressPolicy {
            allow_private: true,
            blocked: vec!["127.0.0.0/8".parse().expect("net")],
        });
        let refused = egress
            .exchange(
                get(&format!("http://localhost:{}/x", addr.port())),
                Route::Checked,
                Duration::from_secs(5),
                1024,
            )
            .await;
        assert!(
            matches!(refused, Err(EgressError::Refused(_))),
            "{refused:?}"
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn blocked_networks_apply_even_when_private_addresses_are_allowed() {
        let policy = AddressPolicy {
            allow_private: true,
            blocked: vec![
                "169.254.0.0/16".parse().expect("net"),
                "fd00::/8".parse().expect("net"),
            ],
        };
        assert!(policy.allows("127.0.0.1".parse().expect("ip")));
        assert!(!policy.allows("169.254.169.254".parse().expect("ip")));
        assert!(!policy.allows("::ffff:169.254.169.254".parse().expect("ip")));
        assert!(!policy.allows("64:ff9b::169.254.169.254".parse().expect("ip")));
        assert!(!policy.allows("2002:a9fe:a9fe::".parse().expect("ip")));
        assert!(!policy.allows("::ffff:0:169.254.169.254".parse().expect("ip")));
        assert!(!policy.allows("fd00::1".parse().expect("ip")));
        let strict = AddressPolicy::default();
        assert!(!strict.allows("127.0.0.1".parse().expect("ip")));
        assert!(strict.allows("8.8.8.8".parse().expect("ip")));
    }
}
