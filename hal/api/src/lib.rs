//! The HAL contract: the one small interface between Spinel's portable kernel
//! and each architecture.
//!
//! Principles kept here:
//! - **One contract, implemented twice.** `hal/x86_64` and `hal/aarch64` each
//!   provide a type implementing [`Platform`]; the kernel image picks one in a
//!   single place and sees nothing else of the architecture.
//! - **Traps become data.** Every trap reaches the kernel as one
//!   arch-neutral [`TrapRecord`]: a kind the kernel can reason about, plus the
//!   raw facts (vector / error code / cr2, or ESR / FAR) kept verbatim for
//!   exception reports.
//! - **User mode is a function call.** [`UserContext::run`] enters user mode
//!   with the saved registers and returns when user mode traps back into the
//!   kernel (system call, exception, interrupt). The kernel is therefore an
//!   ordinary loop per thread, and preemption happens only at that boundary.
//! - **Typed, not named.** The kernel learns its architecture as an
//!   [`Architecture`] value and matches it exhaustively; nothing compares
//!   architecture names at run time.
//! - **No hardware here.** This crate is plain data and traits, so the
//!   portable kernel layers can use its types under `cargo test` on the host.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

pub mod memory;
pub mod trap;

pub use memory::{
    BootInfo, FrameAllocator, MAX_REGIONS, MapError, MemoryKind, MemoryRegion, PageFlags, PhysAddr,
    VirtAddr,
};
pub use trap::{ArchFacts, Irq, KernelTrapAction, TrapKind, TrapRecord, UserExit};

/// Size of a page on both architectures (4 KiB granule).
pub const PAGE_SIZE: usize = 4096;

/// Lowest address that is *not* user space (user space is `0..USER_TOP`).
/// Both architectures give user mode the lower 47 bits minus a guard page.
pub const USER_TOP: u64 = 0x0000_7fff_ffff_f000;

/// Exit codes understood by `cargo xtask` on both architectures. The HAL turns
/// `code` into QEMU's exit status `(code << 1) | 1` on both (x86's
/// isa-debug-exit does this by itself; aarch64 semihosting is given the same
/// value), so the host sees 33 for success and 35 for failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    Success = 0x10,
    Failure = 0x11,
}

impl ExitCode {
    /// The process exit status QEMU reports on the host.
    pub const fn host_status(self) -> i32 {
        ((self as i32) << 1) | 1
    }
}

/// The architectures Spinel runs on. The kernel learns which one it was
/// built for from [`Platform::ARCH`] and maps it, exhaustively, to what
/// depends on it (the register layout of `spinel_abi::thread`, the ELF
/// machine of the programs it loads): a typed value, so adding an
/// architecture is a compile error everywhere it matters, never a string
/// that fails to match at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    X86_64,
    Aarch64,
}

impl Architecture {
    /// The name the kernel prints (`x86_64`, `aarch64`: Rust's
    /// `target_arch`).
    pub const fn name(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Aarch64 => "aarch64",
        }
    }

    /// The ELF `e_machine` of this architecture's executables
    /// (`EM_X86_64`, `EM_AARCH64` of the ELF specification).
    pub const fn elf_machine(self) -> u16 {
        match self {
            Architecture::X86_64 => 62,
            Architecture::Aarch64 => 183,
        }
    }
}

impl core::fmt::Display for Architecture {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Functions of the kernel that the HAL calls. Registered once with
/// [`Platform::init`]; all run with interrupts disabled.
#[derive(Clone, Copy)]
pub struct KernelHooks {
    /// A trap taken while in kernel mode (breakpoint, fault ...). The return
    /// value says whether the HAL may recover (only for traps provoked through
    /// [`Platform::provoke_kernel_trap`]) or must treat it as fatal.
    pub kernel_trap: fn(&TrapRecord) -> KernelTrapAction,
    /// An interrupt, taken in kernel or user mode. The HAL has acknowledged it
    /// by the time this runs.
    pub irq: fn(Irq),
}

/// Traps the kernel test-suite provokes in kernel mode, to prove the trap path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProvokedTrap {
    /// `int3` / `brk #0`.
    Breakpoint,
    /// `ud2` / `udf #0`.
    UndefinedInstruction,
    /// A read of the given (unmapped) kernel or user address.
    PageFault(VirtAddr),
}

/// One architecture. Everything is an associated function: there is one CPU
/// and one platform, so there is no value to carry around.
pub trait Platform {
    /// A user address space (the lower half; the kernel half is shared).
    type AddressSpace: AddressSpace;
    /// Saved user-mode registers of one thread.
    type UserContext: UserContext;
    /// Saved kernel-mode registers of one kernel thread, for context switches.
    type KernelContext: KernelContext;

    /// Which architecture this is.
    const ARCH: Architecture;

    /// Install trap/interrupt handling and remember the kernel's hooks.
    /// Interrupts stay disabled until [`Platform::enable_interrupts`].
    fn init(hooks: KernelHooks);

    /// Write to the console (COM1 / first PL011). Never fails, never blocks
    /// for long.
    fn console_write(bytes: &[u8]);
    /// Write to the second serial line (COM2 / PL011 at 0x0904_0000), reserved
    /// for the debugger link. Does nothing when QEMU gave no second serial.
    fn debug_link_write(bytes: &[u8]);
    /// Read what has arrived on the second serial line, without blocking.
    /// Returns the number of bytes stored in `buf`.
    fn debug_link_read(buf: &mut [u8]) -> usize;

    /// Virtual address at which the kernel sees physical address `pa`
    /// (all RAM is mapped in the upper half at boot).
    fn phys_to_virt(pa: PhysAddr) -> VirtAddr;
    /// Physical address of a virtual address inside the kernel image (its
    /// code and statics); `None` outside the image. Lets the kernel hand
    /// pages of data it carries (the boot image) to the VM without copying.
    fn kernel_image_phys(va: VirtAddr) -> Option<PhysAddr>;

    fn enable_interrupts();
    fn disable_interrupts();
    /// Enable interrupts and sleep until one arrives (it is handled before
    /// this returns); interrupts are disabled again on return.
    fn wait_for_interrupt();

    /// Start the periodic timer interrupt ([`Irq::Timer`]).
    fn timer_start(period_ns: u64);
    /// Monotonic time since boot, in nanoseconds.
    fn now_ns() -> u64;

    /// Execute the instruction that raises `trap` in kernel mode. The kernel's
    /// `kernel_trap` hook sees it; if the hook answers
    /// [`KernelTrapAction::Recover`], execution continues after the provoking
    /// instruction and this returns.
    fn provoke_kernel_trap(trap: ProvokedTrap);

    /// A tiny position-independent user-mode program for the HAL self-test:
    /// it makes system call [`TEST_BLOB_SYSCALL`] with argument 0 =
    /// [`TEST_BLOB_ARG0`], then reads from [`TEST_BLOB_FAULT_ADDR`] (which the
    /// test leaves unmapped) and so faults.
    fn user_test_blob() -> &'static [u8];

    /// Return addresses of the callers of the current function, innermost
    /// first, by walking frame pointers. Stops at the first invalid frame.
    fn backtrace(out: &mut [usize]) -> usize;

    /// Stop the machine, QEMU exiting with `code.host_status()`.
    fn power_off(code: ExitCode) -> !;
}

/// The unmapped address that [`Platform::user_test_blob`] reads after its
/// system call.
pub const TEST_BLOB_FAULT_ADDR: u64 = 0x0000_0000_dead_0000;
/// The system call number the test blob uses.
pub const TEST_BLOB_SYSCALL: u64 = 1;
/// The first argument the test blob passes.
pub const TEST_BLOB_ARG0: u64 = 0x5350_494e;

/// A lower-half address space.
pub trait AddressSpace: Sized {
    /// A new, empty user address space (the kernel half is shared).
    fn new(frames: &mut dyn FrameAllocator) -> Result<Self, MapError>;
    /// Map one page. `va` and `pa` must be page aligned and `va` below
    /// [`USER_TOP`] (or the kernel half, for the kernel's own space).
    fn map(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        flags: PageFlags,
        frames: &mut dyn FrameAllocator,
    ) -> Result<(), MapError>;
    /// Remove the mapping of one page, returning the physical page it mapped.
    fn unmap(&mut self, va: VirtAddr) -> Result<PhysAddr, MapError>;
    /// Change the permissions of one mapped page.
    fn protect(&mut self, va: VirtAddr, flags: PageFlags) -> Result<(), MapError>;
    /// Physical address and permissions of `va`, if mapped.
    fn translate(&self, va: VirtAddr) -> Option<(PhysAddr, PageFlags)>;
    /// Make this the current user address space.
    fn activate(&self);
    /// Free the page-table pages (not the mapped pages).
    fn destroy(self, frames: &mut dyn FrameAllocator);
}

/// Saved user-mode state of one thread. General registers are exposed as
/// numbered 64-bit slots so that syscalls and exception reports are written
/// once; [`UserContext::REGISTER_NAMES`] says what each slot is.
pub trait UserContext: Clone + Default {
    /// Names of the general registers in slot order (e.g. `rax` ..., `x0` ...).
    const REGISTER_NAMES: &'static [&'static str];

    /// Registers for a thread that starts at `pc` with stack `sp` and the two
    /// first arguments set, entered as if `pc` were a C function
    /// `extern "C" fn(arg0, arg1)` called with `sp` (16-byte aligned) as the
    /// stack top: the HAL applies its architecture's entry convention (on
    /// x86_64 a zero return-address slot below `sp`, so that `rsp % 16 == 8`
    /// at entry; on aarch64 `sp` as is, with a zero link register), so
    /// user runtimes need no assembly entry stub.
    fn new(pc: u64, sp: u64, arg0: u64, arg1: u64) -> Self;
    /// Enter user mode in the current address space and run until a trap
    /// brings control back. Interrupts are enabled in user mode and disabled
    /// again when this returns.
    fn run(&mut self) -> UserExit;

    fn pc(&self) -> u64;
    fn set_pc(&mut self, pc: u64);
    fn sp(&self) -> u64;
    fn set_sp(&mut self, sp: u64);

    /// After [`UserExit::Syscall`]: the call number and its eight arguments.
    fn syscall_number(&self) -> u64;
    fn syscall_args(&self) -> [u64; 8];
    /// Set what the system call returns in user mode.
    fn set_syscall_result(&mut self, value: u64);

    /// General register `index` (see `REGISTER_NAMES`), or `None` past the end.
    fn register(&self, index: usize) -> Option<u64>;
    /// Set general register `index`; returns false past the end.
    fn set_register(&mut self, index: usize, value: u64) -> bool;

    /// The general registers in slot order into `out` (as many as it
    /// holds, at most `REGISTER_NAMES.len()`): [`UserContext::register`]
    /// for each index, in one call (the kernel's hot path).
    fn read_registers(&self, out: &mut [u64]) {
        for (index, slot) in out.iter_mut().enumerate() {
            *slot = self.register(index).unwrap_or(0);
        }
    }

    /// Set the general registers from `values` in slot order, exactly as
    /// [`UserContext::set_register`] for each index would (values it
    /// refuses leave the register as it was).
    fn write_registers(&mut self, values: &[u64]) {
        for (index, value) in values.iter().enumerate() {
            self.set_register(index, *value);
        }
    }

    /// Trap after every user instruction while on (a debugger's single
    /// step): the thread runs one instruction and returns
    /// [`UserExit::Exception`] with [`crate::TrapKind::HardwareBreakpoint`]
    /// (x86_64: RFLAGS.TF, #DB; aarch64: SPSR.SS with MDSCR_EL1.SS, a
    /// software-step exception). Takes effect at the next `run`.
    fn set_single_step(&mut self, on: bool);

    /// Bytes of the FP/SIMD state image: Linux's `NT_FPREGSET` layout
    /// (x86_64: the 512-byte FXSAVE image; aarch64: `user_fpsimd_state`,
    /// v0..v31, FPSR, FPCR, 8 zero bytes: 528).
    const FP_STATE_SIZE: usize;
    /// The FP/SIMD state as saved at the last return from user mode (or the
    /// initial one), as that image, into `out[..FP_STATE_SIZE]` (`out` is at
    /// least that long).
    fn read_fp_state(&self, out: &mut [u8]);
    /// Replace the FP/SIMD state from `data` (that image, exactly
    /// `FP_STATE_SIZE` bytes); used from the next `run`. Returns false and
    /// changes nothing when the length is wrong or a control register has
    /// reserved bits set (the HAL never loads a value the CPU would fault
    /// on in the kernel).
    fn write_fp_state(&mut self, data: &[u8]) -> bool;
}

/// Saved state of a kernel thread for [`KernelContext::switch`].
pub trait KernelContext: Sized {
    /// A context that, when switched to, runs `entry(arg)` on the stack that
    /// ends at `stack_top` (16-byte aligned). `entry` must never return.
    fn new(stack_top: VirtAddr, entry: extern "C" fn(usize) -> !, arg: usize) -> Self;
    /// An empty context, to be filled by the first switch away from the
    /// current (boot) thread.
    fn empty() -> Self;
    /// Save the current state into `from` and continue with `to`. Returns when
    /// some other thread switches back to `from`.
    ///
    /// # Safety
    /// Both pointers must be valid and `to` must hold a context made by
    /// [`KernelContext::new`] or saved by an earlier switch, whose stack is
    /// still alive.
    #[allow(unsafe_code)] // reason: declares the contract; the HALs implement it
    unsafe fn switch(from: *mut Self, to: *const Self);
}

#[cfg(test)]
mod tests {
    use super::Architecture;

    #[test]
    fn architectures_have_their_names_and_elf_machines() {
        assert_eq!(Architecture::X86_64.to_string(), "x86_64");
        assert_eq!(Architecture::Aarch64.to_string(), "aarch64");
        assert_eq!(Architecture::X86_64.elf_machine(), 62);
        assert_eq!(Architecture::Aarch64.elf_machine(), 183);
    }
}
