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

/// Builds `shapes.rs` for `arch` (x86_64 / aarch64) at `opt` (0..=3),
/// with `extra` rustc flags.
pub fn build_rust(arch: &str, opt: u32, extra: &[&str]) -> PathBuf {
    let flavour: String = extra
        .iter()
        .filter(|flag| !flag.starts_with('-'))
        .map(|flag| flag.replace(['=', ',', '-'], "_"))
        .collect::<Vec<_>>()
        .join("-");
    let out = out_dir().join(format!("shapes-rs-{arch}-O{opt}-{flavour}"));
    build_once(&out, || {
        run(Command::new("rustc")
            .args(["--edition", "2024", "--crate-type", "bin", "-g"])
            .args(["--target", &format!("{arch}-unknown-none")])
            .args(["-C", &format!("opt-level={opt}"), "-C", "panic=abort"])
            .args(extra)
            .arg("-o")
            .arg(&out)
            .arg(fixtures().join("shapes.rs")))
    });
    out
}

/// The C (or, for `c++`, C++) compiler for `arch`, if installed.
pub fn compiler(arch: &str, language: &str) -> Option<&'static str> {
    let native = cfg!(target_arch = "x86_64") && arch == "x86_64"
        || cfg!(target_arch = "aarch64") && arch == "aarch64";
    let compiler = match (native, arch, language) {
        (true, _, "c") => "gcc",
        (true, _, _) => "g++",
        (false, "x86_64", "c") => "x86_64-linux-gnu-gcc",
        (false, "x86_64", _) => "x86_64-linux-gnu-g++",
        (false, _, "c") => "aarch64-linux-gnu-gcc",
        (false, _, _) => "aarch64-linux-gnu-g++",
    };
    have(compiler).then_some(compiler)
}

/// The C compiler for `arch`, if installed.
pub fn c_compiler(arch: &str) -> Option<&'static str> {
    compiler(arch, "c")
}

/// Builds a C fixture with `extra` flags; `None` when no compiler for `arch`.
pub fn build_c(source: &str, arch: &str, opt: u32, extra: &[&str]) -> Option<PathBuf> {
    build_native(source, arch, opt, extra, Split::None)
}

/// Whether and how a native fixture's DWARF is split off (`-gsplit-dwarf`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Split {
    None,
    /// `.dwo` files beside the executable.
    Dwo,
    /// The `.dwo` files packed by `llvm-dwp-19` into `FILE.dwp`, and removed.
    Dwp,
}

/// Builds a C or C++ (`.cc`) fixture for `arch` at `-O{opt}` with `extra`
/// flags, each kind in a directory of its own (split DWARF leaves side
/// files there); `None` when the compiler (or for `Split::Dwp`,
/// `llvm-dwp-19`) is missing.
pub fn build_native(
    source: &str,
    arch: &str,
    opt: u32,
    extra: &[&str],
    split: Split,
) -> Option<PathBuf> {
    let (stem, language) = match source.rsplit_once('.') {
        Some((stem, "cc")) => (stem, "c++"),
        Some((stem, _)) => (stem, "c"),
        None => (source, "c"),
    };
    let compiler = compiler(arch, language)?;
    if split == Split::Dwp && !have("llvm-dwp-19") {
        return None;
    }
    let mut flavour: String = extra
        .iter()
        .map(|flag| flag.trim_start_matches('-').replace(['=', ','], "_"))
        .fold(String::new(), |all, flag| all + "-" + &flag);
    match split {
        Split::None => {}
        Split::Dwo => flavour.push_str("-dwo"),
        Split::Dwp => flavour.push_str("-dwp"),
    }
    let suffix = if language == "c" { "c" } else { "cc" };
    let name = format!("{stem}-{suffix}-{arch}-O{opt}{flavour}");
    let dir = out_dir().join("native").join(&name);
    let out = dir.join(&name);
    build_once(&out, || {
        std::fs::create_dir_all(&dir).unwrap();
        let mut command = Command::new(compiler);
        command
            .current_dir(&dir)
            .args(["-g", &format!("-O{opt}")])
            .args(extra);
        if split != Split::None {
            command.arg("-gsplit-dwarf");
        }
        run(command.arg("-o").arg(&name).arg(fixtures().join(source)));
        if split == Split::Dwp {
            run(Command::new("llvm-dwp-19").current_dir(&dir).args([
                "-e",
                &name,
                "-o",
                &format!("{name}.dwp"),
            ]));
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "dwo") {
                    std::fs::remove_file(path).unwrap();
                }
            }
        }
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
