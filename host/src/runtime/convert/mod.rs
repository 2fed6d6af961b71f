//! Conversions between the WIT bindings of both contract versions and the host's own
//! types, the checks every piece's metadata passes, and the one place that decides
//! which credential fields the guest sees redacted.
//!
//! `wit.rs` holds the conversions written once for both generated modules; this file
//! the checks of what a piece declared; `hosts.rs` the checks of its host names, logo,
//! website and OAuth2 endpoints.

mod hosts;
mod wit;

pub use hosts::{CONTRACT_0_1, CONTRACT_0_2, fill_credential_hosts};
pub use wit::{v0_1, v0_2};

use crate::piece::{Action, AuthPlacement, AuthSchema, PieceInfo};

/// What a piece declared, whichever contract it was built against.
struct Declared {
    name: String,
    display_name: String,
    version: String,
    description: String,
    contract: &'static str,
    logo: Option<String>,
    website: Option<String>,
    auth: AuthSchema,
    placement: Option<AuthPlacement>,
    /// `None` under contract 0.1.0, which cannot name them.
    credential_hosts: Option<Vec<String>>,
    allowed_hosts: Vec<String>,
    actions: Vec<Action>,
}

/// Checks what a piece declared and turns it into its [`PieceInfo`].
fn checked(d: Declared) -> Result<PieceInfo, String> {
    if d.name.is_empty()
        || !d
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(format!(
            "piece name {:?} must be lower-case letters, digits, - or _",
            d.name
        ));
    }
    if let AuthSchema::Oauth2 {
        auth_url,
        token_url,
        props,
        token_props,
        ..
    } = &d.auth
    {
        // Checked here, so a piece with an unusable endpoint is refused when it is
        // installed, not when a user first clicks Connect.
        hosts::oauth2_endpoint("authorization", auth_url)?;
        hosts::oauth2_endpoint("token", token_url)?;
        if let Some(p) = props.iter().find(|p| p.secret) {
            // An OAuth2 connection's secret is its token; its props travel to the piece
            // as plain text, so a secret prop would be exposed. Refuse the schema.
            return Err(format!(
                "OAuth2 prop `{}` is marked secret; OAuth2 props are plain settings \
                 (use a custom schema for extra secrets)",
                p.name
            ));
        }
        hosts::token_props(token_props, props)?;
    }
    let allowed_hosts: Vec<String> = d
        .allowed_hosts
        .iter()
        .map(|h| hosts::allowed_host(h))
        .collect::<Result<_, String>>()?;
    let takes_credential = !matches!(d.auth, AuthSchema::None);
    let credential_hosts = match d.credential_hosts {
        // 0.1.0: the credential may go to every declared host.
        None if takes_credential => allowed_hosts.clone(),
        None => Vec::new(),
        Some(declared) => {
            let fields = hosts::plain_fields(&d.auth);
            let declared =
                hosts::credential_hosts(&declared, d.placement.is_some(), &allowed_hosts, &fields)?;
            match (&d.placement, takes_credential) {
                (Some(_), true) => declared,
                // The piece holds the credential: it may send it to any declared host.
                (None, true) => allowed_hosts.clone(),
                (_, false) => Vec::new(),
            }
        }
    };
    let info = PieceInfo {
        name: d.name,
        display_name: d.display_name,
        version: d.version,
        description: d.description,
        contract: d.contract.to_owned(),
        logo: d.logo.map(|l| hosts::logo(&l)).transpose()?,
        website: d.website.map(|w| hosts::website(&w)).transpose()?,
        auth: d.auth,
        placement: d.placement,
        allowed_hosts,
        credential_hosts,
        actions: d.actions,
        sessions: false,
    };
    check_size(&info)?;
    Ok(info)
}

/// The most actions a piece may declare.
pub const MAX_ACTIONS: usize = 200;
/// The most allowed hosts a piece may declare.
pub const MAX_HOSTS: usize = 50;
/// The largest piece metadata, as the API's JSON.
pub const MAX_INFO_BYTES: usize = 256 << 10;

/// Refuses metadata no form or listing should carry: too many actions or hosts, or
/// more than [`MAX_INFO_BYTES`] of it (a piece could otherwise make `GET /pieces`
/// answer megabytes).
fn check_size(info: &PieceInfo) -> Result<(), String> {
    if info.actions.len() > MAX_ACTIONS {
        return Err(format!(
            "{} actions declared; at most {MAX_ACTIONS}",
            info.actions.len()
        ));
    }
    if info.allowed_hosts.len() > MAX_HOSTS {
        return Err(format!(
            "{} allowed hosts declared; at most {MAX_HOSTS}",
            info.allowed_hosts.len()
        ));
    }
    let bytes = serde_json::to_vec(info).map_or(usize::MAX, |j| j.len());
    if bytes > MAX_INFO_BYTES {
        return Err(format!(
            "the metadata is {bytes} bytes; at most {MAX_INFO_BYTES}"
        ));
    }
    Ok(())
}

/// Cuts `s` to at most `cap` bytes on a character boundary, marking the cut.
pub fn truncate(mut s: String, cap: usize) -> String {
    if s.len() > cap {
        let mut end = cap;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn absurd_metadata_is_refused() {
        let action = |n: usize, description: String| crate::piece::Action {
            name: format!("a{n}"),
            display_name: format!("A{n}"),
            description,
            props: Vec::new(),
        };
        let mut info = crate::piece::PieceInfo {
            name: "p".into(),
            actions: (0..10).map(|n| action(n, "does".into())).collect(),
            ..Default::default()
        };
        assert!(super::check_size(&info).is_ok());
        info.actions = (0..201).map(|n| action(n, "does".into())).collect();
        assert!(
            super::check_size(&info)
                .expect_err("refused")
                .contains("201 actions")
        );
        info.actions = vec![action(0, "x".repeat(300 << 10))];
        assert!(
            super::check_size(&info)
                .expect_err("refused")
                .contains("bytes")
        );
    }
}
