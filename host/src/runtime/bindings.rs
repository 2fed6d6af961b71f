//! The generated host bindings for `thinkfleet:piece`, in one place, out of the way: the
//! current contract (0.2.0) and the frozen 0.1.0 the host keeps loading.
#![allow(missing_docs)]

/// `thinkfleet:piece@0.2.0` (`wit/piece.wit`).
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "piece-world",
        exports: { default: async },
    });

    pub use self::thinkfleet::piece::host_log;
    pub use self::thinkfleet::piece::types as wit;
}

/// The optional `session` export of 0.2.0 (world `session-world`), on the same types.
pub mod v0_2_session {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "session-world",
        exports: { default: async },
        with: {
            "thinkfleet:piece/types": super::v0_2::wit,
            "thinkfleet:piece/host-log": super::v0_2::host_log,
        },
    });
}

/// `thinkfleet:piece@0.1.0` (`wit/v0.1.0/piece.wit`), for pieces built before 0.2.0.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1.0",
        world: "piece-world",
        exports: { default: async },
    });

    pub use self::thinkfleet::piece::host_log;
    pub use self::thinkfleet::piece::types as wit;
}
