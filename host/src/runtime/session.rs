//! The checks a session a piece opened (its `session.refresh`) must pass before the
//! host stores it: field names a placement template and the piece can use, none taken
//! by the auth schema, and sizes a connection's sealed value can carry.

use crate::piece::{AuthSchema, OpenedSession};

/// The most fields one session may carry.
pub const MAX_FIELDS: usize = 16;
/// The longest field name.
pub const MAX_NAME_CHARS: usize = 64;
/// The largest field value.
pub const MAX_VALUE_BYTES: usize = 16 << 10;

/// Why a session is unusable, or nothing.
pub fn check(session: &OpenedSession, auth: &AuthSchema) -> Result<(), String> {
    if session.fields.is_empty() {
        return Err("it has no fields".into());
    }
    if session.fields.len() > MAX_FIELDS {
        return Err(format!(
            "{} fields; at most {MAX_FIELDS}",
            session.fields.len()
        ));
    }
    let entered: Vec<&str> = match auth {
        AuthSchema::Custom { props } => props.iter().map(|p| p.name.as_str()).collect(),
        _ => Vec::new(),
    };
    let mut seen = Vec::new();
    for (name, value) in &session.fields {
        let well_formed = !name.is_empty()
            && name.chars().count() <= MAX_NAME_CHARS
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !well_formed {
            return Err(format!(
                "field name {:?} must be 1 to {MAX_NAME_CHARS} lower-case letters, digits or _",
                crate::runtime::convert::truncate(name.clone(), MAX_NAME_CHARS)
            ));
        }
        if entered.contains(&name.as_str()) {
            return Err(format!("field {name} is a field of the auth schema"));
        }
        if seen.contains(&name) {
            return Err(format!("field {name} is given twice"));
        }
        seen.push(name);
        let bytes = secrecy::ExposeSecret::expose_secret(value).len();
        if bytes > MAX_VALUE_BYTES {
            return Err(format!(
                "field {name} is {bytes} bytes; at most {MAX_VALUE_BYTES}"
            ));
        }
    }
    if session.expires_in == Some(0) {
        return Err("it expires at once (expires-in 0)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::piece::{Prop, PropKind};
    use secrecy::SecretString;

    fn session(fields: &[(&str, &str)], expires_in: Option<u64>) -> OpenedSession {
        OpenedSession {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), SecretString::from(v.to_string())))
                .collect(),
            expires_in,
        }
    }

    #[test]
    fn a_session_must_name_its_fields_apart_from_the_schema_and_fit() {
        let auth = AuthSchema::Custom {
            props: vec![Prop {
                name: "password".into(),
                display_name: "Password".into(),
                description: None,
                kind: PropKind::SecretText,
                required: true,
                secret: true,
                default_value: None,
            }],
        };
        assert_eq!(
            check(&session(&[("session_token", "t")], Some(60)), &auth),
            Ok(())
        );
        assert_eq!(check(&session(&[("token", "t")], None), &auth), Ok(()));
        let refused = [
            (session(&[], Some(60)), "no fields"),
            (
                session(&[("password", "t")], Some(60)),
                "field of the auth schema",
            ),
            (session(&[("Token", "t")], Some(60)), "lower-case"),
            (session(&[("a b", "t")], Some(60)), "lower-case"),
            (session(&[("t", "1"), ("t", "2")], Some(60)), "twice"),
            (session(&[("t", "x")], Some(0)), "expires at once"),
            (
                session(&[("t", &"x".repeat(MAX_VALUE_BYTES + 1))], None),
                "bytes",
            ),
        ];
        for (s, why) in refused {
            let err = check(&s, &auth).expect_err(why);
            assert!(err.contains(why), "{err}");
        }
        let many: Vec<(String, &str)> = (0..=MAX_FIELDS).map(|i| (format!("f{i}"), "v")).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert!(check(&session(&many, None), &auth).is_err());
    }
}
