//! The I/O APIC, for the one device interrupt the HAL routes: the debugger
//! link's UART (COM2, ISA IRQ 3).
//!
//! The I/O APIC sits at its architectural default address on both QEMU
//! machines used (`microvm`, `q35`), and ISA IRQ 3 arrives on its input 3
//! (QEMU overrides only IRQ 0 in its MADT), edge triggered, active high.

use core::sync::atomic::{AtomicU64, Ordering};

use spinel_hal_api::PhysAddr;

use crate::paging;

const IOAPIC_PHYSICAL: u64 = 0xfec0_0000;
const REGISTER_SELECT: usize = 0x00;
const REGISTER_WINDOW: usize = 0x10;
const REDIRECTION_TABLE: u32 = 0x10;

static BASE: AtomicU64 = AtomicU64::new(0);

fn write(register: u32, value: u32) {
    let base = BASE.load(Ordering::Relaxed) as usize;
    // SAFETY: the I/O APIC's select and window registers, mapped uncached
    // in the direct map (4th GiB); the HAL is their only user.
    unsafe {
        ((base + REGISTER_SELECT) as *mut u32).write_volatile(register);
        ((base + REGISTER_WINDOW) as *mut u32).write_volatile(value);
    }
}

/// Deliver input `pin` (edge triggered, active high) as `vector` to the
/// local APIC `apic_id`.
pub(crate) fn route(pin: u32, vector: u8, apic_id: u32) {
    BASE.store(
        paging::phys_to_virt(PhysAddr(IOAPIC_PHYSICAL)).as_u64(),
        Ordering::Relaxed,
    );
    // High word first, so the entry is never live with a stale destination.
    write(REDIRECTION_TABLE + 2 * pin + 1, apic_id << 24);
    // Fixed delivery, physical destination, active high, edge, unmasked.
    write(REDIRECTION_TABLE + 2 * pin, u32::from(vector));
}
