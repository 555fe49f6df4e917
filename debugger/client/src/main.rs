//! `spinel-debug`: the Spinel debugger's host client. See the crate's
//! README for the commands; the library holds all the logic.
#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use spinel_debug::connection::Connection;
use spinel_debug::render::Style;
use spinel_debug::session::{Output, Session, run_batch};
use spinel_debug::transport::{self, Transport};
use spinel_debug::{fake_agent, repl, symbolize};

const USAGE: &str = "\
usage: spinel-debug [options]                 interactive debugger (REPL)
       spinel-debug --batch [FILE] [options]  run commands from FILE or stdin
       spinel-debug symbolize --elf FILE [ADDRESS ...]
                                              llvm-symbolizer's output, for scripts

options:
  --connect TARGET    the agent: HOST:PORT, tcp:HOST:PORT, or a serial device /
                      pty path (QEMU's second serial line); default 127.0.0.1:5555
  --fake-agent ELF    talk to an in-process fake agent debugging ELF instead
  --json              batch output as JSON lines
  --no-color          no colour even on a terminal (NO_COLOR is honoured too)
  --timeout SECONDS   how long to wait for each answer (default 10)
  --retry SECONDS     keep trying to connect this long (the agent's machine
                      may still be starting)
  --wait-stop SECONDS first wait this long for a thread to stop, showing it
                      (then the REPL, or the batch commands)
";

struct Options {
    target: String,
    fake_elf: Option<String>,
    batch: Option<Option<String>>,
    json: bool,
    color: bool,
    timeout: Duration,
    retry: Duration,
    wait_stop: Option<Duration>,
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or(format!("bad number of seconds `{text}`"))
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        target: "127.0.0.1:5555".into(),
        fake_elf: None,
        batch: None,
        json: false,
        color: io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        timeout: Duration::from_secs(10),
        retry: Duration::ZERO,
        wait_stop: None,
    };
    let mut index = 0;
    while index < args.len() {
        let arg = args[index].as_str();
        let mut value = || {
            index += 1;
            args.get(index)
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match arg {
            "--connect" => options.target = value()?,
            "--fake-agent" => options.fake_elf = Some(value()?),
            "--json" => options.json = true,
            "--no-color" => options.color = false,
            "--timeout" => {
                let text = value()?;
                let seconds: f64 = text
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or(format!("bad timeout `{text}`"))?;
                options.timeout = Duration::from_secs_f64(seconds);
            }
            "--retry" => options.retry = seconds(&value()?)?,
            "--wait-stop" => options.wait_stop = Some(seconds(&value()?)?),
            "--batch" => {
                let file = args
                    .get(index + 1)
                    .filter(|next| !next.starts_with('-'))
                    .cloned();
                if file.is_some() {
                    index += 1;
                }
                options.batch = Some(file);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
        index += 1;
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("symbolize") {
        return match symbolize::parse_args(&args[1..]) {
            Ok(options) => {
                let stdin = io::stdin();
                let code = symbolize::run(
                    &options,
                    &mut stdin.lock(),
                    &mut io::stdout().lock(),
                    &mut io::stderr(),
                );
                match code {
                    Ok(code) => ExitCode::from(code as u8),
                    Err(error) => {
                        eprintln!("spinel-debug: {error}");
                        ExitCode::from(2)
                    }
                }
            }
            Err(message) => {
                if !message.is_empty() {
                    eprintln!("spinel-debug: {message}");
                }
                eprint!("{}", symbolize::USAGE);
                ExitCode::from(2)
            }
        };
    }
    let options = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("spinel-debug: {message}");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
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

fn run(options: Options) -> Result<ExitCode, String> {
    let transport: Box<dyn Transport> = match &options.fake_elf {
        Some(path) => {
            let elf = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
            let (link, _agent) = fake_agent::spawn(elf, None).map_err(|e| e.to_string())?;
            Box::new(link)
        }
        None => open_retrying(&options.target, options.retry)
            .map_err(|e| format!("cannot reach the agent at {}: {e}", options.target))?,
    };
    let software = concat!("spinel-debug ", env!("CARGO_PKG_VERSION"));
    let connection =
        Connection::handshake(transport, software, options.timeout).map_err(|e| e.to_string())?;
    let output = if options.json {
        Output::Json
    } else {
        Output::Text(Style {
            color: options.color,
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
                    std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?,
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
