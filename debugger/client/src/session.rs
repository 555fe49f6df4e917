//! Runs commands against a connected agent and prints what comes back, as
//! text or as JSON lines. The REPL and batch mode both drive a `Session`.

use std::io::{self, Write};
use std::time::Duration;

use spinel_debug_protocol::{Command, Event, Reply};

use crate::commands::{self, Action, Current};
use crate::connection::{Connection, LinkError};
use crate::render::{self, Style};

/// How long to listen for events right after resuming a thread.
const EVENT_WINDOW: Duration = Duration::from_millis(50);

/// How output is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text(Style),
    /// One JSON object per line: `{"command", "ok", "reply"}` for each
    /// command, `{"event"}` for each event.
    Json,
}

/// Whether to go on after a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// A connection plus the current process and thread.
pub struct Session<W: Write> {
    pub connection: Connection,
    pub current: Current,
    pub output: Output,
    out: W,
    /// Commands that failed (an error reply, a parse error, a timeout).
    pub failures: usize,
}

impl<W: Write> Session<W> {
    pub fn new(connection: Connection, output: Output, out: W) -> Self {
        Session {
            connection,
            current: Current::default(),
            output,
            out,
            failures: 0,
        }
    }

    /// Runs one line. Link failures that leave the connection unusable are
    /// returned; everything else is printed.
    pub fn execute(&mut self, line: &str) -> Result<Flow, LinkError> {
        let action = match commands::parse(line, self.current) {
            Ok(action) => action,
            Err(message) => {
                self.failures += 1;
                self.print_error(line, &message)?;
                return Ok(Flow::Continue);
            }
        };
        match action {
            Action::Nothing => {}
            Action::Quit => return Ok(Flow::Quit),
            Action::Help => {
                if let Output::Text(_) = self.output {
                    write!(self.out, "{}", commands::help())?;
                }
            }
            Action::Wait { seconds } => {
                match self
                    .connection
                    .next_event(Duration::from_secs_f64(seconds))?
                {
                    Some(event) => self.print_event(&event)?,
                    None => {
                        self.failures += 1;
                        self.print_error(line, &format!("no event within {seconds} s"))?;
                    }
                }
            }
            Action::SendRaw(bytes) => {
                let report = self.connection.send_raw(&bytes)?;
                match self.output {
                    Output::Json => writeln!(
                        self.out,
                        "{}",
                        serde_json::json!({
                            "command": line.trim(),
                            "ok": true,
                            "reply": { "MalformedFrame": report },
                        })
                    )?,
                    Output::Text(_) => writeln!(
                        self.out,
                        "the agent reported a malformed frame ({:?}): {}",
                        report.kind, report.detail
                    )?,
                }
            }
            Action::SetRegister {
                thread,
                name,
                value,
            } => {
                let reply = match self.connection.request(Command::ReadRegisters { thread })? {
                    Reply::Registers(mut registers) => {
                        let names = registers.arch.layout().names;
                        match names.iter().position(|n| *n == name) {
                            Some(index) if index < registers.values.len() => {
                                registers.values[index] = value;
                                self.connection
                                    .request(Command::WriteRegisters { thread, registers })?
                            }
                            _ => {
                                self.failures += 1;
                                let message = format!(
                                    "no register `{name}` on {} (registers: {})",
                                    registers.arch.name(),
                                    names.join(" ")
                                );
                                self.print_error(line, &message)?;
                                return Ok(Flow::Continue);
                            }
                        }
                    }
                    other => other,
                };
                self.print_reply(line, None, &reply)?;
            }
            Action::Remote(command) => {
                let reply = self.connection.request(command.clone())?;
                self.note(&command, &reply);
                self.print_reply(line, Some(&command), &reply)?;
                // A resumed thread may stop (or its process end) at once:
                // show that before the next prompt.
                let resumes = matches!(
                    command,
                    Command::Step { .. }
                        | Command::Continue { .. }
                        | Command::PassOn { .. }
                        | Command::Kill { .. }
                        | Command::Detach { .. }
                );
                if resumes && !matches!(reply, Reply::Error(_)) {
                    self.connection.poll_events(EVENT_WINDOW)?;
                }
            }
        }
        self.drain_events()?;
        Ok(Flow::Continue)
    }

    /// Waits up to `timeout` for a thread to stop, printing every event
    /// that arrives meanwhile; whether one stopped.
    pub fn wait_for_stop(&mut self, timeout: Duration) -> Result<bool, LinkError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            match self.connection.next_event(left)? {
                Some(event) => {
                    let stopped = matches!(event, Event::Stopped(_));
                    self.print_event(&event)?;
                    self.out.flush()?;
                    if stopped {
                        // Whatever else came with it (the stops of other threads).
                        self.drain_events()?;
                        return Ok(true);
                    }
                }
                None => return Ok(false),
            }
        }
    }

    /// Prints the events that arrived, without waiting.
    pub fn drain_events(&mut self) -> io::Result<()> {
        for event in self.connection.take_events() {
            self.print_event(&event)?;
        }
        self.out.flush()
    }

    /// Remembers the process and thread a reply names.
    fn note(&mut self, command: &Command, reply: &Reply) {
        match (command, reply) {
            (Command::Attach { process }, Reply::Attached(attached)) => {
                self.current.process = Some(*process);
                if let Some(stop) = attached.stops.first() {
                    self.current.thread = Some(stop.thread);
                }
            }
            (Command::ListThreads { .. }, Reply::Threads(threads))
                if self.current.thread.is_none() =>
            {
                self.current.thread = threads.first().map(|t| t.koid);
            }
            _ => {}
        }
    }

    fn print_reply(
        &mut self,
        line: &str,
        command: Option<&Command>,
        reply: &Reply,
    ) -> io::Result<()> {
        if matches!(reply, Reply::Error(_)) {
            self.failures += 1;
        }
        match self.output {
            Output::Json => writeln!(self.out, "{}", render::reply_json(line.trim(), reply)),
            Output::Text(style) => {
                let text = match (command, reply) {
                    (Some(Command::ReadMemory { address, .. }), Reply::Memory(bytes)) => {
                        render::hexdump(*address, bytes)
                    }
                    _ => render::reply_text(reply, style),
                };
                write!(self.out, "{text}")
            }
        }
    }

    fn print_event(&mut self, event: &Event) -> io::Result<()> {
        if let Event::Stopped(stop) = event {
            self.current.process = Some(stop.process);
            self.current.thread = Some(stop.thread);
        }
        match self.output {
            Output::Json => writeln!(self.out, "{}", render::event_json(event)),
            Output::Text(style) => write!(self.out, "{}", render::event_text(event, style)),
        }
    }

    fn print_error(&mut self, line: &str, message: &str) -> io::Result<()> {
        match self.output {
            Output::Json => writeln!(self.out, "{}", render::error_json(line.trim(), message)),
            Output::Text(style) => {
                let _ = style;
                writeln!(self.out, "error: {message}")
            }
        }
    }

    /// The writer, for front ends that print around commands.
    pub fn out(&mut self) -> &mut W {
        &mut self.out
    }
}

/// Runs every line of `input` (batch mode); returns the number of failed
/// commands.
pub fn run_batch<W: Write>(
    session: &mut Session<W>,
    input: &mut dyn io::BufRead,
) -> Result<usize, LinkError> {
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        if let Output::Text(_) = session.output
            && !line.trim().is_empty()
            && !line.trim_start().starts_with('#')
        {
            writeln!(session.out(), "(spinel-debug) {}", line.trim())?;
        }
        if session.execute(&line)? == Flow::Quit {
            break;
        }
    }
    session.drain_events()?;
    Ok(session.failures)
}
