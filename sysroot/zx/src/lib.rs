//! Spinel's userspace system-call library.
//!
//! - **One wrapper per call.** Every call of the ABI table
//!   ([`spinel_abi::syscall`]) has a safe function here, named after it and
//!   taking its arguments in the table's register order, returning
//!   `Result<_, Status>`. The functions are grouped by family: [`handle`],
//!   [`object`], [`channel`], [`port`], [`task`], [`exception`], [`vm`],
//!   [`clock`], [`debug`].
//! - **Two levels.** The free functions take raw [`HandleValue`]s (a value
//!   is not memory, so any value is safe to pass: the kernel checks it), which
//!   is what tests of the kernel's checks need. Handles the kernel creates
//!   come back owned: [`Handle`] closes itself on drop, and the typed
//!   wrappers ([`Channel`], [`Port`], [`Event`], [`Job`], [`Process`],
//!   [`Thread`], [`Vmo`], [`Vmar`], [`Exception`], [`SuspendToken`],
//!   [`Resource`]) add methods for their object's calls.
//! - **No allocation.** Buffers are the caller's; fixed-size records travel
//!   through the ABI crate's byte conversions.
//! - **Unsafe in one place.** [`raw`] holds the system-call instruction and
//!   [`arch`] the fault triggers the tests need: the only architecture-
//!   specific code of userspace, and the only `unsafe` of this crate besides
//!   the single call site in [`sys`], where each wrapper's pointers are
//!   derived from live references with their lengths.
#![no_std]
#![deny(unsafe_code)]

#[allow(unsafe_code)] // reason: the fault-triggering instructions
pub mod arch;
#[allow(unsafe_code)] // reason: the crash routines with markers
pub mod crash;
#[allow(unsafe_code)] // reason: the syscall instruction itself
pub mod raw;

pub mod channel;
pub mod clock;
pub mod debug;
pub mod exception;
pub mod handle;
pub mod object;
pub mod port;
pub mod task;
pub mod vm;

pub use spinel_abi as abi;
pub use spinel_abi::{
    ExceptionInfo, ExceptionReport, HandleBasicInfo, HandleValue, Koid, ObjectType, PortPacket,
    ProcessInfo, Rights, Signals, Status, Syscall, ThreadInfo,
};

pub use arch::Fault;
pub use channel::{Channel, ChannelReadError, ReadSizes};
pub use clock::{TIME_INFINITE, clock_get_monotonic, deadline_after, nanosleep};
pub use debug::{debug_link_read, debug_link_write, debug_write};
pub use exception::{Exception, ExceptionChannel, Task};
pub use handle::{Handle, HandleBased, handle_close, handle_duplicate, handle_replace};
pub use object::{Event, ObjectCalls};
pub use port::Port;
pub use task::{
    GeneralRegisters, Job, Maps, Process, SuspendToken, Thread, process_exit, thread_exit,
};
pub use vm::{Resource, Vmar, Vmo};

/// The one place that enters the kernel.
mod sys {
    use super::{Status, Syscall, raw};

    /// Make `call` with its arguments in register order (unused registers
    /// zero); the result register holds a status (negative) or, for the few
    /// calls that say so, a non-negative value.
    pub(crate) fn call(call: Syscall, args: &[u64]) -> i64 {
        let mut registers = [0u64; 8];
        registers[..args.len()].copy_from_slice(args);
        #[allow(unsafe_code)]
        // SAFETY: the wrappers of this crate pass only pointers derived from
        // live references (or null with a zero length), each with the length
        // of what it points at, and out-pointers only to writable locals of
        // the size the call writes.
        let value = unsafe { raw::syscall(u64::from(call.number()), registers) };
        value as i64
    }

    /// A status-only result.
    pub(crate) fn status(value: i64) -> Result<(), Status> {
        Status(value as i32).ok()
    }

    /// Pointer of an optional slice: null for an empty one, so a zero-length
    /// argument never names memory.
    pub(crate) fn ptr(bytes: &[u8]) -> u64 {
        if bytes.is_empty() {
            0
        } else {
            bytes.as_ptr() as u64
        }
    }

    pub(crate) fn ptr_mut(bytes: &mut [u8]) -> u64 {
        if bytes.is_empty() {
            0
        } else {
            bytes.as_mut_ptr() as u64
        }
    }
}

/// A handle value as a register argument.
const fn reg(handle: HandleValue) -> u64 {
    handle.0 as u64
}
