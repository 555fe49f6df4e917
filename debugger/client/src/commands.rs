//! The command language of the REPL and batch mode.
//!
//! One command per line; `#` starts a comment. Ids and addresses are
//! decimal or `0x` hex. A process or thread id may be left out once a
//! process is attached or a thread has stopped: the last one is used.

use spinel_debug_protocol::{BreakpointLocation, Command, Koid, MAX_MEMORY_TRANSFER};

/// Every command: name, arguments, what it does.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("jobs", "", "list jobs"),
    ("ps", "[JOB]", "list processes (of one job)"),
    ("threads", "[PID]", "list a process's threads"),
    ("attach", "PID", "become the process's debugger"),
    (
        "detach",
        "[PID] [--leave-stopped]",
        "stop debugging (stopped threads stay stopped with --leave-stopped)",
    ),
    ("regs", "[TID]", "read a thread's registers"),
    ("setreg", "[TID] NAME VALUE", "write one register"),
    (
        "read",
        "[PID] ADDRESS [LENGTH]",
        "read memory (default 64 bytes)",
    ),
    ("write", "[PID] ADDRESS HEXBYTES", "write memory"),
    (
        "break",
        "[PID] ADDRESS|FUNCTION|FILE:LINE",
        "set a software breakpoint",
    ),
    ("delete", "[PID] BREAKPOINT", "clear a breakpoint"),
    ("breaks", "[PID]", "list breakpoints"),
    ("step", "[TID]", "execute one instruction"),
    (
        "continue",
        "[TID]",
        "resume, the exception handled (HANDLED)",
    ),
    (
        "pass",
        "[TID]",
        "resume, passing the exception on (TRY_NEXT)",
    ),
    ("kill", "KOID", "kill a process or thread"),
    ("bt", "[TID]", "symbolized backtrace"),
    (
        "symbolize",
        "[PID] ADDRESS...",
        "symbolize addresses in a process",
    ),
    (
        "wait",
        "[SECONDS]",
        "wait for the next event (default 10 s)",
    ),
    (
        "send-raw",
        "HEXBYTES",
        "write raw bytes on the link (tests the agent's frame checks)",
    ),
    ("help", "", "this list"),
    ("quit", "", "leave"),
];

/// Short names accepted for commands.
const ALIASES: &[(&str, &str)] = &[
    ("c", "continue"),
    ("cont", "continue"),
    ("s", "step"),
    ("si", "step"),
    ("b", "break"),
    ("backtrace", "bt"),
    ("where", "bt"),
    ("x", "read"),
    ("q", "quit"),
    ("exit", "quit"),
    ("detach!", "detach"),
];

/// The defaults for left-out ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Current {
    pub process: Option<Koid>,
    pub thread: Option<Koid>,
}

/// What a line asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Nothing (an empty line or a comment).
    Nothing,
    /// A request to send as it is.
    Remote(Command),
    /// Read the registers, change one, write them back.
    SetRegister {
        thread: Koid,
        name: String,
        value: u64,
    },
    Wait {
        seconds: f64,
    },
    /// Raw bytes for the link, answered by a malformed-frame report.
    SendRaw(Vec<u8>),
    Help,
    Quit,
}

/// Parses a number: `0x` hex or decimal.
pub fn parse_number(word: &str) -> Result<u64, String> {
    let parsed = match word.strip_prefix("0x").or(word.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => word.replace('_', "").parse(),
    };
    parsed.map_err(|_| format!("`{word}` is not a number"))
}

/// Parses hex bytes (`0a1b...`, optionally `0x`-prefixed).
fn parse_hex(word: &str) -> Result<Vec<u8>, String> {
    let hex = word.trim_start_matches("0x");
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{word}` is not hex bytes"));
    }
    Ok((0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex"))
        .collect())
}

fn is_number(word: &str) -> bool {
    parse_number(word).is_ok()
}

/// Takes a leading id if the arguments have more than `needed` words, or
/// the first word is a number and nothing else must be a number; otherwise
/// the current one.
fn id_or(
    words: &mut Vec<&str>,
    needed: usize,
    current: Option<Koid>,
    what: &str,
) -> Result<Koid, String> {
    if words.len() > needed {
        let word = words.remove(0);
        return parse_number(word);
    }
    current.ok_or_else(|| format!("which {what}? give its id (none is current yet)"))
}

/// The name a command word stands for.
pub fn canonical(word: &str) -> Option<&'static str> {
    if let Some((_, name)) = ALIASES.iter().find(|(alias, _)| *alias == word) {
        return Some(name);
    }
    COMMANDS
        .iter()
        .find(|(name, _, _)| *name == word)
        .map(|(name, _, _)| *name)
}

/// Whether `words` has a count in `range`; else the command's usage.
fn count(name: &str, words: &[&str], range: std::ops::RangeInclusive<usize>) -> Result<(), String> {
    if range.contains(&words.len()) {
        Ok(())
    } else {
        let usage = COMMANDS
            .iter()
            .find(|c| c.0 == name)
            .map(|c| c.1)
            .unwrap_or("");
        Err(format!("usage: {name} {usage}"))
    }
}

/// Parses one line.
pub fn parse(line: &str, current: Current) -> Result<Action, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    let mut words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return Ok(Action::Nothing);
    }
    let word = words.remove(0);
    let name = canonical(word).ok_or_else(|| format!("unknown command `{word}` (try `help`)"))?;
    match name {
        "setreg" => {
            count(name, &words, 2..=3)?;
            let thread = id_or(&mut words, 2, current.thread, "thread")?;
            Ok(Action::SetRegister {
                thread,
                name: words[0].to_string(),
                value: parse_number(words[1])?,
            })
        }
        "wait" => {
            count(name, &words, 0..=1)?;
            let seconds = match words.first() {
                Some(word) => word
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or(format!("`{word}` is not a number of seconds"))?,
                None => 10.0,
            };
            Ok(Action::Wait { seconds })
        }
        "send-raw" => {
            count(name, &words, 1..=1)?;
            Ok(Action::SendRaw(parse_hex(words[0])?))
        }
        "help" => Ok(Action::Help),
        "quit" => Ok(Action::Quit),
        _ => remote(name, word, words, current).map(Action::Remote),
    }
}

/// The request a command line stands for (`name` is its canonical name,
/// `word` as typed).
fn remote(
    name: &str,
    word: &str,
    mut words: Vec<&str>,
    current: Current,
) -> Result<Command, String> {
    let process = current.process;
    let thread = current.thread;
    Ok(match name {
        "jobs" => {
            count(name, &words, 0..=0)?;
            Command::ListJobs
        }
        "ps" => {
            count(name, &words, 0..=1)?;
            let job = words.first().map(|w| parse_number(w)).transpose()?;
            Command::ListProcesses { job }
        }
        "threads" => {
            count(name, &words, 0..=1)?;
            Command::ListThreads {
                process: id_or(&mut words, 0, process, "process")?,
            }
        }
        "attach" => {
            count(name, &words, 1..=1)?;
            Command::Attach {
                process: parse_number(words[0])?,
            }
        }
        "detach" => {
            let leave_stopped = word == "detach!" || words.contains(&"--leave-stopped");
            words.retain(|w| *w != "--leave-stopped");
            count(name, &words, 0..=1)?;
            Command::Detach {
                process: id_or(&mut words, 0, process, "process")?,
                leave_stopped,
            }
        }
        "regs" => {
            count(name, &words, 0..=1)?;
            Command::ReadRegisters {
                thread: id_or(&mut words, 0, thread, "thread")?,
            }
        }
        "read" => read(words, process)?,
        "write" => {
            count(name, &words, 2..=3)?;
            let process = id_or(&mut words, 2, process, "process")?;
            let address = parse_number(words[0])?;
            let bytes = parse_hex(words[1])?;
            Command::WriteMemory {
                process,
                address,
                bytes,
            }
        }
        "break" => {
            count(name, &words, 1..=2)?;
            let process = id_or(&mut words, 1, process, "process")?;
            Command::SetBreakpoint {
                process,
                location: location(words[0])?,
            }
        }
        "delete" => {
            count(name, &words, 1..=2)?;
            let process = id_or(&mut words, 1, process, "process")?;
            Command::ClearBreakpoint {
                process,
                breakpoint: parse_number(words[0])? as u32,
            }
        }
        "breaks" => {
            count(name, &words, 0..=1)?;
            Command::ListBreakpoints {
                process: id_or(&mut words, 0, process, "process")?,
            }
        }
        "step" | "continue" | "pass" | "bt" => {
            count(name, &words, 0..=1)?;
            let thread = id_or(&mut words, 0, thread, "thread")?;
            match name {
                "step" => Command::Step { thread },
                "continue" => Command::Continue { thread },
                "pass" => Command::PassOn { thread },
                _ => Command::Backtrace { thread },
            }
        }
        "kill" => {
            count(name, &words, 0..=1)?;
            Command::Kill {
                task: id_or(&mut words, 0, process, "process")?,
            }
        }
        "symbolize" => symbolize(words, process)?,
        _ => unreachable!("every canonical name is handled"),
    })
}

/// `read [PID] ADDRESS [LENGTH]`.
fn read(mut words: Vec<&str>, process: Option<Koid>) -> Result<Command, String> {
    count("read", &words, 1..=3)?;
    let has_process = words.len() == 3 || (words.len() == 2 && process.is_none());
    let process = id_or(
        &mut words,
        if has_process { 0 } else { 3 },
        process,
        "process",
    )?;
    let address = parse_number(words[0])?;
    let length = match words.get(1) {
        Some(word) => parse_number(word)?,
        None => 64,
    };
    if length > u64::from(MAX_MEMORY_TRANSFER) {
        return Err(format!("at most {MAX_MEMORY_TRANSFER} bytes at a time"));
    }
    Ok(Command::ReadMemory {
        process,
        address,
        length: length as u32,
    })
}

/// A breakpoint's location: an address, `FILE:LINE` or a function name.
fn location(spec: &str) -> Result<BreakpointLocation, String> {
    Ok(if is_number(spec) {
        BreakpointLocation::Address(parse_number(spec)?)
    } else if let Some((file, line)) = spec.rsplit_once(':')
        && !file.is_empty()
        && !file.ends_with(':')
        && let Ok(line) = line.parse::<u32>()
    {
        BreakpointLocation::Line {
            file: file.to_string(),
            line,
        }
    } else {
        BreakpointLocation::Function(spec.to_string())
    })
}

/// `symbolize [PID] ADDRESS...`: with a current process every word is an
/// address.
fn symbolize(mut words: Vec<&str>, process: Option<Koid>) -> Result<Command, String> {
    if words.is_empty() {
        return Err("usage: symbolize [PID] ADDRESS...".into());
    }
    let process = match process {
        Some(process) => process,
        None => parse_number(words.remove(0))?,
    };
    let addresses = words
        .iter()
        .map(|w| parse_number(w))
        .collect::<Result<_, _>>()?;
    Ok(Command::Symbolize { process, addresses })
}

/// The help text.
pub fn help() -> String {
    let mut text = String::from("commands (ids and addresses: decimal or 0x hex):\n");
    for (name, args, what) in COMMANDS {
        let usage = format!("{name} {args}");
        text.push_str(&format!("  {usage:<44} {what}\n"));
    }
    text.push_str(
        "aliases: c/cont = continue, s/si = step, b = break, x = read, where = bt, q = quit\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Current = Current {
        process: None,
        thread: None,
    };
    const SOME: Current = Current {
        process: Some(10),
        thread: Some(11),
    };

    fn remote(line: &str, current: Current) -> Command {
        match parse(line, current).unwrap() {
            Action::Remote(command) => command,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn ids_default_to_the_current_ones() {
        assert_eq!(remote("regs", SOME), Command::ReadRegisters { thread: 11 });
        assert_eq!(
            remote("regs 0x20", SOME),
            Command::ReadRegisters { thread: 0x20 }
        );
        assert!(parse("regs", NONE).unwrap_err().contains("which thread"));
        assert_eq!(remote("c", SOME), Command::Continue { thread: 11 });
        assert_eq!(remote("pass 5", NONE), Command::PassOn { thread: 5 });
        assert_eq!(
            remote("detach --leave-stopped", SOME),
            Command::Detach {
                process: 10,
                leave_stopped: true
            }
        );
        assert_eq!(
            remote("read 0x1000", SOME),
            Command::ReadMemory {
                process: 10,
                address: 0x1000,
                length: 64
            }
        );
        assert_eq!(
            remote("read 3 0x1000 16", SOME),
            Command::ReadMemory {
                process: 3,
                address: 0x1000,
                length: 16
            }
        );
        assert_eq!(
            remote("x 7 0x1000", NONE),
            Command::ReadMemory {
                process: 7,
                address: 0x1000,
                length: 64
            }
        );
    }

    #[test]
    fn breakpoints_take_three_kinds_of_location() {
        let location = |line| match remote(line, SOME) {
            Command::SetBreakpoint { location, .. } => location,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            location("break 0x4000"),
            BreakpointLocation::Address(0x4000)
        );
        assert_eq!(
            location("b shapes::checksum"),
            BreakpointLocation::Function("shapes::checksum".into())
        );
        assert_eq!(
            location("break src/main.rs:12"),
            BreakpointLocation::Line {
                file: "src/main.rs".into(),
                line: 12
            }
        );
    }

    #[test]
    fn bad_lines_are_explained() {
        assert!(
            parse("frobnicate", SOME)
                .unwrap_err()
                .contains("unknown command")
        );
        assert!(
            parse("attach", SOME)
                .unwrap_err()
                .starts_with("usage: attach")
        );
        assert!(
            parse("write 0x10 abc", SOME)
                .unwrap_err()
                .contains("not hex")
        );
        assert!(
            parse("read 0x10 99999999", SOME)
                .unwrap_err()
                .contains("at most")
        );
        assert_eq!(parse("  # comment", SOME), Ok(Action::Nothing));
        assert_eq!(parse("wait 0.5", SOME), Ok(Action::Wait { seconds: 0.5 }));
        assert_eq!(
            parse("setreg rax 0x5", SOME),
            Ok(Action::SetRegister {
                thread: 11,
                name: "rax".into(),
                value: 5
            })
        );
    }
}
