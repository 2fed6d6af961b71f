//! Password hashing: argon2id (the `argon2` crate's defaults, which follow OWASP's
//! minimum), stored as a PHC string. A check for an unknown account still runs one
//! verification, so timing does not tell whether an email exists.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use secrecy::{ExposeSecret as _, SecretString};

/// The shortest password accepted.
pub const MIN_LENGTH: usize = 10;

/// Hashes `password` with a fresh random salt.
pub fn hash(password: &SecretString) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("random salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| format!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("password hash: {e}"))
}

/// Whether `password` matches the stored PHC string `stored`; with `None` (no such
/// account) a dummy hash is checked so the answer takes as long, and is false.
pub fn verify(password: &SecretString, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        hash(&SecretString::from("not a password anybody has")).unwrap_or_default()
    });
    let Ok(parsed) = PasswordHash::new(stored.unwrap_or(dummy)) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok();
    matches && stored.is_some()
}

/// Why a new password is refused, if it is.
pub fn weakness(password: &SecretString) -> Option<String> {
    let n = password.expose_secret().chars().count();
    if n < MIN_LENGTH {
        return Some(format!(
            "The password must be at least {MIN_LENGTH} characters long."
        ));
    }
    if n > 1024 {
        return Some("The password must be at most 1024 characters long.".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_password_and_holds_no_plaintext() {
        let pw = SecretString::from("correct horse battery");
        let stored = hash(&pw).expect("hash");
        assert!(stored.starts_with("$argon2id$"));
        assert!(!stored.contains("correct horse"));
        assert!(verify(&pw, Some(&stored)));
        assert!(!verify(
            &SecretString::from("wrong horse battery"),
            Some(&stored)
        ));
        assert!(!verify(&pw, None));
        assert!(!verify(&pw, Some("not a phc string")));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(weakness(&SecretString::from("short")).is_some());
        assert!(weakness(&SecretString::from("long enough!")).is_none());
    }
}
