//! PostgreSQL: custom connection fields. Components have no raw sockets, so `validate`
//! checks the fields' format and the action builds a libpq connection URI for steps that
//! run outside the sandbox.

use thinkfleet_sdk::prelude::*;

struct Postgres;

struct Settings<'a> {
    host: &'a str,
    port: u16,
    database: &'a str,
    user: &'a str,
    /// libpq's `sslmode`.
    sslmode: &'a str,
}

/// The certificate checks offered when TLS is required: (label, libpq `sslmode`).
const VERIFY: [(&str, &str); 3] = [
    ("Encrypt only", "require"),
    ("Verify the certificate", "verify-ca"),
    ("Verify the certificate and the host name", "verify-full"),
];

fn settings(creds: &Credentials) -> Result<Settings<'_>, PieceError> {
    let bad = |m: String| PieceError::InvalidCredentials(m);
    let host = creds.custom_str("host")?;
    if host.is_empty()
        || host.len() > 253
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
    {
        return Err(bad(format!(
            "host {host:?} is not a valid host name or address"
        )));
    }
    let port = creds.custom_number("port").unwrap_or(5432.0);
    if port.fract() != 0.0 || !(1.0..=65535.0).contains(&port) {
        return Err(bad(format!("port {port} must be between 1 and 65535")));
    }
    let database = creds.custom_str("database")?;
    let user = creds.custom_str("user")?;
    for (what, v) in [("database", database), ("user", user)] {
        if v.is_empty() || v.len() > 63 || v.contains(['\0', '/', '?', '@']) {
            return Err(bad(format!("{what} must be 1-63 characters without / ? @")));
        }
    }
    // The password must be present, but it may be empty (trust authentication).
    creds
        .custom("password")
        .ok_or_else(|| bad("password is required".into()))?;
    let sslmode = if creds.custom_flag("ssl") {
        match creds.custom("verify") {
            None => "require",
            Some(_) => {
                let chosen = creds.custom_str("verify")?;
                VERIFY
                    .iter()
                    .map(|(_, mode)| *mode)
                    .find(|mode| *mode == chosen)
                    .ok_or_else(|| {
                        bad(format!(
                            "verify must be one of require, verify-ca, verify-full, not {chosen:?}"
                        ))
                    })?
            }
        }
    } else {
        "prefer"
    };
    Ok(Settings {
        host,
        port: port as u16,
        database,
        user,
        sslmode,
    })
}

impl Piece for Postgres {
    fn info() -> PieceInfo {
        PieceInfo::new(
            "postgres",
            "PostgreSQL",
            "Connection settings for a PostgreSQL database.",
        )
        .version(env!("CARGO_PKG_VERSION"))
        .auth(AuthSchema::custom(vec![
            Prop::short_text("host", "Host").required(),
            Prop::number("port", "Port").default_json("5432"),
            Prop::short_text("database", "Database").required(),
            Prop::short_text("user", "User").required(),
            Prop::secret("password", "Password").required(),
            Prop::checkbox("ssl", "Require TLS").default_json("true"),
            Prop::dropdown("verify", "Certificate check", &VERIFY).description(
                "How strictly the server's certificate is checked when TLS is required.",
            ),
            Prop::long_text("ca_certificate", "CA certificate (PEM)")
                .description("Only needed for a private certificate authority."),
        ]))
        .action(Action::new(
            "connection_uri",
            "Connection URI",
            "A libpq URI for these settings, password left out.",
        ))
    }

    fn validate(creds: &Credentials) -> Result<(), PieceError> {
        settings(creds).map(|_| ())
    }

    fn run_action(name: &str, _input: Value, creds: &Credentials) -> Result<Value, PieceError> {
        match name {
            "connection_uri" => {
                let s = settings(creds)?;
                let uri = format!(
                    "postgresql://{}@{}:{}/{}?sslmode={}",
                    http::encode(s.user),
                    s.host,
                    s.port,
                    http::encode(s.database),
                    s.sslmode
                );
                Ok(json!({"uri": uri}))
            }
            other => Err(PieceError::InvalidInput(format!("unknown action {other}"))),
        }
    }
}

export_piece!(Postgres);
