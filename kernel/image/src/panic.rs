//! The kernel's panic path: what it prints and how it stops.
//!
//! A panic prints, on the console, without the console lock:
//!
//! ```text
//! KERNEL PANIC at kernel/image/src/selftest.rs:70:5: deliberate panic ...
//! {{{reset}}}
//! {{{module:0:spinel-kernel:elf:91adeb20c57f5534e267c14881ee8db139c0dda2}}}
//! {{{mmap:0xffffffff80100000:0x4b000:load:0:rx:0xffffffff80100000}}}
//! {{{bt:0:0xffffffff80101234:ra}}}
//! {{{bt:1:0xffffffff80105678:ra}}}
//! [kernel] PANIC: halted for a whole-machine dump
//! ```
//!
//! The `{{{...}}}` lines are LLVM's symbolizer markup: `llvm-symbolizer
//! --filter-markup` finds the kernel ELF by its GNU build id (read here from
//! the kernel's own `.note.gnu.build-id`, bounded by linker symbols) and
//! turns each return address into functions and lines. [`MARKER`] is the
//! last line: when the host sees it, the markup is complete and the CPU is
//! halted ([`Platform::halt`]) with the machine left running, so that
//! `cargo xtask` can save a whole-machine core (QEMU's
//! `dump-guest-memory`) before it ends QEMU. A nested panic prints the
//! least and halts the same way.

use crate::arch::Arch;
use crate::console::print_unlocked;
use core::sync::atomic::{AtomicBool, Ordering};
use spinel_hal_api::Platform;

/// The one line the host watches for: the kernel panicked, its markup is
/// printed and the CPU is halted. `cargo xtask` (`guest_dump.rs`) matches
/// this prefix at the start of a console line.
pub const MARKER: &str = "[kernel] PANIC:";

/// The module name the markup gives the kernel.
const MODULE_NAME: &str = "spinel-kernel";

/// Return addresses printed at most.
const MAX_FRAMES: usize = 32;

unsafe extern "C" {
    static __spinel_kernel_start: u8;
    static __spinel_text_end: u8;
    static __spinel_build_id_note_start: u8;
    static __spinel_build_id_note_end: u8;
}

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(panic: &core::panic::PanicInfo<'_>) -> ! {
    Arch::disable_interrupts();
    if PANICKING.swap(true, Ordering::SeqCst) {
        // A panic while panicking: print the least and stop.
        print_unlocked(format_args!(
            "\nKERNEL PANIC (nested): {}\n{MARKER} nested panic, halted\n",
            panic.message()
        ));
        Arch::halt();
    }
    print_unlocked(format_args!("\nKERNEL PANIC"));
    if let Some(location) = panic.location() {
        print_unlocked(format_args!(
            " at {}:{}:{}",
            location.file(),
            location.line(),
            location.column()
        ));
    }
    print_unlocked(format_args!(": {}\n", panic.message()));
    print_markup();
    print_unlocked(format_args!("{MARKER} halted for a whole-machine dump\n"));
    Arch::halt();
}

/// The kernel's backtrace as symbolizer markup: the module (by build id),
/// its text mapped at its link address, one `ra` line per return address.
fn print_markup() {
    let mut frames = [0usize; MAX_FRAMES];
    let count = Arch::backtrace(&mut frames);
    let text_start = &raw const __spinel_kernel_start as u64;
    let text_end = &raw const __spinel_text_end as u64;
    print_unlocked(format_args!("{{{{{{reset}}}}}}\n"));
    print_unlocked(format_args!(
        "{{{{{{module:0:{MODULE_NAME}:elf:{}}}}}}}\n",
        Hex(build_id(build_id_note()).unwrap_or(&[]))
    ));
    print_unlocked(format_args!(
        "{{{{{{mmap:{text_start:#x}:{:#x}:load:0:rx:{text_start:#x}}}}}}}\n",
        text_end - text_start
    ));
    for (index, address) in frames[..count].iter().enumerate() {
        print_unlocked(format_args!("{{{{{{bt:{index}:{address:#x}:ra}}}}}}\n"));
    }
}

/// The kernel's own GNU build-id note, as the linker wrote it.
fn build_id_note() -> &'static [u8] {
    let start = &raw const __spinel_build_id_note_start;
    let end = &raw const __spinel_build_id_note_end;
    let len = end as usize - start as usize;
    // SAFETY: `link.ld` (both architectures) bounds the `.note.gnu.build-id`
    // output section with these two symbols; it lies in the kernel image,
    // which stays mapped readable and unchanged for the kernel's whole life.
    unsafe { core::slice::from_raw_parts(start, len) }
}

/// The descriptor of an ELF note (`namesz`, `descsz`, `type`, the name
/// padded to 4 bytes, the descriptor) owned by "GNU" with type
/// `NT_GNU_BUILD_ID` (3); `None` when the bytes are not such a note.
fn build_id(note: &[u8]) -> Option<&[u8]> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let word = |at: usize| -> Option<u32> {
        let bytes = note.get(at..at + 4)?;
        Some(u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let (namesz, descsz, kind) = (word(0)? as usize, word(4)? as usize, word(8)?);
    let name = note.get(12..12 + namesz)?;
    if name != b"GNU\0" || kind != NT_GNU_BUILD_ID {
        return None;
    }
    let desc = 12 + namesz.next_multiple_of(4);
    note.get(desc..desc + descsz)
}

/// Bytes as lowercase hex, as markup writes a build id.
struct Hex<'a>(&'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}
