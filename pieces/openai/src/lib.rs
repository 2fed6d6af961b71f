//! OpenAI: a secret-text API key that the host applies as a bearer token, so the piece
//! never sees it.

use thinkfleet_sdk::prelude::*;

const API: &str = "https://api.openai.com/v1";
/// How errors name the service.
const SERVICE: &str = "OpenAI";

struct OpenAi;

impl Piece for OpenAi {
    fn info() -> PieceInfo {
        PieceInfo::new(
            "openai",
            "OpenAI",
            "Chat completions and models from OpenAI.",
        )
        .version(env!("CARGO_PKG_VERSION"))
        .auth(AuthSchema::secret_text(
            "API key",
            "Create one at platform.openai.com under API keys.",
        ))
        .placement(AuthPlacement::Bearer)
        .credential_host("api.openai.com")
        .website("https://platform.openai.com")
        .action(
            Action::new(
                "ask_chatgpt",
                "Ask ChatGPT",
                "Sends a prompt and returns the reply.",
            )
            .prop(Prop::long_text("prompt", "Prompt").required())
            .prop(Prop::short_text("model", "Model").default_json("\"gpt-4o-mini\"")),
        )
        .action(Action::new(
            "list_models",
            "List models",
            "Models the key can use.",
        ))
    }

    fn validate(_creds: &Credentials) -> Result<(), PieceError> {
        http::Request::get(&format!("{API}/models"))
            .send()?
            .checked(SERVICE)?;
        Ok(())
    }

    fn run_action(name: &str, input: Value, _creds: &Credentials) -> Result<Value, PieceError> {
        match name {
            "ask_chatgpt" => {
                let prompt = input["prompt"]
                    .as_str()
                    .ok_or_else(|| PieceError::InvalidInput("prompt is required".into()))?;
                let model = input["model"].as_str().unwrap_or("gpt-4o-mini");
                let body =
                    json!({"model": model, "messages": [{"role": "user", "content": prompt}]});
                let res = http::Request::post(&format!("{API}/chat/completions"))
                    .json(&body)
                    .send()?;
                let reply = res.checked(SERVICE)?.json()?;
                let text = reply["choices"][0]["message"]["content"].clone();
                Ok(json!({"reply": text, "model": reply["model"]}))
            }
            "list_models" => {
                let res = http::Request::get(&format!("{API}/models")).send()?;
                let list = res.checked(SERVICE)?.json()?;
                let ids: Vec<Value> = list["data"]
                    .as_array()
                    .map(|models| models.iter().map(|m| m["id"].clone()).collect())
                    .unwrap_or_default();
                Ok(json!({"models": ids}))
            }
            other => Err(PieceError::InvalidInput(format!("unknown action {other}"))),
        }
    }
}

export_piece!(OpenAi);
