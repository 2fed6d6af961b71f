//! Builds the example pieces to components so `cargo build`/`test`/`run` have them.

#[path = "build_support/wasm_pieces.rs"]
mod wasm_pieces;

fn main() {
    let manifest =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let workspace = manifest.parent().expect("workspace root");
    let built = wasm_pieces::build(
        workspace,
        &[
            ("piece-openai", "piece_openai", "openai"),
            ("piece-twilio", "piece_twilio", "twilio"),
            ("piece-slack", "piece_slack", "slack"),
            (
                "piece-google-sheets",
                "piece_google_sheets",
                "google-sheets",
            ),
            ("piece-postgres", "piece_postgres", "postgres"),
            ("piece-binance", "piece_binance", "binance"),
        ],
    );
    wasm_pieces::write_paths("example_pieces.rs", "EXAMPLE_PIECES", &built);
}
