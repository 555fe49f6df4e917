//! Thread register state (`thread_read_state` / `thread_write_state`).
//!
//! General registers travel as an array of 64-bit slots whose meaning is
//! fixed per architecture; both layouts are described here as plain data so
//! that kernel, debugger and tests agree without arch conditionals.

/// `thread_read_state` kinds (`ZX_THREAD_STATE_*` topics).
pub const THREAD_STATE_GENERAL_REGS: u32 = 0;
/// The FP/SIMD registers, in **Linux's `NT_FPREGSET` layout** (a deliberate
/// difference from Zircon's `zx_thread_state_fp_regs_t`, so that ELF cores
/// carry them without conversion):
///
/// - x86_64: the 512-byte FXSAVE image ([`FP_REGS_SIZE_X86_64`]: FCW, FSW,
///   FTW, FOP, FIP, FDP, MXCSR at 24, MXCSR_MASK at 28, st0..st7 at 32,
///   xmm0..xmm15 at 160, 16 bytes each).
/// - aarch64: Linux's `user_fpsimd_state` ([`FP_REGS_SIZE_AARCH64`]: v0..v31,
///   16 little-endian bytes each, then FPSR and FPCR as u32, then 8 bytes of
///   zero padding).
///
/// Read and written exactly when the general registers are (the thread is
/// stopped in an exception or suspended; BAD_STATE otherwise), with the
/// same rights; the buffer must hold at least the arch's size
/// (BUFFER_TOO_SMALL) and a write exactly that size (INVALID_ARGS
/// otherwise). Writes are checked: an x86 MXCSR with reserved bits set, or
/// arm64 FPSR/FPCR with bits outside [`aarch64::FPSR_MASK`] /
/// [`aarch64::FPCR_MASK`], is INVALID_ARGS. The kernel's MXCSR_MASK and
/// reserved bytes of the FXSAVE image read back as the CPU wrote them;
/// their written values are ignored.
pub const THREAD_STATE_FP_REGS: u32 = 1;
/// Not supported (NOT_SUPPORTED): the vector registers Spinel saves (SSE
/// xmm0..15, NEON v0..v31) are all in [`THREAD_STATE_FP_REGS`].
pub const THREAD_STATE_VECTOR_REGS: u32 = 2;
pub const THREAD_STATE_DEBUG_REGS: u32 = 4;
pub const THREAD_STATE_SINGLE_STEP: u32 = 5;

/// Bytes of [`THREAD_STATE_FP_REGS`] on x86_64: the FXSAVE image.
pub const FP_REGS_SIZE_X86_64: usize = 512;
/// Bytes of [`THREAD_STATE_FP_REGS`] on aarch64: `user_fpsimd_state`.
pub const FP_REGS_SIZE_AARCH64: usize = 528;
/// The larger of the two (a buffer for either architecture).
pub const MAX_FP_REGS_SIZE: usize = FP_REGS_SIZE_AARCH64;

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
    /// Offsets in the FXSAVE image of `THREAD_STATE_FP_REGS`.
    pub const FXSAVE_MXCSR: usize = 24;
    pub const FXSAVE_MXCSR_MASK: usize = 28;
    pub const FXSAVE_ST0: usize = 32;
    pub const FXSAVE_XMM0: usize = 160;
    /// MXCSR bits a write may set (FZ, rounding, masks, DAZ, flags); the
    /// others are reserved and refused (INVALID_ARGS).
    pub const MXCSR_WRITABLE: u32 = 0xffff;
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
    /// Offsets in `THREAD_STATE_FP_REGS` (`user_fpsimd_state`): v0..v31 at
    /// 0 (16 bytes each), FPSR at 512, FPCR at 516, 8 zero bytes at 520.
    pub const FP_V0: usize = 0;
    pub const FP_FPSR: usize = 512;
    pub const FP_FPCR: usize = 516;
    /// FPSR bits that exist (the cumulative flags IOC..IXC, IDC, QC and
    /// NZCV); a write with any other bit is INVALID_ARGS.
    pub const FPSR_MASK: u32 = 0xf800_009f;
    /// FPCR bits a write may set (IOE..IXE, IDE, Len, Stride, RMode, FZ,
    /// DN, AHP, FZ16); any other is INVALID_ARGS.
    pub const FPCR_MASK: u32 = 0x07ff_9f00;
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

const _: () = assert!(x86_64::FXSAVE_XMM0 + 16 * 16 <= FP_REGS_SIZE_X86_64);
const _: () = assert!(aarch64::FP_FPCR + 4 + 8 == FP_REGS_SIZE_AARCH64);
const _: () = assert!(x86_64::COUNT <= MAX_GENERAL_REGS && aarch64::COUNT <= MAX_GENERAL_REGS);
