//! The page the OAuth2 callback serves in the popup: it tells the window that opened it
//! how the authorization ended, then closes itself. Text is HTML-escaped.

/// How the authorization ended, for the opener.
pub enum Outcome<'a> {
    /// A connection was created or reconnected.
    Connected {
        /// Its id.
        id: &'a str,
        /// Its external id.
        external_id: &'a str,
    },
    /// Nothing was stored; why.
    Failed(&'a str),
}

/// The HTML page for an outcome. `origin` is where the opener may be (the public URL).
pub fn render(outcome: &Outcome<'_>, origin: &str) -> String {
    let (title, text, message) = match outcome {
        Outcome::Connected { id, external_id } => (
            "Connected",
            format!(
                "Connected ({}). You can close this window.",
                escape(external_id)
            ),
            serde_json::json!({"source": "thinkfleet-oauth", "ok": true,
                               "connection": {"id": id, "external_id": external_id}}),
        ),
        Outcome::Failed(why) => (
            "Not connected",
            format!("Not connected: {}", escape(why)),
            serde_json::json!({"source": "thinkfleet-oauth", "ok": false, "error": why}),
        ),
    };
    // JSON inside a script: `<` escaped so no value can close the script element.
    let message = message.to_string().replace('<', "\\u003c");
    let origin = serde_json::Value::String(origin.to_owned())
        .to_string()
        .replace('<', "\\u003c");
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body><p id=\"outcome\">{text}</p>\n<script>\n\
         if (window.opener) {{ window.opener.postMessage({message}, {origin}); window.close(); }}\n\
         </script></body></html>\n"
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_break_out() {
        let page = render(&Outcome::Failed("</script><b>x</b>"), "http://h");
        assert!(!page.contains("</script><b>"));
        assert!(page.contains("&lt;/script&gt;"));
        assert!(page.contains("\\u003c/script>"));
    }
}
