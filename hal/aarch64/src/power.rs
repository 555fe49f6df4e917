//! Power-off with an exit status for the host.
//!
//! Semihosting SYS_EXIT with ADP_Stopped_ApplicationExit makes QEMU (run with
//! `-semihosting`) exit with the given subcode, so the host sees
//! `code.host_status()` just as x86's isa-debug-exit gives it. Without
//! semihosting the HLT is undefined; its silent fixup (trap.rs) returns and
//! we fall back to PSCI SYSTEM_OFF (QEMU then exits with status 0).

use crate::devicetree::{self, PsciConduit};
use spinel_hal_api::ExitCode;

/// Semihosting operation SYS_EXIT (AArch64: x1 points to {reason, subcode}).
const SYS_EXIT: u64 = 0x18;
/// Reason "the application exited", carrying the exit status.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;
/// PSCI 0.2 function SYSTEM_OFF (SMC32 calling convention).
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

unsafe extern "C" {
    fn spinel_semihosting_call(operation: u64, parameter: *const u64) -> u64;
}

pub fn off(code: ExitCode) -> ! {
    crate::cpu::disable_interrupts();
    let block = [ADP_STOPPED_APPLICATION_EXIT, code.host_status() as u64];
    // SAFETY: SYS_EXIT reads the two-word block and does not return when
    // semihosting is on; when it is off the fixup returns here.
    unsafe { spinel_semihosting_call(SYS_EXIT, block.as_ptr()) };
    // SAFETY: PSCI SYSTEM_OFF does not return; the conduit is the one the
    // device tree names, so the call reaches QEMU's PSCI implementation.
    unsafe {
        match devicetree::platform().psci {
            PsciConduit::Hvc => {
                core::arch::asm!("hvc #0", in("x0") PSCI_SYSTEM_OFF, options(nostack))
            }
            PsciConduit::Smc => {
                core::arch::asm!("smc #0", in("x0") PSCI_SYSTEM_OFF, options(nostack))
            }
            PsciConduit::None => {}
        }
    }
    loop {
        aarch64_cpu::asm::wfe();
    }
}
