//! `spinel-debug`: the Spinel debugger's host client. See the crate's
//! README for the commands; the library holds all the logic (the command
//! line is `cli`).
#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use spinel_debug::cli::{Cli, SessionArgs, Tool};
use spinel_debug::connection::Connection;
use spinel_debug::render::Style;
use spinel_debug::session::{Output, Session, run_batch};
use spinel_debug::transport::{self, Transport};
use spinel_debug::{fake_agent, repl, symbolize};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Tool::Symbolize(args)) = cli.command {
        let stdin = io::stdin();
        let code = symbolize::run(
            &args.options(),
            &mut stdin.lock(),
            &mut io::stdout().lock(),
            &mut io::stderr(),
        );
        return match code {
            Ok(code) => ExitCode::from(code as u8),
            Err(error) => {
                eprintln!("spinel-debug: {error}");
                ExitCode::from(2)
            }
        };
    }
    match run(cli.session) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("spinel-debug: {message}");
            ExitCode::from(2)
        }
    }
}

/// Opens the transport, trying again for up to `retry` while the other
/// end is not there yet (QEMU still starting).
fn open_retrying(target: &str, retry: Duration) -> io::Result<Box<dyn Transport>> {
    let deadline = std::time::Instant::now() + retry;
    loop {
        match transport::open(target) {
            Ok(transport) => return Ok(transport),
            Err(error)
                if std::time::Instant::now() < deadline
                    && matches!(
                        error.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                    ) =>
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(error) => return Err(error),
        }
    }
}

fn run(options: SessionArgs) -> Result<ExitCode, String> {
    let transport: Box<dyn Transport> = match &options.fake_agent {
        Some(path) => {
            let elf = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let (link, _agent) = fake_agent::spawn(elf, None).map_err(|e| e.to_string())?;
            Box::new(link)
        }
        None => open_retrying(&options.connect, options.retry)
            .map_err(|e| format!("cannot reach the agent at {}: {e}", options.connect))?,
    };
    let software = concat!("spinel-debug ", env!("CARGO_PKG_VERSION"));
    let connection =
        Connection::handshake(transport, software, options.timeout).map_err(|e| e.to_string())?;
    let output = if options.json {
        Output::Json
    } else {
        Output::Text(Style {
            color: !options.no_color
                && io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none(),
        })
    };
    let stdout = io::stdout();
    let mut session = Session::new(connection, output, stdout.lock());
    if let Some(wait) = options.wait_stop
        && !session.wait_for_stop(wait).map_err(|e| e.to_string())?
    {
        return Err(format!(
            "no thread stopped within {:.0} s",
            wait.as_secs_f64()
        ));
    }
    match options.batch {
        Some(file) => {
            let mut input: Box<dyn BufRead> = match file {
                Some(path) => Box::new(BufReader::new(
                    std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?,
                )),
                None => Box::new(io::stdin().lock()),
            };
            let failures = run_batch(&mut session, &mut input).map_err(|e| e.to_string())?;
            Ok(if failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        None => {
            repl::run(&mut session).map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
