//! Shared by the host's and the tests' build scripts: compiles piece crates of this
//! workspace to wasm32-wasip2 components with a nested cargo, in their own target dir
//! (`target/pieces`), and copies each to `target/pieces/<name>.wasm`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds `crates` (`(package, artifact file stem, short name)`), whose sources are
/// under `dir` of the workspace, and returns `(short name, path of the .wasm)`. The
/// build script runs again when those sources change, or what every piece builds
/// with (the WIT contract, the SDK, the workspace's manifest and lock file); not for
/// the other build script's pieces.
pub fn build(workspace: &Path, dir: &str, crates: &[(&str, &str, &str)]) -> Vec<(String, PathBuf)> {
    for input in ["wit", "sdk", "Cargo.toml", "Cargo.lock", dir] {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }
    let target_root = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let target_dir = target_root.join("pieces");
    ensure_target(workspace);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "pieces",
            "--target-dir",
        ])
        .arg(&target_dir);
    for (package, _, _) in crates {
        cmd.args(["-p", package]);
    }
    // The outer build's settings must not leak into the nested one (clippy's wrapper,
    // coverage flags, the jobserver, a target dir). A compiler cache (sccache, as CI uses)
    // is kept: it changes nothing rustc makes.
    if !std::env::var_os("RUSTC_WRAPPER").is_some_and(|w| is_compiler_cache(Path::new(&w))) {
        cmd.env_remove("RUSTC_WRAPPER");
    }
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo to build the pieces");
    assert!(
        status.success(),
        "building the pieces for wasm32-wasip2 failed (see above)"
    );
    crates
        .iter()
        .map(|(_, stem, short)| {
            let built = target_dir
                .join("wasm32-wasip2/pieces")
                .join(format!("{stem}.wasm"));
            let dest = target_dir.join(format!("{short}.wasm"));
            std::fs::copy(&built, &dest)
                .unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
            (short.to_string(), dest)
        })
        .collect()
}

/// Whether a `RUSTC_WRAPPER` is a compiler cache (sccache), which the nested build keeps.
fn is_compiler_cache(wrapper: &Path) -> bool {
    wrapper
        .file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s == "sccache")
}

/// Adds the `wasm32-wasip2` target to the toolchain when it is missing and `rustup` is
/// there (an installed toolchain does not pick up `rust-toolchain.toml`'s targets);
/// without `rustup`, stops with the one command that fixes it.
fn ensure_target(workspace: &Path) {
    const TARGET: &str = "wasm32-wasip2";
    let installed = Command::new("rustup")
        .current_dir(workspace)
        .args(["target", "list", "--installed"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .output();
    match installed {
        Ok(out) if out.status.success() => {
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == TARGET)
            {
                return;
            }
            println!("cargo:warning=adding the {TARGET} target (rustup target add {TARGET})");
            let added = Command::new("rustup")
                .current_dir(workspace)
                .args(["target", "add", TARGET])
                .env_remove("RUSTUP_TOOLCHAIN")
                .status();
            assert!(
                added.is_ok_and(|s| s.success()),
                "pieces need the {TARGET} target: run `rustup target add {TARGET}`"
            );
        }
        // No rustup: the toolchain is managed elsewhere; the build says if the target
        // is missing, and this is the line to read.
        _ => println!(
            "cargo:warning=cannot check for the {TARGET} target without rustup; \
             if the build fails with `can't find crate for core`, install that target"
        ),
    }
}

/// Writes `const NAME: &[(&str, &str)]` listing the built pieces into `$OUT_DIR/file`.
pub fn write_paths(file: &str, name: &str, built: &[(String, PathBuf)]) {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let mut src = format!(
        "/// Built pieces: (name, path of the component).\npub const {name}: &[(&str, &str)] = &[\n"
    );
    for (short, path) in built {
        src.push_str(&format!(
            "    ({short:?}, {:?}),\n",
            path.display().to_string()
        ));
    }
    src.push_str("];\n");
    std::fs::write(out.join(file), src).expect("writing the pieces' paths");
}

/// The whole build script of a crate whose pieces are `crates` (under `dir`): build
/// them, then write `const const_name` into `$OUT_DIR/file`.
pub fn build_script(dir: &str, crates: &[(&str, &str, &str)], file: &str, const_name: &str) {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let workspace = manifest.parent().expect("workspace root");
    write_paths(file, const_name, &build(workspace, dir, crates));
}
