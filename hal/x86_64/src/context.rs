//! Kernel threads: [`KernelContext`] and the switch between them.

use spinel_hal_api::VirtAddr;

/// A kernel thread's saved state: its stack pointer, with the callee-saved
/// registers and return address pushed on that stack. A context made by
/// `new` has no stack contents yet (`rsp` = 0): the first switch to it
/// starts `entry(arg)` on `stack_top`, so `new` itself writes no memory.
#[repr(C)]
#[derive(Debug)]
pub struct KernelContext {
    rsp: u64,
    stack_top: u64,
    entry: u64,
    arg: u64,
}

unsafe extern "C" {
    fn spinel_x86_64_switch(from: *mut KernelContext, to: *const KernelContext);
}

core::arch::global_asm!(
    r#"
    .section .text.spinel_switch, "ax"
    .global spinel_x86_64_switch
    .balign 16
spinel_x86_64_switch:                   // (rdi = from, rsi = to)
    .cfi_startproc
    push rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    push rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    push r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r12, 0
    push r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r13, 0
    push r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r14, 0
    push r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r15, 0
    mov [rdi], rsp
    mov rax, [rsi]
    test rax, rax
    jz 2f
    // From here the CFI describes the thread being resumed, whose stack
    // has the same shape.
    mov rsp, rax
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
2:  // A fresh thread: call entry(arg) on its own stack, 16-byte aligned
    // at the call as the ABI wants; rbp = 0 ends frame-pointer walks.
    mov rsp, [rsi + 8]
    mov rdi, [rsi + 24]
    xor ebp, ebp
    .cfi_undefined rip
    call [rsi + 16]
    ud2                                 // entry must not return
    .cfi_endproc
    "#
);

impl spinel_hal_api::KernelContext for KernelContext {
    fn new(stack_top: VirtAddr, entry: extern "C" fn(usize) -> !, arg: usize) -> Self {
        Self {
            rsp: 0,
            stack_top: stack_top.as_u64() & !15,
            entry: entry as usize as u64,
            arg: arg as u64,
        }
    }

    fn empty() -> Self {
        Self {
            rsp: 0,
            stack_top: 0,
            entry: 0,
            arg: 0,
        }
    }

    unsafe fn switch(from: *mut Self, to: *const Self) {
        // SAFETY: the caller guarantees both pointers are valid and that
        // `to` was made by `new` (with a live stack) or saved by a switch.
        // The assembly saves exactly the callee-saved registers, as a call
        // to an `extern "C"` function may assume.
        unsafe { spinel_x86_64_switch(from, to) }
    }
}
