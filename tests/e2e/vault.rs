//! Credentials at rest: a ciphertext moved onto another row does not open, rotation
//! re-seals every row (and survives a kill -9 halfway), and the key configuration is
//! checked at startup: a malformed key, and a key that is not the store's (the key
//! check), stop the server before it seals anything.

use secrecy::SecretString;
use serde_json::json;
use thinkfleet::connections::{ConnectionError, Connections, NewConnectionRequest};
use thinkfleet::runtime::RuntimeConfig;
use thinkfleet::server::{ServeConfig, state};
use thinkfleet::vault::{Key, KeyConfig, VaultError, parse_key};
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::cache_dir;
use thinkfleet_tests::home::DataHome;

const KEY_A: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const KEY_B: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";

fn version(key: &str) -> String {
    Key::new(&parse_key(key, "test key").expect("key"))
        .version()
        .to_owned()
}

/// The connections service of `home`, in process, with these keys.
async fn service(home: &DataHome, current: &str, previous: Option<&str>) -> Connections {
    start(home, current, previous)
        .await
        .expect("state")
        .connections
        .clone()
}

/// What `serve` builds for `home` with these keys, or why it refuses to start.
async fn start(
    home: &DataHome,
    current: &str,
    previous: Option<&str>,
) -> Result<thinkfleet::api::AppState, thinkfleet::server::ServeError> {
    let config = ServeConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: home.path().to_owned(),
        database_url: home.url(),
        runtime: RuntimeConfig {
            cache_dir: Some(cache_dir()),
            ..RuntimeConfig::default()
        },
        keys: KeyConfig {
            current: Some(SecretString::from(current.to_owned())),
            previous: previous.map(|p| SecretString::from(p.to_owned())),
        },
        public_url: None,
        admin_token: None,
        refresh_interval: std::time::Duration::from_secs(3600),
        webhooks: thinkfleet::webhooks::WebhookTiming::default(),
        metrics_token: None,
    };
    state(&config).await
}

fn postgres_connection(name: &str, password: &str) -> NewConnectionRequest {
    serde_json::from_value(json!({
        "piece": "postgres",
        "display_name": name,
        "value": {"type": "custom", "props": {
            "host": "db.internal", "database": "app", "user": "svc", "password": password
        }}
    }))
    .expect("request")
}

async fn password_of(
    service: &Connections,
    project: &str,
    key: &str,
) -> Result<String, ConnectionError> {
    let (_, creds) = service.resolve(project, key).await?;
    Ok(creds.secret_values().join(","))
}

async fn sql(home: &DataHome, statement: &str, binds: &[&str]) -> u64 {
    let mut conn = home.connect().await;
    let mut q = sqlx::query(statement);
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(&mut conn).await.expect("sql").rows_affected()
}

async fn count_under(home: &DataHome, key_version: &str) -> i64 {
    let mut conn = home.connect().await;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM connections WHERE key_version = $1")
        .bind(key_version)
        .fetch_one(&mut conn)
        .await
        .expect("count");
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ciphertext_copied_onto_another_row_fails_to_open() {
    let home = DataHome::new().await;
    let (a, _) = home.project("a").await;
    let (b, _) = home.project("b").await;
    let svc = service(&home, KEY_A, None).await;
    let one = svc
        .create(&a, postgres_connection("one", "pw-one"))
        .await
        .expect("one");
    let two = svc
        .create(&a, postgres_connection("two", "pw-two"))
        .await
        .expect("two");
    let other = svc
        .create(&b, postgres_connection("one", "pw-b"))
        .await
        .expect("b");
    assert_eq!(password_of(&svc, &a, "one").await.expect("one"), "pw-one");
    assert_eq!(password_of(&svc, &b, "one").await.expect("b"), "pw-b");

    let copy = "UPDATE connections SET \
        key_version = (SELECT key_version FROM connections WHERE id = $1), \
        nonce = (SELECT nonce FROM connections WHERE id = $1), \
        ciphertext = (SELECT ciphertext FROM connections WHERE id = $1) WHERE id = $2";
    assert_eq!(sql(&home, copy, &[&one.id, &two.id]).await, 1);
    assert_eq!(sql(&home, copy, &[&one.id, &other.id]).await, 1);
    for (project, key) in [(&a, "two"), (&b, "one")] {
        assert!(matches!(
            svc.resolve(project, key).await,
            Err(ConnectionError::Vault(VaultError::Corrupt))
        ));
    }
    assert_eq!(password_of(&svc, &a, "one").await.expect("one"), "pw-one");
    // Another project cannot resolve it at all.
    assert!(matches!(
        svc.resolve(&b, &one.id).await,
        Err(ConnectionError::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_reseals_every_row_and_all_still_resolve() {
    let home = DataHome::new().await;
    let (p, _) = home.project("p").await;
    let under_a = service(&home, KEY_A, None).await;
    for i in 0..5 {
        under_a
            .create(
                &p,
                postgres_connection(&format!("db {i}"), &format!("pw-{i}")),
            )
            .await
            .expect("create");
    }
    // Without the old key, rotation stops and says which key it lacks.
    let (code, _, err) = home
        .run(&["keys", "rotate"], &[("AP_ENCRYPTION_KEY", KEY_B)])
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&version(KEY_A)), "{err}");
    assert!(err.contains("AP_ENCRYPTION_KEY_PREVIOUS"), "{err}");

    let (code, out, err) = home
        .run(
            &["keys", "rotate"],
            &[
                ("AP_ENCRYPTION_KEY", KEY_B),
                ("AP_ENCRYPTION_KEY_PREVIOUS", KEY_A),
            ],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "rotated 5 credential(s) to key version {}",
            version(KEY_B)
        )),
        "{out}"
    );
    assert_eq!(count_under(&home, &version(KEY_B)).await, 5);

    let under_b = service(&home, KEY_B, None).await;
    for i in 0..5 {
        assert_eq!(
            password_of(&under_b, &p, &format!("db-{i}"))
                .await
                .expect("resolve"),
            format!("pw-{i}")
        );
    }
    assert!(matches!(
        password_of(&under_a, &p, "db-0").await,
        Err(ConnectionError::Vault(VaultError::UnknownKey(_)))
    ));
    let (code, out, _) = home
        .run(&["keys", "status"], &[("AP_ENCRYPTION_KEY", KEY_B)])
        .await;
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("{}: 5 credential(s) (current)", version(KEY_B))),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_killed_halfway_loses_nothing_and_resumes() {
    const ROWS: usize = 300;
    let home = DataHome::new().await;
    let (p, _) = home.project("p").await;
    let under_a = service(&home, KEY_A, None).await;
    for i in 0..ROWS {
        under_a
            .create(
                &p,
                postgres_connection(&format!("db {i}"), &format!("pw-{i}")),
            )
            .await
            .expect("create");
    }
    let mut child = home
        .command(&["keys", "rotate", "--batch", "1"])
        .env("AP_ENCRYPTION_KEY", KEY_B)
        .env("AP_ENCRYPTION_KEY_PREVIOUS", KEY_A)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn rotate");
    // Kill -9 as soon as the first rows have moved.
    while count_under(&home, &version(KEY_B)).await == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    child.start_kill().expect("SIGKILL");
    let _ = child.wait().await;
    let moved = count_under(&home, &version(KEY_B)).await;
    eprintln!("killed after {moved} of {ROWS} rows");

    // Every row opens, under one key or the other.
    let both = service(&home, KEY_B, Some(KEY_A)).await;
    for i in 0..ROWS {
        assert_eq!(
            password_of(&both, &p, &format!("db-{i}"))
                .await
                .expect("resolve"),
            format!("pw-{i}")
        );
    }
    // Re-running finishes the job. (On PostgreSQL, a COMMIT the killed process had
    // already sent may land after the count above: count again now.)
    let moved = count_under(&home, &version(KEY_B)).await;
    let (code, out, err) = home
        .run(
            &["keys", "rotate"],
            &[
                ("AP_ENCRYPTION_KEY", KEY_B),
                ("AP_ENCRYPTION_KEY_PREVIOUS", KEY_A),
            ],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("rotated {} credential(s)", ROWS as i64 - moved)),
        "{out}"
    );
    assert_eq!(count_under(&home, &version(KEY_B)).await, ROWS as i64);
    let under_b = service(&home, KEY_B, None).await;
    assert_eq!(
        password_of(&under_b, &p, "db-299").await.expect("resolve"),
        "pw-299"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn startup_refuses_a_malformed_key_and_otherwise_makes_a_private_key_file() {
    let home = DataHome::new().await;
    let bad = "this-is-not-a-valid-key-at-all";
    let (code, _, err) = home
        .run(
            &["serve", "--listen", "127.0.0.1:0"],
            &[("AP_ENCRYPTION_KEY", bad)],
        )
        .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("AP_ENCRYPTION_KEY must be 32 bytes given as 64 hex characters or as base64"),
        "{err}"
    );
    assert!(!err.contains(bad), "the error repeats the key");

    // No key configured: serve generates one, says so, and reuses it next time.
    let first = TestApp::spawn(&home, Settings::default())
        .await
        .stop()
        .await;
    let key_file = home.path().join(thinkfleet::vault::KEY_FILE_NAME);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(first.contains("generated a new encryption key"), "{first}");
    let key = std::fs::read_to_string(&key_file).expect("key");
    let second = TestApp::spawn(&home, Settings::default())
        .await
        .stop()
        .await;
    assert!(!second.contains("generated a new encryption key"));
    assert!(second.contains(&version(key.trim())), "{second}");
    assert!(!first.contains(key.trim()) && !second.contains(key.trim()));
    assert!(
        !second.contains("others on this machine can read"),
        "{second}"
    );

    // A key file others can read still works, with a warning that says how to fix it.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let third = TestApp::spawn(&home, Settings::default())
        .await
        .stop()
        .await;
    assert!(third.contains("has mode 644"), "{third}");
    assert!(third.contains("chmod 600"), "{third}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_started_with_another_key_refuses_to_start_and_seals_nothing() {
    let home = DataHome::new().await;
    let (p, _) = home.project("p").await;
    service(&home, KEY_A, None)
        .await
        .create(&p, postgres_connection("db", "pw-kept"))
        .await
        .expect("create");

    // The wrong key: the process stops with exit 2, naming the variable, never a key.
    let (code, _, err) = home
        .run(
            &["serve", "--listen", "127.0.0.1:0"],
            &[("AP_ENCRYPTION_KEY", KEY_B)],
        )
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("AP_ENCRYPTION_KEY is not the key"), "{err}");
    assert!(err.contains(&version(KEY_A)), "{err}");
    assert!(
        !err.contains(KEY_A) && !err.contains(KEY_B),
        "a key was printed"
    );
    assert_eq!(count_under(&home, &version(KEY_B)).await, 0);
    // Nor do the commands that seal run with it.
    let (code, _, err) = home
        .run(
            &["oauth-app", "set", "slack", "--client-id", "c"],
            &[
                ("AP_ENCRYPTION_KEY", KEY_B),
                ("THINKFLEET_OAUTH_CLIENT_SECRET", "s"),
            ],
        )
        .await;
    assert_ne!(code, 0);
    assert!(err.contains("AP_ENCRYPTION_KEY is not the key"), "{err}");

    // A previous key that is not the store's either does not help.
    const KEY_C: &str = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3";
    let err = start(&home, KEY_B, Some(KEY_C))
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("no previous key opens them"),
        "{err}"
    );

    // The old key as previous: a rotation in progress starts; after the rotation the
    // new key alone starts, and the old one is now the wrong one.
    start(&home, KEY_B, Some(KEY_A))
        .await
        .expect("rotation in progress");
    let (code, _, err) = home
        .run(
            &["keys", "rotate"],
            &[
                ("AP_ENCRYPTION_KEY", KEY_B),
                ("AP_ENCRYPTION_KEY_PREVIOUS", KEY_A),
            ],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    let under_b = service(&home, KEY_B, None).await;
    assert_eq!(
        password_of(&under_b, &p, "db").await.expect("resolve"),
        "pw-kept"
    );
    let err = start(&home, KEY_A, None).await.err().expect("refused");
    assert!(err.to_string().contains(&version(KEY_B)), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_store_remembers_its_first_key() {
    let home = DataHome::new().await;
    start(&home, KEY_A, None).await.expect("first start");
    let err = start(&home, KEY_B, None).await.err().expect("refused");
    assert!(
        err.to_string().contains("AP_ENCRYPTION_KEY is not the key"),
        "{err}"
    );
    start(&home, KEY_A, None).await.expect("the right key");
}
