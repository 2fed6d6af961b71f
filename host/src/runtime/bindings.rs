//! The generated host bindings for `thinkfleet:piece`, in one place, out of the way.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "piece-world",
    exports: { default: async },
});

pub use self::thinkfleet::piece::host_log;
pub use self::thinkfleet::piece::types as wit;
