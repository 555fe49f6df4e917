//! The two kernel locks of the user glue, and the one order they are taken in.
//!
//! - **The system lock** ([`lock_system`]) guards the whole portable system:
//!   objects, address spaces, the syscall decoder.
//! - **A thread's context lock** ([`ContextLock`]) guards one user thread's
//!   saved registers: its own kernel thread holds it around `run()` and its
//!   system calls and traps; whoever applies an effect to the thread holds
//!   it while the thread is off the CPU.
//!
//! **The order: the system lock first, then at most one thread's context.**
//! Never take the system lock while holding a context, never hold two
//! contexts. Why: effects are applied under the system lock and reach into
//! other threads' contexts (a Park saves registers, a Run loads them), so
//! every path that needs both must take the system lock first; two CPUs
//! taking them in opposite orders would deadlock. The leaf locks taken under
//! these (the thread table, the frame allocator, the scheduler, the
//! console) never have either taken under them.
//!
//! One exception, which cannot deadlock: a system call that reads or
//! writes a *stopped* thread's FP/SIMD state (kept only in its context)
//! holds its own context and **tries** the stopped thread's
//! ([`ContextLock::try_lock_stopped`]), never waiting for it; a context it
//! cannot have at once is BAD_STATE. The object layer has already found the
//! thread stopped under the system lock, so its kernel thread is off the
//! CPU and holds nothing.
//!
//! On one CPU these locks never contend, so a wrong order would go unnoticed
//! until a second CPU arrives: debug builds check the order at every
//! acquisition, with "held" markers. The kernel runs with interrupts
//! disabled and never switches kernel threads while holding either lock
//! (user mode returns from `run()` before anything else runs), so on this
//! one-CPU kernel the global markers are the CPU's own; with several CPUs
//! they become per-CPU. Release builds carry no markers.

use crate::arch::{AddressSpace, UserContext};
use core::ops::{Deref, DerefMut};
use spinel_kernel_state::KernelState;

/// The whole portable system, behind the one kernel lock (`None` until
/// [`install_system`]).
static SYSTEM: spin::Mutex<Option<KernelState<AddressSpace>>> = spin::Mutex::new(None);

/// Put the system in place (once, at start) and return it locked.
pub fn install_system(system: KernelState<AddressSpace>) -> SystemGuard {
    let mut guard = lock_system();
    *guard.0 = Some(system);
    guard
}

/// Take the system lock. Panics (debug builds) when this CPU holds a
/// thread's context or the system lock already.
#[inline]
pub fn lock_system() -> SystemGuard {
    held::taking_system();
    SystemGuard(SYSTEM.lock())
}

/// The system, locked. Dereferences to the system (which must be up).
pub struct SystemGuard(spin::MutexGuard<'static, Option<KernelState<AddressSpace>>>);

impl Deref for SystemGuard {
    type Target = KernelState<AddressSpace>;
    #[inline]
    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("the system is up")
    }
}

impl DerefMut for SystemGuard {
    #[inline]
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0.as_mut().expect("the system is up")
    }
}

impl Drop for SystemGuard {
    #[inline]
    fn drop(&mut self) {
        held::released_system();
    }
}

/// One user thread's saved registers, behind its lock.
pub struct ContextLock(spin::Mutex<UserContext>);

impl ContextLock {
    pub const fn new(context: UserContext) -> Self {
        ContextLock(spin::Mutex::new(context))
    }

    /// Take the context lock. Panics (debug builds) when this CPU holds
    /// another thread's context already.
    #[inline]
    pub fn lock(&self) -> ContextGuard<'_> {
        held::taking_context();
        ContextGuard(self.0.lock())
    }
}

impl ContextLock {
    /// The context of a thread the object layer holds stopped, taken only
    /// if free at once (see the module documentation): may be called while
    /// holding another context, and leaves the order markers alone.
    #[inline]
    pub fn try_lock_stopped(&self) -> Option<spin::MutexGuard<'_, UserContext>> {
        self.0.try_lock()
    }
}

/// A thread's context, locked.
pub struct ContextGuard<'a>(spin::MutexGuard<'a, UserContext>);

impl Deref for ContextGuard<'_> {
    type Target = UserContext;
    #[inline]
    fn deref(&self) -> &UserContext {
        &self.0
    }
}

impl DerefMut for ContextGuard<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut UserContext {
        &mut self.0
    }
}

impl Drop for ContextGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        held::released_context();
    }
}

/// The "held" markers of debug builds (see the module documentation).
#[cfg(debug_assertions)]
mod held {
    use core::sync::atomic::{AtomicBool, Ordering};

    static SYSTEM: AtomicBool = AtomicBool::new(false);
    static CONTEXT: AtomicBool = AtomicBool::new(false);

    pub fn taking_system() {
        assert!(
            !CONTEXT.load(Ordering::Relaxed),
            "lock order: the system lock is taken before a thread's context, never while holding one"
        );
        assert!(
            !SYSTEM.swap(true, Ordering::Relaxed),
            "the system lock is not re-entered"
        );
    }

    pub fn released_system() {
        SYSTEM.store(false, Ordering::Relaxed);
    }

    pub fn taking_context() {
        assert!(
            !CONTEXT.swap(true, Ordering::Relaxed),
            "lock order: one thread's context at a time"
        );
    }

    pub fn released_context() {
        CONTEXT.store(false, Ordering::Relaxed);
    }
}

/// Release builds: no markers, no cost.
#[cfg(not(debug_assertions))]
mod held {
    #[inline(always)]
    pub fn taking_system() {}
    #[inline(always)]
    pub fn released_system() {}
    #[inline(always)]
    pub fn taking_context() {}
    #[inline(always)]
    pub fn released_context() {}
}
