//! The resolver of checked requests: resolves a name once, keeps only the addresses the
//! policy allows (public ones, none in an operator-blocked network), and hands exactly
//! those to the connector — the address checked is the address connected to, so a DNS
//! answer that changes between a check and a connect (rebinding) changes nothing.

use super::AddressPolicy;
use hyper_util::client::legacy::connect::dns::Name;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long a name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A name resolved only to addresses the policy refuses.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to addresses this server does not call (private, loopback or blocked)")]
pub struct Refused(pub String);

/// A name that did not resolve (in time).
#[derive(Debug, thiserror::Error)]
#[error("{0} did not resolve")]
pub struct Unresolved(pub String);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Resolves with the system resolver, then filters by the policy.
#[derive(Clone)]
pub struct CheckedResolver {
    pub(super) policy: Arc<AddressPolicy>,
}

impl tower_service::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host.as_str(), 0)))
                    .await
                    .map_err(|_| Unresolved(host.clone()))?
                    .map_err(|_| Unresolved(host.clone()))?
                    .collect();
            if found.is_empty() {
                return Err(Unresolved(host).into());
            }
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| policy.allows(a.ip()))
                .collect();
            if allowed.is_empty() {
                tracing::warn!(host = %host, "outbound request refused: the name resolves only to private or blocked addresses");
                return Err(Refused(host).into());
            }
            Ok(allowed.into_iter())
        })
    }
}
