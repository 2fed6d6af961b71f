//! The key check: a server (or a command that seals) started with a key that is not the
//! one the store's data is sealed with refuses to start, naming the variable to fix,
//! instead of sealing new rows under the wrong key and leaving a store of mixed keys.
//!
//! The store keeps one known value sealed under its key (`key_check` table). At start
//! it must open with the current key or a previous one (a rotation in progress); a store
//! from before the check, or a new one, gets the value once every key version sealing
//! its data is one this host holds. `keys rotate` re-seals it under the new key.

use crate::store::{Store, StoreError};
use crate::vault::{Binding, KeySource, RecordKind, Vault, VaultError};

/// The value sealed.
const CHECK_VALUE: &[u8] = b"thinkfleet key check v1";

const BINDING: Binding<'static> = Binding {
    project: "",
    kind: RecordKind::KeyCheck,
    id: "1",
};

/// Why the keys do not fit the store.
#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    /// The configured keys do not open the store's data.
    #[error(
        "{named} is not the key this database's credentials are sealed with (they are \
         sealed under key version {sealed_with}; {named} is version {current}{previous}). \
         Set it to the key in use; to change keys, put the old key in \
         AP_ENCRYPTION_KEY_PREVIOUS and run `thinkfleet keys rotate`"
    )]
    WrongKey {
        /// Which setting holds the current key.
        named: String,
        /// The version that seals the store's data.
        sealed_with: String,
        /// The current key's version.
        current: String,
        /// ", nor does AP_ENCRYPTION_KEY_PREVIOUS open them" when previous keys were given.
        previous: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing the check value failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// Checks that `vault` opens the store's data; writes the check value when the store
/// has none yet. `source` names where the current key came from, for the message.
pub async fn verify(store: &Store, vault: &Vault, source: &KeySource) -> Result<(), KeyCheckError> {
    check(store, vault, source, true).await
}

/// Like [`verify`], but writes nothing (`keys status`).
pub async fn inspect(
    store: &Store,
    vault: &Vault,
    source: &KeySource,
) -> Result<(), KeyCheckError> {
    check(store, vault, source, false).await
}

async fn check(
    store: &Store,
    vault: &Vault,
    source: &KeySource,
    write: bool,
) -> Result<(), KeyCheckError> {
    let wrong = |sealed_with: String| KeyCheckError::WrongKey {
        named: match source {
            KeySource::Environment => "AP_ENCRYPTION_KEY".to_owned(),
            KeySource::File(path) | KeySource::Created(path) => {
                format!(
                    "the key file {} (AP_ENCRYPTION_KEY is unset)",
                    path.display()
                )
            }
        },
        sealed_with,
        current: vault.current_version().to_owned(),
        previous: if vault.has_previous() {
            ", and no previous key opens them either"
        } else {
            ""
        },
    };
    // Twice at most: a replica starting beside this one may write the value first.
    for _ in 0..2 {
        if let Some(sealed) = store.key_check().await? {
            return match vault.open(BINDING, &sealed) {
                Ok(value) if value.as_slice() == CHECK_VALUE => Ok(()),
                _ => Err(wrong(sealed.key_version)),
            };
        }
        if let Some(unknown) = store
            .sealing_key_versions()
            .await?
            .into_iter()
            .find(|v| !vault.holds(v))
        {
            return Err(wrong(unknown));
        }
        if !write {
            return Ok(());
        }
        if store
            .insert_key_check(&vault.seal(BINDING, CHECK_VALUE)?)
            .await?
        {
            return Ok(());
        }
    }
    Ok(())
}

/// Re-seals the check value under the current key (after `keys rotate`).
pub async fn reseal(store: &Store, vault: &Vault) -> Result<(), KeyCheckError> {
    let sealed = vault.seal(BINDING, CHECK_VALUE)?;
    if !store.insert_key_check(&sealed).await? {
        store.replace_key_check(&sealed).await?;
    }
    Ok(())
}
