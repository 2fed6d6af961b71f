//! Replaces a call's secret values (and the forms the host derives from them: base64 for
//! basic auth, URL-encoding, JSON string escaping) in everything a piece hands back —
//! error messages, log lines, output — so a service that echoes a key cannot leak it
//! through the host.
//!
//! Text is scrubbed whole, before any cut to a size cap (a cut first would leave a
//! secret's head unmasked). Output is JSON: only its strings (keys and values) are
//! scrubbed, so a secret that happens to equal `true` or `12345` cannot rewrite the
//! document's structure, and the text is kept byte for byte when nothing was masked.

use crate::piece::Credentials;
use base64::Engine as _;
use serde_json::Value;

const MASK: &str = "[REDACTED]";

/// The forms a secret takes in text: as is, URL-encoded, and JSON-escaped (inside a
/// JSON string). Shared with the response mask, which adds binary encodings.
pub(super) fn text_forms(secret: &str) -> [String; 3] {
    let url: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let json = serde_json::to_string(secret).unwrap_or_default();
    let escaped = json[1..json.len().saturating_sub(1).max(1)].to_owned();
    [secret.to_owned(), url, escaped]
}

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
            needles.extend(text_forms(&secret));
        }
        if let Credentials::Basic { username, password } = creds {
            use secrecy::ExposeSecret;
            let raw = format!("{username}:{}", password.expose_secret());
            needles.extend(text_forms(
                &base64::engine::general_purpose::STANDARD.encode(raw),
            ));
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
        self.scrub_in_place(&mut out);
        out
    }

    /// Masks every secret in `text`; whether anything was masked.
    fn scrub_in_place(&self, text: &mut String) -> bool {
        let mut masked = false;
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                *text = text.replace(needle.as_str(), MASK);
                masked = true;
            }
        }
        masked
    }

    /// A JSON document with every secret in its strings masked, structure untouched;
    /// the text itself when nothing needed masking. Text that is not JSON is scrubbed
    /// as text.
    pub fn scrub_json(&self, json: String) -> String {
        if self.needles.is_empty() {
            return json;
        }
        let Ok(mut doc) = serde_json::from_str::<Value>(&json) else {
            return self.scrub(&json);
        };
        if self.scrub_value(&mut doc) {
            serde_json::to_string(&doc).unwrap_or_else(|_| self.scrub(&json))
        } else {
            json
        }
    }

    fn scrub_value(&self, value: &mut Value) -> bool {
        match value {
            Value::String(s) => self.scrub_in_place(s),
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |masked, v| self.scrub_value(v) | masked),
            Value::Object(map) => {
                let mut masked = false;
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    let mut new_key = key.clone();
                    if self.scrub_in_place(&mut new_key) {
                        masked = true;
                        if let Some(v) = map.remove(&key) {
                            map.insert(new_key.clone(), v);
                        }
                    }
                    if let Some(v) = map.get_mut(&new_key) {
                        masked |= self.scrub_value(v);
                    }
                }
                masked
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn secret_text(s: &str) -> Scrubber {
        Scrubber::new(Some(&Credentials::SecretText(SecretString::from(
            s.to_owned(),
        ))))
    }

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

    #[test]
    fn a_secret_with_a_quote_is_masked_in_its_json_escaped_form() {
        let s = secret_text(r#"k"ey\1"#);
        let echoed = r#"{"error":"bad key k\"ey\\1"}"#;
        assert_eq!(s.scrub(echoed), r#"{"error":"bad key [REDACTED]"}"#);
        // In output, the parsed string holds the raw secret.
        assert_eq!(
            s.scrub_json(echoed.to_owned()),
            r#"{"error":"bad key [REDACTED]"}"#
        );
    }

    #[test]
    fn output_structure_survives_a_secret_that_looks_like_json() {
        for secret in ["true", "12345", "null", "\"a\""] {
            let s = secret_text(secret);
            let out = r#"{"ok": true, "count": 12345, "none": null, "list": [1, "x"]}"#;
            assert_eq!(s.scrub_json(out.to_owned()), out, "{secret}");
        }
        let s = secret_text("12345");
        let masked: Value = serde_json::from_str(
            &s.scrub_json(r#"{"n":12345,"t":"id 12345","12345":1}"#.to_owned()),
        )
        .expect("still JSON");
        assert_eq!(
            masked,
            serde_json::json!({"n": 12345, "t": "id [REDACTED]", "[REDACTED]": 1})
        );
        // Not JSON: scrubbed as text.
        assert_eq!(s.scrub_json("plain 12345".to_owned()), "plain [REDACTED]");
    }
}
