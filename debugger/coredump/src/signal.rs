//! Which POSIX signal a Zircon exception is, for the cores' `NT_PRSTATUS`
//! and `NT_SIGINFO` (gdb prints "Program terminated with signal SIGSEGV").
//!
//! Linux's numbers, the same on x86_64 and aarch64. The choices follow what
//! Linux sends for the same hardware event: a page fault the VM refused is
//! SIGSEGV, an undefined instruction SIGILL, a breakpoint SIGTRAP, an
//! unaligned access SIGBUS; a general exception is SIGFPE when the hardware
//! says it was arithmetic (x86 #DE divide error, #MF x87 error, #XM SIMD
//! error; an arm64 trapped floating-point exception), SIGSEGV otherwise (x86
//! #GP, as Linux does).

use crate::Arch;
use spinel_abi::exception::{
    EXCP_FATAL_PAGE_FAULT, EXCP_GENERAL, EXCP_HW_BREAKPOINT, EXCP_POLICY_ERROR, EXCP_SW_BREAKPOINT,
    EXCP_UNALIGNED_ACCESS, EXCP_UNDEFINED_INSTRUCTION, ExceptionReport,
};

/// A POSIX signal number (Linux's values).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Signal(pub u32);

impl Signal {
    pub const NONE: Signal = Signal(0);
    pub const SIGILL: Signal = Signal(4);
    pub const SIGTRAP: Signal = Signal(5);
    pub const SIGABRT: Signal = Signal(6);
    pub const SIGBUS: Signal = Signal(7);
    pub const SIGFPE: Signal = Signal(8);
    pub const SIGSEGV: Signal = Signal(11);
    pub const SIGSYS: Signal = Signal(31);

    /// `SIGSEGV` and so on; `SIG?` for a number this table does not know.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "none",
            4 => "SIGILL",
            5 => "SIGTRAP",
            6 => "SIGABRT",
            7 => "SIGBUS",
            8 => "SIGFPE",
            11 => "SIGSEGV",
            31 => "SIGSYS",
            _ => "SIG?",
        }
    }
}

/// x86 vectors that Linux reports as SIGFPE: #DE, #MF, #XM.
const X86_ARITHMETIC_VECTORS: [u64; 3] = [0, 16, 19];
/// arm64 ESR exception class of a trapped floating-point exception (AArch64).
const ARM64_EC_FP_EXCEPTION: u32 = 0x2c;

/// The signal a process that died of this exception reports.
///
/// `report` supplies the arch facts that tell a general exception's kind
/// (its type is also the report's `header.exception_type`).
pub fn signal_for_exception(arch: Arch, report: &ExceptionReport) -> Signal {
    match report.header.exception_type {
        EXCP_FATAL_PAGE_FAULT => Signal::SIGSEGV,
        EXCP_UNDEFINED_INSTRUCTION => Signal::SIGILL,
        EXCP_SW_BREAKPOINT | EXCP_HW_BREAKPOINT => Signal::SIGTRAP,
        EXCP_UNALIGNED_ACCESS => Signal::SIGBUS,
        EXCP_POLICY_ERROR => Signal::SIGSYS,
        EXCP_GENERAL => {
            let arithmetic = match arch {
                Arch::X86_64 => {
                    X86_ARITHMETIC_VECTORS.contains(&report.context.arch.as_x86_64().vector)
                }
                Arch::Aarch64 => report.context.arch.as_arm64().esr >> 26 == ARM64_EC_FP_EXCEPTION,
            };
            if arithmetic {
                Signal::SIGFPE
            } else {
                Signal::SIGSEGV
            }
        }
        // Synthetic exceptions (thread/process starting or exiting) are not
        // crashes; anything else unknown is reported as an abort.
        other if spinel_abi::exception::is_synthetic(other) => Signal::NONE,
        _ => Signal::SIGABRT,
    }
}

/// The fault address a report names: x86 cr2 of a page fault, arm64 FAR of
/// a data or instruction abort; `None` for other exceptions.
pub fn fault_address(arch: Arch, report: &ExceptionReport) -> Option<u64> {
    let kind = report.header.exception_type;
    if kind != EXCP_FATAL_PAGE_FAULT && kind != EXCP_UNALIGNED_ACCESS {
        return None;
    }
    Some(match arch {
        Arch::X86_64 => report.context.arch.as_x86_64().cr2,
        Arch::Aarch64 => report.context.arch.as_arm64().far,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use spinel_abi::exception::{
        Arm64ExceptionContext, EXCP_THREAD_STARTING, ExceptionArchContext, X86_64ExceptionContext,
    };

    fn x86(kind: u32, vector: u64) -> ExceptionReport {
        let mut report = ExceptionReport::new(kind);
        report.context.arch = ExceptionArchContext::x86_64(X86_64ExceptionContext {
            vector,
            err_code: 0,
            cr2: 0x10c,
        });
        report
    }

    fn arm(kind: u32, esr: u32) -> ExceptionReport {
        let mut report = ExceptionReport::new(kind);
        report.context.arch = ExceptionArchContext::arm64(Arm64ExceptionContext {
            esr,
            far: 0x10c,
            ..Default::default()
        });
        report
    }

    #[test]
    fn each_exception_has_its_signal() {
        let a = Arch::X86_64;
        assert_eq!(
            signal_for_exception(a, &x86(EXCP_FATAL_PAGE_FAULT, 14)).0,
            11
        );
        assert_eq!(
            signal_for_exception(a, &x86(EXCP_UNDEFINED_INSTRUCTION, 6)).0,
            4
        );
        assert_eq!(signal_for_exception(a, &x86(EXCP_SW_BREAKPOINT, 3)).0, 5);
        assert_eq!(signal_for_exception(a, &x86(EXCP_HW_BREAKPOINT, 1)).0, 5);
        assert_eq!(
            signal_for_exception(a, &x86(EXCP_UNALIGNED_ACCESS, 17)).0,
            7
        );
        assert_eq!(
            signal_for_exception(a, &x86(EXCP_GENERAL, 0)),
            Signal::SIGFPE
        );
        assert_eq!(
            signal_for_exception(a, &x86(EXCP_GENERAL, 19)),
            Signal::SIGFPE
        );
        assert_eq!(
            signal_for_exception(a, &x86(EXCP_GENERAL, 13)),
            Signal::SIGSEGV
        );
        assert_eq!(
            signal_for_exception(a, &x86(EXCP_THREAD_STARTING, 0)),
            Signal::NONE
        );
        let b = Arch::Aarch64;
        assert_eq!(
            signal_for_exception(b, &arm(EXCP_GENERAL, 0x2c << 26)),
            Signal::SIGFPE
        );
        assert_eq!(
            signal_for_exception(b, &arm(EXCP_GENERAL, 0x0e << 26)),
            Signal::SIGSEGV
        );
        assert_eq!(
            signal_for_exception(b, &arm(EXCP_FATAL_PAGE_FAULT, 0x9200_0047)),
            Signal::SIGSEGV
        );
    }

    #[test]
    fn fault_address_only_for_memory_faults() {
        assert_eq!(
            fault_address(Arch::X86_64, &x86(EXCP_FATAL_PAGE_FAULT, 14)),
            Some(0x10c)
        );
        assert_eq!(
            fault_address(Arch::Aarch64, &arm(EXCP_FATAL_PAGE_FAULT, 0)),
            Some(0x10c)
        );
        assert_eq!(
            fault_address(Arch::X86_64, &x86(EXCP_SW_BREAKPOINT, 3)),
            None
        );
    }
}
