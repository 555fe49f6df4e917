//! One crash: collect a [`Snapshot`] of the process, stream its core, the
//! reports and the markup.
//!
//! Rules: nothing the target does can make this fail as a whole (every
//! read may fail: the piece is left out or zero-filled and the report says
//! so); memory is read in the core writer's bounded chunks, never as a
//! whole; the memory a core holds is capped ([`MEMORY_CAP`]), and what the
//! cap leaves out is named in the report.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use spinel_coredump::build_id::{Hex, LoadSegment, elf_facts};
use spinel_coredump::signal::fault_address;
use spinel_coredump::{
    Arch, Contents, CoreLayout, FpRegisters, MappedFile, Mapping, Permissions, Snapshot, Thread,
    signal_for_exception,
};
use spinel_rt::zx::abi::info::InfoMapsEntry;
use spinel_rt::zx::abi::vm::{VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE};
use spinel_rt::zx::{self, Exception, ExceptionReport, HandleBased, Process};
use spinel_symbolize::{Memory, NameStyle, Symbolizer};

use crate::report::{CrashFacts, StackFrame};
use crate::transport::FileSender;

/// Most bytes of memory a core holds; mappings past it are left out.
pub const MEMORY_CAP: u64 = 64 * 1024 * 1024;
/// Most bytes of one thread's stack captured above its stack pointer.
const STACK_CAP: u64 = 1024 * 1024;
/// Frames of a backtrace.
const MAX_FRAMES: usize = 32;
const PAGE: u64 = 4096;

/// What the service needs to dump: the programs' ELFs.
pub trait Programs {
    /// The ELF image of the program called `name`, if the boot image has it.
    fn elf(&mut self, name: &str) -> Option<&'static [u8]>;
}

pub fn arch() -> Arch {
    if zx::arch::ARCH == "aarch64" {
        Arch::Aarch64
    } else {
        Arch::X86_64
    }
}

/// Dump the process of `exception`; `next_id` numbers the files sent.
pub fn dump(exception: &Exception, programs: &mut dyn Programs, next_id: &mut u64) {
    let (Ok(thread), Ok(process)) = (exception.thread(), exception.process()) else {
        spinel_rt::println!("crash-service: the crashed thread or process is gone");
        return;
    };
    // Stop whatever else runs in the process while it is read.
    let _suspended = process.suspend().ok();
    let arch = arch();
    let program = crate::name_of(&process);
    let process_koid = process.koid().unwrap_or(0);
    let thread_koid = thread.koid().unwrap_or(0);
    let report = thread
        .exception_report()
        .unwrap_or_else(|_| ExceptionReport::new(0));
    let registers = match thread.read_registers() {
        Ok(registers) => registers.slots[..arch.general_register_count()].to_vec(),
        Err(status) => {
            spinel_rt::println!("crash-service: {program}: no registers ({status:?})");
            return;
        }
    };
    let elf = programs.elf(&program);
    let facts = elf.and_then(|elf| elf_facts(elf).ok());
    let signal = signal_for_exception(arch, &report);
    let mut notes = Vec::new();
    let segments = facts.as_ref().map(|f| &f.segments[..]);
    let mut mappings = match process_mappings(&process, &program, segments) {
        Ok(mappings) => mappings,
        Err(status) => {
            // Without INFO_PROCESS_MAPS: the ELF's segments and the stack.
            notes.push(format!(
                "INFO_PROCESS_MAPS failed ({status:?}): mappings guessed from the ELF and the stack pointer"
            ));
            let mut mappings = program_mappings(&program, segments);
            let sp = registers[arch.sp_slot()];
            if let Some(stack) = stack_mapping(&process, sp, &mappings) {
                mappings.push(stack);
            }
            mappings
        }
    };
    cap_memory(&mut mappings, &mut notes);
    let fp = fp_registers(&thread);
    if fp.is_none() {
        notes.push(String::from(
            "the FP/SIMD registers could not be read: NT_FPREGSET holds the reset state",
        ));
    }
    let snapshot = Snapshot {
        arch,
        program: program.clone(),
        arguments: program.clone(),
        process_koid,
        entry: elf.and_then(entry_of).unwrap_or(0),
        threads: vec![Thread {
            koid: thread_koid,
            registers: registers.clone(),
            fp,
            signal: signal.0,
            fault_address: fault_address(arch, &report),
        }],
        mappings,
    };
    let frames = backtrace(elf, &process, &registers);
    let base = format!("{program}-{process_koid}");
    let core_name = format!("{base}.core");
    let (core_size, unreadable) = send_core(&snapshot, &process, &core_name, next_id);
    if unreadable > 0 {
        notes.push(format!(
            "{unreadable} bytes could not be read (the mapping vanished): written as zeros"
        ));
    }
    notes.push(String::from(
        "only the faulting thread is dumped (the kernel offers no way to list the others)",
    ));
    let facts = CrashFacts {
        arch,
        program: &program,
        process_koid,
        thread_koid,
        report: &report,
        signal,
        registers: &registers,
        frames: &frames,
        build_id: facts.as_ref().and_then(|f| f.build_id.as_deref()),
        segments: facts.as_ref().map(|f| &f.segments[..]).unwrap_or(&[]),
        core_name: &core_name,
        core_size,
        mappings: &snapshot.mappings,
        notes: &notes,
    };
    crate::report::print_markup(&facts);
    let text = crate::report::text(&facts);
    crate::transport::send(take(next_id), &format!("{base}.txt"), text.as_bytes());
    let json = crate::report::json(&facts);
    crate::transport::send(take(next_id), &format!("{base}.json"), json.as_bytes());
    spinel_rt::println!(
        "crash-service: {program} (process {process_koid}) crashed: {}; core {core_name} ({core_size} bytes)",
        spinel_debug_protocol::exception_name(report.header.exception_type)
    );
}

fn take(next_id: &mut u64) -> u64 {
    *next_id += 1;
    *next_id
}

/// The ELF's entry point (Spinel programs load at their link addresses).
fn entry_of(elf: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = elf.get(24..32)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// Most mappings read with INFO_PROCESS_MAPS.
const MAX_MAPPINGS: usize = 4096;

/// The process's mappings (INFO_PROCESS_MAPS): writable ones captured,
/// the rest left out; those inside the program's segments name its file.
fn process_mappings(
    process: &Process,
    program: &str,
    segments: Option<&[LoadSegment]>,
) -> Result<Vec<Mapping>, zx::Status> {
    let count = process.maps_count()?.min(MAX_MAPPINGS);
    // A few more records than counted: the process may map while we look.
    let mut buffer = vec![0u8; (count + 8).min(MAX_MAPPINGS) * InfoMapsEntry::SIZE];
    let maps = process.maps(&mut buffer)?;
    let mut mappings = Vec::new();
    for entry in maps {
        let flags = entry.mmu_flags;
        let permissions = Permissions {
            read: flags & VM_PERM_READ != 0,
            write: flags & VM_PERM_WRITE != 0,
            execute: flags & VM_PERM_EXECUTE != 0,
        };
        let file = segments.unwrap_or(&[]).iter().find_map(|segment| {
            let start = segment.vaddr & !(PAGE - 1);
            let end = (segment.vaddr + segment.size).next_multiple_of(PAGE);
            (entry.base >= start && entry.base < end).then(|| MappedFile {
                path: String::from(program),
                offset: (segment.file_offset & !(PAGE - 1)) + (entry.base - start),
            })
        });
        let name = match entry.name_bytes() {
            [] if file.is_some() => String::from(program),
            [] => String::from("anonymous"),
            name => String::from_utf8_lossy(name).into_owned(),
        };
        mappings.push(Mapping {
            base: entry.base,
            size: entry.size,
            permissions,
            name,
            file,
            contents: if permissions.write {
                Contents::Streamed
            } else {
                Contents::LeftOut
            },
        });
    }
    Ok(mappings)
}

/// The thread's FP/SIMD registers in Linux's `NT_FPREGSET` form.
fn fp_registers(thread: &zx::Thread) -> Option<FpRegisters> {
    let mut bytes = [0u8; 528];
    let size = thread.read_fp_state(&mut bytes).ok()?;
    match arch() {
        Arch::X86_64 => {
            let fxsave: [u8; 512] = bytes.get(..512)?.try_into().ok()?;
            Some(FpRegisters::X86_64 { fxsave })
        }
        Arch::Aarch64 if size >= 520 => {
            let mut vregs = [0u128; 32];
            for (i, v) in vregs.iter_mut().enumerate() {
                *v = u128::from_le_bytes(bytes[i * 16..i * 16 + 16].try_into().ok()?);
            }
            let word = |at: usize| {
                u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
            };
            Some(FpRegisters::Aarch64 {
                vregs,
                fpsr: word(512),
                fpcr: word(516),
            })
        }
        Arch::Aarch64 => None,
    }
}

/// The program's `PT_LOAD` segments: writable ones captured, the rest
/// left out (the ELF has them) and named as the program's file.
fn program_mappings(program: &str, segments: Option<&[LoadSegment]>) -> Vec<Mapping> {
    let mut mappings = Vec::new();
    for segment in segments.unwrap_or(&[]) {
        let base = segment.vaddr & !(PAGE - 1);
        let end = (segment.vaddr + segment.size).next_multiple_of(PAGE);
        let contents = if segment.permissions.write {
            Contents::Streamed
        } else {
            Contents::LeftOut
        };
        mappings.push(Mapping {
            base,
            size: end - base,
            permissions: segment.permissions,
            name: String::from(program),
            file: Some(MappedFile {
                path: String::from(program),
                offset: segment.file_offset & !(PAGE - 1),
            }),
            contents,
        });
    }
    mappings
}

/// The stack of the thread from its stack pointer's page up to the end of
/// what can be read (at most [`STACK_CAP`]), unless a mapping covers it.
fn stack_mapping(process: &Process, sp: u64, others: &[Mapping]) -> Option<Mapping> {
    let base = sp & !(PAGE - 1);
    let mut end = base;
    let mut probe = [0u8; 8];
    while end - base < STACK_CAP
        && !others
            .iter()
            .any(|m| end >= m.base && end < m.base + m.size)
        && matches!(process.read_memory(end, &mut probe), Ok(8))
    {
        end += PAGE;
    }
    (end > base).then(|| Mapping {
        base,
        size: end - base,
        permissions: Permissions::RW,
        name: String::from("stack"),
        file: None,
        contents: Contents::Streamed,
    })
}

/// Leave out captured mappings past [`MEMORY_CAP`] (largest last), noting each.
fn cap_memory(mappings: &mut [Mapping], notes: &mut Vec<String>) {
    let mut total = 0u64;
    for mapping in mappings.iter_mut() {
        if mapping.contents == Contents::LeftOut {
            continue;
        }
        if total + mapping.size > MEMORY_CAP {
            notes.push(format!(
                "{} at {:#x} ({} bytes) left out: the core's memory is capped at {} bytes",
                mapping.name, mapping.base, mapping.size, MEMORY_CAP
            ));
            mapping.contents = Contents::LeftOut;
        } else {
            total += mapping.size;
        }
    }
}

/// Stream the core as a file on the console; returns its size and the
/// bytes that could not be read.
fn send_core(snapshot: &Snapshot, process: &Process, name: &str, next_id: &mut u64) -> (u64, u64) {
    let layout = match CoreLayout::new(snapshot) {
        Ok(layout) => layout,
        Err(error) => {
            spinel_rt::println!("crash-service: no core for {name}: {error}");
            return (0, 0);
        }
    };
    let mut file = FileSender::begin(take(next_id), name, layout.total_size());
    let written = layout.write::<()>(
        snapshot,
        &mut |bytes| {
            file.write(bytes);
            Ok(())
        },
        &mut |address, buffer| matches!(process.read_memory(address, buffer), Ok(n) if n == buffer.len()),
    );
    file.end();
    (
        layout.total_size(),
        written.map_or(0, |summary| summary.unreadable),
    )
}

/// The process's stack, word by word, for the unwinder.
struct ProcessMemory<'a>(&'a Process);

impl Memory for ProcessMemory<'_> {
    fn read_u64(&mut self, address: u64) -> Option<u64> {
        let mut word = [0u8; 8];
        match self.0.read_memory(address, &mut word) {
            Ok(8) => Some(u64::from_le_bytes(word)),
            _ => None,
        }
    }
}

/// Unwind and symbolize the faulting thread (pcs only without the ELF).
fn backtrace(elf: Option<&[u8]>, process: &Process, registers: &[u64]) -> Vec<StackFrame> {
    let Some(symbolizer) = elf.and_then(|elf| Symbolizer::new(elf).ok()) else {
        return vec![StackFrame {
            pc: registers[arch().pc_slot()],
            locations: Vec::new(),
        }];
    };
    let symbolizer = symbolizer.with_style(NameStyle::Readable);
    symbolizer
        .unwind(registers, &mut ProcessMemory(process), MAX_FRAMES)
        .into_iter()
        .map(|frame| StackFrame {
            pc: frame.pc,
            locations: symbolizer
                .symbolize(frame.lookup_pc())
                .into_iter()
                .filter(|f| f.function.is_some() || f.file.is_some())
                .collect(),
        })
        .collect()
}

/// The build id in hex, or `-`.
pub fn hex_or_dash(id: Option<&[u8]>) -> String {
    id.map_or_else(|| String::from("-"), |id| format!("{}", Hex(id)))
}
