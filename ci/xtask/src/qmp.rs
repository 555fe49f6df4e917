//! A QMP client (QEMU's JSON machine protocol) over a unix socket, for
//! what the xtask asks of a running QEMU: a whole-machine core
//! (`dump-guest-memory`).
//!
//! QEMU is started with `-qmp unix:PATH,server=on,wait=off`
//! ([`qemu_args`]). A session: QEMU greets (`{"QMP": ...}`), the client
//! sends `qmp_capabilities`, then commands; each answer is one line,
//! `{"return": ...}` or `{"error": {"class": ..., "desc": ...}}`, and
//! events (`{"event": ...}`) may come between them at any time.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// QEMU's arguments for a QMP server on `socket`, which QEMU creates.
pub fn qemu_args(socket: &Path) -> [String; 2] {
    [
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", socket.display()),
    ]
}

/// A fresh socket path for one QEMU (short: unix socket paths are limited
/// to 108 bytes, so the temporary directory rather than `target/`).
pub fn socket_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("spinel-qmp-{}-{n}.sock", std::process::id()))
}

/// One line from QEMU.
#[derive(Debug, PartialEq)]
enum Message {
    Greeting,
    Return(Value),
    Error(String),
    Event(String),
}

fn parse(line: &str) -> Result<Message, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("QMP sent {line:?}: {e}"))?;
    if value.get("QMP").is_some() {
        Ok(Message::Greeting)
    } else if let Some(result) = value.get("return") {
        Ok(Message::Return(result.clone()))
    } else if let Some(error) = value.get("error") {
        let class = error["class"].as_str().unwrap_or("?");
        let desc = error["desc"].as_str().unwrap_or("?");
        Ok(Message::Error(format!("{class}: {desc}")))
    } else if let Some(event) = value.get("event") {
        Ok(Message::Event(event.as_str().unwrap_or("?").to_string()))
    } else {
        Err(format!("QMP sent an unknown message: {line}"))
    }
}

/// The line that asks for `command` with `arguments`.
fn request(command: &str, arguments: Option<Value>) -> String {
    let mut value = json!({ "execute": command });
    if let Some(arguments) = arguments {
        value["arguments"] = arguments;
    }
    value.to_string() + "\n"
}

/// The arguments of `dump-guest-memory` to `core`: physical memory, no
/// page-table walk, written by QEMU itself, synchronously.
fn dump_arguments(core: &Path) -> Value {
    json!({ "paging": false, "protocol": format!("file:{}", core.display()) })
}

/// A QMP session, past its capabilities negotiation.
pub struct Session {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Session {
    /// Connect to QEMU's socket (trying until `timeout`: QEMU creates it as
    /// it starts) and negotiate.
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Session, String> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(e) if Instant::now() > deadline => {
                    return Err(format!(
                        "cannot connect to QMP at {}: {e}",
                        socket.display()
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
        let mut session = Session {
            writer: stream,
            reader,
        };
        match session.next()? {
            Message::Greeting => {}
            other => return Err(format!("QMP did not greet: {other:?}")),
        }
        session.execute("qmp_capabilities", None)?;
        Ok(session)
    }

    fn next(&mut self) -> Result<Message, String> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| format!("reading QMP: {e}"))?;
        if n == 0 {
            return Err("QEMU closed its QMP socket".into());
        }
        parse(line.trim())
    }

    /// Run one command; its `return` value, or its error as text. Events
    /// that arrive meanwhile are skipped.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, String> {
        self.writer
            .write_all(request(command, arguments).as_bytes())
            .map_err(|e| format!("writing QMP: {e}"))?;
        loop {
            match self.next()? {
                Message::Return(value) => return Ok(value),
                Message::Error(error) => return Err(format!("QMP {command}: {error}")),
                Message::Greeting | Message::Event(_) => {}
            }
        }
    }

    /// Save the whole machine (every RAM block and each CPU's registers) as
    /// an ELF core at `core`; returns when QEMU has written it.
    pub fn dump_guest_memory(&mut self, core: &Path) -> Result<(), String> {
        self.execute("dump-guest-memory", Some(dump_arguments(core)))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_json_line() {
        assert_eq!(
            request("qmp_capabilities", None),
            "{\"execute\":\"qmp_capabilities\"}\n"
        );
        let line = request(
            "dump-guest-memory",
            Some(dump_arguments(Path::new("/t/k.core"))),
        );
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["execute"], "dump-guest-memory");
        assert_eq!(value["arguments"]["paging"], false);
        assert_eq!(value["arguments"]["protocol"], "file:/t/k.core");
    }

    #[test]
    fn answers_events_and_errors_are_told_apart() {
        let greeting = r#"{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}}, "capabilities": ["oob"]}}"#;
        assert_eq!(parse(greeting), Ok(Message::Greeting));
        assert_eq!(parse(r#"{"return": {}}"#), Ok(Message::Return(json!({}))));
        let event = r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}"#;
        assert_eq!(parse(event), Ok(Message::Event("STOP".into())));
        let error = r#"{"error": {"class": "GenericError", "desc": "no such file"}}"#;
        assert_eq!(
            parse(error),
            Ok(Message::Error("GenericError: no such file".into()))
        );
        assert!(parse("{\"hello\": 1}").is_err());
        assert!(parse("not json").is_err());
    }

    #[test]
    fn qemu_is_told_where_the_socket_is() {
        let args = qemu_args(Path::new("/tmp/q.sock"));
        assert_eq!(args, ["-qmp", "unix:/tmp/q.sock,server=on,wait=off"]);
        assert_ne!(socket_path(), socket_path());
    }
}
