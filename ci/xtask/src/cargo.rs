//! Running cargo for the targets, the host tests and the lints.

use crate::Arch;
use crate::results::{Case, Status, Suite};
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

/// Run a command, echoing its standard output and error; returns whether
/// it succeeded, its output and the lines of its error output.
fn run_echoing(mut command: Command) -> Result<(bool, String, Vec<String>), String> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let errors = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            lines.push(line);
        }
        lines
    });
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
    let errors = errors.join().unwrap_or_default();
    Ok((status.success(), text, errors))
}

/// `cargo test` over the host crates: a suite per test binary (arch
/// `host`, program the crate's binary, `(doc)` for doc tests).
pub fn host_tests() -> Result<Vec<Suite>, String> {
    println!("\n== host: cargo test");
    let mut command = cargo();
    command.args(["test", "--workspace"]);
    for package in target_only_packages()? {
        command.args(["--exclude", &package]);
    }
    let (ok, output, errors) = run_echoing(command)?;
    let mut suites = parse_host_tests(&output, &errors);
    if !ok && suites.iter().all(|s| s.failed() == 0) {
        // The build itself failed.
        suites.push(Suite {
            arch: "host".into(),
            program: "cargo test".into(),
            cases: vec![Case::failed(
                "build",
                "cargo test failed (its output above)",
                "",
            )],
            ..Suite::default()
        });
    }
    Ok(suites)
}

/// `cargo test`'s output as suites. Cargo names each test binary on its
/// error output (`Running ... (target/debug/deps/NAME-HASH)`, `Doc-tests
/// NAME`); each binary's output on stdout starts with `running N tests`:
/// the k-th of those belongs to the k-th name. `test PATH ... ok|FAILED`
/// lines are the cases.
fn parse_host_tests(output: &str, errors: &[String]) -> Vec<Suite> {
    let mut names = errors.iter().filter_map(|line| {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Running ") {
            let binary = rest.rsplit(['/', '\\']).next().unwrap_or(rest);
            let binary = binary.trim_end_matches(')');
            Some(
                binary
                    .rsplit_once('-')
                    .map_or(binary, |(name, _)| name)
                    .to_string(),
            )
        } else {
            line.strip_prefix("Doc-tests ")
                .map(|name| format!("{name} (doc)"))
        }
    });
    let mut suites: Vec<Suite> = Vec::new();
    for line in output.lines() {
        if line.starts_with("running ") && line.ends_with(" tests") || line == "running 1 test" {
            suites.push(Suite {
                arch: "host".into(),
                program: names.next().unwrap_or_else(|| "tests".into()),
                ..Suite::default()
            });
            continue;
        }
        let Some((name, verdict)) = line
            .strip_prefix("test ")
            .and_then(|l| l.split_once(" ... "))
        else {
            continue;
        };
        let Some(suite) = suites.last_mut() else {
            continue;
        };
        match verdict.trim() {
            "ok" => suite.cases.push(Case::passed(name)),
            // `ignored`, or `ignored, REASON` for `#[ignore = "REASON"]`.
            verdict if verdict == "ignored" || verdict.starts_with("ignored, ") => {}
            _ => {
                let tail = failure_output(output, name);
                suite
                    .cases
                    .push(Case::failed(name, "FAILED (cargo test)", &tail));
            }
        }
    }
    suites.retain(|s| !s.cases.is_empty());
    suites
}

/// The `---- NAME stdout ----` block cargo test prints for a failed test.
fn failure_output(output: &str, name: &str) -> String {
    let header = format!("---- {name} stdout ----");
    let mut lines = output.lines().skip_while(|l| l.trim() != header).skip(1);
    let mut text = String::new();
    for line in lines.by_ref().take(40) {
        if line.starts_with("---- ") || line.trim() == "failures:" {
            break;
        }
        text.push_str(line);
        text.push('\n');
    }
    text
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

/// `cargo fmt --check`, clippy (host crates, then each target's crates)
/// and the CI workflow's lint, each one case of the suite `host/lint`.
pub fn lint(arches: &[Arch]) -> Result<Suite, String> {
    println!("\n== lint: rustfmt, clippy and the CI workflow");
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
    let mut suite = Suite {
        arch: "host".into(),
        program: "lint".into(),
        ..Suite::default()
    };
    for (name, mut command) in checks {
        let ok = command.status().map(|s| s.success()).unwrap_or(false);
        println!("lint {name} ... {}", if ok { "ok" } else { "FAILED" });
        suite.cases.push(if ok {
            Case::passed(&name)
        } else {
            Case::failed(&name, "failed (its output above)", "")
        });
    }
    if let Some(case) = lint_workflow() {
        suite.cases.push(case);
    }
    Ok(suite)
}

/// `.github/workflows/ci.yml` against the GitHub Actions workflow schema
/// (check-jsonschema's copy); `None` (SKIPPED) without the Python tools.
fn lint_workflow() -> Option<Case> {
    let name = "workflow ci.yml";
    let bin = match crate::provision::python_tools() {
        Ok(bin) => bin,
        Err(why) => {
            println!("lint {name} ... SKIPPED: {why}");
            return None;
        }
    };
    let workflow = workspace_root().join(".github/workflows/ci.yml");
    let output = Command::new(bin.join("check-jsonschema"))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(&workflow)
        .output();
    let case = match output {
        Ok(out) if out.status.success() => Case::passed(name),
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            println!("{text}");
            Case::failed(name, "the workflow does not match GitHub's schema", &text)
        }
        Err(e) => Case::failed(name, &format!("cannot run check-jsonschema: {e}"), ""),
    };
    let ok = case.status == Status::Passed;
    println!("lint {name} ... {}", if ok { "ok" } else { "FAILED" });
    Some(case)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_tests_are_a_suite_per_binary() {
        let errors = [
            "     Running unittests src/lib.rs (target/debug/deps/spinel_abi-0123abcd)".to_string(),
            "   Doc-tests spinel_abi".to_string(),
        ];
        let output = "\nrunning 2 tests\ntest a::b ... ok\ntest a::c ... FAILED\n\
                      \nfailures:\n\n---- a::c stdout ----\nboom\n\nfailures:\n\
                      \nrunning 1 test\ntest src/lib.rs - x (line 3) ... ok\n";
        let suites = parse_host_tests(output, &errors);
        assert_eq!(suites.len(), 2);
        assert_eq!(suites[0].name(), "host/spinel_abi");
        assert_eq!((suites[0].passed(), suites[0].failed()), (1, 1));
        assert!(suites[0].cases[1].console_tail.contains("boom"));
        assert_eq!(suites[1].name(), "host/spinel_abi (doc)");
    }

    #[test]
    fn ignored_tests_with_a_reason_are_not_failures() {
        let errors = ["     Running tests/bench.rs (target/debug/deps/bench-0123abcd)".to_string()];
        let output = "\nrunning 2 tests\ntest slow ... ignored, a benchmark: run with --ignored\n\
                      test quick ... ok\n";
        let suites = parse_host_tests(output, &errors);
        assert_eq!(suites.len(), 1);
        assert_eq!((suites[0].passed(), suites[0].failed()), (1, 0));
    }
}
