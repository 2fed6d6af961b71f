//! External ids: the stable names flows use in `{{connections['external-id']}}`.

/// The longest external id accepted.
pub const MAX_LEN: usize = 128;

/// Whether `id` is a valid external id: 1 to 128 ASCII letters, digits, `-`, `_`, `.`
/// (nothing that could break out of a reference's quotes).
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The default external id for a display name: lower-case ASCII words joined by `-`.
pub fn slug(display_name: &str) -> String {
    let mut out = String::new();
    for c in display_name.chars() {
        if c.is_ascii_alphanumeric() {
            if out.len() >= MAX_LEN {
                break;
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "connection".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for (name, want) in [
            ("My Slack", "my-slack"),
            ("  OpenAI (prod) key!  ", "openai-prod-key"),
            ("Crème brûlée", "cr-me-br-l-e"),
            ("日本", "connection"),
            ("", "connection"),
        ] {
            assert_eq!(slug(name), want, "{name}");
            assert!(is_valid(&slug(name)));
        }
        assert_eq!(slug(&"a".repeat(300)).len(), MAX_LEN);
    }

    #[test]
    fn validity() {
        assert!(is_valid("my-slack_2.prod"));
        for bad in ["", "a'b", "a b", "a}}", &"x".repeat(129)] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
