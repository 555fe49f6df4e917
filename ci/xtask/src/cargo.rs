//! Running cargo for the targets, the host tests and the lints.

use crate::Arch;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Build the kernel image for `arch`; returns the ELF's path.
pub fn build_kernel(arch: Arch, release: bool) -> Result<PathBuf, String> {
    let mut command = cargo();
    command.args([
        "build",
        "--package",
        "spinel-kernel",
        "--target",
        arch.target(),
    ]);
    if release {
        command.arg("--release");
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the {} kernel failed", arch.name()));
    }
    let profile = if release { "release" } else { "debug" };
    Ok(workspace_root()
        .join("target")
        .join(arch.target())
        .join(profile)
        .join("spinel-kernel"))
}

/// Run a command, echoing its standard output, and return it.
fn run_echoing(mut command: Command) -> Result<(bool, String), String> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let mut text = String::new();
    for line in BufReader::new(child.stdout.take().expect("stdout is piped")).lines() {
        let line = line.map_err(|e| format!("reading test output: {e}"))?;
        println!("{line}");
        text.push_str(&line);
        text.push('\n');
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo: {e}"))?;
    Ok((status.success(), text))
}

/// `cargo test` over the host crates; returns (passed, failed).
pub fn host_tests() -> Result<(usize, usize), String> {
    println!("\n== host: cargo test");
    let mut command = cargo();
    command.args(["test", "--workspace", "--exclude", "spinel-kernel"]);
    for arch in Arch::ALL {
        command.args(["--exclude", hal_package(arch)]);
    }
    let (ok, output) = run_echoing(command)?;
    let (mut passed, mut failed) = (0, 0);
    for line in output.lines() {
        // "test result: ok. 12 passed; 0 failed; 0 ignored; ..."
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(['.', ';']) {
                let mut words = part.split_whitespace();
                if let (Some(number), Some(word)) = (words.next(), words.next()) {
                    match (number.parse::<usize>(), word) {
                        (Ok(n), "passed") => passed += n,
                        (Ok(n), "failed") => failed += n,
                        _ => {}
                    }
                }
            }
        }
    }
    if !ok && failed == 0 {
        failed = 1; // The build itself failed.
    }
    Ok((passed, failed))
}

pub fn hal_package(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "spinel-hal-x86_64",
        Arch::Aarch64 => "spinel-hal-aarch64",
    }
}

/// `cargo fmt --check` and clippy (host crates, then each target's crates),
/// each counted as one check; returns (passed, failed).
pub fn lint(arches: &[Arch]) -> (usize, usize) {
    println!("\n== lint: rustfmt and clippy");
    let mut checks: Vec<(String, Command)> = Vec::new();
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    checks.push(("rustfmt".into(), fmt));
    let mut host = cargo();
    host.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--exclude",
        "spinel-kernel",
    ]);
    for arch in Arch::ALL {
        host.args(["--exclude", hal_package(arch)]);
    }
    host.args(["--", "-D", "warnings"]);
    checks.push(("clippy host".into(), host));
    for &arch in arches {
        let mut target = cargo();
        target.args([
            "clippy",
            "--package",
            "spinel-kernel",
            "--package",
            hal_package(arch),
        ]);
        target.args(["--target", arch.target(), "--", "-D", "warnings"]);
        checks.push((format!("clippy {}", arch.name()), target));
    }
    let (mut passed, mut failed) = (0, 0);
    for (name, mut command) in checks {
        let ok = command.status().map(|s| s.success()).unwrap_or(false);
        println!("lint {name} ... {}", if ok { "ok" } else { "FAILED" });
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    (passed, failed)
}
