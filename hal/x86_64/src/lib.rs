//! Spinel's HAL for x86_64: boot (PVH), CPU tables, traps, paging, timer,
//! serial lines and power-off, behind `spinel_hal_api::Platform`.
//!
//! Principles kept here:
//! - **The contract is the only way in.** The kernel sees [`X86_64`] and
//!   the three types of the `Platform` trait; everything else is private.
//! - **User mode is a function call, and traps write straight into the
//!   thread.** `UserContext::run` points the CPU's ring-0 stack (TSS.rsp0)
//!   and the `syscall` entry at the end of the thread's saved-register
//!   frame, so entering and leaving ring 3 copies nothing and needs no
//!   per-thread kernel stack switch (see `entry.rs`).
//! - **Assembly only where the CPU demands it**, in `global_asm!` blocks
//!   with CFI so that debuggers see through them; everything that can be
//!   Rust is Rust, and tables use the `x86_64` crate's types.
//! - **One CPU.** Mutable globals are `CpuLocal`s touched with interrupts
//!   off; there is no locking.
//! - **Fail loudly.** A kernel trap that is not provoked, a double fault or
//!   a bad boot prints what is known and powers off with failure.
//!
//! Module map: `boot` (PVH entry, long mode, BootInfo), `cpu` (features,
//! GDT/TSS/IDT, syscall MSRs, PIC), `entry` (trap and syscall stubs,
//! user-mode entry/exit), `trap` (decoding, kernel traps, fix-ups,
//! backtraces), `paging` (kernel tables, user address spaces), `user`
//! (UserContext), `context` (kernel threads), `timer` (local APIC, TSC),
//! `serial` (COM1 console, COM2 debug link), `ioapic` (COM2's interrupt),
//! `cell` (CpuLocal, stacks).
#![no_std]

mod boot;
mod cell;
mod context;
mod cpu;
mod entry;
mod ioapic;
mod paging;
mod serial;
mod timer;
mod trap;
mod user;

use spinel_hal_api::{
    Architecture, ExitCode, KernelHooks, PhysAddr, Platform, ProvokedTrap, VirtAddr,
};
use x86_64::instructions::{hlt, interrupts, port::Port};

pub use context::KernelContext;
pub use paging::UserAddressSpace;
pub use user::UserContext;

/// The x86_64 platform: QEMU `microvm` or `q35` with a 64-bit CPU.
#[derive(Debug)]
pub struct X86_64;

/// QEMU's `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4`).
const DEBUG_EXIT_PORT: u16 = 0xf4;

fn power_off(code: ExitCode) -> ! {
    // SAFETY: writing to the debug-exit port makes QEMU exit with status
    // (code << 1) | 1; where there is no such device the write does nothing.
    unsafe { Port::<u8>::new(DEBUG_EXIT_PORT).write(code as u8) };
    loop {
        interrupts::disable();
        hlt();
    }
}

impl Platform for X86_64 {
    type AddressSpace = UserAddressSpace;
    type UserContext = UserContext;
    type KernelContext = KernelContext;

    const ARCH: Architecture = Architecture::X86_64;

    fn init(hooks: KernelHooks) {
        trap::set_hooks(hooks);
    }

    fn console_write(bytes: &[u8]) {
        serial::console_write(bytes);
    }

    fn debug_link_write(bytes: &[u8]) {
        serial::debug_link_write(bytes);
    }

    fn debug_link_read(buf: &mut [u8]) -> usize {
        serial::debug_link_read(buf)
    }

    fn phys_to_virt(pa: PhysAddr) -> VirtAddr {
        paging::phys_to_virt(pa)
    }

    fn kernel_image_phys(va: VirtAddr) -> Option<PhysAddr> {
        let pa = va.as_u64().checked_sub(paging::KERNEL_VIRTUAL_OFFSET)?;
        let end = paging::kernel_physical_end().as_u64();
        (pa < end).then_some(PhysAddr(pa))
    }

    fn enable_interrupts() {
        interrupts::enable();
    }

    fn disable_interrupts() {
        interrupts::disable();
    }

    fn wait_for_interrupt() {
        // `sti; hlt` is atomic (sti takes effect after the next
        // instruction), so no interrupt is lost between the two.
        interrupts::enable_and_hlt();
        interrupts::disable();
    }

    fn timer_start(period_ns: u64) {
        timer::start(period_ns);
    }

    fn now_ns() -> u64 {
        timer::now_ns()
    }

    fn provoke_kernel_trap(trap: ProvokedTrap) {
        trap::provoke(trap);
    }

    fn user_test_blob() -> &'static [u8] {
        user::test_blob()
    }

    fn backtrace(out: &mut [usize]) -> usize {
        trap::backtrace(out)
    }

    fn power_off(code: ExitCode) -> ! {
        power_off(code)
    }

    fn halt() -> ! {
        loop {
            interrupts::disable();
            hlt();
        }
    }
}
