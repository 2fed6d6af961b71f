//! The encryption key's text form: 32 bytes as 64 hex characters, or as base64
//! (standard or URL-safe, with or without padding), surrounding whitespace ignored.

use base64::Engine as _;
use zeroize::Zeroizing;

/// Decodes a 32-byte key; `None` when `text` is neither form of 32 bytes. The caller
/// names the key in its error (the text itself is never shown).
pub fn parse_key(text: &str) -> Option<Zeroizing<[u8; 32]>> {
    let text = text.trim();
    let decoded: Zeroizing<Vec<u8>> =
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Zeroizing::new(hex::decode(text).ok()?)
        } else {
            Zeroizing::new(
                [
                    &base64::engine::general_purpose::STANDARD,
                    &base64::engine::general_purpose::STANDARD_NO_PAD,
                    &base64::engine::general_purpose::URL_SAFE,
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                ]
                .iter()
                .find_map(|engine| engine.decode(text).ok())?,
            )
        };
    let bytes: &[u8; 32] = decoded.as_slice().try_into().ok()?;
    Some(Zeroizing::new(*bytes))
}
