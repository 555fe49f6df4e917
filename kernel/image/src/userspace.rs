//! User processes: the glue between the HAL's user contexts, the kernel
//! threads of [`crate::sched`], and the portable system ([`System`]: objects,
//! address spaces, system calls).
//!
//! Each user thread runs on a kernel thread of its own, in a loop:
//! wait until the object layer lets it run, enter user mode with
//! [`UserContext::run`], and handle whatever brought it back: a system call
//! (decoded by `spinel-syscall`), an exception (page faults go to the VM
//! first; anything else to the object layer's exception delivery), or an
//! interrupt (time to let others run). The object layer never blocks or wakes
//! anything itself: after each call the glue drains its effects and carries
//! them out here ([`apply`]).

use crate::arch::{AddressSpace, Arch, UserContext};
use crate::memory::KERNEL_MEMORY;
use crate::{println, sched};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use spinel_abi::thread::RegisterLayout;
use spinel_abi::{Koid, Status};
use spinel_hal_api::{AddressSpace as _, ExitCode, Platform, TrapKind, UserContext as _, UserExit};
use spinel_object::{Config, Effect, IntMap, Registers, RunEntry};
use spinel_syscall::{Devices, Outcome, System};
use spinel_vm::Access;

/// Time slice: the timer interrupt that preempts user threads.
const TICK_NS: u64 = 1_000_000;

/// The whole portable system, behind the one kernel lock. The kernel runs
/// with interrupts disabled and is never preempted while holding it.
static SYSTEM: spin::Mutex<Option<System<AddressSpace>>> = spin::Mutex::new(None);

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
    /// Its registers while not in user mode. Locked only by its own kernel
    /// thread around `run()`, and by others while it is off the CPU.
    context: spin::Mutex<UserContext>,
    control: spin::Mutex<Control>,
    kthread: spin::Once<sched::ThreadId>,
}

#[derive(Default)]
struct Control {
    /// The object layer lets it run user code.
    runnable: bool,
    /// How to re-enter user mode, when it has just been let run.
    entry: Option<RunEntry>,
    /// The object layer is done with it: tear down.
    exited: bool,
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

fn registers_of(context: &UserContext) -> Registers {
    let layout = register_layout_cached();
    let mut regs = Registers::zeroed(layout);
    for (index, slot) in regs.slots[..layout.count].iter_mut().enumerate() {
        *slot = context.register(index).unwrap_or(0);
    }
    regs
}

fn load_registers(context: &mut UserContext, regs: &Registers) {
    for (index, value) in regs.as_slice().iter().enumerate() {
        context.set_register(index, *value);
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
) -> Result<(), spinel_syscall::BootError> {
    SELFTEST_FAILURES.store(selftest_failures as u64, Ordering::SeqCst);
    let layout = *register_layout_cached();
    let config = Config::new(layout);
    let mut guard = SYSTEM.lock();
    let system = guard.insert(System::new(config, &KERNEL_MEMORY, &DEVICES));
    let boot = system.start_first_process(
        boot_image,
        lend_boot_image(boot_image),
        "init",
        args,
        elf_machine(),
    )?;
    INIT_PROCESS.store(boot.process, Ordering::SeqCst);
    let effects = system.objects.take_effects();
    apply(system, effects);
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

/// Ends waits whose deadline passed; sleeps until the next one.
fn timekeeper() {
    loop {
        {
            let mut guard = SYSTEM.lock();
            let system = guard.as_mut().expect("the system is up");
            system.advance_time();
            let effects = system.objects.take_effects();
            apply(system, effects);
        }
        sched::block_current();
    }
}

/// Carry out the object layer's effects. Runs with the system lock held.
fn apply(system: &mut System<AddressSpace>, effects: alloc::vec::Vec<Effect>) {
    for effect in effects {
        match effect {
            Effect::Park { thread } => {
                let Some(user) = THREADS.lock().get(&thread).cloned() else {
                    continue;
                };
                let mut control = user.control.lock();
                if control.runnable {
                    control.runnable = false;
                    // Keep the registers where handlers and debuggers read them.
                    let regs = registers_of(&user.context.lock());
                    let _ = system.objects.save_registers(thread, &regs);
                }
            }
            Effect::Run { thread, entry } => {
                let existing = THREADS.lock().get(&thread).cloned();
                match (existing, entry) {
                    (Some(user), entry) => {
                        {
                            let mut control = user.control.lock();
                            control.runnable = true;
                            control.entry = Some(entry);
                        }
                        if let Some(&kthread) = user.kthread.get() {
                            sched::wake(kthread);
                        }
                    }
                    (None, RunEntry::Start(regs)) => spawn_user_thread(system, thread, &regs),
                    (None, _) => {}
                }
            }
            Effect::Exit { thread } => {
                system.thread_exited(thread);
                let Some(user) = THREADS.lock().get(&thread).cloned() else {
                    continue;
                };
                user.control.lock().exited = true;
                if let Some(&kthread) = user.kthread.get() {
                    sched::wake(kthread);
                }
            }
            Effect::ProcessExited {
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

fn spawn_user_thread(system: &System<AddressSpace>, koid: Koid, regs: &Registers) {
    let Some(process) = system.objects.thread_process(koid) else {
        return;
    };
    let mut context = UserContext::default();
    load_registers(&mut context, regs);
    // A debugger may ask for a step from the first instruction (set during
    // THREAD_STARTING).
    context.set_single_step(system.objects.thread_single_step(koid));
    let user = Arc::new(UserThread {
        koid,
        process,
        context: spin::Mutex::new(context),
        control: spin::Mutex::new(Control {
            runnable: true,
            entry: None,
            exited: false,
        }),
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
        let entry = loop {
            {
                let mut control = user.control.lock();
                if control.exited {
                    THREADS.lock().remove(&user.koid);
                    return;
                }
                if control.runnable {
                    break control.entry.take();
                }
            }
            sched::block_current();
        };
        if let Some(entry) = entry {
            enter(&user, entry);
        }
        run_until_parked(&user);
    }
}

/// Prepare the registers for re-entry as the object layer says.
fn enter(user: &UserThread, entry: RunEntry) {
    match entry {
        RunEntry::Start(regs) => load_registers(&mut user.context.lock(), &regs),
        RunEntry::Registers {
            regs,
            syscall_status,
            single_step,
        } => {
            let mut context = user.context.lock();
            load_registers(&mut context, &regs);
            context.set_single_step(single_step);
            if let Some(status) = syscall_status {
                context.set_syscall_result(status.into_raw() as i64 as u64);
            }
        }
        RunEntry::Syscall { status, completion } => {
            let value = {
                let mut guard = SYSTEM.lock();
                let system = guard.as_mut().expect("the system is up");
                system.finish_blocked(user.koid, status, completion)
            };
            user.context.lock().set_syscall_result(value);
        }
        RunEntry::Continue => {}
    }
}

/// Make `user`'s address space the MMU's.
fn activate_space(user: &UserThread) {
    if ACTIVE_SPACE.load(Ordering::Relaxed) == user.process {
        return;
    }
    let guard = SYSTEM.lock();
    if let Some(space) = guard.as_ref().and_then(|s| s.space(user.process)) {
        space.arch().activate();
        ACTIVE_SPACE.store(user.process, Ordering::Relaxed);
    }
}

/// Still allowed to run user code?
fn may_run(user: &UserThread) -> bool {
    let control = user.control.lock();
    control.runnable && !control.exited && control.entry.is_none()
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
    let (number, args) = {
        let context = user.context.lock();
        (context.syscall_number(), context.syscall_args())
    };
    let mut guard = SYSTEM.lock();
    let system = guard.as_mut().expect("the system is up");
    // A call that may raise POLICY_ERROR parks the caller in an exception;
    // its handler then sees the registers of the call.
    if may_raise_policy_exception(number) {
        let regs = registers_of(&user.context.lock());
        let _ = system.objects.save_registers(user.koid, &regs);
    }
    let outcome = system.syscall(user.koid, number, args);
    if let Outcome::Return(value) = outcome {
        user.context.lock().set_syscall_result(value);
    }
    let effects = system.objects.take_effects();
    if !effects.is_empty() {
        apply(system, effects);
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
    let regs = registers_of(&user.context.lock());
    if let Err(status) = system
        .objects
        .thread_exception(user.koid, record, &regs, vm_status)
    {
        println!(
            "[kernel] thread {} trapped in state {status:?}: {record:x?}",
            user.koid
        );
    }
    let effects = system.objects.take_effects();
    apply(system, effects);
}
