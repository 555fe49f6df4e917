//! `cargo xtask`: Spinel's single host-side entry point.
//!
//! Builds the kernel and the user programs for each architecture with one
//! `cargo build --target` per crate, provisions what a fresh machine lacks
//! (rustup targets, QEMU), boots the result under QEMU with a timeout, and
//! turns guest output and QEMU exit codes into verdicts.
//!
//! Rules this crate keeps:
//! - **One command line, declared once** (`cli.rs`, clap's derive): every
//!   command and option has its `--help`; a usage error is one line naming
//!   the bad argument and exits with 2, never a panic or a backtrace.
//! - **Failures are messages**: every step returns `Result<_, String>` and
//!   `main` prints `xtask: <message>` and exits with 1.
//! - **Verdicts by exit code**: a guest passes only when QEMU exits with the
//!   success code; the console is kept for the report.
//! - Host crates only; no `unsafe`.

mod bench;
mod cargo;
mod cli;
mod crash;
mod crash_files;
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
}

/// Options shared by the subcommands, whatever the command line named.
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
    /// Where the guest's files (crash dumps) go; `None`: the profile's
    /// `crashes/` directory.
    pub crash_dir: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            arches: Arch::ALL.to_vec(),
            release: false,
            timeout: cli::DEFAULT_TIMEOUT,
            verbose: false,
            filter: None,
            host_tests: true,
            guest_tests: true,
            lint: true,
            gdb_port: cli::DEFAULT_GDB_PORT,
            launch_gdb: false,
            extra: Vec::new(),
            crash_dir: None,
        }
    }
}

fn main() -> ExitCode {
    let (command, options) = match cli::parse(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(exit) => return exit,
    };
    let result = match command {
        cli::Command::Build => cmd_build(&options),
        cli::Command::Run => cmd_run(&options),
        cli::Command::Test => cmd_test(&options),
        cli::Command::Gdb => cmd_gdb(&options),
        cli::Command::Bench => bench::run(&options),
        cli::Command::Profile => profile::run(&options),
        cli::Command::Setup => provision::setup(&options.arches),
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
            // The crash path end to end: dumps judged by stock tools.
            if options
                .filter
                .as_deref()
                .is_none_or(|filter| "crash".contains(filter) || filter.contains("crash"))
            {
                let (p, f) = crash::e2e(arch, options)?;
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
        crashes: options.crash_dir.as_deref(),
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
        crashes: None,
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
