//! The command line of `cargo xtask`, declared with clap's derive: each
//! command with the options it takes, each with its `--help` text.
//!
//! The spellings are a contract (the README's "Other commands", `.ci/run`
//! and the debugger's end-to-end driver use them): `--arch` takes
//! `x86_64` (or `x86-64`, `amd64`), `aarch64` (or `arm64`) or `all`;
//! `--` ends the options of `run`, `gdb` (extra QEMU arguments) and
//! `profile` (the benchmark and its count). A usage error is one line
//! naming the bad argument, exit status 2.

use crate::{Arch, Options};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Seconds a guest may run before it is killed (`--timeout`).
pub const DEFAULT_TIMEOUT: u64 = 120;
/// QEMU's gdbstub port (`gdb --port`).
pub const DEFAULT_GDB_PORT: u16 = 1234;
/// Seconds a user program's guest may run under `check` (`--timeout`).
pub const DEFAULT_CHECK_TIMEOUT: u64 = 60;

/// Spinel's host tool: build, run, test, debug and measure the kernel on
/// both architectures.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
#[command(arg_required_else_help = true, disable_version_flag = true)]
struct Cli {
    #[command(subcommand)]
    command: Subcommands,
}

#[derive(Debug, Subcommand)]
enum Subcommands {
    /// Build the kernel (and the boot image it carries) for each architecture.
    Build {
        #[command(flatten)]
        arch: ArchAll,
        #[command(flatten)]
        build: BuildFlags,
    },
    /// Boot Spinel under QEMU with the debugger agent and a crashing demo,
    /// the debugger client on the second serial line.
    Run {
        #[command(flatten)]
        arch: ArchOne,
        #[command(flatten)]
        build: BuildFlags,
        #[command(flatten)]
        guest: GuestFlags,
        /// Extra arguments for QEMU (after `--`).
        #[arg(last = true, value_name = "QEMU ARGS")]
        extra: Vec<String>,
    },
    /// Lints, host tests, then the in-guest suites on every architecture.
    Test(TestArgs),
    /// Boot halted with QEMU's gdbstub and print (or --launch) the gdb command.
    Gdb {
        #[command(flatten)]
        arch: ArchOne,
        #[command(flatten)]
        build: BuildFlags,
        /// The gdbstub's TCP port.
        #[arg(long, value_name = "N", default_value_t = DEFAULT_GDB_PORT)]
        port: u16,
        /// Start gdb-multiarch attached to the guest.
        #[arg(long)]
        launch: bool,
        /// Extra arguments for QEMU (after `--`).
        #[arg(last = true, value_name = "QEMU ARGS")]
        extra: Vec<String>,
    },
    /// Guest benchmarks under -icount: guest instructions per operation,
    /// next to Linux's figures.
    Bench {
        #[command(flatten)]
        arch: ArchAll,
        #[command(flatten)]
        guest: GuestFlags,
    },
    /// Where a benchmark's guest instructions go, by function.
    Profile {
        #[command(flatten)]
        arch: ArchOne,
        #[command(flatten)]
        guest: GuestFlags,
        /// The benchmark and, optionally, how many iterations (after `--`).
        #[arg(last = true, value_name = "BENCHMARK [COUNT]")]
        benchmark: Vec<String>,
    },
    /// Create a Spinel program crate at PATH (outside the workspace) with
    /// two example tests; `check` runs it.
    New {
        /// The new crate's directory (must not exist, or be empty).
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// Build a Spinel program crate for each architecture, run it under
    /// QEMU (-icount) and report its output, tests, guest instructions and
    /// wall time; exit status 1 when anything failed.
    Check(CheckArgs),
    /// Install what the other commands need (rustup targets, QEMU, the
    /// aarch64 cross gcc and qemu-user for the symbolizer's tests,
    /// gdb-multiarch, lldb-19 and llvm-19 for crash dumps); as root.
    Setup {
        #[command(flatten)]
        arch: ArchAll,
    },
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The program crate's directory.
    #[arg(value_name = "PATH")]
    path: PathBuf,
    #[command(flatten)]
    arch: ArchAll,
    #[command(flatten)]
    build: BuildFlags,
    /// Kill a guest that runs longer than this.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_CHECK_TIMEOUT)]
    timeout: u64,
    /// Show the whole guest console as it runs.
    #[arg(long, short = 'v')]
    verbose: bool,
    #[command(flatten)]
    reports: ReportFlags,
    /// Boot each architecture N times and fail on any difference between
    /// the runs (output, exit status, guest instructions).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// The program's arguments (after `--`; words without spaces).
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

/// Where the results go for CI systems.
#[derive(Debug, Args)]
struct ReportFlags {
    /// Write the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct TestArgs {
    #[command(flatten)]
    arch: ArchAll,
    #[command(flatten)]
    build: BuildFlags,
    #[command(flatten)]
    guest: GuestFlags,
    /// Run only the in-guest tests whose name contains TEXT.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
    /// Only the host side: lints and host tests.
    #[arg(long, conflicts_with = "guest_only")]
    host_only: bool,
    /// Only the guests (no lints, no host tests).
    #[arg(long)]
    guest_only: bool,
    /// Skip cargo fmt --check and clippy.
    #[arg(long)]
    no_lint: bool,
    /// Results for CI systems [default: target/test-results/junit.xml and .json].
    #[command(flatten)]
    reports: ReportFlags,
}

/// The architectures a command covers, all of them unless named.
#[derive(Debug, Args)]
struct ArchAll {
    /// Architecture(s) to cover [default: all].
    #[arg(long, value_enum, value_name = "ARCH")]
    arch: Option<ArchChoice>,
}

/// The one architecture a command boots, x86_64 unless named.
#[derive(Debug, Args)]
struct ArchOne {
    /// Architecture to boot [default: x86_64].
    #[arg(long, value_enum, value_name = "ARCH")]
    arch: Option<ArchChoice>,
}

#[derive(Debug, Args)]
struct BuildFlags {
    /// Optimised build (debug info is kept).
    #[arg(long)]
    release: bool,
}

#[derive(Debug, Args)]
struct GuestFlags {
    /// Kill a guest that runs longer than this; run: how long the client
    /// waits for the demo to stop.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_TIMEOUT)]
    timeout: u64,
    /// Show the whole guest console as it runs.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Where files the guest sends (crash dumps) go [default:
    /// target/<arch>-unknown-none/<profile>/crashes].
    #[arg(long, value_name = "DIR")]
    crash_dir: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ArchChoice {
    #[value(name = "x86_64", alias = "x86-64", alias = "amd64")]
    X86_64,
    #[value(name = "aarch64", alias = "arm64")]
    Aarch64,
    #[value(name = "all")]
    All,
}

impl ArchChoice {
    fn arches(choice: Option<ArchChoice>, default: &[Arch]) -> Vec<Arch> {
        match choice {
            None => default.to_vec(),
            Some(ArchChoice::X86_64) => vec![Arch::X86_64],
            Some(ArchChoice::Aarch64) => vec![Arch::Aarch64],
            Some(ArchChoice::All) => Arch::ALL.to_vec(),
        }
    }
}

/// What to do, once the options are in [`Options`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Build,
    Run,
    Test,
    Gdb,
    Bench,
    Profile,
    Setup,
    New,
    Check,
}

/// Parse the command line (program name first). On `--help` the help is
/// printed and `Err(SUCCESS)` returned; on a usage error, one line on
/// stderr and `Err` with status 2.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<(Command, Options), ExitCode> {
    let args: Vec<OsString> = args.into_iter().collect();
    match Cli::try_parse_from(&args) {
        Ok(cli) => Ok(cli.into_options()),
        Err(error) => {
            let command = args
                .get(1)
                .and_then(|a| a.to_str())
                .filter(|a| COMMANDS.contains(a));
            Err(report(&error, command))
        }
    }
}

/// The command names, for pointing a usage error at the right `--help`.
const COMMANDS: [&str; 9] = [
    "build", "run", "test", "gdb", "bench", "profile", "setup", "new", "check",
];

/// Print help as clap renders it; squeeze an error into one line.
fn report(error: &clap::Error, command: Option<&str>) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            // No command at all is a usage error, with the help as its text.
            if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            let help = match command {
                Some(command) => format!("cargo xtask {command} --help"),
                None => "cargo xtask --help".to_string(),
            };
            eprintln!(
                "xtask: {} (see `{help}`)",
                one_line(&error.render().to_string())
            );
            ExitCode::from(2)
        }
    }
}

/// clap's error text without its usage and hint lines, on one line.
fn one_line(text: &str) -> String {
    let mut parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| {
            !line.is_empty()
                && !line.starts_with("Usage:")
                && !line.starts_with("For more information")
        })
        .collect();
    if let Some(first) = parts.first_mut() {
        *first = first.strip_prefix("error: ").unwrap_or(first);
    }
    parts.join(" ")
}

impl Cli {
    fn into_options(self) -> (Command, Options) {
        let single = [Arch::X86_64];
        let mut options = Options::default();
        let guest = |options: &mut Options, guest: GuestFlags| {
            options.timeout = guest.timeout;
            options.verbose = guest.verbose;
            options.crash_dir = guest.crash_dir;
        };
        let command = match self.command {
            Subcommands::Build { arch, build } => {
                options.arches = ArchChoice::arches(arch.arch, &Arch::ALL);
                options.release = build.release;
                Command::Build
            }
            Subcommands::Run {
                arch,
                build,
                guest: g,
                extra,
            } => {
                options.arches = ArchChoice::arches(arch.arch, &single);
                options.release = build.release;
                guest(&mut options, g);
                options.extra = extra;
                Command::Run
            }
            Subcommands::Test(test) => {
                options.arches = ArchChoice::arches(test.arch.arch, &Arch::ALL);
                options.release = test.build.release;
                guest(&mut options, test.guest);
                options.filter = test.filter;
                options.guest_tests = !test.host_only;
                options.host_tests = !test.guest_only;
                options.lint = !test.guest_only && !test.no_lint;
                options.junit = test.reports.junit;
                options.json = test.reports.json;
                Command::Test
            }
            Subcommands::Gdb {
                arch,
                build,
                port,
                launch,
                extra,
            } => {
                options.arches = ArchChoice::arches(arch.arch, &single);
                options.release = build.release;
                options.gdb_port = port;
                options.launch_gdb = launch;
                options.extra = extra;
                Command::Gdb
            }
            Subcommands::Bench { arch, guest: g } => {
                options.arches = ArchChoice::arches(arch.arch, &Arch::ALL);
                guest(&mut options, g);
                Command::Bench
            }
            Subcommands::Profile {
                arch,
                guest: g,
                benchmark,
            } => {
                options.arches = ArchChoice::arches(arch.arch, &single);
                guest(&mut options, g);
                options.extra = benchmark;
                Command::Profile
            }
            Subcommands::New { path } => {
                options.path = Some(path);
                Command::New
            }
            Subcommands::Check(check) => {
                options.path = Some(check.path);
                options.arches = ArchChoice::arches(check.arch.arch, &Arch::ALL);
                options.release = check.build.release;
                options.timeout = check.timeout;
                options.verbose = check.verbose;
                options.junit = check.reports.junit;
                options.json = check.reports.json;
                options.repeat = check.repeat;
                options.extra = check.args;
                Command::Check
            }
            Subcommands::Setup { arch } => {
                options.arches = ArchChoice::arches(arch.arch, &Arch::ALL);
                Command::Setup
            }
        };
        (command, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(line: &str) -> (Command, Options) {
        let args = std::iter::once("xtask")
            .chain(line.split_whitespace())
            .map(OsString::from);
        let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{line}: {e}"));
        cli.into_options()
    }

    fn parse_err(line: &str) -> String {
        let args = std::iter::once("xtask")
            .chain(line.split_whitespace())
            .map(OsString::from);
        let error = Cli::try_parse_from(args).expect_err(line);
        one_line(&error.render().to_string())
    }

    #[test]
    fn the_documented_command_lines_parse() {
        let (command, o) = parse_ok("test");
        assert_eq!(command, Command::Test);
        assert_eq!(o.arches, Arch::ALL);
        assert!(o.lint && o.host_tests && o.guest_tests);
        let (_, o) = parse_ok("test --arch x86_64 --guest-only --filter exc --verbose");
        assert_eq!(o.arches, [Arch::X86_64]);
        assert!(!o.lint && !o.host_tests && o.guest_tests);
        assert_eq!(o.filter.as_deref(), Some("exc"));
        assert!(o.verbose);
        let (_, o) = parse_ok("test --host-only --no-lint");
        assert!(!o.lint && o.host_tests && !o.guest_tests);
        let (command, o) = parse_ok("run --arch arm64 --release --timeout 30 -- -s -S");
        assert_eq!(command, Command::Run);
        assert_eq!(o.arches, [Arch::Aarch64]);
        assert!(o.release);
        assert_eq!(o.timeout, 30);
        assert_eq!(o.extra, ["-s", "-S"]);
        let (_, o) = parse_ok("run");
        assert_eq!((o.arches.as_slice(), o.timeout), (&[Arch::X86_64][..], 120));
        let (_, o) = parse_ok("gdb --arch aarch64 --launch --port 4321");
        assert!(o.launch_gdb);
        assert_eq!(o.gdb_port, 4321);
        let (command, o) = parse_ok("profile --arch aarch64 -- null_syscall 100");
        assert_eq!(command, Command::Profile);
        assert_eq!(o.extra, ["null_syscall", "100"]);
        assert_eq!(parse_ok("bench").1.arches, Arch::ALL);
        assert_eq!(parse_ok("build --arch all --release").1.arches, Arch::ALL);
        assert_eq!(parse_ok("setup").0, Command::Setup);
        assert_eq!(parse_ok("test -v --arch amd64").1.arches, [Arch::X86_64]);
        let (command, o) = parse_ok(
            "check ../hello --arch aarch64 --release --timeout 9 --junit j.xml --json r.json --repeat 3 -- a b",
        );
        assert_eq!(command, Command::Check);
        assert_eq!(o.path.as_deref(), Some(std::path::Path::new("../hello")));
        assert_eq!(
            (o.arches.as_slice(), o.release, o.timeout),
            (&[Arch::Aarch64][..], true, 9)
        );
        assert_eq!(o.junit.as_deref(), Some(std::path::Path::new("j.xml")));
        assert_eq!(o.json.as_deref(), Some(std::path::Path::new("r.json")));
        assert_eq!(
            (o.repeat, o.extra.as_slice()),
            (3, &["a".to_string(), "b".into()][..])
        );
        let (_, o) = parse_ok("check ../hello");
        assert_eq!((o.arches.as_slice(), o.repeat), (&Arch::ALL[..], 1));
        let (command, o) = parse_ok("new ../hello");
        assert_eq!(command, Command::New);
        assert_eq!(o.path.as_deref(), Some(std::path::Path::new("../hello")));
    }

    #[test]
    fn usage_errors_are_one_line_naming_the_argument() {
        for (line, named) in [
            ("test --bogus", "--bogus"),
            ("frobnicate", "frobnicate"),
            ("build --arch mips", "mips"),
            ("run --timeout soon", "soon"),
            ("test --host-only --guest-only", "--guest-only"),
            ("gdb --port", "--port"),
            ("check ../hello --repeat 0", "0"),
            ("check", "PATH"),
            ("new", "PATH"),
        ] {
            let message = parse_err(line);
            assert!(!message.contains('\n'), "{line}: {message}");
            assert!(message.contains(named), "{line}: {message}");
        }
    }

    #[test]
    fn every_command_has_help() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        for command in COMMANDS {
            let error = Cli::try_parse_from(["xtask", command, "--help"]).unwrap_err();
            assert_eq!(error.kind(), clap::error::ErrorKind::DisplayHelp);
        }
    }
}
