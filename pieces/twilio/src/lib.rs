//! Twilio: Account SID + Auth Token as basic auth, applied by the host.

use thinkfleet_sdk::BasicCredentials;
use thinkfleet_sdk::prelude::*;

const API: &str = "https://api.twilio.com/2010-04-01";
/// How errors name the service.
const SERVICE: &str = "Twilio";

struct Twilio;

fn account_sid(creds: &Credentials) -> Result<&str, PieceError> {
    match creds {
        Credentials::Basic(BasicCredentials { username, .. }) if !username.is_empty() => {
            Ok(username)
        }
        _ => Err(PieceError::InvalidCredentials(
            "Account SID is required".into(),
        )),
    }
}

impl Piece for Twilio {
    fn info() -> PieceInfo {
        PieceInfo::new("twilio", "Twilio", "Send SMS with Twilio.")
            .version(env!("CARGO_PKG_VERSION"))
            .auth(AuthSchema::basic("Account SID", "Auth Token"))
            .placement(AuthPlacement::Basic)
            .credential_host("api.twilio.com")
            .website("https://www.twilio.com")
            .action(
                Action::new("send_sms", "Send SMS", "Sends a text message.")
                    .prop(Prop::short_text("from", "From number").required())
                    .prop(Prop::short_text("to", "To number").required())
                    .prop(Prop::long_text("body", "Message").required()),
            )
    }

    fn validate(creds: &Credentials) -> Result<(), PieceError> {
        let sid = account_sid(creds)?;
        let res =
            http::Request::get(&format!("{API}/Accounts/{}.json", http::encode(sid))).send()?;
        // 404: Twilio knows no account of that SID.
        if res.status == 404 {
            return Err(PieceError::InvalidCredentials(
                "Invalid API key (Twilio knows no such account SID)".into(),
            ));
        }
        res.checked(SERVICE)?;
        Ok(())
    }

    fn run_action(name: &str, input: Value, creds: &Credentials) -> Result<Value, PieceError> {
        match name {
            "send_sms" => {
                let sid = account_sid(creds)?;
                let field = |k: &str| {
                    input[k]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| PieceError::InvalidInput(format!("{k} is required")))
                };
                let (from, to, body) = (field("from")?, field("to")?, field("body")?);
                let url = format!("{API}/Accounts/{}/Messages.json", http::encode(sid));
                let res = http::Request::post(&url)
                    .form(&[("From", &from), ("To", &to), ("Body", &body)])
                    .send()?;
                let msg = res.checked(SERVICE)?.json()?;
                Ok(json!({"sid": msg["sid"], "status": msg["status"]}))
            }
            other => Err(PieceError::InvalidInput(format!("unknown action {other}"))),
        }
    }
}

export_piece!(Twilio);
