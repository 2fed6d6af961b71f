//! Builds the test-only pieces (the misbehaving one, one built against contract 0.1.0,
//! one with a templated credential host, a component of another world, and two versions
//! of one piece for live installs, one whose custom credential opens sessions, and one
//! whose `validate` has another type than the contract's).

#[path = "../host/build_support/wasm_pieces.rs"]
mod wasm_pieces;

fn main() {
    wasm_pieces::build_script(
        "tests/pieces",
        &[
            ("piece-misbehave", "piece_misbehave", "misbehave"),
            ("piece-legacy", "piece_legacy", "legacy"),
            ("piece-tenant", "piece_tenant", "tenant"),
            (
                "piece-hostile-oauth",
                "piece_hostile_oauth",
                "hostile-oauth",
            ),
            ("not-a-piece", "not-a-piece", "not-a-piece"),
            ("piece-versioned", "piece_versioned", "versioned-1"),
            ("piece-versioned-two", "piece_versioned_two", "versioned-2"),
            ("piece-session", "piece_session", "session-crm"),
            ("piece-mistyped", "piece_mistyped", "mistyped"),
        ],
        "test_pieces.rs",
        "TEST_PIECES",
    );
}
