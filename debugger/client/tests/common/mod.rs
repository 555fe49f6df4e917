//! Fixture builds for the client's tests (the symbolizer's fixtures).

#![allow(dead_code)] // reason: each test file uses a different part

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../symbolize/tests/fixtures")
}

pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn build_once(out: &Path, command: &mut Command) {
    static BUILT: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if built.insert(out.to_path_buf()) {
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{command:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("client-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `shapes.rs` for `arch` at `opt`.
pub fn rust_fixture(arch: &str, opt: u32) -> PathBuf {
    let out = out_dir().join(format!("shapes-rs-{arch}-O{opt}"));
    build_once(
        &out,
        Command::new("rustc")
            .args([
                "--edition",
                "2024",
                "--crate-type",
                "bin",
                "-g",
                "-C",
                "panic=abort",
            ])
            .args(["--target", &format!("{arch}-unknown-none")])
            .args(["-C", &format!("opt-level={opt}")])
            .arg("-o")
            .arg(&out)
            .arg(fixtures().join("shapes.rs")),
    );
    out
}

/// `shapes.c` for the host at `opt`, if gcc is installed.
pub fn c_fixture(opt: u32) -> Option<PathBuf> {
    if !have("gcc") {
        return None;
    }
    let out = out_dir().join(format!("shapes-c-O{opt}"));
    build_once(
        &out,
        Command::new("gcc")
            .args(["-g", &format!("-O{opt}"), "-o"])
            .arg(&out)
            .arg(fixtures().join("shapes.c")),
    );
    Some(out)
}
