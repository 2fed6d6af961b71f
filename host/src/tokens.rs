//! Bearer tokens: project API tokens `tfk_<id>_<secret>` and agent tokens
//! `tfa_<id>_<secret>`. The id finds the row; only SHA-256 of the 256-bit secret is
//! stored, and it is compared in constant time.

use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

const PREFIX: &str = "tfk_";
/// The prefix of agent tokens (MCP).
pub const AGENT_PREFIX: &str = "tfa_";

/// A freshly made token: what to store, and the token to show once.
pub struct NewToken {
    /// The token's public id.
    pub id: String,
    /// SHA-256 of the secret part.
    pub secret_hash: [u8; 32],
    /// The whole token, shown to the operator once.
    pub token: SecretString,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken").field("id", &self.id).finish()
    }
}

/// Makes a new random project API token.
pub fn generate() -> Result<NewToken, getrandom::Error> {
    generate_with(PREFIX)
}

/// Makes a new random token with `prefix` (`tfk_`, [`AGENT_PREFIX`]).
pub fn generate_with(prefix: &str) -> Result<NewToken, getrandom::Error> {
    let mut id = [0u8; 8];
    let mut secret = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut id)?;
    getrandom::fill(secret.as_mut_slice())?;
    let id = hex::encode(id);
    let secret = zeroize::Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret.as_slice()),
    );
    Ok(NewToken {
        secret_hash: hash(&secret),
        token: SecretString::from(format!("{prefix}{id}_{}", secret.as_str())),
        id,
    })
}

/// Splits a presented API token into its id and secret; `None` when it is not one.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    parse_with(PREFIX, token)
}

/// Splits a presented token with `prefix` into its id and secret.
pub fn parse_with<'a>(prefix: &str, token: &'a str) -> Option<(&'a str, &'a str)> {
    let (id, secret) = token.strip_prefix(prefix)?.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some((id, secret))
}

/// Whether `secret` hashes to `stored`, in constant time.
pub fn verify(secret: &str, stored: &[u8]) -> bool {
    hash(secret).ct_eq(stored).into()
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The stored form of a secret (SHA-256), to look a row up by it.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    hash(secret)
}

/// The token's text, for printing once at creation.
pub fn reveal(token: &NewToken) -> &str {
    token.token.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_verify() {
        let t = generate().expect("random");
        let (id, secret) = parse(reveal(&t)).expect("parse");
        assert_eq!(id, t.id);
        assert!(verify(secret, &t.secret_hash));
        assert!(!verify("other", &t.secret_hash));
        assert!(!format!("{t:?}").contains(secret));
        let u = generate().expect("random");
        assert_ne!(t.id, u.id);
    }

    #[test]
    fn foreign_strings_are_not_tokens() {
        for bad in [
            "",
            "tfk_",
            "tfk_abc_def",
            "Bearer x",
            "tfk_0123456789abcdef_",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
