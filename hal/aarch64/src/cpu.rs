//! System-register values for EL1 and the few CPU-wide switches (interrupt
//! mask, PAN, sleeping).
//!
//! The MMU-control values are computed here at compile time from the
//! `aarch64-cpu` field definitions and handed to the boot assembly as `const`
//! operands, so the bit layout is written in one place.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    DAIF, ID_AA64MMFR1_EL1, MAIR_EL1, ReadWriteable, Readable, SCTLR_EL1, TCR_EL1, Writeable,
};

/// MAIR index of Normal write-back memory (all RAM).
pub const MAIR_INDEX_NORMAL: u64 = 0;
/// MAIR index of Device-nGnRnE memory (MMIO).
pub const MAIR_INDEX_DEVICE: u64 = 1;

/// Attr0: Normal, inner and outer write-back read/write-allocate.
/// Attr1: Device-nGnRnE.
pub const MAIR_VALUE: u64 = MAIR_EL1::Attr0_Normal_Outer::WriteBack_NonTransient_ReadWriteAlloc
    .value
    | MAIR_EL1::Attr0_Normal_Inner::WriteBack_NonTransient_ReadWriteAlloc.value
    | MAIR_EL1::Attr1_Device::nonGathering_nonReordering_noEarlyWriteAck.value;

/// 48-bit halves (T0SZ = T1SZ = 16), 4 KiB granule for both, walks cacheable
/// and inner shareable, 8-bit ASIDs taken from TTBR0. IPS (the physical
/// address size) is filled in at boot from ID_AA64MMFR0_EL1.PARange.
pub const TCR_VALUE: u64 = TCR_EL1::T0SZ.val(16).value
    | TCR_EL1::T1SZ.val(16).value
    | TCR_EL1::TG0::KiB_4.value
    | TCR_EL1::TG1::KiB_4.value
    | TCR_EL1::SH0::Inner.value
    | TCR_EL1::SH1::Inner.value
    | TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable.value
    | TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable.value
    | TCR_EL1::IRGN1::WriteBack_ReadAlloc_WriteAlloc_Cacheable.value
    | TCR_EL1::ORGN1::WriteBack_ReadAlloc_WriteAlloc_Cacheable.value
    | TCR_EL1::A1::TTBR0.value
    | TCR_EL1::AS::ASID8Bits.value;

/// SCTLR_EL1 bits the `aarch64-cpu` crate does not name. On CPUs without the
/// feature each is RES1, which is also the value we want, except SPAN.
const SCTLR_EOS: u64 = 1 << 11; // exception return is context synchronizing
const SCTLR_TSCXT: u64 = 1 << 20; // trap EL0 SCXTNUM_EL0 accesses
const SCTLR_EIS: u64 = 1 << 22; // exception entry is context synchronizing
/// Set: PSTATE.PAN is left alone on exceptions to EL1. Clear: PAN is set on
/// every exception entry, which is what we want once PAN exists.
const SCTLR_SPAN: u64 = 1 << 23;
const SCTLR_NTLSMD: u64 = 1 << 28; // no trap of EL0 multiple load/store to Device
const SCTLR_LSMAOE: u64 = 1 << 29; // ordering of EL0 multiple load/store

const SCTLR_RES1: u64 = SCTLR_EOS | SCTLR_TSCXT | SCTLR_EIS | SCTLR_NTLSMD | SCTLR_LSMAOE;

/// SCTLR_EL1 with the MMU off, as written when dropping from EL2.
pub const SCTLR_MMU_OFF: u64 = SCTLR_RES1 | SCTLR_SPAN;

/// SCTLR_EL1 with the MMU and caches on: stack alignment checks at EL1 and
/// EL0, no alignment checks for ordinary accesses (A = 0), EL0 may read
/// CTR_EL0 and use DC ZVA and WFE; EL0 WFI traps (a user thread may not idle
/// the CPU). SPAN stays set until `enable_pan` decides.
pub const SCTLR_VALUE: u64 = SCTLR_RES1
    | SCTLR_SPAN
    | SCTLR_EL1::M::Enable.value
    | SCTLR_EL1::C::Cacheable.value
    | SCTLR_EL1::I::Cacheable.value
    | SCTLR_EL1::SA::Enable.value
    | SCTLR_EL1::SA0::Enable.value
    | SCTLR_EL1::A::Disable.value
    | SCTLR_EL1::UCT::DontTrap.value
    | SCTLR_EL1::DZE::DontTrap.value
    | SCTLR_EL1::NTWE::DontTrap.value
    | SCTLR_EL1::NTWI::Trap.value
    | SCTLR_EL1::UCI::Trap.value
    | SCTLR_EL1::UMA::Trap.value
    | SCTLR_EL1::WXN::Disable.value
    | SCTLR_EL1::EE::LittleEndian.value
    | SCTLR_EL1::E0E::LittleEndian.value;

/// Turn on Privileged Access Never when the CPU has it: EL1 then faults on
/// any access to a page EL0 can access. The kernel reads user memory only
/// through the direct map, so PAN never needs lifting.
pub fn enable_pan() -> bool {
    if ID_AA64MMFR1_EL1.read(ID_AA64MMFR1_EL1::PAN) == 0 {
        return false;
    }
    // SPAN = 0: PAN is set on every exception entry to EL1.
    let sctlr = SCTLR_EL1.get() & !SCTLR_SPAN;
    SCTLR_EL1.set(sctlr);
    // SAFETY: writes PSTATE.PAN (system register S3_0_C4_C2_3, spelled
    // generically so no assembler feature flag is needed); the CPU reported
    // FEAT_PAN above and the kernel never touches user pages directly.
    unsafe {
        core::arch::asm!(
            "msr S3_0_C4_C2_3, {pan}",
            "isb",
            pan = in(reg) 1u64 << 22,
            options(nostack, preserves_flags)
        );
    }
    true
}

/// Let EL0 be single-stepped: open the OS lock (QEMU resets it locked,
/// which holds debug exceptions back). Stepping itself is MDSCR_EL1.SS,
/// switched per thread by [`set_user_single_step`].
pub fn enable_user_single_step() {
    use aarch64_cpu::registers::OSLAR_EL1;
    OSLAR_EL1.write(OSLAR_EL1::OSLK::Unlocked);
    barrier::isb(barrier::SY);
}

/// Whether MDSCR_EL1.SS is on (one CPU: the HAL runs on the boot CPU).
static USER_STEP: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// MDSCR_EL1.SS for the EL0 code about to run: on, EL0 takes a software
/// step exception after one instruction (SPSR.SS set) or at once (clear);
/// off, never. KDE stays off, so EL1 is never stepped. Written only when it
/// changes.
pub fn set_user_single_step(on: bool) {
    use aarch64_cpu::registers::MDSCR_EL1;
    use core::sync::atomic::Ordering;
    if USER_STEP.load(Ordering::Relaxed) == on {
        return;
    }
    USER_STEP.store(on, Ordering::Relaxed);
    if on {
        MDSCR_EL1.modify(MDSCR_EL1::SS::SoftwareStepEnabled);
    } else {
        MDSCR_EL1.modify(MDSCR_EL1::SS::SoftwareStepDisabled);
    }
    barrier::isb(barrier::SY);
}

pub fn enable_interrupts() {
    DAIF.modify(DAIF::I::Unmasked);
}

pub fn disable_interrupts() {
    DAIF.modify(DAIF::I::Masked);
}

/// Sleep until an interrupt is pending, then take it. WFI wakes on a pending
/// IRQ even while IRQs are masked, so sleeping with them masked and opening
/// the window afterwards cannot lose a wake-up.
pub fn wait_for_interrupt() {
    disable_interrupts();
    aarch64_cpu::asm::wfi();
    enable_interrupts();
    barrier::isb(barrier::SY);
    disable_interrupts();
}
