//! Binance: an API key plus a secret. The secret signs each request in the guest
//! (HMAC-SHA256 of the query string), so both are passed in rather than host-applied.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thinkfleet_sdk::prelude::*;

const API: &str = "https://api.binance.com";

struct Binance;

/// Sends a signed GET to `path` with `params`, as Binance's SIGNED endpoints require.
fn signed_get(
    creds: &Credentials,
    path: &str,
    params: &[(&str, String)],
) -> Result<http::Response, PieceError> {
    let key = creds.custom_str("api_key")?;
    let secret = creds.custom_str("api_secret")?;
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| PieceError::Other("clock before 1970".into()))?
        .as_millis();
    let mut query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", http::encode(v)))
        .collect();
    query.push(format!("timestamp={timestamp}"));
    let query = query.join("&");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| PieceError::InvalidCredentials("API secret is unusable".into()))?;
    mac.update(query.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    http::Request::get(&format!("{API}{path}?{query}&signature={signature}"))
        .header("X-MBX-APIKEY", key)
        .send()
}

fn checked(res: http::Response) -> Result<Value, PieceError> {
    // -1022: the signature does not match, i.e. the API secret is wrong.
    if res.status == 400 && res.text().contains("-1022") {
        return Err(PieceError::InvalidCredentials(
            "Invalid API key (Binance refused the request's signature)".into(),
        ));
    }
    // 403 (a WAF limit), 418 and 429 (rate limits) are Binance's, not the key's.
    if matches!(res.status, 403 | 418 | 429) {
        return Err(PieceError::Upstream(format!(
            "Binance is limiting requests (HTTP {}); retry later",
            res.status
        )));
    }
    res.checked("Binance")?.json()
}

impl Piece for Binance {
    fn info() -> PieceInfo {
        PieceInfo::new(
            "binance",
            "Binance",
            "Account balances from Binance, with signed requests.",
        )
        .version(env!("CARGO_PKG_VERSION"))
        .auth(AuthSchema::custom(vec![
            Prop::secret("api_key", "API key").required(),
            Prop::secret("api_secret", "API secret")
                .required()
                .description("Used to sign each request; never sent."),
        ]))
        .allow_host("api.binance.com")
        .website("https://www.binance.com")
        .action(
            Action::new("balances", "Balances", "Non-zero balances of the account.")
                .prop(Prop::short_text("asset", "Only this asset")),
        )
    }

    fn validate(creds: &Credentials) -> Result<(), PieceError> {
        checked(signed_get(creds, "/api/v3/account", &[])?).map(|_| ())
    }

    fn run_action(name: &str, input: Value, creds: &Credentials) -> Result<Value, PieceError> {
        match name {
            "balances" => {
                let account = checked(signed_get(creds, "/api/v3/account", &[])?)?;
                let only = input["asset"].as_str();
                let balances: Vec<Value> = account["balances"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|b| only.is_none_or(|a| b["asset"].as_str() == Some(a)))
                    .filter(|b| {
                        b["free"]
                            .as_str()
                            .is_some_and(|f| !f.trim_matches(['0', '.']).is_empty())
                    })
                    .cloned()
                    .collect();
                Ok(json!({"balances": balances}))
            }
            other => Err(PieceError::InvalidInput(format!("unknown action {other}"))),
        }
    }
}

export_piece!(Binance);
