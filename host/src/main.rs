//! The `thinkfleet` binary: a thin shim over [`thinkfleet::cli`].

fn main() -> std::process::ExitCode {
    thinkfleet::cli::main()
}
