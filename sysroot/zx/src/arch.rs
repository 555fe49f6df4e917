//! The architecture of userspace, in one place (with [`crate::raw`]): the
//! register layout of `thread_read_state`, the arch context of exception
//! reports, and small assembly routines that provoke each kind of fault,
//! for test programs and crash demos.
//!
//! Each routine is a leaf function in assembly: the faulting instruction is
//! at [`Fault::site`], and the next instruction, at [`Fault::resume`],
//! returns to the caller. A handler that sets the thread's PC to
//! `resume` and answers HANDLED lets the call return normally.

use crate::ExceptionReport;
use crate::abi::exception::{
    EXCP_FATAL_PAGE_FAULT, EXCP_GENERAL, EXCP_SW_BREAKPOINT, EXCP_UNALIGNED_ACCESS,
    EXCP_UNDEFINED_INSTRUCTION,
};
use crate::abi::thread::RegisterLayout;

/// A fault user code can provoke.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    /// x86 `ud2`; arm64 `udf #0`.
    UndefinedInstruction,
    /// x86 `int3`; arm64 `brk #0`.
    SoftwareBreakpoint,
    /// An instruction user mode may not execute: x86 `hlt` (#GP); arm64
    /// `mrs x0, sctlr_el1`. EXCP_GENERAL.
    PrivilegedInstruction,
    /// x86 only: `div` by zero (#DE). EXCP_GENERAL.
    DivideByZero,
    /// arm64 only: `wfi`, which EL0 may not run here (trapped, EC 0x01).
    /// EXCP_GENERAL.
    TrappedWait,
    /// A load from the address argument (give it an unmapped one).
    PageFault,
    /// x86: an unaligned load with EFLAGS.AC set (CR0.AM is on); arm64: an
    /// exclusive load (`ldxr`), which must be aligned. Give it a mapped,
    /// unaligned address.
    UnalignedAccess,
}

/// The assembly routines: `spinel_zx_fault_<name>` (entry, address in the
/// first argument register), `..._site` (the faulting instruction),
/// `..._resume` (the instruction after it; it returns).
macro_rules! fault_routines {
    ($($variant:ident $name:ident;)*) => {
        #[allow(dead_code)] // reason: each arch defines only its own routines
        mod symbols {
            pub(super) mod entry {
                unsafe extern "C" {
                    $(#[link_name = concat!("spinel_zx_fault_", stringify!($name))]
                    pub(crate) fn $name(address: u64);)*
                }
            }
            pub(super) mod site {
                unsafe extern "C" {
                    $(#[link_name = concat!("spinel_zx_fault_", stringify!($name), "_site")]
                    pub(crate) fn $name();)*
                }
            }
            pub(super) mod resume {
                unsafe extern "C" {
                    $(#[link_name = concat!("spinel_zx_fault_", stringify!($name), "_resume")]
                    pub(crate) fn $name();)*
                }
            }
        }
    };
}

fault_routines! {
    UndefinedInstruction undefined;
    SoftwareBreakpoint breakpoint;
    PrivilegedInstruction privileged;
    DivideByZero divide;
    TrappedWait wait;
    PageFault page;
    UnalignedAccess unaligned;
}

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.spinel_zx_faults, \"ax\"",
    ".macro spinel_zx_fault name",
    ".globl spinel_zx_fault_\\name",
    ".globl spinel_zx_fault_\\name\\()_site",
    ".globl spinel_zx_fault_\\name\\()_resume",
    ".endm",
    "spinel_zx_fault undefined",
    "spinel_zx_fault_undefined:",
    "spinel_zx_fault_undefined_site:",
    "    ud2",
    "spinel_zx_fault_undefined_resume:",
    "    ret",
    "spinel_zx_fault breakpoint",
    "spinel_zx_fault_breakpoint:",
    "spinel_zx_fault_breakpoint_site:",
    "    int3",
    "spinel_zx_fault_breakpoint_resume:",
    "    ret",
    "spinel_zx_fault privileged",
    "spinel_zx_fault_privileged:",
    "spinel_zx_fault_privileged_site:",
    "    hlt",
    "spinel_zx_fault_privileged_resume:",
    "    ret",
    "spinel_zx_fault divide",
    "spinel_zx_fault_divide:",
    "    xor ecx, ecx",
    "    xor eax, eax",
    "    xor edx, edx",
    "spinel_zx_fault_divide_site:",
    "    div rcx",
    "spinel_zx_fault_divide_resume:",
    "    ret",
    "spinel_zx_fault page",
    "spinel_zx_fault_page:",
    "spinel_zx_fault_page_site:",
    "    mov rax, qword ptr [rdi]",
    "spinel_zx_fault_page_resume:",
    "    ret",
    "spinel_zx_fault unaligned",
    "spinel_zx_fault_unaligned:",
    "    pushfq",
    "    or dword ptr [rsp], 0x40000",
    "    popfq",
    "spinel_zx_fault_unaligned_site:",
    "    mov rax, qword ptr [rdi]",
    "spinel_zx_fault_unaligned_resume:",
    "    pushfq",
    "    and dword ptr [rsp], 0xfffbffff",
    "    popfq",
    "    ret",
    // Not on this architecture: the entry returns at once.
    "spinel_zx_fault wait",
    "spinel_zx_fault_wait:",
    "spinel_zx_fault_wait_site:",
    "spinel_zx_fault_wait_resume:",
    "    ret",
    ".popsection",
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".pushsection .text.spinel_zx_faults, \"ax\"",
    ".macro spinel_zx_fault name",
    ".globl spinel_zx_fault_\\name",
    ".globl spinel_zx_fault_\\name\\()_site",
    ".globl spinel_zx_fault_\\name\\()_resume",
    ".endm",
    "spinel_zx_fault undefined",
    "spinel_zx_fault_undefined:",
    "spinel_zx_fault_undefined_site:",
    "    udf #0",
    "spinel_zx_fault_undefined_resume:",
    "    ret",
    "spinel_zx_fault breakpoint",
    "spinel_zx_fault_breakpoint:",
    "spinel_zx_fault_breakpoint_site:",
    "    brk #0",
    "spinel_zx_fault_breakpoint_resume:",
    "    ret",
    "spinel_zx_fault privileged",
    "spinel_zx_fault_privileged:",
    "spinel_zx_fault_privileged_site:",
    "    mrs x0, sctlr_el1",
    "spinel_zx_fault_privileged_resume:",
    "    ret",
    "spinel_zx_fault wait",
    "spinel_zx_fault_wait:",
    "spinel_zx_fault_wait_site:",
    "    wfi",
    "spinel_zx_fault_wait_resume:",
    "    ret",
    "spinel_zx_fault page",
    "spinel_zx_fault_page:",
    "spinel_zx_fault_page_site:",
    "    ldr x0, [x0]",
    "spinel_zx_fault_page_resume:",
    "    ret",
    "spinel_zx_fault unaligned",
    "spinel_zx_fault_unaligned:",
    "spinel_zx_fault_unaligned_site:",
    "    ldxr x0, [x0]",
    "spinel_zx_fault_unaligned_resume:",
    "    clrex",
    "    ret",
    // Not on this architecture: the entry returns at once.
    "spinel_zx_fault divide",
    "spinel_zx_fault_divide:",
    "spinel_zx_fault_divide_site:",
    "spinel_zx_fault_divide_resume:",
    "    ret",
    ".popsection",
);

/// This architecture's name, as the HAL and the xtask spell it.
#[cfg(target_arch = "x86_64")]
pub const ARCH: &str = "x86_64";
#[cfg(target_arch = "aarch64")]
pub const ARCH: &str = "aarch64";
/// Host builds (clippy, docs) describe x86_64.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub const ARCH: &str = "host";

/// The general-register slots of `thread_read_state` on this architecture.
#[cfg(not(target_arch = "aarch64"))]
pub const REGISTER_LAYOUT: RegisterLayout = crate::abi::thread::x86_64::LAYOUT;
#[cfg(target_arch = "aarch64")]
pub const REGISTER_LAYOUT: RegisterLayout = crate::abi::thread::aarch64::LAYOUT;

/// Bytes of `THREAD_STATE_FP_REGS` on this architecture (the FXSAVE image;
/// arm64's `user_fpsimd_state`).
#[cfg(target_arch = "x86_64")]
pub const FP_REGS_SIZE: usize = crate::abi::thread::FP_REGS_SIZE_X86_64;
#[cfg(target_arch = "aarch64")]
pub const FP_REGS_SIZE: usize = crate::abi::thread::FP_REGS_SIZE_AARCH64;

const IS_X86: bool = cfg!(target_arch = "x86_64");
const IS_ARM: bool = cfg!(target_arch = "aarch64");

impl Fault {
    /// The faults this architecture can provoke, each once.
    pub const ALL: &'static [Fault] = if IS_ARM {
        &[
            Fault::UndefinedInstruction,
            Fault::SoftwareBreakpoint,
            Fault::PrivilegedInstruction,
            Fault::TrappedWait,
            Fault::PageFault,
            Fault::UnalignedAccess,
        ]
    } else {
        &[
            Fault::UndefinedInstruction,
            Fault::SoftwareBreakpoint,
            Fault::PrivilegedInstruction,
            Fault::DivideByZero,
            Fault::PageFault,
            Fault::UnalignedAccess,
        ]
    };

    /// Whether this architecture has this fault.
    pub fn exists(self) -> bool {
        Self::ALL.contains(&self)
    }

    /// The exception type the kernel must report.
    pub const fn exception_type(self) -> u32 {
        match self {
            Fault::UndefinedInstruction => EXCP_UNDEFINED_INSTRUCTION,
            Fault::SoftwareBreakpoint => EXCP_SW_BREAKPOINT,
            Fault::PrivilegedInstruction | Fault::DivideByZero | Fault::TrappedWait => EXCP_GENERAL,
            Fault::PageFault => EXCP_FATAL_PAGE_FAULT,
            Fault::UnalignedAccess => EXCP_UNALIGNED_ACCESS,
        }
    }

    /// The arch code the report must carry: the x86 vector, or the arm64
    /// exception class (ESR bits 31:26). See [`report_code`].
    pub const fn arch_code(self) -> u64 {
        if IS_ARM {
            match self {
                Fault::UndefinedInstruction | Fault::PrivilegedInstruction => 0x00,
                Fault::SoftwareBreakpoint => 0x3c,
                Fault::TrappedWait => 0x01,
                Fault::PageFault | Fault::UnalignedAccess => 0x24,
                Fault::DivideByZero => u64::MAX,
            }
        } else {
            match self {
                Fault::DivideByZero => 0,
                Fault::SoftwareBreakpoint => 3,
                Fault::UndefinedInstruction => 6,
                Fault::PrivilegedInstruction => 13,
                Fault::PageFault => 14,
                Fault::UnalignedAccess => 17,
                Fault::TrappedWait => u64::MAX,
            }
        }
    }

    /// Provoke the fault (`address`: what PageFault and UnalignedAccess
    /// load from). Returns if a handler moved the PC to [`Fault::resume`]
    /// (or, on x86, answered a breakpoint HANDLED), or at once for a fault
    /// this architecture does not have.
    pub fn trigger(self, address: u64) {
        use symbols::entry;
        // SAFETY: each routine is a leaf that follows the C calling
        // convention, runs one faulting instruction (a load from `address`
        // at most, which changes no memory) and returns.
        unsafe {
            match self {
                Fault::UndefinedInstruction => entry::undefined(address),
                Fault::SoftwareBreakpoint => entry::breakpoint(address),
                Fault::PrivilegedInstruction => entry::privileged(address),
                Fault::DivideByZero => entry::divide(address),
                Fault::TrappedWait => entry::wait(address),
                Fault::PageFault => entry::page(address),
                Fault::UnalignedAccess => entry::unaligned(address),
            }
        }
    }

    /// Address of the faulting instruction.
    pub fn site(self) -> u64 {
        use symbols::site;
        let f: unsafe extern "C" fn() = match self {
            Fault::UndefinedInstruction => site::undefined,
            Fault::SoftwareBreakpoint => site::breakpoint,
            Fault::PrivilegedInstruction => site::privileged,
            Fault::DivideByZero => site::divide,
            Fault::TrappedWait => site::wait,
            Fault::PageFault => site::page,
            Fault::UnalignedAccess => site::unaligned,
        };
        f as usize as u64
    }

    /// Address of the instruction after the faulting one.
    pub fn resume(self) -> u64 {
        use symbols::resume;
        let f: unsafe extern "C" fn() = match self {
            Fault::UndefinedInstruction => resume::undefined,
            Fault::SoftwareBreakpoint => resume::breakpoint,
            Fault::PrivilegedInstruction => resume::privileged,
            Fault::DivideByZero => resume::divide,
            Fault::TrappedWait => resume::wait,
            Fault::PageFault => resume::page,
            Fault::UnalignedAccess => resume::unaligned,
        };
        f as usize as u64
    }

    /// The PC the kernel reports (and resumes at) for this fault: the
    /// faulting instruction, except x86's `int3`, a trap that reports the
    /// instruction after itself.
    pub fn reported_pc(self) -> u64 {
        if IS_X86 && self == Fault::SoftwareBreakpoint {
            self.resume()
        } else {
            self.site()
        }
    }
}

/// The arch code of a report: the x86 vector or the arm64 exception class.
pub fn report_code(report: &ExceptionReport) -> u64 {
    if IS_ARM {
        u64::from(report.context.arch.as_arm64().esr >> 26)
    } else {
        report.context.arch.as_x86_64().vector
    }
}

/// The fault address of a report: x86 `cr2`, arm64 `far`.
pub fn report_fault_address(report: &ExceptionReport) -> u64 {
    if IS_ARM {
        report.context.arch.as_arm64().far
    } else {
        report.context.arch.as_x86_64().cr2
    }
}

/// The x86 error code of a report (0 on arm64).
pub fn report_error_code(report: &ExceptionReport) -> u64 {
    if IS_ARM {
        0
    } else {
        report.context.arch.as_x86_64().err_code
    }
}

/// The stack pointer to give `thread_start` for a thread whose entry is an
/// `extern "C"` function and whose stack ends at `top`: what a call would
/// leave (x86_64: 16-byte aligned minus the return address; arm64: 16-byte
/// aligned).
pub const fn initial_stack_pointer(top: u64) -> u64 {
    if IS_X86 { (top & !15) - 8 } else { top & !15 }
}

/// Offset of the first vector register (x86 xmm0, arm64 v0) in this
/// architecture's `THREAD_STATE_FP_REGS` image; the others follow, 16
/// bytes each.
#[cfg(target_arch = "x86_64")]
pub const FP_VECTOR0_OFFSET: usize = crate::abi::thread::x86_64::FXSAVE_XMM0;
#[cfg(target_arch = "aarch64")]
pub const FP_VECTOR0_OFFSET: usize = crate::abi::thread::aarch64::FP_V0;

/// Vector registers [`fp_probe`] loads and stores back.
pub const FP_PROBE_REGISTERS: usize = 4;

unsafe extern "C" {
    fn spinel_zx_fp_probe(values: *mut [u128; FP_PROBE_REGISTERS]);
    fn spinel_zx_fp_probe_site();
    fn spinel_zx_fp_probe_resume();
}

/// For tests of FP/SIMD state: load `values` into the first vector
/// registers (x86 xmm0..xmm3, arm64 v0..v3), fault on an undefined
/// instruction at [`fp_probe_site`] (the reported PC) and, when a handler
/// has moved the PC to [`fp_probe_resume`] and resumed the thread, store
/// those registers back into `values`: what the handler wrote with
/// `thread_write_state(THREAD_STATE_FP_REGS)` comes back here. With no
/// handler the process dies of the fault.
pub fn fp_probe(values: &mut [u128; FP_PROBE_REGISTERS]) {
    // SAFETY: the routine is a leaf following the C calling convention; it
    // reads and writes only the 64 bytes of `values` (an exclusive
    // borrow), clobbers only caller-saved vector registers, and faults once
    // on an undefined instruction it returns from only if a handler moves
    // the PC past it.
    unsafe { spinel_zx_fp_probe(values) }
}

/// Address of [`fp_probe`]'s faulting instruction.
pub fn fp_probe_site() -> u64 {
    spinel_zx_fp_probe_site as *const () as u64
}

/// Address after it, where a handler resumes the probe.
pub fn fp_probe_resume() -> u64 {
    spinel_zx_fp_probe_resume as *const () as u64
}

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.spinel_zx_fp_probe, \"ax\"",
    ".globl spinel_zx_fp_probe",
    ".globl spinel_zx_fp_probe_site",
    ".globl spinel_zx_fp_probe_resume",
    "spinel_zx_fp_probe:",
    "    movdqu xmm0, [rdi]",
    "    movdqu xmm1, [rdi + 16]",
    "    movdqu xmm2, [rdi + 32]",
    "    movdqu xmm3, [rdi + 48]",
    "spinel_zx_fp_probe_site:",
    "    ud2",
    "spinel_zx_fp_probe_resume:",
    "    movdqu [rdi], xmm0",
    "    movdqu [rdi + 16], xmm1",
    "    movdqu [rdi + 32], xmm2",
    "    movdqu [rdi + 48], xmm3",
    "    ret",
    ".popsection",
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".pushsection .text.spinel_zx_fp_probe, \"ax\"",
    ".globl spinel_zx_fp_probe",
    ".globl spinel_zx_fp_probe_site",
    ".globl spinel_zx_fp_probe_resume",
    "spinel_zx_fp_probe:",
    "    ldp q0, q1, [x0]",
    "    ldp q2, q3, [x0, #32]",
    "spinel_zx_fp_probe_site:",
    "    udf #0",
    "spinel_zx_fp_probe_resume:",
    "    stp q0, q1, [x0]",
    "    stp q2, q3, [x0, #32]",
    "    ret",
    ".popsection",
);

/// Offset of the FP control register a write checks in this
/// architecture's `THREAD_STATE_FP_REGS` image (x86 MXCSR, arm64 FPCR);
/// bit 31 of it is reserved on both.
#[cfg(target_arch = "x86_64")]
pub const FP_CONTROL_OFFSET: usize = crate::abi::thread::x86_64::FXSAVE_MXCSR;
#[cfg(target_arch = "aarch64")]
pub const FP_CONTROL_OFFSET: usize = crate::abi::thread::aarch64::FP_FPCR;
