//! The bootable Spinel kernel.
//!
//! This binary is thin glue: the HAL (picked in [`arch`]) boots the machine
//! and calls [`kernel_main`]; the kernel sets up memory and its hooks, then
//! either runs its in-guest self-tests (`-append test`) or starts the system.
//! Design rules kept here:
//! - architecture is named in `arch.rs` only; everything else talks to the
//!   HAL contract (`spinel_hal_api::Platform`);
//! - the kernel runs with interrupts disabled: it is preempted only at the
//!   user/kernel boundary, so kernel state needs no interrupt-safe locking;
//! - a panic never hangs silently: it prints message, location, its
//!   backtrace as symbolizer markup and the marker line `[kernel] PANIC:`,
//!   then halts the CPU with the machine left running, so that the host can
//!   take a whole-machine dump (`panic.rs`); `cargo xtask` then ends QEMU.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod console;
mod memory;
mod panic;
mod sched;
mod selftest;
mod trap;
mod user;

use arch::Arch;
use spinel_hal_api::{BootInfo, ExitCode, KernelHooks, Platform};

spinel_hal_api::kernel_entry!(kernel_main);

fn kernel_main(info: &'static BootInfo) -> ! {
    println!(
        "Spinel {} ({}), booted via {}",
        env!("CARGO_PKG_VERSION"),
        arch::ARCHITECTURE,
        info.source
    );
    print_memory_map(info);
    let stats = memory::init(info);
    let (free_pages, total_pages) = {
        let frames = memory::FRAMES.lock();
        (frames.free_pages(), frames.total_pages())
    };
    println!(
        "memory: {} MiB usable, heap {} MiB at {:#x}, {} of {} pages free",
        stats.usable_bytes >> 20,
        stats.heap_bytes >> 20,
        stats.heap_start.0,
        free_pages,
        total_pages,
    );
    Arch::init(KernelHooks {
        kernel_trap: trap::kernel_trap,
        irq: trap::irq,
    });
    sched::init();

    // `panic-test` / `hang-test` crash the kernel on purpose (the host's
    // tests of its crash dumps); only the command line can ask for them.
    selftest::crash_on_purpose(info.cmdline);

    // `test [FILTER]` runs the kernel's self-tests, then init in test mode
    // (which runs the user-mode suites); anything else is passed to init.
    let mut selftest_failures = 0;
    if let Some(filter) = info.cmdline.strip_prefix("test") {
        let filter = filter.split_ascii_whitespace().next();
        selftest_failures = selftest::run_all(filter);
    }
    if let Err(error) = user::start(BOOT_IMAGE, info.cmdline, selftest_failures) {
        println!("cannot start init: {error}");
        Arch::power_off(ExitCode::Failure);
    }
    // The boot thread has nothing more to do: user threads and the
    // timekeeper take the CPU from here; when none can run, the scheduler
    // sleeps until an interrupt.
    loop {
        sched::block_current();
    }
}

/// Page alignment for data the kernel lends to the VM page by page.
#[repr(C, align(4096))]
struct PageAligned<T: ?Sized>(T);

/// The userspace programs, packed into a boot image by `cargo xtask`,
/// page-aligned so that its pages can back a VMO without being copied.
static BOOT_IMAGE_PAGES: &PageAligned<[u8]> =
    &PageAligned(*include_bytes!(env!("SPINEL_BOOT_IMAGE_PATH")));
static BOOT_IMAGE: &[u8] = &BOOT_IMAGE_PAGES.0;

fn print_memory_map(info: &BootInfo) {
    println!("memory map ({} regions):", info.region_count);
    for region in info.regions() {
        println!(
            "  {:#012x}-{:#012x} {:>8} KiB {:?}",
            region.start.0,
            region.start.0 + region.len,
            region.len >> 10,
            region.kind
        );
    }
    println!(
        "kernel image: {:#x}-{:#x}",
        info.kernel_start.0, info.kernel_end.0
    );
}

/// Print the return addresses of the current call chain (a fatal kernel
/// trap's report); `cargo xtask` symbolizes lines of this form when it shows
/// a failed run. A panic prints symbolizer markup instead (`panic.rs`).
pub fn print_backtrace() {
    let mut frames = [0usize; 32];
    let count = Arch::backtrace(&mut frames);
    console::print_unlocked(format_args!("backtrace:\n"));
    for (index, pc) in frames[..count].iter().enumerate() {
        console::print_unlocked(format_args!("  #{index:<2} {pc:#018x}\n"));
    }
}
