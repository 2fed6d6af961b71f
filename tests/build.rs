//! Builds the test-only pieces (the misbehaving one and a component of another world).

#[path = "../host/build_support/wasm_pieces.rs"]
mod wasm_pieces;

fn main() {
    wasm_pieces::build_script(
        &[
            ("piece-misbehave", "piece_misbehave", "misbehave"),
            ("not-a-piece", "not-a-piece", "not-a-piece"),
        ],
        "test_pieces.rs",
        "TEST_PIECES",
    );
}
