//! Traps as arch-neutral data.

/// What kind of event a trap was, in terms the kernel reasons about.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TrapKind {
    /// An access the page tables did not allow. `write` / `execute` tell the
    /// access, `present` whether a translation existed (a protection fault)
    /// or not.
    PageFault {
        write: bool,
        execute: bool,
        present: bool,
    },
    /// `ud2`, `udf`, or any instruction the CPU does not decode.
    UndefinedInstruction,
    /// `int3` / `brk`.
    SoftwareBreakpoint,
    /// A hardware breakpoint, watchpoint or single-step.
    HardwareBreakpoint,
    /// A misaligned access the architecture refused (x86 #AC, arm64
    /// alignment fault or SP/PC alignment).
    UnalignedAccess,
    /// General fault: x86 #GP, divide error and the remaining exceptions;
    /// arm64 sync exceptions not covered above (e.g. an instruction not
    /// allowed at EL0).
    General,
}

/// The raw architectural facts of a trap, kept verbatim for exception reports.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ArchFacts {
    /// x86_64: the interrupt vector, its error code (0 when it pushes none)
    /// and cr2 (meaningful for page faults; 0 otherwise).
    X86_64 {
        vector: u64,
        error_code: u64,
        cr2: u64,
    },
    /// arm64: ESR_EL1 and FAR_EL1 (FAR is 0 when the class sets none).
    Aarch64 { esr: u64, far: u64 },
}

/// One trap, arch-neutral.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TrapRecord {
    pub kind: TrapKind,
    /// Address of the instruction the trap reports: the faulting instruction,
    /// or for x86 `int3`, the byte after it (as the CPU reports it).
    pub pc: u64,
    pub sp: u64,
    /// The faulting data or instruction address, when the trap has one.
    pub fault_address: Option<u64>,
    /// True when the trap came from user mode.
    pub from_user: bool,
    pub arch: ArchFacts,
}

/// What the kernel's `kernel_trap` hook answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KernelTrapAction {
    /// The trap was expected (provoked by a self-test): continue after it.
    Recover,
    /// Print the record and a backtrace, then power off with failure.
    Fatal,
}

/// Interrupt sources the kernel knows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Irq {
    Timer,
    /// Data arrived on the debugger serial line.
    DebugLink,
    /// Any other interrupt line, by its platform number.
    Other(u32),
}

/// Why [`crate::UserContext::run`] returned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UserExit {
    /// The thread made a system call; read it from the context.
    Syscall,
    /// The thread took an exception; the context holds the registers at the
    /// trap (PC at the faulting instruction, or after `int3` on x86).
    Exception(TrapRecord),
    /// An interrupt arrived while in user mode (already acknowledged and
    /// passed to the `irq` hook).
    Interrupt(Irq),
}
