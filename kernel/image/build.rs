//! Link the kernel with its architecture's linker script (which lives in the
//! HAL crate of that architecture, `hal/<arch>/link.ld`), and point the
//! kernel at the boot image it embeds.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");

    // The boot image (userspace programs packed by `cargo xtask`), embedded
    // with include_bytes!. Without one (a bare `cargo build`), embed an empty
    // file: the kernel then says there is no userspace to start.
    println!("cargo:rerun-if-env-changed=SPINEL_BOOT_IMAGE");
    let image = match std::env::var("SPINEL_BOOT_IMAGE") {
        Ok(path) if !path.is_empty() => PathBuf::from(path),
        _ => {
            let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
            let empty = Path::new(&out).join("empty.bootfs");
            std::fs::write(&empty, b"").expect("write the empty boot image");
            empty
        }
    };
    println!("cargo:rerun-if-changed={}", image.display());
    println!("cargo:rustc-env=SPINEL_BOOT_IMAGE_PATH={}", image.display());

    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return; // Host builds (clippy on the host, say) link nothing special.
    }
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = Path::new(&manifest)
        .join("../../hal")
        .join(&arch)
        .join("link.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    // x86_64-unknown-none links a static PIE by default, but QEMU's PVH
    // loader puts the kernel at its link address and nothing applies
    // dynamic relocations (the HAL's boot code needs absolute ones).
    if arch == "x86_64" {
        println!("cargo:rustc-link-arg-bins=--no-pie");
    }
}
