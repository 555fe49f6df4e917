//! Replies, events and stops as text for people (with source lines and, on
//! a terminal, colour) and as JSON for scripts.

use std::fmt::Write as _;

use spinel_debug_protocol::{
    ArchFacts, Breakpoint, BreakpointLocation, Event, Reply, StackFrame, Stop, ThreadState,
    exception_name,
};

/// Whether to colour the text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
    fn red(self, text: &str) -> String {
        self.paint("1;31", text)
    }
    fn green(self, text: &str) -> String {
        self.paint("32", text)
    }
    fn cyan(self, text: &str) -> String {
        self.paint("36", text)
    }
    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// The name of an x86_64 exception vector.
fn x86_vector(vector: u64) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 error",
        17 => "#AC alignment check",
        19 => "#XM SIMD error",
        _ => "vector",
    }
}

/// The exception class of an aarch64 ESR.
fn esr_class(esr: u32) -> &'static str {
    match esr >> 26 {
        0x00 => "unknown reason (undefined instruction)",
        0x0e => "illegal execution state",
        0x15 => "SVC",
        0x18 => "system register access",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2c => "floating-point exception",
        0x30 | 0x31 => "breakpoint (hardware)",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3c => "BRK instruction",
        _ => "exception class",
    }
}

/// The arch facts of a stop, in one line.
pub fn arch_facts(facts: &ArchFacts) -> String {
    match *facts {
        ArchFacts::X86_64 {
            vector,
            error_code,
            cr2,
        } => {
            let mut text = format!(
                "x86_64 {} (vector {vector}), error code {error_code:#x}",
                x86_vector(vector)
            );
            if vector == 14 {
                let bits = [(1, "present"), (2, "write"), (4, "user"), (16, "fetch")];
                let names: Vec<&str> = bits
                    .iter()
                    .filter(|(bit, _)| error_code & bit != 0)
                    .map(|(_, name)| *name)
                    .collect();
                let _ = write!(text, " [{}], cr2 {cr2:#x}", names.join(" "));
            }
            text
        }
        ArchFacts::Aarch64 { esr, far } => format!(
            "aarch64 {} (ESR {esr:#010x}, EC {:#04x}), FAR {far:#x}",
            esr_class(esr),
            esr >> 26
        ),
    }
}

/// One stack frame: its pc and each inlined location.
pub fn frame_text(index: usize, frame: &StackFrame, style: Style) -> String {
    let mut text = String::new();
    if frame.locations.is_empty() {
        let _ = writeln!(
            text,
            "  #{index:<2} {} in ??",
            style.dim(&format!("{:#018x}", frame.pc))
        );
        return text;
    }
    for (depth, location) in frame.locations.iter().enumerate() {
        let function = location.function.as_deref().unwrap_or("??");
        let place = match &location.file {
            Some(file) => format!("{file}:{}:{}", location.line, location.column),
            None => "??".to_string(),
        };
        let inlined = if depth + 1 < frame.locations.len() {
            style.dim(" [inlined]")
        } else {
            String::new()
        };
        if depth == 0 {
            let _ = writeln!(
                text,
                "  #{index:<2} {} in {} at {}{inlined}",
                style.dim(&format!("{:#018x}", frame.pc)),
                style.green(function),
                style.cyan(&place)
            );
        } else {
            let _ = writeln!(
                text,
                "      {:18}    {} at {}{inlined}",
                "",
                style.green(function),
                style.cyan(&place)
            );
        }
    }
    text
}

/// Up to `context` source lines either side of `line` of `file`, if the
/// file is readable here.
pub fn source_lines(file: &str, line: u32, context: u32, style: Style) -> Option<String> {
    let source = std::fs::read_to_string(file).ok()?;
    let line = line as usize;
    if line == 0 {
        return None;
    }
    let first = line.saturating_sub(context as usize).max(1);
    let mut text = String::new();
    for (number, content) in source.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        if number < first {
            continue;
        }
        if number > line + context as usize {
            break;
        }
        if number == line {
            let _ = writeln!(
                text,
                "{} {}",
                style.bold(&format!("> {number:>5} |")),
                style.bold(content)
            );
        } else {
            let _ = writeln!(text, "  {number:>5} | {content}");
        }
    }
    (!text.is_empty()).then_some(text)
}

/// A stop as a person reads it: the exception, where, the source around it
/// and the backtrace.
pub fn stop_text(stop: &Stop, style: Style) -> String {
    let facts = &stop.exception;
    let mut text = format!(
        "{} thread {} of process {} stopped: {} ({:#x})",
        style.red("*"),
        stop.thread,
        stop.process,
        style.red(exception_name(facts.exception_type)),
        facts.exception_type
    );
    if let Some(id) = stop.breakpoint {
        let _ = write!(text, " at breakpoint {id}");
    }
    text.push('\n');
    let _ = writeln!(text, "  {}", arch_facts(&facts.arch));
    if facts.exception_type == spinel_abi::exception::EXCP_FATAL_PAGE_FAULT {
        // The synthetic code of a page fault is the VM's status.
        let status = facts.synth_code as i32;
        let _ = writeln!(
            text,
            "  the VM refused the access: {} ({status})",
            spinel_abi::Status(status)
        );
    } else if facts.synth_code != 0 || facts.synth_data != 0 {
        let _ = writeln!(
            text,
            "  synth code {:#x}, data {:#x}",
            facts.synth_code, facts.synth_data
        );
    }
    let mut locations = stop
        .backtrace
        .iter()
        .flat_map(|frame| frame.locations.iter());
    // Where it stopped, in the program's own source when that is known:
    // the innermost location of frame 0 whose file is readable here (the
    // innermost is often a `core` helper inlined into it), else the
    // innermost; and the function it is inlined into, if it is.
    let frame0: &[spinel_debug_protocol::SourceLocation] = stop
        .backtrace
        .first()
        .map_or(&[], |frame| frame.locations.as_slice());
    let readable = |l: &&spinel_debug_protocol::SourceLocation| {
        l.file
            .as_deref()
            .is_some_and(|file| std::path::Path::new(file).is_file())
    };
    let top = frame0.iter().find(readable).or(frame0.first());
    if let Some(top) = top {
        let _ = write!(
            text,
            "  in {} at {}:{}:{}",
            style.green(top.function.as_deref().unwrap_or("??")),
            style.cyan(top.file.as_deref().unwrap_or("??")),
            top.line,
            top.column
        );
        if let Some(outer) = frame0.last().filter(|outer| !std::ptr::eq(*outer, top)) {
            let _ = write!(
                text,
                ", inlined into {}",
                style.green(outer.function.as_deref().unwrap_or("??"))
            );
        }
        text.push('\n');
    }
    // The source of the innermost frame whose file is readable here (the
    // innermost is often in `core`, whose sources may not be installed).
    let shown = locations.find_map(|location| {
        let file = location.file.as_deref()?;
        source_lines(file, location.line, 3, style).map(|lines| (location, file, lines))
    });
    if let Some((location, file, lines)) = shown {
        let _ = writeln!(
            text,
            "  {} {}:{}",
            style.dim(location.function.as_deref().unwrap_or("??")),
            style.dim(file),
            location.line
        );
        text.push_str(&lines);
    }
    if !stop.backtrace.is_empty() {
        text.push_str("backtrace:\n");
        for (index, frame) in stop.backtrace.iter().enumerate() {
            text.push_str(&frame_text(index, frame, style));
        }
    }
    text
}

fn location_text(location: &BreakpointLocation) -> String {
    match location {
        BreakpointLocation::Address(address) => format!("{address:#x}"),
        BreakpointLocation::Function(name) => name.clone(),
        BreakpointLocation::Line { file, line } => format!("{file}:{line}"),
    }
}

fn breakpoint_text(breakpoint: &Breakpoint) -> String {
    let addresses: Vec<String> = breakpoint
        .addresses
        .iter()
        .map(|a| format!("{a:#x}"))
        .collect();
    format!(
        "breakpoint {} at {} ({})\n",
        breakpoint.id,
        location_text(&breakpoint.location),
        addresses.join(", ")
    )
}

fn state_text(state: &ThreadState) -> String {
    match state {
        ThreadState::InException { exception_type } => {
            format!("in exception {}", exception_name(*exception_type))
        }
        other => format!("{other:?}").to_lowercase(),
    }
}

/// A reply as text.
pub fn reply_text(reply: &Reply, style: Style) -> String {
    let mut text = String::new();
    match reply {
        Reply::Done => text.push_str("ok\n"),
        Reply::Jobs(jobs) => {
            for job in jobs {
                let parent = job
                    .parent
                    .map(|p| format!(" (in job {p})"))
                    .unwrap_or_default();
                let _ = writeln!(text, "job {:>6}  {}{parent}", job.koid, job.name);
            }
        }
        Reply::Processes(processes) => {
            for process in processes {
                let attached = if process.attached { "  [attached]" } else { "" };
                let _ = writeln!(
                    text,
                    "process {:>6}  {} (job {}){attached}",
                    process.koid, process.name, process.job
                );
            }
        }
        Reply::Threads(threads) => {
            for thread in threads {
                let _ = writeln!(
                    text,
                    "thread {:>6}  {}  {}",
                    thread.koid,
                    thread.name,
                    state_text(&thread.state)
                );
            }
        }
        Reply::Attached(attached) => {
            let _ = writeln!(
                text,
                "attached to process {} ({} thread(s) already stopped)",
                attached.process,
                attached.stops.len()
            );
            for stop in &attached.stops {
                text.push_str(&stop_text(stop, style));
            }
        }
        Reply::Registers(registers) => {
            let names = registers.arch.layout().names;
            for (index, value) in registers.values.iter().enumerate() {
                let name = names.get(index).copied().unwrap_or("?");
                let _ = write!(text, "{:>7} {value:#018x}", style.bold(name));
                text.push(if index % 3 == 2 { '\n' } else { ' ' });
            }
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        Reply::Memory(bytes) => text.push_str(&hexdump(0, bytes)),
        Reply::Breakpoint(breakpoint) => text.push_str(&breakpoint_text(breakpoint)),
        Reply::Breakpoints(breakpoints) => {
            if breakpoints.is_empty() {
                text.push_str("no breakpoints\n");
            }
            for breakpoint in breakpoints {
                text.push_str(&breakpoint_text(breakpoint));
            }
        }
        Reply::Backtrace(frames) | Reply::Symbols(frames) => {
            for (index, frame) in frames.iter().enumerate() {
                text.push_str(&frame_text(index, frame, style));
            }
        }
        Reply::Error(error) => {
            let _ = writeln!(text, "{} {error}", style.red("error:"));
        }
    }
    text
}

/// 16 bytes a line, with their address, hex and ASCII.
pub fn hexdump(base: u64, bytes: &[u8]) -> String {
    let mut text = String::new();
    for (index, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        let _ = writeln!(
            text,
            "{:#018x}  {:<47}  {ascii}",
            base + index as u64 * 16,
            hex.join(" ")
        );
    }
    text
}

/// An event as text.
pub fn event_text(event: &Event, style: Style) -> String {
    match event {
        Event::Stopped(stop) => stop_text(stop, style),
        Event::ThreadStarted { process, thread } => {
            format!("thread {thread} of process {process} started\n")
        }
        Event::ThreadExited { process, thread } => {
            format!("thread {thread} of process {process} exited\n")
        }
        Event::ProcessExited {
            process,
            return_code,
        } => format!("process {process} exited with code {return_code}\n"),
        Event::Log(line) => format!("agent: {line}\n"),
    }
}

/// One JSON line for a command and its reply.
pub fn reply_json(command: &str, reply: &Reply) -> String {
    let ok = !matches!(reply, Reply::Error(_));
    serde_json::json!({ "command": command, "ok": ok, "reply": reply }).to_string()
}

/// One JSON line for an event.
pub fn event_json(event: &Event) -> String {
    serde_json::json!({ "event": event }).to_string()
}

/// One JSON line for a failure on our side.
pub fn error_json(command: &str, message: &str) -> String {
    serde_json::json!({ "command": command, "ok": false, "error": message }).to_string()
}
