//! Builds the example pieces to components so `cargo build`/`test`/`run` have them.

#[path = "build_support/wasm_pieces.rs"]
mod wasm_pieces;

fn main() {
    wasm_pieces::build_script(
        "pieces",
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
        "example_pieces.rs",
        "EXAMPLE_PIECES",
    );
}
