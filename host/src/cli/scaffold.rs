//! `thinkfleet piece new`: a piece crate that builds anywhere with `cargo build
//! --release` — its own workspace, `.cargo/config.toml` choosing `wasm32-wasip2`, a
//! toolchain file naming the target, the small-binary release profile — with a working
//! `validate` and action for the chosen auth kind, a native unit test of its logic and a
//! README that walks through build, inspect, validate against a local mock, and ship.

use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The kind of credential the new piece takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthKind {
    /// No credential.
    None,
    /// One secret string (an API key), applied by the host as a bearer token.
    SecretText,
    /// Username and password, applied by the host as HTTP Basic.
    Basic,
    /// OAuth2 authorization code with PKCE; the host applies the access token.
    Oauth2,
    /// Fields of your own: a subdomain and an API key sent to `{subdomain}.example.com`.
    Custom,
}

/// `thinkfleet piece new` flags.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The piece's name: lower-case letters, digits and `-` (e.g. `acme-crm`).
    name: String,
    /// The kind of credential it takes.
    #[arg(long, value_enum, default_value_t = AuthKind::SecretText)]
    auth: AuthKind,
    /// Where to create it (default: ./NAME); must not exist or be empty.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The `thinkfleet-sdk` crate to depend on (default: this build's own `sdk/`).
    #[arg(long, value_name = "PATH")]
    sdk: Option<PathBuf>,
}

/// Creates the crate.
pub fn run(args: NewArgs) -> Result<ExitCode, String> {
    let name = &args.name;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(format!(
            "piece name {name:?}: lower-case letters, digits and -, starting with a letter"
        ));
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(format!("{} exists and is not empty", dir.display()));
    }
    let sdk = match args.sdk {
        Some(path) => path,
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk")),
    };
    let sdk = sdk.canonicalize().map_err(|e| {
        format!(
            "the SDK at {}: {e} (give its path with --sdk)",
            sdk.display()
        )
    })?;
    for (file, text) in files(name, args.auth, &sdk) {
        write(&dir.join(file), &text)?;
    }
    out!("created {} ({})", dir.display(), auth_words(args.auth));
    out!("next: cd {} && cargo build --release", dir.display());
    out!("then: see its README.md to inspect, validate and ship it");
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn auth_words(auth: AuthKind) -> &'static str {
    match auth {
        AuthKind::None => "no credential",
        AuthKind::SecretText => "an API key the host applies as a bearer token",
        AuthKind::Basic => "username and password the host applies as HTTP Basic",
        AuthKind::Oauth2 => "OAuth2; the host applies the access token",
        AuthKind::Custom => "a subdomain and an API key the host sends to {subdomain}.example.com",
    }
}

/// The crate's files: path and content.
fn files(name: &str, auth: AuthKind, sdk: &Path) -> Vec<(&'static str, String)> {
    let crate_name = name.replace('-', "_");
    let sdk = sdk.display().to_string().replace('\\', "/");
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{sdk}}", &sdk)
            .replace("{{auth}}", auth_words(auth))
            .replace("{{auth_example}}", auth_example(auth))
    };
    vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        (".cargo/config.toml", CARGO_CONFIG.to_owned()),
        ("rust-toolchain.toml", TOOLCHAIN.to_owned()),
        (".gitignore", "/target\n".to_owned()),
        ("src/lib.rs", fill(&lib_rs(auth))),
        ("README.md", fill(README)),
    ]
}

const CARGO_TOML: &str = r#"[package]
name = "{{name}}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
thinkfleet-sdk = { path = "{{sdk}}" }

# A piece is one small component: about 300 KB with this profile, several MB without.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = "debuginfo"

# Its own workspace: it builds wherever it is, inside another project's tree too.
[workspace]
"#;

const CARGO_CONFIG: &str = r#"# A piece is a wasm32-wasip2 component: plain `cargo build` builds that. A native build
# links too (the SDK leaves the component's exports out of it): that is how the unit
# tests run, see README.md.
[build]
target = "wasm32-wasip2"
"#;

const TOOLCHAIN: &str = r#"# `rustup target add wasm32-wasip2` if your installed stable toolchain lacks the target
# (rustup adds a toolchain file's targets only when it installs the toolchain).
[toolchain]
channel = "stable"
targets = ["wasm32-wasip2"]
"#;

/// The `info()` lines of each auth kind, and how `validate` calls the service.
fn lib_rs(auth: AuthKind) -> String {
    let (schema, validate_note) = match auth {
        AuthKind::None => (
            "",
            "No credential: `validate` only checks the service answers.",
        ),
        AuthKind::SecretText => (
            r#"
            .auth(AuthSchema::secret_text("API key", "Your Example API key."))
            // The host puts `Authorization: Bearer <key>` on requests to this host and
            // no other; the piece only ever sees `Secret::Redacted`.
            .placement(AuthPlacement::Bearer)
            .credential_host("api.example.com")"#,
            "The host adds the key; the piece never holds it.",
        ),
        AuthKind::Basic => (
            r#"
            .auth(AuthSchema::basic("Account", "Password"))
            .placement(AuthPlacement::Basic)
            .credential_host("api.example.com")"#,
            "The host adds `Authorization: Basic …`.",
        ),
        AuthKind::Oauth2 => (
            r#"
            .auth(AuthSchema::oauth2(
                "https://example.com/oauth/authorize",
                "https://example.com/oauth/token",
                &["read"],
            ))
            .placement(AuthPlacement::Bearer)
            .credential_host("api.example.com")"#,
            "The host adds the access token and refreshes it before it expires.",
        ),
        AuthKind::Custom => (
            r#"
            .auth(AuthSchema::custom(vec![
                Prop::short_text("subdomain", "Subdomain")
                    .required()
                    .description("acme, for acme.example.com"),
                Prop::secret("api_key", "API key").required(),
            ]))
            // `X-Api-Key: <api_key>`, only on the connection's own host.
            .placement(AuthPlacement::header("X-Api-Key", "{api_key}"))
            .allow_host("*.example.com")
            .credential_host("{subdomain}.example.com")"#,
            "The host adds `X-Api-Key` on the connection's own host only.",
        ),
    };
    let base_url = match auth {
        AuthKind::Custom => {
            r#"/// The connection's own host, from its `subdomain`.
fn base_url(creds: &Credentials) -> Result<String, PieceError> {
    Ok(format!("https://{}.example.com", creds.custom_str("subdomain")?))
}"#
        }
        _ => {
            r#"/// The service's API.
fn base_url(_creds: &Credentials) -> Result<String, PieceError> {
    Ok("https://api.example.com".to_owned())
}"#
        }
    };
    let allow = match auth {
        AuthKind::None => "\n            .allow_host(\"api.example.com\")",
        _ => "",
    };
    format!(
        r#"//! {{{{name}}}}: a ThinkFleet piece ({{{{auth}}}}).

use thinkfleet_sdk::prelude::*;

struct ThisPiece;

impl Piece for ThisPiece {{
    fn info() -> PieceInfo {{
        PieceInfo::new("{{{{name}}}}", "{{{{name}}}}", "What this piece does, in one line.")
            .version(env!("CARGO_PKG_VERSION")){schema}{allow}
            .action(
                Action::new("get_item", "Get item", "Fetches one item by id.")
                    .prop(Prop::short_text("id", "Item id").required()),
            )
    }}

    /// {validate_note}
    fn validate(creds: &Credentials) -> Result<(), PieceError> {{
        let base = base_url(creds)?;
        // 401 and 403 become "Invalid API key", any other failure an upstream error.
        http::Request::get(&format!("{{base}}/v1/me"))
            .send()?
            .checked(SERVICE)?;
        Ok(())
    }}

    fn run_action(name: &str, input: Value, creds: &Credentials) -> Result<Value, PieceError> {{
        match name {{
            "get_item" => get_item(&base_url(creds)?, &input),
            other => Err(PieceError::InvalidInput(format!("unknown action {{other}}"))),
        }}
    }}
}}

/// How errors name the service.
const SERVICE: &str = "Example";

{base_url}

/// The `get_item` action.
fn get_item(base: &str, input: &Value) -> Result<Value, PieceError> {{
    let url = item_url(base, input["id"].as_str().unwrap_or_default())?;
    http::Request::get(&url).send()?.checked(SERVICE)?.json()
}}

/// The item's URL: the logic worth a unit test, kept apart from HTTP.
fn item_url(base: &str, id: &str) -> Result<String, PieceError> {{
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {{
        return Err(PieceError::InvalidInput(
            "id must be letters, digits or -".into(),
        ));
    }}
    Ok(format!("{{base}}/v1/items/{{id}}"))
}}

export_piece!(ThisPiece);

// Native unit tests (`cargo test --target <your host>`): requests go to the handler a
// test installs, not to the network.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {{
    use super::*;
    use thinkfleet_sdk::testing;

    #[test]
    fn item_urls_take_plain_ids_only() {{
        assert_eq!(
            item_url("https://api.example.com", "a-1").ok().as_deref(),
            Some("https://api.example.com/v1/items/a-1")
        );
        assert!(item_url("https://api.example.com", "../admin").is_err());
        assert!(item_url("https://api.example.com", "").is_err());
    }}

    #[test]
    fn get_item_returns_the_item_and_reports_a_refused_credential() {{
        let _service = testing::on_request(|req| {{
            assert_eq!(req.method(), "GET");
            assert_eq!(req.url(), "https://api.example.com/v1/items/a-1");
            testing::json(200, &json!({{"id": "a-1", "name": "First"}}))
        }});
        let item = get_item("https://api.example.com", &json!({{"id": "a-1"}}));
        assert_eq!(item.ok().map(|i| i["name"].clone()), Some(json!("First")));

        let _refused = testing::on_request(|_| testing::text(401, "unauthorized"));
        assert!(matches!(
            get_item("https://api.example.com", &json!({{"id": "a-1"}})),
            Err(PieceError::InvalidCredentials(_))
        ));
    }}
}}
"#
    )
}

fn auth_example(auth: AuthKind) -> &'static str {
    match auth {
        AuthKind::None => "",
        AuthKind::SecretText => " --auth secret_text=sk-test",
        AuthKind::Basic => " --auth username=me --auth password=pw-test",
        AuthKind::Oauth2 => " --auth access_token=at-test",
        AuthKind::Custom => " --auth subdomain=acme --auth api_key=key-test",
    }
}

const README: &str = r#"# {{name}}

A ThinkFleet piece ({{auth}}), made by `thinkfleet piece new`.

## Build

```sh
cargo build --release        # target/wasm32-wasip2/release/{{crate}}.wasm, about 300 KB
```

`.cargo/config.toml` makes `wasm32-wasip2` the target, so plain `cargo build` builds the
component. If the target is missing: `rustup target add wasm32-wasip2`.

## Test

The logic has native unit tests, no wasm or server needed: `item_url` is plain Rust,
and `get_item`'s request goes to the handler the test installs with
`thinkfleet_sdk::testing::on_request`, which answers it like the service would:

```sh
cargo test --target "$(rustc -vV | sed -n 's/^host: //p')"
```

End to end, against a local stand-in for the service (any HTTP server on a free port
that answers `GET /v1/me` with 200 for a good credential and 401 otherwise):

```sh
thinkfleet piece inspect target/wasm32-wasip2/release/{{crate}}.wasm
thinkfleet piece validate target/wasm32-wasip2/release/{{crate}}.wasm{{auth_example}} \
    --outbound-override api.example.com=http://127.0.0.1:PORT
thinkfleet piece run target/wasm32-wasip2/release/{{crate}}.wasm get_item --input '{"id":"a-1"}'{{auth_example}} \
    --outbound-override api.example.com=http://127.0.0.1:PORT
```

`--outbound-override` sends the piece's requests for a host to your stand-in (keeping
the declared name in `Host`); `validate` exits 0 when the credential is good, 1 when
the service refused it. `--auth-file FILE` or `--auth -` keep credentials out of the
process list.

## Ship

Copy the `.wasm` into the server's `DATA_DIR/pieces/` and restart it (`thinkfleet piece
list --data-dir DATA_DIR` shows what it will load). The connection form is rendered from
`info()`; it tells users which hosts receive their credential.

See the piece guide (`docs/piece-guide.md` in the ThinkFleet repository) for every
auth kind, credential hosts, OAuth2 options and the contract versions.
"#;
