//! The OAuth2 protocol client: the `oauth2` crate over the host's one outbound path
//! ([`crate::egress`]: checked and pinned addresses, no redirects followed), with the
//! operator's outbound overrides applied to the provider's URLs (how tests point real
//! pieces' providers at a local server). A token URL on a private address receives
//! nothing: not the client secret, the code or the verifier.

use crate::egress::{Egress, EgressError, Route};
use crate::piece::TokenAuth;
use crate::runtime::OutboundPolicy;
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse as _,
    TokenUrl,
};
use secrecy::{ExposeSecret as _, SecretString};
use std::collections::BTreeMap;
use std::time::Duration;

/// The token endpoint's answer.
pub struct Tokens {
    /// The access token.
    pub access_token: SecretString,
    /// A refresh token, when one came back.
    pub refresh_token: Option<SecretString>,
    /// Lifetime of the access token in seconds, when given.
    pub expires_in: Option<u64>,
    /// The answer's other scalar fields (e.g. Salesforce's `instance_url`), of which
    /// those the piece names in its `token-props` become the connection's props: see
    /// [`TokenProps`].
    pub props: BTreeMap<String, String>,
}

/// The token answer's fields beyond the standard ones, as candidates for props:
/// scalars only, none whose name holds `token` or `secret` (an `id_token` is not a
/// setting, and a piece cannot name one), of at most [`MAX_TOKEN_PROP_BYTES`] each;
/// the piece's `token-props` pick the ones kept.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenProps {
    #[serde(flatten)]
    fields: BTreeMap<String, serde_json::Value>,
}

impl oauth2::ExtraTokenFields for TokenProps {}

/// The longest token answer field kept as a prop.
const MAX_TOKEN_PROP_BYTES: usize = 2048;

impl TokenProps {
    fn props(&self) -> BTreeMap<String, String> {
        self.fields
            .iter()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                !k.contains("token") && !k.contains("secret") && !k.starts_with('@')
            })
            .filter_map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                (v.len() <= MAX_TOKEN_PROP_BYTES).then(|| (k.clone(), v))
            })
            .collect()
    }
}

/// A token answer with its extra fields.
type TokenResponse = oauth2::StandardTokenResponse<TokenProps, BasicTokenType>;

/// The `oauth2` client: the basic types but for the token answer, with the
/// authorization and token endpoints set.
type TokenClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

/// Why a token request failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The provider refused the grant (`invalid_grant`): revoked, reused or expired.
    #[error("the provider refused the grant (invalid_grant)")]
    InvalidGrant,
    /// The provider answered another OAuth error.
    #[error("the provider answered {0}")]
    Refused(String),
    /// Network failure, 5xx, or an unreadable answer: worth retrying.
    #[error("the token request failed: {0}")]
    Transient(#[source] Cause),
    /// A URL of the piece's schema is unusable.
    #[error("{0}")]
    BadUrl(String),
    /// This server could not ask now (its sandbox busy, the piece not loaded here): not
    /// the credential's fault, so not recorded as a failed refresh.
    #[error("this server could not renew it now: {0}")]
    Deferred(#[source] Cause),
}

/// What made a request fail: the error itself (kept as the source, so its own causes
/// can be followed) or, where there is none, a sentence.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// One client registration: where to go and as whom.
pub struct Endpoint<'a> {
    /// The piece's authorization URL.
    pub auth_url: &'a str,
    /// The piece's token URL.
    pub token_url: &'a str,
    /// Client id.
    pub client_id: &'a str,
    /// Client secret.
    pub client_secret: &'a SecretString,
    /// Our callback URL.
    pub redirect_url: &'a str,
    /// How the client authenticates at the token endpoint.
    pub token_auth: TokenAuth,
}

/// Applies the operator's overrides to a provider URL; refuses plain HTTP otherwise.
pub fn route(policy: &OutboundPolicy, url: &str) -> Result<String, TokenError> {
    let parsed = url::Url::parse(url).map_err(|e| TokenError::BadUrl(format!("{url}: {e}")))?;
    if let Some(target) = policy.rerouted(&parsed) {
        return Ok(target);
    }
    if parsed.scheme() != "https" {
        return Err(TokenError::BadUrl(format!(
            "{url}: an OAuth2 endpoint must use https"
        )));
    }
    Ok(url.to_owned())
}

fn client(policy: &OutboundPolicy, e: &Endpoint<'_>) -> Result<TokenClient, TokenError> {
    let bad = |e: oauth2::url::ParseError| TokenError::BadUrl(e.to_string());
    Ok(oauth2::Client::new(ClientId::new(e.client_id.to_owned()))
        .set_auth_type(match e.token_auth {
            TokenAuth::ClientSecretBasic => oauth2::AuthType::BasicAuth,
            TokenAuth::ClientSecretPost => oauth2::AuthType::RequestBody,
        })
        .set_client_secret(ClientSecret::new(
            e.client_secret.expose_secret().to_owned(),
        ))
        .set_auth_uri(AuthUrl::new(route(policy, e.auth_url)?).map_err(bad)?)
        .set_token_uri(TokenUrl::new(route(policy, e.token_url)?).map_err(bad)?)
        .set_redirect_uri(RedirectUrl::new(e.redirect_url.to_owned()).map_err(bad)?))
}

/// The authorization URL for `state`, with PKCE S256; returns it and the verifier.
pub fn authorize_url(
    policy: &OutboundPolicy,
    e: &Endpoint<'_>,
    state: &str,
    scopes: &[String],
    extra: &[(String, String)],
) -> Result<(String, SecretString), TokenError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = state.to_owned();
    let c = client(policy, e)?;
    let mut req = c
        .authorize_url(move || CsrfToken::new(state))
        .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())))
        .set_pkce_challenge(challenge);
    for (k, v) in extra {
        req = req.add_extra_param(k.clone(), v.clone());
    }
    let (url, _) = req.url();
    Ok((
        url.to_string(),
        SecretString::from(verifier.secret().clone()),
    ))
}

/// How long a token request may take, answer included.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest token answer read.
const TOKEN_ANSWER_BYTES: usize = 64 << 10;

/// Whose choice the token endpoint is: the operator's when overridden, else checked.
fn token_route(policy: &OutboundPolicy, e: &Endpoint<'_>) -> Route {
    match url::Url::parse(e.token_url) {
        Ok(url) if policy.rerouted(&url).is_some() => Route::Operator,
        _ => Route::Checked,
    }
}

/// The `oauth2` crate's HTTP client: token requests through the outbound path.
struct TokenHttp<'a> {
    egress: &'a Egress,
    route: Route,
}

impl<'c> oauth2::AsyncHttpClient<'c> for TokenHttp<'_> {
    type Error = EgressError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<oauth2::HttpResponse, EgressError>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let answer = self
                .egress
                .exchange(request, self.route, TOKEN_TIMEOUT, TOKEN_ANSWER_BYTES)
                .await?;
            Ok(error_in_disguise(answer))
        })
    }
}

/// Some providers (GitHub) answer an OAuth error with HTTP 200 and `{"error": …}`:
/// such an answer is given the 400 it means, so it is read as the error it is (with
/// its description) rather than as an unreadable token.
fn error_in_disguise(mut answer: oauth2::HttpResponse) -> oauth2::HttpResponse {
    if answer.status().is_success()
        && let Ok(body) = serde_json::from_slice::<serde_json::Value>(answer.body())
        && body.get("error").is_some_and(serde_json::Value::is_string)
        && body.get("access_token").is_none()
    {
        *answer.status_mut() = http::StatusCode::BAD_REQUEST;
    }
    answer
}

fn tokens(t: &TokenResponse) -> Tokens {
    Tokens {
        access_token: SecretString::from(t.access_token().secret().clone()),
        refresh_token: t
            .refresh_token()
            .map(|r| SecretString::from(r.secret().clone())),
        expires_in: t.expires_in().map(|d| d.as_secs()),
        props: t.extra_fields().props(),
    }
}

fn classify<RE: std::error::Error + Send + Sync + 'static>(
    e: RequestTokenError<RE, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
) -> TokenError {
    match e {
        RequestTokenError::ServerResponse(r) => match r.error() {
            BasicErrorResponseType::InvalidGrant => TokenError::InvalidGrant,
            other => TokenError::Refused(match r.error_description() {
                // The provider's own words, cut: they are shown to the user.
                Some(why) => format!("{other}: {}", why.chars().take(200).collect::<String>()),
                None => other.to_string(),
            }),
        },
        RequestTokenError::Request(e) => {
            match (&e as &dyn std::error::Error).downcast_ref::<EgressError>() {
                Some(EgressError::Refused(why)) => {
                    TokenError::BadUrl(format!("the token endpoint is refused: {why}"))
                }
                _ => TokenError::Transient(e.into()),
            }
        }
        RequestTokenError::Parse(_, body) => {
            TokenError::Transient(format!("unreadable answer ({} bytes)", body.len()).into())
        }
        RequestTokenError::Other(m) => TokenError::Transient(m.into()),
    }
}

/// Exchanges an authorization code (with its PKCE verifier) for tokens.
pub async fn exchange_code(
    policy: &OutboundPolicy,
    egress: &Egress,
    e: &Endpoint<'_>,
    code: &str,
    verifier: &SecretString,
) -> Result<Tokens, TokenError> {
    let c = client(policy, e)?;
    let http = TokenHttp {
        egress,
        route: token_route(policy, e),
    };
    let t = c
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()))
        .request_async(&http)
        .await
        .map_err(classify)?;
    Ok(tokens(&t))
}

/// Exchanges a refresh token for new tokens.
pub async fn refresh(
    policy: &OutboundPolicy,
    egress: &Egress,
    e: &Endpoint<'_>,
    refresh_token: &SecretString,
) -> Result<Tokens, TokenError> {
    let c = client(policy, e)?;
    let http = TokenHttp {
        egress,
        route: token_route(policy, e),
    };
    let t = c
        .exchange_refresh_token(&RefreshToken::new(refresh_token.expose_secret().to_owned()))
        .request_async(&http)
        .await
        .map_err(classify)?;
    Ok(tokens(&t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::AddressPolicy;

    /// What a token endpoint received: the request's headers and form body.
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(http::HeaderMap, String)>>>;

    /// A token endpoint on loopback that answers every request with `body` (JSON, 200)
    /// and records what it received; returns its port.
    async fn token_endpoint(body: &'static str, seen: Seen) -> u16 {
        use http_body_util::BodyExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let seen = seen.clone();
                        async move {
                            let (parts, incoming) = req.into_parts();
                            let form = incoming
                                .collect()
                                .await
                                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                                .unwrap_or_default();
                            seen.lock().expect("seen").push((parts.headers, form));
                            let mut answer = hyper::Response::new(http_body_util::Full::new(
                                hyper::body::Bytes::from_static(body.as_bytes()),
                            ));
                            answer.headers_mut().insert(
                                http::header::CONTENT_TYPE,
                                http::HeaderValue::from_static("application/json"),
                            );
                            Ok::<_, std::convert::Infallible>(answer)
                        }
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        port
    }

    #[tokio::test]
    async fn client_secret_post_sends_the_secret_in_the_form_and_extra_fields_become_props() {
        let seen = Seen::default();
        let port = token_endpoint(
            r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,
                "instance_url":"https://na1.my.salesforce.com","id_token":"eyJ.planted",
                "issued_at":1700000000,"signature_token":"x","nested":{"a":1}}"#,
            seen.clone(),
        )
        .await;
        let policy = OutboundPolicy {
            overrides: vec![
                format!("login.salesforce.example=http://127.0.0.1:{port}")
                    .parse()
                    .expect("override"),
            ],
            ..OutboundPolicy::default()
        };
        let egress = Egress::new(policy.address_policy());
        let secret = SecretString::from("client-secret-7731".to_owned());
        let endpoint = Endpoint {
            auth_url: "https://login.salesforce.example/authorize",
            token_url: "https://login.salesforce.example/token",
            client_id: "client",
            client_secret: &secret,
            redirect_url: "https://host.example/oauth2/callback",
            token_auth: TokenAuth::ClientSecretPost,
        };
        let tokens = refresh(&policy, &egress, &endpoint, &SecretString::from("rt-1"))
            .await
            .expect("refreshed");
        assert_eq!(tokens.access_token.expose_secret(), "at-1");
        assert_eq!(
            tokens.props,
            BTreeMap::from([
                (
                    "instance_url".to_owned(),
                    "https://na1.my.salesforce.com".to_owned()
                ),
                ("issued_at".to_owned(), "1700000000".to_owned()),
            ])
        );
        let seen = seen.lock().expect("seen");
        let (headers, form) = &seen[0];
        assert!(
            headers.get(http::header::AUTHORIZATION).is_none(),
            "{headers:?}"
        );
        let form: BTreeMap<String, String> = url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(form.get("client_id").map(String::as_str), Some("client"));
        assert_eq!(
            form.get("client_secret").map(String::as_str),
            Some("client-secret-7731")
        );
        assert_eq!(
            form.get("grant_type").map(String::as_str),
            Some("refresh_token")
        );
    }

    #[tokio::test]
    async fn an_error_answered_with_http_200_is_read_as_the_error_it_is() {
        let port = token_endpoint(
            r#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}"#,
            Seen::default(),
        )
        .await;
        let policy = OutboundPolicy {
            overrides: vec![
                format!("github.example=http://127.0.0.1:{port}")
                    .parse()
                    .expect("override"),
            ],
            ..OutboundPolicy::default()
        };
        let egress = Egress::new(policy.address_policy());
        let secret = SecretString::from("client-secret".to_owned());
        let endpoint = Endpoint {
            auth_url: "https://github.example/login/oauth/authorize",
            token_url: "https://github.example/login/oauth/access_token",
            client_id: "client",
            client_secret: &secret,
            redirect_url: "https://host.example/oauth2/callback",
            token_auth: TokenAuth::ClientSecretBasic,
        };
        let verifier = SecretString::from("v".repeat(43));
        let err = exchange_code(&policy, &egress, &endpoint, "code", &verifier)
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, TokenError::Refused(_)), "{err}");
        assert!(
            err.to_string()
                .contains("The code passed is incorrect or expired."),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_token_url_on_a_private_address_receives_nothing() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let policy = OutboundPolicy::default();
        let egress = Egress::new(AddressPolicy::default());
        let secret = SecretString::from("client-secret-planted-5521".to_owned());
        for host in ["127.0.0.1", "localhost"] {
            let token_url = format!("https://{host}:{port}/token");
            let endpoint = Endpoint {
                auth_url: "https://provider.example/authorize",
                token_url: &token_url,
                client_id: "client",
                client_secret: &secret,
                redirect_url: "https://host.example/oauth2/callback",
                token_auth: TokenAuth::ClientSecretBasic,
            };
            let refresh_token = SecretString::from("refresh-planted".to_owned());
            let err = refresh(&policy, &egress, &endpoint, &refresh_token)
                .await
                .err()
                .expect("refused");
            assert!(matches!(err, TokenError::BadUrl(_)), "{host}: {err}");
            assert!(err.to_string().contains("refused"), "{err}");
            assert!(!err.to_string().contains("planted"), "{err}");
        }
        let accepted =
            tokio::time::timeout(std::time::Duration::from_millis(100), listener.accept()).await;
        assert!(
            accepted.is_err(),
            "the private token endpoint was connected to"
        );
    }
}
