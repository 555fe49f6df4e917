//! The EL1 virtual generic timer (CNTV_*), a PPI routed through the GIC.
//!
//! The virtual timer works the same whether we were entered at EL1 or came
//! down from EL2 (the boot code zeroes CNTVOFF_EL2 there). The period is kept
//! by advancing the compare value, so ticks do not drift with handler time.

use crate::{devicetree, gic};
use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTKCTL_EL1, CNTV_CTL_EL0, CNTV_CVAL_EL0, CNTVCT_EL0, Readable, Writeable,
};
use core::sync::atomic::{AtomicU64, Ordering};

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Counter value at boot (so `now_ns` counts from boot).
static BOOT_COUNT: AtomicU64 = AtomicU64::new(0);
/// Timer period in counter ticks (0: stopped).
static PERIOD_TICKS: AtomicU64 = AtomicU64::new(0);

fn frequency() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

/// Remember the boot time and let EL0 read the virtual counter and its
/// frequency (so user space reads ticks without a system call); EL0 gets
/// no access to the physical counter or to any timer.
pub fn mark_boot() {
    BOOT_COUNT.store(CNTVCT_EL0.get(), Ordering::Relaxed);
    CNTKCTL_EL1.write(CNTKCTL_EL1::EL0VCTEN::SET);
}

pub fn now_ns() -> u64 {
    let ticks = CNTVCT_EL0
        .get()
        .wrapping_sub(BOOT_COUNT.load(Ordering::Relaxed));
    (u128::from(ticks) * NANOS_PER_SECOND / u128::from(frequency())) as u64
}

pub fn start(period_ns: u64) {
    let ticks = (u128::from(period_ns) * u128::from(frequency()) / NANOS_PER_SECOND) as u64;
    let ticks = ticks.max(1);
    PERIOD_TICKS.store(ticks, Ordering::Relaxed);
    CNTV_CVAL_EL0.set(CNTVCT_EL0.get() + ticks);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    gic::enable(
        devicetree::platform().virtual_timer_intid,
        gic::Trigger::Level,
    );
}

pub fn is_timer(intid: u32) -> bool {
    intid == devicetree::platform().virtual_timer_intid
}

/// The timer fired: schedule the next tick (which also lowers the level
/// interrupt line).
pub fn rearm() {
    let period = PERIOD_TICKS.load(Ordering::Relaxed);
    if period == 0 {
        CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::SET);
        return;
    }
    let now = CNTVCT_EL0.get();
    let mut next = CNTV_CVAL_EL0.get() + period;
    if next <= now {
        // We fell behind by more than a period (a long stop in a debugger,
        // say): skip the missed ticks rather than deliver a burst.
        next = now + period;
    }
    CNTV_CVAL_EL0.set(next);
}
