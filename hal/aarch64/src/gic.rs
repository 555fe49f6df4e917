//! GICv2 (QEMU `virt` default: distributor 0x0800_0000, CPU interface
//! 0x0801_0000; addresses from the device tree). One CPU, all interrupts in
//! group 0 delivered as IRQ, one priority.

use crate::devicetree;
use crate::mmu;
use spinel_hal_api::PhysAddr;

// Distributor registers (GICv2 architecture specification, 4.3).
const GICD_CTLR: usize = 0x000;
const GICD_ISENABLER: usize = 0x100;
const GICD_ICENABLER: usize = 0x180;
const GICD_ISPENDR: usize = 0x200;
const GICD_ICPENDR: usize = 0x280;
const GICD_IPRIORITYR: usize = 0x400;
const GICD_ITARGETSR: usize = 0x800;
const GICD_ICFGR: usize = 0xc00;
// CPU interface registers (4.4).
const GICC_CTLR: usize = 0x00;
const GICC_PMR: usize = 0x04;
const GICC_BPR: usize = 0x08;
const GICC_IAR: usize = 0x0c;
const GICC_EOIR: usize = 0x10;

const ENABLE: u32 = 1;
/// Priority of every interrupt we enable (lower is more urgent; the mask
/// lets all through).
const PRIORITY: u8 = 0x80;
const PRIORITY_MASK_ALL: u32 = 0xf0;
/// INTIDs 1020-1023 are special (1023: spurious, nothing pending).
const FIRST_SPECIAL_INTID: u32 = 1020;
/// First shared peripheral interrupt; below are SGIs and PPIs.
const FIRST_SPI: u32 = 32;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Level,
    #[allow(dead_code)] // reason: kept for completeness of the GIC driver
    Edge,
}

fn distributor(offset: usize) -> *mut u32 {
    let base = mmu::phys_to_virt(PhysAddr(devicetree::platform().gic_distributor)).0;
    (base + offset as u64) as *mut u32
}

fn cpu_interface(offset: usize) -> *mut u32 {
    let base = mmu::phys_to_virt(PhysAddr(devicetree::platform().gic_cpu_interface)).0;
    (base + offset as u64) as *mut u32
}

fn write(register: *mut u32, value: u32) {
    // SAFETY: `register` is a GIC register in the direct map (Device
    // memory), 32-bit aligned.
    unsafe { register.write_volatile(value) }
}

fn read(register: *mut u32) -> u32 {
    // SAFETY: as in `write`.
    unsafe { register.read_volatile() }
}

/// Reset the distributor and CPU interface to: everything disabled, nothing
/// pending, forwarding on.
pub fn init() {
    write(distributor(GICD_CTLR), 0);
    for word in 0..32 {
        write(distributor(GICD_ICENABLER + 4 * word), u32::MAX);
        write(distributor(GICD_ICPENDR + 4 * word), u32::MAX);
    }
    write(distributor(GICD_CTLR), ENABLE);
    write(cpu_interface(GICC_PMR), PRIORITY_MASK_ALL);
    write(cpu_interface(GICC_BPR), 0);
    write(cpu_interface(GICC_CTLR), ENABLE);
}

/// Enable one interrupt at our priority, targeted at CPU 0.
pub fn enable(intid: u32, trigger: Trigger) {
    let id = intid as usize;
    // Byte-wide registers, accessed as words (GICv2 allows bytes too, but
    // QEMU's model is happiest with aligned words).
    let priority = distributor(GICD_IPRIORITYR + (id & !3));
    let shift = 8 * (id % 4);
    write(
        priority,
        (read(priority) & !(0xff << shift)) | (u32::from(PRIORITY) << shift),
    );
    if intid >= FIRST_SPI {
        let targets = distributor(GICD_ITARGETSR + (id & !3));
        write(targets, (read(targets) & !(0xff << shift)) | (1 << shift));
        let config = distributor(GICD_ICFGR + 4 * (id / 16));
        let bit = 2 * (id % 16) + 1;
        let edge = u32::from(trigger == Trigger::Edge) << bit;
        write(config, (read(config) & !(1 << bit)) | edge);
    }
    write(distributor(GICD_ISENABLER + 4 * (id / 32)), 1 << (id % 32));
}

/// Make an interrupt pending by software (it is then delivered like one
/// raised by its device).
pub fn set_pending(intid: u32) {
    let id = intid as usize;
    write(distributor(GICD_ISPENDR + 4 * (id / 32)), 1 << (id % 32));
}

/// Acknowledge the highest-priority pending interrupt: its IAR value (to be
/// given back to [`end`]), or `None` when nothing is pending.
pub fn acknowledge() -> Option<u32> {
    let iar = read(cpu_interface(GICC_IAR));
    if iar & 0x3ff >= FIRST_SPECIAL_INTID {
        None
    } else {
        Some(iar)
    }
}

pub fn intid(iar: u32) -> u32 {
    iar & 0x3ff
}

pub fn end(iar: u32) {
    write(cpu_interface(GICC_EOIR), iar);
}
