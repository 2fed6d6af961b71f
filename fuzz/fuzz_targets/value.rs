//! The API's credential body (`value` of a create or reconnect request): decoded and
//! checked against each kind of schema; never a panic, a value accepted is written to
//! the bytes the vault seals and read back to the same credentials, and its `Debug`
//! shows field names only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thinkfleet_core::piece::{AuthSchema, Choice, Prop, PropKind, TokenAuth};
use thinkfleet_core::value::{ConnectionValue, ValueInput};

fn prop(name: &str, kind: PropKind, required: bool) -> Prop {
    Prop {
        secret: kind == PropKind::SecretText,
        name: name.into(),
        display_name: name.into(),
        description: None,
        kind,
        required,
        default_value: None,
    }
}

fn schemas() -> Vec<AuthSchema> {
    vec![
        AuthSchema::None,
        AuthSchema::SecretText {
            field: prop("secret_text", PropKind::SecretText, true),
        },
        AuthSchema::Basic {
            username: prop("username", PropKind::ShortText, true),
            password: prop("password", PropKind::SecretText, true),
        },
        AuthSchema::Custom {
            props: vec![
                prop("host", PropKind::ShortText, true),
                prop("port", PropKind::Number, false),
                prop("tls", PropKind::Checkbox, false),
                prop("key", PropKind::SecretText, true),
                prop(
                    "mode",
                    PropKind::StaticDropdown {
                        choices: vec![Choice {
                            label: "Fast".into(),
                            value: "fast".into(),
                        }],
                    },
                    false,
                ),
            ],
        },
        AuthSchema::Oauth2 {
            auth_url: "https://p.example/authorize".into(),
            token_url: "https://p.example/token".into(),
            scopes: vec!["read".into()],
            pkce: true,
            extra_params: Vec::new(),
            props: vec![prop("region", PropKind::ShortText, false)],
            token_auth: TokenAuth::ClientSecretBasic,
            token_props: vec!["instance_url".into()],
        },
    ]
}

fuzz_target!(|data: &[u8]| {
    for schema in schemas() {
        let Ok(input) = serde_json::from_slice::<ValueInput>(data) else {
            return;
        };
        let Ok((value, creds)) = ConnectionValue::from_input("fuzz", &schema, input) else {
            continue;
        };
        let secrets = creds.secret_values();
        // A stored value's `Debug` shows its field names only, whatever they hold.
        let empty = ConnectionValue::from_plaintext(b"{}").expect("empty");
        let shown = format!("{value:?}");
        let names = format!("{:?}", value.props().keys().collect::<Vec<_>>());
        assert!(
            shown.len() <= format!("{empty:?}").len() + names.len() + 64,
            "Debug shows more than field names: {shown}"
        );
        let opened =
            ConnectionValue::from_plaintext(&value.to_plaintext()).expect("a sealed value opens");
        let again = opened
            .credentials(&schema)
            .expect("an opened value is valid");
        assert_eq!(again.secret_values(), secrets);
    }
});
