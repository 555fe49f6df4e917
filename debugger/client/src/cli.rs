//! `spinel-debug`'s command line (clap, derive).
//!
//! The spelling of every flag is a contract: `cargo xtask run` and the
//! end-to-end tests (`ci/xtask/src/debugger.rs`) start the client with
//! `--connect`, `--retry`, `--wait-stop`, `--timeout`, `--batch` and
//! `--json`, and `symbolize` takes llvm-symbolizer's own options so that
//! scripts can swap one for the other. `--help` on stdout with status 0;
//! a bad argument is named on stderr with status 2.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The Spinel debugger's host client: an interactive debugger (REPL), a
/// batch runner for scripts and CI, and an llvm-symbolizer drop-in.
#[derive(Parser, Debug)]
#[command(name = "spinel-debug", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Tool>,
    #[command(flatten)]
    pub session: SessionArgs,
}

#[derive(Subcommand, Debug)]
pub enum Tool {
    /// Print each address's function and file:line:column, innermost
    /// inlined frame first, exactly as llvm-symbolizer does.
    ///
    /// Without addresses, reads them from standard input, one per line
    /// (`CODE ADDR` and `DATA ADDR` also work).
    Symbolize(SymbolizeArgs),
}

/// Options of a debugging session (the REPL or `--batch`).
#[derive(Args, Debug)]
pub struct SessionArgs {
    /// The agent: HOST:PORT, tcp:HOST:PORT, or a serial device / pty path
    /// (QEMU's second serial line).
    #[arg(long, value_name = "TARGET", default_value = "127.0.0.1:5555")]
    pub connect: String,
    /// Talk to an in-process fake agent debugging ELF instead.
    #[arg(long = "fake-agent", value_name = "ELF")]
    pub fake_agent: Option<PathBuf>,
    /// Run commands from FILE, or standard input without one, instead of
    /// the REPL (exit status 1 if any command failed).
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub batch: Option<Option<PathBuf>>,
    /// Batch output as JSON lines.
    #[arg(long)]
    pub json: bool,
    /// No colour even on a terminal (NO_COLOR is honoured too).
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// How long to wait for each answer.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = positive_seconds)]
    pub timeout: Duration,
    /// Keep trying to connect this long (the agent's machine may still be
    /// starting).
    #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = seconds)]
    pub retry: Duration,
    /// First wait this long for a thread to stop, showing it (then the
    /// REPL, or the batch commands).
    #[arg(long = "wait-stop", value_name = "SECONDS", value_parser = seconds)]
    pub wait_stop: Option<Duration>,
}

/// `symbolize`'s options: llvm-symbolizer's spelling.
#[derive(Args, Debug)]
pub struct SymbolizeArgs {
    /// The ELF to symbolize against.
    #[arg(
        short = 'e',
        long = "elf",
        visible_aliases = ["obj", "exe"],
        value_name = "FILE",
        required = true
    )]
    pub elf: String,
    /// Print each address before its frames.
    #[arg(short = 'a', long = "addresses", visible_alias = "print-address")]
    pub addresses: bool,
    /// Print symbol names as they are in the ELF.
    #[arg(long = "no-demangle", overrides_with = "demangle")]
    pub no_demangle: bool,
    /// Demangle symbol names (the default).
    #[arg(short = 'C', long = "demangle", overrides_with = "no_demangle")]
    pub demangle: bool,
    /// Rust names without hashes or escapes.
    #[arg(long)]
    pub readable: bool,
    /// Addresses: `0x` hex, leading-`0` octal, decimal.
    #[arg(value_name = "ADDRESS")]
    pub inputs: Vec<String>,
}

impl SymbolizeArgs {
    pub fn options(self) -> crate::symbolize::Options {
        crate::symbolize::Options {
            elf: Some(self.elf),
            print_addresses: self.addresses,
            demangle: !self.no_demangle,
            readable: self.readable,
            inputs: self.inputs,
        }
    }
}

/// A number of seconds, 0 or more.
fn seconds(text: &str) -> Result<Duration, String> {
    text.parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or(format!("bad number of seconds `{text}`"))
}

/// A number of seconds, more than 0.
fn positive_seconds(text: &str) -> Result<Duration, String> {
    seconds(text)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or(format!("bad timeout `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("spinel-debug").chain(args.iter().copied()))
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_xtask_spellings_parse() {
        let cli = parse(&[
            "--connect",
            "127.0.0.1:4444",
            "--retry",
            "20",
            "--wait-stop",
            "60",
            "--timeout",
            "30",
            "--batch",
            "--json",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        let session = cli.session;
        assert_eq!(session.connect, "127.0.0.1:4444");
        assert_eq!(session.retry, Duration::from_secs(20));
        assert_eq!(session.wait_stop, Some(Duration::from_secs(60)));
        assert_eq!(session.timeout, Duration::from_secs(30));
        assert_eq!(session.batch, Some(None));
        assert!(session.json);

        let session = parse(&["--batch", "script.txt", "--json"]).unwrap().session;
        assert_eq!(session.batch, Some(Some(PathBuf::from("script.txt"))));
        let session = parse(&[]).unwrap().session;
        assert_eq!(session.batch, None);
        assert_eq!(session.connect, "127.0.0.1:5555");
        assert_eq!(session.timeout, Duration::from_secs(10));
    }

    #[test]
    fn bad_arguments_are_named() {
        for (args, named) in [
            (&["--timeout", "0"][..], "--timeout"),
            (&["--retry", "soon"], "--retry"),
            (&["--frobnicate"], "--frobnicate"),
            (&["--connect"], "--connect"),
            (&["symbolize"], "--elf"),
            (&["symbolize", "--elf", "x", "--bogus"], "--bogus"),
        ] {
            let error = parse(args).unwrap_err().to_string();
            assert!(error.contains(named), "{args:?}: {error}");
        }
    }

    #[test]
    fn symbolize_takes_llvm_symbolizers_options() {
        let Some(Tool::Symbolize(args)) = parse(&[
            "symbolize",
            "--obj=a.elf",
            "-a",
            "--no-demangle",
            "0x10",
            "bogus",
        ])
        .unwrap()
        .command
        else {
            panic!("not symbolize");
        };
        let options = args.options();
        assert_eq!(options.elf.as_deref(), Some("a.elf"));
        assert!(options.print_addresses && !options.demangle);
        assert_eq!(options.inputs, ["0x10", "bogus"]);
        for spelling in ["--elf", "--exe", "-e"] {
            let cli = parse(&["symbolize", spelling, "b.elf", "-C"]).unwrap();
            let Some(Tool::Symbolize(args)) = cli.command else {
                panic!("not symbolize");
            };
            let options = args.options();
            assert_eq!(options.elf.as_deref(), Some("b.elf"));
            assert!(options.demangle);
        }
    }
}
