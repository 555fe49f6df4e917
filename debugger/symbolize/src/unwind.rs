//! Stack unwinding by call frame information, with a frame-pointer fallback.
//!
//! Each step finds the frame description entry (FDE) covering the pc, in
//! `.eh_frame` first and then `.debug_frame`, runs its CFI program to the pc,
//! and computes the caller's registers: the canonical frame address (CFA)
//! becomes the caller's stack pointer and the return-address rule gives the
//! caller's pc. Where no FDE covers the pc (hand-written assembly, a binary
//! built without unwind tables), the frame-pointer chain is followed instead
//! (`rbp` / `x29` pointing at the saved frame pointer and return address).
//!
//! Registers come in and go out in `spinel_abi::thread` slot order; inside,
//! they are kept by DWARF register number.

use alloc::vec::Vec;
use gimli::{
    BaseAddresses, CfaRule, DebugFrame, EhFrame, Evaluation, EvaluationResult,
    FrameDescriptionEntry, Register, RegisterRule, UnwindContext, UnwindSection, Value,
};
use object::read::elf::ElfFile64;
use object::{Object, ObjectSection};

use crate::Reader;

/// The architectures the symbolizer knows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// DWARF number of the stack pointer.
    fn sp(self) -> u16 {
        match self {
            Arch::X86_64 => 7,
            Arch::Aarch64 => 31,
        }
    }

    /// DWARF number of the frame pointer.
    fn fp(self) -> u16 {
        match self {
            Arch::X86_64 => 6,
            Arch::Aarch64 => 29,
        }
    }

    /// DWARF number of the return-address column.
    fn return_address(self) -> u16 {
        match self {
            Arch::X86_64 => 16,
            Arch::Aarch64 => 30,
        }
    }

    /// For each `spinel_abi::thread` slot, its DWARF register number.
    fn slots(self) -> &'static [(usize, u16)] {
        use spinel_abi::thread::x86_64;
        match self {
            // DWARF: rax rdx rcx rbx rsi rdi rbp rsp r8..r15, 16 = return address (rip).
            Arch::X86_64 => &[
                (x86_64::RAX, 0),
                (x86_64::RDX, 1),
                (x86_64::RCX, 2),
                (x86_64::RBX, 3),
                (x86_64::RSI, 4),
                (x86_64::RDI, 5),
                (x86_64::RBP, 6),
                (x86_64::RSP, 7),
                (8, 8),
                (9, 9),
                (10, 10),
                (11, 11),
                (12, 12),
                (13, 13),
                (14, 14),
                (x86_64::R15, 15),
            ],
            // DWARF: x0..x30 are 0..30, sp is 31.
            Arch::Aarch64 => &AARCH64_SLOTS,
        }
    }

    /// Slot of the pc in `spinel_abi::thread` order.
    fn pc_slot(self) -> usize {
        match self {
            Arch::X86_64 => spinel_abi::thread::x86_64::RIP,
            Arch::Aarch64 => spinel_abi::thread::aarch64::PC,
        }
    }
}

const AARCH64_SLOTS: [(usize, u16); 32] = {
    let mut slots = [(0, 0); 32];
    let mut i = 0;
    while i < 32 {
        slots[i] = (i, i as u16);
        i += 1;
    }
    slots
};

/// Number of DWARF registers tracked (x86_64 uses 0..=16, aarch64 0..=31).
const REGISTERS: usize = 32;

/// Memory of the stopped process, as the unwinder needs it.
pub trait Memory {
    /// The 64-bit little-endian word at `address`, or `None` if unreadable.
    fn read_u64(&mut self, address: u64) -> Option<u64>;
}

/// How a frame's pc was found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UnwindMethod {
    /// Frame 0: the thread's registers.
    Registers,
    /// The callee's FDE in `.eh_frame`.
    EhFrame,
    /// The callee's FDE in `.debug_frame`.
    DebugFrame,
    /// The callee's frame-pointer record.
    FramePointer,
}

/// One frame of a backtrace.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UnwindFrame {
    /// Frame 0: where the thread stopped; other frames: the return address.
    pub pc: u64,
    /// The stack pointer in this frame.
    pub sp: u64,
    pub method: UnwindMethod,
}

impl UnwindFrame {
    /// The address to symbolize: inside the call instruction for a return
    /// address, so that the call's line (and inline chain) is reported, not
    /// the next statement's.
    pub fn lookup_pc(&self) -> u64 {
        match self.method {
            UnwindMethod::Registers => self.pc,
            _ => self.pc.saturating_sub(1),
        }
    }
}

/// A frame's registers by DWARF number.
#[derive(Clone, Copy)]
struct RegisterFile {
    values: [Option<u64>; REGISTERS],
    pc: u64,
}

impl RegisterFile {
    fn get(&self, register: u16) -> Option<u64> {
        self.values.get(usize::from(register)).copied().flatten()
    }

    fn set(&mut self, register: u16, value: Option<u64>) {
        if let Some(slot) = self.values.get_mut(usize::from(register)) {
            *slot = value;
        }
    }
}

/// The FDEs of one section, sorted by start address.
struct FdeIndex<'data, S> {
    section: S,
    bases: BaseAddresses,
    fdes: Vec<FrameDescriptionEntry<Reader<'data>>>,
}

impl<'data, S: UnwindSection<Reader<'data>>> FdeIndex<'data, S> {
    fn new(section: S, bases: BaseAddresses) -> Self {
        let mut fdes = Vec::new();
        let mut entries = section.entries(&bases);
        // A malformed entry ends the walk; what was read before it is kept.
        while let Ok(Some(entry)) = entries.next() {
            if let gimli::CieOrFde::Fde(partial) = entry
                && let Ok(fde) = partial.parse(S::cie_from_offset)
                && fde.len() > 0
            {
                fdes.push(fde);
            }
        }
        fdes.sort_by_key(|fde| fde.initial_address());
        FdeIndex {
            section,
            bases,
            fdes,
        }
    }

    fn find(&self, pc: u64) -> Option<&FrameDescriptionEntry<Reader<'data>>> {
        let after = self.fdes.partition_point(|fde| fde.initial_address() <= pc);
        // Overlapping FDEs (discarded functions at address 0) are skipped by
        // walking back while the candidate does not contain the pc.
        self.fdes[..after]
            .iter()
            .rev()
            .take(4)
            .find(|fde| fde.contains(pc))
    }
}

/// The call frame information of one ELF.
pub(crate) struct CfiTables<'data> {
    arch: Arch,
    eh_frame: Option<FdeIndex<'data, EhFrame<Reader<'data>>>>,
    debug_frame: Option<FdeIndex<'data, DebugFrame<Reader<'data>>>>,
}

impl<'data> CfiTables<'data> {
    pub(crate) fn new(file: &ElfFile64<'data>, arch: Arch, endian: gimli::RunTimeEndian) -> Self {
        let section_address = |name: &str| file.section_by_name(name).map(|s| s.address());
        let mut bases = BaseAddresses::default();
        if let Some(address) = section_address(".eh_frame_hdr") {
            bases = bases.set_eh_frame_hdr(address);
        }
        if let Some(address) = section_address(".text") {
            bases = bases.set_text(address);
        }
        if let Some(address) = section_address(".got") {
            bases = bases.set_got(address);
        }
        let eh_frame = file.section_by_name(".eh_frame").and_then(|section| {
            let data = section.data().ok()?;
            let mut eh = EhFrame::new(data, endian);
            eh.set_address_size(8);
            let bases = bases.clone().set_eh_frame(section.address());
            Some(FdeIndex::new(eh, bases))
        });
        let debug_frame = file.section_by_name(".debug_frame").and_then(|section| {
            // A compressed .debug_frame is not used (the index borrows the
            // image); .eh_frame and frame pointers still unwind.
            let compressed = section.compressed_data().ok()?;
            if compressed.format != object::CompressionFormat::None {
                return None;
            }
            let data = section.data().ok()?;
            let mut debug = DebugFrame::new(data, endian);
            debug.set_address_size(8);
            Some(FdeIndex::new(debug, bases.clone()))
        });
        CfiTables {
            arch,
            eh_frame,
            debug_frame,
        }
    }

    pub(crate) fn unwind(
        &self,
        registers: &[u64],
        memory: &mut dyn Memory,
        max_frames: usize,
        is_code: impl Fn(u64) -> bool,
    ) -> Vec<UnwindFrame> {
        let arch = self.arch;
        let mut frame = RegisterFile {
            values: [None; REGISTERS],
            pc: registers.get(arch.pc_slot()).copied().unwrap_or(0),
        };
        for &(slot, dwarf) in arch.slots() {
            frame.set(dwarf, registers.get(slot).copied());
        }
        let mut frames = Vec::new();
        let mut method = UnwindMethod::Registers;
        let mut context = UnwindContext::new();
        while frames.len() < max_frames {
            let sp = frame.get(arch.sp()).unwrap_or(0);
            frames.push(UnwindFrame {
                pc: frame.pc,
                sp,
                method,
            });
            if frame.pc == 0 || !is_code(frame.pc) {
                break;
            }
            let lookup = match method {
                UnwindMethod::Registers => frame.pc,
                _ => frame.pc - 1,
            };
            let step = self
                .step_cfi(&frame, lookup, memory, &mut context)
                .or_else(|| self.step_frame_pointer(&frame, memory));
            let Some((caller, how)) = step else { break };
            let caller_sp = caller.get(arch.sp()).unwrap_or(0);
            // The stack grows down: a caller's frame is above its callee's.
            // A step that does not move up (or returns to 0) ends the walk.
            if caller.pc == 0 || caller_sp < sp || (caller_sp == sp && caller.pc == frame.pc) {
                break;
            }
            frame = caller;
            method = how;
        }
        frames
    }

    /// One step by CFI: `None` when no FDE covers `lookup` or a rule cannot
    /// be evaluated.
    fn step_cfi(
        &self,
        frame: &RegisterFile,
        lookup: u64,
        memory: &mut dyn Memory,
        context: &mut UnwindContext<usize>,
    ) -> Option<(RegisterFile, UnwindMethod)> {
        if let Some(index) = &self.eh_frame
            && let Some(fde) = index.find(lookup)
        {
            let row = fde
                .unwind_info_for_address(&index.section, &index.bases, context, lookup)
                .ok()?;
            return self
                .apply(row, &index.section, frame, memory)
                .map(|caller| (caller, UnwindMethod::EhFrame));
        }
        if let Some(index) = &self.debug_frame
            && let Some(fde) = index.find(lookup)
        {
            let row = fde
                .unwind_info_for_address(&index.section, &index.bases, context, lookup)
                .ok()?;
            return self
                .apply(row, &index.section, frame, memory)
                .map(|caller| (caller, UnwindMethod::DebugFrame));
        }
        None
    }

    /// The caller's registers by the rules of `row`.
    fn apply<S: UnwindSection<Reader<'data>>>(
        &self,
        row: &gimli::UnwindTableRow<usize>,
        section: &S,
        frame: &RegisterFile,
        memory: &mut dyn Memory,
    ) -> Option<RegisterFile> {
        let arch = self.arch;
        let cfa = match row.cfa() {
            CfaRule::RegisterAndOffset { register, offset } => {
                frame.get(register.0)?.checked_add_signed(*offset)?
            }
            CfaRule::Expression(expression) => {
                let expression = expression.get(section).ok()?;
                evaluate(expression, None, frame, memory)?
            }
        };
        // Registers without a rule keep their value (callee-saved ones are
        // preserved by the callee; caller-saved ones are not meaningful).
        let mut caller = *frame;
        for register in 0..REGISTERS as u16 {
            let Some(rule) = row.register(Register(register)) else {
                continue;
            };
            let value = match rule {
                RegisterRule::Undefined => None,
                RegisterRule::SameValue => frame.get(register),
                RegisterRule::Offset(offset) => memory.read_u64(cfa.checked_add_signed(offset)?),
                RegisterRule::ValOffset(offset) => cfa.checked_add_signed(offset),
                RegisterRule::Register(other) => frame.get(other.0),
                RegisterRule::Expression(expression) => {
                    let address =
                        evaluate(expression.get(section).ok()?, Some(cfa), frame, memory)?;
                    memory.read_u64(address)
                }
                RegisterRule::ValExpression(expression) => {
                    evaluate(expression.get(section).ok()?, Some(cfa), frame, memory)
                }
                RegisterRule::Constant(value) => Some(value),
                RegisterRule::Architectural => return None,
            };
            caller.set(register, value);
        }
        // The caller's pc is its return address.
        caller.pc = caller.get(arch.return_address())?;
        if arch == Arch::X86_64 {
            // Column 16 is not a real register: only the pc.
            caller.set(16, None);
        }
        caller.set(arch.sp(), Some(cfa));
        Some(caller)
    }

    /// One step through the frame-pointer record: `[fp]` is the caller's fp,
    /// `[fp + 8]` the return address, `fp + 16` the caller's sp.
    fn step_frame_pointer(
        &self,
        frame: &RegisterFile,
        memory: &mut dyn Memory,
    ) -> Option<(RegisterFile, UnwindMethod)> {
        let arch = self.arch;
        let fp = frame.get(arch.fp())?;
        if fp == 0 || fp % 8 != 0 {
            return None;
        }
        let mut caller = *frame;
        caller.set(arch.fp(), Some(memory.read_u64(fp)?));
        caller.pc = memory.read_u64(fp.checked_add(8)?)?;
        caller.set(arch.sp(), Some(fp.checked_add(16)?));
        Some((caller, UnwindMethod::FramePointer))
    }
}

/// Evaluates a CFI expression; `initial` (the CFA, for register rules) is
/// pushed first.
fn evaluate(
    expression: gimli::Expression<Reader<'_>>,
    initial: Option<u64>,
    frame: &RegisterFile,
    memory: &mut dyn Memory,
) -> Option<u64> {
    let encoding = gimli::Encoding {
        format: gimli::Format::Dwarf32,
        version: 4,
        address_size: 8,
    };
    let mut evaluation: Evaluation<Reader<'_>> = expression.evaluation(encoding);
    if let Some(value) = initial {
        evaluation.set_initial_value(value);
    }
    let mut result = evaluation.evaluate().ok()?;
    // Bounded: a hostile expression cannot loop the debugger forever.
    for _ in 0..64 {
        match result {
            EvaluationResult::Complete => {
                let pieces = evaluation.result();
                return match pieces.first()?.location {
                    gimli::Location::Address { address } => Some(address),
                    _ => None,
                };
            }
            EvaluationResult::RequiresMemory { address, .. } => {
                let value = memory.read_u64(address)?;
                result = evaluation.resume_with_memory(Value::Generic(value)).ok()?;
            }
            EvaluationResult::RequiresRegister { register, .. } => {
                let value = frame.get(register.0)?;
                result = evaluation
                    .resume_with_register(Value::Generic(value))
                    .ok()?;
            }
            _ => return None,
        }
    }
    None
}
