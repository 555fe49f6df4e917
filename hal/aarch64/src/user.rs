//! EL0: the saved user registers and the round trip through user mode.
//!
//! `UserContext::run` calls `spinel_user_enter`, which saves the kernel's
//! callee-saved registers in a frame on the current kernel stack, loads the
//! user state and `eret`s. SP_EL1 then still points at that frame, so when
//! EL0 traps, the lower-EL vectors find it at `sp`: they store the user
//! state straight into the context, unwind the frame and return from
//! `spinel_user_enter` with the reason. No copy, no per-CPU pointer.
//!
//! System call ABI: `svc #0`, x16 = number, x0-x7 = arguments, result in x0.
//! FP/SIMD state is saved and restored on every round trip: the kernel is
//! compiled with NEON and would otherwise clobber it.

use crate::{cpu, mmu, trap};
use spinel_hal_api::{TrapKind, TrapRecord, UserExit};

/// The user registers, in the order of [`UserContext::REGISTER_NAMES`]
/// followed by trap facts and FP/SIMD state. The assembly uses the offsets
/// asserted below.
#[repr(C, align(16))]
#[derive(Clone, Copy, Default)]
struct UserRegisters {
    x: [u64; 31],
    sp: u64,
    pc: u64,
    pstate: u64,
    tpidr: u64,
    /// ESR_EL1 and FAR_EL1 of the last trap from EL0.
    esr: u64,
    far: u64,
    fpcr: u64,
    fpsr: u64,
    _pad: u64,
    v: [u128; 32],
}

const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(UserRegisters, sp) == 248);
    assert!(offset_of!(UserRegisters, pc) == 256);
    assert!(offset_of!(UserRegisters, pstate) == 264);
    assert!(offset_of!(UserRegisters, tpidr) == 272);
    assert!(offset_of!(UserRegisters, esr) == 280);
    assert!(offset_of!(UserRegisters, far) == 288);
    assert!(offset_of!(UserRegisters, fpcr) == 296);
    assert!(offset_of!(UserRegisters, fpsr) == 304);
    assert!(offset_of!(UserRegisters, v) == 320);
};

/// The FP/SIMD state image (`user_fpsimd_state`): v0..v31 from 0, FPSR at
/// 512, FPCR at 516, 8 zero bytes.
const FP_STATE_SIZE: usize = 528;
const FP_FPSR: usize = 512;
const FP_FPCR: usize = 516;
/// FPSR bits that exist: the cumulative flags IOC..IXC, IDC, QC and NZCV.
const FPSR_WRITABLE: u32 = 0xf800_009f;
/// FPCR bits that exist in ARMv8.2: the trap enables IOE..IXE and IDE,
/// Len, Stride, RMode, FZ, DN, AHP, FZ16. Anything else is refused rather
/// than handed to `msr fpcr` (RES0 bits must stay 0).
const FPCR_WRITABLE: u32 = 0x07ff_9f00;

/// General-register slots: x0-x30, sp, pc, pstate, tpidr.
const SLOTS: usize = 35;

/// Bytes of the kernel-stack frame `spinel_user_enter` keeps while EL0 runs:
/// x29/x30, x19-x28, d8-d15, the context pointer and a scratch slot.
const ENTER_FRAME_SIZE: usize = 176;

/// Why `spinel_user_enter` returned.
const REASON_SYNC: u64 = 0;
const REASON_IRQ: u64 = 1;
const REASON_OTHER: u64 = 2;

/// PSTATE bits user mode may hold: the condition flags and software step.
/// Everything else (mode = EL0t AArch64, interrupts unmasked) is forced.
const USER_PSTATE_MASK: u64 = 0xf000_0000 | PSTATE_SS;
/// PSTATE.SS: while MDSCR_EL1.SS is set, returning to EL0 with it runs one
/// instruction, then takes a software-step exception (EC 0x32); returning
/// without it takes the exception at once (the step already happened).
const PSTATE_SS: u64 = 1 << 21;

core::arch::global_asm!(
    r#"
    // CFI shared by the code that runs on the enter frame: CFA = sp + 176.
    .macro SPINEL_ENTER_FRAME_CFI
    .cfi_offset x29, -176
    .cfi_offset x30, -168
    .cfi_offset x19, -160
    .cfi_offset x20, -152
    .cfi_offset x21, -144
    .cfi_offset x22, -136
    .cfi_offset x23, -128
    .cfi_offset x24, -120
    .cfi_offset x25, -112
    .cfi_offset x26, -104
    .cfi_offset x27, -96
    .cfi_offset x28, -88
    .endm

    // A trap from EL0: sp is the enter frame. Store the user state into the
    // context, then return from spinel_user_enter with `reason`.
    .macro SPINEL_USER_TRAP reason
    str     x0, [sp, #168]              // scratch
    ldr     x0, [sp, #160]              // the context
    stp     x1, x2, [x0, #8]
    stp     x3, x4, [x0, #24]
    stp     x5, x6, [x0, #40]
    stp     x7, x8, [x0, #56]
    stp     x9, x10, [x0, #72]
    stp     x11, x12, [x0, #88]
    stp     x13, x14, [x0, #104]
    stp     x15, x16, [x0, #120]
    stp     x17, x18, [x0, #136]
    stp     x19, x20, [x0, #152]
    stp     x21, x22, [x0, #168]
    stp     x23, x24, [x0, #184]
    stp     x25, x26, [x0, #200]
    stp     x27, x28, [x0, #216]
    stp     x29, x30, [x0, #232]
    ldr     x1, [sp, #168]
    str     x1, [x0, #0]
    mrs     x1, sp_el0
    mrs     x2, elr_el1
    stp     x1, x2, [x0, #248]
    mrs     x1, spsr_el1
    mrs     x2, tpidr_el0
    stp     x1, x2, [x0, #264]
    mrs     x1, esr_el1
    mrs     x2, far_el1
    stp     x1, x2, [x0, #280]
    mrs     x1, fpcr
    mrs     x2, fpsr
    stp     x1, x2, [x0, #296]
    add     x1, x0, #320
    stp     q0, q1, [x1, #0]
    stp     q2, q3, [x1, #32]
    stp     q4, q5, [x1, #64]
    stp     q6, q7, [x1, #96]
    stp     q8, q9, [x1, #128]
    stp     q10, q11, [x1, #160]
    stp     q12, q13, [x1, #192]
    stp     q14, q15, [x1, #224]
    stp     q16, q17, [x1, #256]
    stp     q18, q19, [x1, #288]
    stp     q20, q21, [x1, #320]
    stp     q22, q23, [x1, #352]
    stp     q24, q25, [x1, #384]
    stp     q26, q27, [x1, #416]
    stp     q28, q29, [x1, #448]
    stp     q30, q31, [x1, #480]
    mov     x0, #\reason
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    ldp     x29, x30, [sp], #176
    ret
    .endm

    .section .text.spinel_user, "ax"
    .balign 4
    // u64 spinel_user_enter(UserRegisters *context)
    .global spinel_user_enter
spinel_user_enter:
    .cfi_startproc
    stp     x29, x30, [sp, #-176]!
    .cfi_def_cfa_offset 176
    .cfi_offset x29, -176
    .cfi_offset x30, -168
    mov     x29, sp
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    str     x0, [sp, #160]
    SPINEL_ENTER_FRAME_CFI
    add     x1, x0, #320
    ldp     q0, q1, [x1, #0]
    ldp     q2, q3, [x1, #32]
    ldp     q4, q5, [x1, #64]
    ldp     q6, q7, [x1, #96]
    ldp     q8, q9, [x1, #128]
    ldp     q10, q11, [x1, #160]
    ldp     q12, q13, [x1, #192]
    ldp     q14, q15, [x1, #224]
    ldp     q16, q17, [x1, #256]
    ldp     q18, q19, [x1, #288]
    ldp     q20, q21, [x1, #320]
    ldp     q22, q23, [x1, #352]
    ldp     q24, q25, [x1, #384]
    ldp     q26, q27, [x1, #416]
    ldp     q28, q29, [x1, #448]
    ldp     q30, q31, [x1, #480]
    ldp     x1, x2, [x0, #296]
    msr     fpcr, x1
    msr     fpsr, x2
    ldp     x1, x2, [x0, #248]          // sp, pc
    msr     sp_el0, x1
    msr     elr_el1, x2
    ldp     x1, x2, [x0, #264]          // pstate, tpidr
    msr     spsr_el1, x1
    msr     tpidr_el0, x2
    ldp     x2, x3, [x0, #16]
    ldp     x4, x5, [x0, #32]
    ldp     x6, x7, [x0, #48]
    ldp     x8, x9, [x0, #64]
    ldp     x10, x11, [x0, #80]
    ldp     x12, x13, [x0, #96]
    ldp     x14, x15, [x0, #112]
    ldp     x16, x17, [x0, #128]
    ldp     x18, x19, [x0, #144]
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
    ldr     x30, [x0, #240]
    ldp     x0, x1, [x0, #0]
    eret
    .cfi_endproc

    .global spinel_user_sync_entry
spinel_user_sync_entry:
    .cfi_startproc
    .cfi_def_cfa sp, 176
    SPINEL_ENTER_FRAME_CFI
    SPINEL_USER_TRAP {sync}
    .cfi_endproc

    .global spinel_user_irq_entry
spinel_user_irq_entry:
    .cfi_startproc
    .cfi_def_cfa sp, 176
    SPINEL_ENTER_FRAME_CFI
    SPINEL_USER_TRAP {irq}
    .cfi_endproc

    .global spinel_user_other_entry
spinel_user_other_entry:
    .cfi_startproc
    .cfi_def_cfa sp, 176
    SPINEL_ENTER_FRAME_CFI
    SPINEL_USER_TRAP {other}
    .cfi_endproc

    // The HAL self-test's user program (position independent).
    .section .rodata.spinel_test_blob, "a"
    .balign 4
    .global spinel_test_blob_start
spinel_test_blob_start:
    movz    x0, #{arg0_low}
    movk    x0, #{arg0_high}, lsl #16
    mov     x16, #{syscall}
    svc     #0
    movz    x1, #{fault_low}
    movk    x1, #{fault_high}, lsl #16
    ldr     x2, [x1]
1:  b       1b
    .global spinel_test_blob_end
spinel_test_blob_end:
    "#,
    sync = const REASON_SYNC,
    irq = const REASON_IRQ,
    other = const REASON_OTHER,
    arg0_low = const spinel_hal_api::TEST_BLOB_ARG0 & 0xffff,
    arg0_high = const (spinel_hal_api::TEST_BLOB_ARG0 >> 16) & 0xffff,
    syscall = const spinel_hal_api::TEST_BLOB_SYSCALL,
    fault_low = const spinel_hal_api::TEST_BLOB_FAULT_ADDR & 0xffff,
    fault_high = const (spinel_hal_api::TEST_BLOB_FAULT_ADDR >> 16) & 0xffff,
);

const _: () = {
    // The blob builds its constants from two 16-bit halves.
    assert!(spinel_hal_api::TEST_BLOB_ARG0 >> 32 == 0);
    assert!(spinel_hal_api::TEST_BLOB_FAULT_ADDR >> 32 == 0);
    assert!(ENTER_FRAME_SIZE == 176);
};

unsafe extern "C" {
    fn spinel_user_enter(context: *mut UserRegisters) -> u64;
    static spinel_test_blob_start: u8;
    static spinel_test_blob_end: u8;
}

pub fn test_blob() -> &'static [u8] {
    let start = &raw const spinel_test_blob_start;
    let end = &raw const spinel_test_blob_end;
    // SAFETY: both symbols bracket the blob in .rodata (assembly above).
    unsafe { core::slice::from_raw_parts(start, end.offset_from_unsigned(start)) }
}

/// Saved user-mode state of one thread.
#[derive(Clone, Default)]
pub struct UserContext {
    registers: UserRegisters,
    /// Single-stepping (`set_single_step`): MDSCR_EL1.SS is on while this
    /// context runs, off for every other.
    stepping: bool,
}

impl core::fmt::Debug for UserContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let r = &self.registers;
        f.debug_struct("UserContext")
            .field("pc", &format_args!("{:#x}", r.pc))
            .field("sp", &format_args!("{:#x}", r.sp))
            .field("pstate", &format_args!("{:#x}", r.pstate))
            .field("x", &format_args!("{:x?}", r.x))
            .finish()
    }
}

/// Whether the EL0 instruction at `pc` is a system instruction (MSR, MRS,
/// SYS...: bits 31:22 = 0b1101010100). EL0 access to an EL1 register is
/// UNDEFINED and reports EC 0x00 like any unknown instruction; such a
/// forbidden-but-valid instruction is a general fault, not an undefined one.
fn is_system_instruction(pc: u64) -> bool {
    let Some(pa) = mmu::user_readable_pa(pc) else {
        return false;
    };
    if !pa.is_multiple_of(4) {
        return false;
    }
    let word = mmu::phys_to_virt(spinel_hal_api::PhysAddr(pa)).0 as *const u32;
    // SAFETY: the hardware walk just found the page mapped and readable in
    // the active address space, and the direct map covers all RAM.
    let instruction = unsafe { word.read_volatile() };
    instruction & 0xffc0_0000 == 0xd500_0000
}

impl UserContext {
    fn exception(&self) -> TrapRecord {
        let r = &self.registers;
        let unknown_is_general = trap::exception_class(r.esr) == 0 && is_system_instruction(r.pc);
        trap::record(r.esr, r.far, r.pc, r.sp, true, unknown_is_general)
    }
}

impl spinel_hal_api::UserContext for UserContext {
    const REGISTER_NAMES: &'static [&'static str] = &[
        "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
        "x14", "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26",
        "x27", "x28", "x29", "x30", "sp", "pc", "cpsr", "tpidr",
    ];

    fn new(pc: u64, sp: u64, arg0: u64, arg1: u64) -> Self {
        let mut context = Self::default();
        context.registers.pc = pc;
        context.registers.sp = sp;
        context.registers.x[0] = arg0;
        context.registers.x[1] = arg1;
        context
    }

    fn run(&mut self) -> UserExit {
        cpu::set_user_single_step(self.stepping);
        loop {
            self.registers.pstate &= USER_PSTATE_MASK;
            // SAFETY: the context outlives the call; the stub returns here
            // on the next exception from EL0 with the state saved into it.
            // The caller activated the address space the thread runs in.
            let reason = unsafe { spinel_user_enter(&mut self.registers) };
            match reason {
                REASON_SYNC if trap::is_svc64(self.registers.esr) => {
                    // `svc #0` only; other immediates are not Spinel calls.
                    if self.registers.esr & 0xffff == 0 {
                        return UserExit::Syscall;
                    }
                    let mut record = self.exception();
                    record.kind = TrapKind::General;
                    return UserExit::Exception(record);
                }
                REASON_SYNC => return UserExit::Exception(self.exception()),
                REASON_IRQ => match trap::handle_irq() {
                    Some(irq) => return UserExit::Interrupt(irq),
                    // Spurious: nothing to report, go back to user mode.
                    None => continue,
                },
                _ => {
                    // FIQ or SError from EL0: report as a general fault.
                    let mut record = self.exception();
                    record.kind = TrapKind::General;
                    record.fault_address = None;
                    return UserExit::Exception(record);
                }
            }
        }
    }

    fn pc(&self) -> u64 {
        self.registers.pc
    }

    fn set_pc(&mut self, pc: u64) {
        self.registers.pc = pc;
    }

    fn sp(&self) -> u64 {
        self.registers.sp
    }

    fn set_sp(&mut self, sp: u64) {
        self.registers.sp = sp;
    }

    fn syscall_number(&self) -> u64 {
        self.registers.x[16]
    }

    fn syscall_args(&self) -> [u64; 8] {
        let x = &self.registers.x;
        // Element by element: loads and stores in pairs, no memcpy call.
        [x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]
    }

    fn set_syscall_result(&mut self, value: u64) {
        self.registers.x[0] = value;
    }

    fn register(&self, index: usize) -> Option<u64> {
        let r = &self.registers;
        match index {
            0..=30 => Some(r.x[index]),
            31 => Some(r.sp),
            32 => Some(r.pc),
            33 => Some(r.pstate),
            34 => Some(r.tpidr),
            _ => None,
        }
    }

    fn set_register(&mut self, index: usize, value: u64) -> bool {
        let r = &mut self.registers;
        let slot = match index {
            0..=30 => &mut r.x[index],
            31 => &mut r.sp,
            32 => &mut r.pc,
            // Sanitised to the user-writable bits on the next `run`.
            33 => &mut r.pstate,
            34 => &mut r.tpidr,
            _ => return false,
        };
        *slot = value;
        true
    }

    fn read_registers(&self, out: &mut [u64]) {
        let r = &self.registers;
        let n = out.len().min(SLOTS);
        let x = n.min(31);
        out[..x].copy_from_slice(&r.x[..x]);
        for (slot, value) in out[x..n].iter_mut().zip([r.sp, r.pc, r.pstate, r.tpidr]) {
            *slot = value;
        }
    }

    fn write_registers(&mut self, values: &[u64]) {
        // Every slot takes any value (PSTATE is sanitised on the next run).
        let r = &mut self.registers;
        let n = values.len().min(SLOTS);
        let x = n.min(31);
        r.x[..x].copy_from_slice(&values[..x]);
        for (slot, value) in [&mut r.sp, &mut r.pc, &mut r.pstate, &mut r.tpidr]
            .into_iter()
            .zip(&values[x..n])
        {
            *slot = *value;
        }
    }

    fn set_single_step(&mut self, on: bool) {
        self.stepping = on;
        if on {
            self.registers.pstate |= PSTATE_SS;
        } else {
            self.registers.pstate &= !PSTATE_SS;
        }
    }

    /// Linux's `user_fpsimd_state`: v0..v31, FPSR, FPCR, 8 zero bytes.
    const FP_STATE_SIZE: usize = FP_STATE_SIZE;

    fn read_fp_state(&self, out: &mut [u8]) {
        let r = &self.registers;
        for (chunk, v) in out[..FP_FPSR].chunks_exact_mut(16).zip(r.v.iter()) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        out[FP_FPSR..FP_FPSR + 4].copy_from_slice(&(r.fpsr as u32).to_le_bytes());
        out[FP_FPCR..FP_FPCR + 4].copy_from_slice(&(r.fpcr as u32).to_le_bytes());
        out[FP_FPCR + 4..FP_STATE_SIZE].fill(0);
    }

    fn write_fp_state(&mut self, data: &[u8]) -> bool {
        if data.len() != FP_STATE_SIZE {
            return false;
        }
        let word =
            |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        let (fpsr, fpcr) = (word(FP_FPSR), word(FP_FPCR));
        if fpsr & !FPSR_WRITABLE != 0 || fpcr & !FPCR_WRITABLE != 0 {
            return false;
        }
        let r = &mut self.registers;
        for (v, chunk) in r.v.iter_mut().zip(data[..FP_FPSR].chunks_exact(16)) {
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(chunk);
            *v = u128::from_le_bytes(bytes);
        }
        r.fpsr = u64::from(fpsr);
        r.fpcr = u64::from(fpcr);
        true
    }
}
