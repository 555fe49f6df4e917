//! User processes: the glue between the HAL's user contexts, the kernel
//! threads of [`crate::sched`], and the portable system ([`KernelState`]: objects,
//! address spaces, system calls).
//!
//! Each user thread runs on a kernel thread of its own, in a loop:
//! wait until the object layer lets it run, enter user mode with
//! [`UserContext::run`], and handle whatever brought it back: a system call
//! (decoded by `spinel-kernel-state`), an exception (page faults go to the VM
//! first; anything else to the object layer's exception delivery), or an
//! interrupt (time to let others run). The object layer never blocks or wakes
//! anything itself: after each call the glue drains its effects and carries
//! them out here ([`apply`]).

use crate::arch::{AddressSpace, Arch, UserContext};
use crate::memory::KERNEL_MEMORY;
use crate::{println, sched};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spinel_abi::thread::RegisterLayout;
use spinel_abi::{Koid, Status};
use spinel_hal_api::{AddressSpace as _, ExitCode, Platform, TrapKind, UserContext as _, UserExit};
use spinel_kernel_state::{Devices, KernelState, Outcome};
use spinel_object::{Config, IntMap, QueuedEffect, QueuedEntry};
use spinel_vm::Access;

/// Time slice: the timer interrupt that preempts user threads.
const TICK_NS: u64 = 1_000_000;

/// The whole portable system, behind the one kernel lock. The kernel runs
/// with interrupts disabled and is never preempted while holding it.
static SYSTEM: spin::Mutex<Option<KernelState<AddressSpace>>> = spin::Mutex::new(None);

/// Every live user thread, by koid.
static THREADS: spin::Mutex<IntMap<Arc<UserThread>>> = spin::Mutex::new(IntMap::new());

/// The process whose address space the MMU holds (0: the kernel-only space).
static ACTIVE_SPACE: AtomicU64 = AtomicU64::new(0);

/// The first process; when it exits, the system stops.
static INIT_PROCESS: AtomicU64 = AtomicU64::new(0);

/// The earliest deadline of any waiting thread (u64::MAX: none), for the
/// timer interrupt to decide whether to wake the timekeeper.
static NEXT_DEADLINE: AtomicU64 = AtomicU64::new(u64::MAX);
/// The timekeeper's kernel thread (u64::MAX until it exists).
static TIMEKEEPER: AtomicU64 = AtomicU64::new(u64::MAX);

/// Whether the system should power off with failure when init fails (test
/// runs) and whether the kernel's own self-tests already failed.
static SELFTEST_FAILURES: AtomicU64 = AtomicU64::new(0);

/// A user thread's kernel side.
struct UserThread {
    koid: Koid,
    process: Koid,
    /// Its registers while not in user mode. Locked by its own kernel
    /// thread around `run()` and its trap handling, and by whoever applies
    /// an effect to it (only while it is off the CPU): a Run effect loads
    /// the registers the object layer gives it right here.
    context: spin::Mutex<UserContext>,
    /// The object layer lets it run user code (and its context is set up
    /// for that). Changed only with the system lock held.
    runnable: AtomicBool,
    /// The object layer is done with it: tear down.
    exited: AtomicBool,
    kthread: spin::Once<sched::ThreadId>,
}

/// The devices system calls reach.
struct KernelDevices;

impl Devices for KernelDevices {
    fn console_write(&self, bytes: &[u8]) {
        crate::console::write_bytes(bytes);
    }
    fn debug_link_write(&self, bytes: &[u8]) {
        Arch::debug_link_write(bytes);
    }
    fn debug_link_read(&self, buffer: &mut [u8]) -> usize {
        Arch::debug_link_read(buffer)
    }
    fn now_ns(&self) -> u64 {
        Arch::now_ns()
    }
}

static DEVICES: KernelDevices = KernelDevices;

/// The register layout of this architecture, checked against the HAL's.
fn register_layout() -> RegisterLayout {
    let layout = match Arch::ARCH {
        "x86_64" => spinel_abi::thread::x86_64::LAYOUT,
        "aarch64" => spinel_abi::thread::aarch64::LAYOUT,
        other => panic!("no register layout for {other}"),
    };
    let hal = <UserContext as spinel_hal_api::UserContext>::REGISTER_NAMES;
    assert!(
        hal == layout.names,
        "the HAL's registers {hal:?} differ from the ABI's {:?}",
        layout.names
    );
    layout
}

fn elf_machine() -> u16 {
    match Arch::ARCH {
        "x86_64" => spinel_vm::elf::EM_X86_64,
        _ => spinel_vm::elf::EM_AARCH64,
    }
}

/// Keep a thread's registers where handlers and debuggers read them.
fn save_registers(system: &mut KernelState<AddressSpace>, thread: Koid, context: &UserContext) {
    let _ = system
        .objects
        .save_registers_with(thread, |slots| context.read_registers(slots));
}

/// Load the registers the object layer keeps for a thread.
fn load_registers(context: &mut UserContext, system: &KernelState<AddressSpace>, thread: Koid) {
    if let Some(regs) = system.objects.thread_registers_ref(thread) {
        context.write_registers(regs.as_slice());
    }
}

fn register_layout_cached() -> &'static RegisterLayout {
    static LAYOUT: spin::Once<RegisterLayout> = spin::Once::new();
    LAYOUT.call_once(register_layout)
}

/// A user address space with nothing mapped: active whenever no process's
/// is, so that freed page tables are never live in the MMU.
fn kernel_only_space() -> &'static AddressSpace {
    static SPACE: spin::Once<AddressSpace> = spin::Once::new();
    SPACE.call_once(|| {
        AddressSpace::new(&mut *crate::memory::FRAMES.lock())
            .expect("memory for the kernel-only address space")
    })
}

/// Start the system: the object layer, the timekeeper, and `init` from the
/// boot image with `args`. Returns when init is running; the caller should
/// then give the CPU away for good.
pub fn start(
    boot_image: &'static [u8],
    args: &str,
    selftest_failures: usize,
) -> Result<(), spinel_kernel_state::BootError> {
    SELFTEST_FAILURES.store(selftest_failures as u64, Ordering::SeqCst);
    let layout = *register_layout_cached();
    let config = Config::new(layout);
    let mut guard = SYSTEM.lock();
    let system = guard.insert(KernelState::new(config, &KERNEL_MEMORY, &DEVICES));
    let boot = system.start_first_process(
        boot_image,
        lend_boot_image(boot_image),
        "init",
        args,
        elf_machine(),
    )?;
    INIT_PROCESS.store(boot.process, Ordering::SeqCst);
    apply(system);
    drop(guard);
    let timekeeper = sched::spawn(timekeeper);
    TIMEKEEPER.store(timekeeper as u64, Ordering::SeqCst);
    Arch::timer_start(TICK_NS);
    Ok(())
}

/// The boot image as a read-only VMO over the kernel's own pages (it is
/// page-aligned in the image): nothing is copied at boot.
fn lend_boot_image(image: &'static [u8]) -> Arc<spinel_vm::Vmo> {
    let start = image.as_ptr() as u64;
    assert!(
        start.is_multiple_of(spinel_hal_api::PAGE_SIZE as u64),
        "the boot image is page-aligned"
    );
    let pages = (0..image.len().div_ceil(spinel_hal_api::PAGE_SIZE))
        .map(|i| {
            let va = spinel_hal_api::VirtAddr(start + (i * spinel_hal_api::PAGE_SIZE) as u64);
            Arch::kernel_image_phys(va).expect("the boot image lies in the kernel image")
        })
        .collect();
    Arc::new(spinel_vm::Vmo::borrowed(&KERNEL_MEMORY, pages))
}

/// The timer interrupt: wake the timekeeper when a deadline has passed.
pub fn on_timer_tick() {
    if Arch::now_ns() >= NEXT_DEADLINE.load(Ordering::Relaxed) {
        let timekeeper = TIMEKEEPER.load(Ordering::Relaxed);
        if timekeeper != u64::MAX {
            sched::wake(timekeeper as usize);
        }
    }
}

/// The debug link's UART interrupted (bytes arrived): the timekeeper
/// marks its resource READABLE (interrupt context cannot take the lock).
pub fn on_debug_link() {
    DEBUG_LINK_PENDING.store(true, Ordering::Relaxed);
    let timekeeper = TIMEKEEPER.load(Ordering::Relaxed);
    if timekeeper != u64::MAX {
        sched::wake(timekeeper as usize);
    }
}

/// Set by [`on_debug_link`], taken by the timekeeper.
static DEBUG_LINK_PENDING: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Ends waits whose deadline passed, and signals the debug link; sleeps
/// until the next deadline or link interrupt.
fn timekeeper() {
    loop {
        {
            let mut guard = SYSTEM.lock();
            let system = guard.as_mut().expect("the system is up");
            if DEBUG_LINK_PENDING.swap(false, Ordering::Relaxed) {
                system.debug_link_ready();
            }
            system.advance_time();
            apply(system);
        }
        sched::block_current();
    }
}

/// Carry out the object layer's effects, oldest first. Runs with the
/// system lock held.
fn apply(system: &mut KernelState<AddressSpace>) {
    while let Some(effect) = system.objects.next_effect() {
        match effect {
            QueuedEffect::Park { thread } => {
                let Some(user) = user_thread(thread) else {
                    continue;
                };
                if user.runnable.swap(false, Ordering::Relaxed) {
                    save_registers(system, thread, &user.context.lock());
                }
            }
            QueuedEffect::Run { thread, entry } => match user_thread(thread) {
                Some(user) => {
                    prepare(system, &user, entry);
                    user.runnable.store(true, Ordering::Relaxed);
                    if let Some(&kthread) = user.kthread.get() {
                        sched::wake(kthread);
                    }
                }
                None if entry == QueuedEntry::Start => spawn_user_thread(system, thread),
                None => {}
            },
            QueuedEffect::Exit { thread } => {
                system.thread_exited(thread);
                let Some(user) = user_thread(thread) else {
                    continue;
                };
                user.exited.store(true, Ordering::Relaxed);
                if let Some(&kthread) = user.kthread.get() {
                    sched::wake(kthread);
                }
            }
            QueuedEffect::ProcessExited {
                process,
                return_code,
            } => {
                if ACTIVE_SPACE.load(Ordering::Relaxed) == process {
                    kernel_only_space().activate();
                    ACTIVE_SPACE.store(0, Ordering::Relaxed);
                }
                system.process_exited(process);
                if return_code == spinel_abi::object::TASK_RETCODE_EXCEPTION_KILL {
                    println!("[kernel] process {process} killed: an exception nobody handled");
                }
                if process == INIT_PROCESS.load(Ordering::Relaxed) {
                    init_exited(return_code);
                }
            }
        }
    }
    NEXT_DEADLINE.store(
        system.objects.next_deadline().unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

fn user_thread(koid: Koid) -> Option<Arc<UserThread>> {
    THREADS.lock().get(&koid).cloned()
}

/// Set a parked thread's context up for its next entry to user mode, as
/// the object layer says: its (possibly changed) registers, the result of
/// the system call it was in. The thread is off the CPU.
fn prepare(system: &mut KernelState<AddressSpace>, user: &UserThread, entry: QueuedEntry) {
    let mut context = user.context.lock();
    match entry {
        QueuedEntry::Start => load_registers(&mut context, system, user.koid),
        QueuedEntry::Registers {
            syscall_status,
            single_step,
        } => {
            load_registers(&mut context, system, user.koid);
            context.set_single_step(single_step);
            if let Some(status) = syscall_status {
                context.set_syscall_result(status.into_raw() as i64 as u64);
            }
        }
        QueuedEntry::Syscall { status, completion } => {
            let value = system.finish_blocked(user.koid, status, completion);
            context.set_syscall_result(value);
        }
        QueuedEntry::Continue => {}
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

fn spawn_user_thread(system: &KernelState<AddressSpace>, koid: Koid) {
    let Some(process) = system.objects.thread_process(koid) else {
        return;
    };
    let mut context = UserContext::default();
    load_registers(&mut context, system, koid);
    // A debugger may ask for a step from the first instruction (set during
    // THREAD_STARTING).
    context.set_single_step(system.objects.thread_single_step(koid));
    let user = Arc::new(UserThread {
        koid,
        process,
        context: spin::Mutex::new(context),
        runnable: AtomicBool::new(true),
        exited: AtomicBool::new(false),
        kthread: spin::Once::new(),
    });
    THREADS.lock().insert(koid, user.clone());
    let body = user.clone();
    let kthread = sched::spawn(move || user_thread_main(body));
    user.kthread.call_once(|| kthread);
}

/// The kernel thread of one user thread.
fn user_thread_main(user: Arc<UserThread>) {
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

/// Make `user`'s address space the MMU's.
fn activate_space(user: &UserThread) {
    if ACTIVE_SPACE.load(Ordering::Relaxed) == user.process {
        return;
    }
    let guard = SYSTEM.lock();
    match guard.as_ref().and_then(|s| s.space(user.process)) {
        Some(space) => {
            space.arch().activate();
            ACTIVE_SPACE.store(user.process, Ordering::Relaxed);
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

/// Still allowed to run user code?
fn may_run(user: &UserThread) -> bool {
    user.runnable.load(Ordering::Relaxed) && !user.exited.load(Ordering::Relaxed)
}

/// Run user code until the object layer parks or ends the thread.
fn run_until_parked(user: &UserThread) {
    while may_run(user) {
        activate_space(user);
        let exit = user.context.lock().run();
        match exit {
            UserExit::Interrupt(_) => sched::yield_now(),
            UserExit::Syscall => system_call(user),
            UserExit::Exception(record) => exception(user, &record),
        }
    }
}

fn system_call(user: &UserThread) {
    // The caller's context stays locked through the call (which never
    // reaches the glue), and is released before the effects, which may
    // touch it.
    let mut context = user.context.lock();
    let (number, args) = (context.syscall_number(), context.syscall_args());
    let mut guard = SYSTEM.lock();
    let system = guard.as_mut().expect("the system is up");
    // A call that may raise POLICY_ERROR parks the caller in an exception;
    // its handler then sees the registers of the call.
    if may_raise_policy_exception(number) {
        save_registers(system, user.koid, &context);
    }
    let outcome = system.syscall_in(user.koid, user.process, number, args);
    if let Outcome::Return(value) = outcome {
        context.set_syscall_result(value);
    }
    drop(context);
    if system.objects.has_effects() {
        apply(system);
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

fn exception(user: &UserThread, record: &spinel_hal_api::TrapRecord) {
    let mut guard = SYSTEM.lock();
    let system = guard.as_mut().expect("the system is up");
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
    let context = user.context.lock();
    let result = system
        .objects
        .thread_exception_with(user.koid, record, vm_status, |slots| {
            context.read_registers(slots)
        });
    drop(context);
    if let Err(status) = result {
        println!(
            "[kernel] thread {} trapped in state {status:?}: {record:x?}",
            user.koid
        );
    }
    apply(system);
}
