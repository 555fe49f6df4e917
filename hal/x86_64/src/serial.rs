//! The two 16550 UARTs, polled: COM1 is the console, COM2 the debugger link.
//!
//! QEMU's UARTs need no baud-rate setup, so the console works from the first
//! instruction of boot without any initialisation.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;
const COM2: u16 = 0x2f8;

// Register offsets from a UART's base port (16550 data sheet).
const DATA: u16 = 0;
const INTERRUPT_ENABLE: u16 = 1;
const FIFO_CONTROL: u16 = 2;
const MODEM_CONTROL: u16 = 4;
const LINE_STATUS: u16 = 5;
const SCRATCH: u16 = 7;

const LINE_STATUS_DATA_READY: u8 = 1 << 0;
const LINE_STATUS_TRANSMIT_EMPTY: u8 = 1 << 5;
/// FIFO enabled, both FIFOs cleared, interrupt at the first byte:
/// received bytes queue up (16 deep) until the debugger link drains them.
const FIFO_ENABLE_AND_CLEAR: u8 = 0x07;
const INTERRUPT_ON_RECEIVED_DATA: u8 = 1 << 0;
/// DTR, RTS and OUT2 (which gates the UART's interrupt line on PCs).
const MODEM_CONTROL_DTR_RTS_OUT2: u8 = 0x0b;
/// ISA IRQ of COM2.
const COM2_IRQ: u32 = 3;

/// Polls of the line status before a byte is written regardless. QEMU's
/// transmitter is always ready; the bound keeps "never blocks for long" true
/// on anything else.
const TRANSMIT_POLL_LIMIT: u32 = 100_000;

static DEBUG_LINK_PRESENT: AtomicBool = AtomicBool::new(false);

fn read(port: u16) -> u8 {
    // SAFETY: port I/O to a UART register touches no memory; the one side
    // effect (reading DATA consumes a received byte) is what callers want.
    unsafe { Port::<u8>::new(port).read() }
}

fn write(port: u16, value: u8) {
    // SAFETY: as in `read`: UART registers, no memory effects.
    unsafe { Port::<u8>::new(port).write(value) }
}

fn transmit(base: u16, bytes: &[u8]) {
    for &byte in bytes {
        let mut polls = 0;
        while read(base + LINE_STATUS) & LINE_STATUS_TRANSMIT_EMPTY == 0
            && polls < TRANSMIT_POLL_LIMIT
        {
            polls += 1;
            core::hint::spin_loop();
        }
        write(base + DATA, byte);
    }
}

pub(crate) fn console_write(bytes: &[u8]) {
    transmit(COM1, bytes);
}

/// Find out whether QEMU attached a second UART. The scratch register of a
/// present UART keeps what is written to it; an absent port reads back 0xff.
pub(crate) fn probe_debug_link() {
    write(COM2 + SCRATCH, 0x5a);
    if read(COM2 + SCRATCH) != 0x5a {
        return;
    }
    write(COM2 + FIFO_CONTROL, FIFO_ENABLE_AND_CLEAR);
    write(COM2 + MODEM_CONTROL, MODEM_CONTROL_DTR_RTS_OUT2);
    DEBUG_LINK_PRESENT.store(true, Ordering::Relaxed);
    // Arriving data raises Irq::DebugLink. The line is edge triggered and
    // the UART keeps it up until its receive FIFO is empty, so the kernel
    // must drain the link (read until `debug_link_read` returns 0) after
    // each interrupt to get the next one.
    crate::ioapic::route(COM2_IRQ, DEBUG_LINK_VECTOR as u8, crate::timer::apic_id());
    write(COM2 + INTERRUPT_ENABLE, INTERRUPT_ON_RECEIVED_DATA);
}

/// Interrupt vector of the debugger link's UART.
pub(crate) const DEBUG_LINK_VECTOR: u64 = 0x41;

pub(crate) fn debug_link_write(bytes: &[u8]) {
    if DEBUG_LINK_PRESENT.load(Ordering::Relaxed) {
        transmit(COM2, bytes);
    }
}

pub(crate) fn debug_link_read(buf: &mut [u8]) -> usize {
    if !DEBUG_LINK_PRESENT.load(Ordering::Relaxed) {
        return 0;
    }
    let mut count = 0;
    while count < buf.len() && read(COM2 + LINE_STATUS) & LINE_STATUS_DATA_READY != 0 {
        buf[count] = read(COM2 + DATA);
        count += 1;
    }
    count
}

/// `core::fmt` onto the console, for the HAL's own fatal reports.
pub(crate) struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        console_write(s.as_bytes());
        Ok(())
    }
}
