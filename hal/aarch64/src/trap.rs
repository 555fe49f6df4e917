//! Exception vectors, kernel-mode traps and interrupts, the ESR decoder,
//! provoked traps with their fixup table, and frame-pointer backtraces.
//!
//! Vector layout (VBAR_EL1): exceptions from EL1 on SP_EL1 save a
//! [`TrapFrame`] on the current stack and call Rust; exceptions from EL0
//! belong to `user.rs` (they return from `UserContext::run`); everything else
//! (EL1 on SP_EL0, FIQ, SError, AArch32) is unexpected and fatal.

use crate::{devicetree, gic, mmu, pl011, timer};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};
use spinel_hal_api::{
    ArchFacts, ExitCode, Irq, KernelHooks, KernelTrapAction, ProvokedTrap, TrapKind, TrapRecord,
};

/// Registers saved by the EL1 vector stubs, in stack order.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    pub x: [u64; 31],
    /// Stack pointer of the interrupted code.
    pub sp: u64,
    pub elr: u64,
    pub spsr: u64,
    pub esr: u64,
    pub far: u64,
    /// A frame record {x29, elr} that x29 points to while the handler runs,
    /// so frame-pointer walks pass through the interrupted function.
    pub frame_record: [u64; 2],
}

const TRAP_FRAME_SIZE: usize = 304;
const _: () = {
    assert!(core::mem::size_of::<TrapFrame>() == TRAP_FRAME_SIZE);
    assert!(core::mem::offset_of!(TrapFrame, sp) == 248);
    assert!(core::mem::offset_of!(TrapFrame, elr) == 256);
    assert!(core::mem::offset_of!(TrapFrame, esr) == 272);
    assert!(core::mem::offset_of!(TrapFrame, frame_record) == 288);
};

core::arch::global_asm!(
    r#"
    // Save the interrupted state as a TrapFrame on the current (SP_EL1)
    // stack. CFI: the interrupted frame's sp is the CFA, its pc is the saved
    // ELR, described as DWARF column 32 (PC) and made the return column (gdb
    // on aarch64 takes a rule for column 32 over its "pc = x30" default),
    // and x29/x30 are in their slots.
    .macro SPINEL_SAVE_FRAME
    sub     sp, sp, #{frame_size}
    .cfi_adjust_cfa_offset {frame_size}
    stp     x0, x1, [sp, #(0 * 16)]
    stp     x2, x3, [sp, #(1 * 16)]
    stp     x4, x5, [sp, #(2 * 16)]
    stp     x6, x7, [sp, #(3 * 16)]
    stp     x8, x9, [sp, #(4 * 16)]
    stp     x10, x11, [sp, #(5 * 16)]
    stp     x12, x13, [sp, #(6 * 16)]
    stp     x14, x15, [sp, #(7 * 16)]
    stp     x16, x17, [sp, #(8 * 16)]
    stp     x18, x19, [sp, #(9 * 16)]
    stp     x20, x21, [sp, #(10 * 16)]
    stp     x22, x23, [sp, #(11 * 16)]
    stp     x24, x25, [sp, #(12 * 16)]
    stp     x26, x27, [sp, #(13 * 16)]
    stp     x28, x29, [sp, #(14 * 16)]
    .cfi_rel_offset x29, (14 * 16 + 8)
    add     x0, sp, #{frame_size}
    stp     x30, x0, [sp, #(15 * 16)]
    .cfi_rel_offset x30, (15 * 16)
    mrs     x1, elr_el1
    mrs     x2, spsr_el1
    stp     x1, x2, [sp, #(16 * 16)]
    .cfi_rel_offset 32, (16 * 16)
    mrs     x3, esr_el1
    mrs     x4, far_el1
    stp     x3, x4, [sp, #(17 * 16)]
    stp     x29, x1, [sp, #(18 * 16)]
    add     x29, sp, #(18 * 16)
    .endm

    // Restore a TrapFrame (ELR may have been changed by the handler) and
    // return to the interrupted code.
    .macro SPINEL_RESTORE_FRAME
    ldp     x1, x2, [sp, #(16 * 16)]
    msr     elr_el1, x1
    msr     spsr_el1, x2
    ldp     x0, x1, [sp, #(0 * 16)]
    ldp     x2, x3, [sp, #(1 * 16)]
    ldp     x4, x5, [sp, #(2 * 16)]
    ldp     x6, x7, [sp, #(3 * 16)]
    ldp     x8, x9, [sp, #(4 * 16)]
    ldp     x10, x11, [sp, #(5 * 16)]
    ldp     x12, x13, [sp, #(6 * 16)]
    ldp     x14, x15, [sp, #(7 * 16)]
    ldp     x16, x17, [sp, #(8 * 16)]
    ldp     x18, x19, [sp, #(9 * 16)]
    ldp     x20, x21, [sp, #(10 * 16)]
    ldp     x22, x23, [sp, #(11 * 16)]
    ldp     x24, x25, [sp, #(12 * 16)]
    ldp     x26, x27, [sp, #(13 * 16)]
    ldp     x28, x29, [sp, #(14 * 16)]
    ldr     x30, [sp, #(15 * 16)]
    add     sp, sp, #{frame_size}
    eret
    .endm

    // An unexpected vector: keep x0 in TPIDR_EL1 (otherwise unused), pass
    // the vector number.
    .macro SPINEL_UNEXPECTED number
    .balign 0x80
    msr     tpidr_el1, x0
    mov     x0, #\number
    b       spinel_unexpected_entry
    .endm

    .section .text.spinel_vectors, "ax"
    .balign 2048
    .global spinel_exception_vectors
spinel_exception_vectors:
    // Current EL with SP_EL0: the kernel never runs on SP_EL0.
    SPINEL_UNEXPECTED 0
    SPINEL_UNEXPECTED 1
    SPINEL_UNEXPECTED 2
    SPINEL_UNEXPECTED 3
    // Current EL with SP_EL1: kernel traps and interrupts.
    .balign 0x80
    b       spinel_kernel_sync_entry
    .balign 0x80
    b       spinel_kernel_irq_entry
    SPINEL_UNEXPECTED 6
    SPINEL_UNEXPECTED 7
    // Lower EL, AArch64: user mode (user.rs).
    .balign 0x80
    b       spinel_user_sync_entry
    .balign 0x80
    b       spinel_user_irq_entry
    .balign 0x80
    b       spinel_user_other_entry
    .balign 0x80
    b       spinel_user_other_entry
    // Lower EL, AArch32: never entered (user PSTATE is forced to AArch64).
    SPINEL_UNEXPECTED 12
    SPINEL_UNEXPECTED 13
    SPINEL_UNEXPECTED 14
    SPINEL_UNEXPECTED 15

    .section .text.spinel_trap_entry, "ax"
    .balign 4
spinel_kernel_sync_entry:
    .cfi_startproc
    .cfi_signal_frame
    .cfi_return_column 32
    .cfi_def_cfa sp, 0
    SPINEL_SAVE_FRAME
    mov     x0, sp
    bl      {kernel_sync}
    SPINEL_RESTORE_FRAME
    .cfi_endproc

    .balign 4
spinel_kernel_irq_entry:
    .cfi_startproc
    .cfi_signal_frame
    .cfi_return_column 32
    .cfi_def_cfa sp, 0
    SPINEL_SAVE_FRAME
    mov     x0, sp
    bl      {kernel_irq}
    SPINEL_RESTORE_FRAME
    .cfi_endproc

    .balign 4
spinel_unexpected_entry:
    .cfi_startproc
    .cfi_signal_frame
    .cfi_return_column 32
    .cfi_def_cfa sp, 0
    SPINEL_SAVE_FRAME
    ldr     x1, [sp]                    // the vector number saved as x0
    mrs     x2, tpidr_el1               // the real x0
    str     x2, [sp]
    mov     x0, sp
    bl      {unexpected}
    .cfi_endproc

    // Provoked traps. Each faulting instruction has a fixup entry naming
    // where execution resumes when the kernel_trap hook answers Recover.
    .section .text.spinel_provoke, "ax"
    .balign 4
    .global spinel_provoke_breakpoint
spinel_provoke_breakpoint:
    .cfi_startproc
1:  brk     #0
2:  ret
    .cfi_endproc
    .pushsection .rodata.spinel_fixups, "a"
    .balign 8
    .quad   1b, 2b, 0
    .popsection

    .global spinel_provoke_undefined
spinel_provoke_undefined:
    .cfi_startproc
1:  udf     #0
2:  ret
    .cfi_endproc
    .pushsection .rodata.spinel_fixups, "a"
    .balign 8
    .quad   1b, 2b, 0
    .popsection

    // x0: the address to read.
    .global spinel_provoke_read
spinel_provoke_read:
    .cfi_startproc
1:  ldr     x0, [x0]
2:  ret
    .cfi_endproc
    .pushsection .rodata.spinel_fixups, "a"
    .balign 8
    .quad   1b, 2b, 0
    .popsection

    // Semihosting call (w0: operation, x1: parameter block). Without
    // QEMU's -semihosting the HLT is undefined: the silent fixup returns
    // with x0 unchanged so the caller can fall back.
    .global spinel_semihosting_call
spinel_semihosting_call:
    .cfi_startproc
1:  hlt     #0xf000
2:  ret
    .cfi_endproc
    .pushsection .rodata.spinel_fixups, "a"
    .balign 8
    .quad   1b, 2b, 1
    .popsection
    "#,
    frame_size = const TRAP_FRAME_SIZE,
    kernel_sync = sym kernel_sync,
    kernel_irq = sym kernel_irq,
    unexpected = sym unexpected,
);

unsafe extern "C" {
    fn spinel_provoke_breakpoint();
    fn spinel_provoke_undefined();
    fn spinel_provoke_read(address: u64) -> u64;
    static __spinel_fixups_start: Fixup;
    static __spinel_fixups_end: Fixup;
}

/// One entry of the fixup table: a faulting instruction and where to resume.
#[repr(C)]
struct Fixup {
    fault: u64,
    resume: u64,
    /// 1: resume without asking the kernel (the semihosting probe).
    silent: u64,
}

fn fixups() -> &'static [Fixup] {
    let start = &raw const __spinel_fixups_start;
    let stop = &raw const __spinel_fixups_end;
    // SAFETY: `link.ld` brackets the section with these symbols; entries
    // are written by the assembly above as three quads each.
    unsafe { core::slice::from_raw_parts(start, stop.offset_from_unsigned(start)) }
}

fn find_fixup(pc: u64) -> Option<&'static Fixup> {
    fixups().iter().find(|f| f.fault == pc)
}

static HOOKS: spin::Once<KernelHooks> = spin::Once::new();

pub fn set_hooks(hooks: KernelHooks) {
    HOOKS.call_once(|| hooks);
}

pub fn provoke(trap: ProvokedTrap) {
    // SAFETY: each stub executes one trapping instruction covered by the
    // fixup table (the read may fault on any address), then returns.
    unsafe {
        match trap {
            ProvokedTrap::Breakpoint => spinel_provoke_breakpoint(),
            ProvokedTrap::UndefinedInstruction => spinel_provoke_undefined(),
            ProvokedTrap::PageFault(va) => {
                spinel_provoke_read(va.0);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// ESR decoding, shared by kernel and user traps.

/// Exception classes (ESR_EL1.EC) we tell apart; names as in the Arm ARM.
mod class {
    pub const UNKNOWN: u64 = 0x00;
    pub const SVC64: u64 = 0x15;
    pub const INSTRUCTION_ABORT_LOWER: u64 = 0x20;
    pub const INSTRUCTION_ABORT_SAME: u64 = 0x21;
    pub const PC_ALIGNMENT: u64 = 0x22;
    pub const DATA_ABORT_LOWER: u64 = 0x24;
    pub const DATA_ABORT_SAME: u64 = 0x25;
    pub const SP_ALIGNMENT: u64 = 0x26;
    pub const BREAKPOINT_LOWER: u64 = 0x30;
    pub const WATCHPOINT_SAME: u64 = 0x35;
    pub const WATCHPOINT_LOWER: u64 = 0x34;
    pub const BRK64: u64 = 0x3c;
}

/// ISS bits of data and instruction aborts.
const ISS_WNR: u64 = 1 << 6; // write, not read
const ISS_CM: u64 = 1 << 8; // cache maintenance (reports WnR = 1)
const ISS_FNV: u64 = 1 << 10; // FAR not valid
const FSC_MASK: u64 = 0x3f;
const FSC_ALIGNMENT: u64 = 0b10_0001;

pub fn exception_class(esr: u64) -> u64 {
    (esr >> 26) & 0x3f
}

/// Turn ESR/FAR into a trap kind and the fault address (when it has one).
/// `unknown_is_general` reclassifies EC 0x00 (see `user.rs`).
pub fn classify(esr: u64, far: u64, unknown_is_general: bool) -> (TrapKind, Option<u64>) {
    let iss = esr & 0x1ff_ffff;
    let far_valid = iss & ISS_FNV == 0;
    match exception_class(esr) {
        class::INSTRUCTION_ABORT_LOWER
        | class::INSTRUCTION_ABORT_SAME
        | class::DATA_ABORT_LOWER
        | class::DATA_ABORT_SAME => {
            let execute = matches!(
                exception_class(esr),
                class::INSTRUCTION_ABORT_LOWER | class::INSTRUCTION_ABORT_SAME
            );
            let address = far_valid.then_some(far);
            let status = iss & FSC_MASK;
            let kind = match status {
                // Address size (0b0000xx) and translation (0b0001xx) faults,
                // level -1 translation (0b101011): nothing mapped.
                0b00_0000..=0b00_0111 | 0b10_1011 => TrapKind::PageFault {
                    write: !execute && iss & ISS_WNR != 0 && iss & ISS_CM == 0,
                    execute,
                    present: false,
                },
                // Access flag (0b0010xx) and permission (0b0011xx) faults.
                0b00_1000..=0b00_1111 => TrapKind::PageFault {
                    write: !execute && iss & ISS_WNR != 0 && iss & ISS_CM == 0,
                    execute,
                    present: true,
                },
                FSC_ALIGNMENT => TrapKind::UnalignedAccess,
                // External aborts, TLB conflicts, ...: not a paging matter.
                _ => TrapKind::General,
            };
            (kind, address)
        }
        class::PC_ALIGNMENT => (TrapKind::UnalignedAccess, Some(far)),
        class::SP_ALIGNMENT => (TrapKind::UnalignedAccess, None),
        class::BRK64 => (TrapKind::SoftwareBreakpoint, None),
        class::WATCHPOINT_LOWER | class::WATCHPOINT_SAME => {
            (TrapKind::HardwareBreakpoint, Some(far))
        }
        class::BREAKPOINT_LOWER..=class::WATCHPOINT_SAME => (TrapKind::HardwareBreakpoint, None),
        class::UNKNOWN if unknown_is_general => (TrapKind::General, None),
        class::UNKNOWN => (TrapKind::UndefinedInstruction, None),
        // SVC is not an exception for user mode (user.rs handles it before
        // calling this); anything else (MSR/MRS traps 0x18, WFI traps 0x01,
        // illegal state 0x0e, SVC/HVC from EL1 ...) is a general fault.
        _ => (TrapKind::General, None),
    }
}

/// Build the record of a trap.
pub fn record(
    esr: u64,
    far: u64,
    pc: u64,
    sp: u64,
    from_user: bool,
    unknown_is_general: bool,
) -> TrapRecord {
    let (kind, fault_address) = classify(esr, far, unknown_is_general);
    TrapRecord {
        kind,
        pc,
        sp,
        fault_address,
        from_user,
        arch: ArchFacts::Aarch64 {
            esr,
            far: fault_address.unwrap_or(0),
        },
    }
}

pub fn is_svc64(esr: u64) -> bool {
    exception_class(esr) == class::SVC64
}

// ---------------------------------------------------------------------------
// Kernel-mode handlers, called from the stubs with the frame on the stack.

extern "C" fn kernel_sync(frame: &mut TrapFrame) {
    let record = record(frame.esr, frame.far, frame.elr, frame.sp, false, false);
    let fixup = find_fixup(frame.elr);
    if let Some(fixup) = fixup
        && fixup.silent != 0
    {
        frame.elr = fixup.resume;
        return;
    }
    let action = HOOKS.get().map_or(KernelTrapAction::Fatal, |hooks| {
        (hooks.kernel_trap)(&record)
    });
    match (action, fixup) {
        (KernelTrapAction::Recover, Some(fixup)) => frame.elr = fixup.resume,
        (KernelTrapAction::Recover, None) => fatal(
            frame,
            Some(&record),
            "the kernel asked to recover from a trap it did not provoke",
        ),
        (KernelTrapAction::Fatal, _) => fatal(frame, Some(&record), "fatal kernel trap"),
    }
}

extern "C" fn kernel_irq(_frame: &mut TrapFrame) {
    handle_irq();
}

extern "C" fn unexpected(frame: &mut TrapFrame, vector: u64) -> ! {
    let mut console = pl011::console();
    let _ = writeln!(console, "\nunexpected exception, vector {vector}");
    fatal(frame, None, "unexpected exception")
}

/// Take one interrupt from the GIC, handle our devices, acknowledge it and
/// pass it to the kernel's hook. `None`: nothing was pending (spurious).
pub fn handle_irq() -> Option<Irq> {
    let iar = gic::acknowledge()?;
    let intid = gic::intid(iar);
    let irq = if timer::is_timer(intid) {
        timer::rearm();
        Irq::Timer
    } else if devicetree::platform()
        .debug_uart
        .is_some_and(|(_, id)| id == intid)
    {
        pl011::debug_link_interrupt();
        Irq::DebugLink
    } else {
        Irq::Other(intid)
    };
    gic::end(iar);
    if let Some(hooks) = HOOKS.get() {
        (hooks.irq)(irq);
    }
    Some(irq)
}

static IN_FATAL: AtomicBool = AtomicBool::new(false);

/// Print what we know and power off. The kernel's hook has already printed
/// the record and its backtrace when it answered Fatal; the register dump
/// and the frame walk from the trap point are added here.
fn fatal(frame: &TrapFrame, record: Option<&TrapRecord>, why: &str) -> ! {
    if IN_FATAL.swap(true, Ordering::Relaxed) {
        crate::power::off(ExitCode::Failure);
    }
    let mut console = pl011::console();
    let _ = writeln!(console, "\n{why}");
    if HOOKS.get().is_none()
        && let Some(record) = record
    {
        let _ = writeln!(console, "{record:#x?}");
    }
    let _ = writeln!(
        console,
        "pc {:#018x} sp {:#018x} spsr {:#x} esr {:#x} far {:#x}",
        frame.elr, frame.sp, frame.spsr, frame.esr, frame.far
    );
    for (i, pair) in frame.x.chunks(2).enumerate() {
        let _ = write!(console, "x{:<2} {:#018x}  ", 2 * i, pair[0]);
        if let Some(second) = pair.get(1) {
            let _ = write!(console, "x{:<2} {:#018x}", 2 * i + 1, second);
        }
        let _ = writeln!(console);
    }
    let mut trace = [0usize; 32];
    let depth = walk_frames(frame.x[29], &mut trace);
    let _ = writeln!(console, "backtrace from the trap: {:#x}", frame.elr);
    for address in &trace[..depth] {
        let _ = writeln!(console, "  {address:#x}");
    }
    crate::power::off(ExitCode::Failure)
}

// ---------------------------------------------------------------------------
// Backtraces.

/// Return addresses from the calling function's frame record outwards
/// (inlined so that the frame read is the caller's).
#[inline(always)]
pub fn backtrace_here(out: &mut [usize]) -> usize {
    let fp: u64;
    // SAFETY: reads the frame pointer register.
    unsafe {
        core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    walk_frames(fp, out)
}

/// Walk the x29 chain of frame records {previous x29, return address}.
/// Stops at a null, misaligned, unmapped or non-increasing frame pointer.
pub fn walk_frames(mut fp: u64, out: &mut [usize]) -> usize {
    let mut depth = 0;
    while depth < out.len() {
        if !fp.is_multiple_of(8) || fp < mmu::KERNEL_OFFSET || !mmu::kernel_readable(fp, 16) {
            break;
        }
        // SAFETY: just checked that the 16 bytes at `fp` are mapped and
        // readable at EL1.
        let (next, return_address) =
            unsafe { ((fp as *const u64).read(), (fp as *const u64).add(1).read()) };
        if return_address == 0 {
            break;
        }
        out[depth] = return_address as usize;
        depth += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
    depth
}
