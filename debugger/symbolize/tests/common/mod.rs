//! Shared by the symbolizer's integration tests: building the fixtures and
//! running llvm-symbolizer.

#![allow(dead_code)] // reason: each test file uses a different part

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("symbolize-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Builds each output once per test binary, whichever test asks first;
/// tests running in parallel wait for it.
fn build_once(out: &Path, build: impl FnOnce()) {
    static BUILT: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if built.insert(out.to_path_buf()) {
        build();
    }
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Builds `shapes.rs` for `arch` (x86_64 / aarch64) at `opt` (0..=3).
pub fn build_rust(arch: &str, opt: u32) -> PathBuf {
    let out = out_dir().join(format!("shapes-rs-{arch}-O{opt}"));
    build_once(&out, || {
        run(Command::new("rustc")
            .args(["--edition", "2024", "--crate-type", "bin", "-g"])
            .args(["--target", &format!("{arch}-unknown-none")])
            .args(["-C", &format!("opt-level={opt}"), "-C", "panic=abort"])
            .arg("-o")
            .arg(&out)
            .arg(fixtures().join("shapes.rs")))
    });
    out
}

/// The C compiler for `arch`, if installed.
pub fn c_compiler(arch: &str) -> Option<&'static str> {
    let compiler = match arch {
        "x86_64" if cfg!(target_arch = "x86_64") => "gcc",
        "x86_64" => "x86_64-linux-gnu-gcc",
        "aarch64" if cfg!(target_arch = "aarch64") => "gcc",
        _ => "aarch64-linux-gnu-gcc",
    };
    have(compiler).then_some(compiler)
}

/// Builds a C fixture with `extra` flags; `None` when no compiler for `arch`.
pub fn build_c(source: &str, arch: &str, opt: u32, extra: &[&str]) -> Option<PathBuf> {
    let compiler = c_compiler(arch)?;
    let stem = source.trim_end_matches(".c");
    let flavour: String = extra
        .iter()
        .map(|flag| flag.trim_start_matches('-'))
        .collect::<Vec<_>>()
        .join("-");
    let out = out_dir().join(format!("{stem}-c-{arch}-O{opt}-{flavour}"));
    build_once(&out, || {
        run(Command::new(compiler)
            .args(["-g", &format!("-O{opt}")])
            .args(extra)
            .arg("-o")
            .arg(&out)
            .arg(fixtures().join(source)))
    });
    Some(out)
}

/// llvm-symbolizer's answer for each address: its output block (the lines
/// up to the blank line).
pub fn llvm_symbolize(elf: &Path, addresses: &[u64]) -> Vec<String> {
    let mut child = Command::new(LLVM_SYMBOLIZER)
        .arg(format!("--obj={}", elf.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("llvm-symbolizer");
    let input: String = addresses.iter().map(|a| format!("{a:#x}\n")).collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let blocks: Vec<String> = text
        .split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| format!("{block}\n"))
        .collect();
    assert_eq!(
        blocks.len(),
        addresses.len(),
        "llvm-symbolizer output blocks"
    );
    blocks
}

/// The llvm-symbolizer the answers must agree with (Debian package `llvm-19`).
pub const LLVM_SYMBOLIZER: &str = "llvm-symbolizer-19";
