//! What the provider says on the wire: JSON and OAuth error answers, redirects, the
//! strict form codec, and random tokens.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use url::form_urlencoded;

pub(super) fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(body),
    )
        .into_response()
}

pub(super) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        json!({"error": error, "error_description": description}),
    )
}

pub(super) fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

pub(super) fn invalid_client(basic: bool, description: &str) -> Response {
    let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    if basic {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"oauth\""),
        );
    }
    response
}

pub(super) fn text(status: StatusCode, message: &str) -> Response {
    (status, message.to_string()).into_response()
}

/// 302 to `uri` with `params` appended to its query.
pub(super) fn redirect(uri: &str, params: &[(&str, &str)]) -> Response {
    let query = encode_form(params);
    let separator = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{separator}{query}");
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// `application/x-www-form-urlencoded` serialization of pairs.
pub(super) fn encode_form(params: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// Decodes one form-urlencoded component on its own (`+` is a space), as the id and
/// secret of HTTP Basic client authentication are (RFC 6749 2.3.1): a raw `&` or `=`
/// in it is data, which [`parse_form`] would take for a separator, so it is escaped
/// first.
pub(super) fn form_decode(s: &str) -> Result<String, String> {
    let component = s.replace('&', "%26").replace('=', "%3D");
    Ok(parse_form(&component)?
        .into_keys()
        .next()
        .unwrap_or_default())
}

/// Parses a query string or form body (`+` is a space, `%XX` a byte); a repeated
/// parameter is an error (RFC 6749 3.1). `form_urlencoded` is lenient where a strict
/// provider is not: it keeps a `%` that starts no escape as it is and turns bytes that
/// are not UTF-8 into U+FFFD, so both are refused here.
pub(super) fn parse_form(s: &str) -> Result<HashMap<String, String>, String> {
    if !escapes_are_well_formed(s) {
        return Err(format!("malformed percent-escape in {s:?}"));
    }
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(s.as_bytes()) {
        if k.contains(char::REPLACEMENT_CHARACTER) {
            return Err(format!("malformed parameter {k:?}"));
        }
        if v.contains(char::REPLACEMENT_CHARACTER) {
            return Err(format!("malformed value of {k}"));
        }
        match out.entry(k.into_owned()) {
            Entry::Occupied(taken) => return Err(format!("parameter {} repeated", taken.key())),
            Entry::Vacant(free) => {
                free.insert(v.into_owned());
            }
        }
    }
    Ok(out)
}

/// Whether every `%` in `s` starts a `%XX` escape.
pub(super) fn escapes_are_well_formed(s: &str) -> bool {
    s.split('%').skip(1).all(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

/// `prefix` followed by 16 random bytes in hex.
pub(super) fn random_token(prefix: &str) -> String {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("random bytes from /dev/urandom");
    format!("{prefix}{}", hex::encode(bytes))
}
