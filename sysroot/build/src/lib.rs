//! Build-script helper for Spinel user programs.
//!
//! A program under `services/` has a `build.rs` of one line,
//! `fn main() { spinel_build::user_program() }`, which links it at the fixed
//! user base with `sysroot/rt/user.ld` as a plain (non-PIE) executable, so
//! the kernel's loader maps its segments without relocating anything.

use std::path::Path;

/// Emit the link arguments of a user program (only for bare-metal targets;
/// host builds such as `cargo clippy` on the host link nothing special).
pub fn user_program() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rt/user.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    // The bare-metal targets link static PIEs by default; a fixed-address
    // executable needs no relocation at load time.
    println!("cargo:rustc-link-arg-bins=--no-pie");
}
