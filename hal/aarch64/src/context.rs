//! Kernel threads: the callee-saved state of a suspended thread and the
//! switch between two of them.

use spinel_hal_api::VirtAddr;

/// What AAPCS64 says survives a call: x19-x28, the frame pointer, the link
/// register, sp and the low halves of v8-v15. The switch is an ordinary
/// call, so nothing else needs saving.
#[repr(C)]
#[derive(Debug, Default)]
pub struct KernelContext {
    x19_x28: [u64; 10],
    x29: u64,
    x30: u64,
    sp: u64,
    d8_d15: [u64; 8],
}

const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(KernelContext, x29) == 80);
    assert!(offset_of!(KernelContext, sp) == 96);
    assert!(offset_of!(KernelContext, d8_d15) == 104);
};

core::arch::global_asm!(
    r#"
    .section .text.spinel_switch, "ax"
    .balign 4
    // void spinel_kernel_switch(KernelContext *from, const KernelContext *to)
    .global spinel_kernel_switch
spinel_kernel_switch:
    .cfi_startproc
    stp     x19, x20, [x0, #0]
    stp     x21, x22, [x0, #16]
    stp     x23, x24, [x0, #32]
    stp     x25, x26, [x0, #48]
    stp     x27, x28, [x0, #64]
    stp     x29, x30, [x0, #80]
    mov     x9, sp
    str     x9, [x0, #96]
    stp     d8, d9, [x0, #104]
    stp     d10, d11, [x0, #120]
    stp     d12, d13, [x0, #136]
    stp     d14, d15, [x0, #152]
    ldp     x19, x20, [x1, #0]
    ldp     x21, x22, [x1, #16]
    ldp     x23, x24, [x1, #32]
    ldp     x25, x26, [x1, #48]
    ldp     x27, x28, [x1, #64]
    ldp     x29, x30, [x1, #80]
    ldr     x9, [x1, #96]
    mov     sp, x9
    ldp     d8, d9, [x1, #104]
    ldp     d10, d11, [x1, #120]
    ldp     d12, d13, [x1, #136]
    ldp     d14, d15, [x1, #152]
    ret
    .cfi_endproc

    // First code of a new kernel thread: x19 = entry, x20 = its argument.
    // The thread has no caller: the undefined return address ends unwinds.
    .global spinel_kernel_thread_start
spinel_kernel_thread_start:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x20
    blr     x19
    brk     #1                          // entry returned: not allowed
    .cfi_endproc
    "#
);

unsafe extern "C" {
    fn spinel_kernel_switch(from: *mut KernelContext, to: *const KernelContext);
    fn spinel_kernel_thread_start();
}

impl spinel_hal_api::KernelContext for KernelContext {
    fn new(stack_top: VirtAddr, entry: extern "C" fn(usize) -> !, arg: usize) -> Self {
        let mut context = Self::default();
        context.x19_x28[0] = entry as usize as u64;
        context.x19_x28[1] = arg as u64;
        context.x30 = spinel_kernel_thread_start as *const () as u64;
        context.sp = stack_top.0 & !15;
        context
    }

    fn empty() -> Self {
        Self::default()
    }

    unsafe fn switch(from: *mut Self, to: *const Self) {
        // SAFETY: the caller guarantees both contexts are valid and `to`
        // was made by `new` or saved by an earlier switch on a live stack.
        unsafe { spinel_kernel_switch(from, to) }
    }
}
