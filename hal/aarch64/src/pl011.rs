//! PL011 UARTs: the console (0x0900_0000) and the debug link (0x0904_0000,
//! present when QEMU is given a second `-serial`; found in the device tree).
//!
//! Both are polled for output. The debug link can also raise an interrupt
//! when input arrives: the handler masks it (so a level interrupt cannot
//! storm) and [`debug_link_read`] unmasks it once the FIFO is drained.

use crate::devicetree;
use crate::mmu;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spinel_hal_api::PhysAddr;

const CONSOLE_PHYSICAL: u64 = 0x0900_0000;

// Register offsets and bits (PL011 TRM, section 3.2).
const DR: usize = 0x00;
const FR: usize = 0x18;
const FR_RXFE: u32 = 1 << 4; // receive FIFO empty
const FR_TXFF: u32 = 1 << 5; // transmit FIFO full
const LCR_H: usize = 0x2c;
const LCR_H_FEN: u32 = 1 << 4; // FIFOs on
const LCR_H_WLEN_8: u32 = 0b11 << 5;
const CR: usize = 0x30;
const CR_UARTEN: u32 = 1 << 0;
const CR_TXE: u32 = 1 << 8;
const CR_RXE: u32 = 1 << 9;
const IMSC: usize = 0x38;
const ICR: usize = 0x44;
const INT_RX: u32 = 1 << 4; // receive
const INT_RT: u32 = 1 << 6; // receive timeout
const INT_ALL: u32 = 0x7ff;
/// Empty polls after which a line with FIFOs off counts as quiet.
const QUIET_POLLS: u32 = 256;

/// One PL011, by the kernel virtual address of its registers.
#[derive(Clone, Copy)]
pub struct Uart(u64);

impl Uart {
    fn register(self, offset: usize) -> *mut u32 {
        (self.0 + offset as u64) as *mut u32
    }

    fn read(self, offset: usize) -> u32 {
        // SAFETY: `self.0` is a PL011 mapped as Device memory in the direct
        // map (boot tables map the whole device gigabyte, the final tables
        // the UART pages); registers are 32-bit.
        unsafe { self.register(offset).read_volatile() }
    }

    fn write_register(self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { self.register(offset).write_volatile(value) }
    }

    /// Set the line up (8 bits, FIFOs on). Turning the FIFOs on empties
    /// them, and while they are off QEMU holds one byte and refills it as
    /// soon as it is read: so drain what is there into `early` first.
    fn init(self, early: Option<&mut EarlyBytes>) {
        if let Some(early) = early
            && self.read(LCR_H) & LCR_H_FEN == 0
        {
            // QEMU refills the holding register from its I/O thread shortly
            // after a read: call the line quiet only after it stayed empty
            // for a while.
            let mut quiet = 0;
            while quiet < QUIET_POLLS && early.len < early.bytes.len() {
                match self.read_byte() {
                    Some(byte) => {
                        early.bytes[early.len] = byte;
                        early.len += 1;
                        quiet = 0;
                    }
                    None => quiet += 1,
                }
            }
        }
        self.write_register(CR, 0);
        self.write_register(IMSC, 0);
        self.write_register(ICR, INT_ALL);
        // QEMU ignores baud settings; real hardware keeps the firmware's.
        self.write_register(LCR_H, LCR_H_FEN | LCR_H_WLEN_8);
        self.write_register(CR, CR_UARTEN | CR_TXE | CR_RXE);
    }

    pub fn write(self, bytes: &[u8]) {
        for &byte in bytes {
            while self.read(FR) & FR_TXFF != 0 {
                core::hint::spin_loop();
            }
            self.write_register(DR, u32::from(byte));
        }
    }

    fn read_byte(self) -> Option<u8> {
        if self.read(FR) & FR_RXFE != 0 {
            None
        } else {
            Some(self.read(DR) as u8)
        }
    }
}

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write(s.as_bytes());
        Ok(())
    }
}

pub fn console() -> Uart {
    Uart(mmu::phys_to_virt(PhysAddr(CONSOLE_PHYSICAL)).0)
}

/// Physical address of the debug link (0: absent).
static DEBUG_LINK: AtomicU64 = AtomicU64::new(0);
/// The debug link's receive interrupt is wanted (set by `Platform::init`).
static DEBUG_LINK_IRQ: AtomicBool = AtomicBool::new(false);

/// Bytes that reached a line before its FIFO was enabled.
pub struct EarlyBytes {
    bytes: [u8; 64],
    len: usize,
    taken: usize,
}

impl EarlyBytes {
    const EMPTY: Self = Self {
        bytes: [0; 64],
        len: 0,
        taken: 0,
    };
}

static EARLY: spin::Mutex<EarlyBytes> = spin::Mutex::new(EarlyBytes::EMPTY);

pub fn init_console() {
    // Console input is not used: what was typed before boot may go.
    console().init(None);
}

pub fn init_debug_link(uart: Option<(u64, u32)>) {
    if let Some((physical, _)) = uart {
        DEBUG_LINK.store(physical, Ordering::Relaxed);
        if let Some(link) = debug_link() {
            link.init(Some(&mut EARLY.lock()));
        }
    }
}

pub fn debug_link() -> Option<Uart> {
    match DEBUG_LINK.load(Ordering::Relaxed) {
        0 => None,
        physical => Some(Uart(mmu::phys_to_virt(PhysAddr(physical)).0)),
    }
}

/// Route the debug link's receive interrupt through the GIC.
pub fn enable_debug_link_interrupt() {
    let (Some(link), Some((_, intid))) = (debug_link(), devicetree::platform().debug_uart) else {
        return;
    };
    DEBUG_LINK_IRQ.store(true, Ordering::Relaxed);
    crate::gic::enable(intid, crate::gic::Trigger::Level);
    link.write_register(IMSC, INT_RX | INT_RT);
    // Bytes drained before the FIFO was on raise no interrupt by
    // themselves: announce them.
    let pending = {
        let early = EARLY.lock();
        early.taken < early.len
    };
    if pending {
        crate::gic::set_pending(intid);
    }
}

/// The debug link raised its interrupt: mask it until the kernel drains the
/// FIFO with [`debug_link_read`].
pub fn debug_link_interrupt() {
    if let Some(link) = debug_link() {
        link.write_register(IMSC, 0);
        link.write_register(ICR, INT_RX | INT_RT);
    }
}

pub fn debug_link_read(buf: &mut [u8]) -> usize {
    let Some(link) = debug_link() else {
        return 0;
    };
    let mut n = 0;
    {
        let mut early = EARLY.lock();
        while n < buf.len() && early.taken < early.len {
            buf[n] = early.bytes[early.taken];
            early.taken += 1;
            n += 1;
        }
    }
    while n < buf.len() {
        match link.read_byte() {
            Some(byte) => {
                buf[n] = byte;
                n += 1;
            }
            None => break,
        }
    }
    if DEBUG_LINK_IRQ.load(Ordering::Relaxed) && link.read(FR) & FR_RXFE != 0 {
        link.write_register(ICR, INT_RX | INT_RT);
        link.write_register(IMSC, INT_RX | INT_RT);
    }
    n
}
