//! The effect applier: carries out what the object layer decided.
//!
//! Rules kept here:
//! - **The object layer decides, this carries out.** Every change of a user
//!   thread's fate arrives as a [`spinel_object::Effect`], drained oldest
//!   first with `next_effect` (one small `Copy` value at a time: no
//!   allocation on the exception and IPC paths) before the system lock is
//!   released, so the glue never acts on a stale decision.
//! - **Runs with the system lock held**, and takes the contexts of parked
//!   threads one at a time under it (the lock order of [`super::locks`]).
//!   A thread's context is touched only while it is off the CPU: a Park
//!   reaches it after its own loop has returned from `run()`, a Run before
//!   its kernel thread is woken.
//! - **Registers are copied once each way.** A Park saves the context into
//!   the object layer's copy (where handlers and debuggers read it) unless
//!   the caller says the registers are there already (the trap path put
//!   them there in place); a Run that loads registers loads them straight
//!   from the object layer's copy.

use super::{INIT_PROCESS, SELFTEST_FAILURES, UserThread, address_space, thread_loop};
use super::{timekeeper, user_thread};
use crate::arch::{AddressSpace, Arch, UserContext};
use crate::println;
use crate::sched;
use core::sync::atomic::Ordering;
use spinel_abi::Koid;
use spinel_hal_api::{ExitCode, Platform, UserContext as _};
use spinel_kernel_state::KernelState;
use spinel_object::{Effect, RunEntry};

/// Whose registers the object layer already holds, as they are in the
/// thread's context, when [`apply`] starts: [`RegistersSaved::NONE`], or
/// [`RegistersSaved::of`] a thread whose registers the caller copied in,
/// under the same hold of the system lock, and which has not run since. Its
/// Park needs no second copy (until a Run changes its context). A koid, not
/// an `Option`: one compare per effect on the hot paths.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RegistersSaved(Koid);

impl RegistersSaved {
    /// Nobody's (or the caller does not know).
    pub const NONE: RegistersSaved = RegistersSaved(spinel_abi::object::KOID_INVALID);

    /// This thread's.
    pub const fn of(thread: Koid) -> RegistersSaved {
        RegistersSaved(thread)
    }
}

/// Carry out the object layer's effects, oldest first. Runs with the
/// system lock held.
pub fn apply(system: &mut KernelState<AddressSpace>, mut saved: RegistersSaved) {
    while let Some(effect) = system.objects.next_effect() {
        match effect {
            Effect::Park { thread } => {
                let Some(user) = user_thread(thread) else {
                    continue;
                };
                if user.runnable.swap(false, Ordering::Relaxed) && saved.0 != thread {
                    save_registers(system, thread, &user.context.lock());
                }
            }
            Effect::Run { thread, entry } => {
                if saved.0 == thread {
                    // Applying the entry may change the context.
                    saved = RegistersSaved::NONE;
                }
                run(system, thread, entry);
            }
            Effect::Exit { thread } => {
                system.thread_exited(thread);
                let Some(user) = user_thread(thread) else {
                    continue;
                };
                user.exited.store(true, Ordering::Relaxed);
                if let Some(&kthread) = user.kthread.get() {
                    sched::wake(kthread);
                }
            }
            Effect::ProcessExited {
                process,
                return_code,
            } => process_exited(system, process, return_code),
        }
    }
    timekeeper::set_next_deadline(system.objects.next_deadline());
}

/// A Run: the thread may enter user mode again (its first time: it gets a
/// kernel thread).
fn run(system: &mut KernelState<AddressSpace>, thread: Koid, entry: RunEntry) {
    match user_thread(thread) {
        Some(user) => {
            prepare(system, &user, entry);
            user.runnable.store(true, Ordering::Relaxed);
            if let Some(&kthread) = user.kthread.get() {
                sched::wake(kthread);
            }
        }
        None if entry == RunEntry::Start => thread_loop::spawn(system, thread),
        None => {}
    }
}

/// Set a parked thread's context up for its next entry to user mode, as
/// the object layer says: its (possibly changed) registers, the result of
/// the system call it was in. The thread is off the CPU.
fn prepare(system: &mut KernelState<AddressSpace>, user: &UserThread, entry: RunEntry) {
    let mut context = user.context.lock();
    match entry {
        RunEntry::Start => load_registers(&mut context, system, user.koid),
        RunEntry::Registers {
            syscall_status,
            single_step,
        } => {
            load_registers(&mut context, system, user.koid);
            context.set_single_step(single_step);
            if let Some(status) = syscall_status {
                context.set_syscall_result(status.into_raw() as i64 as u64);
            }
        }
        RunEntry::Syscall { status, completion } => {
            let value = system.finish_blocked(user.koid, status, completion);
            context.set_syscall_result(value);
        }
        RunEntry::Continue => {}
    }
}

fn process_exited(system: &mut KernelState<AddressSpace>, process: Koid, return_code: i64) {
    address_space::forget(process);
    system.process_exited(process);
    if return_code == spinel_abi::object::TASK_RETCODE_EXCEPTION_KILL {
        println!("[kernel] process {process} killed: an exception nobody handled");
    }
    if process == INIT_PROCESS.load(Ordering::Relaxed) {
        init_exited(return_code);
    }
}

fn init_exited(return_code: i64) -> ! {
    let selftest_failures = SELFTEST_FAILURES.load(Ordering::SeqCst);
    println!("[kernel] init exited with {return_code}; powering off");
    let ok = return_code == 0 && selftest_failures == 0;
    Arch::power_off(if ok {
        ExitCode::Success
    } else {
        ExitCode::Failure
    });
}

/// Keep a thread's registers where handlers and debuggers read them.
pub fn save_registers(system: &mut KernelState<AddressSpace>, thread: Koid, context: &UserContext) {
    let _ = system
        .objects
        .save_registers_with(thread, |slots| context.read_registers(slots));
}

/// Load the registers the object layer keeps for a thread.
pub fn load_registers(context: &mut UserContext, system: &KernelState<AddressSpace>, thread: Koid) {
    if let Some(regs) = system.objects.thread_registers_ref(thread) {
        context.write_registers(regs.as_slice());
    }
}
