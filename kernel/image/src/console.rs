//! Kernel console output: `print!` / `println!` over the HAL's console.

use crate::arch::Arch;
use core::fmt::{self, Write};
use spinel_hal_api::Platform;

/// Serialises console writers so lines from different kernel threads do not
/// interleave.
static CONSOLE: spin::Mutex<Console> = spin::Mutex::new(Console);

struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Arch::console_write(s.as_bytes());
        Ok(())
    }
}

pub fn print(args: fmt::Arguments<'_>) {
    // Printing never fails on the console; a formatting error only truncates.
    let _ = CONSOLE.lock().write_fmt(args);
}

/// Write raw bytes (a user process's `debug_write`), whole.
pub fn write_bytes(bytes: &[u8]) {
    let _guard = CONSOLE.lock();
    Arch::console_write(bytes);
}

/// Print without taking the console lock: for the panic path, which may have
/// interrupted a holder of the lock.
pub fn print_unlocked(args: fmt::Arguments<'_>) {
    let _ = Console.write_fmt(args);
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
