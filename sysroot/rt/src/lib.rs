//! Spinel's userspace runtime.
//!
//! A program is `#![no_std] #![no_main]`, depends on this crate, and names
//! its main function with [`entry!`]. The runtime provides `_start` (plain
//! Rust: the kernel enters user code with the C calling convention), a heap,
//! `print!`/`println!` to the kernel console, and a panic handler that prints
//! the message and exits the process with [`PANIC_EXIT_CODE`].
#![no_std]
#![deny(unsafe_code)]

pub use spinel_zx as zx;

use core::fmt::{self, Write};
use core::mem::MaybeUninit;

/// The exit code of a process that panicked.
pub const PANIC_EXIT_CODE: i64 = -1;
/// Size of the heap every process starts with.
const HEAP_SIZE: usize = 256 * 1024;

/// What `_start` receives from the kernel.
#[derive(Debug)]
pub struct StartArgs {
    /// The bootstrap channel (or the first handle the creator passed).
    pub bootstrap: zx::Handle,
    /// The second start argument, as given by `process_start`.
    pub arg1: u64,
}

#[global_allocator]
static HEAP: linked_list_allocator::LockedHeap = linked_list_allocator::LockedHeap::empty();

/// The program's entry point: `spinel_rt::entry!(main)` with
/// `fn main(args: spinel_rt::StartArgs) -> i64`.
#[macro_export]
macro_rules! entry {
    ($path:path) => {
        #[unsafe(export_name = "spinel_main")]
        pub fn __spinel_main(args: $crate::StartArgs) -> i64 {
            let f: fn($crate::StartArgs) -> i64 = $path;
            f(args)
        }
    };
}

#[allow(unsafe_code)]
mod start {
    use super::*;

    unsafe extern "Rust" {
        /// Defined by the program through [`entry!`].
        fn spinel_main(args: StartArgs) -> i64;
    }

    static mut HEAP_SPACE: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];

    /// The first instruction of every user program.
    #[unsafe(no_mangle)]
    #[unsafe(link_section = ".text._start")]
    pub extern "C" fn _start(bootstrap: u64, arg1: u64) -> ! {
        // SAFETY: `_start` runs once, before any other code of the process,
        // so this is the only reference ever made to HEAP_SPACE.
        let space: &'static mut [MaybeUninit<u8>] = unsafe { &mut *core::ptr::addr_of_mut!(HEAP_SPACE) };
        HEAP.lock().init_from_slice(space);
        let args = StartArgs { bootstrap: zx::Handle::from_raw(zx::HandleValue(bootstrap as u32)), arg1 };
        // SAFETY: `entry!` defines `spinel_main` with exactly this signature.
        let code = unsafe { spinel_main(args) };
        zx::process_exit(code)
    }
}

struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        zx::debug_write(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// Print to the kernel console (one system call per formatted piece).
pub fn print(args: fmt::Arguments<'_>) {
    let _ = Console.write_fmt(args);
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::print(format_args!("{}\n", format_args!($($arg)*))) };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    print(format_args!("panic: {}", info.message()));
    if let Some(location) = info.location() {
        print(format_args!(" at {}:{}:{}", location.file(), location.line(), location.column()));
    }
    print(format_args!("\n"));
    zx::process_exit(PANIC_EXIT_CODE)
}
