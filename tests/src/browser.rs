//! A real browser for the web UI tests: Debian's headless Chromium driven over
//! WebDriver (`chromedriver` on a loopback port, the `fantoccini` client). `.ci/run`
//! installs both; nothing is downloaded by the tests.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// The flags the browser runs with.
const CHROMIUM_ARGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
    "--disable-dev-shm-usage",
];

/// A headless Chromium session; the driver and the browsers it started end with it,
/// even when a test panics (they share a process group, killed on drop).
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            // The driver leads its own process group; Chromium and its helpers are in it.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Browser {
    /// Starts `chromedriver` and opens a Chromium session at 1280×800.
    pub async fn start() -> Browser {
        let port = crate::home::free_port();
        let driver = Command::new(which("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .expect("start chromedriver (apt-get install chromium chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": which("chromium"), "args": CHROMIUM_ARGS}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    // A 1280×800 viewport: the window is that plus the browser's own
                    // chrome, whatever its height.
                    let chrome = client
                        .execute("return window.outerHeight - window.innerHeight;", vec![])
                        .await
                        .ok()
                        .and_then(|v| v.as_u64())
                        .and_then(|v| u32::try_from(v).ok())
                        .unwrap_or(0);
                    let _ = client.set_window_size(1280, 800 + chrome).await;
                    return Browser { client, driver };
                }
                Err(e) => last = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no WebDriver session: {last:?}");
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("goto");
    }

    /// The element matching CSS `selector`, waiting for it to appear.
    pub async fn find(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"))
    }

    /// How many elements match CSS `selector` now.
    pub async fn count(&self, selector: &str) -> usize {
        self.client
            .find_all(Locator::Css(selector))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    /// Types `text` into the input matching `selector`, replacing what it held.
    pub async fn fill(&self, selector: &str, text: &str) {
        let input = self.find(selector).await;
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("type");
    }

    /// The current value of the form control matching `selector`.
    pub async fn value(&self, selector: &str) -> String {
        self.find(selector)
            .await
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    /// The `name` attribute of the element matching `selector`, if it has one.
    pub async fn attr(&self, selector: &str, name: &str) -> Option<String> {
        self.find(selector).await.attr(name).await.expect("attr")
    }

    /// The tag name of the element matching `selector`.
    pub async fn tag(&self, selector: &str) -> String {
        self.find(selector).await.tag_name().await.expect("tag")
    }

    /// Chooses the option with `value` in the dropdown matching `selector` (which
    /// fires its `change` event, as a person's choice does).
    pub async fn select(&self, selector: &str, value: &str) {
        self.find(selector)
            .await
            .select_by_value(value)
            .await
            .expect("select");
    }

    /// Clicks the element matching `selector`.
    pub async fn click(&self, selector: &str) {
        self.find(selector).await.click().await.expect("click");
    }

    /// The text of the element matching `selector` (found again if the page was
    /// replaced between finding it and reading it).
    pub async fn text(&self, selector: &str) -> String {
        let mut last = None;
        for _ in 0..50 {
            match self.find(selector).await.text().await {
                Ok(text) => return text,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no text for {selector}: {last:?}");
    }

    /// The page's path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The current page's HTML.
    pub async fn html(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// Waits until the page's path starts with `prefix`.
    pub async fn wait_for_path(&self, prefix: &str) {
        for _ in 0..100 {
            if self.path().await.starts_with(prefix) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("still at {} instead of {prefix}", self.path().await);
    }

    /// Saves a PNG of the window to `docs/screenshots/NAME.png` in the repository.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("root")
            .join("docs/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshots dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

fn which(program: &str) -> String {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(program))
                .find(|p| p.is_file())
        })
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| {
            panic!("{program} is not installed (apt-get install chromium chromium-driver)")
        })
}
