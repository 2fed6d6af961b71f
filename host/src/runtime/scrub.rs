//! Replaces a call's secret values (and the forms the host derives from them: base64 for
//! basic auth, URL-encoding) in everything a piece hands back — error messages, log
//! lines, output — so a service that echoes a key cannot leak it through the host.

use crate::piece::Credentials;
use base64::Engine as _;

const MASK: &str = "[REDACTED]";

/// The secrets of one call, ready to be masked.
#[derive(Default)]
pub struct Scrubber {
    needles: Vec<String>,
}

impl Scrubber {
    /// A scrubber for `creds` (an empty one for none).
    pub fn new(creds: Option<&Credentials>) -> Self {
        let Some(creds) = creds else {
            return Scrubber::default();
        };
        let mut needles = Vec::new();
        for secret in creds.secret_values() {
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            needles.push(encoded);
            needles.push(secret);
        }
        if let Credentials::Basic { username, password } = creds {
            use secrecy::ExposeSecret;
            let raw = format!("{username}:{}", password.expose_secret());
            needles.push(base64::engine::general_purpose::STANDARD.encode(raw));
        }
        // Longest first, so a secret inside a longer derived form is masked whole; very
        // short values would mask ordinary text, and are too weak to matter.
        needles.retain(|n| n.len() >= 3);
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Scrubber { needles }
    }

    /// `text` with every secret masked.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), MASK);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn masks_secrets_and_their_derived_forms() {
        let basic = Credentials::Basic {
            username: "AC1".into(),
            password: SecretString::from("p@ss word"),
        };
        let s = Scrubber::new(Some(&basic));
        let derived = base64::engine::general_purpose::STANDARD.encode("AC1:p@ss word");
        let text = format!("got p@ss word, p%40ss+word and Basic {derived} from AC1");
        assert_eq!(
            s.scrub(&text),
            "got [REDACTED], [REDACTED] and Basic [REDACTED] from AC1"
        );
        assert_eq!(Scrubber::new(None).scrub("p@ss word"), "p@ss word");
    }
}
