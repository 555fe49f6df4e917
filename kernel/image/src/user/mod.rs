//! User processes: the glue between the HAL's user contexts, the kernel
//! threads of [`crate::sched`], and the portable system
//! ([`spinel_kernel_state::KernelState`]: objects, address spaces, system calls).
//!
//! The rooms:
//! - [`thread_loop`]: one kernel thread per user thread, entering user mode
//!   and handling what brings it back (system call, trap, interrupt);
//! - [`effects`]: the applier, carrying out the object layer's decisions
//!   (park, run, exit, process exited);
//! - [`timekeeper`]: deadlines, the time slice, the debug link's interrupt;
//! - [`locks`]: the system lock, the threads' context locks, and the one
//!   order they are taken in;
//! - [`address_space`]: which process's address space the MMU holds.
//!
//! Rules kept here:
//! - **The object layer decides, the glue carries out.** The glue never
//!   blocks, wakes or ends a user thread on its own account: after each call
//!   into the system it drains the object layer's effects and applies them,
//!   before it releases the system lock.
//! - **One lock order**: the system lock, then at most one thread's context
//!   (checked in debug builds; see [`locks`]).
//! - **Registers are copied once each way**: a trap's from the context into
//!   the object layer's copy, in place; a resume's from that copy into the
//!   context.
//! - **No preemption inside the kernel.** It runs with interrupts disabled;
//!   user threads are preempted only at the user/kernel boundary, so a lock
//!   is never held across a kernel-thread switch.

mod address_space;
mod effects;
mod locks;
mod thread_loop;
mod timekeeper;

pub use timekeeper::{on_debug_link, on_timer_tick};

use crate::arch::UserContext;
use crate::arch::{Arch, ELF_MACHINE, REGISTER_LAYOUT};
use crate::memory::KERNEL_MEMORY;
use crate::sched;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use effects::RegistersSaved;
use locks::ContextLock;
use spinel_abi::{Koid, Status};
use spinel_hal_api::Platform;
use spinel_kernel_state::{Devices, KernelState};
use spinel_object::{Config, IntMap};

/// Every live user thread, by koid.
static THREADS: spin::Mutex<IntMap<Arc<UserThread>>> = spin::Mutex::new(IntMap::new());

/// The first process; when it exits, the system stops.
static INIT_PROCESS: AtomicU64 = AtomicU64::new(0);

/// How many of the kernel's own self-tests failed: the system powers off
/// with failure at init's exit if any did.
static SELFTEST_FAILURES: AtomicU64 = AtomicU64::new(0);

/// A user thread's kernel side.
struct UserThread {
    koid: Koid,
    process: Koid,
    /// Its registers while not in user mode. Locked by its own kernel
    /// thread around `run()` and its trap handling, and by whoever applies
    /// an effect to it (only while it is off the CPU): a Run effect loads
    /// the registers the object layer gives it right here.
    context: ContextLock,
    /// The object layer lets it run user code (and its context is set up
    /// for that). Changed only with the system lock held.
    runnable: AtomicBool,
    /// The object layer is done with it: tear down.
    exited: AtomicBool,
    kthread: spin::Once<sched::ThreadId>,
}

fn user_thread(koid: Koid) -> Option<Arc<UserThread>> {
    THREADS.lock().get(&koid).cloned()
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
    fn read_fp_registers(&self, thread: Koid, out: &mut [u8]) -> Result<usize, Status> {
        let size = <UserContext as spinel_hal_api::UserContext>::FP_STATE_SIZE;
        let out = out.get_mut(..size).ok_or(Status::BUFFER_TOO_SMALL)?;
        let user = user_thread(thread).ok_or(Status::BAD_STATE)?;
        let context = user.context.try_lock_stopped().ok_or(Status::BAD_STATE)?;
        spinel_hal_api::UserContext::read_fp_state(&*context, out);
        Ok(size)
    }
    fn write_fp_registers(&self, thread: Koid, data: &[u8]) -> Result<(), Status> {
        let user = user_thread(thread).ok_or(Status::BAD_STATE)?;
        let mut context = user.context.try_lock_stopped().ok_or(Status::BAD_STATE)?;
        if spinel_hal_api::UserContext::write_fp_state(&mut *context, data) {
            Ok(())
        } else {
            Err(Status::INVALID_ARGS)
        }
    }
}

static DEVICES: KernelDevices = KernelDevices;

/// Start the system: the object layer, the timekeeper, and `init` from the
/// boot image with `args`. Returns when init is running; the caller should
/// then give the CPU away for good.
pub fn start(
    boot_image: &'static [u8],
    args: &str,
    selftest_failures: usize,
) -> Result<(), spinel_kernel_state::BootError> {
    SELFTEST_FAILURES.store(selftest_failures as u64, Ordering::SeqCst);
    let config = Config::new(REGISTER_LAYOUT);
    let mut guard = locks::install_system(KernelState::new(config, &KERNEL_MEMORY, &DEVICES));
    let system = &mut *guard;
    let boot = system.start_first_process(
        boot_image,
        lend_boot_image(boot_image),
        "init",
        args,
        ELF_MACHINE,
    )?;
    INIT_PROCESS.store(boot.process, Ordering::SeqCst);
    effects::apply(system, RegistersSaved::NONE);
    drop(guard);
    timekeeper::start();
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
