//! The names a piece declares: its allowed hosts, the hosts that receive its credential
//! (`{field}` templates, filled per connection), its logo and its website.

use crate::piece::{AuthSchema, Credentials, Prop};
use crate::runtime::outbound::host_matches;
use base64::Engine as _;

/// The current contract, `thinkfleet:piece@0.2.0`.
pub const CONTRACT_0_2: &str = "0.2.0";
/// The first contract, still loaded.
pub const CONTRACT_0_1: &str = "0.1.0";

/// The largest logo a piece may declare, as declared.
const MAX_LOGO_BYTES: usize = 64 << 10;

/// Checks one allowlist entry: a host name, or `*.` followed by at least two labels.
pub fn allowed_host(entry: &str) -> Result<String, String> {
    let entry = entry.to_ascii_lowercase();
    let name = entry.strip_prefix("*.").unwrap_or(&entry);
    let wide_wildcard = entry.starts_with("*.") && !name.contains('.');
    if !host_name(name) || wide_wildcard {
        return Err(format!(
            "allowed host {entry:?} must be a host name or *.domain.tld"
        ));
    }
    Ok(entry)
}

/// Whether `name` is a DNS host name: dot-separated labels of letters, digits and `-`.
fn host_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// One piece of a credential host template.
#[derive(Debug, PartialEq)]
enum Part<'a> {
    Text(&'a str),
    Field(&'a str),
}

/// Splits `{subdomain}.zendesk.com` into its text and its placeholders.
fn parts(entry: &str) -> Result<Vec<Part<'_>>, String> {
    let bad = |why: &str| format!("credential host {entry:?}: {why}");
    let mut out = Vec::new();
    let mut rest = entry;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            Some(i) if rest.as_bytes()[i] == b'}' => return Err(bad("unmatched }")),
            Some(i) => {
                if i > 0 {
                    out.push(Part::Text(&rest[..i]));
                }
                let close = rest[i..].find('}').ok_or_else(|| bad("unmatched {"))? + i;
                let field = &rest[i + 1..close];
                if field.is_empty()
                    || !field
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(bad("a placeholder names one field, e.g. {subdomain}"));
                }
                out.push(Part::Field(field));
                rest = &rest[close + 1..];
            }
            None => {
                out.push(Part::Text(rest));
                rest = "";
            }
        }
    }
    Ok(out)
}

/// The connection fields a credential host may be filled from: those that are never
/// secret (a basic username, an OAuth2 prop or token prop, a custom non-secret prop).
pub fn plain_fields(auth: &AuthSchema) -> Vec<String> {
    match auth {
        AuthSchema::Basic { .. } => vec!["username".to_owned()],
        AuthSchema::Oauth2 {
            props, token_props, ..
        } => props
            .iter()
            .map(|p| p.name.clone())
            .chain(token_props.iter().cloned())
            .collect(),
        AuthSchema::Custom { props } => props
            .iter()
            .filter(|p| !p.secret)
            .map(|p| p.name.clone())
            .collect(),
        AuthSchema::None | AuthSchema::SecretText { .. } => Vec::new(),
    }
}

/// The most token response fields a piece may ask for.
const MAX_TOKEN_PROPS: usize = 32;

/// Checks the token response fields an OAuth2 piece asks for: plain names, none that
/// could be a credential (`token`, `secret` in the name), none that is already a prop.
pub fn token_props(names: &[String], props: &[Prop]) -> Result<(), String> {
    if names.len() > MAX_TOKEN_PROPS {
        return Err(format!(
            "{} token props declared; at most {MAX_TOKEN_PROPS}",
            names.len()
        ));
    }
    for (i, name) in names.iter().enumerate() {
        let lower = name.to_ascii_lowercase();
        let plain = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !plain || lower.contains("token") || lower.contains("secret") {
            return Err(format!(
                "token prop {name:?}: a plain field name (letters, digits, _ or -), \
                 never one holding `token` or `secret`"
            ));
        }
        if props.iter().any(|p| &p.name == name) || names[..i].contains(name) {
            return Err(format!("token prop {name:?} is declared twice"));
        }
    }
    Ok(())
}

/// Checks a piece's credential hosts against its placement, its allowed hosts and the
/// fields a placeholder may name; returns them with their text lower-cased. Required
/// with a placement, empty without; never a wildcard or a bare placeholder; each
/// within `allowed`, a placeholder standing for one label.
pub fn credential_hosts(
    declared: &[String],
    has_placement: bool,
    allowed: &[String],
    fields: &[String],
) -> Result<Vec<String>, String> {
    match (has_placement, declared.is_empty()) {
        (true, true) => {
            return Err(
                "a placement needs credential-hosts: name the hosts that receive \
                        the credential (e.g. api.example.com)"
                    .into(),
            );
        }
        (false, false) => {
            return Err(
                "credential-hosts apply only with a placement (the host applies the \
                        credential there); without one the piece holds the credential"
                    .into(),
            );
        }
        _ => {}
    }
    if declared.len() > super::MAX_HOSTS {
        return Err(format!(
            "{} credential hosts declared; at most {}",
            declared.len(),
            super::MAX_HOSTS
        ));
    }
    declared
        .iter()
        .map(|entry| {
            if entry.contains('*') {
                return Err(format!(
                    "credential host {entry:?}: no wildcards; name each host, or fill one \
                     label from a field ({{subdomain}}.example.com)"
                ));
            }
            let parts = parts(entry)?;
            if parts.iter().all(|p| matches!(p, Part::Field(_))) {
                return Err(format!(
                    "credential host {entry:?}: name its domain; a placeholder fills one \
                     label ({{subdomain}}.example.com)"
                ));
            }
            let mut normal = String::new();
            let mut sample = String::new();
            for part in &parts {
                match part {
                    Part::Text(t) => {
                        normal.push_str(&t.to_ascii_lowercase());
                        sample.push_str(&t.to_ascii_lowercase());
                    }
                    Part::Field(f) if fields.iter().any(|n| n == f) => {
                        normal.push_str(&format!("{{{f}}}"));
                        sample.push('x');
                    }
                    Part::Field(f) => {
                        return Err(format!(
                            "credential host {entry:?}: `{{{f}}}` is not a non-secret field \
                             of the connection (it may name: {})",
                            if fields.is_empty() {
                                "none".into()
                            } else {
                                fields.join(", ")
                            }
                        ));
                    }
                }
            }
            if !host_name(&sample) {
                return Err(format!("credential host {entry:?} is not a host name"));
            }
            if !allowed.iter().any(|a| host_matches(a, &sample)) {
                return Err(format!(
                    "credential host {entry:?} is not among the allowed hosts"
                ));
            }
            Ok(normal)
        })
        .collect()
}

/// The hosts that receive this connection's credential: each template filled from the
/// credential's non-secret fields, kept only when it is a host name within `allowed`. A
/// placeholder fills one label: a value that is a URL gives its host, and a name ending
/// in the template's own domain gives the label before it. A template that cannot be
/// filled is dropped: the credential goes nowhere rather than somewhere unchecked.
/// Names without placeholders (and contract 0.1.0's patterns) pass as declared.
pub fn fill_credential_hosts(
    templates: &[String],
    allowed: &[String],
    creds: &Credentials,
) -> Vec<String> {
    templates
        .iter()
        .filter_map(|template| {
            if !template.contains('{') {
                return Some(template.clone());
            }
            let filled = fill(template, creds);
            let fits = filled
                .as_deref()
                .is_some_and(|name| host_name(name) && allowed.iter().any(|a| host_matches(a, name)));
            if !fits {
                tracing::warn!(template = %template, "credential host left out: the connection's fields do not fill it with an allowed host name");
            }
            filled.filter(|_| fits)
        })
        .collect()
}

/// One template filled, each placeholder with one label; `None` when a field is missing
/// or its value is not one label (after a URL's host and the template's domain are
/// taken off).
fn fill(template: &str, creds: &Credentials) -> Option<String> {
    let parts = parts(template).ok()?;
    let mut name = String::new();
    for (i, part) in parts.iter().enumerate() {
        match part {
            Part::Text(t) => name.push_str(t),
            Part::Field(f) => {
                let value = creds.plain_field(f)?.trim().to_ascii_lowercase();
                let mut value = match url::Url::parse(&value) {
                    Ok(url) if value.contains("://") => url.host_str()?.to_owned(),
                    _ => value,
                };
                if let Some(Part::Text(domain)) = parts.get(i + 1)
                    && domain.starts_with('.')
                    && let Some(label) = value.strip_suffix(domain)
                {
                    value = label.to_owned();
                }
                if value.is_empty() || value.contains('.') {
                    return None;
                }
                name.push_str(&value);
            }
        }
    }
    Some(name)
}

/// Checks a logo and gives it as a `data:` URL an `<img>` shows (an image cannot run
/// script there).
pub fn logo(declared: &str) -> Result<String, String> {
    if declared.len() > MAX_LOGO_BYTES {
        return Err(format!(
            "the logo is {} bytes; at most {MAX_LOGO_BYTES}",
            declared.len()
        ));
    }
    let text = declared.trim();
    if text.starts_with("<svg") || text.starts_with("<?xml") {
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        return Ok(format!("data:image/svg+xml;base64,{encoded}"));
    }
    let data = ["png", "jpeg", "webp", "gif", "svg+xml"]
        .iter()
        .find_map(|kind| text.strip_prefix(&format!("data:image/{kind};base64,")));
    match data {
        Some(data)
            if base64::engine::general_purpose::STANDARD
                .decode(data)
                .is_ok() =>
        {
            Ok(text.to_owned())
        }
        _ => Err(
            "the logo must be an SVG document or a data:image/(png|jpeg|webp|gif|svg+xml);\
             base64 URL"
                .into(),
        ),
    }
}

/// Checks a website: an `https://` URL with a host.
pub fn website(declared: &str) -> Result<String, String> {
    https_url(declared.trim())
        .map(Into::into)
        .ok_or_else(|| format!("website {declared:?} must be an https:// URL"))
}

/// Checks an OAuth2 endpoint a piece declares (`which`: authorization or token): an
/// `https://` URL with a host. (An operator's outbound override may still send it to a
/// local mock.)
pub fn oauth2_endpoint(which: &str, declared: &str) -> Result<(), String> {
    https_url(declared)
        .map(drop)
        .ok_or_else(|| format!("the OAuth2 {which} URL {declared:?} must be an https:// URL"))
}

/// `declared` as a URL, when it is an `https://` URL with a host.
fn https_url(declared: &str) -> Option<url::Url> {
    url::Url::parse(declared)
        .ok()
        .filter(|url| url.scheme() == "https" && url.host_str().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::piece::CustomValue;
    use secrecy::SecretString;

    fn allowed() -> Vec<String> {
        vec![
            "api.example.com".into(),
            "*.zendesk.com".into(),
            "*.my.salesforce.com".into(),
        ]
    }

    fn fields() -> Vec<String> {
        vec!["subdomain".into(), "instance_url".into()]
    }

    #[test]
    fn credential_hosts_are_named_within_the_allowed_hosts() {
        let check = |hosts: &[&str]| {
            let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
            credential_hosts(&hosts, true, &allowed(), &fields())
        };
        assert_eq!(
            check(&[
                "API.example.com",
                "{subdomain}.Zendesk.com",
                "{instance_url}.my.salesforce.com"
            ]),
            Ok(vec![
                "api.example.com".to_string(),
                "{subdomain}.zendesk.com".to_string(),
                "{instance_url}.my.salesforce.com".to_string()
            ])
        );
        for (bad, why) in [
            (&[][..], "needs credential-hosts"),
            (&["*.zendesk.com"][..], "no wildcards"),
            (&["{instance_url}"][..], "name its domain"),
            (&["evil.example.net"][..], "not among the allowed hosts"),
            (&["{subdomain}.evil.net"][..], "not among the allowed hosts"),
            (&["api.example.com{"][..], "unmatched {"),
            (&["{a.b}.zendesk.com"][..], "one field"),
            (&["{password}.zendesk.com"][..], "not a non-secret field"),
            (&["a/b.zendesk.com"][..], "not a host name"),
        ] {
            let e = check(bad).expect_err("refused");
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let e = credential_hosts(&["api.example.com".into()], false, &allowed(), &fields())
            .expect_err("refused without a placement");
        assert!(e.contains("only with a placement"), "{e}");
    }

    #[test]
    fn token_props_are_plain_names_that_cannot_be_credentials() {
        assert_eq!(token_props(&["instance_url".into()], &[]), Ok(()));
        for bad in ["id_token", "client_secret", "a b", "", "Refresh_Token"] {
            assert!(token_props(&[bad.into()], &[]).is_err(), "{bad:?}");
        }
        assert!(token_props(&["x".into(), "x".into()], &[]).is_err());
    }

    #[test]
    fn templates_fill_one_label_from_plain_fields_and_stay_within_the_allowed_hosts() {
        let custom = |fields: &[(&str, CustomValue)]| {
            Credentials::Custom(
                fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            )
        };
        let templates: Vec<String> = vec![
            "api.example.com".into(),
            "{subdomain}.zendesk.com".into(),
            "{instance_url}.my.salesforce.com".into(),
        ];
        let creds = custom(&[
            ("subdomain", CustomValue::Text("Acme".into())),
            (
                "instance_url",
                CustomValue::Text("https://NA1.my.salesforce.com/".into()),
            ),
        ]);
        assert_eq!(
            fill_credential_hosts(&templates, &allowed(), &creds),
            vec![
                "api.example.com",
                "acme.zendesk.com",
                "na1.my.salesforce.com"
            ]
        );
        // A value that would lead elsewhere, or a secret field, fills nothing.
        for subdomain in [
            "evil.com#",
            "x.evil.com/",
            "a b",
            "",
            "a.b",
            "https://evil.example.net",
            "https://x.zendesk.com.evil.net",
        ] {
            let creds = custom(&[("subdomain", CustomValue::Text(subdomain.into()))]);
            assert_eq!(
                fill_credential_hosts(&templates[1..2], &allowed(), &creds),
                Vec::<String>::new(),
                "{subdomain:?}"
            );
        }
        let creds = custom(&[
            (
                "instance_url",
                CustomValue::Text("https://a.b.my.salesforce.com".into()),
            ),
            ("subdomain", CustomValue::Secret(SecretString::from("acme"))),
        ]);
        assert_eq!(
            fill_credential_hosts(&templates[1..], &allowed(), &creds),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_logo_is_an_image_url_and_a_website_is_https() {
        let svg = logo("<svg xmlns='http://www.w3.org/2000/svg'/>").expect("svg");
        assert!(svg.starts_with("data:image/svg+xml;base64,"), "{svg}");
        assert!(logo("data:image/png;base64,iVBORw0KGgo=").is_ok());
        for bad in [
            "javascript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            "https://evil.example/logo.png",
            "data:image/png;base64,***",
        ] {
            assert!(logo(bad).is_err(), "{bad}");
        }
        assert!(logo(&format!("<svg>{}</svg>", "x".repeat(70 << 10))).is_err());
        assert_eq!(
            website("https://openai.com").as_deref(),
            Ok("https://openai.com/")
        );
        assert!(website("http://openai.com").is_err());
        assert!(website("javascript:alert(1)").is_err());
    }

    #[test]
    fn oauth2_endpoints_are_https_urls() {
        assert!(oauth2_endpoint("token", "https://slack.com/api/oauth.v2.access").is_ok());
        for bad in [
            "http://slack.com/oauth",
            "slack.com/oauth",
            "https://",
            "",
            "file:///etc/passwd",
        ] {
            let err = oauth2_endpoint("token", bad).expect_err(bad);
            assert!(err.contains("token URL"), "{err}");
        }
    }

    #[test]
    fn allowlist_entries_are_checked() {
        assert_eq!(
            allowed_host("API.OpenAI.com"),
            Ok("api.openai.com".to_string())
        );
        assert_eq!(
            allowed_host("*.googleapis.com"),
            Ok("*.googleapis.com".to_string())
        );
        assert_eq!(allowed_host("localhost"), Ok("localhost".to_string()));
        for bad in [
            "",
            "*.",
            "*",
            "*.com",
            "a..b",
            "evil.com/path",
            "host:443",
            "user@host",
            "-x.com.",
        ] {
            assert!(allowed_host(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
