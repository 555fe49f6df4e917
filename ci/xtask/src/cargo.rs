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

pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Workspace members that are user programs outside `services/`, with
/// their package names.
const OTHER_PROGRAMS: &[(&str, &str)] = &[("debugger/agent", "debug-agent")];

/// The user programs packed into the boot image: every workspace member
/// under `services/` (by directory name, which is also its package name),
/// and the debugger agent.
pub fn user_programs() -> Result<Vec<String>, String> {
    let manifest = workspace_root().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("reading {}: {e}", manifest.display()))?;
    let members = text
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap_or("");
    let mut names: Vec<String> = members
        .split(',')
        .filter_map(|entry| {
            let path = entry.trim().trim_matches('"');
            match path.strip_prefix("services/") {
                Some(name) => Some(name),
                None => OTHER_PROGRAMS
                    .iter()
                    .find(|(member, _)| *member == path)
                    .map(|(_, name)| *name),
            }
        })
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Cargo's target directory (`CARGO_TARGET_DIR` when set).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

fn profile_dir(arch: Arch, release: bool) -> PathBuf {
    let profile = if release { "release" } else { "debug" };
    target_dir().join(arch.target()).join(profile)
}

/// Build the workspace's user programs `programs` for `arch`; returns the
/// directory their binaries are in.
pub fn build_programs(arch: Arch, release: bool, programs: &[String]) -> Result<PathBuf, String> {
    let mut command = cargo();
    command.args(["build", "--target", arch.target()]);
    for program in programs {
        command.args(["--package", program]);
    }
    if release {
        command.arg("--release");
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the {} user programs failed", arch.name()));
    }
    Ok(profile_dir(arch, release))
}

/// Pack `files` (name, bytes) into a boot image at `path`, rewriting it
/// only when its contents change (so the kernel is not rebuilt for nothing).
pub fn pack_image(files: &[(String, Vec<u8>)], path: &Path) -> Result<(), String> {
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let image = spinel_bootfs::pack(&borrowed)?;
    if std::fs::read(path).ok().as_deref() != Some(image.as_slice()) {
        std::fs::write(path, &image).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Build the user programs for `arch` and pack them into a boot image;
/// returns the image's path.
pub fn build_boot_image(arch: Arch, release: bool) -> Result<PathBuf, String> {
    let programs = user_programs()?;
    let dir = build_programs(arch, release, &programs)?;
    let mut files = Vec::new();
    for program in &programs {
        let path = dir.join(program);
        let bytes = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        files.push((program.clone(), bytes));
    }
    // A file that is not a program, so tests can check that starting it is
    // a clear error.
    files.push((
        "not-a-program".into(),
        b"this file is not an ELF executable\n".to_vec(),
    ));
    let path = dir.join("boot.img");
    pack_image(&files, &path)?;
    Ok(path)
}

/// Build the user programs, the boot image and the kernel that embeds it,
/// for `arch`; returns the kernel ELF's path.
pub fn build_kernel(arch: Arch, release: bool) -> Result<PathBuf, String> {
    let image = build_boot_image(arch, release)?;
    build_kernel_with(arch, release, &image)
}

/// Build the kernel for `arch` embedding the boot image at `image`; returns
/// the kernel ELF's path (the same for every image: copy it to keep it).
pub fn build_kernel_with(arch: Arch, release: bool, image: &Path) -> Result<PathBuf, String> {
    let mut command = cargo();
    command.args([
        "build",
        "--package",
        "spinel-kernel",
        "--target",
        arch.target(),
    ]);
    command.env("SPINEL_BOOT_IMAGE", image);
    if release {
        command.arg("--release");
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the {} kernel failed", arch.name()));
    }
    Ok(profile_dir(arch, release).join("spinel-kernel"))
}

/// Build the debugger's host client (`spinel-debug`); its path.
pub fn build_client() -> Result<PathBuf, String> {
    let mut command = cargo();
    command.args([
        "build",
        "--package",
        "spinel-debug",
        "--bin",
        "spinel-debug",
    ]);
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the debugger client (spinel-debug) failed".into());
    }
    Ok(target_dir().join("debug").join("spinel-debug"))
}

/// Cargo's directory for one target's build (the console log of
/// `cargo xtask run` goes there too).
pub fn target_profile_dir(arch: Arch, release: bool) -> PathBuf {
    profile_dir(arch, release)
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
    command.args(["test", "--workspace"]);
    for package in target_only_packages()? {
        command.args(["--exclude", &package]);
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

/// Packages that only build for the bare-metal targets: the kernel, the
/// HALs, the user runtime and the user programs.
pub fn target_only_packages() -> Result<Vec<String>, String> {
    let mut packages: Vec<String> = vec!["spinel-kernel".into(), "spinel-rt".into()];
    packages.extend(Arch::ALL.iter().map(|&a| hal_package(a).to_string()));
    packages.extend(user_programs()?);
    Ok(packages)
}

pub fn hal_package(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "spinel-hal-x86_64",
        Arch::Aarch64 => "spinel-hal-aarch64",
    }
}

/// `cargo fmt --check` and clippy (host crates, then each target's crates),
/// each counted as one check; returns (passed, failed).
pub fn lint(arches: &[Arch]) -> Result<(usize, usize), String> {
    println!("\n== lint: rustfmt and clippy");
    let target_only = target_only_packages()?;
    let mut checks: Vec<(String, Command)> = Vec::new();
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    checks.push(("rustfmt".into(), fmt));
    let mut host = cargo();
    host.args(["clippy", "--workspace", "--all-targets"]);
    for package in &target_only {
        host.args(["--exclude", package]);
    }
    host.args(["--", "-D", "warnings"]);
    checks.push(("clippy host".into(), host));
    for &arch in arches {
        let mut target = cargo();
        target.args(["clippy", "--target", arch.target()]);
        for package in &target_only {
            // Each target checks its own HAL only.
            if Arch::ALL
                .iter()
                .any(|&other| other != arch && hal_package(other) == package)
            {
                continue;
            }
            target.args(["--package", package]);
        }
        target.args(["--", "-D", "warnings"]);
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
    Ok((passed, failed))
}
