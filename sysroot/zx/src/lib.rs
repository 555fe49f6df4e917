//! Spinel's userspace system-call library.
//!
//! [`raw`] holds the only architecture-specific code of userspace (the
//! syscall instruction); everything else is one safe wrapper per call that
//! returns `Result<_, Status>`, and [`Handle`], an owned handle that closes
//! itself on drop.
#![no_std]
#![deny(unsafe_code)]

#[allow(unsafe_code)] // reason: the syscall instruction itself
pub mod raw;

pub use spinel_abi as abi;
pub use spinel_abi::{HandleValue, Rights, Status, Syscall};

/// Call `call` with up to eight arguments; the result register holds a
/// status (negative) or a non-negative value.
fn call(call: Syscall, args: [u64; 8]) -> i64 {
    #[allow(unsafe_code)]
    // SAFETY: callers in this crate pass only pointers derived from live
    // references, with the lengths of those references.
    let value = unsafe { raw::syscall(call.number() as u64, args) };
    value as i64
}

fn status(value: i64) -> Result<(), Status> {
    Status(value as i32).ok()
}

/// An owned handle: closed when dropped.
#[derive(Debug, PartialEq, Eq)]
pub struct Handle(HandleValue);

impl Handle {
    /// Take ownership of a raw handle value (from a bootstrap message, say).
    pub const fn from_raw(value: HandleValue) -> Self {
        Handle(value)
    }
    pub const fn raw(&self) -> HandleValue {
        self.0
    }
    /// Give up ownership without closing.
    pub fn into_raw(self) -> HandleValue {
        let value = self.0;
        core::mem::forget(self);
        value
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.0.is_invalid() {
            let _ = handle_close(self.0);
        }
    }
}

/// `handle_close`.
pub fn handle_close(handle: HandleValue) -> Result<(), Status> {
    status(call(Syscall::HandleClose, [handle.raw() as u64, 0, 0, 0, 0, 0, 0, 0]))
}

/// `debug_write`: bytes to the kernel console.
pub fn debug_write(bytes: &[u8]) -> Result<(), Status> {
    status(call(Syscall::DebugWrite, [bytes.as_ptr() as u64, bytes.len() as u64, 0, 0, 0, 0, 0, 0]))
}

/// `process_exit`: end the calling process with `code`.
pub fn process_exit(code: i64) -> ! {
    call(Syscall::ProcessExit, [code as u64, 0, 0, 0, 0, 0, 0, 0]);
    // The kernel never returns from process_exit; if it did, spin rather
    // than run on.
    #[allow(clippy::empty_loop)]
    loop {}
}

/// `clock_get_monotonic`: nanoseconds since boot.
pub fn clock_get_monotonic() -> i64 {
    call(Syscall::ClockGetMonotonic, [0; 8])
}

/// `nanosleep` until the monotonic clock reaches `deadline`.
pub fn nanosleep(deadline: i64) -> Result<(), Status> {
    status(call(Syscall::Nanosleep, [deadline as u64, 0, 0, 0, 0, 0, 0, 0]))
}
