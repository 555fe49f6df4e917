//! Kernel threads and a round-robin scheduler for one CPU.
//!
//! The kernel runs with interrupts disabled, so the scheduler's state is only
//! ever touched by the thread that holds the CPU; the lock exists to satisfy
//! the type system and to catch re-entry, and is never held across a switch.

use crate::arch::{Arch, KernelContext};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use spinel_hal_api::{KernelContext as _, VirtAddr};

/// Size of each kernel thread's stack.
pub const STACK_SIZE: usize = 64 * 1024;

/// Index of a kernel thread in the scheduler's table.
pub type ThreadId = usize;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Runnable,
    Running,
    Blocked,
    Dead,
}

struct Thread {
    /// Saved registers while the thread is not running. Boxed so that its
    /// address stays put while the table grows.
    context: Box<UnsafeCell<KernelContext>>,
    /// The stack the context runs on, owned here so it lives exactly as long
    /// as the thread. `None` for the boot thread, which runs on the HAL's
    /// boot stack.
    _stack: Option<Box<[u8]>>,
    state: State,
}

struct Scheduler {
    threads: Vec<Option<Thread>>,
    current: ThreadId,
    run_queue: VecDeque<ThreadId>,
    /// Some thread died and has not been reaped yet.
    dead: bool,
}

// SAFETY: there is one CPU and the kernel runs with interrupts disabled, so the
// `UnsafeCell`s inside are only reached by the running thread.
unsafe impl Send for Scheduler {}

static SCHEDULER: spin::Mutex<Option<Scheduler>> = spin::Mutex::new(None);

/// Make the running (boot) thread thread 0.
pub fn init() {
    let boot = Thread {
        context: Box::new(UnsafeCell::new(KernelContext::empty())),
        _stack: None,
        state: State::Running,
    };
    *SCHEDULER.lock() = Some(Scheduler {
        threads: alloc::vec![Some(boot)],
        current: 0,
        run_queue: VecDeque::new(),
        dead: false,
    });
}

struct Start {
    body: Box<dyn FnOnce()>,
}

extern "C" fn thread_trampoline(start: usize) -> ! {
    // SAFETY: `spawn` leaked exactly this box and passes its address once.
    let start = unsafe { Box::from_raw(start as *mut Start) };
    (start.body)();
    exit_current()
}

/// Create a runnable kernel thread that runs `body`, then exits.
pub fn spawn(body: impl FnOnce() + 'static) -> ThreadId {
    let stack = alloc::vec![0u8; STACK_SIZE].into_boxed_slice();
    let top = (stack.as_ptr() as u64 + STACK_SIZE as u64) & !0xf;
    let start = Box::into_raw(Box::new(Start {
        body: Box::new(body),
    })) as usize;
    let context = KernelContext::new(VirtAddr(top), thread_trampoline, start);
    let thread = Thread {
        context: Box::new(UnsafeCell::new(context)),
        _stack: Some(stack),
        state: State::Runnable,
    };

    let mut guard = SCHEDULER.lock();
    let scheduler = guard.as_mut().expect("sched::init runs first");
    let id = match scheduler.threads.iter().position(Option::is_none) {
        Some(free) => {
            scheduler.threads[free] = Some(thread);
            free
        }
        None => {
            scheduler.threads.push(Some(thread));
            scheduler.threads.len() - 1
        }
    };
    scheduler.run_queue.push_back(id);
    id
}

/// The running thread's id.
pub fn current() -> ThreadId {
    SCHEDULER.lock().as_ref().map_or(0, |s| s.current)
}

/// Whether thread `id` has finished.
pub fn is_finished(id: ThreadId) -> bool {
    let guard = SCHEDULER.lock();
    let scheduler = guard.as_ref().expect("sched::init runs first");
    scheduler
        .threads
        .get(id)
        .is_none_or(|t| t.as_ref().is_none_or(|t| t.state == State::Dead))
}

/// Give the CPU to the next runnable thread, if any; the caller stays runnable.
pub fn yield_now() {
    switch_away(State::Runnable);
}

/// Block the running thread until [`wake`] makes it runnable again.
pub fn block_current() {
    switch_away(State::Blocked);
}

/// Make a blocked thread runnable.
pub fn wake(id: ThreadId) {
    let mut guard = SCHEDULER.lock();
    let scheduler = guard.as_mut().expect("sched::init runs first");
    if let Some(Some(thread)) = scheduler.threads.get_mut(id)
        && thread.state == State::Blocked
    {
        thread.state = State::Runnable;
        scheduler.run_queue.push_back(id);
    }
}

fn exit_current() -> ! {
    switch_away(State::Dead);
    unreachable!("a dead thread was scheduled again");
}

fn switch_away(new_state: State) {
    {
        let mut guard = SCHEDULER.lock();
        let scheduler = guard.as_mut().expect("sched::init runs first");
        let current = scheduler.current;
        scheduler.threads[current]
            .as_mut()
            .expect("the running thread exists")
            .state = new_state;
        match new_state {
            State::Runnable => scheduler.run_queue.push_back(current),
            State::Dead => scheduler.dead = true,
            _ => {}
        }
    }
    loop {
        let step = {
            let mut guard = SCHEDULER.lock();
            let scheduler = guard.as_mut().expect("sched::init runs first");
            let current = scheduler.current;
            // Reap threads that died earlier (never the running one: its stack is in use).
            if scheduler.dead {
                scheduler.dead = false;
                for (id, slot) in scheduler.threads.iter_mut().enumerate() {
                    if slot.as_ref().is_some_and(|t| t.state == State::Dead) {
                        if id == current {
                            scheduler.dead = true;
                        } else {
                            *slot = None;
                        }
                    }
                }
            }
            let next = loop {
                match scheduler.run_queue.pop_front() {
                    Some(id)
                        if scheduler.threads[id]
                            .as_ref()
                            .is_some_and(|t| t.state == State::Runnable) =>
                    {
                        break Some(id);
                    }
                    Some(_) => continue,
                    None => break None,
                }
            };
            match next {
                None => None,
                Some(next) => {
                    let next_thread = scheduler.threads[next]
                        .as_mut()
                        .expect("queued threads exist");
                    next_thread.state = State::Running;
                    if next == current {
                        return;
                    }
                    let to = next_thread.context.get() as *const KernelContext;
                    let from = scheduler.threads[current]
                        .as_ref()
                        .expect("the running thread exists")
                        .context
                        .get();
                    scheduler.current = next;
                    Some((from, to))
                }
            }
        };
        match step {
            Some((from, to)) => {
                // SAFETY: both contexts live in boxes owned by the scheduler
                // table, which keeps them until their thread is reaped (never
                // while it could still be switched to); `to` was made by
                // `KernelContext::new` or saved by an earlier switch.
                unsafe { KernelContext::switch(from, to) };
                return;
            }
            // Nothing runnable: sleep until an interrupt wakes someone.
            None => <Arch as spinel_hal_api::Platform>::wait_for_interrupt(),
        }
    }
}
