//! Builds the test-only pieces (the misbehaving one and a component of another world).

#[path = "../host/build_support/wasm_pieces.rs"]
mod wasm_pieces;

fn main() {
    let manifest =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let workspace = manifest.parent().expect("workspace root");
    let built = wasm_pieces::build(
        workspace,
        &[
            ("piece-misbehave", "piece_misbehave", "misbehave"),
            ("not-a-piece", "not-a-piece", "not-a-piece"),
        ],
    );
    wasm_pieces::write_paths("test_pieces.rs", "TEST_PIECES", &built);
}
