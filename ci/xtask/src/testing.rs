//! `cargo xtask test`: lints, host tests, the in-guest suites and the
//! end-to-end tests (debugger, `check`) on each architecture, reported on
//! the console and as JUnit XML and JSON (`target/test-results/` unless
//! `--junit` / `--json` say otherwise).
//!
//! Rules this module keeps:
//! - **One suite per architecture and program**: the guest's console is
//!   split at init's `init: running PROGRAM` lines (the kernel's own
//!   self-tests come first, as `ARCH/kernel`); host tests are one suite per
//!   test binary (`host/CRATE`); lints are `host/lint`.
//! - **The guest's verdict is a case too** (`ARCH/guest`): the exit status
//!   QEMU reports, so a guest that hung or crashed fails even when every
//!   line it printed said ok.
//! - The console keeps today's lines; the summary counts the cases.

use crate::console::{self, Ending};
use crate::results::{Case, Report, Suite};
use crate::{Arch, Options, cargo, check_e2e, crash, debugger, guest_dump, provision, qemu};

/// `cargo xtask test`.
pub fn run(options: &Options) -> Result<(), String> {
    let started = std::time::Instant::now();
    provision::ensure_targets(&options.arches)?;
    if options.guest_tests {
        provision::ensure_qemu(&options.arches)?;
        provision::ensure_debug_tools()?;
    }
    let mut report = Report {
        name: "test".into(),
        suites: Vec::new(),
    };
    if options.lint {
        report.suites.push(cargo::lint(&options.arches)?);
    }
    if options.host_tests {
        provision::ensure_cross_tools();
        report.suites.extend(cargo::host_tests()?);
    }
    if options.guest_tests {
        for &arch in &options.arches {
            report.suites.extend(guest_suites(arch, options)?);
            if selected(options, "debugger") {
                report.suites.push(debugger::e2e(arch, options)?);
            }
            if selected(options, "check") {
                report.suites.push(check_e2e::run(arch, options)?);
            }
            // The crash path end to end: dumps judged by stock tools.
            if guest_dump::selected(options.filter.as_deref()) {
                report.suites.push(crash::e2e(arch, options)?);
            }
            // Kernel panics and hangs: markup, marker, whole-machine cores.
            if guest_dump::selected(options.filter.as_deref()) {
                report.suites.push(guest_dump::e2e(arch, options)?);
            }
        }
    }
    let results = cargo::target_dir().join("test-results");
    let junit = options.junit.clone().unwrap_or(results.join("junit.xml"));
    let json = options.json.clone().unwrap_or(results.join("results.json"));
    report.write(Some(&junit), Some(&json))?;
    println!("\n== summary ({:.0} s)", started.elapsed().as_secs_f64());
    let mut rows: Vec<(String, usize, usize)> = Vec::new();
    for suite in &report.suites {
        let row = match (suite.arch.as_str(), suite.program.as_str()) {
            ("host", "lint") => "lint",
            (arch, _) => arch,
        };
        match rows.iter_mut().find(|r| r.0 == row) {
            Some(r) => (r.1, r.2) = (r.1 + suite.passed(), r.2 + suite.failed()),
            None => rows.push((row.to_string(), suite.passed(), suite.failed())),
        }
    }
    for (name, passed, failed) in &rows {
        println!("{name:>8}: {passed} passed, {failed} failed");
    }
    println!("results: {} and {}", junit.display(), json.display());
    let (passed, failed) = (report.passed(), report.failed());
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} failed"))
    }
}

/// Whether the end-to-end tests named `name` run under `--filter`.
fn selected(options: &Options, name: &str) -> bool {
    options
        .filter
        .as_deref()
        .is_none_or(|filter| name.contains(filter) || filter.contains(name))
}

/// Boot one architecture's kernel in test mode; its suites.
fn guest_suites(arch: Arch, options: &Options) -> Result<Vec<Suite>, String> {
    println!("\n== {} guest: in-kernel tests", arch.name());
    let kernel = cargo::build_kernel(arch, options.release)?;
    let cmdline = match &options.filter {
        Some(filter) => format!("test {filter}"),
        None => "test".to_string(),
    };
    let spec = qemu::Guest {
        arch,
        kernel: &kernel,
        cmdline: &cmdline,
        extra: &[],
        gdb: None,
        link: qemu::Link::Null,
        crashes: options.crash_dir.as_deref(),
    };
    let outcome = qemu::run(&spec, options.timeout, options.verbose)?;
    let report = qemu::TestReport::parse(&outcome.console);
    if !options.verbose {
        for line in &report.lines {
            println!("{line}");
        }
    }
    let ending = match outcome.verdict {
        qemu::Verdict::TimedOut => Ending::Hung(options.timeout),
        _ => Ending::PoweredOff,
    };
    let success = outcome.verdict == qemu::Verdict::Success;
    let mut suites = split_suites(arch, &outcome.console, success, ending);
    // The guest's verdict: the kernel powers off with success only when its
    // self-tests passed and init saw every suite exit with 0.
    let mut verdict = Case::passed("verdict");
    if !success || (report.failed == 0 && report.passed == 0) {
        let describe = outcome.describe(arch, &kernel);
        println!("FAILED {} guest: {describe}", arch.name());
        verdict = Case::failed("verdict", describe.lines().next().unwrap_or(""), &describe);
    }
    suites.push(Suite {
        arch: arch.name().into(),
        program: "guest".into(),
        cases: vec![verdict],
        run_seconds: outcome.elapsed.as_secs_f64(),
        ..Suite::default()
    });
    let passed: usize = suites.iter().map(Suite::passed).sum();
    let failed: usize = suites.iter().map(Suite::failed).sum();
    println!("{}: {passed} passed, {failed} failed", arch.name());
    Ok(suites)
}

/// The console of a test-mode guest as one suite per program: the kernel's
/// self-tests, then each program init ran (`init: running NAME`), which
/// ended with 0 unless init said otherwise (`init: NAME exited with CODE`).
/// When the guest did not succeed, the program running last did not end.
fn split_suites(arch: Arch, console: &str, success: bool, ending: Ending) -> Vec<Suite> {
    let mut segments: Vec<(String, Vec<String>, Option<i64>)> =
        vec![("kernel".into(), Vec::new(), None)];
    let mut closed = false;
    for line in console.lines() {
        if let Some(program) = line.strip_prefix("init: running ") {
            segments.push((program.trim().to_string(), Vec::new(), None));
            continue;
        }
        let Some((program, lines, exit)) = segments.last_mut() else {
            continue;
        };
        if let Some(code) = line
            .strip_prefix(&format!("init: {program} exited with "))
            .and_then(|c| c.trim().parse().ok())
        {
            *exit = Some(code);
        } else if line.starts_with("init: ") && line.contains(" suite(s) run") {
            closed = true;
        } else {
            lines.push(line.to_string());
        }
    }
    let last = segments.len() - 1;
    let mut suites = Vec::new();
    for (index, (program, lines, exit)) in segments.into_iter().enumerate() {
        let ended = index < last || closed || success;
        let run = console::Run {
            output: lines,
            started: true,
            exit_status: exit.or(ended.then_some(0)),
            ..console::Run::default()
        };
        let ending = if ended { Ending::PoweredOff } else { ending };
        let cases = console::cases(&run, &program, ending);
        suites.push(Suite {
            arch: arch.name().into(),
            program,
            cases,
            exit_status: run.exit_status,
            output: run.output.iter().map(|l| format!("{l}\n")).collect(),
            ..Suite::default()
        });
    }
    suites
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_splits_by_program() {
        let console = "\
test kernel_thing ... ok
init: running a-tests
running 2 tests: one, two
test one ... ok
test two ... FAILED: no
init: a-tests exited with 1
init: running benchmarks
init: 1 suite(s) run, 1 failed [\"a-tests\"]
";
        let suites = split_suites(Arch::X86_64, console, false, Ending::PoweredOff);
        let names: Vec<String> = suites.iter().map(Suite::name).collect();
        assert_eq!(
            names,
            ["x86_64/kernel", "x86_64/a-tests", "x86_64/benchmarks"]
        );
        assert_eq!((suites[0].passed(), suites[0].failed()), (1, 0));
        assert_eq!((suites[1].passed(), suites[1].failed()), (1, 1));
        assert_eq!((suites[2].passed(), suites[2].failed()), (1, 0));
    }

    #[test]
    fn a_guest_that_dies_fails_the_running_program() {
        let console = "init: running a-tests\nrunning 2 tests: one, two\ntest one ... ok\n";
        let suites = split_suites(Arch::Aarch64, console, false, Ending::Hung(9));
        assert_eq!((suites[1].passed(), suites[1].failed()), (1, 1));
    }
}
