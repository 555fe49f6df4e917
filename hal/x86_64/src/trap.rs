//! Traps as data: vector decoding into [`TrapRecord`]s, the kernel-mode
//! trap handler, the fix-up table behind `provoke_kernel_trap`, fatal
//! reports and frame-pointer backtraces.

use core::fmt::Write;

use spinel_hal_api::{
    ArchFacts, ExitCode, Irq, KernelHooks, KernelTrapAction, ProvokedTrap, TrapKind, TrapRecord,
};
use x86_64::registers::control::Cr2;

use crate::cpu::PIC_VECTOR_BASE;
use crate::entry::{self, TrapFrame};
use crate::paging::{self, DIRECT_MAP_BASE};
use crate::serial::{self, Console};
use crate::timer;

// Exception vectors (Intel SDM vol. 3, table 6-1) that get their own kind.
const DEBUG: u64 = 1;
const NMI: u64 = 2;
const BREAKPOINT: u64 = 3;
const INVALID_OPCODE: u64 = 6;
const DOUBLE_FAULT: u64 = 8;
const PAGE_FAULT: u64 = 14;
const ALIGNMENT_CHECK: u64 = 17;
const MACHINE_CHECK: u64 = 18;

// Page-fault error code bits.
const PF_PRESENT: u64 = 1 << 0;
const PF_WRITE: u64 = 1 << 1;
const PF_INSTRUCTION_FETCH: u64 = 1 << 4;

static HOOKS: spin::Once<KernelHooks> = spin::Once::new();

pub(crate) fn set_hooks(hooks: KernelHooks) {
    HOOKS.call_once(|| hooks);
}

/// Pass an interrupt to the kernel (after it has been acknowledged).
pub(crate) fn deliver_irq(irq: Irq) {
    if let Some(hooks) = HOOKS.get() {
        (hooks.irq)(irq);
    }
}

/// The record of exception `frame.vector` (0..32).
pub(crate) fn record(frame: &TrapFrame, from_user: bool) -> TrapRecord {
    let (vector, error_code) = (frame.vector, frame.error_code);
    let cr2 = if vector == PAGE_FAULT {
        Cr2::read_raw()
    } else {
        0
    };
    if vector == DEBUG {
        clear_debug_status();
    }
    let kind = match vector {
        PAGE_FAULT => TrapKind::PageFault {
            write: error_code & PF_WRITE != 0,
            execute: error_code & PF_INSTRUCTION_FETCH != 0,
            present: error_code & PF_PRESENT != 0,
        },
        INVALID_OPCODE => TrapKind::UndefinedInstruction,
        BREAKPOINT => TrapKind::SoftwareBreakpoint,
        DEBUG => TrapKind::HardwareBreakpoint,
        ALIGNMENT_CHECK => TrapKind::UnalignedAccess,
        _ => TrapKind::General,
    };
    TrapRecord {
        kind,
        pc: frame.rip,
        sp: frame.rsp,
        fault_address: (vector == PAGE_FAULT).then_some(cr2),
        from_user,
        arch: ArchFacts::X86_64 {
            vector,
            error_code,
            cr2,
        },
    }
}

/// Reset DR6: its status bits are sticky, and each #DB should report only
/// its own cause.
fn clear_debug_status() {
    const DR6_RESERVED_ONES: u64 = 0xffff_0ff0;
    // SAFETY: writing DR6 only changes the debug status bits.
    unsafe {
        core::arch::asm!("mov dr6, {}", in(reg) DR6_RESERVED_ONES, options(nomem, nostack, preserves_flags));
    }
}

/// Interrupt vectors that are not exceptions.
pub(crate) enum Interrupt {
    /// Acknowledged; hand it to the kernel.
    Deliver(Irq),
    /// Nothing to do (spurious, or a masked PIC line's ghost).
    Ignore,
}

/// Acknowledge interrupt `vector` (32..=255) and say what it was.
pub(crate) fn acknowledge(vector: u64) -> Interrupt {
    match vector {
        timer::TIMER_VECTOR => {
            timer::end_of_interrupt();
            Interrupt::Deliver(Irq::Timer)
        }
        serial::DEBUG_LINK_VECTOR => {
            timer::end_of_interrupt();
            Interrupt::Deliver(Irq::DebugLink)
        }
        // The APIC's spurious vector and the masked PICs' spurious lines
        // (7 and 15) must not be acknowledged.
        timer::SPURIOUS_VECTOR => Interrupt::Ignore,
        v if (u64::from(PIC_VECTOR_BASE)..u64::from(PIC_VECTOR_BASE) + 16).contains(&v) => {
            Interrupt::Ignore
        }
        v => {
            timer::end_of_interrupt();
            Interrupt::Deliver(Irq::Other(v as u32))
        }
    }
}

/// Every trap taken in kernel mode (and NMI, double fault and machine check
/// from anywhere) comes here from the common stub.
pub(crate) extern "C" fn kernel_trap(frame: &mut TrapFrame) {
    match frame.vector {
        // A thread single-stepping `syscall` gets the #DB on the syscall
        // entry's first instruction, in ring 0 (TF applies to the
        // instruction that cleared it). The kernel has nothing to stop
        // there: resume the entry.
        DEBUG if frame.rip == entry::spinel_x86_64_syscall_entry as *const () as u64 => {
            clear_debug_status();
        }
        NMI => {
            let _ = writeln!(Console, "x86_64 HAL: NMI at {:#x}, ignored", frame.rip);
        }
        DOUBLE_FAULT | MACHINE_CHECK => {
            let record = record(frame, false);
            fatal(
                frame,
                &record,
                "double fault or machine check (kernel stack overflow?)",
            );
        }
        0..32 => {
            let record = record(frame, false);
            let action = match HOOKS.get() {
                Some(hooks) => (hooks.kernel_trap)(&record),
                None => KernelTrapAction::Fatal,
            };
            match (action, fixup(frame.rip)) {
                (KernelTrapAction::Recover, Some(resume)) => frame.rip = resume,
                (KernelTrapAction::Recover, None) => fatal(
                    frame,
                    &record,
                    "the kernel asked to recover from a trap that was not provoked",
                ),
                (KernelTrapAction::Fatal, _) => fatal(frame, &record, "fatal kernel trap"),
            }
        }
        vector => {
            if let Interrupt::Deliver(irq) = acknowledge(vector) {
                deliver_irq(irq);
            }
        }
    }
}

/// Print what is known about a trap the kernel cannot survive, and stop.
fn fatal(frame: &TrapFrame, record: &TrapRecord, why: &str) -> ! {
    let mut out = Console;
    let _ = writeln!(out, "\nx86_64 HAL: {why}\n  {record:?}");
    let _ = writeln!(
        out,
        "  rax {:016x} rbx {:016x} rcx {:016x} rdx {:016x}\n  \
         rsi {:016x} rdi {:016x} rbp {:016x} rsp {:016x}\n  \
         r8  {:016x} r9  {:016x} r10 {:016x} r11 {:016x}\n  \
         r12 {:016x} r13 {:016x} r14 {:016x} r15 {:016x}\n  \
         rip {:016x} rflags {:08x} cs {:x} ss {:x}",
        frame.rax,
        frame.rbx,
        frame.rcx,
        frame.rdx,
        frame.rsi,
        frame.rdi,
        frame.rbp,
        frame.rsp,
        frame.r8,
        frame.r9,
        frame.r10,
        frame.r11,
        frame.r12,
        frame.r13,
        frame.r14,
        frame.r15,
        frame.rip,
        frame.rflags,
        frame.cs,
        frame.ss,
    );
    let mut frames = [0usize; 32];
    let count = walk_frames(frame.rbp, &mut frames);
    let _ = write!(out, "  backtrace: {:#x}", frame.rip);
    for address in &frames[..count] {
        let _ = write!(out, " {address:#x}");
    }
    let _ = writeln!(out);
    crate::power_off(ExitCode::Failure)
}

/// One entry of the fix-up table: a provoking instruction as the trap
/// reports it (`rip` in the frame) and where to resume.
#[repr(C)]
struct Fixup {
    trap_pc: u64,
    resume: u64,
}

// Bounds of the `.spinel_fixup` section, collected by link.ld.
unsafe extern "C" {
    static __spinel_fixup_start: Fixup;
    static __spinel_fixup_end: Fixup;
}

fn fixup(pc: u64) -> Option<u64> {
    let start = &raw const __spinel_fixup_start;
    let end = &raw const __spinel_fixup_end;
    // SAFETY: the linker places the table between the two symbols; it is
    // made of whole `Fixup` entries written by `provoke` below.
    let table =
        unsafe { core::slice::from_raw_parts(start, end.offset_from(start).max(0) as usize) };
    table
        .iter()
        .find(|entry| entry.trap_pc == pc)
        .map(|entry| entry.resume)
}

/// Record a fix-up from `$trap` (label) to `$resume` (label).
macro_rules! fixup_entry {
    ($trap:literal, $resume:literal) => {
        concat!(
            ".pushsection .spinel_fixup, \"a\"\n",
            ".balign 8\n",
            ".quad ",
            $trap,
            ", ",
            $resume,
            "\n.popsection"
        )
    };
}

pub(crate) fn provoke(trap: ProvokedTrap) {
    match trap {
        // In all three the instruction traps, the handler finds the fix-up
        // entry for the reported rip and resumes at the label after it.
        // SAFETY: int3 touches nothing; it reports the address after itself.
        ProvokedTrap::Breakpoint => unsafe {
            // int3 reports the address after itself.
            core::arch::asm!("int3", "2:", fixup_entry!("2b", "2b"));
        },
        // SAFETY: ud2 touches nothing.
        ProvokedTrap::UndefinedInstruction => unsafe {
            core::arch::asm!("2: ud2", "3:", fixup_entry!("2b", "3b"));
        },
        // SAFETY: a read into a scratch register; when the address is
        // mapped it simply succeeds.
        ProvokedTrap::PageFault(va) => unsafe {
            core::arch::asm!(
                "2: mov {scratch}, qword ptr [{address}]",
                "3:",
                fixup_entry!("2b", "3b"),
                address = in(reg) va.as_u64(),
                scratch = out(reg) _,
            );
        },
    }
}

/// Return addresses along the frame-pointer chain starting at `fp`,
/// innermost first.
pub(crate) fn walk_frames(mut fp: u64, out: &mut [usize]) -> usize {
    let readable = |address: u64| {
        address.is_multiple_of(8) && address >= DIRECT_MAP_BASE && paging::is_mapped(address)
    };
    let mut count = 0;
    while count < out.len() && readable(fp) && readable(fp + 8) {
        // SAFETY: both words are mapped kernel memory (checked just above);
        // reading them has no side effects.
        let (next, return_address) =
            unsafe { ((fp as *const u64).read(), ((fp + 8) as *const u64).read()) };
        if return_address == 0 {
            break;
        }
        out[count] = return_address as usize;
        count += 1;
        // Callers' frames lie higher on the stack; anything else means the
        // chain ended (rbp = 0 at the bottom) or is corrupt.
        if next <= fp {
            break;
        }
        fp = next;
    }
    count
}

#[inline(never)]
pub(crate) fn backtrace(out: &mut [usize]) -> usize {
    let fp: u64;
    // SAFETY: reads rbp, which the workspace's force-frame-pointers keeps
    // as the frame-chain head.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags));
    }
    walk_frames(fp, out)
}
