//! The crash report as text and JSON, and the symbolizer markup.
//!
//! Rules: the JSON field names are a stable interface (documented in the
//! README; the xtask's tests read them): add fields, never rename them.
//! The markup is printed one element a line, each its own `debug_write`.

use core::fmt::Write as _;

use alloc::string::String;
use alloc::vec::Vec;

use spinel_coredump::build_id::{Hex, LoadSegment};
use spinel_coredump::markup::{self, Module};
use spinel_coredump::signal::fault_address;
use spinel_coredump::{Arch, Contents, Mapping, Signal};
use spinel_rt::zx::{self, ExceptionReport};
use spinel_symbolize::Frame;

/// One frame of a backtrace: its pc and each location, the innermost
/// (inlined) first.
pub struct StackFrame {
    pub pc: u64,
    pub locations: Vec<Frame>,
}

/// What the reports are made from.
pub struct CrashFacts<'a> {
    pub arch: Arch,
    pub program: &'a str,
    pub process_koid: u64,
    pub thread_koid: u64,
    pub report: &'a ExceptionReport,
    pub signal: Signal,
    pub registers: &'a [u64],
    pub frames: &'a [StackFrame],
    pub build_id: Option<&'a [u8]>,
    pub segments: &'a [LoadSegment],
    pub core_name: &'a str,
    pub core_size: u64,
    pub mappings: &'a [Mapping],
    pub notes: &'a [String],
}

impl CrashFacts<'_> {
    fn pc(&self) -> u64 {
        self.registers[self.arch.pc_slot()]
    }
    fn exception_name(&self) -> &'static str {
        spinel_debug_protocol::exception_name(self.report.header.exception_type)
    }
    fn register_names(&self) -> &'static [&'static str] {
        match self.arch {
            Arch::X86_64 => &spinel_rt::zx::abi::thread::x86_64::NAMES,
            Arch::Aarch64 => &spinel_rt::zx::abi::thread::aarch64::NAMES,
        }
    }
    /// The arch facts in one line, as the debugger shows a stop.
    fn arch_facts(&self) -> String {
        let code = zx::arch::report_code(self.report);
        let address = zx::arch::report_fault_address(self.report);
        match self.arch {
            Arch::X86_64 => alloc::format!(
                "x86_64 vector {code}, error code {:#x}, cr2 {address:#x}",
                zx::arch::report_error_code(self.report)
            ),
            Arch::Aarch64 => alloc::format!(
                "aarch64 ESR {:#010x} (EC {code:#04x}), FAR {address:#x}",
                self.report.context.arch.as_arm64().esr
            ),
        }
    }
}

/// The text report: the exception, the arch facts, where, the backtrace.
pub fn text(facts: &CrashFacts<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "* thread {} of process {} ({}) crashed: {} ({:#x}), {}",
        facts.thread_koid,
        facts.process_koid,
        facts.program,
        facts.exception_name(),
        facts.report.header.exception_type,
        facts.signal.name()
    );
    let _ = writeln!(out, "  {}", facts.arch_facts());
    if let Some(location) = facts.frames.first().and_then(|f| f.locations.first()) {
        let _ = writeln!(
            out,
            "  in {} at {}:{}:{}",
            location.function.as_deref().unwrap_or("??"),
            location.file.as_deref().unwrap_or("??"),
            location.line,
            location.column
        );
    }
    let _ = writeln!(out, "backtrace:");
    for (index, frame) in facts.frames.iter().enumerate() {
        if frame.locations.is_empty() {
            let _ = writeln!(out, "  #{index:<2} {:#018x} in ??", frame.pc);
        }
        for (depth, location) in frame.locations.iter().enumerate() {
            let inlined = if depth + 1 < frame.locations.len() {
                " [inlined]"
            } else {
                ""
            };
            let head = if depth == 0 {
                alloc::format!("  #{index:<2} {:#018x} in", frame.pc)
            } else {
                alloc::format!("{:26}", "")
            };
            let _ = writeln!(
                out,
                "{head} {} at {}:{}:{}{inlined}",
                location.function.as_deref().unwrap_or("??"),
                location.file.as_deref().unwrap_or("??"),
                location.line,
                location.column
            );
        }
    }
    let _ = writeln!(out, "registers:");
    for (name, value) in facts.register_names().iter().zip(facts.registers) {
        let _ = writeln!(out, "  {name:<8} {value:#018x}");
    }
    let _ = writeln!(out, "mappings:");
    for mapping in facts.mappings {
        let kept = if mapping.contents == Contents::LeftOut {
            "left out"
        } else {
            "in the core"
        };
        let _ = writeln!(
            out,
            "  {:#014x}-{:#014x} {:<3} {:<12} {kept}",
            mapping.base,
            mapping.base + mapping.size,
            alloc::format!("{}", mapping.permissions),
            mapping.name
        );
    }
    let _ = writeln!(
        out,
        "build id: {}",
        crate::dump::hex_or_dash(facts.build_id)
    );
    let _ = writeln!(out, "core: {} ({} bytes)", facts.core_name, facts.core_size);
    for note in facts.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

/// A JSON string literal.
fn quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The JSON report (field names documented in the README).
pub fn json(facts: &CrashFacts<'_>) -> String {
    let mut out = String::from("{\"program\":");
    quoted(&mut out, facts.program);
    let _ = write!(
        out,
        ",\"arch\":\"{}\",\"process_koid\":{},\"thread_koid\":{}",
        facts.arch.name(),
        facts.process_koid,
        facts.thread_koid
    );
    let _ = write!(
        out,
        ",\"exception\":{{\"name\":\"{}\",\"type\":{}}},\"signal\":{{\"name\":\"{}\",\"number\":{}}}",
        facts.exception_name(),
        facts.report.header.exception_type,
        facts.signal.name(),
        facts.signal.0
    );
    let _ = write!(out, ",\"pc\":{}", facts.pc());
    match fault_address(facts.arch, facts.report) {
        Some(address) => {
            let _ = write!(out, ",\"fault_address\":{address}");
        }
        None => out.push_str(",\"fault_address\":null"),
    }
    out.push_str(",\"registers\":{");
    for (i, (name, value)) in facts
        .register_names()
        .iter()
        .zip(facts.registers)
        .enumerate()
    {
        let comma = if i == 0 { "" } else { "," };
        let _ = write!(out, "{comma}\"{name}\":{value}");
    }
    out.push_str("},\"frames\":[");
    let mut first = true;
    for (index, frame) in facts.frames.iter().enumerate() {
        let mut locations: Vec<Option<&Frame>> = frame.locations.iter().map(Some).collect();
        if locations.is_empty() {
            locations.push(None);
        }
        let last = locations.len() - 1;
        for (depth, location) in locations.into_iter().enumerate() {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "{{\"index\":{index},\"pc\":{},\"function\":", frame.pc);
            match location.and_then(|l| l.function.as_deref()) {
                Some(name) => quoted(&mut out, name),
                None => out.push_str("null"),
            }
            out.push_str(",\"file\":");
            match location.and_then(|l| l.file.as_deref()) {
                Some(file) => quoted(&mut out, file),
                None => out.push_str("null"),
            }
            let line = location.map_or(0, |l| l.line);
            let _ = write!(out, ",\"line\":{line},\"inlined\":{}}}", depth < last);
        }
    }
    out.push_str("],\"build_ids\":{");
    if let Some(id) = facts.build_id {
        quoted(&mut out, facts.program);
        let _ = write!(out, ":\"{}\"", Hex(id));
    }
    out.push_str("},\"core\":");
    quoted(&mut out, facts.core_name);
    let _ = write!(out, ",\"core_size\":{},\"notes\":[", facts.core_size);
    for (i, note) in facts.notes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        quoted(&mut out, note);
    }
    out.push_str("]}\n");
    out
}

/// The crash's symbolizer markup on the console, one line per write.
pub fn print_markup(facts: &CrashFacts<'_>) {
    let mut text = String::new();
    let pcs: Vec<u64> = facts.frames.iter().map(|f| f.pc).collect();
    let modules = facts.build_id.map(|id| Module {
        id: 0,
        name: facts.program,
        build_id: id,
        segments: facts.segments,
        load_bias: 0,
    });
    let result = markup::backtrace(&mut text, modules.as_slice(), &pcs);
    if result.is_err() {
        return;
    }
    let _ = zx::debug_write(
        alloc::format!(
            "crash-service: {} (process {}) crashed; its backtrace as symbolizer markup:\n",
            facts.program,
            facts.process_koid
        )
        .as_bytes(),
    );
    for line in text.lines() {
        let _ = zx::debug_write(alloc::format!("{line}\n").as_bytes());
    }
}
