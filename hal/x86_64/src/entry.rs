//! Every way into and out of the kernel, in assembly: the 256 interrupt
//! stubs, the common trap path, the `syscall` entry, and the enter/leave
//! pair behind `UserContext::run`.
//!
//! The design in one paragraph: a trap from user mode never lands on a kernel
//! stack. `run` points TSS.rsp0 (for interrupts and exceptions) and
//! [`USER_FRAME_TOP`] (for `syscall`) at the end of the thread's
//! [`TrapFrame`] inside its `UserContext`, so the CPU and the stubs push the
//! user registers straight into the context. The stub then reloads the kernel
//! stack pointer that `spinel_x86_64_enter_user` saved and returns from it as
//! from an ordinary function: `run` continues with the context filled in. A
//! trap from kernel mode saves the same [`TrapFrame`] on the current stack and
//! calls [`crate::trap::kernel_trap`].
//!
//! All stubs carry CFI: the interrupted `rip` is the return address and the
//! interrupted `rsp` the CFA, given as DWARF expressions over the frame, so
//! gdb backtraces continue from a trap handler into the interrupted code.

use core::sync::atomic::AtomicU64;

use crate::cpu::{USER_CODE_SELECTOR, USER_DATA_SELECTOR};

/// The registers saved on every trap: pushed by the stubs (general
/// registers, vector, error code) and by the CPU (`rip` .. `ss`).
/// The field order is the reverse of the push order.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct TrapFrame {
    pub(crate) r15: u64,
    pub(crate) r14: u64,
    pub(crate) r13: u64,
    pub(crate) r12: u64,
    pub(crate) r11: u64,
    pub(crate) r10: u64,
    pub(crate) r9: u64,
    pub(crate) r8: u64,
    pub(crate) rbp: u64,
    pub(crate) rdi: u64,
    pub(crate) rsi: u64,
    pub(crate) rdx: u64,
    pub(crate) rcx: u64,
    pub(crate) rbx: u64,
    pub(crate) rax: u64,
    /// The interrupt vector, or [`SYSCALL_VECTOR`].
    pub(crate) vector: u64,
    /// The CPU's error code, 0 for vectors that push none.
    pub(crate) error_code: u64,
    pub(crate) rip: u64,
    pub(crate) cs: u64,
    pub(crate) rflags: u64,
    pub(crate) rsp: u64,
    pub(crate) ss: u64,
}

// The assembly below hard-codes these offsets.
const _: () = {
    assert!(core::mem::size_of::<TrapFrame>() == 22 * 8);
    assert!(core::mem::offset_of!(TrapFrame, vector) == 120);
    assert!(core::mem::offset_of!(TrapFrame, rip) == 136);
    assert!(core::mem::offset_of!(TrapFrame, cs) == 144);
};

/// Not a hardware vector: marks a frame saved by the `syscall` entry.
pub(crate) const SYSCALL_VECTOR: u64 = 0x100;

/// Kernel stack pointer of the `run` call in progress, saved by
/// `spinel_x86_64_enter_user` and reloaded when user mode traps back.
pub(crate) static KERNEL_RSP: AtomicU64 = AtomicU64::new(0);
/// End of the running thread's [`TrapFrame`]: the stack the `syscall` entry
/// pushes the user state onto (TSS.rsp0 holds the same value).
pub(crate) static USER_FRAME_TOP: AtomicU64 = AtomicU64::new(0);
/// The user `rsp` while the `syscall` entry has no free register.
static SYSCALL_SCRATCH: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" {
    /// First of the 256 interrupt stubs, each 16 bytes long.
    pub(crate) fn spinel_x86_64_trap_stubs();
    /// The `syscall` target (IA32_LSTAR).
    pub(crate) fn spinel_x86_64_syscall_entry();
    /// Save the kernel's callee-saved registers and stack, load `frame` and
    /// enter user mode with `sysretq` (when `sysret` is non-zero) or
    /// `iretq`. Returns when user mode traps back, with `frame` filled in.
    pub(crate) fn spinel_x86_64_enter_user(frame: *mut TrapFrame, sysret: u64);
}

core::arch::global_asm!(
    r#"
    // ---- CFI helpers (DWARF numbers: rbx 3, rbp 6, rsp 7, r12-r15, rip 16) ----

    // The interrupt frame's saved rip is at (register \base) + \offset:
    // CFA = the interrupted rsp (saved 24 bytes above rip) and the return
    // address = the saved rip. Offsets are encoded as two-byte SLEB128.
    .macro spinel_frame_cfi base, offset
    .cfi_escape 0x0f, 4, 0x70 + \base, ((\offset + 24) & 0x7f) | 0x80, (\offset + 24) >> 7, 0x06
    .cfi_escape 0x10, 16, 3, 0x70 + \base, (\offset & 0x7f) | 0x80, \offset >> 7
    .endm
    // Register \reg was saved at (register \base) + \offset.
    .macro spinel_saved_reg reg, base, offset
    .cfi_escape 0x10, \reg, 3, 0x70 + \base, (\offset & 0x7f) | 0x80, \offset >> 7
    .endm
    // The callee-saved registers in a full TrapFrame at (register \base).
    .macro spinel_saved_regs base
    spinel_saved_reg 15, \base, 0
    spinel_saved_reg 14, \base, 8
    spinel_saved_reg 13, \base, 16
    spinel_saved_reg 12, \base, 24
    spinel_saved_reg 6, \base, 64
    spinel_saved_reg 3, \base, 104
    .endm

    // Push the general registers in TrapFrame order; before it, rsp points
    // at the vector slot (saved rip at rsp + 16).
    .macro spinel_push reg, rip_offset
    push \reg
    spinel_frame_cfi 7, \rip_offset
    .endm
    .macro spinel_push_all
    spinel_push rax, 24
    spinel_push rbx, 32
    spinel_push rcx, 40
    spinel_push rdx, 48
    spinel_push rsi, 56
    spinel_push rdi, 64
    spinel_push rbp, 72
    spinel_push r8, 80
    spinel_push r9, 88
    spinel_push r10, 96
    spinel_push r11, 104
    spinel_push r12, 112
    spinel_push r13, 120
    spinel_push r14, 128
    spinel_push r15, 136
    spinel_saved_regs 7
    .endm

    .section .text.spinel_entry, "ax"

    // ---- The interrupt stubs: 16 bytes per vector ----
    // Each makes the frame uniform (a zero error code where the CPU pushes
    // none), pushes its vector and joins the common path. NMI, double fault
    // and machine check arrive on IST stacks and always take the kernel
    // path, even when they interrupt user mode; #DB too has an IST stack
    // (see spinel_x86_64_trap_debug).
    .balign 16
    .global spinel_x86_64_trap_stubs
spinel_x86_64_trap_stubs:
    .set spinel_vector, 0
    .rept 256
    .balign 16
    .cfi_startproc simple
    .cfi_signal_frame
    // Vectors whose exceptions push an error code:
    .if (spinel_vector == 8) || ((spinel_vector >= 10) && (spinel_vector <= 14)) || (spinel_vector == 17) || (spinel_vector == 21) || (spinel_vector == 29) || (spinel_vector == 30)
    spinel_frame_cfi 7, 8
    .else
    spinel_frame_cfi 7, 0
    push 0
    spinel_frame_cfi 7, 8
    .endif
    push spinel_vector
    spinel_frame_cfi 7, 16
    .if (spinel_vector == 2) || (spinel_vector == 8) || (spinel_vector == 18)
    jmp spinel_x86_64_trap_ist
    .elseif spinel_vector == 1
    jmp spinel_x86_64_trap_debug
    .else
    jmp spinel_x86_64_trap_common
    .endif
    .cfi_endproc
    .set spinel_vector, spinel_vector + 1
    .endr

    // ---- #DB, on its own IST stack ----
    // From kernel mode it is an ordinary kernel trap. From user mode the
    // frame belongs in the thread's TrapFrame like every user trap: copy the
    // seven words pushed so far (the IST stack's top is a fixed address)
    // to the end of the thread's frame and continue there.
    .balign 16
    .cfi_startproc simple
    .cfi_signal_frame
    spinel_frame_cfi 7, 16
spinel_x86_64_trap_debug:
    test byte ptr [rsp + 24], 3         // the saved cs: from user mode?
    jz spinel_x86_64_trap_ist
    mov rsp, [rip + {frame_top}]
    .cfi_undefined rip
    push qword ptr [rip + {debug_stack} + {ist_size} - 8]     // ss
    push qword ptr [rip + {debug_stack} + {ist_size} - 16]    // rsp
    push qword ptr [rip + {debug_stack} + {ist_size} - 24]    // rflags
    push qword ptr [rip + {debug_stack} + {ist_size} - 32]    // cs
    push qword ptr [rip + {debug_stack} + {ist_size} - 40]    // rip
    push qword ptr [rip + {debug_stack} + {ist_size} - 48]    // error code
    push qword ptr [rip + {debug_stack} + {ist_size} - 56]    // vector
    jmp spinel_x86_64_trap_common
    .cfi_endproc

    // ---- The common trap path ----
    .balign 16
    .cfi_startproc simple
    .cfi_signal_frame
    spinel_frame_cfi 7, 16
spinel_x86_64_trap_ist:
    spinel_push_all
    jmp 3f

spinel_x86_64_trap_common:
    spinel_frame_cfi 7, 16
    spinel_push_all
    test byte ptr [rsp + 144], 3        // the saved cs: from user mode?
    jnz spinel_x86_64_leave_user

3:  // Kernel mode: the frame is on the current kernel stack.
    mov rbx, rsp                        // rbx (callee-saved) keeps the frame
    spinel_frame_cfi 3, 136
    spinel_saved_regs 3
    mov rdi, rsp
    // A frame record for the interrupted code, so that frame-pointer walks
    // through the handler include the trapping instruction.
    push qword ptr [rbx + 136]
    push rbp
    mov rbp, rsp
    cld
    call {kernel_trap}
    mov r15, [rbx + 0]
    mov r14, [rbx + 8]
    mov r13, [rbx + 16]
    mov r12, [rbx + 24]
    mov r11, [rbx + 32]
    mov r10, [rbx + 40]
    mov r9, [rbx + 48]
    mov r8, [rbx + 56]
    mov rbp, [rbx + 64]
    mov rdi, [rbx + 72]
    mov rsi, [rbx + 80]
    mov rdx, [rbx + 88]
    mov rcx, [rbx + 96]
    mov rax, [rbx + 112]
    lea rsp, [rbx + 136]                // skip vector and error code
    mov rbx, [rsp - 32]
    spinel_frame_cfi 7, 0
    .cfi_same_value rbx
    .cfi_same_value rbp
    .cfi_same_value r12
    .cfi_same_value r13
    .cfi_same_value r14
    .cfi_same_value r15
    iretq
    .cfi_endproc

    // ---- syscall: rcx = user rip, r11 = user rflags, rsp = user stack ----
    // SFMASK has cleared IF, TF, DF, AC. Build the same frame an interrupt
    // would, on the thread's TrapFrame, then leave like any user trap.
    .balign 16
    .global spinel_x86_64_syscall_entry
spinel_x86_64_syscall_entry:
    .cfi_startproc simple
    .cfi_undefined rip
    mov [rip + {scratch}], rsp
    mov rsp, [rip + {frame_top}]
    push {user_ss}
    push qword ptr [rip + {scratch}]
    push r11
    push {user_cs}
    push rcx
    push 0
    push {syscall_vector}
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    jmp spinel_x86_64_leave_user
    .cfi_endproc

    // ---- Entering and leaving user mode ----
    .balign 16
    .global spinel_x86_64_enter_user
spinel_x86_64_enter_user:               // (rdi = frame, rsi = sysret)
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
    .cfi_remember_state
    mov [rip + {kernel_rsp}], rsp
    // From here on rsp walks through the TrapFrame; interrupts are off.
    mov rsp, rdi
    test esi, esi                       // pop leaves the flags alone
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    jnz 2f
    add rsp, 16                         // vector, error code
    iretq
2:  // sysret: rip from rcx, rflags from r11 (both clobbered by syscall
    // anyway); run() has checked that rip is canonical.
    mov rcx, [rsp + 16]
    mov r11, [rsp + 32]
    mov rsp, [rsp + 40]
    sysretq

    .global spinel_x86_64_leave_user
spinel_x86_64_leave_user:
    // Every user trap ends here with the TrapFrame complete: back to the
    // kernel stack of the run() call and return from enter_user.
    mov rsp, [rip + {kernel_rsp}]
    .cfi_restore_state
    // Clean kernel flags: DF and AC may still be the user's after an
    // interrupt (only syscall masks them), and the Rust ABI needs DF clear.
    push 0
    .cfi_adjust_cfa_offset 8
    popfq
    .cfi_adjust_cfa_offset -8
    pop r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore r15
    pop r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore r14
    pop r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore r13
    pop r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore r12
    pop rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    pop rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbp
    ret
    .cfi_endproc
    "#,
    kernel_trap = sym crate::trap::kernel_trap,
    scratch = sym SYSCALL_SCRATCH,
    frame_top = sym USER_FRAME_TOP,
    kernel_rsp = sym KERNEL_RSP,
    debug_stack = sym crate::cpu::DEBUG_STACK,
    ist_size = const crate::cpu::IST_STACK_SIZE,
    user_ss = const USER_DATA_SELECTOR,
    user_cs = const USER_CODE_SELECTOR,
    syscall_vector = const SYSCALL_VECTOR,
);
