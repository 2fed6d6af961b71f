//! The outbound HTTP policy: which hosts a piece may reach, where operator overrides send
//! them, which addresses are refused, and the host-side application of credentials.
//!
//! Every `wasi:http/outgoing-handler` request of a piece passes [`OutboundHooks::send_request`]:
//! deny by default, allow only the piece's declared hosts (narrowed by the operator),
//! refuse loopback and private addresses unless allowed or overridden, then put the
//! credential on the request for the declared hosts so the guest never holds it.

use crate::piece::{AuthPlacement, Credentials};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use std::net::IpAddr;
use std::sync::Arc;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// An operator override: requests for `host` go to `base` instead (scheme, authority and
/// path prefix). The target may be loopback: the operator chose it.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The host name the piece uses, lower-case.
    pub host: String,
    /// Where its requests go.
    pub base: url::Url,
}

impl std::str::FromStr for Override {
    type Err = String;

    /// Parses `HOST=BASE_URL`, e.g. `api.openai.com=http://127.0.0.1:9000`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (host, base) = s
            .split_once('=')
            .ok_or_else(|| format!("outbound override {s:?} must look like HOST=BASE_URL"))?;
        let host = host.trim().to_ascii_lowercase();
        if host.is_empty() || host.contains(['/', ':', ' ']) {
            return Err(format!(
                "outbound override {s:?}: {host:?} is not a host name"
            ));
        }
        let base = url::Url::parse(base.trim())
            .map_err(|e| format!("outbound override {s:?}: bad base URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(format!(
                "outbound override {s:?}: base URL must be http(s)://host[:port][/path]"
            ));
        }
        Ok(Override { host, base })
    }
}

/// The operator's outbound policy, shared by every call.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    /// Host overrides.
    pub overrides: Vec<Override>,
    /// Allow loopback and private addresses for hosts that are not overridden.
    pub allow_private: bool,
    /// When set, only these hosts (a subset of what pieces declare) are reachable.
    pub narrow_to: Option<Vec<String>>,
}

impl OutboundPolicy {
    fn override_for(&self, host: &str) -> Option<&Override> {
        self.overrides.iter().find(|o| o.host == host)
    }
}

/// Whether `host` matches an allowlist entry (exact, or `*.suffix` for subdomains).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host.ends_with(suffix)
                && host[..host.len() - suffix.len()].ends_with('.')
        }
        None => pattern == host,
    }
}

/// Whether an address is loopback, private, link-local or otherwise not a public peer.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            let first = seg[0];
            // IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4
            // (2002::/16) addresses embed an IPv4 address that may be private.
            let embedded = |hi: u16, lo: u16| {
                is_private(IpAddr::V4(std::net::Ipv4Addr::from(
                    ((hi as u32) << 16) | lo as u32,
                )))
            };
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || (seg[..6] == [0; 6] && embedded(seg[6], seg[7]))
                || (first == 0x64 && seg[1] == 0xff9b)
                || (first == 0x2002 && embedded(seg[1], seg[2]))
        }
    }
}

/// A credential the host puts on requests itself.
#[derive(Clone)]
pub enum Applied {
    /// Set this header (replacing any the guest set).
    Header(http::HeaderName, SecretString),
    /// Append this query parameter.
    Query(String, SecretString),
}

impl std::fmt::Debug for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Applied::Header(name, _) => write!(f, "Header({name}, [REDACTED])"),
            Applied::Query(name, _) => write!(f, "Query({name}, [REDACTED])"),
        }
    }
}

/// Works out what the host applies for `placement`, and which credential fields the guest
/// must then see redacted. `None` when the credential has no field the placement needs.
pub fn applied_credential(
    placement: &AuthPlacement,
    creds: &Credentials,
) -> Option<(Applied, Vec<String>)> {
    let auth = http::header::AUTHORIZATION;
    match placement {
        AuthPlacement::Bearer => {
            let field = match creds {
                Credentials::Oauth2 { .. } => "access_token",
                _ => "secret_text",
            };
            let token = creds.field(field)?;
            let value = SecretString::from(format!("Bearer {}", token.expose_secret()));
            Some((Applied::Header(auth, value), vec![field.to_string()]))
        }
        AuthPlacement::Basic => {
            let (user, pass) = (creds.field("username")?, creds.field("password")?);
            let raw = format!("{}:{}", user.expose_secret(), pass.expose_secret());
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            );
            Some((
                Applied::Header(auth, value.into()),
                vec!["password".to_string()],
            ))
        }
        AuthPlacement::Header { name, value } => {
            let (filled, used) = fill_template(value, creds)?;
            let name = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
            Some((Applied::Header(name, filled), used))
        }
        AuthPlacement::Query { name, value } => {
            let (filled, used) = fill_template(value, creds)?;
            Some((Applied::Query(name.clone(), filled), used))
        }
    }
}

/// Fills `{field}` placeholders from the credential; returns the value and the fields used.
fn fill_template(template: &str, creds: &Credentials) -> Option<(SecretString, Vec<String>)> {
    let mut out = String::new();
    let mut used = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}')? + start;
        let name = &rest[start + 1..end];
        out.push_str(creds.field(name)?.expose_secret());
        used.push(name.to_string());
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some((out.into(), used))
}

/// The per-call `wasi:http` hooks: the policy, the piece's allowlist and the credential.
pub struct OutboundHooks {
    /// The operator's policy.
    pub policy: Arc<OutboundPolicy>,
    /// The piece's declared hosts.
    pub allowed_hosts: Arc<[String]>,
    /// What the host applies, if anything.
    pub applied: Option<Applied>,
    /// Requests this call has made so far.
    pub requests: usize,
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
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        self.requests += 1;
        if self.requests > MAX_REQUESTS_PER_CALL {
            tracing::warn!(host = %host, "outbound request refused: too many requests in one call");
            return Box::new(async { Err(HttpError::ConnectionLimitReached) });
        }
        let overridden = self.policy.override_for(&host).is_some();
        if self.applied.is_some() {
            // A credential goes only over TLS (or to a target the operator chose), and never
            // on a method a server may echo back.
            let method = request.method();
            if method == http::Method::TRACE || method == http::Method::CONNECT {
                return Box::new(async { Err(HttpError::HttpRequestMethodInvalid) });
            }
            if !overridden && request.uri().scheme_str() != Some("https") {
                tracing::warn!(host = %host, "outbound request refused: credential over plain http");
                return Box::new(async { Err(HttpError::HttpRequestDenied) });
            }
        }
        let target = self.policy.override_for(&host).cloned();
        let allow_private = self.policy.allow_private;
        let applied = self.applied.clone();
        Box::new(async move {
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
        })
    }
}

fn apply(request: &mut http::Request<WasiBody>, applied: &Applied) -> Result<(), HttpError> {
    match applied {
        Applied::Header(name, value) => {
            let mut value = http::HeaderValue::from_str(value.expose_secret()).map_err(|_| {
                HttpError::InternalError(Some("credential is not a valid header value".into()))
            })?;
            value.set_sensitive(true);
            request.headers_mut().insert(name.clone(), value);
        }
        Applied::Query(name, value) => {
            let uri = request.uri().clone();
            let pq = uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
                .to_owned();
            let sep = if pq.contains('?') { '&' } else { '?' };
            let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair(name, value.expose_secret())
                .finish();
            let mut parts = uri.into_parts();
            parts.path_and_query = Some(
                format!("{pq}{sep}{encoded}")
                    .parse()
                    .map_err(|_| HttpError::HttpRequestUriInvalid)?,
            );
            *request.uri_mut() =
                http::Uri::from_parts(parts).map_err(|_| HttpError::HttpRequestUriInvalid)?;
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn allowlist_patterns() {
        let check = |pattern: &str, host: &str, expect: bool| {
            assert_eq!(host_matches(pattern, host), expect, "{pattern} vs {host}");
        };
        check("api.openai.com", "api.openai.com", true);
        check("api.openai.com", "evil-api.openai.com", false);
        check("api.openai.com", "api.openai.com.evil.example", false);
        check("*.googleapis.com", "sheets.googleapis.com", true);
        check("*.googleapis.com", "googleapis.com", false);
        check("*.googleapis.com", "evilgoogleapis.com", false);
    }

    #[test]
    fn private_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                is_private(ip.parse().expect("ip")),
                "{ip} should be private"
            );
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(
                !is_private(ip.parse().expect("ip")),
                "{ip} should be public"
            );
        }
    }

    #[test]
    fn override_parsing() {
        let o: Override = "API.OpenAI.com=http://127.0.0.1:9000/v"
            .parse()
            .expect("valid");
        assert_eq!(o.host, "api.openai.com");
        assert_eq!(o.base.as_str(), "http://127.0.0.1:9000/v");
        for bad in [
            "nonsense",
            "=http://x",
            "host=ftp://x",
            "host=not a url",
            "a/b=http://x",
        ] {
            assert!(bad.parse::<Override>().is_err(), "{bad} should be refused");
        }
    }

    fn custom(fields: &[(&str, &str)]) -> Credentials {
        Credentials::Custom(
            fields
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        crate::piece::CustomValue::Secret(SecretString::from(v.to_string())),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        )
    }

    #[test]
    fn templates_fill_from_credentials_and_withhold_the_fields_used() {
        let creds = custom(&[("key", "k1"), ("region", "eu")]);
        let placement = AuthPlacement::Header {
            name: "X-Api-Key".into(),
            value: "Key {key}".into(),
        };
        let (applied, withheld) = applied_credential(&placement, &creds).expect("applies");
        match applied {
            Applied::Header(name, value) => {
                assert_eq!(name.as_str(), "x-api-key");
                assert_eq!(value.expose_secret(), "Key k1");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(withheld, vec!["key".to_string()]);
        // A template naming a field the credential lacks applies nothing.
        let missing = AuthPlacement::Query {
            name: "key".into(),
            value: "{nope}".into(),
        };
        assert!(applied_credential(&missing, &creds).is_none());
    }

    #[test]
    fn debug_never_prints_the_applied_secret() {
        let creds = Credentials::SecretText(SecretString::from("sk-planted"));
        let (applied, _) = applied_credential(&AuthPlacement::Bearer, &creds).expect("bearer");
        let shown = format!("{applied:?} {creds:?}");
        assert!(!shown.contains("sk-planted"), "{shown}");
    }
}
