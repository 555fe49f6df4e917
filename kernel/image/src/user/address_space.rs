//! Which user address space the MMU holds.
//!
//! Rules kept here: the MMU holds the running thread's process's address
//! space, or an empty one; never the page tables of a process that is gone
//! (they are freed when it exits), and never another live process's (a
//! process with no address space yet runs in the empty one). Switching is
//! skipped when the process is already active: most entries to user mode
//! are by the same process.

use super::UserThread;
use super::locks::lock_system;
use crate::arch::AddressSpace;
use core::sync::atomic::{AtomicU64, Ordering};
use spinel_abi::Koid;
use spinel_hal_api::AddressSpace as _;

/// The process whose address space the MMU holds (0: the empty space).
static ACTIVE_SPACE: AtomicU64 = AtomicU64::new(0);

/// A user address space with nothing mapped: active whenever no process's
/// is, so that freed page tables are never live in the MMU.
fn kernel_only_space() -> &'static AddressSpace {
    static SPACE: spin::Once<AddressSpace> = spin::Once::new();
    SPACE.call_once(|| {
        AddressSpace::new(&mut *crate::memory::FRAMES.lock())
            .expect("memory for the kernel-only address space")
    })
}

/// Make `user`'s address space the MMU's. Takes the system lock when it
/// must switch (the caller holds neither kernel lock). Inlined into the
/// thread loop, as the check is on every entry to user mode.
#[inline]
pub fn activate_for(user: &UserThread) {
    if ACTIVE_SPACE.load(Ordering::Relaxed) != user.process {
        switch_to(user.process);
    }
}

#[inline]
fn switch_to(process: Koid) {
    let system = lock_system();
    match system.space(process) {
        Some(space) => {
            space.arch().activate();
            ACTIVE_SPACE.store(process, Ordering::Relaxed);
        }
        // A process that never mapped anything has no space yet: it runs
        // in the empty one, never in whichever process's ran last.
        None if ACTIVE_SPACE.load(Ordering::Relaxed) != 0 => {
            kernel_only_space().activate();
            ACTIVE_SPACE.store(0, Ordering::Relaxed);
        }
        None => {}
    }
}

/// `process` exited and its address space is about to be freed: make sure
/// the MMU no longer holds it.
pub fn forget(process: Koid) {
    if ACTIVE_SPACE.load(Ordering::Relaxed) == process {
        kernel_only_space().activate();
        ACTIVE_SPACE.store(0, Ordering::Relaxed);
    }
}
