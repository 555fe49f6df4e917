//! Spinel HAL for aarch64 (QEMU `-M virt`): boot, page tables, traps, the
//! generic timer behind a GICv2, PL011 serial lines and power-off.
//!
//! Principles kept here:
//! - **The contract is the only door.** The kernel sees this crate through
//!   [`Aarch64`], its implementation of [`spinel_hal_api::Platform`]; every
//!   other item is private to the crate.
//! - **Assembly only where Rust cannot go:** the MMU-off boot path, the
//!   exception vectors, the EL0 round trip and the context switch. Each stub is
//!   short, saves registers into one `repr(C)` layout whose offsets are checked
//!   at compile time, and carries CFI so debuggers can unwind through it.
//! - **One mapping rule.** The kernel image lives at `KERNEL_OFFSET + pa`, all
//!   RAM and the few device registers we touch at `DIRECT_MAP_BASE + pa`
//!   (upper half, TTBR1); user space is the lower half (TTBR0), one table tree
//!   and one ASID per address space. The kernel reads user memory only through
//!   `translate` + the direct map, so PAN stays on.
//! - **Traps become data, early.** The vector stubs save the state and
//!   `trap.rs` turns ESR/FAR into a [`spinel_hal_api::TrapRecord`] once, for
//!   kernel and user mode alike.
//! - **Small, documented `unsafe`:** register writes, MMIO and the asm calls,
//!   each with its `SAFETY:` reasoning; the decoding and bookkeeping around
//!   them are plain safe Rust.
#![no_std]

mod boot;
mod context;
mod cpu;
mod devicetree;
mod gic;
mod mem;
mod mmu;
mod pl011;
mod power;
mod timer;
mod trap;
mod user;

use spinel_hal_api::{
    Architecture, ExitCode, KernelHooks, PhysAddr, Platform, ProvokedTrap, VirtAddr,
};

pub use context::KernelContext;
pub use mmu::AddressSpace;
pub use user::UserContext;

/// The aarch64 platform (QEMU `virt` machine).
pub struct Aarch64;

impl Platform for Aarch64 {
    type AddressSpace = mmu::AddressSpace;
    type UserContext = user::UserContext;
    type KernelContext = context::KernelContext;

    const ARCH: Architecture = Architecture::Aarch64;

    fn init(hooks: KernelHooks) {
        trap::set_hooks(hooks);
        gic::init();
        pl011::enable_debug_link_interrupt();
        cpu::enable_user_single_step();
    }

    fn console_write(bytes: &[u8]) {
        pl011::console().write(bytes);
    }

    fn debug_link_write(bytes: &[u8]) {
        if let Some(link) = pl011::debug_link() {
            link.write(bytes);
        }
    }

    fn debug_link_read(buf: &mut [u8]) -> usize {
        pl011::debug_link_read(buf)
    }

    fn phys_to_virt(pa: PhysAddr) -> VirtAddr {
        mmu::phys_to_virt(pa)
    }

    fn kernel_image_phys(va: VirtAddr) -> Option<PhysAddr> {
        mmu::kernel_image_phys(va)
    }

    fn enable_interrupts() {
        cpu::enable_interrupts();
    }

    fn disable_interrupts() {
        cpu::disable_interrupts();
    }

    fn wait_for_interrupt() {
        cpu::wait_for_interrupt();
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

    /// Never inlined, so the walk starts at this function's own frame
    /// record: the first entry is the return address into the caller, i.e.
    /// the place that asked for the backtrace.
    #[inline(never)]
    fn backtrace(out: &mut [usize]) -> usize {
        trap::backtrace_here(out)
    }

    fn power_off(code: ExitCode) -> ! {
        power::off(code)
    }

    fn halt() -> ! {
        crate::cpu::disable_interrupts();
        loop {
            aarch64_cpu::asm::wfi();
        }
    }
}
