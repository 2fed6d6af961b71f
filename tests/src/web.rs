//! A scripted visitor of the web pages over plain HTTP (a cookie jar, no redirects
//! followed, no JavaScript): for what the browser tests cannot show as directly — the
//! exact status of a forged form, the cookie's attributes, the headers of every page.

use reqwest::header::HeaderMap;

/// One page answer.
pub struct Page {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: String,
}

impl Page {
    /// Where a redirect points ("" when none).
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The CSRF token of the page's forms.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').expect("end of token") + start;
        self.body[start..end].to_owned()
    }
}

/// A visitor with its own cookies.
pub struct Visitor {
    base: String,
    http: reqwest::Client,
    /// Every page body this visitor received (for leak scans).
    pub seen: std::sync::Mutex<Vec<String>>,
}

/// The pages a visitor received are kept for the suite's leak scan.
impl Drop for Visitor {
    fn drop(&mut self) {
        if let Ok(seen) = self.seen.lock() {
            crate::leak::keep("pages", seen.join("\n").as_bytes());
        }
    }
}

impl Visitor {
    /// A visitor of the server at `base`.
    pub fn new(base: &str) -> Visitor {
        Visitor {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            seen: Default::default(),
        }
    }

    async fn finish(&self, request: reqwest::RequestBuilder) -> Page {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.expect("body");
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(body.clone());
        }
        Page {
            status,
            headers,
            body,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Page {
        self.finish(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// `POST path` with a form.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        for (name, value) in form {
            if crate::leak::secret_field(name) {
                crate::leak::plant(value);
            }
        }
        self.finish(self.http.post(format!("{}{path}", self.base)).form(form))
            .await
    }

    /// Logs in; panics unless the server answers with the Connections page.
    pub async fn login(&self, email: &str, password: &str) -> Page {
        let page = self
            .post("/login", &[("email", email), ("password", password)])
            .await;
        assert_eq!(
            (page.status, page.location()),
            (303, "/connections"),
            "{}",
            page.body
        );
        page
    }
}
