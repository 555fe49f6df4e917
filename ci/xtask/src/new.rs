//! `cargo xtask new PATH`: a user program crate outside the workspace that
//! builds and passes `cargo xtask check` on both architectures as created.
//!
//! Rules this module keeps:
//! - **Never overwrite**: PATH must not exist or be an empty directory.
//! - **Found from anywhere**: the sysroot crates are named by a relative
//!   path when PATH lies beside the Spinel checkout (under the checkout's
//!   parent directory, so moving both together keeps working), by an
//!   absolute one otherwise.
//! - **Its own workspace**: the manifest has a `[workspace]` table, so a
//!   parent workspace (Spinel's, when PATH is inside the checkout) does not
//!   swallow it; and the profile Spinel's programs use (`panic = "abort"`,
//!   `opt-level = 1`: an unoptimised program is slow under emulation; DWARF
//!   in release builds for the debugger and crash reports).
//! - The package name comes from PATH's last component, made a valid crate
//!   name (or an error saying why it cannot be).

use crate::cargo;
use std::path::{Component, Path, PathBuf};

/// `cargo xtask new PATH`.
pub fn run(path: &Path) -> Result<(), String> {
    let name = crate_name(path)?;
    if path.exists() {
        let empty = path.is_dir()
            && std::fs::read_dir(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .next()
                .is_none();
        if !empty {
            return Err(format!(
                "{} already exists and is not empty: give a new directory",
                path.display()
            ));
        }
    }
    std::fs::create_dir_all(path.join("src"))
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let dir = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let sysroot = sysroot_from(&dir);
    let files = [
        ("Cargo.toml", manifest(&name, &sysroot)),
        ("build.rs", BUILD_RS.to_string()),
        ("src/main.rs", main_rs(&name)),
        ("README.md", readme(&name)),
        (".gitignore", "/target\n".to_string()),
    ];
    for (file, text) in files {
        let target = dir.join(file);
        std::fs::write(&target, text)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    println!("created the Spinel program `{name}` in {}", path.display());
    println!(
        "run it on both architectures: cargo xtask check {}",
        path.display()
    );
    Ok(())
}

/// A crate name from the last component of `path`.
fn crate_name(path: &Path) -> Result<String, String> {
    let last = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .next_back()
        .ok_or_else(|| format!("{}: name a directory for the program", path.display()))?;
    let name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!(
            "{}: a program's name must start with a letter",
            path.display()
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// The Spinel `sysroot/` as the new crate should name it.
fn sysroot_from(dir: &Path) -> PathBuf {
    let root = cargo::workspace_root();
    let sysroot = root.join("sysroot");
    let Some(parent) = root.parent() else {
        return sysroot;
    };
    match dir.strip_prefix(parent) {
        Ok(below) => {
            // Up from `dir` to the checkout's parent, then down.
            let ups = below.components().count();
            let mut relative: PathBuf = std::iter::repeat_n("..", ups).collect();
            relative.push(root.strip_prefix(parent).unwrap_or(&root));
            relative.push("sysroot");
            relative
        }
        Err(_) => sysroot,
    }
}

fn manifest(name: &str, sysroot: &Path) -> String {
    let rt = sysroot.join("rt");
    let build = sysroot.join("build");
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

# Its own workspace: not a member of any workspace above it.
[workspace]

[dependencies]
spinel-rt = {{ path = "{rt}" }}

[build-dependencies]
spinel-build = {{ path = "{build}" }}

[profile.dev]
panic = "abort"
opt-level = 1 # an unoptimised program is slow under emulation

[profile.release]
panic = "abort"
debug = true # the debugger and crash reports need DWARF
"#,
        rt = rt.display(),
        build = build.display(),
    )
}

/// Links the program at Spinel's user base with its linker script.
const BUILD_RS: &str = "fn main() {\n    spinel_build::user_program()\n}\n";

fn main_rs(name: &str) -> String {
    format!(
        r#"//! {name}: a Spinel program. `cargo xtask check PATH` runs it on both
//! architectures; its arguments come after `--`.
#![no_std]
#![no_main]

extern crate alloc;

use spinel_rt::test::{{Test, TestResult}};
use spinel_rt::{{ensure, ensure_eq, println}};

spinel_rt::entry!(main);

/// The tests, in the order they run; each prints `test NAME ... ok` or
/// `test NAME ... FAILED: REASON`.
const TESTS: &[Test] = &[
    Test::new("arithmetic", arithmetic),
    Test::new("formatting", formatting),
];

fn main(args: spinel_rt::StartArgs) -> i64 {{
    let startup = spinel_rt::startup::Startup::from_start(args.bootstrap);
    println!("hello from {name}");
    // The first argument, if any, runs only the tests whose name contains it.
    spinel_rt::test::run(TESTS, startup.words().next())
}}

fn arithmetic() -> TestResult {{
    ensure_eq!(6 * 7, 42);
    Ok(())
}}

fn formatting() -> TestResult {{
    let text = alloc::format!("{{}}-{{}}", "spinel", 1);
    ensure!(text == "spinel-1", "got {{text}}");
    Ok(())
}}
"#
    )
}

fn readme(name: &str) -> String {
    format!(
        "# {name}\n\nA program for Spinel: `src/main.rs` names its main with `spinel_rt::entry!` and runs its tests with `spinel_rt::test`.\nRun it on both architectures from the Spinel checkout: `cargo xtask check PATH` (add `-- ARGS` for its arguments).\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_last_component() {
        assert_eq!(crate_name(Path::new("../hello")).unwrap(), "hello");
        assert_eq!(crate_name(Path::new("/tmp/My App/")).unwrap(), "my-app");
        assert!(crate_name(Path::new("/tmp/1st")).is_err());
        assert!(crate_name(Path::new("/")).is_err());
    }

    #[test]
    fn a_sibling_names_the_sysroot_relatively() {
        let root = cargo::workspace_root();
        let parent = root.parent().unwrap();
        let sibling = parent.join("hello");
        let relative = sysroot_from(&sibling);
        assert!(relative.is_relative(), "{}", relative.display());
        let checkout = root.file_name().unwrap();
        assert_eq!(relative, Path::new("..").join(checkout).join("sysroot"));
        let nested = sysroot_from(&parent.join("work/hello"));
        assert_eq!(nested, Path::new("../..").join(checkout).join("sysroot"));
        assert!(
            sysroot_from(Path::new("/elsewhere/hello")).is_absolute() || parent == Path::new("/")
        );
    }
}
