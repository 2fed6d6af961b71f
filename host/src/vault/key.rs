//! Where the keys come from: `AP_ENCRYPTION_KEY` (64 hex characters or base64 of 32
//! bytes), `AP_ENCRYPTION_KEY_PREVIOUS` (comma-separated older keys, for decryption
//! only), or, when the variable is unset, a key file in the data directory that the
//! first start creates (mode 0600).

use super::{Key, Vault};
use secrecy::{ExposeSecret as _, SecretString};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The key file's name inside the data directory.
pub const KEY_FILE_NAME: &str = "encryption.key";

/// Why no key could be had. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key was not 32 bytes in hex or base64.
    #[error(
        "{source_name} must be 32 bytes given as 64 hex characters or as base64 \
         (got {len} characters that are neither)"
    )]
    Malformed {
        /// Where the bad key came from.
        source_name: String,
        /// Its length, which is safe to show.
        len: usize,
    },
    /// Reading or creating the key file failed.
    #[error("key file {path}: {error}")]
    File {
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        error: std::io::Error,
    },
    /// No randomness for a new key file's key.
    #[error("key file {path}: {error}")]
    Random {
        /// The key file that was to be created.
        path: PathBuf,
        /// The random generator's error.
        #[source]
        error: getrandom::Error,
    },
    /// No key is configured and none may be created here.
    #[error(
        "no encryption key: AP_ENCRYPTION_KEY is unset and {0} does not exist \
         (`thinkfleet serve` creates it on first start)"
    )]
    Missing(PathBuf),
}

/// Where the current key came from, for the startup message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The `AP_ENCRYPTION_KEY` variable.
    Environment,
    /// An existing key file.
    File(PathBuf),
    /// A key file created just now.
    Created(PathBuf),
}

/// Parses a 32-byte key from 64 hex characters or base64 (standard or URL-safe, with
/// or without padding). `source_name` names it in the error.
pub fn parse_key(text: &str, source_name: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    thinkfleet_core::key_text::parse_key(text).ok_or_else(|| KeyError::Malformed {
        source_name: source_name.to_owned(),
        len: text.trim().chars().count(),
    })
}

/// The configured keys, as text: `AP_ENCRYPTION_KEY` and `AP_ENCRYPTION_KEY_PREVIOUS`.
/// `Debug` shows only whether each is set.
#[derive(Clone, Default)]
pub struct KeyConfig {
    /// The current key.
    pub current: Option<SecretString>,
    /// Older keys, comma-separated, for decryption only.
    pub previous: Option<SecretString>,
}

impl std::fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyConfig")
            .field("current", &self.current.as_ref().map(|_| "***"))
            .field("previous", &self.previous.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Builds the vault from the configured keys and the data directory. With `create`, a
/// missing key (variable unset, no key file) is generated into `data_dir`; without it
/// (e.g. `keys rotate`) that is an error, since a new key could open nothing.
///
/// When `AP_ENCRYPTION_KEY` is set and a key file also exists, the file's key is kept
/// as a previous key, so moving off the generated default is set-the-variable, then
/// `thinkfleet keys rotate`.
pub fn load_keys(
    config: &KeyConfig,
    data_dir: &Path,
    create: bool,
) -> Result<(Vault, KeySource), KeyError> {
    let file = data_dir.join(KEY_FILE_NAME);
    let mut previous = Vec::new();
    if let Some(list) = &config.previous {
        let list = list.expose_secret();
        for (i, part) in list.split(',').filter(|p| !p.trim().is_empty()).enumerate() {
            let name = format!("AP_ENCRYPTION_KEY_PREVIOUS (entry {})", i + 1);
            previous.push(Key::new(&parse_key(part, &name)?));
        }
    }
    let (current, source) = match &config.current {
        Some(text) => {
            if file.exists() {
                previous.push(Key::new(&read_key_file(&file)?));
            }
            (
                Key::new(&parse_key(text.expose_secret(), "AP_ENCRYPTION_KEY")?),
                KeySource::Environment,
            )
        }
        None if file.exists() => (
            Key::new(&read_key_file(&file)?),
            KeySource::File(file.clone()),
        ),
        None if create => (
            Key::new(&create_key_file(&file)?),
            KeySource::Created(file.clone()),
        ),
        None => return Err(KeyError::Missing(file)),
    };
    Ok((Vault::new(current, previous), source))
}

fn read_key_file(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|error| KeyError::File {
            path: path.to_owned(),
            error,
        })?,
    );
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                "the key file {} has mode {mode:o}: others on this machine can read the \
                 encryption key; run `chmod 600 {}`",
                path.display(),
                path.display()
            );
        }
    }
    parse_key(&text, &format!("the key file {}", path.display()))
}

fn create_key_file(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let fail = |error: std::io::Error| KeyError::File {
        path: path.to_owned(),
        error,
    };
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut_slice()).map_err(|error| KeyError::Random {
        path: path.to_owned(),
        error,
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(path).map_err(fail)?;
    let text = Zeroizing::new(hex::encode(key.as_slice()));
    out.write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.sync_all())
        .map_err(fail)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn accepts_hex_and_base64_of_32_bytes() {
        let hex_key = "00".repeat(31) + "ff";
        assert_eq!(parse_key(&hex_key, "k").expect("hex")[31], 0xff);
        let b64 = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        assert_eq!(*parse_key(&b64, "k").expect("b64"), [9u8; 32]);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfbu8; 32]);
        assert_eq!(*parse_key(&url, "k").expect("url"), [0xfbu8; 32]);
    }

    #[test]
    fn refuses_anything_else_without_echoing_it() {
        let short_b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        for bad in [
            "",
            "not-a-key",
            "abcd",
            &"zz".repeat(32),
            &"00".repeat(33),
            &short_b64,
        ] {
            let err = parse_key(bad, "AP_ENCRYPTION_KEY").expect_err(bad);
            let text = err.to_string();
            assert!(
                text.starts_with("AP_ENCRYPTION_KEY must be 32 bytes"),
                "{text}"
            );
            if bad.len() > 3 {
                assert!(!text.contains(bad), "{text}");
            }
        }
    }

    #[test]
    fn created_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(KEY_FILE_NAME);
        let made = create_key_file(&path).expect("create");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(*read_key_file(&path).expect("read"), *made);
        assert!(create_key_file(&path).is_err(), "never overwrites a key");
    }
}
