//! The vault: the only code that knows the cipher and sees key material.
//!
//! Every credential is sealed with AES-256-GCM under the current key, with a fresh
//! random 96-bit nonce, and associated data that binds the ciphertext to its project,
//! its record (kind + id) and the key version. A ciphertext copied onto another row, or
//! relabelled with another key version, fails to open. Previous keys open what they
//! sealed, so `thinkfleet keys rotate` can move every row to the current key.

mod key;

pub use key::{KEY_FILE_NAME, KeyConfig, KeyError, KeySource, load_keys, parse_key};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Why the vault could not seal or open a value. Never carries plaintext or key bytes.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The value was sealed under a key version this host was not given.
    #[error(
        "a credential is sealed with key version {0}, which this host does not have; \
         supply that key in AP_ENCRYPTION_KEY_PREVIOUS"
    )]
    UnknownKey(String),
    /// Authentication failed: wrong key, tampered ciphertext or a ciphertext moved onto
    /// another record.
    #[error("a credential failed to decrypt (tampered, moved or sealed with another key)")]
    Corrupt,
    /// The operating system's random generator failed.
    #[error("no randomness for a nonce: {0}")]
    Random(#[source] getrandom::Error),
}

/// The kinds of record a ciphertext can be bound to. A kind's word is part of every
/// ciphertext's associated data, so a word may never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A connection's credential.
    Connection,
    /// An OAuth app's client secret.
    OauthApp,
    /// A pending OAuth2 authorization's verifier.
    OauthState,
    /// A project's webhook signing secret.
    WebhookSecret,
    /// The store's key-check value ([`crate::key_check`]).
    KeyCheck,
}

impl RecordKind {
    /// Every kind.
    pub const ALL: [RecordKind; 5] = [
        RecordKind::Connection,
        RecordKind::OauthApp,
        RecordKind::OauthState,
        RecordKind::WebhookSecret,
        RecordKind::KeyCheck,
    ];

    /// The kind's word, as bound into associated data. The one table of them.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordKind::Connection => "connection",
            RecordKind::OauthApp => "oauth-app",
            RecordKind::OauthState => "oauth-state",
            RecordKind::WebhookSecret => "webhook-secret",
            RecordKind::KeyCheck => "key-check",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a [`RecordKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown record kind `{0}`")]
pub struct UnknownRecordKind(pub String);

impl FromStr for RecordKind {
    type Err = UnknownRecordKind;

    fn from_str(word: &str) -> Result<Self, UnknownRecordKind> {
        RecordKind::ALL
            .into_iter()
            .find(|k| k.as_str() == word)
            .ok_or_else(|| UnknownRecordKind(word.to_owned()))
    }
}

/// What a ciphertext is bound to: the project and the record that own it.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The owning project's id (empty for platform-wide records).
    pub project: &'a str,
    /// The kind of record.
    pub kind: RecordKind,
    /// The record's id.
    pub id: &'a str,
}

/// A sealed value as stored: the key version, the nonce and the ciphertext with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The version (fingerprint) of the key that sealed it.
    pub key_version: String,
    /// The 96-bit nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext followed by the 128-bit tag.
    pub ciphertext: Vec<u8>,
}

/// One AES-256 key with its version. `Debug` shows only the version.
pub struct Key {
    version: String,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("version", &self.version)
            .finish()
    }
}

impl Key {
    /// A key from its 32 bytes. Its version is a fingerprint of the bytes, so the same
    /// key always has the same version and operators never number keys by hand.
    pub fn new(bytes: &Zeroizing<[u8; 32]>) -> Self {
        let mut h = Sha256::new();
        h.update(b"thinkfleet key version\0");
        h.update(bytes.as_slice());
        let version = hex::encode(&h.finalize()[..8]);
        Key {
            version,
            cipher: Aes256Gcm::new(bytes.as_slice().into()),
        }
    }

    /// The key's version (16 hex characters).
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// The current key plus the previous keys that may still open old rows.
#[derive(Debug, Clone)]
pub struct Vault {
    current: Arc<Key>,
    keys: Arc<HashMap<String, Arc<Key>>>,
}

impl Vault {
    /// A vault sealing with `current` and opening with it or any of `previous`.
    pub fn new(current: Key, previous: Vec<Key>) -> Self {
        let current = Arc::new(current);
        let mut keys: HashMap<String, Arc<Key>> = previous
            .into_iter()
            .map(|k| (k.version.clone(), Arc::new(k)))
            .collect();
        keys.insert(current.version.clone(), current.clone());
        Vault {
            current,
            keys: Arc::new(keys),
        }
    }

    /// The version new values are sealed with.
    pub fn current_version(&self) -> &str {
        &self.current.version
    }

    /// Whether this vault holds the key of `version` (current or previous).
    pub fn holds(&self, version: &str) -> bool {
        self.keys.contains_key(version)
    }

    /// Whether previous keys were given (AP_ENCRYPTION_KEY_PREVIOUS or the key file).
    pub fn has_previous(&self) -> bool {
        self.keys.len() > 1
    }

    /// Seals `plaintext` under the current key, bound to `binding`.
    pub fn seal(&self, binding: Binding<'_>, plaintext: &[u8]) -> Result<Sealed, VaultError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(VaultError::Random)?;
        let aad = associated_data(binding, &self.current.version);
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Corrupt)?;
        Ok(Sealed {
            key_version: self.current.version.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens a value sealed for `binding`. Fails if it was sealed for another binding,
    /// tampered with, or sealed under a key this vault does not hold.
    pub fn open(
        &self,
        binding: Binding<'_>,
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let key = self
            .keys
            .get(&sealed.key_version)
            .ok_or_else(|| VaultError::UnknownKey(sealed.key_version.clone()))?;
        if sealed.nonce.len() != 12 {
            return Err(VaultError::Corrupt);
        }
        let aad = associated_data(binding, &key.version);
        key.cipher
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Corrupt)
    }

    /// Re-seals a value under the current key (rotation). Opening checks the binding.
    pub fn reseal(&self, binding: Binding<'_>, sealed: &Sealed) -> Result<Sealed, VaultError> {
        let plain = self.open(binding, sealed)?;
        self.seal(binding, &plain)
    }
}

/// The associated data: a version tag, then each part length-prefixed so no two
/// bindings can encode to the same bytes.
fn associated_data(binding: Binding<'_>, key_version: &str) -> Vec<u8> {
    let mut aad = b"thinkfleet/aad/v1".to_vec();
    for part in [
        binding.project,
        binding.kind.as_str(),
        binding.id,
        key_version,
    ] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Key {
        Key::new(&Zeroizing::new([byte; 32]))
    }

    const A: Binding<'static> = Binding {
        project: "p1",
        kind: RecordKind::Connection,
        id: "c1",
    };

    #[test]
    fn seals_and_opens_with_fresh_nonces() {
        let vault = Vault::new(key(1), vec![]);
        let one = vault.seal(A, b"hunter2").expect("seal");
        let two = vault.seal(A, b"hunter2").expect("seal");
        assert_ne!(one.nonce, two.nonce);
        assert_ne!(one.ciphertext, two.ciphertext);
        assert!(!one.ciphertext.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(vault.open(A, &one).expect("open").as_slice(), b"hunter2");
    }

    #[test]
    fn another_binding_or_key_version_fails() {
        let vault = Vault::new(key(1), vec![]);
        let sealed = vault.seal(A, b"hunter2").expect("seal");
        for other in [
            Binding { id: "c2", ..A },
            Binding { project: "p2", ..A },
            Binding {
                kind: RecordKind::OauthApp,
                ..A
            },
        ] {
            assert!(matches!(
                vault.open(other, &sealed),
                Err(VaultError::Corrupt)
            ));
        }
        let mut relabelled = sealed.clone();
        relabelled.key_version = key(2).version().to_owned();
        let both = Vault::new(key(1), vec![key(2)]);
        assert!(matches!(
            both.open(A, &relabelled),
            Err(VaultError::Corrupt)
        ));
        let mut flipped = sealed;
        flipped.ciphertext[0] ^= 1;
        assert!(matches!(vault.open(A, &flipped), Err(VaultError::Corrupt)));
    }

    #[test]
    fn previous_keys_open_and_reseal_moves_to_current() {
        let old = Vault::new(key(1), vec![]);
        let sealed = old.seal(A, b"s3cret").expect("seal");
        let new_only = Vault::new(key(2), vec![]);
        assert!(matches!(
            new_only.open(A, &sealed),
            Err(VaultError::UnknownKey(_))
        ));
        let rotated = Vault::new(key(2), vec![key(1)]);
        let moved = rotated.reseal(A, &sealed).expect("reseal");
        assert_eq!(moved.key_version, rotated.current_version());
        assert_eq!(
            new_only.open(A, &moved).expect("open").as_slice(),
            b"s3cret"
        );
    }

    #[test]
    fn record_kinds_round_trip_through_their_words() {
        for kind in RecordKind::ALL {
            assert_eq!(kind.as_str().parse(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert!("flow".parse::<RecordKind>().is_err());
    }

    #[test]
    fn debug_shows_only_the_version() {
        let k = key(7);
        let shown = format!("{k:?} {:?}", Vault::new(key(7), vec![]));
        assert!(shown.contains(k.version()));
        assert!(!shown.contains("0707"));
        assert!(!shown.contains("7, 7"));
    }
}
