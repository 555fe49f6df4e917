//! Thread register state (`thread_read_state` / `thread_write_state`).
//!
//! General registers travel as an array of 64-bit slots whose meaning is
//! fixed per architecture; both layouts are described here as plain data so
//! that kernel, debugger and tests agree without arch conditionals.

/// `thread_read_state` kinds (`ZX_THREAD_STATE_*` topics).
pub const THREAD_STATE_GENERAL_REGS: u32 = 0;
pub const THREAD_STATE_FP_REGS: u32 = 1;
pub const THREAD_STATE_VECTOR_REGS: u32 = 2;
pub const THREAD_STATE_DEBUG_REGS: u32 = 4;
pub const THREAD_STATE_SINGLE_STEP: u32 = 5;

/// Most general-register slots of any architecture.
pub const MAX_GENERAL_REGS: usize = 35;

/// Where the registers the kernel itself needs sit in one architecture's
/// general-register slots.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RegisterLayout {
    /// Number of slots (`thread_read_state` returns `count * 8` bytes).
    pub count: usize,
    pub pc: usize,
    pub sp: usize,
    /// First and second argument registers of a new thread.
    pub arg0: usize,
    pub arg1: usize,
    pub names: &'static [&'static str],
}

/// x86_64: `zx_thread_state_general_regs_t` order (20 slots).
pub mod x86_64 {
    pub const RAX: usize = 0;
    pub const RBX: usize = 1;
    pub const RCX: usize = 2;
    pub const RDX: usize = 3;
    pub const RSI: usize = 4;
    pub const RDI: usize = 5;
    pub const RBP: usize = 6;
    pub const RSP: usize = 7;
    pub const R8: usize = 8;
    pub const R15: usize = 15;
    pub const RIP: usize = 16;
    pub const RFLAGS: usize = 17;
    pub const FS_BASE: usize = 18;
    pub const GS_BASE: usize = 19;
    pub const COUNT: usize = 20;
    pub const NAMES: [&str; COUNT] = [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12",
        "r13", "r14", "r15", "rip", "rflags", "fs_base", "gs_base",
    ];
    pub const LAYOUT: super::RegisterLayout = super::RegisterLayout {
        count: COUNT,
        pc: RIP,
        sp: RSP,
        arg0: RDI,
        arg1: RSI,
        names: &NAMES,
    };
}

/// aarch64: x0..x30, sp, pc, cpsr, tpidr (35 slots).
pub mod aarch64 {
    pub const X0: usize = 0;
    pub const X1: usize = 1;
    pub const LR: usize = 30;
    pub const SP: usize = 31;
    pub const PC: usize = 32;
    pub const CPSR: usize = 33;
    /// TPIDR_EL0, the user thread pointer (Zircon's arm64 general registers
    /// end with it too).
    pub const TPIDR: usize = 34;
    pub const COUNT: usize = 35;
    pub const NAMES: [&str; COUNT] = [
        "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
        "x14", "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26",
        "x27", "x28", "x29", "x30", "sp", "pc", "cpsr", "tpidr",
    ];
    pub const LAYOUT: super::RegisterLayout = super::RegisterLayout {
        count: COUNT,
        pc: PC,
        sp: SP,
        arg0: X0,
        arg1: X1,
        names: &NAMES,
    };
}

const _: () = assert!(x86_64::COUNT <= MAX_GENERAL_REGS && aarch64::COUNT <= MAX_GENERAL_REGS);
