//! `cargo xtask`: Spinel's single host-side entry point.
//!
//! Builds the kernel (and, later, userspace) for each architecture with one
//! `cargo build --target` per crate, provisions what a fresh machine lacks
//! (rustup targets, QEMU), boots the result under QEMU with a timeout, and
//! turns guest output and QEMU exit codes into verdicts.

mod bench;
mod cargo;
mod debugger;
mod profile;
mod provision;
mod qemu;

use std::process::ExitCode;

/// The architectures Spinel runs on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    pub fn target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-none",
            Arch::Aarch64 => "aarch64-unknown-none",
        }
    }

    fn parse(text: &str) -> Result<Vec<Arch>, String> {
        match text {
            "x86_64" | "x86-64" | "amd64" => Ok(vec![Arch::X86_64]),
            "aarch64" | "arm64" => Ok(vec![Arch::Aarch64]),
            "all" => Ok(Arch::ALL.to_vec()),
            other => Err(format!(
                "unknown architecture `{other}`: use x86_64, aarch64 or all"
            )),
        }
    }
}

/// Options shared by the subcommands.
#[derive(Debug)]
pub struct Options {
    pub arches: Vec<Arch>,
    pub release: bool,
    /// Seconds a guest may run before it is killed and reported as hung.
    pub timeout: u64,
    pub verbose: bool,
    /// Test-name filter passed to the guest.
    pub filter: Option<String>,
    pub host_tests: bool,
    pub guest_tests: bool,
    pub lint: bool,
    pub gdb_port: u16,
    pub launch_gdb: bool,
    pub extra: Vec<String>,
}

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  build     build the kernel for each architecture
  run       boot Spinel under QEMU with the debugger agent and a crashing demo,
            the debugger client on the second serial line (x86_64 unless --arch)
  test      host tests, lints, then the in-guest suites on every architecture
  gdb       boot halted with QEMU's gdbstub and print (or --launch) the gdb command
  bench     guest benchmarks under -icount (guest instructions per operation)
  profile   where a benchmark's guest instructions go, by function (-- NAME [COUNT])
  setup     install what the other commands need (rustup targets, QEMU, and the
            aarch64 cross gcc and qemu-user for the symbolizer's tests)

options:
  --arch x86_64|aarch64|all   architecture(s) (default: run/gdb x86_64, build/test all)
  --release                   optimised build (debug info is kept)
  --timeout SECONDS           kill a guest that runs longer (default 120); run: how
                              long the client waits for the demo to stop
  --filter TEXT               test: run only in-guest tests whose name contains TEXT
  --host-only / --guest-only  test: only the host side / only the guests
  --no-lint                   test: skip cargo fmt --check and clippy
  --verbose                   show the whole guest console as it runs
  --port N                    gdb: the gdbstub port (default 1234)
  --launch                    gdb: start gdb-multiarch attached to the guest
  -- ARGS                     run: extra arguments for QEMU";

fn parse(args: &[String], default_arches: &[Arch]) -> Result<Options, String> {
    let mut options = Options {
        arches: default_arches.to_vec(),
        release: false,
        timeout: 120,
        verbose: false,
        filter: None,
        host_tests: true,
        guest_tests: true,
        lint: true,
        gdb_port: 1234,
        launch_gdb: false,
        extra: Vec::new(),
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--arch" => options.arches = Arch::parse(&value("--arch")?)?,
            "--release" => options.release = true,
            "--timeout" => {
                options.timeout = value("--timeout")?
                    .parse()
                    .map_err(|_| "--timeout takes whole seconds".to_string())?
            }
            "--filter" => options.filter = Some(value("--filter")?),
            "--host-only" => options.guest_tests = false,
            "--guest-only" => {
                options.host_tests = false;
                options.lint = false;
            }
            "--no-lint" => options.lint = false,
            "--verbose" | "-v" => options.verbose = true,
            "--port" => {
                options.gdb_port = value("--port")?
                    .parse()
                    .map_err(|_| "--port takes a number".to_string())?
            }
            "--launch" => options.launch_gdb = true,
            "--" => {
                options.extra = iter.cloned().collect();
                break;
            }
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let single = [Arch::X86_64];
    let result = match command.as_str() {
        "build" => parse(&args[1..], &Arch::ALL).and_then(|o| cmd_build(&o)),
        "run" => parse(&args[1..], &single).and_then(|o| cmd_run(&o)),
        "test" => parse(&args[1..], &Arch::ALL).and_then(|o| cmd_test(&o)),
        "gdb" => parse(&args[1..], &single).and_then(|o| cmd_gdb(&o)),
        "bench" => parse(&args[1..], &Arch::ALL).and_then(|o| bench::run(&o)),
        "profile" => parse(&args[1..], &single).and_then(|o| profile::run(&o)),
        "setup" => parse(&args[1..], &Arch::ALL).and_then(|o| provision::setup(&o.arches)),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn cmd_build(options: &Options) -> Result<(), String> {
    provision::ensure_targets(&options.arches)?;
    for &arch in &options.arches {
        let kernel = cargo::build_kernel(arch, options.release)?;
        println!("{}: {}", arch.name(), kernel.display());
    }
    Ok(())
}

fn single_arch(options: &Options) -> Result<Arch, String> {
    match options.arches.as_slice() {
        [arch] => Ok(*arch),
        _ => {
            Err("this command boots one architecture: give --arch x86_64 or --arch aarch64".into())
        }
    }
}

/// Boot with the debugger agent and the demo, and the debugger client on
/// the second serial line (see `debugger.rs`).
fn cmd_run(options: &Options) -> Result<(), String> {
    let arch = single_arch(options)?;
    provision::ensure_targets(&[arch])?;
    provision::ensure_qemu(&[arch])?;
    debugger::run(arch, options)
}

fn cmd_test(options: &Options) -> Result<(), String> {
    let started = std::time::Instant::now();
    provision::ensure_targets(&options.arches)?;
    if options.guest_tests {
        provision::ensure_qemu(&options.arches)?;
    }
    let mut rows: Vec<(String, usize, usize)> = Vec::new();
    if options.lint {
        let (passed, failed) = cargo::lint(&options.arches)?;
        rows.push(("lint".into(), passed, failed));
    }
    if options.host_tests {
        provision::ensure_cross_tools();
        let (passed, failed) = cargo::host_tests()?;
        rows.push(("host".into(), passed, failed));
    }
    if options.guest_tests {
        for &arch in &options.arches {
            let (mut passed, mut failed) = guest_suite(arch, options)?;
            // The debugger end to end: the client driving the agent.
            if options
                .filter
                .as_deref()
                .is_none_or(|filter| "debugger".contains(filter) || filter.contains("debugger"))
            {
                let (p, f) = debugger::e2e(arch, options)?;
                passed += p;
                failed += f;
            }
            rows.push((arch.name().into(), passed, failed));
        }
    }
    println!("\n== summary ({:.0} s)", started.elapsed().as_secs_f64());
    for (name, passed, failed) in &rows {
        println!("{name:>8}: {passed} passed, {failed} failed");
    }
    let passed: usize = rows.iter().map(|r| r.1).sum();
    let failed: usize = rows.iter().map(|r| r.2).sum();
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} failed"))
    }
}

/// Boot one architecture's kernel in test mode and count its verdicts.
fn guest_suite(arch: Arch, options: &Options) -> Result<(usize, usize), String> {
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
    };
    let outcome = qemu::run(&spec, options.timeout, options.verbose)?;
    let report = qemu::TestReport::parse(&outcome.console);
    if !options.verbose {
        for line in &report.lines {
            println!("{line}");
        }
    }
    let mut failed = report.failed;
    let passed = report.passed;
    // Every suite prints its own `N passed, M failed`; the guest's verdict
    // is the exit status: the kernel powers off with success only when its
    // self-tests passed and init saw every suite exit with 0. A guest that
    // hung, crashed or failed without a FAILED line is one more failure.
    if outcome.verdict != qemu::Verdict::Success || (report.failed == 0 && report.passed == 0) {
        failed += 1;
        println!(
            "FAILED {} guest: {}",
            arch.name(),
            outcome.describe(arch, &kernel)
        );
    }
    println!("{}: {passed} passed, {failed} failed", arch.name());
    Ok((passed, failed))
}

fn cmd_gdb(options: &Options) -> Result<(), String> {
    let arch = single_arch(options)?;
    provision::ensure_targets(&[arch])?;
    provision::ensure_qemu(&[arch])?;
    let kernel = cargo::build_kernel(arch, options.release)?;
    let gdb_command = qemu::gdb_command(arch, &kernel, options.gdb_port);
    let spec = qemu::Guest {
        arch,
        kernel: &kernel,
        cmdline: "",
        extra: &options.extra,
        gdb: Some(options.gdb_port),
        link: qemu::Link::Null,
    };
    if options.launch_gdb {
        provision::ensure_gdb()?;
        let mut guest = qemu::spawn_detached(&spec)?;
        let status = std::process::Command::new(&gdb_command[0])
            .args(&gdb_command[1..])
            .status();
        let _ = guest.kill();
        let _ = guest.wait();
        status.map_err(|e| format!("cannot start {}: {e}", gdb_command[0]))?;
        Ok(())
    } else {
        println!(
            "QEMU is halted at the first instruction with its gdbstub on port {}.",
            options.gdb_port
        );
        println!(
            "In another terminal:\n\n  {}\n",
            qemu::shell_quote(&gdb_command)
        );
        println!("(Ctrl-C here stops QEMU.)");
        let outcome = qemu::run(&spec, u64::MAX / 4, true)?;
        let _ = outcome;
        Ok(())
    }
}
