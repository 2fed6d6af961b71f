//! Sessions in the sandbox: what a piece with sessions may declare (custom auth; a host
//! placement that applies session fields only, so an entered secret never goes out by
//! the host's hand), which entered fields its calls see redacted (every secret one: only
//! `refresh` needs them), and the checks a session it opened must pass before the host
//! stores it (field names a template and the piece can use, none taken by the schema,
//! sizes a sealed value can carry).

use crate::piece::{AuthPlacement, AuthSchema, OpenedSession};

/// Why a piece that exports `session` cannot be loaded with what it declared, or nothing.
pub fn check_declared(auth: &AuthSchema, placement: Option<&AuthPlacement>) -> Result<(), String> {
    let AuthSchema::Custom { props } = auth else {
        return Err(format!(
            "the session export is for custom auth; this piece takes {} credentials",
            auth.kind()
        ));
    };
    let template = match placement {
        None => return Ok(()),
        Some(AuthPlacement::Header { value, .. } | AuthPlacement::Query { value, .. }) => value,
        Some(_) => {
            return Err(
                "a piece with sessions applies session fields only: use a header or query \
                 template that names them"
                    .into(),
            );
        }
    };
    let mut rest = template.as_str();
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 1..start + len];
        if props.iter().any(|p| p.name == name) {
            return Err(format!(
                "the placement names {name}, an entered field; with sessions the host \
                 applies session fields only"
            ));
        }
        rest = &rest[start + len + 1..];
    }
    Ok(())
}

/// The entered fields a piece with sessions sees redacted on `validate` and
/// `run-action`: its secret ones (they only open sessions).
pub fn entered_secrets(auth: &AuthSchema) -> Vec<String> {
    match auth {
        AuthSchema::Custom { props } => props
            .iter()
            .filter(|p| p.secret)
            .map(|p| p.name.clone())
            .collect(),
        _ => Vec::new(),
    }
}

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
        // The name is not echoed: a piece that swapped name and value would put its
        // token in the message.
        if !well_formed {
            return Err(format!(
                "field #{} has a name that is not 1 to {MAX_NAME_CHARS} lower-case letters, digits or _",
                seen.len() + 1
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
            (
                session(&[("Token-planted", "t")], Some(60)),
                "field #1 has a name",
            ),
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
            assert!(err.contains(why) && !err.contains("planted"), "{err}");
        }
        let many: Vec<(String, &str)> = (0..=MAX_FIELDS).map(|i| (format!("f{i}"), "v")).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert!(check(&session(&many, None), &auth).is_err());
    }

    #[test]
    fn a_piece_with_sessions_has_the_host_apply_session_fields_only() {
        let prop = |name: &str, secret: bool| Prop {
            name: name.into(),
            display_name: name.into(),
            description: None,
            kind: PropKind::ShortText,
            required: true,
            secret,
            default_value: None,
        };
        let auth = AuthSchema::Custom {
            props: vec![prop("user", false), prop("password", true)],
        };
        let header = |value: &str| AuthPlacement::Header {
            name: "X-Session".into(),
            value: value.into(),
        };
        assert_eq!(check_declared(&auth, None), Ok(()));
        assert_eq!(
            check_declared(&auth, Some(&header("{session_token}"))),
            Ok(())
        );
        for refused in [
            header("{password}"),
            header("{session_token}:{user}"),
            AuthPlacement::Basic,
        ] {
            assert!(
                check_declared(&auth, Some(&refused)).is_err(),
                "{refused:?}"
            );
        }
        let secret_text = AuthSchema::SecretText {
            field: prop("secret_text", true),
        };
        assert!(
            check_declared(&secret_text, None)
                .expect_err("kind")
                .contains("custom auth")
        );
        assert_eq!(entered_secrets(&auth), ["password"]);
    }
}
