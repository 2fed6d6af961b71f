//! Google Sheets: OAuth2 with offline access (expiring access tokens refreshed by the
//! host), applied as a bearer token.

use thinkfleet_sdk::Oauth2Config;
use thinkfleet_sdk::prelude::*;

struct GoogleSheets;

fn checked(res: http::Response) -> Result<Value, PieceError> {
    // Google's 403 is a spreadsheet this account may not open, not a refused token: it
    // must not mark the connection in error.
    if res.status == 403 {
        return Err(PieceError::Upstream(
            "Google refused access to this spreadsheet (HTTP 403): share it with the connected account".into(),
        ));
    }
    res.checked("Google")?.json()
}

impl Piece for GoogleSheets {
    fn info() -> PieceInfo {
        let oauth2 = match AuthSchema::oauth2(
            "https://accounts.google.com/o/oauth2/v2/auth",
            "https://oauth2.googleapis.com/token",
            &[
                "https://www.googleapis.com/auth/spreadsheets",
                "https://www.googleapis.com/auth/userinfo.email",
            ],
        ) {
            AuthSchema::Oauth2(config) => config,
            _ => unreachable!("oauth2() builds an OAuth2 schema"),
        };
        let oauth2: Oauth2Config = oauth2
            .extra_param("access_type", "offline")
            .extra_param("prompt", "consent");
        PieceInfo::new(
            "google-sheets",
            "Google Sheets",
            "Read and append rows in Google Sheets.",
        )
        .version(env!("CARGO_PKG_VERSION"))
        .auth(AuthSchema::Oauth2(oauth2))
        .placement(AuthPlacement::Bearer)
        .credential_host("sheets.googleapis.com")
        .credential_host("www.googleapis.com")
        .website("https://www.google.com/sheets/about/")
        .action(
            Action::new("append_row", "Append row", "Appends one row to a sheet.")
                .prop(Prop::short_text("spreadsheet_id", "Spreadsheet ID").required())
                .prop(Prop::short_text("range", "Range").default_json("\"Sheet1\""))
                .prop(Prop::long_text("values", "Values (JSON array)").required()),
        )
    }

    fn validate(_creds: &Credentials) -> Result<(), PieceError> {
        let res = http::Request::get("https://www.googleapis.com/oauth2/v3/userinfo").send()?;
        checked(res).map(|_| ())
    }

    fn run_action(name: &str, input: Value, _creds: &Credentials) -> Result<Value, PieceError> {
        match name {
            "append_row" => {
                let id = input["spreadsheet_id"]
                    .as_str()
                    .ok_or_else(|| PieceError::InvalidInput("spreadsheet_id is required".into()))?;
                let range = input["range"].as_str().unwrap_or("Sheet1");
                let values = input["values"].as_array().ok_or_else(|| {
                    PieceError::InvalidInput("values must be a JSON array".into())
                })?;
                let url = format!(
                    "https://sheets.googleapis.com/v4/spreadsheets/{}/values/{}:append?valueInputOption=RAW",
                    http::encode(id),
                    http::encode(range)
                );
                let res = http::Request::post(&url)
                    .json(&json!({"values": [values]}))
                    .send()?;
                let reply = checked(res)?;
                Ok(json!({"updated_range": reply["updates"]["updatedRange"]}))
            }
            other => Err(PieceError::InvalidInput(format!("unknown action {other}"))),
        }
    }
}

export_piece!(GoogleSheets);
