//! Crashes with markers, for the crash service's tests (`services/crasher`).
//!
//! Each routine is an assembly function with full CFI and a frame record
//! (so that gdb, lldb and `spinel-symbolize` unwind through it): it puts the
//! marker in a callee-saved register (x86_64 `rbx`, aarch64 `x19`) and in
//! the low lane of the first vector register (`xmm0` / `v0`), then runs one
//! faulting instruction. Rules: the arch conditionals stay in this file;
//! each routine restores what it changed if a handler lets it return.

/// A crash [`crash_with_marker`] can cause.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Crash {
    /// A load from the address given (give it an unmapped one).
    PageFault,
    /// x86 `ud2`; arm64 `udf #0`.
    Undefined,
    /// x86 `int3`; arm64 `brk #0`.
    Breakpoint,
    /// x86 `div` by zero (#DE, EXCP_GENERAL); arm64 has no divide trap, so
    /// `mrs x0, sctlr_el1`, a privileged register read (EXCP_GENERAL too).
    Divide,
}

#[allow(dead_code)] // reason: only the target architectures link the routines
mod symbols {
    unsafe extern "C" {
        pub(super) fn spinel_zx_crash_page(address: u64, marker: u64);
        pub(super) fn spinel_zx_crash_undefined(address: u64, marker: u64);
        pub(super) fn spinel_zx_crash_breakpoint(address: u64, marker: u64);
        pub(super) fn spinel_zx_crash_divide(address: u64, marker: u64);
    }
}

/// Put `marker` in `rbx`/`x19` and `xmm0`/`v0`, then cause `crash`
/// (`address`: what a page fault loads from). Returns only if a handler
/// resumed the thread past the faulting instruction.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub fn crash_with_marker(crash: Crash, address: u64, marker: u64) {
    // SAFETY: each routine follows the C calling convention, saves and
    // restores the callee-saved register it uses, changes no memory but its
    // own stack frame and runs one faulting instruction (a load from
    // `address` at most).
    unsafe {
        match crash {
            Crash::PageFault => symbols::spinel_zx_crash_page(address, marker),
            Crash::Undefined => symbols::spinel_zx_crash_undefined(address, marker),
            Crash::Breakpoint => symbols::spinel_zx_crash_breakpoint(address, marker),
            Crash::Divide => symbols::spinel_zx_crash_divide(address, marker),
        }
    }
}

/// Host builds (clippy, docs) have no routines.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub fn crash_with_marker(_crash: Crash, _address: u64, _marker: u64) {}

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.spinel_zx_crash, \"ax\"",
    ".macro spinel_zx_crash_enter name",
    ".globl spinel_zx_crash_\\name",
    ".type spinel_zx_crash_\\name, @function",
    "spinel_zx_crash_\\name:",
    ".cfi_startproc",
    "    push rbp",
    ".cfi_def_cfa_offset 16",
    ".cfi_offset rbp, -16",
    "    mov rbp, rsp",
    ".cfi_def_cfa_register rbp",
    "    push rbx",
    ".cfi_offset rbx, -24",
    "    mov rbx, rsi",
    "    movq xmm0, rsi",
    ".endm",
    ".macro spinel_zx_crash_leave name",
    "    pop rbx",
    "    pop rbp",
    ".cfi_def_cfa rsp, 8",
    "    ret",
    ".cfi_endproc",
    ".size spinel_zx_crash_\\name, . - spinel_zx_crash_\\name",
    ".endm",
    "spinel_zx_crash_enter page",
    "    mov rax, qword ptr [rdi]",
    "spinel_zx_crash_leave page",
    "spinel_zx_crash_enter undefined",
    "    ud2",
    "spinel_zx_crash_leave undefined",
    "spinel_zx_crash_enter breakpoint",
    "    int3",
    "spinel_zx_crash_leave breakpoint",
    // rdx:rax / rcx with rcx = 0 (rax, rcx, rdx are caller-saved).
    "spinel_zx_crash_enter divide",
    "    xor ecx, ecx",
    "    xor edx, edx",
    "    mov eax, 1",
    "    div rcx",
    "spinel_zx_crash_leave divide",
    ".purgem spinel_zx_crash_enter",
    ".purgem spinel_zx_crash_leave",
    ".popsection",
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".pushsection .text.spinel_zx_crash, \"ax\"",
    ".macro spinel_zx_crash_enter name",
    ".globl spinel_zx_crash_\\name",
    ".type spinel_zx_crash_\\name, %function",
    "spinel_zx_crash_\\name:",
    ".cfi_startproc",
    "    stp x29, x30, [sp, #-32]!",
    ".cfi_def_cfa_offset 32",
    ".cfi_offset x29, -32",
    ".cfi_offset x30, -24",
    "    mov x29, sp",
    "    str x19, [sp, #16]",
    ".cfi_offset x19, -16",
    "    mov x19, x1",
    "    fmov d0, x1",
    ".endm",
    ".macro spinel_zx_crash_leave name",
    "    ldr x19, [sp, #16]",
    "    ldp x29, x30, [sp], #32",
    ".cfi_def_cfa_offset 0",
    "    ret",
    ".cfi_endproc",
    ".size spinel_zx_crash_\\name, . - spinel_zx_crash_\\name",
    ".endm",
    "spinel_zx_crash_enter page",
    "    ldr x0, [x0]",
    "spinel_zx_crash_leave page",
    "spinel_zx_crash_enter undefined",
    "    udf #0",
    "spinel_zx_crash_leave undefined",
    "spinel_zx_crash_enter breakpoint",
    "    brk #0",
    "spinel_zx_crash_leave breakpoint",
    "spinel_zx_crash_enter divide",
    "    mrs x0, sctlr_el1",
    "spinel_zx_crash_leave divide",
    ".purgem spinel_zx_crash_enter",
    ".purgem spinel_zx_crash_leave",
    ".popsection",
);
