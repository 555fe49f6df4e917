//! Time and the debug link's interrupt: the timekeeper kernel thread.
//!
//! Rules kept here: interrupt context never takes a kernel lock; the timer
//! and UART hooks only compare, set a flag and wake the timekeeper, which
//! does the work with the system lock like any other caller (advancing the
//! object layer's time, marking the debug link READABLE) and applies the
//! effects. The timer interrupt is also the time slice that preempts user
//! threads (in the thread loop, at the user/kernel boundary).

use super::effects::{self, RegistersSaved};
use super::locks::lock_system;
use crate::arch::Arch;
use crate::sched;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spinel_hal_api::Platform;

/// Time slice: the timer interrupt that preempts user threads.
const TICK_NS: u64 = 1_000_000;

/// The earliest deadline of any waiting thread (u64::MAX: none), for the
/// timer interrupt to decide whether to wake the timekeeper.
static NEXT_DEADLINE: AtomicU64 = AtomicU64::new(u64::MAX);

/// The timekeeper's kernel thread (u64::MAX until it exists).
static TIMEKEEPER: AtomicU64 = AtomicU64::new(u64::MAX);

/// Set by [`on_debug_link`], taken by the timekeeper.
static DEBUG_LINK_PENDING: AtomicBool = AtomicBool::new(false);

/// Start the timekeeper thread and the periodic timer.
pub fn start() {
    let timekeeper = sched::spawn(timekeeper);
    TIMEKEEPER.store(timekeeper as u64, Ordering::SeqCst);
    Arch::timer_start(TICK_NS);
}

/// Remember the object layer's next deadline (after effects were applied).
#[inline]
pub fn set_next_deadline(deadline: Option<u64>) {
    NEXT_DEADLINE.store(deadline.unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// The timer interrupt: wake the timekeeper when a deadline has passed.
pub fn on_timer_tick() {
    if Arch::now_ns() >= NEXT_DEADLINE.load(Ordering::Relaxed) {
        wake_timekeeper();
    }
}

/// The debug link's UART interrupted (bytes arrived): the timekeeper
/// marks its resource READABLE (interrupt context cannot take the lock).
pub fn on_debug_link() {
    DEBUG_LINK_PENDING.store(true, Ordering::Relaxed);
    wake_timekeeper();
}

fn wake_timekeeper() {
    let timekeeper = TIMEKEEPER.load(Ordering::Relaxed);
    if timekeeper != u64::MAX {
        sched::wake(timekeeper as usize);
    }
}

/// Ends waits whose deadline passed, and signals the debug link; sleeps
/// until the next deadline or link interrupt.
fn timekeeper() {
    loop {
        {
            let mut guard = lock_system();
            let system = &mut *guard;
            if DEBUG_LINK_PENDING.swap(false, Ordering::Relaxed) {
                system.debug_link_ready();
            }
            system.advance_time();
            effects::apply(system, RegistersSaved::NONE);
        }
        sched::block_current();
    }
}
