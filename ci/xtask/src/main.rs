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
mod check;
mod check_e2e;
mod cli;
mod console;
mod crash;
mod crash_files;
mod debugger;
mod guest_dump;
mod new;
mod profile;
mod provision;
mod qemu;
mod qmp;
mod results;
mod testing;
mod tools;

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
    /// `new` / `check`: the program crate's directory.
    pub path: Option<std::path::PathBuf>,
    /// Where the JUnit XML and JSON results go.
    pub junit: Option<std::path::PathBuf>,
    pub json: Option<std::path::PathBuf>,
    /// `check --repeat`: boots per architecture.
    pub repeat: u32,
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
            path: None,
            junit: None,
            json: None,
            repeat: 1,
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
        cli::Command::Test => testing::run(&options),
        cli::Command::Gdb => cmd_gdb(&options),
        cli::Command::Bench => bench::run(&options),
        cli::Command::Profile => profile::run(&options),
        cli::Command::Setup => provision::setup(&options.arches),
        cli::Command::New => match &options.path {
            Some(path) => new::run(path),
            None => Err("new needs a path".into()),
        },
        cli::Command::Check => check::run(&options),
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
