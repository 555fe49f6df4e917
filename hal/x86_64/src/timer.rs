//! Time: the local APIC timer for periodic interrupts and the TSC for
//! `now_ns`, both calibrated once against the PIT, whose 1.193182 MHz input
//! is the one fixed frequency every PC-compatible machine has. (Under QEMU
//! TCG the TSC follows the host's TSC, or one tick per instruction with
//! `-icount shift=0`, and the APIC timer runs at 1 GHz of virtual time: the
//! calibration finds both.)

use core::arch::x86_64::_rdtsc;
use core::sync::atomic::{AtomicU64, Ordering};

use spinel_hal_api::PhysAddr;
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

use crate::paging;

pub(crate) const TIMER_VECTOR: u64 = 0x40;
pub(crate) const SPURIOUS_VECTOR: u64 = 0xff;

// Local APIC registers (offsets into its 4 KiB MMIO page, Intel SDM vol. 3
// table 11-1).
const APIC_ID: usize = 0x20;
const APIC_TASK_PRIORITY: usize = 0x80;
const APIC_END_OF_INTERRUPT: usize = 0xb0;
const APIC_SPURIOUS: usize = 0xf0;
const APIC_LVT_TIMER: usize = 0x320;
const APIC_TIMER_INITIAL: usize = 0x380;
const APIC_TIMER_CURRENT: usize = 0x390;
const APIC_TIMER_DIVIDE: usize = 0x3e0;

const APIC_SOFTWARE_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_TIMER_PERIODIC: u32 = 1 << 17;
/// Divide-configuration encodings for divide by 1, 2, 4, ... 128.
const DIVIDE_ENCODINGS: [u32; 8] = [
    0b1011, 0b0000, 0b0001, 0b0010, 0b0011, 0b1000, 0b1001, 0b1010,
];

const IA32_APIC_BASE: u32 = 0x1b;

const PIT_HZ: u64 = 1_193_182;
/// Calibration window: 597 PIT ticks, half a millisecond (0.2% error from
/// the PIT's granularity). Under `-icount shift=0` a guest nanosecond is one
/// instruction, so the window costs half a million instructions, once, at
/// the first use of `now_ns` or `timer_start`.
const CALIBRATION_PIT_TICKS: u16 = 597;

static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static APIC_BASE: AtomicU64 = AtomicU64::new(0);

struct Calibration {
    /// Nanoseconds per TSC tick, as a 32.32 fixed-point number.
    ns_per_tsc_tick: u64,
    /// Local APIC timer ticks per second at divide-by-1.
    apic_hz: u64,
}

static CALIBRATION: spin::Once<Calibration> = spin::Once::new();

fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects (CR4.TSD is clear, and this is
    // ring 0 anyway).
    unsafe { _rdtsc() }
}

pub(crate) fn record_boot_time() {
    BOOT_TSC.store(rdtsc(), Ordering::Relaxed);
}

/// Find the local APIC, software-enable it and leave its timer masked.
/// Needs the final direct map (the APIC page is in the 4th GiB).
pub(crate) fn init() {
    // SAFETY: reading IA32_APIC_BASE has no side effects.
    let base = unsafe { Msr::new(IA32_APIC_BASE).read() } & 0x000f_ffff_ffff_f000;
    APIC_BASE.store(
        paging::phys_to_virt(PhysAddr(base)).as_u64(),
        Ordering::Relaxed,
    );
    apic_write(APIC_TASK_PRIORITY, 0);
    apic_write(APIC_LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);
    apic_write(APIC_SPURIOUS, APIC_SOFTWARE_ENABLE | SPURIOUS_VECTOR as u32);
}

fn apic_register(offset: usize) -> *mut u32 {
    (APIC_BASE.load(Ordering::Relaxed) as usize + offset) as *mut u32
}

fn apic_read(offset: usize) -> u32 {
    // SAFETY: a local APIC register, mapped uncached in the direct map by
    // paging::init; reads of these registers have no side effects.
    unsafe { apic_register(offset).read_volatile() }
}

fn apic_write(offset: usize, value: u32) {
    // SAFETY: a local APIC register (see `apic_read`); the HAL is the
    // APIC's only user.
    unsafe { apic_register(offset).write_volatile(value) }
}

/// This CPU's local APIC ID, where device interrupts are sent.
pub(crate) fn apic_id() -> u32 {
    apic_read(APIC_ID) >> 24
}

pub(crate) fn end_of_interrupt() {
    apic_write(APIC_END_OF_INTERRUPT, 0);
}

fn pit_read(port: u16) -> u8 {
    // SAFETY: PIT registers; no memory effects.
    unsafe { Port::<u8>::new(port).read() }
}

fn pit_write(port: u16, value: u8) {
    // SAFETY: PIT registers; no memory effects.
    unsafe { Port::<u8>::new(port).write(value) }
}

// The PIT's channel 0 is used because it is the one channel every machine
// lets software read back: channel 2's gate and output live in port 0x61,
// which QEMU's microvm does not have. Its IRQ 0 stays masked.
const PIT_CHANNEL0: u16 = 0x40;
const PIT_COMMAND: u16 = 0x43;
/// Channel 0, low then high byte, mode 2 (rate generator), binary.
const PIT_CHANNEL0_RATE_GENERATOR: u8 = 0b0011_0100;
/// Channel 0, low then high byte, mode 0 (one shot): stops it again.
const PIT_CHANNEL0_ONE_SHOT: u8 = 0b0011_0000;
/// Channel 0, latch the count.
const PIT_CHANNEL0_LATCH: u8 = 0b0000_0000;

fn pit_count() -> u16 {
    pit_write(PIT_COMMAND, PIT_CHANNEL0_LATCH);
    let low = pit_read(PIT_CHANNEL0);
    let high = pit_read(PIT_CHANNEL0);
    u16::from_le_bytes([low, high])
}

/// Count TSC and APIC-timer ticks while the PIT counts
/// [`CALIBRATION_PIT_TICKS`].
fn calibrate() -> Calibration {
    apic_write(APIC_TIMER_DIVIDE, DIVIDE_ENCODINGS[0]);
    apic_write(APIC_LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);
    apic_write(APIC_TIMER_INITIAL, u32::MAX);

    // Count down from 0xffff (wrapping at 0): far longer than the window,
    // so at most one reload happens while it is measured.
    pit_write(PIT_COMMAND, PIT_CHANNEL0_RATE_GENERATOR);
    pit_write(PIT_CHANNEL0, 0xff);
    pit_write(PIT_CHANNEL0, 0xff);
    let mut previous = pit_count();
    let (tsc_start, apic_start) = (rdtsc(), apic_read(APIC_TIMER_CURRENT));
    let mut elapsed: u32 = 0;
    // Without a PIT the count never moves: give up after what would be a
    // second at 10 GHz and assume 1 GHz for both clocks.
    while elapsed < u32::from(CALIBRATION_PIT_TICKS) && rdtsc() - tsc_start < 10_000_000_000 {
        let count = pit_count();
        elapsed += u32::from(previous.wrapping_sub(count));
        previous = count;
    }
    let (tsc_end, apic_end) = (rdtsc(), apic_read(APIC_TIMER_CURRENT));
    apic_write(APIC_TIMER_INITIAL, 0);
    pit_write(PIT_COMMAND, PIT_CHANNEL0_ONE_SHOT);
    pit_write(PIT_CHANNEL0, 1);
    pit_write(PIT_CHANNEL0, 0);

    let measured = elapsed >= u32::from(CALIBRATION_PIT_TICKS);
    let window_ns = u64::from(elapsed.max(1)) * 1_000_000_000 / PIT_HZ;
    let (tsc_ticks, apic_ticks) = if measured {
        (
            (tsc_end - tsc_start).max(1),
            u64::from(apic_start - apic_end).max(1),
        )
    } else {
        (window_ns, window_ns)
    };
    Calibration {
        ns_per_tsc_tick: ((u128::from(window_ns) << 32) / u128::from(tsc_ticks)) as u64,
        apic_hz: apic_ticks * 1_000_000_000 / window_ns.max(1),
    }
}

fn calibration() -> &'static Calibration {
    CALIBRATION.call_once(calibrate)
}

pub(crate) fn now_ns() -> u64 {
    let ns_per_tick = calibration().ns_per_tsc_tick;
    let ticks = rdtsc() - BOOT_TSC.load(Ordering::Relaxed);
    ((u128::from(ticks) * u128::from(ns_per_tick)) >> 32) as u64
}

/// Start the periodic timer interrupt, every `period_ns`.
pub(crate) fn start(period_ns: u64) {
    let ticks = (u128::from(calibration().apic_hz) * u128::from(period_ns) / 1_000_000_000).max(1);
    // The counter is 32 bits: divide the input clock until the period fits.
    let (divide_index, count) = (0..DIVIDE_ENCODINGS.len())
        .map(|index| (index, ticks >> index))
        .find(|&(_, count)| count <= u128::from(u32::MAX))
        .unwrap_or((DIVIDE_ENCODINGS.len() - 1, u128::from(u32::MAX)));
    apic_write(APIC_TIMER_DIVIDE, DIVIDE_ENCODINGS[divide_index]);
    apic_write(APIC_LVT_TIMER, LVT_TIMER_PERIODIC | TIMER_VECTOR as u32);
    apic_write(APIC_TIMER_INITIAL, count.max(1) as u32);
}
