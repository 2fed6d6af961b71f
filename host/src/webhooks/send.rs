//! Sending one webhook request through the host's one outbound path
//! ([`crate::egress`]): overridden hosts go to the operator's target; any other host
//! must be https and resolve to public addresses only (unless private ones are
//! allowed), and the connection goes to the address that was checked, so a DNS answer
//! that changes in between (rebinding) cannot redirect it. No redirect is followed.

use crate::egress::{Egress, EgressError, Route};
use crate::runtime::OutboundPolicy;
use crate::runtime::outbound::{host_matches, is_private};
use std::time::Duration;

/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (only its status matters).
const ANSWER_BYTES: usize = 64 << 10;

/// Why an attempt failed. The words name no URL, header or body.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The receiver answered, but not 2xx.
    #[error("the receiver answered HTTP {0}")]
    Status(u16),
    /// No connection, a timeout, or a broken answer.
    #[error("{0}")]
    Network(&'static str),
    /// The policy refuses the destination.
    #[error("{0}")]
    Refused(String),
    /// The project has no webhook any more.
    #[error("the project has no webhook URL")]
    NoWebhook,
    /// Reading the webhook failed (logged by the store).
    #[error("the webhook could not be read")]
    Internal,
}

impl SendError {
    /// The receiver's HTTP status, when it answered.
    pub fn status(&self) -> Option<i64> {
        match self {
            SendError::Status(s) => Some(i64::from(*s)),
            _ => None,
        }
    }
}

/// The URL as stored, or why it is refused: http(s) with a host, https unless the
/// operator overrides its host or allows private addresses, and no literal private
/// address (or `localhost`) unless allowed. Names that resolve privately are refused
/// when sending.
pub fn check_url(policy: &OutboundPolicy, url: &str) -> Result<String, String> {
    let parsed =
        url::Url::parse(url).map_err(|_| "The webhook URL is not a valid URL.".to_owned())?;
    let host = parsed
        .host_str()
        .ok_or("The webhook URL has no host.")?
        .to_ascii_lowercase();
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("The webhook URL may not hold a user name or password.".into());
    }
    let overridden = policy
        .overrides
        .iter()
        .any(|o| host_matches(&o.host, &host));
    match parsed.scheme() {
        "https" => {}
        "http" if overridden || policy.allow_private => {}
        _ => return Err("The webhook URL must start with https://.".into()),
    }
    if !overridden && !policy.allow_private {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let private = bare == "localhost"
            || bare.ends_with(".localhost")
            || bare.parse::<std::net::IpAddr>().is_ok_and(is_private);
        if private {
            return Err(
                "The webhook URL points at a private or loopback address, which this server does not call.".into(),
            );
        }
    }
    Ok(parsed.to_string())
}

/// POSTs `body` (JSON) with `headers` to `url`; the receiver's status when it is 2xx.
pub async fn post(
    policy: &OutboundPolicy,
    egress: &Egress,
    url: &str,
    body: &str,
    headers: &[(&str, String)],
) -> Result<i64, SendError> {
    let parsed = url::Url::parse(url).map_err(|_| SendError::Refused("bad URL".into()))?;
    let (target, route) = match policy.rerouted(&parsed) {
        Some(target) => (target, Route::Operator),
        None => (url.to_owned(), Route::Checked),
    };
    let mut request = http::Request::post(&target)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "ThinkFleet-Webhooks/1");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(body.as_bytes().to_vec())
        .map_err(|_| SendError::Refused("bad URL".into()))?;
    let answer = egress
        .exchange(request, route, TIMEOUT, ANSWER_BYTES)
        .await
        .map_err(|e| match e {
            EgressError::Refused(_) => SendError::Refused(
                "the webhook's host resolves to a private or loopback address".into(),
            ),
            EgressError::Unresolved(_) => {
                SendError::Network("the webhook's host name did not resolve")
            }
            EgressError::Timeout(_) => SendError::Network("the receiver did not answer in time"),
            EgressError::Connect(_) => SendError::Network("could not connect to the receiver"),
            EgressError::BadUri | EgressError::Http(_) => SendError::Network("the request failed"),
        })?;
    let status = answer.status();
    if status.is_success() {
        Ok(i64::from(status.as_u16()))
    } else {
        Err(SendError::Status(status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_against_the_policy() {
        let strict = OutboundPolicy::default();
        assert!(check_url(&strict, "https://hooks.example.com/x?y=1").is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://10.1.2.3/x",
            "https://localhost/x",
            "https://api.localhost/x",
            "https://a:b@hooks.example.com/x",
            "not a url",
        ] {
            assert!(check_url(&strict, bad).is_err(), "{bad}");
        }
        let open = OutboundPolicy {
            allow_private: true,
            ..OutboundPolicy::default()
        };
        assert!(check_url(&open, "http://127.0.0.1:8080/x").is_ok());
        let routed = OutboundPolicy {
            overrides: vec![
                "hooks.internal=http://127.0.0.1:9"
                    .parse()
                    .expect("override"),
            ],
            ..OutboundPolicy::default()
        };
        assert!(check_url(&routed, "http://hooks.internal/x").is_ok());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_a_private_address_is_refused_when_sending() {
        // `localhost` resolves without any network; a stored URL whose name now
        // resolves privately (DNS rebinding) is refused before any connection.
        let policy = OutboundPolicy::default();
        let egress = Egress::new(policy.address_policy());
        let refused = post(&policy, &egress, "https://localhost:9/x", "{}", &[]).await;
        assert!(matches!(refused, Err(SendError::Refused(_))), "{refused:?}");
    }
}
