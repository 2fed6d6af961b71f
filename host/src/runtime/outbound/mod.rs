//! The outbound HTTP policy: which hosts a piece may reach, where operator overrides send
//! them, which addresses are refused, and the host-side application of credentials.
//!
//! Every `wasi:http/outgoing-handler` request of a piece passes [`OutboundHooks::send_request`]:
//! deny by default, allow only the piece's declared hosts (narrowed by the operator),
//! refuse loopback and private addresses unless allowed or overridden, then put the
//! credential on the request for the declared hosts so the guest never holds it.

//!
//! One file a job: this one the policy (overrides, narrowing, host patterns, blocked
//! networks), `credential.rs` what the host puts on a request and how, `mask.rs` the
//! masking of that credential in responses before the guest reads them, `hooks.rs` the
//! per-call hooks that apply all of it. Requests leave through [`crate::egress`].

mod credential;
mod hooks;
mod mask;

pub use crate::egress::is_private;
pub use credential::{Applied, applied_credential};
pub use hooks::{MAX_REQUESTS_PER_CALL, OutboundHooks};
pub use mask::ResponseMask;

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
    /// Networks no request reaches (unless an override sends it there), even with
    /// `allow_private`: e.g. a cloud metadata range.
    pub blocked: Vec<ipnet::IpNet>,
}

impl OutboundPolicy {
    /// The address policy of the requests this policy does not override.
    pub fn address_policy(&self) -> crate::egress::AddressPolicy {
        crate::egress::AddressPolicy {
            allow_private: self.allow_private,
            blocked: self.blocked.clone(),
        }
    }

    fn override_for(&self, host: &str) -> Option<&Override> {
        self.overrides.iter().find(|o| o.host == host)
    }

    /// Where a host-side request to `url` goes when the operator overrides its host
    /// (the override's base, then the URL's path and query); `None` when not overridden.
    pub fn rerouted(&self, url: &url::Url) -> Option<String> {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let o = self
            .overrides
            .iter()
            .find(|o| host_matches(&o.host, &host))?;
        let prefix = o.base.as_str().trim_end_matches('/');
        let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
        Some(format!("{prefix}{}{query}", url.path()))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
