//! Crash dumps for Spinel: Linux-style ELF cores, LLVM symbolizer markup
//! and GNU build ids.
//!
//! `no_std` + `alloc` and without `unsafe`, so the same code runs in the
//! guest's crash service and in host tools and tests. Three parts, each
//! usable alone:
//!
//! - [`core_file`]: an arch-neutral [`Snapshot`] of a crashed process
//!   (threads with their registers, mappings with their bytes or "left
//!   out") becomes an `ET_CORE` file laid out as Linux writes one, so that
//!   stock `gdb` and `lldb` open it with nothing of ours. The layout is
//!   computed first ([`CoreLayout::new`]); the headers and notes are one
//!   small buffer and the mappings' bytes are streamed after them, chunk by
//!   chunk, so a dump never needs the process's memory in one buffer.
//! - [`markup`]: LLVM's "Symbolizer Markup Format" lines (`{{{reset}}}`,
//!   `{{{module:...}}}`, `{{{mmap:...}}}`, `{{{bt:...}}}`) that
//!   `llvm-symbolizer --filter-markup` turns into names and lines.
//! - [`build_id`]: the GNU build id of an ELF image (`.note.gnu.build-id`).
//!
//! Facts about Linux's note layouts live in [`notes`]; the mapping from
//! Zircon exception types to POSIX signal numbers in [`signal`].
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod build_id;
pub mod core_file;
pub mod markup;
pub mod notes;
pub mod signal;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use build_id::{BuildIdError, build_id};
pub use core_file::{CoreLayout, Segment, WriteSummary, write_core};
pub use signal::{Signal, signal_for_exception};

/// The architecture of the crashed process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// How many general-register slots a [`Thread`] carries: the
    /// `spinel_abi::thread` layout's count (20 on x86_64, 35 on aarch64).
    pub const fn general_register_count(self) -> usize {
        match self {
            Arch::X86_64 => spinel_abi::thread::x86_64::COUNT,
            Arch::Aarch64 => spinel_abi::thread::aarch64::COUNT,
        }
    }

    /// The slot of the program counter in [`Thread::registers`].
    pub const fn pc_slot(self) -> usize {
        match self {
            Arch::X86_64 => spinel_abi::thread::x86_64::RIP,
            Arch::Aarch64 => spinel_abi::thread::aarch64::PC,
        }
    }

    /// The slot of the stack pointer in [`Thread::registers`].
    pub const fn sp_slot(self) -> usize {
        match self {
            Arch::X86_64 => spinel_abi::thread::x86_64::RSP,
            Arch::Aarch64 => spinel_abi::thread::aarch64::SP,
        }
    }

    /// The name `llvm-symbolizer` and the markup use (`x86_64`, `aarch64`).
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

/// Everything a core is made of: one crashed process, as the crash service
/// collected it. Arch-neutral: the registers come in the slot order of
/// `spinel_abi::thread` (what `thread_read_state` returns) and are put in
/// Linux's order by [`notes`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Snapshot {
    pub arch: Arch,
    /// The program's name (`NT_PRPSINFO`'s `pr_fname`: 15 bytes are kept).
    pub program: String,
    /// The command line, as far as known (`pr_psargs`: 79 bytes are kept).
    pub arguments: String,
    pub process_koid: u64,
    /// The program's entry point as loaded (its ELF's `e_entry` plus any
    /// load bias); 0 when unknown. Written as `AT_ENTRY` in `NT_AUXV`: lldb
    /// places the executable by it, and without it shows no symbols.
    pub entry: u64,
    /// The threads; **the faulting thread first** (gdb and lldb select the
    /// first thread of a core).
    pub threads: Vec<Thread>,
    /// The process's mappings, in any order (they are written sorted).
    pub mappings: Vec<Mapping>,
}

/// One thread of a [`Snapshot`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Thread {
    /// Written as `pr_pid` (truncated to 32 bits): gdb and lldb name the
    /// thread by it.
    pub koid: u64,
    /// General registers in `spinel_abi::thread` slot order for the arch:
    /// exactly [`Arch::general_register_count`] values.
    pub registers: Vec<u64>,
    /// FP/SIMD state, when it could be read.
    pub fp: Option<FpRegisters>,
    /// The POSIX signal this thread reports: the crash's for the faulting
    /// thread ([`signal_for_exception`]), 0 for the others. As Linux does,
    /// the core gives every thread's `NT_PRSTATUS` the first thread's
    /// signal (the signal the process died of: gdb's "terminated with
    /// signal" reads the last thread's).
    pub signal: u32,
    /// The faulting data address, if any (x86 cr2 / arm64 FAR); goes into
    /// `NT_SIGINFO`'s `si_addr`.
    pub fault_address: Option<u64>,
}

/// FP/SIMD registers, in the layouts Linux's `NT_FPREGSET` uses.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FpRegisters {
    /// x86_64: the 512-byte FXSAVE image (x87, MMX, SSE, MXCSR).
    X86_64 { fxsave: [u8; 512] },
    /// aarch64: `user_fpsimd_state`: v0-v31, FPSR, FPCR.
    Aarch64 {
        vregs: [u128; 32],
        fpsr: u32,
        fpcr: u32,
    },
}

/// Access rights of a mapping.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Permissions {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

impl Permissions {
    pub const R: Permissions = Permissions {
        read: true,
        write: false,
        execute: false,
    };
    pub const RW: Permissions = Permissions {
        read: true,
        write: true,
        execute: false,
    };
    pub const RX: Permissions = Permissions {
        read: true,
        write: false,
        execute: true,
    };
}

impl fmt::Display for Permissions {
    /// `r`, `w`, `x` for each right held, as symbolizer markup writes them
    /// (`rx`, `rw`, `r`); `-` for none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !(self.read || self.write || self.execute) {
            return f.write_str("-");
        }
        for (held, letter) in [(self.read, "r"), (self.write, "w"), (self.execute, "x")] {
            if held {
                f.write_str(letter)?;
            }
        }
        Ok(())
    }
}

/// A file a mapping shows (for `NT_FILE`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MappedFile {
    /// The file's path or name, as the host tools should look for it.
    pub path: String,
    /// The file offset mapped at the mapping's base.
    pub offset: u64,
}

/// What a core holds of a mapping's memory.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Contents {
    /// None (file size 0): read-only text the ELF already has, or memory
    /// dropped for a size cap.
    LeftOut,
    /// These bytes, from the mapping's base (at most its size; a shorter
    /// capture keeps only that prefix).
    Bytes(Vec<u8>),
    /// The whole mapping, supplied while writing by the reader given to
    /// [`CoreLayout::write`] (the guest reads the target's memory chunk by
    /// chunk).
    Streamed,
}

/// One mapping of the crashed process's address space.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Mapping {
    pub base: u64,
    pub size: u64,
    pub permissions: Permissions,
    /// What the mapping is (a VMO's name, `stack`, `[heap]`...); for the
    /// report only: the core itself names files through [`Mapping::file`].
    pub name: String,
    /// The file this mapping shows, if any.
    pub file: Option<MappedFile>,
    pub contents: Contents,
}

impl Mapping {
    /// The bytes of this mapping the core file holds.
    pub fn file_size(&self) -> u64 {
        match &self.contents {
            Contents::LeftOut => 0,
            Contents::Bytes(bytes) => (bytes.len() as u64).min(self.size),
            Contents::Streamed => self.size,
        }
    }
}

/// Why a snapshot could not be written.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Error {
    /// A thread's register count does not match its arch.
    RegisterCount { koid: u64, count: usize },
    /// A thread's FP registers are for the other arch.
    FpArch { koid: u64 },
    /// No thread: a core needs at least one.
    NoThreads,
    /// Two mappings overlap, or one wraps around the address space.
    BadMapping { base: u64, size: u64 },
    /// The ELF writer refused (its message).
    Writer(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::RegisterCount { koid, count } => {
                write!(
                    f,
                    "thread {koid}: {count} general registers, not the arch's"
                )
            }
            Error::FpArch { koid } => write!(f, "thread {koid}: FP registers of the other arch"),
            Error::NoThreads => f.write_str("a core needs at least one thread"),
            Error::BadMapping { base, size } => {
                write!(f, "mapping {base:#x}+{size:#x} overlaps another or wraps")
            }
            Error::Writer(message) => write!(f, "ELF writer: {message}"),
        }
    }
}
