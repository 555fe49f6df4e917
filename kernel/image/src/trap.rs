//! The kernel's trap and interrupt hooks, called by the HAL.

use crate::console;
use core::sync::atomic::{AtomicU64, Ordering};
use spinel_hal_api::{Irq, KernelTrapAction, TrapRecord};

/// Timer interrupts since boot.
pub static TICKS: AtomicU64 = AtomicU64::new(0);

/// A kernel-mode trap a self-test is waiting for, and what arrived.
static EXPECTED: spin::Mutex<Expectation> = spin::Mutex::new(Expectation {
    armed: false,
    seen: None,
});

struct Expectation {
    armed: bool,
    seen: Option<TrapRecord>,
}

/// Let the next kernel-mode trap be recovered instead of being fatal.
pub fn expect_kernel_trap() {
    *EXPECTED.lock() = Expectation {
        armed: true,
        seen: None,
    };
}

/// The trap that arrived since [`expect_kernel_trap`], disarming it.
pub fn take_kernel_trap() -> Option<TrapRecord> {
    let mut expected = EXPECTED.lock();
    expected.armed = false;
    expected.seen.take()
}

pub fn kernel_trap(record: &TrapRecord) -> KernelTrapAction {
    let mut expected = EXPECTED.lock();
    if expected.armed && expected.seen.is_none() {
        expected.seen = Some(*record);
        return KernelTrapAction::Recover;
    }
    drop(expected);
    console::print_unlocked(format_args!("\nfatal kernel trap: {record:#x?}\n"));
    crate::print_backtrace();
    KernelTrapAction::Fatal
}

pub fn irq(irq: Irq) {
    match irq {
        Irq::Timer => {
            TICKS.fetch_add(1, Ordering::Relaxed);
            crate::user::on_timer_tick();
        }
        Irq::DebugLink => crate::user::on_debug_link(),
        Irq::Other(_) => {}
    }
}
