//! The host's debugging tools, named in one place: which binary to run for
//! gdb, lldb, llvm-symbolizer and llvm-readelf, and which Debian package
//! brings each (`provision.rs` installs them).
//!
//! Debian installs LLVM 19 under versioned names (`llvm-symbolizer-19`);
//! the unversioned names, when present, may belong to Debian's default LLVM
//! 14, whose llvm-symbolizer lacks `--filter-markup`. So each tool is
//! looked up by its candidate names in order, and an LLVM tool is accepted
//! only when `--version` reports at least [`MIN_LLVM`].
//!
//! ```ignore
//! let symbolizer = tools::llvm_symbolizer()?; // "llvm-symbolizer-19"
//! Command::new(symbolizer).arg("--filter-markup") ...
//! ```

use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The oldest LLVM whose llvm-symbolizer has `--filter-markup` and whose
/// lldb reads the cores the crash service writes.
pub const MIN_LLVM: u32 = 19;

/// One tool: the names to try, in order, and the package that brings it.
#[derive(Debug)]
pub struct Tool {
    /// What the tool is for, in messages.
    pub what: &'static str,
    pub names: &'static [&'static str],
    /// The oldest major version accepted (0: any, no `--version` check).
    pub min_version: u32,
    pub package: &'static str,
}

pub const GDB: Tool = Tool {
    what: "gdb-multiarch",
    names: &["gdb-multiarch"],
    min_version: 0,
    package: "gdb-multiarch",
};

pub const LLDB: Tool = Tool {
    what: "lldb 19",
    names: &["lldb-19", "lldb"],
    min_version: MIN_LLVM,
    package: "lldb-19",
};

pub const LLVM_SYMBOLIZER: Tool = Tool {
    what: "llvm-symbolizer 19 (with --filter-markup)",
    names: &["llvm-symbolizer-19", "llvm-symbolizer"],
    min_version: MIN_LLVM,
    package: "llvm-19",
};

pub const LLVM_READELF: Tool = Tool {
    what: "llvm-readelf 19",
    names: &["llvm-readelf-19", "llvm-readelf"],
    min_version: MIN_LLVM,
    package: "llvm-19",
};

/// Every tool of this module.
pub const ALL: [&Tool; 4] = [&GDB, &LLDB, &LLVM_SYMBOLIZER, &LLVM_READELF];

/// The gdb that reads both architectures' kernels and cores.
pub fn gdb() -> Result<String, String> {
    static FOUND: OnceLock<Option<String>> = OnceLock::new();
    found(&GDB, &FOUND)
}

#[expect(
    dead_code,
    reason = "part of the tools API; the crash service's tests open its cores with lldb"
)]
pub fn lldb() -> Result<String, String> {
    static FOUND: OnceLock<Option<String>> = OnceLock::new();
    found(&LLDB, &FOUND)
}

/// An llvm-symbolizer with `--filter-markup`.
pub fn llvm_symbolizer() -> Result<String, String> {
    static FOUND: OnceLock<Option<String>> = OnceLock::new();
    found(&LLVM_SYMBOLIZER, &FOUND)
}

pub fn llvm_readelf() -> Result<String, String> {
    static FOUND: OnceLock<Option<String>> = OnceLock::new();
    found(&LLVM_READELF, &FOUND)
}

fn found(tool: &Tool, cache: &OnceLock<Option<String>>) -> Result<String, String> {
    cache
        .get_or_init(|| find(tool))
        .clone()
        .ok_or_else(|| missing_message(&[tool]))
}

/// Look the tool up now (no cache): the first of its names that runs and is
/// new enough.
pub fn find(tool: &Tool) -> Option<String> {
    choose(tool, version_output).map(str::to_string)
}

/// The Debian packages of the tools that are missing now, each once.
pub fn missing_packages() -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = Vec::new();
    for tool in ALL {
        if find(tool).is_none() && !packages.contains(&tool.package) {
            packages.push(tool.package);
        }
    }
    packages
}

/// The message for missing tools: what they are and the one command that
/// brings them.
pub fn missing_message(tools: &[&Tool]) -> String {
    let what: Vec<&str> = tools.iter().map(|t| t.what).collect();
    let mut packages: Vec<&str> = tools.iter().map(|t| t.package).collect();
    packages.dedup();
    format!(
        "{} missing (Debian package {}); run as root: cargo xtask setup",
        what.join(", "),
        packages.join(" ")
    )
}

/// `NAME --version`'s output, `None` when it does not run.
fn version_output(name: &str) -> Option<String> {
    let out = Command::new(name)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The first of `tool`'s names whose `--version` (as `run` answers it)
/// shows it runs and is new enough.
fn choose(tool: &Tool, run: impl Fn(&str) -> Option<String>) -> Option<&'static str> {
    tool.names.iter().copied().find(|name| {
        run(name).is_some_and(|text| {
            tool.min_version == 0 || major_version(&text).is_some_and(|v| v >= tool.min_version)
        })
    })
}

/// The major version in a `--version` text: the number after "version"
/// (`LLVM version 19.1.7`, `lldb version 19.1.7`).
fn major_version(text: &str) -> Option<u32> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(2).find_map(|pair| {
        (pair[0].eq_ignore_ascii_case("version"))
            .then(|| pair[1].split('.').next()?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLVM14: &str = "Debian LLVM version 14.0.6\n\n  Optimized build.\n";
    const LLVM19: &str = "Debian LLVM version 19.1.7\n  Optimized build.\n";

    #[test]
    fn versions_are_read_from_version_texts() {
        assert_eq!(major_version(LLVM14), Some(14));
        assert_eq!(major_version(LLVM19), Some(19));
        assert_eq!(major_version("lldb version 19.1.7"), Some(19));
        assert_eq!(major_version("GNU gdb (Debian 13.1-3) 13.1"), None);
    }

    #[test]
    fn the_versioned_name_wins_and_an_old_default_is_refused() {
        // Both present: the versioned one is first.
        let both = |name: &str| Some(if name.ends_with("19") { LLVM19 } else { LLVM14 }.into());
        assert_eq!(choose(&LLVM_SYMBOLIZER, both), Some("llvm-symbolizer-19"));
        // Only Debian's default LLVM 14: not good enough.
        let old = |name: &str| (!name.ends_with("19")).then(|| LLVM14.to_string());
        assert_eq!(choose(&LLVM_SYMBOLIZER, old), None);
        // An unversioned LLVM 19 (another distribution) is fine.
        let new = |name: &str| (!name.ends_with("19")).then(|| LLVM19.to_string());
        assert_eq!(choose(&LLVM_READELF, new), Some("llvm-readelf"));
        // gdb has no version floor.
        let gdb = |_: &str| Some("GNU gdb (Debian 13.1-3) 13.1".to_string());
        assert_eq!(choose(&GDB, gdb), Some("gdb-multiarch"));
        assert_eq!(choose(&GDB, |_: &str| None), None);
    }

    #[test]
    fn the_missing_message_names_the_fix() {
        let message = missing_message(&[&LLVM_SYMBOLIZER, &LLVM_READELF]);
        assert!(message.contains("cargo xtask setup"), "{message}");
        assert!(message.contains("llvm-19"), "{message}");
        assert!(!message.contains("llvm-19 llvm-19"), "{message}");
    }
}
