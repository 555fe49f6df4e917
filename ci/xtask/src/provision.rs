//! Provisioning a fresh machine: the rustup targets, QEMU, the aarch64
//! cross tools and the debugging tools of `tools.rs` (gdb-multiarch,
//! lldb-19, llvm-19).
//!
//! Each `ensure_*` either makes the tool available or stops with a message
//! naming the one command that fixes it.
//!
//! The toolchain, its components and both bare-metal targets are named in
//! `rust-toolchain.toml`, so rustup installs them itself when it installs
//! the toolchain; [`ensure_targets`] stays as the check (and the repair)
//! for a toolchain installed before that file, asking rustup from the
//! workspace root so it answers for the pinned toolchain.

use crate::Arch;
use std::path::Path;
use std::process::{Command, Stdio};

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(crate::cargo::workspace_root())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Install the bare-metal rustup targets that are missing.
pub fn ensure_targets(arches: &[Arch]) -> Result<(), String> {
    let installed = output("rustup", &["target", "list", "--installed"]);
    let missing: Vec<&str> = arches
        .iter()
        .map(|a| a.target())
        .filter(|t| {
            installed
                .as_deref()
                .is_none_or(|list| !list.lines().any(|l| l.trim() == *t))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if installed.is_none() {
        return Err(format!(
            "rustup is not available to install the bare-metal targets; run: rustup target add {}",
            missing.join(" ")
        ));
    }
    println!("xtask: installing rustup targets {}", missing.join(" "));
    let status = Command::new("rustup")
        .current_dir(crate::cargo::workspace_root())
        .args(["target", "add"])
        .args(&missing)
        .status();
    if status.is_ok_and(|s| s.success()) {
        Ok(())
    } else {
        Err(format!(
            "installing the targets failed; run: rustup target add {}",
            missing.join(" ")
        ))
    }
}

pub fn qemu_binary(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "qemu-system-x86_64",
        Arch::Aarch64 => "qemu-system-aarch64",
    }
}

fn qemu_present(arch: Arch) -> bool {
    succeeds(qemu_binary(arch), &["--version"])
}

fn is_root() -> bool {
    output("id", &["-u"]).is_some_and(|id| id.trim() == "0")
}

/// Make sure QEMU for each architecture is installed, installing it from
/// Debian backports when we are root on a Debian machine.
pub fn ensure_qemu(arches: &[Arch]) -> Result<(), String> {
    if arches.iter().all(|&a| qemu_present(a)) {
        return Ok(());
    }
    if is_root() && Path::new("/usr/bin/apt-get").exists() {
        println!("xtask: QEMU is missing; installing it from Debian backports");
        install_qemu()?;
        if arches.iter().all(|&a| qemu_present(a)) {
            return Ok(());
        }
    }
    Err("QEMU (qemu-system-x86_64 and qemu-system-aarch64) is missing; run as root: cargo xtask setup".into())
}

pub fn ensure_gdb() -> Result<(), String> {
    if crate::tools::find(&crate::tools::GDB).is_some() {
        return Ok(());
    }
    ensure_debug_tools()
}

/// Make sure the debugging tools of `tools.rs` (gdb-multiarch, lldb 19,
/// llvm-symbolizer and llvm-readelf 19) are installed, installing their
/// Debian packages when we are root on a Debian machine; otherwise stop
/// naming the one command that fixes it. The crash dumps' tests need them.
pub fn ensure_debug_tools() -> Result<(), String> {
    let missing = crate::tools::missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    if is_root() && Path::new("/usr/bin/apt-get").exists() {
        println!(
            "xtask: installing {} (gdb, lldb and llvm-symbolizer for crash dumps)",
            missing.join(" ")
        );
        install_packages(&missing)?;
        if crate::tools::missing_packages().is_empty() {
            return Ok(());
        }
    }
    let tools: Vec<&crate::tools::Tool> = crate::tools::ALL
        .into_iter()
        .filter(|tool| crate::tools::find(tool).is_none())
        .collect();
    Err(crate::tools::missing_message(&tools))
}

/// `apt-get install -y PACKAGES`, updating the lists once if it fails.
fn install_packages(packages: &[&str]) -> Result<(), String> {
    let mut args = vec!["install", "-y"];
    args.extend(packages);
    if apt(&args).is_ok() {
        return Ok(());
    }
    apt(&["update"])?;
    apt(&args)
}

/// The tools the symbolizer's host tests use to compare aarch64 C builds
/// with llvm-symbolizer and to run the unwinder fixture (the tests print
/// SKIPPED without them): (program, Debian package).
const CROSS_TOOLS: &[(&str, &str)] = &[
    ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    ("aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu"),
    ("g++", "g++"),
    ("qemu-aarch64", "qemu-user"),
];

fn missing_cross_packages() -> Vec<&'static str> {
    CROSS_TOOLS
        .iter()
        .filter(|(program, _)| !succeeds(program, &["--version"]))
        .map(|(_, package)| *package)
        .collect()
}

/// Install the aarch64 cross compiler and qemu-user when they are missing
/// and we are root on a Debian machine; otherwise say what is skipped and
/// how to fix it (the host tests still run, those comparisons print
/// SKIPPED).
pub fn ensure_cross_tools() {
    let missing = missing_cross_packages();
    if missing.is_empty() {
        return;
    }
    if is_root() && Path::new("/usr/bin/apt-get").exists() {
        println!(
            "xtask: installing {} (the symbolizer's C, C++ and aarch64 comparisons)",
            missing.join(" ")
        );
        let mut args = vec!["install", "-y"];
        args.extend(&missing);
        if apt(&args).is_err() && apt(&["update"]).is_ok() {
            let _ = apt(&args);
        }
        if missing_cross_packages().is_empty() {
            return;
        }
    }
    println!(
        "xtask: note: {} missing: the symbolizer's C++ or aarch64 comparisons will be SKIPPED; \
         run as root: cargo xtask setup (or apt-get install -y {})",
        missing.join(" and "),
        missing.join(" ")
    );
}

/// The Python tools the reports are checked with, pinned: a maintained
/// JUnit parser (the XML `check` and `test` write must parse as CI systems
/// read it) and a GitHub Actions workflow linter (`.github/workflows/ci.yml`
/// against the workflow schema check-jsonschema carries).
const PYTHON_TOOLS: [&str; 2] = ["junitparser==5.0.3", "check-jsonschema==0.39.0"];

/// A virtual environment under `target/tools/python` with [`PYTHON_TOOLS`]
/// (made on first use, from PyPI through pip); its `bin` directory. An
/// `Err` says why it could not be made: the checks that need it then print
/// SKIPPED.
pub fn python_tools() -> Result<std::path::PathBuf, String> {
    let venv = crate::cargo::target_dir().join("tools").join("python");
    let bin = venv.join("bin");
    let python = bin.join("python");
    let ready = |python: &Path| {
        succeeds(
            &python.display().to_string(),
            &["-c", "import junitparser, check_jsonschema"],
        )
    };
    if ready(&python) {
        return Ok(bin);
    }
    println!(
        "xtask: installing {} (in {})",
        PYTHON_TOOLS.join(" "),
        venv.display()
    );
    let venv_text = venv.display().to_string();
    if !succeeds("python3", &["-m", "venv", &venv_text]) {
        return Err("python3 -m venv failed (apt-get install python3-venv)".into());
    }
    let pip = bin.join("pip").display().to_string();
    let mut args = vec!["install", "--quiet", "--disable-pip-version-check"];
    args.extend(PYTHON_TOOLS);
    if !succeeds(&pip, &args) || !ready(&python) {
        return Err(format!("pip could not install {}", PYTHON_TOOLS.join(" ")));
    }
    Ok(bin)
}

/// `cargo xtask setup`: everything, loudly.
pub fn setup(arches: &[Arch]) -> Result<(), String> {
    ensure_targets(arches)?;
    if !arches.iter().all(|&a| qemu_present(a)) {
        if !is_root() {
            return Err(
                "installing QEMU needs root: run `sudo cargo xtask setup` (or as root)".into(),
            );
        }
        install_qemu()?;
    }
    let missing = missing_cross_packages();
    if !missing.is_empty() {
        if !is_root() {
            return Err(format!(
                "installing {} needs root: run `sudo cargo xtask setup` (or as root)",
                missing.join(" ")
            ));
        }
        apt(&["update"])?;
        let mut args = vec!["install", "-y"];
        args.extend(&missing);
        apt(&args)?;
    }
    let missing = crate::tools::missing_packages();
    if !missing.is_empty() {
        if !is_root() {
            return Err(format!(
                "installing {} needs root: run `sudo cargo xtask setup` (or as root)",
                missing.join(" ")
            ));
        }
        install_packages(&missing)?;
        if !crate::tools::missing_packages().is_empty() {
            return Err(format!(
                "apt-get installed {} but the tools are still missing",
                missing.join(" ")
            ));
        }
    }
    println!("xtask: setup complete");
    Ok(())
}

fn apt(args: &[&str]) -> Result<(), String> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("apt-get {} failed", args.join(" ")))
    }
}

/// QEMU 10 from the distribution's backports suite: the stock Debian 12 QEMU
/// conflicts with the newer qemu-utils already installed on these machines.
fn install_qemu() -> Result<(), String> {
    let codename = os_codename().ok_or("cannot tell the Debian release from /etc/os-release")?;
    let backports = format!("{codename}-backports");
    ensure_backports_source(&codename, &backports)?;
    apt(&["update"])?;
    apt(&[
        "install",
        "-y",
        "-t",
        &backports,
        "qemu-system-x86",
        "qemu-system-arm",
    ])
}

fn os_codename() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|c| c.trim_matches('"').to_string())
}

/// Add a deb822 source for the backports suite, copied from the machine's own
/// Debian source stanza (so no mirror name is written into the project).
fn ensure_backports_source(codename: &str, backports: &str) -> Result<(), String> {
    let dir = Path::new("/etc/apt/sources.list.d");
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_string();
        if let Ok(text) = std::fs::read_to_string(&path) {
            sources.push((extension, text));
        }
    }
    let Some(stanza) = backports_stanza(&sources, codename, backports)? else {
        return Ok(()); // The suite is already configured.
    };
    let path = dir.join("spinel-backports.sources");
    std::fs::write(&path, stanza).map_err(|e| format!("writing {}: {e}", path.display()))?;
    println!("xtask: added {}", path.display());
    Ok(())
}

/// The deb822 stanza to add for `backports`, copied from the first source
/// stanza of `codename` with only its suite changed; `None` when some
/// source (`.list` or `.sources`, given as (extension, text)) already names
/// the suite.
fn backports_stanza(
    sources: &[(String, String)],
    codename: &str,
    backports: &str,
) -> Result<Option<String>, String> {
    let mut main_stanza = None;
    for (extension, text) in sources {
        match extension.as_str() {
            "list" => {
                let active = text.lines().filter(|l| !l.trim_start().starts_with('#'));
                if active
                    .clone()
                    .any(|l| l.split_whitespace().any(|w| w == backports))
                {
                    return Ok(None);
                }
            }
            "sources" => {
                for stanza in text.split("\n\n") {
                    let suites: Vec<&str> = stanza
                        .lines()
                        .find_map(|l| l.strip_prefix("Suites:"))
                        .map(|v| v.split_whitespace().collect())
                        .unwrap_or_default();
                    if suites.contains(&backports) {
                        return Ok(None);
                    }
                    if main_stanza.is_none() && suites.contains(&codename) {
                        main_stanza = Some(stanza.trim().to_string());
                    }
                }
            }
            _ => {}
        }
    }
    let stanza = main_stanza.ok_or(format!(
        "no Debian source for `{codename}` to derive {backports} from"
    ))?;
    let derived: Vec<String> = stanza
        .lines()
        .map(|l| {
            if l.starts_with("Suites:") {
                format!("Suites: {backports}")
            } else {
                l.to_string()
            }
        })
        .collect();
    Ok(Some(derived.join("\n") + "\n"))
}

#[cfg(test)]
mod tests {
    use super::backports_stanza;

    const DEBIAN: &str = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n";

    fn sources(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(e, t)| (e.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn derives_the_backports_stanza_from_the_machines_own_source() {
        let stanza = backports_stanza(
            &sources(&[("sources", DEBIAN)]),
            "bookworm",
            "bookworm-backports",
        )
        .unwrap()
        .unwrap();
        assert!(stanza.contains("Suites: bookworm-backports\n"), "{stanza}");
        assert!(
            stanza.contains("URIs: http://deb.debian.org/debian\n"),
            "{stanza}"
        );
        assert!(!stanza.contains("security"), "{stanza}");
        assert!(stanza.contains("Signed-By:"), "{stanza}");
    }

    #[test]
    fn an_existing_backports_source_is_left_alone() {
        let with = format!("{DEBIAN}\nTypes: deb\nURIs: x\nSuites: bookworm-backports\n");
        assert_eq!(
            backports_stanza(
                &sources(&[("sources", &with)]),
                "bookworm",
                "bookworm-backports"
            ),
            Ok(None)
        );
        let list = "deb http://deb.debian.org/debian bookworm-backports main\n";
        let both = sources(&[("sources", DEBIAN), ("list", list)]);
        assert_eq!(
            backports_stanza(&both, "bookworm", "bookworm-backports"),
            Ok(None)
        );
        let commented = "# deb http://deb.debian.org/debian bookworm-backports main\n";
        let both = sources(&[("sources", DEBIAN), ("list", commented)]);
        assert!(
            backports_stanza(&both, "bookworm", "bookworm-backports")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn no_source_for_the_release_is_a_clear_error() {
        let error = backports_stanza(
            &sources(&[("sources", DEBIAN)]),
            "trixie",
            "trixie-backports",
        )
        .unwrap_err();
        assert!(error.contains("trixie"), "{error}");
    }
}
