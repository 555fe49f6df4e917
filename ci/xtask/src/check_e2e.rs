//! The end-to-end tests of `cargo xtask new` and `cargo xtask check`, one
//! suite per architecture (`ARCH/check`) in `cargo xtask test`.
//!
//! Rules this module keeps:
//! - **As a user runs them**: each test runs this very xtask binary as a
//!   child (`check PATH --arch ARCH ...`) and judges its exit status, its
//!   last lines and the files it wrote, never its internals.
//! - **The fixtures are crates outside the workspace** (`ci/fixtures/`):
//!   `user-program` (one test passes, one fails an assertion, one crashes
//!   with a page fault; `hang` spins forever), `does-not-build`,
//!   `not-spinel`. Scratch files go to `target/tmp/check-e2e/ARCH/`.
//! - **JUnit is read by a maintained parser** (`junitparser`, provisioned
//!   in `target/tools/python`) and must say what the JSON says; without it
//!   that comparison prints SKIPPED.
//! - Bad input must be one line on stderr, `xtask: ...` naming the cause,
//!   exit status 1, and never a panic or a backtrace.

use crate::results::{Case, Suite};
use crate::{Arch, Options, cargo, provision};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What the tests share.
struct Context {
    arch: Arch,
    release: bool,
    fixtures: PathBuf,
    scratch: PathBuf,
}

/// A finished `cargo xtask` child.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn last_stdout(&self) -> &str {
        self.stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }

    fn last_stderr(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }

    /// Exit status 1 and a one-line `xtask:` error containing `cause`.
    fn refused(&self, cause: &str) -> Result<(), String> {
        let last = self.last_stderr();
        if self.code != Some(1) || !last.starts_with("xtask: ") || !last.contains(cause) {
            return Err(format!(
                "expected exit status 1 and `xtask: ...{cause}...`, got {:?} and `{last}`",
                self.code
            ));
        }
        for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
            if self.stderr.contains(bad) {
                return Err(format!("stderr shows a panic ({bad}): {}", self.stderr));
            }
        }
        Ok(())
    }
}

type Test = fn(&Context) -> Result<(), String>;

const TESTS: &[(&str, Test)] = &[
    ("check_fixture_pass_fail_crash", fixture),
    ("check_new_program_passes", new_program),
    ("check_missing_path", missing_path),
    ("check_does_not_build", does_not_build),
    ("check_not_spinel", not_spinel),
    ("check_hang_killed_at_timeout", hang),
    ("new_refuses_a_non_empty_directory", new_refuses),
];

/// The suite `ARCH/check`.
pub fn run(arch: Arch, options: &Options) -> Result<Suite, String> {
    println!("\n== {} guest: new and check end to end", arch.name());
    let started = Instant::now();
    let root = cargo::workspace_root();
    let context = Context {
        arch,
        release: options.release,
        fixtures: root.join("ci/fixtures"),
        scratch: cargo::target_dir().join("tmp/check-e2e").join(arch.name()),
    };
    let _ = std::fs::remove_dir_all(&context.scratch);
    std::fs::create_dir_all(&context.scratch)
        .map_err(|e| format!("cannot create {}: {e}", context.scratch.display()))?;
    let mut cases = Vec::new();
    for (name, test) in TESTS {
        match test(&context) {
            Ok(()) => {
                println!("test {name} ... ok");
                cases.push(Case::passed(name));
            }
            Err(reason) => {
                let line = reason.replace('\n', " | ");
                println!("test {name} ... FAILED: {line}");
                cases.push(Case::failed(name, &line, &reason));
            }
        }
    }
    let suite = Suite {
        arch: arch.name().into(),
        program: "check".into(),
        cases,
        run_seconds: started.elapsed().as_secs_f64(),
        ..Suite::default()
    };
    println!(
        "{}: check {} passed, {} failed ({:.0} s)",
        arch.name(),
        suite.passed(),
        suite.failed(),
        suite.run_seconds
    );
    Ok(suite)
}

/// Run this xtask with `args`.
fn xtask(context: &Context, args: &[&str]) -> Result<Ran, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the xtask binary: {e}"))?;
    let mut command = Command::new(exe);
    command.args(args);
    if context.release && args.first() == Some(&"check") {
        command.arg("--release");
    }
    command.current_dir(cargo::workspace_root());
    let out = command
        .output()
        .map_err(|e| format!("cannot run the xtask: {e}"))?;
    Ok(Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn check(context: &Context, path: &Path, more: &[&str]) -> Result<Ran, String> {
    let path = path.display().to_string();
    let mut args = vec!["check", path.as_str(), "--arch", context.arch.name()];
    args.extend(more);
    xtask(context, &args)
}

/// The fixture: exactly one passed, one failed assertion, one crash; exit
/// status 1; JUnit and JSON that parse and agree.
fn fixture(context: &Context) -> Result<(), String> {
    let junit = context.scratch.join("fixture.xml");
    let json = context.scratch.join("fixture.json");
    let (junit_arg, json_arg) = (junit.display().to_string(), json.display().to_string());
    let program = context.fixtures.join("user-program");
    let ran = check(
        context,
        &program,
        &["--junit", &junit_arg, "--json", &json_arg],
    )?;
    if ran.code != Some(1) || ran.last_stdout() != "1 passed, 2 failed" {
        return Err(format!(
            "expected exit status 1 and `1 passed, 2 failed` last, got {:?} and `{}`",
            ran.code,
            ran.last_stdout()
        ));
    }
    let text = std::fs::read_to_string(&json).map_err(|e| format!("{}: {e}", json.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))?;
    let suite = &value["suites"][0];
    let name = format!("{}/user-program", context.arch.name());
    let cases = json_cases(&value);
    let expected = [
        (name.clone(), "passes".to_string(), "passed".to_string()),
        (name.clone(), "fails_assertion".into(), "failed".into()),
        (name.clone(), "crashes".into(), "failed".into()),
    ];
    if cases != expected {
        return Err(format!("the JSON says {cases:?}, expected {expected:?}"));
    }
    let crash_reason = suite["tests"][2]["reason"].as_str().unwrap_or("");
    if !crash_reason.contains("killed") || suite["exit_status"] != -1028 {
        return Err(format!(
            "the crash should kill the process (-1028): `{crash_reason}`, {}",
            suite["exit_status"]
        ));
    }
    if suite["guest_instructions"].as_u64().is_none_or(|n| n == 0) {
        return Err("the JSON has no guest instruction count".into());
    }
    crash_reported(context, &suite["crashes"])?;
    match junit_cases(&junit) {
        Ok(from_xml) if from_xml == cases => Ok(()),
        Ok(from_xml) => Err(format!("JUnit says {from_xml:?}, JSON says {cases:?}")),
        Err(Skip(why)) => {
            println!("  (JUnit parsing SKIPPED: {why})");
            Ok(())
        }
    }
}

/// The crash service's report of the `crashes` test, in the JSON, with a
/// core that gdb opens and whose backtrace names the crashing function.
fn crash_reported(context: &Context, crashes: &serde_json::Value) -> Result<(), String> {
    let [crash] = crashes.as_array().map(Vec::as_slice).unwrap_or(&[]) else {
        return Err(format!("expected one crash report, got {crashes}"));
    };
    if crash["test"] != "crashes" {
        return Err(format!("the crash is not attributed to `crashes`: {crash}"));
    }
    let report = crash["report"].as_str().unwrap_or("");
    if !report.contains("user_program::crashes") {
        return Err(format!("the report does not name the function:\n{report}"));
    }
    let core = crash["core"].as_str().unwrap_or("");
    let elf = cargo::target_dir()
        .join("check")
        .join(context.arch.target())
        .join("debug")
        .join("user-program");
    let gdb = crate::tools::gdb()?;
    let out = std::process::Command::new(gdb)
        .args(["-nx", "-batch", "-ex", "bt"])
        .arg(&elf)
        .arg(core)
        .output()
        .map_err(|e| format!("gdb: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !text.contains("user_program::crashes") {
        return Err(format!(
            "gdb's backtrace of {core} does not name user_program::crashes:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// (classname, name, status) of every test case of a JSON report.
fn json_cases(value: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut cases = Vec::new();
    for suite in value["suites"].as_array().into_iter().flatten() {
        for test in suite["tests"].as_array().into_iter().flatten() {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
            cases.push((
                text(&test["classname"]),
                text(&test["name"]),
                text(&test["status"]),
            ));
        }
    }
    cases
}

/// Why a check could not run (not a failure).
struct Skip(String);

/// Read a JUnit file with junitparser: (classname, name, status) of each
/// case; `Err(Skip)` when the parser cannot be provisioned. A file it
/// cannot parse is reported as one case with status `unparsable: ...`.
fn junit_cases(path: &Path) -> Result<Vec<(String, String, String)>, Skip> {
    let bin = provision::python_tools().map_err(Skip)?;
    const SCRIPT: &str = r#"
import json, sys
from junitparser import JUnitXml, Failure, Skipped, Error
xml = JUnitXml.fromfile(sys.argv[1])
cases = []
for suite in xml:
    for case in suite:
        status = "passed"
        for result in case.result:
            if isinstance(result, (Failure, Error)):
                status = "failed"
            elif isinstance(result, Skipped):
                status = "skipped"
        if case.classname != suite.name:
            status = "classname %s is not the suite %s" % (case.classname, suite.name)
        cases.append([case.classname, case.name, status])
print(json.dumps(cases))
"#;
    let out = Command::new(bin.join("python"))
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .map_err(|e| Skip(format!("cannot run python: {e}")))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).replace('\n', " | ");
        return Ok(vec![(
            String::new(),
            String::new(),
            format!("unparsable: {why}"),
        )]);
    }
    let cases: Vec<(String, String, String)> =
        serde_json::from_slice(&out.stdout).unwrap_or_default();
    Ok(cases)
}

/// `new` into a scratch directory, then `check` passes as created.
fn new_program(context: &Context) -> Result<(), String> {
    let dir = context.scratch.join("hello");
    let dir_arg = dir.display().to_string();
    let created = xtask(context, &["new", &dir_arg])?;
    if created.code != Some(0) {
        return Err(format!("new failed: {}", created.last_stderr()));
    }
    let started = Instant::now();
    let ran = check(context, &dir, &[])?;
    if ran.code != Some(0) || ran.last_stdout() != "2 passed, 0 failed" {
        return Err(format!(
            "expected exit status 0 and `2 passed, 0 failed` last, got {:?} and `{}`; {}",
            ran.code,
            ran.last_stdout(),
            ran.last_stderr()
        ));
    }
    let figures = ran
        .stdout
        .lines()
        .find(|l| l.contains("guest instructions"))
        .unwrap_or("");
    println!(
        "  check of a new program: {:.1} s wall; {figures}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn missing_path(context: &Context) -> Result<(), String> {
    check(context, &context.scratch.join("no-such-program"), &[])?
        .refused("no such file or directory")
}

fn does_not_build(context: &Context) -> Result<(), String> {
    check(context, &context.fixtures.join("does-not-build"), &[])?.refused("does not build")
}

fn not_spinel(context: &Context) -> Result<(), String> {
    check(context, &context.fixtures.join("not-spinel"), &[])?.refused("is not a Spinel program")
}

/// A program that never ends: killed at `--timeout`, one failed case.
fn hang(context: &Context) -> Result<(), String> {
    let program = context.fixtures.join("user-program");
    let ran = check(context, &program, &["--timeout", "5", "--", "hang"])?;
    ran.refused("check failed")?;
    if ran.last_stdout() != "0 passed, 1 failed" || !ran.stdout.contains("hung; killed after 5 s") {
        return Err(format!(
            "expected the hang reported and `0 passed, 1 failed` last, got `{}`",
            ran.last_stdout()
        ));
    }
    // The hung guest's whole-machine core, listed with its gdb command.
    let core = ran
        .stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("core: "))
        .ok_or_else(|| format!("no whole-machine core listed:\n{}", ran.stdout))?;
    if !Path::new(core).is_file() || !ran.stdout.contains("gdb-multiarch ") {
        return Err(format!(
            "the hang's core {core} is missing or has no gdb command"
        ));
    }
    Ok(())
}

fn new_refuses(context: &Context) -> Result<(), String> {
    let existing = context.fixtures.join("user-program").display().to_string();
    xtask(context, &["new", &existing])?.refused("already exists and is not empty")
}
