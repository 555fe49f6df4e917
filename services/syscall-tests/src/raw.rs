//! System calls with arbitrary arguments, for the tests of the kernel's
//! checks: the one place of this program with `unsafe`.
//!
//! Pointer arguments are never free numbers here: an argument is a plain
//! value, a length (at most [`SLOT`] bytes), a pointer into this call's own
//! scratch buffer, or one of the [`Bad`] addresses that name no memory of
//! this process (or only read-only memory). So whatever the kernel does with
//! them, it can touch no Rust object but the scratch buffer, and only within
//! the lengths given.

use spinel_rt::zx::{HandleValue, Status, Syscall, raw};

/// Bytes of scratch per pointer slot; also the longest length allowed.
pub const SLOT: usize = 512;
const SLOTS: usize = 8;

/// Addresses no user buffer of this process lives at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Bad {
    Null,
    /// Below every user mapping (the first 64 KiB stay unmapped).
    Unmapped,
    /// The first address of the kernel half.
    KernelHalf,
    /// Not canonical on either architecture.
    NonCanonical,
    /// Starts 2 bytes below the top of user space: any range of 4 bytes or
    /// more crosses it.
    AcrossUserTop,
    /// So high that pointer + length overflows.
    Overflowing,
    /// Read-only data of this program (a write must be refused).
    ReadOnly,
    /// Code of this program (a write must be refused).
    Code,
}

impl Bad {
    /// The bad addresses every pointer argument is tried with.
    pub const ALL: [Bad; 8] = [
        Bad::Null,
        Bad::Unmapped,
        Bad::KernelHalf,
        Bad::NonCanonical,
        Bad::AcrossUserTop,
        Bad::Overflowing,
        Bad::ReadOnly,
        Bad::Code,
    ];

    pub fn address(self) -> u64 {
        static READ_ONLY: [u8; 64] = [0x5a; 64];
        match self {
            Bad::Null => 0,
            Bad::Unmapped => 0x1000,
            Bad::KernelHalf => 0xffff_8000_0000_0000,
            Bad::NonCanonical => 0x8000_0000_0000_0000,
            Bad::AcrossUserTop => 0x0000_7fff_ffff_f000 - 2,
            Bad::Overflowing => u64::MAX - 3,
            Bad::ReadOnly => READ_ONLY.as_ptr() as u64,
            Bad::Code => Bad::address as fn(Bad) -> u64 as usize as u64,
        }
    }

    /// Whether the address is readable by the process (so a call that only
    /// reads it may succeed).
    pub fn readable(self) -> bool {
        matches!(self, Bad::ReadOnly | Bad::Code)
    }
}

/// One argument register.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arg {
    Val(u64),
    Handle(HandleValue),
    /// A buffer length (at most [`SLOT`]).
    Len(usize),
    /// A pointer to scratch slot `n` (0..8), at byte `offset` (< 16) of it:
    /// offsets make misaligned pointers.
    Scratch {
        slot: usize,
        offset: usize,
    },
    Bad(Bad),
    /// An address inside a mapping the test made itself and that holds no
    /// Rust object (the edge of a mapping, say).
    Mapped(u64),
}

pub const fn scratch(slot: usize) -> Arg {
    Arg::Scratch { slot, offset: 0 }
}

/// The scratch buffers of one call, readable after it.
pub struct Scratch(pub [[u8; SLOT + 16]; SLOTS]);

impl Scratch {
    pub fn new() -> Self {
        Scratch([[0; SLOT + 16]; SLOTS])
    }
    pub fn u32_at(&self, slot: usize, offset: usize) -> u32 {
        let b = &self.0[slot][offset..offset + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

/// Make `call` with `args` (missing ones zero), using `scratch` for the
/// scratch pointers. Returns the raw result register.
pub fn call_raw(call: Syscall, args: &[Arg], scratch: &mut Scratch) -> i64 {
    let mut registers = [0u64; 8];
    for (register, arg) in registers.iter_mut().zip(args) {
        *register = match *arg {
            Arg::Val(v) => v,
            Arg::Handle(h) => u64::from(h.raw()),
            Arg::Len(n) => {
                assert!(n <= SLOT, "lengths are capped at the scratch size");
                n as u64
            }
            Arg::Scratch { slot, offset } => {
                assert!(offset < 16, "scratch offsets are below 16");
                scratch.0[slot][offset..].as_mut_ptr() as u64
            }
            Arg::Bad(bad) => bad.address(),
            Arg::Mapped(address) => address,
        };
    }
    assert!(
        !matches!(call, Syscall::ProcessExit | Syscall::ThreadExit),
        "this program does not end itself through the raw calls"
    );
    #[allow(unsafe_code)]
    // SAFETY: every pointer register is either a scratch pointer, valid for
    // SLOT bytes from it (lengths are capped at SLOT above, and the fixed-size
    // records the kernel writes are smaller), a `Bad` address, which is no
    // writable memory of this process, or a `Mapped` address in memory that
    // holds no Rust object. Exiting calls are refused above.
    let value = unsafe { raw::syscall(u64::from(call.number()), registers) };
    value as i64
}

/// [`call_raw`] as a status, with fresh scratch.
pub fn call(call: Syscall, args: &[Arg]) -> Status {
    let mut scratch = Scratch::new();
    Status(call_raw(call, args, &mut scratch) as i32)
}

/// [`call_raw`] as a status, with the caller's scratch.
pub fn call_with(call: Syscall, args: &[Arg], scratch: &mut Scratch) -> Status {
    Status(call_raw(call, args, scratch) as i32)
}

/// The indices of the pointer arguments of `call`, from its signature.
pub fn pointer_arguments(call: Syscall) -> impl Iterator<Item = usize> {
    let signature = call.signature();
    let params = signature
        .split(") ->")
        .next()
        .unwrap_or("")
        .trim_start_matches('(');
    params
        .split(", ")
        .enumerate()
        .filter(|(_, p)| p.split(": ").nth(1).is_some_and(|t| t.starts_with('*')))
        .map(|(i, _)| i)
}

/// The name of argument `index` of `call`.
pub fn argument_name(call: Syscall, index: usize) -> &'static str {
    let signature = call.signature();
    let params = signature
        .split(") ->")
        .next()
        .unwrap_or("")
        .trim_start_matches('(');
    params
        .split(", ")
        .nth(index)
        .and_then(|p| p.split(": ").next())
        .unwrap_or("?")
}

/// A call by a number outside the table, with no arguments.
pub fn call_number(number: u64) -> Status {
    assert!(
        Syscall::from_number(number).is_none(),
        "numbers outside the table only"
    );
    #[allow(unsafe_code)]
    // SAFETY: no argument is a pointer, and the number names no call.
    let value = unsafe { raw::syscall(number, [0; 8]) };
    Status(value as i32)
}

/// The indices of the handle arguments of `call`, from its signature.
pub fn handle_arguments(call: Syscall) -> impl Iterator<Item = usize> {
    let signature = call.signature();
    let params = signature
        .split(") ->")
        .next()
        .unwrap_or("")
        .trim_start_matches('(');
    params
        .split(", ")
        .enumerate()
        .filter(|(_, p)| p.split(": ").nth(1) == Some("handle"))
        .map(|(i, _)| i)
}
