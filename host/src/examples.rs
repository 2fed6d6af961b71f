//! The example pieces, built to components by the host's build script into
//! `target/pieces/<name>.wasm`.

include!(concat!(env!("OUT_DIR"), "/example_pieces.rs"));

/// The path of the built example piece `name` (`openai`, `twilio`, `slack`,
/// `google-sheets`, `postgres`, `binance`).
pub fn path(name: &str) -> Option<std::path::PathBuf> {
    EXAMPLE_PIECES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| p.into())
}
