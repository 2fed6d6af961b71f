//! Login attempts, limited per account and per client address (the `governor` crate's
//! keyed GCRA limiters). Each replica limits on its own; behind a load balancer of N
//! replicas an attacker gets at most N times the rate.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;

/// Attempts per account per minute (a burst of that many, then one every 12 s).
const PER_ACCOUNT: u32 = 5;
/// Attempts per client address per minute.
const PER_ADDRESS: u32 = 20;

/// The login limiter.
pub struct LoginLimiter {
    accounts: DefaultKeyedRateLimiter<String>,
    addresses: DefaultKeyedRateLimiter<IpAddr>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        LoginLimiter {
            accounts: RateLimiter::keyed(per_minute(PER_ACCOUNT)),
            addresses: RateLimiter::keyed(per_minute(PER_ADDRESS)),
        }
    }
}

impl LoginLimiter {
    /// Counts one attempt for `email` from `address`; false when either is over its rate.
    pub fn allow(&self, email: &str, address: IpAddr) -> bool {
        let by_address = self.addresses.check_key(&address).is_ok();
        let by_account = self.accounts.check_key(&email.to_owned()).is_ok();
        self.addresses.retain_recent();
        self.accounts.retain_recent();
        by_address && by_account
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_limited_whatever_the_address_and_an_address_whatever_the_account() {
        let limiter = LoginLimiter::default();
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..PER_ACCOUNT {
            assert!(limiter.allow("x@example.com", a));
        }
        assert!(
            !limiter.allow("x@example.com", b),
            "another address, same account"
        );
        assert!(limiter.allow("y@example.com", b));
        let c: IpAddr = "192.0.2.3".parse().expect("ip");
        let allowed = (0..PER_ADDRESS + 5)
            .filter(|i| limiter.allow(&format!("u{i}@example.com"), c))
            .count();
        assert_eq!(allowed, PER_ADDRESS as usize);
    }
}
