//! The user-thread loop: one kernel thread per user thread.
//!
//! Each loops: wait until the object layer lets the thread run, make its
//! process's address space the MMU's, enter user mode with
//! [`UserContext::run`], and handle what brought it back: a system call
//! (decoded by `spinel-kernel-state`), an exception (page faults go to the VM
//! first; anything else to the object layer's exception delivery), or an
//! interrupt (time to let others run).
//!
//! Rules kept here:
//! - **Locks in the one order** of [`super::locks`]: a system call and a
//!   trap take the system lock, then the thread's own context; the context
//!   is released before the effects are applied, which may touch it.
//! - **A trap's registers are copied once**: straight from the context into
//!   the object layer's copy (`thread_exception_with`), and the Park that
//!   follows is told so instead of copying them again.
//! - **Effects are applied before the system lock is released**, after
//!   every call into the system that may have queued some.

use super::effects::{self, RegistersSaved};
use super::locks::{ContextLock, lock_system};
use super::{THREADS, UserThread, address_space};
use crate::arch::{AddressSpace, UserContext};
use crate::{println, sched};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};
use spinel_abi::{Koid, Status};
use spinel_hal_api::{TrapKind, TrapRecord, UserContext as _, UserExit};
use spinel_kernel_state::{KernelState, Outcome};
use spinel_vm::Access;

/// Give a thread the object layer starts its kernel side: a context with
/// its first registers and a kernel thread running [`thread_main`].
pub fn spawn(system: &KernelState<AddressSpace>, koid: Koid) {
    let Some(process) = system.objects.thread_process(koid) else {
        return;
    };
    let mut context = UserContext::default();
    effects::load_registers(&mut context, system, koid);
    // A debugger may ask for a step from the first instruction (set during
    // THREAD_STARTING).
    context.set_single_step(system.objects.thread_single_step(koid));
    let user = Arc::new(UserThread {
        koid,
        process,
        context: ContextLock::new(context),
        runnable: AtomicBool::new(true),
        exited: AtomicBool::new(false),
        kthread: spin::Once::new(),
    });
    THREADS.lock().insert(koid, user.clone());
    let body = user.clone();
    let kthread = sched::spawn(move || thread_main(body));
    user.kthread.call_once(|| kthread);
}

/// The kernel thread of one user thread.
fn thread_main(user: Arc<UserThread>) {
    loop {
        // Wait until the object layer lets the thread run (or ends it).
        loop {
            if user.exited.load(Ordering::Relaxed) {
                THREADS.lock().remove(&user.koid);
                return;
            }
            if user.runnable.load(Ordering::Relaxed) {
                break;
            }
            sched::block_current();
        }
        run_until_parked(&user);
    }
}

/// Still allowed to run user code?
fn may_run(user: &UserThread) -> bool {
    user.runnable.load(Ordering::Relaxed) && !user.exited.load(Ordering::Relaxed)
}

/// Run user code until the object layer parks or ends the thread.
fn run_until_parked(user: &UserThread) {
    while may_run(user) {
        address_space::activate_for(user);
        let exit = user.context.lock().run();
        match exit {
            UserExit::Interrupt(_) => sched::yield_now(),
            UserExit::Syscall => system_call(user),
            UserExit::Exception(record) => exception(user, &record),
        }
    }
}

fn system_call(user: &UserThread) {
    let mut guard = lock_system();
    let system = &mut *guard;
    // The caller's context stays locked through the call (which never
    // reaches the glue), and is released before the effects, which may
    // touch it.
    let mut context = user.context.lock();
    let (number, args) = (context.syscall_number(), context.syscall_args());
    // A call that may raise POLICY_ERROR parks the caller in an exception;
    // its handler then sees the registers of the call.
    if may_raise_policy_exception(number) {
        effects::save_registers(system, user.koid, &context);
    }
    let outcome = system.syscall_in(user.koid, user.process, number, args);
    if let Outcome::Return(value) = outcome {
        context.set_syscall_result(value);
    }
    drop(context);
    if system.objects.has_effects() {
        effects::apply(system, RegistersSaved::NONE);
    }
}

/// Calls that check a job policy (and so may raise POLICY_ERROR).
fn may_raise_policy_exception(number: u64) -> bool {
    use spinel_abi::Syscall::*;
    matches!(
        spinel_abi::Syscall::from_number(number),
        Some(ChannelCreate | PortCreate | EventCreate | VmoCreate | ProcessCreate | JobCreate)
    )
}

fn exception(user: &UserThread, record: &TrapRecord) {
    let mut guard = lock_system();
    let system = &mut *guard;
    let mut vm_status = Status::OK;
    if let (TrapKind::PageFault { write, execute, .. }, Some(address)) =
        (record.kind, record.fault_address)
    {
        let access = if execute {
            Access::Execute
        } else if write {
            Access::Write
        } else {
            Access::Read
        };
        match system.page_fault(user.koid, address, access) {
            Ok(()) => return, // Resolved: retry the instruction.
            Err(status) => vm_status = status,
        }
    }
    // The one copy of the trap's registers: from the context straight into
    // the object layer's copy, where handlers read them.
    let context = user.context.lock();
    let result = system
        .objects
        .thread_exception_with(user.koid, record, vm_status, |slots| {
            context.read_registers(slots)
        });
    drop(context);
    let saved = match result {
        Ok(()) => RegistersSaved::of(user.koid),
        Err(status) => {
            println!(
                "[kernel] thread {} trapped in state {status:?}: {record:x?}",
                user.koid
            );
            RegistersSaved::NONE
        }
    };
    effects::apply(system, saved);
}
