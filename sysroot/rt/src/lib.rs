//! Spinel's userspace runtime.
//!
//! A program is `#![no_std] #![no_main]`, depends on this crate, and names
//! its main function with [`entry!`]. The runtime provides:
//! - `_start` (a few instructions per architecture that align the stack and
//!   call the Rust start with the kernel's two start arguments), a heap
//!   ([`heap`]: 256 KiB, growing on demand once asked to), and a panic handler that prints the message and exits the process with
//!   [`PANIC_EXIT_CODE`];
//! - `print!`/`println!` to the kernel console, one system call per line
//!   (so lines of concurrent processes do not interleave);
//! - [`startup`]: the bootstrap message (arguments and tagged handles);
//! - [`launch`]: starting programs of the boot image in new processes;
//! - [`test`]: the in-guest test harness (`test <name> ... ok` lines).
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub use spinel_zx as zx;

#[doc(hidden)] // reason: for the test macros
pub use alloc::format as __format;

#[allow(unsafe_code)] // reason: the allocator's regions and read-only mappings
pub mod heap;
pub mod launch;
pub mod startup;
pub mod test;

use core::fmt::{self, Write};
use core::mem::MaybeUninit;

/// The exit code of a process that panicked.
pub const PANIC_EXIT_CODE: i64 = -1;
use heap::HEAP_SIZE;

/// What `_start` receives from the kernel.
#[derive(Debug)]
pub struct StartArgs {
    /// The bootstrap channel (or the first handle the creator passed).
    pub bootstrap: zx::Handle,
    /// The second start argument, as given by `process_start`.
    pub arg1: u64,
}

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

    // The first instructions of every user program: whatever stack pointer
    // the creator chose, give the Rust start a 16-byte aligned stack and an
    // empty frame chain (the C convention on both architectures), keeping
    // the two start arguments in their registers.
    #[cfg(target_arch = "x86_64")]
    core::arch::global_asm!(
        ".pushsection .text._start, \"ax\"",
        ".globl _start",
        "_start:",
        "    xor ebp, ebp",
        "    and rsp, -16",
        "    call {start}",
        "    ud2",
        ".popsection",
        start = sym spinel_rt_start,
    );

    #[cfg(target_arch = "aarch64")]
    core::arch::global_asm!(
        ".pushsection .text._start, \"ax\"",
        ".globl _start",
        "_start:",
        "    mov x29, xzr",
        "    mov x30, xzr",
        "    mov x9, sp",
        "    and x9, x9, #~15",
        "    mov sp, x9",
        "    bl {start}",
        "    udf #0",
        ".popsection",
        start = sym spinel_rt_start,
    );

    /// The Rust start: heap, then the program's main, then exit.
    extern "C" fn spinel_rt_start(bootstrap: u64, arg1: u64) -> ! {
        // SAFETY: the start runs once, before any other code of the process,
        // so this is the only reference ever made to HEAP_SPACE.
        let space: &'static mut [MaybeUninit<u8>] =
            unsafe { &mut *core::ptr::addr_of_mut!(HEAP_SPACE) };
        heap::init(space);
        let args = StartArgs {
            bootstrap: zx::Handle::from_raw(zx::HandleValue(bootstrap as u32)),
            arg1,
        };
        // SAFETY: `entry!` defines `spinel_main` with exactly this signature.
        let code = unsafe { spinel_main(args) };
        zx::process_exit(code)
    }
}

/// Formats into a line-sized buffer and writes it with one system call
/// per buffer (per line, for lines up to its size).
struct Console {
    buffer: [u8; 512],
    len: usize,
}

impl Console {
    fn flush(&mut self) {
        if self.len > 0 {
            let _ = zx::debug_write(&self.buffer[..self.len]);
            self.len = 0;
        }
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &byte in s.as_bytes() {
            if self.len == self.buffer.len() {
                self.flush();
            }
            self.buffer[self.len] = byte;
            self.len += 1;
        }
        Ok(())
    }
}

/// Print to the kernel console.
pub fn print(args: fmt::Arguments<'_>) {
    let mut console = Console {
        buffer: [0; 512],
        len: 0,
    };
    let _ = console.write_fmt(args);
    console.flush();
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
    // Inside a test, the harness reports the test as failed first.
    test::report_panic(info);
    match info.location() {
        Some(location) => print(format_args!(
            "panic: {} at {}:{}:{}\n",
            info.message(),
            location.file(),
            location.line(),
            location.column()
        )),
        None => print(format_args!("panic: {}\n", info.message())),
    }
    zx::process_exit(PANIC_EXIT_CODE)
}
