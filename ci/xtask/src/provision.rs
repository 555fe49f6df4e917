//! Provisioning a fresh machine: the rustup targets and QEMU.
//!
//! Each `ensure_*` either makes the tool available or stops with a message
//! naming the one command that fixes it.

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
    if succeeds("gdb-multiarch", &["--version"]) {
        return Ok(());
    }
    if is_root() && Path::new("/usr/bin/apt-get").exists() {
        apt(&["install", "-y", "gdb-multiarch"])?;
        return Ok(());
    }
    Err("gdb-multiarch is missing; run as root: apt-get install -y gdb-multiarch".into())
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
    let mut main_stanza = None;
    for entry in std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "list") {
            if text
                .lines()
                .any(|l| !l.trim_start().starts_with('#') && l.contains(backports))
            {
                return Ok(());
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "sources") {
            continue;
        }
        for stanza in text.split("\n\n") {
            let field = |name: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default()
            };
            let suites = field("Suites:");
            if suites.split_whitespace().any(|s| s == backports) {
                return Ok(());
            }
            if main_stanza.is_none() && suites.split_whitespace().any(|s| s == codename) {
                main_stanza = Some(stanza.to_string());
            }
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
    let path = dir.join("spinel-backports.sources");
    std::fs::write(&path, derived.join("\n") + "\n")
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    println!("xtask: added {}", path.display());
    Ok(())
}
