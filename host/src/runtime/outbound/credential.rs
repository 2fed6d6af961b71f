//! The credential the host applies itself: what a piece's placement asks for (bearer,
//! basic, header template, query parameter) filled from the call's credentials, and how
//! it goes onto a request.

use crate::piece::{AuthPlacement, Credentials};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

/// A credential the host puts on requests itself.
#[derive(Clone)]
pub enum Applied {
    /// Set this header (replacing any the guest set).
    Header(http::HeaderName, SecretString),
    /// Append this query parameter.
    Query(String, SecretString),
}

impl std::fmt::Debug for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Applied::Header(name, _) => write!(f, "Header({name}, [REDACTED])"),
            Applied::Query(name, _) => write!(f, "Query({name}, [REDACTED])"),
        }
    }
}

/// Works out what the host applies for `placement`, and which credential fields the guest
/// must then see redacted. `None` when the credential has no field the placement needs.
pub fn applied_credential(
    placement: &AuthPlacement,
    creds: &Credentials,
) -> Option<(Applied, Vec<String>)> {
    let auth = http::header::AUTHORIZATION;
    match placement {
        AuthPlacement::Bearer => {
            let field = match creds {
                Credentials::Oauth2 { .. } => "access_token",
                _ => "secret_text",
            };
            let token = creds.field(field)?;
            let value = SecretString::from(format!("Bearer {}", token.expose_secret()));
            Some((Applied::Header(auth, value), vec![field.to_string()]))
        }
        AuthPlacement::Basic => {
            let (user, pass) = (creds.field("username")?, creds.field("password")?);
            let raw = format!("{}:{}", user.expose_secret(), pass.expose_secret());
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            );
            Some((
                Applied::Header(auth, value.into()),
                vec!["password".to_string()],
            ))
        }
        AuthPlacement::Header { name, value } => {
            let (filled, used) = fill_template(value, creds)?;
            let name = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
            Some((Applied::Header(name, filled), used))
        }
        AuthPlacement::Query { name, value } => {
            let (filled, used) = fill_template(value, creds)?;
            Some((Applied::Query(name.clone(), filled), used))
        }
    }
}

/// Fills `{field}` placeholders from the credential; returns the value and the fields used.
fn fill_template(template: &str, creds: &Credentials) -> Option<(SecretString, Vec<String>)> {
    let mut out = String::new();
    let mut used = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}')? + start;
        let name = &rest[start + 1..end];
        out.push_str(creds.field(name)?.expose_secret());
        used.push(name.to_string());
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some((out.into(), used))
}

pub(super) fn apply(
    request: &mut http::Request<WasiBody>,
    applied: &Applied,
) -> Result<(), HttpError> {
    match applied {
        Applied::Header(name, value) => {
            let mut value = http::HeaderValue::from_str(value.expose_secret()).map_err(|_| {
                HttpError::InternalError(Some("credential is not a valid header value".into()))
            })?;
            value.set_sensitive(true);
            request.headers_mut().insert(name.clone(), value);
        }
        Applied::Query(name, value) => {
            let uri = request.uri().clone();
            let pq = uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
                .to_owned();
            let sep = if pq.contains('?') { '&' } else { '?' };
            let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair(name, value.expose_secret())
                .finish();
            let mut parts = uri.into_parts();
            parts.path_and_query = Some(
                format!("{pq}{sep}{encoded}")
                    .parse()
                    .map_err(|_| HttpError::HttpRequestUriInvalid)?,
            );
            *request.uri_mut() =
                http::Uri::from_parts(parts).map_err(|_| HttpError::HttpRequestUriInvalid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn custom(fields: &[(&str, &str)]) -> Credentials {
        Credentials::Custom(
            fields
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        crate::piece::CustomValue::Secret(SecretString::from(v.to_string())),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        )
    }

    #[test]
    fn templates_fill_from_credentials_and_withhold_the_fields_used() {
        let creds = custom(&[("key", "k1"), ("region", "eu")]);
        let placement = AuthPlacement::Header {
            name: "X-Api-Key".into(),
            value: "Key {key}".into(),
        };
        let (applied, withheld) = applied_credential(&placement, &creds).expect("applies");
        match applied {
            Applied::Header(name, value) => {
                assert_eq!(name.as_str(), "x-api-key");
                assert_eq!(value.expose_secret(), "Key k1");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(withheld, vec!["key".to_string()]);
        // A template naming a field the credential lacks applies nothing.
        let missing = AuthPlacement::Query {
            name: "key".into(),
            value: "{nope}".into(),
        };
        assert!(applied_credential(&missing, &creds).is_none());
    }

    #[test]
    fn debug_never_prints_the_applied_secret() {
        let creds = Credentials::SecretText(SecretString::from("sk-planted"));
        let (applied, _) = applied_credential(&AuthPlacement::Bearer, &creds).expect("bearer");
        let shown = format!("{applied:?} {creds:?}");
        assert!(!shown.contains("sk-planted"), "{shown}");
    }
}
