//! The browser session of a page request: the cookies (HttpOnly, SameSite=Lax, `Secure`
//! and the `__Host-` prefix when the public URL is https) — the session's, and the one
//! that binds an OAuth2 authorization to the browser that started it — the [`Viewer`]
//! extractor that sends a visitor without a live session to the login page, and the
//! CSRF check every state-changing form goes through.

use super::WebError;
use crate::accounts::{Session, csrf_matches};
use crate::api::AppState;
use crate::store::accounts::MembershipRow;
use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, HeaderValue, SET_COOKIE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::{ExposeSecret as _, SecretString};

/// The session cookie's name over plain http (a `__Host-` cookie needs `Secure`).
const PLAIN_NAME: &str = "tf_session";
/// The session cookie's name when the public URL is https.
const SECURE_NAME: &str = "__Host-tf_session";
/// The cookie that binds an OAuth2 authorization to the browser that started it.
const OAUTH_PLAIN_NAME: &str = "tf_oauth";
/// Its name over https.
const OAUTH_SECURE_NAME: &str = "__Host-tf_oauth";
/// How long the OAuth2 cookie lives (an authorization's state lives 10 minutes).
const OAUTH_COOKIE_SECONDS: i64 = 10 * 60;

/// How the session cookie is written, from the public URL.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    /// Whether browsers reach the server over https.
    pub secure: bool,
}

impl CookiePolicy {
    /// The policy for a server browsers reach at `public_url`.
    pub fn for_url(public_url: &str) -> Self {
        CookiePolicy {
            secure: public_url.starts_with("https://"),
        }
    }

    /// The session cookie's name.
    pub fn name(self) -> &'static str {
        if self.secure { SECURE_NAME } else { PLAIN_NAME }
    }

    fn oauth_name(self) -> &'static str {
        if self.secure {
            OAUTH_SECURE_NAME
        } else {
            OAUTH_PLAIN_NAME
        }
    }

    /// `Set-Cookie` for a new session id.
    pub fn set(self, id: &SecretString) -> HeaderValue {
        self.header(self.name(), id.expose_secret(), None)
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn clear(self) -> HeaderValue {
        self.header(self.name(), "", Some(0))
    }

    /// `Set-Cookie` for the nonce of an OAuth2 authorization this browser starts.
    pub fn set_oauth(self, nonce: &SecretString) -> HeaderValue {
        self.header(
            self.oauth_name(),
            nonce.expose_secret(),
            Some(OAUTH_COOKIE_SECONDS),
        )
    }

    /// `Set-Cookie` that removes the OAuth2 cookie.
    pub fn clear_oauth(self) -> HeaderValue {
        self.header(self.oauth_name(), "", Some(0))
    }

    fn header(self, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
        let mut cookie = cookie::Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .same_site(cookie::SameSite::Lax)
            .secure(self.secure);
        if let Some(age) = max_age {
            cookie = cookie.max_age(cookie::time::Duration::seconds(age));
        }
        HeaderValue::from_str(&cookie.build().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The session id a request carries, if any.
    pub fn read(self, parts: &Parts) -> Option<String> {
        read_cookie(parts, self.name())
    }

    /// The OAuth2 nonce a request carries, if any.
    pub fn read_oauth(self, parts: &Parts) -> Option<String> {
        read_cookie(parts, self.oauth_name())
    }
}

fn read_cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The signed-in user of a page request, with the project the session looks at and
/// the user's projects (read once per request, for the check and the picker).
/// Extracting it redirects to `/login` when there is no live session.
#[derive(Debug, Clone)]
pub struct Viewer(pub Session, pub Vec<MembershipRow>);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let web = &state.web;
        let Some(cookie) = web.cookies.read(parts) else {
            return Err(Redirect::to("/login").into_response());
        };
        match web.accounts.session(&cookie).await {
            Ok(Some(mut session)) => match web.accounts.settle_project(&mut session).await {
                Ok(projects) if projects.is_empty() => Err(WebError::NoProject.into_response()),
                Ok(projects) => Ok(Viewer(session, projects)),
                Err(e) => Err(WebError::from(e).into_response()),
            },
            Ok(None) => {
                Err(([(SET_COOKIE, web.cookies.clear())], Redirect::to("/login")).into_response())
            }
            Err(e) => Err(WebError::internal(&e).into_response()),
        }
    }
}

impl Viewer {
    /// Refuses (403, nothing changed) a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), WebError> {
        if csrf_matches(&self.0, submitted) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }

    /// The project the session looks at.
    pub fn project(&self) -> &str {
        &self.0.project_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_cookies_are_secure_and_host_prefixed() {
        let id = SecretString::from("ab".repeat(32));
        let plain = CookiePolicy::for_url("http://127.0.0.1:8080").set(&id);
        let plain = plain.to_str().expect("ascii");
        assert!(plain.starts_with("tf_session="));
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Lax"));
        assert!(!plain.contains("Secure"));
        let secure = CookiePolicy::for_url("https://connections.example").set(&id);
        let secure = secure.to_str().expect("ascii");
        assert!(secure.starts_with("__Host-tf_session="), "{secure}");
        assert!(secure.contains("Secure") && secure.contains("Path=/"));
        assert!(!secure.contains("Domain"));
        let oauth = CookiePolicy::for_url("https://connections.example")
            .set_oauth(&SecretString::from("n"));
        assert!(
            oauth
                .to_str()
                .expect("ascii")
                .starts_with("__Host-tf_oauth=")
        );
    }
}
